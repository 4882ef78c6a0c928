#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace skyhive {

// A node's configuration as typed key/value pairs. Values are kept as strings, as skynet's env
// keeps them; the typed getters check and convert on read. Every entry remembers the file and
// line that set it, so validation errors can name them. How a config file is read (skynet's Lua
// format) is the program's business, not core's: services/config_loader.h fills a Config.
//
// Thread: value type; fill on one thread, then read from any.
class Config {
  public:
    struct Entry {
        std::string value;
        std::string file;
        int line = 0;
    };

    Config() = default;
    // `origin` names where the whole config came from (its file), for errors about keys it lacks.
    explicit Config(std::string origin) : origin_(std::move(origin)) {}

    const std::string& origin() const { return origin_; }

    std::optional<std::string> get(std::string_view key) const;
    const Entry* entry(std::string_view key) const;
    // Typed getters: the default when the key is absent; an Error naming file:line and key when
    // the value does not fit.
    Result<int64_t> get_int(std::string_view key, int64_t def, int64_t min, int64_t max) const;
    Result<bool> get_bool(std::string_view key, bool def) const;

    // Sets or replaces a key, remembering where it was set (a loader passes file and line).
    void set(std::string key, std::string value, std::string file, int line);
    // Sets or replaces a key from code (command-line overrides, tests); file is "<override>".
    void set(std::string key, std::string value);
    void erase(std::string_view key);

    const std::map<std::string, Entry, std::less<>>& entries() const { return entries_; }

    // "file:line: key 'k': <what>" for a value that fails validation.
    Error invalid(std::string_view key, std::string_view what) const;
    // "file:line: " of the entry that set `key` ("file: " without a line, "" for no entry).
    std::string where(std::string_view key) const;

  private:
    std::string origin_;
    std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace skyhive
