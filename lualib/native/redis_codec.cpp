#include "lualib/native/redis_codec.h"

#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include "redis/command.h"
#include "redis/key_slot.h"
#include "redis/reply_codec.h"

// Lua errors unwind with longjmp: no function here may hold an object with a destructor across a
// call that can raise. C++ work that can fail runs in helpers that return a plain status.

namespace skyhive {

namespace {

using redis::CommandBuffer;
using redis::ReplyCursor;
using redis::ReplyItem;
using redis::ReplyTag;

constexpr const char* kErrorMeta = "skyhive.redis.error";
constexpr const char* kBufferMeta = "skyhive.redis.buffer";
// hiredis stops at 8 levels; this bound only protects decode(str) from hostile strings.
constexpr int kMaxDepth = 32;
// Commands with at most this many arguments need no scratch allocation.
constexpr int kInlineArgs = 32;

// ---- decoding ------------------------------------------------------------------------------

void push_error(lua_State* L, std::string_view text) {
    lua_createtable(L, 0, 1);
    lua_pushlstring(L, text.data(), text.size());
    lua_setfield(L, -2, "err");
    luaL_setmetatable(L, kErrorMeta);
}

// Whether the value at idx carries the error metatable (set by push_error).
bool is_error_at(lua_State* L, int idx) {
    if (!lua_getmetatable(L, idx)) return false;
    luaL_getmetatable(L, kErrorMeta);
    const bool yes = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return yes;
}

// Pushes the next value (and, for an array, its children). False on a malformed payload, with
// whatever was pushed for the broken value left for the caller's error to discard.
bool push_value(lua_State* L, ReplyCursor& cur, int depth) {
    ReplyItem it;
    if (!cur.next(it)) return false;
    switch (it.tag) {
        case ReplyTag::status:
        case ReplyTag::bulk:
            lua_pushlstring(L, it.str.data(), it.str.size());
            return true;
        case ReplyTag::error:
            push_error(L, it.str);
            return true;
        case ReplyTag::integer:
            lua_pushinteger(L, lua_Integer(it.integer));
            return true;
        case ReplyTag::nil:
            lua_pushnil(L);
            return true;
        case ReplyTag::array: {
            // Every child takes at least one byte: a count beyond the bytes left is corrupt, and
            // must not size a table.
            if (depth >= kMaxDepth || it.count > cur.remaining() || it.count > INT_MAX) {
                return false;
            }
            luaL_checkstack(L, 3, "redis decode: nesting");
            lua_createtable(L, int(it.count), 1);
            for (uint32_t i = 1; i <= it.count; ++i) {
                if (!push_value(L, cur, depth + 1)) return false;
                lua_rawseti(L, -2, lua_Integer(i));
            }
            lua_pushinteger(L, lua_Integer(it.count));
            lua_setfield(L, -2, "n");
            return true;
        }
    }
    return false;
}

// Stores every reply of the payload into the table at `t` (absolute index) from 1 on; sets t.n.
// Returns the count; *errors (if given) gets how many of them are error replies.
int decode_into(lua_State* L, const char* data, size_t size, int t, int* errors = nullptr) {
    ReplyCursor cur(data, size);
    lua_Integer n = 0;
    int failed = 0;
    while (!cur.at_end()) {
        if (!push_value(L, cur, 0)) {
            return luaL_error(L, "redis decode: malformed reply payload at byte %d",
                              int(size - cur.remaining()));
        }
        // Only error objects and arrays are tables; an array has no metatable.
        if (lua_type(L, -1) == LUA_TTABLE && is_error_at(L, -1)) ++failed;
        lua_rawseti(L, t, ++n);
    }
    lua_pushinteger(L, n);
    lua_setfield(L, t, "n");
    if (errors) *errors = failed;
    return int(n);
}

// decode(msg, size [, t [, hint]]) / decode(str [, t [, hint]]) -> t, n, errors
int l_decode(lua_State* L) {
    const char* data;
    size_t size;
    int tidx;
    if (lua_type(L, 1) == LUA_TLIGHTUSERDATA) {
        data = static_cast<const char*>(lua_touserdata(L, 1));
        lua_Integer sz = luaL_checkinteger(L, 2);
        luaL_argcheck(L, sz >= 0 && (data || sz == 0), 2, "invalid payload size");
        size = size_t(sz);
        tidx = 3;
    } else {
        data = luaL_checklstring(L, 1, &size);
        tidx = 2;
    }
    if (lua_isnoneornil(L, tidx)) {
        // The count of replies, when the caller knows it (the frames event carries it), sizes the
        // new table once.
        lua_Integer hint = luaL_optinteger(L, tidx + 1, 4);
        lua_createtable(L, hint > 0 && hint <= 1 << 20 ? int(hint) : 4, 1);
    } else {
        luaL_checktype(L, tidx, LUA_TTABLE);
        lua_pushvalue(L, tidx);
    }
    int errors = 0;
    int n = decode_into(L, data, size, lua_gettop(L), &errors);
    lua_pushinteger(L, n);
    lua_pushinteger(L, errors);
    return 3;
}

int l_iserror(lua_State* L) {
    bool yes = false;
    if (lua_getmetatable(L, 1)) {
        luaL_getmetatable(L, kErrorMeta);
        yes = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    lua_pushboolean(L, yes);
    return 1;
}

int l_error_tostring(lua_State* L) {
    lua_getfield(L, 1, "err");
    if (!lua_isstring(L, -1)) lua_pushliteral(L, "redis error");
    return 1;
}

// ---- commands ------------------------------------------------------------------------------

// Most buffer functions hold the buffers' metatable as upvalue `up` (see the module's opening),
// so that telling a buffer is one comparison: luaL_checkudata finds the metatable by name, about
// 330 instructions a call, and a single Redis command made four such calls. Anything else gets
// luaL_checkudata's error; `up` 0 (__gc, __len) asks it directly.
CommandBuffer* check_buffer(lua_State* L, int idx, int up = 0) {
    void* p = up ? lua_touserdata(L, idx) : nullptr;
    if (p && lua_getmetatable(L, idx)) {
        const bool ours = lua_rawequal(L, -1, lua_upvalueindex(up));
        lua_pop(L, 1);
        if (ours) return static_cast<CommandBuffer*>(p);
    }
    return static_cast<CommandBuffer*>(luaL_checkudata(L, idx, kBufferMeta));
}

CommandBuffer* new_buffer(lua_State* L) {
    void* mem = lua_newuserdatauv(L, sizeof(CommandBuffer), 0);
    auto* b = new (mem) CommandBuffer();
    luaL_setmetatable(L, kBufferMeta);
    return b;
}

// The argument text of the number at idx into num (40 bytes); returns its length.
size_t number_text(lua_State* L, int idx, char* num) {
    if (lua_isinteger(L, idx)) {
        // to_chars, not snprintf: a ttl or a count is formatted on every lock and script call,
        // and printf's machinery costs more than the rest of the command's encoding.
        return size_t(std::to_chars(num, num + 40, lua_tointeger(L, idx)).ptr - num);
    }
    // The shortest form that reads back as the same double: 0.1 stays "0.1", 3.0 is "3"
    // (accepted where Redis wants an integer).
    double v = lua_tonumber(L, idx);
    int len = 0;
    for (int prec = 15; prec <= 17; ++prec) {
        len = std::snprintf(num, 40, "%.*g", prec, v);
        if (std::strtod(num, nullptr) == v) break;
    }
    return size_t(len);
}

// Replaces the value at the top of the stack by its argument string. `pos`/`elem` only name the
// argument in the error.
void to_argument(lua_State* L, const char* cmd, int pos, lua_Integer elem) {
    switch (lua_type(L, -1)) {
        case LUA_TSTRING:
            return;
        case LUA_TNUMBER: {
            char num[40];
            size_t len = number_text(L, -1, num);
            lua_pushlstring(L, num, len);
            lua_replace(L, -2);
            return;
        }
        default:
            if (elem > 0) {
                luaL_error(L,
                           "redis command %s: argument #%d[%d] is a %s (string or number expected)",
                           cmd, pos, int(elem), luaL_typename(L, -1));
            }
            luaL_error(L, "redis command %s: argument #%d is a %s (string or number expected)", cmd,
                       pos, luaL_typename(L, -1));
    }
}

// Appends, reporting failure as text in `err` (so no Result is alive when the caller raises).
bool append_command(CommandBuffer& buf, int argc, const char* const* ptrs, const size_t* lens,
                    char* err, size_t errlen) {
    auto r = buf.append(argc, ptrs, lens);
    if (r.ok()) return true;
    std::snprintf(err, errlen, "%s", r.error().message.c_str());
    return false;
}

// Encodes arguments first..top (strings and numbers only) in one walk straight into `out`,
// after `name` when one is given (the command's name, not on the stack). Returns false, with
// nothing of it left in `out`, at a word of any other type (a table to splice, or one to report)
// or when the buffer cannot grow: the caller takes the general path.
bool append_flat_args(lua_State* L, CommandBuffer& out, int first, int top,
                      std::string_view name = {}) {
    const size_t size0 = out.size();
    const uint32_t count0 = out.count();
    const bool named = name.data() != nullptr;
    if (!out.begin(size_t(top - first + 1 + (named ? 1 : 0))) ||
        (named && !out.add(name.data(), name.size()))) {
        out.truncate(size0, count0);
        return false;
    }
    for (int i = first; i <= top; ++i) {
        bool ok;
        switch (lua_type(L, i)) {
            case LUA_TSTRING: {
                size_t len;
                const char* p = lua_tolstring(L, i, &len);
                ok = out.add(p, len);
                break;
            }
            case LUA_TNUMBER: {
                char num[40];
                ok = out.add(num, number_text(L, i, num));
                break;
            }
            default:
                ok = false;
        }
        if (!ok) {
            out.truncate(size0, count0);
            return false;
        }
    }
    out.commit();
    return true;
}

// format's result: the encoded command as a string (no buffer given), or the buffer.
int format_result(lua_State* L, CommandBuffer* out, bool want_string) {
    if (want_string) {
        lua_pushlstring(L, out->data(), out->size());
        out->clear();
    } else {
        lua_pushvalue(L, 1);
    }
    return 1;
}

// format(nil | buf, cmd, ...) -> string | buf. Upvalue 1: a scratch buffer for the string form.
int l_format(lua_State* L) {
    bool want_string = lua_isnil(L, 1);
    CommandBuffer* out;
    if (want_string) {
        out = static_cast<CommandBuffer*>(lua_touserdata(L, lua_upvalueindex(1)));
        out->clear();  // a previous call may have raised before clearing it
    } else {
        out = check_buffer(L, 1, 2);
    }
    const char* cmd = luaL_checkstring(L, 2);
    int top = lua_gettop(L);
    // The common case: no argument list to splice, so no copy of the words on the stack.
    if (append_flat_args(L, *out, 2, top)) return format_result(L, out, want_string);
    // Pass 1: every argument as a string on the stack above `top`, tables spliced in.
    for (int i = 2; i <= top; ++i) {
        if (lua_type(L, i) == LUA_TTABLE) {
            lua_Integer len = lua_Integer(lua_rawlen(L, i));
            if (len > INT_MAX / 2) luaL_error(L, "redis command %s: argument #%d too long", cmd, i);
            luaL_checkstack(L, int(len) + 1, "redis command: too many arguments");
            for (lua_Integer j = 1; j <= len; ++j) {
                lua_rawgeti(L, i, j);
                to_argument(L, cmd, i, j);
            }
        } else {
            luaL_checkstack(L, 2, "redis command: too many arguments");
            lua_pushvalue(L, i);
            to_argument(L, cmd, i, 0);
        }
    }
    int argc = lua_gettop(L) - top;
    // Pass 2: pointer and length arrays, on the C stack or in a collectable scratch block.
    const char* ptr_inline[kInlineArgs];
    size_t len_inline[kInlineArgs];
    const char** ptrs = ptr_inline;
    size_t* lens = len_inline;
    if (argc > kInlineArgs) {
        void* mem = lua_newuserdatauv(L, size_t(argc) * (sizeof(char*) + sizeof(size_t)), 0);
        ptrs = static_cast<const char**>(mem);
        lens = reinterpret_cast<size_t*>(ptrs + argc);
    }
    for (int i = 0; i < argc; ++i)
        ptrs[i] = lua_tolstring(L, top + 1 + i, &lens[i]);
    char err[256];
    if (!append_command(*out, argc, ptrs, lens, err, sizeof err)) {
        return luaL_error(L, "redis command %s: %s", cmd, err);
    }
    return format_result(L, out, want_string);
}

// The word count of command table `cmd`: its `n` field when that is an integer, else its length.
// Upvalue 1 of the calling C closure is the string "n".
lua_Integer command_words(lua_State* L, int cmd) {
    lua_Integer n;
    lua_pushvalue(L, lua_upvalueindex(1));
    if (lua_rawget(L, cmd) == LUA_TNUMBER && lua_isinteger(L, -1))
        n = lua_tointeger(L, -1);
    else
        n = lua_Integer(lua_rawlen(L, cmd));
    lua_pop(L, 1);
    return n;
}

// Pushes command `cmd` (a table at that index: {name, args...}, `n` honoured) as argument strings,
// tables spliced. Returns the count, or -1 (nothing left pushed) on an argument that is neither a
// string nor a number: the caller reports it.
// Upvalue 1 of the calling C closure is the string "n" (a lua_getfield by name would look the
// key up in the string table on every command).
int push_command(lua_State* L, int cmd, const char* what) {
    const lua_Integer n = command_words(L, cmd);
    if (n < 1 || n > INT_MAX / 2) return -1;
    const int top = lua_gettop(L);
    auto ok = [](int t) { return t == LUA_TSTRING || t == LUA_TNUMBER; };
    auto fail = [L, top] {
        lua_settop(L, top);
        return -1;
    };
    for (lua_Integer i = 1; i <= n; ++i) {
        // lua_checkstack, not luaL_checkstack: a raise here would leave half a batch behind.
        if (!lua_checkstack(L, 2)) return fail();
        int t = lua_rawgeti(L, cmd, i);
        if (t == LUA_TTABLE) {
            int list = lua_gettop(L);
            lua_Integer len = lua_Integer(lua_rawlen(L, list));
            if (len > INT_MAX / 2 || !lua_checkstack(L, int(len) + 1)) return fail();
            for (lua_Integer j = 1; j <= len; ++j) {
                if (!ok(lua_rawgeti(L, list, j))) return fail();
                to_argument(L, what, int(i), j);
            }
            lua_remove(L, list);
        } else if (ok(t)) {
            to_argument(L, what, int(i), 0);
        } else {
            return fail();
        }
    }
    return lua_gettop(L) - top;
}

enum class Flat { appended, spliced, bad };

// Encodes command table `cmd` in one walk over its words, straight into `out`, when every word
// is a string or a number (the common case: no argument lists to splice). Returns spliced,
// with a partial command left in `out`, at the first table word: the caller truncates and takes
// the general path. bad (also with a partial command left) for any other word or a failed
// append. The stack is as it was in every case.
Flat append_flat(lua_State* L, CommandBuffer& out, int cmd) {
    const lua_Integer n = command_words(L, cmd);
    if (n < 1 || n > INT_MAX / 2 || !out.begin(size_t(n))) return Flat::bad;
    for (lua_Integer i = 1; i <= n; ++i) {
        bool ok;
        switch (lua_rawgeti(L, cmd, i)) {
            case LUA_TSTRING: {
                // The table keeps the string alive: the pointer stays valid after the pop.
                size_t len;
                const char* p = lua_tolstring(L, -1, &len);
                ok = out.add(p, len);
                break;
            }
            case LUA_TNUMBER: {
                char num[40];
                const size_t len = number_text(L, -1, num);
                ok = out.add(num, len);
                break;
            }
            case LUA_TTABLE:
                lua_pop(L, 1);
                return Flat::spliced;
            default:
                ok = false;
        }
        lua_pop(L, 1);
        if (!ok) return Flat::bad;
    }
    out.commit();
    return Flat::appended;
}

// The name of command table `cmd` looked up in the refusal table at index `refusal` (a plain
// get, so its __index may fill it in): true when the command may go (the answer is false); else
// the answer is left on the stack (a reason: the command is refused; nil: the name is not a
// name) and false is returned.
bool name_accepted(lua_State* L, int cmd, int refusal) {
    lua_rawgeti(L, cmd, 1);
    lua_gettable(L, refusal);
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        return true;
    }
    return false;
}

// buf:format_batch(cmds [, refusal]) -> nil | i [, why]. Appends every command of cmds (each
// {name, args...}) or, when command i cannot go, none of them: the buffer is left as it was and i
// is returned for the caller to report. Command i cannot go when it is not a table, when an
// argument cannot be encoded, or, given `refusal` (name -> false when accepted, else why not),
// when its name is not accepted: then refusal's answer (a reason, or nil for a name that is not
// one) comes second. One call per pipeline instead of one per command.
int l_format_batch(lua_State* L) {
    CommandBuffer* out = check_buffer(L, 1, 2);
    luaL_checktype(L, 2, LUA_TTABLE);
    const bool refusing = !lua_isnoneornil(L, 3);
    if (refusing) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    const size_t size0 = out->size();
    const uint32_t count0 = out->count();
    const lua_Integer n = lua_Integer(lua_rawlen(L, 2));
    const char* ptr_inline[kInlineArgs];
    size_t len_inline[kInlineArgs];
    char err[256];
    for (lua_Integer i = 1; i <= n; ++i) {
        const int top = lua_gettop(L);
        int argc = -1;
        if (lua_rawgeti(L, 2, i) == LUA_TTABLE) {
            if (refusing && !name_accepted(L, top + 1, 3)) {
                out->truncate(size0, count0);
                lua_pushinteger(L, i);
                lua_replace(L, top + 1);  // i, then refusal's answer
                return 2;
            }
            const size_t size1 = out->size();
            const uint32_t count1 = out->count();
            const Flat flat = append_flat(L, *out, top + 1);
            if (flat == Flat::appended) {
                lua_settop(L, top);
                continue;
            }
            out->truncate(size1, count1);
            if (flat == Flat::spliced) argc = push_command(L, top + 1, "pipeline");
        }
        bool appended = false;
        if (argc > 0) {
            const char** ptrs = ptr_inline;
            size_t* lens = len_inline;
            if (argc > kInlineArgs) {
                void* mem =
                    lua_newuserdatauv(L, size_t(argc) * (sizeof(char*) + sizeof(size_t)), 0);
                ptrs = static_cast<const char**>(mem);
                lens = reinterpret_cast<size_t*>(ptrs + argc);
            }
            for (int a = 0; a < argc; ++a)
                ptrs[a] = lua_tolstring(L, top + 2 + a, &lens[a]);
            appended = append_command(*out, argc, ptrs, lens, err, sizeof err);
        }
        lua_settop(L, top);
        if (!appended) {
            out->truncate(size0, count0);
            lua_pushinteger(L, i);
            return 1;
        }
    }
    return 0;
}

// True when command table `cmd` would encode: 1 to INT_MAX/2 words (its `n`, else its length),
// each a string, a number or a list of strings and numbers. format_batch's rules, without
// encoding. Upvalue 1 of the calling C closure is the string "n" (command_words).
bool command_encodes(lua_State* L, int cmd) {
    const lua_Integer n = command_words(L, cmd);
    if (n < 1 || n > INT_MAX / 2) return false;
    for (lua_Integer i = 1; i <= n; ++i) {
        const int t = lua_rawgeti(L, cmd, i);
        bool ok = t == LUA_TSTRING || t == LUA_TNUMBER;
        if (t == LUA_TTABLE) {
            const lua_Integer len = lua_Integer(lua_rawlen(L, -1));
            ok = true;
            for (lua_Integer j = 1; ok && j <= len; ++j) {
                const int e = lua_rawgeti(L, -1, j);
                ok = e == LUA_TSTRING || e == LUA_TNUMBER;
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
        if (!ok) return false;
    }
    return true;
}

// codec.check_batch(cmds [, refusal]) -> nil | i [, why]: format_batch's checks without the
// encoding, for requests that wait before a connection encodes them (a router holds them, or
// the connection is not ready), so that their caller hears of a bad command at once.
int l_check_batch(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    const bool refusing = !lua_isnoneornil(L, 2);
    if (refusing) luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    const lua_Integer n = lua_Integer(lua_rawlen(L, 1));
    for (lua_Integer i = 1; i <= n; ++i) {
        bool ok = lua_rawgeti(L, 1, i) == LUA_TTABLE;
        if (ok && refusing && !name_accepted(L, 3, 2)) {
            lua_pushinteger(L, i);
            lua_replace(L, 3);  // i, then refusal's answer
            return 2;
        }
        ok = ok && command_encodes(L, 3);
        lua_settop(L, 2);
        if (!ok) {
            lua_pushinteger(L, i);
            return 1;
        }
    }
    return 0;
}

// codec.check_command(args) -> bool: whether one command ({name, args...}, `n` honoured) would
// encode; check_batch's rule for each command.
int l_check_command(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushboolean(L, command_encodes(L, 1));
    return 1;
}

int l_buffer(lua_State* L) {
    new_buffer(L);
    return 1;
}

// buf:take() -> lightuserdata, size, commands (nil, 0, 0 when empty): the commands count that
// buf:count() gave before, so a writer needs one call.
int l_buffer_take(lua_State* L) {
    CommandBuffer* b = check_buffer(L, 1, 1);
    if (b->empty()) {
        lua_pushnil(L);
        lua_pushinteger(L, 0);
        lua_pushinteger(L, 0);
        return 3;
    }
    const lua_Integer commands = lua_Integer(b->count());
    Payload p = b->take();
    lua_Integer size = p.size();
    lua_pushlightuserdata(L, p.release());  // no push can raise
    lua_pushinteger(L, size);
    lua_pushinteger(L, commands);
    return 3;
}

// buf:append(cmd, ...) -> true when every word is a string or a number and the command was
// appended; false, with the buffer as it was, for anything else (a list to splice, a word of
// another type, a buffer that cannot grow). Never raises for the words: the Redis client tries
// this first and takes format's general path (which splices lists and raises naming a bad word)
// only when it fails, instead of running every command under pcall.
int l_buffer_append(lua_State* L) {
    CommandBuffer* out = check_buffer(L, 1, 1);
    const int top = lua_gettop(L);
    lua_pushboolean(L, top >= 2 && append_flat_args(L, *out, 2, top));
    return 1;
}

// buf:append_encoded(bytes, count) -> true when `count` commands already encoded (another
// buffer's tostring(), e.g. a pipeline builder's) were appended; false, with the buffer as it
// was, when it cannot grow. The bytes are not parsed again: they must be whole commands.
int l_buffer_append_encoded(lua_State* L) {
    CommandBuffer* out = check_buffer(L, 1, 1);
    size_t len;
    const char* bytes = luaL_checklstring(L, 2, &len);
    const lua_Integer count = luaL_checkinteger(L, 3);
    luaL_argcheck(L, count >= 1 && count <= lua_Integer(UINT32_MAX), 3, "count out of range");
    lua_pushboolean(L, out->append_encoded(std::string_view(bytes, len), uint32_t(count)));
    return 1;
}

// A pipeline builder's method for one command (skynet.db.redis's db:pipeline()). Upvalues: the
// command's name, the method's general path in Lua, the buffers' metatable. The builder is a
// table holding [1] its buffer (false on a Redis Cluster client), [2] the commands added, [3]
// their names. When the builder has a buffer and every argument is a string or a number, the
// command is encoded there, counted and named here, and the builder returned; anything else
// (lists to splice, a word to report, no buffer) goes to the general path, called with the same
// arguments.
int l_builder_add(lua_State* L) {
    const int top = lua_gettop(L);
    if (top >= 1 && lua_type(L, 1) == LUA_TTABLE && lua_rawgeti(L, 1, 1) == LUA_TUSERDATA) {
        CommandBuffer* buf = check_buffer(L, top + 1, 3);
        lua_rawgeti(L, 1, 2);
        const lua_Integer n = lua_tointeger(L, -1) + 1;
        // The name first: storing it may raise (memory), and then nothing is encoded yet. Past
        // the encoding nothing may raise, or the bytes and the count would disagree.
        size_t len;
        const char* name = lua_tolstring(L, lua_upvalueindex(1), &len);
        if (lua_rawgeti(L, 1, 3) == LUA_TTABLE && lua_isinteger(L, -2)) {
            lua_pushvalue(L, lua_upvalueindex(1));
            lua_rawseti(L, -2, n);
        } else {
            buf = nullptr;  // not a builder's state: the general path says what is wrong
        }
        if (buf && append_flat_args(L, *buf, 2, top, std::string_view(name, len))) {
            lua_pushinteger(L, n);
            lua_rawseti(L, 1, 2);  // an existing slot: no allocation
            lua_settop(L, 1);
            return 1;
        }
    }
    lua_settop(L, top);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_insert(L, 1);
    lua_call(L, top, 1);
    return 1;
}

// builder_method(name, general) -> the builder's method for command `name` (see l_builder_add).
int l_builder_method(lua_State* L) {
    luaL_checktype(L, 1, LUA_TSTRING);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));  // the buffers' metatable
    lua_pushcclosure(L, l_builder_add, 3);
    return 1;
}

int l_buffer_tostring(lua_State* L) {
    CommandBuffer* b = check_buffer(L, 1, 1);
    lua_pushlstring(L, b->data(), b->size());
    return 1;
}

int l_buffer_count(lua_State* L) {
    lua_pushinteger(L, check_buffer(L, 1, 1)->count());
    return 1;
}

// buf:full(commands, bytes) -> true when at least that many commands or bytes are waiting.
int l_buffer_full(lua_State* L) {
    CommandBuffer* b = check_buffer(L, 1, 1);
    lua_Integer commands = luaL_checkinteger(L, 2);
    lua_Integer bytes = luaL_checkinteger(L, 3);
    lua_pushboolean(L, lua_Integer(b->count()) >= commands || lua_Integer(b->size()) >= bytes);
    return 1;
}

int l_buffer_reset(lua_State* L) {
    check_buffer(L, 1, 1)->clear();
    return 0;
}

int l_buffer_len(lua_State* L) {
    lua_pushinteger(L, lua_Integer(check_buffer(L, 1)->size()));
    return 1;
}

int l_buffer_gc(lua_State* L) {
    check_buffer(L, 1)->~CommandBuffer();
    return 0;
}

// slot(key) -> the Redis Cluster hash slot of the key (0..16383), hash tags honoured. A number
// is hashed as the argument text format() sends for it.
int l_slot(lua_State* L) {
    lua_settop(L, 1);
    to_argument(L, "slot", 1, 0);
    size_t n;
    const char* key = lua_tolstring(L, 1, &n);
    lua_pushinteger(L, redis::key_slot(std::string_view(key, n)));
    return 1;
}

// slots(cmds, single, out) -> the number of commands: out[i] = the slot of cmds[i] when the
// common case decides it (single[cmds[i][1]] is true, no `n` field, the key (the first
// argument) a string, the others strings or numbers), else -2: that command is left to the
// caller (keyless or multi-key commands, number keys, spliced tables, bad arguments). One call per
// pipeline instead of one per command; `single` and `out` belong to the caller.
int l_slots(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    const lua_Integer n = lua_Integer(lua_rawlen(L, 1));
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_Integer slot = -2;
        if (lua_rawgeti(L, 1, i) == LUA_TTABLE) {
            const lua_Integer words = lua_Integer(lua_rawlen(L, -1));
            bool fast = words >= 2;
            if (fast) {
                lua_pushliteral(L, "n");
                fast = lua_rawget(L, -2) == LUA_TNIL;
                lua_pop(L, 1);
            }
            if (fast) {
                lua_rawgeti(L, -1, 1);
                fast = lua_rawget(L, 2) != LUA_TNIL && lua_toboolean(L, -1);
                lua_pop(L, 1);
            }
            for (lua_Integer j = 2; fast && j <= words; ++j) {
                // A number key is left to the caller: it is hashed as format() writes it.
                const int t = lua_rawgeti(L, -1, j);
                fast = t == LUA_TSTRING || (j > 2 && t == LUA_TNUMBER);
                if (fast && j == 2) {
                    size_t len;
                    const char* key = lua_tolstring(L, -1, &len);
                    slot = redis::key_slot(std::string_view(key, len));
                }
                lua_pop(L, 1);
            }
            if (!fast) slot = -2;
        }
        lua_pop(L, 1);
        lua_pushinteger(L, slot);
        lua_rawseti(L, 3, i);
    }
    lua_pushinteger(L, n);
    return 1;
}

}  // namespace

int redis_decode_buffer(lua_State* L, const void* data, size_t size) {
    lua_createtable(L, 4, 1);
    return decode_into(L, static_cast<const char*>(data), size, lua_gettop(L));
}

}  // namespace skyhive

extern "C" int luaopen_skyhive_redis_codec(lua_State* L) {
    using namespace skyhive;
    luaL_checkversion(L);

    luaL_newmetatable(L, kErrorMeta);
    lua_pushcfunction(L, l_error_tostring);
    lua_setfield(L, -2, "__tostring");
    int error_mt = lua_gettop(L);

    luaL_newmetatable(L, kBufferMeta);
    int buffer_mt = lua_gettop(L);
    lua_pushcfunction(L, l_buffer_gc);
    lua_setfield(L, buffer_mt, "__gc");
    lua_pushcfunction(L, l_buffer_len);
    lua_setfield(L, buffer_mt, "__len");

    // The scratch buffer behind format(nil, ...), shared by both spellings of format. Upvalues
    // that hold the buffers' metatable (check_buffer): format's 2, format_batch's 2, the other
    // methods' 1.
    new_buffer(L);
    lua_pushvalue(L, buffer_mt);
    lua_pushcclosure(L, l_format, 2);
    int format = lua_gettop(L);

    luaL_Reg buffer_methods[] = {{"take", l_buffer_take},
                                 {"tostring", l_buffer_tostring},
                                 {"count", l_buffer_count},
                                 {"full", l_buffer_full},
                                 {"reset", l_buffer_reset},
                                 {"append", l_buffer_append},
                                 {"append_encoded", l_buffer_append_encoded},
                                 {nullptr, nullptr}};
    luaL_newlibtable(L, buffer_methods);
    lua_pushvalue(L, buffer_mt);
    luaL_setfuncs(L, buffer_methods, 1);
    lua_pushliteral(L, "n");
    lua_pushvalue(L, buffer_mt);
    lua_pushcclosure(L, l_format_batch, 2);
    lua_setfield(L, -2, "format_batch");
    lua_pushvalue(L, format);
    lua_setfield(L, -2, "format");
    lua_setfield(L, buffer_mt, "__index");

    luaL_Reg functions[] = {{"buffer", l_buffer}, {"decode", l_decode}, {"iserror", l_iserror},
                            {"slot", l_slot},     {"slots", l_slots},   {nullptr, nullptr}};
    luaL_newlib(L, functions);
    lua_pushliteral(L, "n");
    lua_pushcclosure(L, l_check_batch, 1);
    lua_setfield(L, -2, "check_batch");
    lua_pushliteral(L, "n");
    lua_pushcclosure(L, l_check_command, 1);
    lua_setfield(L, -2, "check_command");
    lua_pushvalue(L, format);
    lua_setfield(L, -2, "format");
    lua_pushvalue(L, error_mt);
    lua_setfield(L, -2, "error_mt");
    lua_pushvalue(L, buffer_mt);
    lua_pushcclosure(L, l_builder_method, 1);
    lua_setfield(L, -2, "builder_method");
    // The buffers' methods, for a hot path that calls them as upvalues (buffer_methods.append(b,
    // ...)) without the lookup through the metatable that b:append(...) makes. A copy: changing
    // it changes no buffer.
    lua_newtable(L);
    lua_getfield(L, buffer_mt, "__index");
    for (lua_pushnil(L); lua_next(L, -2);)
        lua_setfield(L, -4, lua_tostring(L, -2));
    lua_pop(L, 1);
    lua_setfield(L, -2, "buffer_methods");
    return 1;
}
