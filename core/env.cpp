#include "core/env.h"

namespace skyhive {

std::optional<std::string> Env::get(std::string_view key) const {
    std::lock_guard guard(lock_);
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

bool Env::set(std::string_view key, std::string_view value) {
    std::lock_guard guard(lock_);
    return values_.emplace(std::string(key), std::string(value)).second;
}

void Env::put(std::string_view key, std::string_view value) {
    std::lock_guard guard(lock_);
    values_.insert_or_assign(std::string(key), std::string(value));
}

}  // namespace skyhive
