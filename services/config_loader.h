#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/result.h"

namespace skyhive {

// Reads a node's config in skynet's format: a Lua chunk of `key = value` lines.
//  - `$NAME` is replaced by the environment variable NAME in code and strings (not in comments);
//    an unset NAME is an error naming the file and line.
//  - `include "other.lua"` runs another file (relative to the including file) into the same table.
//  - Values are strings, numbers or booleans; each is kept as a string, as skynet's env does.
//  - Only `include` and the keys set so far are in scope: a typo fails loudly.
//  - A key that names files (`paths`) has its relative paths resolved against the directory of
//    the file that sets it, when it is set: an `include`d file's keys against its own directory,
//    so `luaservice = luaservice .. ";../my/?.lua"` adds to what another file set. The directory
//    is the config file's as named (symlinks in it resolved, the file itself not followed);
//    absolute paths, "" and an off key's "false" are kept; each element of a search path is
//    resolved alone and its `?` kept. A config given as text (parse_config) resolves against the
//    directory of its name, the current one for a bare name.
// Every entry keeps the file and line that set it; errors name them ("file:line: ...").
//
// Thread: any; each call uses its own Lua state.

// A key whose value names files or directories.
struct PathKey {
    enum class Kind {
        one,     // one path: "data/redis", "../lib/loader.lua"
        search,  // `;`-separated patterns, `?` standing for a name: "../lualib/?.lua;/opt/?.lua"
    };
    Kind kind = Kind::one;
    // "false" turns the feature off: kept as it is, not resolved.
    bool off = false;
    // When not empty, a relative value is taken from the directory this other key names, if the
    // config sets it (skynet's `logger` inside `logpath`); resolved once the whole config is read,
    // since that key may be set after this one.
    std::string base_key;
};
using PathKeys = std::map<std::string, PathKey, std::less<>>;

// With the node's path keys (node_path_keys(), services/config_keys.h).
Result<Config> load_config(const std::string& path);
Result<Config> load_config(const std::string& path, const PathKeys& paths);
// Reads `text` as if it were the file `name` (tests, configs made by programs).
Result<Config> parse_config(std::string_view text, const std::string& name);
Result<Config> parse_config(std::string_view text, const std::string& name, const PathKeys& paths);

}  // namespace skyhive
