#include "core/status_board.h"

namespace skyhive {

Result<void> StatusBoard::publish(std::string_view topic, std::string_view key,
                                  std::optional<std::string> value) {
    if (value && value->size() > kMaxValueBytes)
        return Error{"status board: the value of " + std::string(topic) + "/" + std::string(key) +
                     " takes " + std::to_string(value->size()) + " bytes, more than " +
                     std::to_string(kMaxValueBytes)};
    std::lock_guard guard(lock_);
    auto t = topics_.find(topic);
    if (t == topics_.end()) {
        if (!value) return {};
        if (topics_.size() >= max_topics_)
            return Error{"status board: cannot add topic " + std::string(topic) + ": " +
                         std::to_string(max_topics_) + " topics exist"};
        t = topics_.emplace(std::string(topic), Topic{}).first;
    }
    Topic& board = t->second;
    const std::string k(key);
    auto it = board.index.find(k);
    if (it != board.index.end()) {
        if (!value) {
            board.entries.erase(it->second);
            board.index.erase(it);
            return {};
        }
        // Newest again: the least recently published key is the one a full topic drops.
        it->second->second = std::move(*value);
        board.entries.splice(board.entries.end(), board.entries, it->second);
        return {};
    }
    if (!value) return {};
    if (board.entries.size() >= max_keys_) {
        board.index.erase(board.entries.front().first);
        board.entries.pop_front();
        ++board.dropped;
    }
    board.entries.emplace_back(k, std::move(*value));
    board.index.emplace(k, std::prev(board.entries.end()));
    return {};
}

std::vector<std::pair<std::string, std::string>> StatusBoard::read(std::string_view topic) const {
    std::lock_guard guard(lock_);
    auto t = topics_.find(topic);
    if (t == topics_.end()) return {};
    return {t->second.entries.begin(), t->second.entries.end()};
}

std::vector<std::pair<std::string, uint64_t>> StatusBoard::dropped() const {
    std::lock_guard guard(lock_);
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const auto& [name, topic] : topics_)
        out.emplace_back(name, topic.dropped);
    return out;
}

}  // namespace skyhive
