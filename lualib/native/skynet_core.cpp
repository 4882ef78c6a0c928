#include "lualib/native/skynet_core.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/clock.h"
#include "core/node.h"
#include "core/service.h"
#include "lualib/native/seri.h"

// Lua raises errors with longjmp (Debian builds it as C), which skips C++ destructors. Every
// function below therefore checks its arguments first and only then creates objects that own
// memory or locks, and pushes results after those objects are gone.

namespace skyhive {

namespace core_args {

LuaServiceHost& host_of(lua_State* L) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);  // a service's state allocates through its host (skynet_core_bind)
    return *static_cast<LuaServiceHost*>(ud);
}

namespace {
Service& service_of(lua_State* L) {
    return host_of(L).service();
}
}  // namespace

// A destination: an integer handle, or an address string resolved through the node. An unknown
// name gives the empty handle, which the node treats as a dead service.
Handle check_dest(lua_State* L, int arg) {
    if (lua_type(L, arg) == LUA_TNUMBER) {
        lua_Integer h = luaL_checkinteger(L, arg);
        luaL_argcheck(L, h >= 0 && h <= lua_Integer(UINT32_MAX), arg, "handle out of range");
        return Handle(uint32_t(h));
    }
    size_t len = 0;
    const char* name = luaL_checklstring(L, arg, &len);
    return service_of(L).node().resolve(std::string_view(name, len));
}

MessageType check_type(lua_State* L, int arg) {
    lua_Integer t = luaL_checkinteger(L, arg);
    luaL_argcheck(L, t >= 0 && t <= 255, arg, "message type must be 0..255");
    return MessageType(uint8_t(t));
}

int32_t check_session(lua_State* L, int arg) {
    lua_Integer s = luaL_checkinteger(L, arg);
    luaL_argcheck(L, s >= INT32_MIN && s <= INT32_MAX, arg, "session out of range");
    return int32_t(s);
}

// The message body at `arg`: a string (copied), light userdata + size (adopted), or nil.
// Raises before taking ownership of anything, so a bad argument leaks nothing it was given.
Body check_body(lua_State* L, int arg) {
    Body b;
    switch (lua_type(L, arg)) {
        case LUA_TNONE:
        case LUA_TNIL:
            return b;
        case LUA_TSTRING:
            b.data = lua_tolstring(L, arg, &b.size);
            break;
        case LUA_TLIGHTUSERDATA: {
            lua_Integer size = luaL_checkinteger(L, arg + 1);
            luaL_argcheck(L, size >= 0 && size <= lua_Integer(UINT32_MAX), arg + 1,
                          "message size out of range");
            b.data = lua_touserdata(L, arg);
            b.size = size_t(size);
            b.adopt = true;
            break;
        }
        default:
            luaL_typeerror(L, arg, "string, light userdata or nil");
    }
    luaL_argcheck(L, b.size <= UINT32_MAX, arg, "message larger than 4 GB");
    return b;
}

Payload to_payload(const Body& b) {
    if (b.adopt) return Payload::adopt(const_cast<void*>(b.data), uint32_t(b.size));
    if (b.size == 0) return Payload();
    return Payload::copy(b.data, b.size);
}

}  // namespace core_args

namespace {

using namespace core_args;

char kHostKey;

int l_send(lua_State* L) {
    Service& self = service_of(L);
    Handle dest = check_dest(L, 1);
    MessageType type = check_type(L, 2);
    bool fresh = lua_isnoneornil(L, 3);
    int32_t session = fresh ? 0 : check_session(L, 3);
    Body body = check_body(L, 4);
    if (fresh) session = self.new_session();
    if (self.send(dest, type, session, to_payload(body)))
        lua_pushinteger(L, session);
    else
        lua_pushboolean(L, 0);
    return 1;
}

int l_redirect(lua_State* L) {
    Service& self = service_of(L);
    Handle dest = check_dest(L, 1);
    Handle source = check_dest(L, 2);
    MessageType type = check_type(L, 3);
    int32_t session = check_session(L, 4);
    Body body = check_body(L, 5);
    bool ok = self.node().send(source, dest, type, session, to_payload(body));
    lua_pushboolean(L, ok);
    return 1;
}

int l_genid(lua_State* L) {
    lua_pushinteger(L, service_of(L).new_session());
    return 1;
}

int l_take(lua_State* L) {
    Message* m = host_of(L).current();
    if (!m) return luaL_error(L, "take: no message is being dispatched");
    // Push first: a memory error must not strand a released buffer.
    lua_pushlightuserdata(L, m->payload.data());
    lua_pushinteger(L, m->payload.size());
    m->payload.release();
    return 2;
}

int l_launch(lua_State* L) {
    size_t mlen = 0, alen = 0;
    const char* module = luaL_checklstring(L, 1, &mlen);
    const char* args = luaL_optlstring(L, 2, "", &alen);
    char err[512] = "";
    uint32_t handle = 0;
    {
        auto r = host_of(L).launch(std::string_view(module, mlen), std::string_view(args, alen), 0);
        if (r)
            handle = r.value().value;
        else
            std::snprintf(err, sizeof err, "%s", r.error().message.c_str());
    }
    if (handle) {
        lua_pushinteger(L, handle);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
}

int l_kill(lua_State* L) {
    Handle h = check_dest(L, 1);
    lua_pushboolean(L, h && service_of(L).node().kill(h));
    return 1;
}

int l_self(lua_State* L) {
    lua_pushinteger(L, service_of(L).handle().value);
    return 1;
}

int l_now(lua_State* L) {
    lua_pushinteger(L, lua_Integer(service_of(L).node().now()));
    return 1;
}

int l_starttime(lua_State* L) {
    lua_pushinteger(L, service_of(L).node().starttime());
    return 1;
}

int l_hpc(lua_State* L) {
    lua_pushinteger(L, lua_Integer(monotonic_ns()));
    return 1;
}

// register(name [, handle]): names handle (default: this service); raises when the name is
// taken by another live service (skynet.register, skynet.name).
int l_register(lua_State* L) {
    size_t len = 0;
    const char* name = luaL_checklstring(L, 1, &len);
    Handle h = lua_isnoneornil(L, 2) ? service_of(L).handle() : check_dest(L, 2);
    if (!service_of(L).node().register_name(std::string_view(name, len), h)) {
        char addr[16];
        std::snprintf(addr, sizeof addr, ":%08x", h.value);
        return luaL_error(L, "cannot name %s %s: the name is taken or the service is dead", addr,
                          name);
    }
    return 0;
}

// address(dest) -> ":0000000a" for a handle, the string itself for a name.
int l_address(lua_State* L) {
    if (lua_type(L, 1) == LUA_TNUMBER) {
        char text[16];
        std::snprintf(text, sizeof text, ":%08x", unsigned(luaL_checkinteger(L, 1)));
        lua_pushstring(L, text);
        return 1;
    }
    luaL_tolstring(L, 1, nullptr);
    return 1;
}

// time() -> seconds since the epoch with centisecond precision (starttime + now).
int l_time(lua_State* L) {
    Node& node = service_of(L).node();
    lua_pushnumber(L, double(node.now()) / 100.0 + double(node.starttime()));
    return 1;
}

int l_unregister(lua_State* L) {
    size_t len = 0;
    const char* name = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, service_of(L).node().unregister_name(std::string_view(name, len)));
    return 1;
}

int l_query(lua_State* L) {
    size_t len = 0;
    const char* name = luaL_checklstring(L, 1, &len);
    Handle h = service_of(L).node().query_name(std::string_view(name, len));
    if (h)
        lua_pushinteger(L, h.value);
    else
        lua_pushnil(L);
    return 1;
}

int l_resolve(lua_State* L) {
    Handle h = check_dest(L, 1);
    if (h)
        lua_pushinteger(L, h.value);
    else
        lua_pushnil(L);
    return 1;
}

int l_getenv(lua_State* L) {
    size_t len = 0;
    const char* key = luaL_checklstring(L, 1, &len);
    const std::string_view k(key, len);
    Env& env = service_of(L).node().env();
    char small[256];
    size_t n = 0;
    {
        auto v = env.get(k);
        if (!v) {
            lua_pushnil(L);  // safe: v holds nothing
            return 1;
        }
        n = v->size();
        if (n <= sizeof small) std::memcpy(small, v->data(), n);
    }
    if (n <= sizeof small) {
        lua_pushlstring(L, small, n);
        return 1;
    }
    // A long value: make the Lua buffer first, then copy into it with no Lua call in between.
    char* dst = static_cast<char*>(lua_newuserdatauv(L, n, 0));
    {
        auto v = env.get(k);
        n = v ? std::min(n, v->size()) : 0;
        if (n) std::memcpy(dst, v->data(), n);
    }
    lua_pushlstring(L, dst, n);
    return 1;
}

// setenv(key, value): sets a key once (value tostring'd); raises when it exists (skynet's rule).
int l_setenv(lua_State* L) {
    size_t klen = 0, vlen = 0;
    const char* key = luaL_checklstring(L, 1, &klen);
    const char* value = luaL_tolstring(L, 2, &vlen);
    if (!service_of(L).node().env().set(std::string_view(key, klen), std::string_view(value, vlen)))
        return luaL_error(L, "can't setenv an existing key: %s", key);
    return 0;
}

void log_text(lua_State* L, LogLevel level, const char* text, size_t len) {
    Service& self = service_of(L);
    self.node().log(self.handle(), level, std::string_view(text, len));
}

// error(text [, level]): one log line at "debug", "info" (default), "warn" or "error".
int l_error(lua_State* L) {
    size_t len = 0;
    const char* text = luaL_checklstring(L, 1, &len);
    static const char* const levels[] = {"debug", "info", "warn", "error", nullptr};
    int level = luaL_checkoption(L, 2, "info", levels);
    log_text(L, LogLevel(level), text, len);
    return 0;
}

// print(...): skynet.error's form, the arguments tostring'd and joined with spaces, at info.
int l_print(lua_State* L) {
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; ++i) {
        if (i > 1) luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, nullptr);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t len = 0;
    const char* text = lua_tolstring(L, -1, &len);
    log_text(L, LogLevel::info, text, len);
    return 0;
}

int l_stat(lua_State* L) {
    static const char* const items[] = {"message", "cpu", "mqlen", "memory", "endless", nullptr};
    int item = luaL_checkoption(L, 1, nullptr, items);
    LuaServiceHost& host = host_of(L);
    const Service& self = host.service();
    switch (item) {
        case 0:
            lua_pushinteger(L, lua_Integer(self.stats().messages.load(std::memory_order_relaxed)));
            break;
        case 1:
            lua_pushnumber(
                L, double(cycles_to_ns(self.stats().cpu_cycles.load(std::memory_order_relaxed))) /
                       1e9);
            break;
        case 2:
            lua_pushinteger(L, lua_Integer(self.mailbox_length()));
            break;
        case 3:
            lua_pushinteger(L, host.lua_memory());
            break;
        default:
            lua_pushboolean(L, host.endless());
            break;
    }
    return 1;
}

int l_info(lua_State* L) {
    Handle h = check_dest(L, 1);
    struct Snapshot {
        char module[64] = "";
        char args[256] = "";
        uint64_t messages = 0, cycles = 0;
        size_t mqlen = 0;
        long long memory = -1;
    } snap;
    bool alive = h && service_of(L).node().with_service(h, [&snap](Service& s) {
        std::snprintf(snap.module, sizeof snap.module, "%s", s.module_name().c_str());
        std::snprintf(snap.args, sizeof snap.args, "%s", s.args().c_str());
        snap.messages = s.stats().messages.load(std::memory_order_relaxed);
        snap.cycles = s.stats().cpu_cycles.load(std::memory_order_relaxed);
        snap.mqlen = s.mailbox_length();
        snap.memory = s.memory();
    });
    if (!alive) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 6);
    lua_pushstring(L, snap.module);
    lua_setfield(L, -2, "module");
    lua_pushstring(L, snap.args);
    lua_setfield(L, -2, "args");
    lua_pushinteger(L, lua_Integer(snap.messages));
    lua_setfield(L, -2, "messages");
    lua_pushnumber(L, double(cycles_to_ns(snap.cycles)) / 1e9);
    lua_setfield(L, -2, "cpu");
    lua_pushinteger(L, lua_Integer(snap.mqlen));
    lua_setfield(L, -2, "mqlen");
    if (snap.memory >= 0) {
        lua_pushinteger(L, snap.memory);
        lua_setfield(L, -2, "memory");
    }
    return 1;
}

int l_list(lua_State* L) {
    Node& node = service_of(L).node();
    for (;;) {
        // Lua-owned scratch space first, so no C++ container is live when a push raises.
        const size_t capacity = node.service_count() + 64;
        auto* raw = static_cast<uint32_t*>(lua_newuserdatauv(L, capacity * sizeof(uint32_t), 0));
        size_t n = 0;
        bool overflow = false;
        node.for_each_service([&](Service& s) {
            if (n < capacity)
                raw[n++] = s.handle().value;
            else
                overflow = true;
        });
        if (overflow) {
            lua_pop(L, 1);
            continue;
        }
        lua_createtable(L, int(n), 0);
        for (size_t i = 0; i < n; ++i) {
            lua_pushinteger(L, raw[i]);
            lua_rawseti(L, -2, lua_Integer(i + 1));
        }
        return 1;
    }
}

int l_memlimit(lua_State* L) {
    lua_Integer bytes = luaL_checkinteger(L, 1);
    luaL_argcheck(L, bytes >= 0, 1, "limit must be >= 0 (0 = none)");
    lua_pushinteger(L, lua_Integer(host_of(L).set_memory_limit(size_t(bytes))));
    return 1;
}

int l_signal(lua_State* L) {
    Handle h = check_dest(L, 1);
    lua_Integer sig = luaL_optinteger(L, 2, 0);
    lua_pushboolean(L, h && service_of(L).node().signal(h, int(sig)));
    return 1;
}

int l_loglevel(lua_State* L) {
    Node& node = service_of(L).node();
    if (!lua_isnoneornil(L, 1)) {
        size_t len = 0;
        const char* name = luaL_checklstring(L, 1, &len);
        auto level = parse_log_level(std::string_view(name, len));
        luaL_argcheck(L, level.has_value(), 1, "expected debug, info, warn or error");
        node.set_log_level(*level);
    }
    lua_pushstring(L, to_string(node.log_level()));
    return 1;
}

int l_abort(lua_State* L) {
    lua_Integer code = luaL_optinteger(L, 1, 0);
    service_of(L).node().request_stop(int(code));
    return 0;
}

int l_tostring(lua_State* L) {
    if (lua_isnoneornil(L, 1)) return 0;
    if (lua_type(L, 1) == LUA_TSTRING) {
        lua_settop(L, 1);
        return 1;
    }
    luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
    lua_Integer size = luaL_checkinteger(L, 2);
    luaL_argcheck(L, size >= 0, 2, "negative size");
    lua_pushlstring(L, static_cast<const char*>(lua_touserdata(L, 1)), size_t(size));
    return 1;
}

}  // namespace

void skynet_core_bind(lua_State* L, LuaServiceHost* host) {
    lua_pushlightuserdata(L, host);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kHostKey);
    host->scheduler_ = std::make_unique<LuaScheduler>(L, *host);
}

int skynet_core_call_error(lua_State* L, int addr_arg, int level, const char* what) {
    char addr[64];
    if (lua_type(L, addr_arg) == LUA_TNUMBER)
        std::snprintf(addr, sizeof addr, ":%08x", unsigned(lua_tointeger(L, addr_arg)));
    else
        std::snprintf(addr, sizeof addr, "%s", lua_tostring(L, addr_arg));
    luaL_where(L, level);
    lua_pushfstring(L, "call to %s %s", addr, what);
    lua_concat(L, 2);
    return lua_error(L);
}

int skynet_core_traceback(lua_State* L) {
    const char* msg = lua_tostring(L, 1);
    if (!msg) msg = luaL_tolstring(L, 1, nullptr);
    luaL_traceback(L, L, msg, 1);
    return 1;
}

namespace {

int protected_dispatch(lua_State* L) {
    auto* host = static_cast<LuaServiceHost*>(lua_touserdata(L, 1));
    host->scheduler().dispatch(*static_cast<Message*>(lua_touserdata(L, 2)));
    return 0;
}

int protected_release(lua_State* L) {
    static_cast<LuaServiceHost*>(lua_touserdata(L, 1))->scheduler().release();
    return 0;
}

}  // namespace

bool skynet_core_dispatch(lua_State* L, LuaServiceHost& host, Message& msg) {
    lua_pushcfunction(L, skynet_core_traceback);
    lua_pushcfunction(L, protected_dispatch);
    lua_pushlightuserdata(L, &host);
    lua_pushlightuserdata(L, &msg);
    host.set_current(&msg);
    int r = lua_pcall(L, 2, 0, -4);
    host.set_current(nullptr);
    if (r != LUA_OK) {
        lua_remove(L, -2);
        return false;
    }
    lua_pop(L, 1);
    return true;
}

bool skynet_core_release(lua_State* L, LuaServiceHost& host) {
    lua_pushcfunction(L, skynet_core_traceback);
    lua_pushcfunction(L, protected_release);
    lua_pushlightuserdata(L, &host);
    if (lua_pcall(L, 1, 0, -3) != LUA_OK) {
        lua_remove(L, -2);
        return false;
    }
    lua_pop(L, 1);
    return true;
}

}  // namespace skyhive

extern "C" int luaopen_skynet_core(lua_State* L) {
    using namespace skyhive;
    static const luaL_Reg with_host[] = {
        {"send", l_send},
        {"redirect", l_redirect},
        {"genid", l_genid},
        {"take", l_take},
        {"launch", l_launch},
        {"kill", l_kill},
        {"self", l_self},
        {"now", l_now},
        {"starttime", l_starttime},
        {"register", l_register},
        {"unregister", l_unregister},
        {"query", l_query},
        {"resolve", l_resolve},
        {"getenv", l_getenv},
        {"address", l_address},
        {"time", l_time},
        {"setenv", l_setenv},
        {"error", l_error},
        {"print", l_print},
        {"stat", l_stat},
        {"info", l_info},
        {"list", l_list},
        {"memlimit", l_memlimit},
        {"signal", l_signal},
        {"loglevel", l_loglevel},
        {"abort", l_abort},
        {nullptr, nullptr},
    };
    static const luaL_Reg plain[] = {
        {"hpc", l_hpc},          {"tostring", l_tostring},        {"pack", seri_pack},
        {"unpack", seri_unpack}, {"packstring", seri_packstring}, {"trash", seri_trash},
        {nullptr, nullptr},
    };
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kHostKey) != LUA_TLIGHTUSERDATA)
        return luaL_error(L, "skynet.core is only available inside a Lua service (snlua)");
    // Light C functions only: a closure per function would cost every service ~2 KB.
    lua_createtable(L, 0, 64);
    luaL_setfuncs(L, with_host, 0);
    LuaScheduler::register_functions(L);
    skynet_proto_register(L);
    luaL_setfuncs(L, plain, 0);
    return 1;
}
