#include "lualib/native/skynet_core.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/clock.h"
#include "core/node.h"
#include "core/service.h"

// skynet.core's functions that ask the node rather than send: names, env, the log, and what the
// node knows of its services (stat, info, list, memlimit, inline_events, signal, abort, logon,
// logoff, trace). The rest of skynet.core is in skynet_core.cpp, skynet_sched_api.cpp and
// skynet_proto.cpp.
//
// Lua raises errors with longjmp (Debian builds it as C), which skips C++ destructors. Every
// function below therefore checks its arguments first and only then creates objects that own
// memory or locks, and pushes results after those objects are gone.

namespace skyhive {
namespace {

using namespace core_args;

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
    size_t len = 0;
    const char* text = push_joined(L, &len);
    log_text(L, LogLevel::info, text, len);
    return 0;
}

int l_stat(lua_State* L) {
    static const char* const items[] = {"message", "cpu",    "mqlen", "memory",
                                        "endless", "inline", nullptr};
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
        case 4:
            lua_pushboolean(L, host.endless());
            break;
        default:  // skyhive: messages run on the socket thread (socket.inline)
            lua_pushinteger(
                L, lua_Integer(self.stats().inline_messages.load(std::memory_order_relaxed)));
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

int l_inline_events(lua_State* L) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    lua_pushboolean(L, host_of(L).set_inline_events(lua_toboolean(L, 1)));
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

// The text of a watch request's outcome, copied out so that nothing owning memory is alive when
// Lua pushes it (a push may raise).
struct WatchOutcome {
    bool ok = false;
    char text[1024] = "";
};

template <class R>
WatchOutcome outcome_of(const R& r, const char* ok_text) {
    WatchOutcome o;
    o.ok = r.ok();
    std::snprintf(o.text, sizeof o.text, "%s", o.ok ? ok_text : r.error().message.c_str());
    return o;
}

int push_outcome(lua_State* L, const WatchOutcome& o) {
    if (o.ok) {
        lua_pushstring(L, o.text);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, o.text);
    return 2;
}

// logon(dest) and logoff(dest) -> the message log's path, or nil, why (Node::logon, Node::logoff).
template <Result<std::string> (Node::*Watch)(Handle)>
int l_message_log(lua_State* L) {
    Handle h = check_dest(L, 1);
    WatchOutcome o;
    {
        auto r = (service_of(L).node().*Watch)(h);
        o = outcome_of(r, r.ok() ? r.value().c_str() : "");
    }
    return push_outcome(L, o);
}
constexpr lua_CFunction l_logon = l_message_log<&Node::logon>;
constexpr lua_CFunction l_logoff = l_message_log<&Node::logoff>;

// trace(dest, on) -> "on" or "off", or nil, why (Node::trace).
int l_trace(lua_State* L) {
    Handle h = check_dest(L, 1);
    const bool on = lua_toboolean(L, 2);
    WatchOutcome o;
    {
        auto r = service_of(L).node().trace(h, on);
        o = outcome_of(r, on ? "on" : "off");
    }
    return push_outcome(L, o);
}

int l_abort(lua_State* L) {
    lua_Integer code = luaL_optinteger(L, 1, 0);
    service_of(L).node().request_stop(int(code));
    return 0;
}

}  // namespace

void skynet_core_node_register(lua_State* L) {
    static const luaL_Reg functions[] = {
        {"register", l_register}, {"unregister", l_unregister},
        {"query", l_query},       {"resolve", l_resolve},
        {"address", l_address},   {"getenv", l_getenv},
        {"setenv", l_setenv},     {"error", l_error},
        {"print", l_print},       {"loglevel", l_loglevel},
        {"stat", l_stat},         {"info", l_info},
        {"list", l_list},         {"memlimit", l_memlimit},
        {"signal", l_signal},     {"abort", l_abort},
        {"logon", l_logon},       {"logoff", l_logoff},
        {"trace", l_trace},       {"inline_events", l_inline_events},
        {nullptr, nullptr},
    };
    luaL_setfuncs(L, functions, 0);
}

}  // namespace skyhive
