#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/message.h"
#include "core/result.h"

struct lua_State;

namespace skyhive {

// The values a C++ service exchanges with Lua callers in skynet.pack's format (commands such as
// skynet.call(gate, "lua", "open", {port = 8888}), and the notices it sends back). The bytes are
// read and written by lualib/native/seri, the codec of skynet.pack itself; what a C++ service
// sees of them is this small model: nil, booleans, integers (a float that holds an integer reads
// as the integer), strings, and flat tables of those under string keys.
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

class LuaPacker;

// A Lua state of its own (no libraries, nothing loaded) that runs the codec. Identity type.
// Thread: one at a time; the packers it makes borrow it and share that contract.
class LuaCodec {
  public:
    LuaCodec();
    ~LuaCodec();
    LuaCodec(const LuaCodec&) = delete;
    LuaCodec& operator=(const LuaCodec&) = delete;

    // Every value of a packed message. Error "unpack: <what> at byte N" for malformed bytes, and
    // one naming the argument (and the field) for a value outside the model, e.g. "unpack:
    // argument 2, field tls: a table inside a table (only flat tables are taken)".
    Result<std::vector<LuaArg>> unpack(std::string_view bytes);

  private:
    friend class LuaPacker;
    lua_State* L_;
};

// Builds one message in skynet.pack's format, value by value, on its codec's state (which it
// borrows: one packer of a codec at a time). Not copyable.
class LuaPacker {
  public:
    explicit LuaPacker(LuaCodec& codec);
    ~LuaPacker();
    LuaPacker(const LuaPacker&) = delete;
    LuaPacker& operator=(const LuaPacker&) = delete;

    LuaPacker& nil();
    LuaPacker& integer(int64_t i);
    LuaPacker& string(std::string_view s);
    LuaPacker& boolean(bool b);
    // A table of `pairs` key, value pairs follows: write them next (a key must not be nil).
    LuaPacker& hash(size_t pairs);
    // The message so far (every table complete); the packer is then empty, ready for the next.
    Payload take();

  private:
    void pushed();  // a value is on the stack: place it in the table being written, if any

    lua_State* L_;
    int base_;                  // the stack top when the packer was made
    std::vector<size_t> open_;  // per table being written, keys and values still to come
};

}  // namespace skyhive
