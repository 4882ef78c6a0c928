#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace skyhive {

// The node's key/value environment (skynet.getenv / setenv), seeded from the config.
// Thread: any.
class Env {
  public:
    std::optional<std::string> get(std::string_view key) const;
    // Like skynet.setenv: a key is set once. Returns false (and changes nothing) if it exists.
    bool set(std::string_view key, std::string_view value);
    // Sets or replaces (used to seed from the config).
    void put(std::string_view key, std::string_view value);

  private:
    mutable std::mutex lock_;
    std::map<std::string, std::string, std::less<>> values_;
};

}  // namespace skyhive
