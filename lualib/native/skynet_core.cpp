#include "lualib/native/skynet_core.h"

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

Service& service_of(lua_State* L) {
    return host_of(L).service();
}

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

const char* push_joined(lua_State* L, size_t* len) {
    const int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; ++i) {
        if (i > 1) luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, nullptr);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return lua_tolstring(L, -1, len);
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

// time() -> seconds since the epoch with centisecond precision (starttime + now).
int l_time(lua_State* L) {
    Node& node = service_of(L).node();
    lua_pushnumber(L, double(node.now()) / 100.0 + double(node.starttime()));
    return 1;
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
        {"send", l_send},           {"redirect", l_redirect}, {"genid", l_genid}, {"take", l_take},
        {"launch", l_launch},       {"kill", l_kill},         {"self", l_self},   {"now", l_now},
        {"starttime", l_starttime}, {"time", l_time},         {nullptr, nullptr},
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
    skynet_core_node_register(L);
    LuaScheduler::register_functions(L);
    skynet_proto_register(L);
    luaL_setfuncs(L, plain, 0);
    return 1;
}
