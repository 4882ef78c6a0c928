#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/message.h"
#include "core/result.h"

namespace skyhive {

// The few skynet.pack values a C++ service exchanges with Lua callers (commands such as
// skynet.call(gate, "lua", "open", {port = 8888}), and the notices it sends back): nil, booleans,
// integers, strings and flat tables of those. The byte format is lualib/native/seri.h's; this
// reader and writer handle only that subset (a float that holds an integer reads as the integer)
// and reject the rest with a clear error. Value types. Thread: any.
struct LuaValue {
    std::variant<std::monostate, bool, int64_t, std::string> v;

    bool is_nil() const { return v.index() == 0; }
    const int64_t* integer() const { return std::get_if<int64_t>(&v); }
    const std::string* string() const { return std::get_if<std::string>(&v); }
    const bool* boolean() const { return std::get_if<bool>(&v); }
};

// One argument: a plain value, or a table (string keys only, values plain).
struct LuaArg {
    LuaValue value;
    bool is_table = false;
    std::map<std::string, LuaValue, std::less<>> fields;
};

// Every value of a packed message. Error "unpack: <what> at byte N".
Result<std::vector<LuaArg>> unpack_lua_args(std::string_view bytes);

// Appends values to a message in skynet.pack's format.
class LuaPacker {
  public:
    LuaPacker& nil();
    LuaPacker& integer(int64_t i);
    LuaPacker& string(std::string_view s);
    LuaPacker& boolean(bool b);
    // A table of `pairs` key, value pairs (at most 15) follows: write them next.
    LuaPacker& hash(size_t pairs);
    Payload take();

  private:
    std::string out_;
};

}  // namespace skyhive
