#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/result.h"

namespace skyhive {

// A bounded board of state that is not a number (who holds a lock, a Sentinel topology, the last
// failover's timeline): topics of keys, each key holding an opaque encoded value (the Lua binding
// encodes tables). A topic keeps at most max_keys keys: publishing a new key into a full topic
// drops the key published least recently, and counts it. At most max_topics topics exist.
// Thread: any; every method takes the board's mutex briefly.
class StatusBoard {
  public:
    explicit StatusBoard(size_t max_keys = kDefaultMaxKeys, size_t max_topics = kMaxTopics)
        : max_keys_(max_keys), max_topics_(max_topics) {}
    StatusBoard(const StatusBoard&) = delete;
    StatusBoard& operator=(const StatusBoard&) = delete;

    // Sets key's value (it becomes the topic's newest key); nullopt removes the key. Errors when
    // a new topic would pass max_topics or the value is larger than kMaxValueBytes.
    Result<void> publish(std::string_view topic, std::string_view key,
                         std::optional<std::string> value);
    // The topic's keys and values, oldest first (a copy).
    std::vector<std::pair<std::string, std::string>> read(std::string_view topic) const;
    // Names of the topics, each with how many keys it dropped for room.
    std::vector<std::pair<std::string, uint64_t>> dropped() const;

    static constexpr size_t kDefaultMaxKeys = 1000;
    static constexpr size_t kMaxTopics = 256;
    static constexpr size_t kMaxValueBytes = 64 * 1024;

  private:
    struct Topic {
        std::list<std::pair<std::string, std::string>> entries;  // oldest first
        std::unordered_map<std::string, decltype(entries)::iterator> index;
        uint64_t dropped = 0;
    };

    const size_t max_keys_;
    const size_t max_topics_;
    mutable std::mutex lock_;
    std::map<std::string, Topic, std::less<>> topics_;
};

}  // namespace skyhive
