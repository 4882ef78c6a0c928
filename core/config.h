#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace skyhive {

// A node's configuration, in skynet's format: a Lua chunk of `key = value` lines.
//  - `$NAME` is replaced by the environment variable NAME in code and strings (not in comments);
//    an unset NAME is an error naming the file and line.
//  - `include "other.lua"` runs another file (relative to the including file) into the same table.
//  - Values are strings, numbers or booleans; each is kept as a string, as skynet's env does.
// Every entry remembers the file and line that set it, so later validation errors can name them.
//
// Thread: value type; load on one thread, then read from any.
class Config {
  public:
    struct Entry {
        std::string value;
        std::string file;
        int line = 0;
    };

    static Result<Config> load(const std::string& path);
    // Parses `text` as if read from `name` (tests, embedded defaults).
    static Result<Config> parse(std::string_view text, const std::string& name);

    std::optional<std::string> get(std::string_view key) const;
    const Entry* entry(std::string_view key) const;
    // Typed getters: the default when the key is absent; an Error naming file:line and key when
    // the value does not fit.
    Result<int64_t> get_int(std::string_view key, int64_t def, int64_t min, int64_t max) const;
    Result<bool> get_bool(std::string_view key, bool def) const;
    // Sets or replaces a key (command-line overrides); file is "<override>".
    void set(std::string key, std::string value);

    const std::map<std::string, Entry, std::less<>>& entries() const { return entries_; }

    // "file:line: key 'k': <what>" for a value that fails validation.
    Error invalid(std::string_view key, std::string_view what) const;
    // "file:line: " of the entry that set `key` ("file: " without a line, "" for no entry).
    std::string where(std::string_view key) const;

  private:
    std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace skyhive
