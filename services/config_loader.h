#pragma once

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
// Every entry keeps the file and line that set it; errors name them ("file:line: ...").
//
// Thread: any; each call uses its own Lua state.
Result<Config> load_config(const std::string& path);
// Reads `text` as if it were the file `name` (tests, embedded defaults).
Result<Config> parse_config(std::string_view text, const std::string& name);

}  // namespace skyhive
