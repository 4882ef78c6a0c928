// skynet.send / skynet.call / skynet.calltimeout in C: they look the protocol up in the table
// skynet.lua registers (protocols), pack with its pack and answer with its unpack. For skynet's
// own serializer the values are encoded and decoded directly, without a Lua call in between.
//
// Lua errors are longjmps: C++ objects that own memory live only in blocks that end before
// anything can raise.

#include <cstdio>
#include <cstring>

#include "core/service.h"
#include "lualib/native/seri.h"
#include "lualib/native/skynet_core.h"
#include "lualib/native/skynet_sched.h"

namespace skyhive {

using Co = LuaScheduler::Co;

namespace {

// Where find_protocol left the class's fields on the stack.
struct Protocol {
    int id;
    int pack;    // stack index of pack
    int unpack;  // stack index of unpack
};

// Pushes the protocols table, the class of protocol `arg` (a name or an id), its pack and its
// unpack; raises "unknown protocol" when there is none.
Protocol find_protocol(lua_State* L, int arg) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LuaScheduler::of(L).protocols_ref());
    lua_pushvalue(L, arg);
    if (lua_rawget(L, -2) != LUA_TTABLE) {
        luaL_where(L, 1);
        lua_pushfstring(L, "unknown protocol %s", luaL_tolstring(L, arg, nullptr));
        lua_remove(L, -2);
        lua_concat(L, 2);
        lua_error(L);
    }
    lua_getfield(L, -1, "id");
    int id = int(lua_tointeger(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, -1, "pack");
    lua_getfield(L, -2, "unpack");
    int top = lua_gettop(L);
    return Protocol{id, top - 1, top};
}

// Packs the values first..last with the protocol's pack: skynet.pack encodes straight into
// *direct; any other pack is called and its (msg, size) or string stays on the stack, described
// by the returned Body. Raises on pack errors.
core_args::Body pack_values(lua_State* L, const Protocol& p, int first, int last, Payload* direct) {
    if (lua_tocfunction(L, p.pack) == seri_pack) {
        char err[512] = "";
        {
            auto packed = seri_encode(L, first, last);
            if (packed)
                *direct = std::move(packed.value());
            else
                std::snprintf(err, sizeof err, "%s", packed.error().message.c_str());
        }
        if (err[0]) luaL_error(L, "%s", err);
        return core_args::Body{};
    }
    lua_pushvalue(L, p.pack);
    for (int i = first; i <= last; ++i)
        lua_pushvalue(L, i);
    lua_call(L, last - first + 1, 2);
    return core_args::check_body(L, lua_gettop(L) - 1);
}

Payload take_payload(const core_args::Body& body, Payload& direct) {
    if (!direct.empty() || (!body.data && body.size == 0)) return std::move(direct);
    return core_args::to_payload(body);
}

// After a call: stack [addr, unpack, (ms), ok, msg, size | ok, text].
int proto_call_k(lua_State* L, int, lua_KContext ctx) {
    const int base = int(ctx & 0xff);
    if (!lua_toboolean(L, base + 1)) {
        if (lua_isnil(L, base + 2)) {
            char text[64];
            std::snprintf(text, sizeof text, "timed out after %lld ms",
                          static_cast<long long>(ctx >> 8));
            return skynet_core_call_error(L, 1, 1, text);
        }
        const char* text = lua_tostring(L, base + 2);
        if (!text || !*text) text = "service is dead or exited before answering";
        lua_pushfstring(L, "failed: %s", text);
        return skynet_core_call_error(L, 1, 1, lua_tostring(L, -1));
    }
    void* msg = lua_touserdata(L, base + 2);
    lua_Integer size = lua_tointeger(L, base + 3);
    if (lua_tocfunction(L, 2) == seri_unpack) {
        lua_settop(L, base);
        return seri_unpack_buffer(L, msg, size_t(size));
    }
    int before = base + 3;
    lua_pushvalue(L, 2);
    lua_pushlightuserdata(L, msg);
    lua_pushinteger(L, size);
    lua_call(L, 2, LUA_MULTRET);
    return lua_gettop(L) - before;
}

// The shared body of call and calltimeout: addr at `addr`, protocol name at addr + 1, values
// after it. Returns the request's session with the stack reduced to [addr, unpack (, ms)].
int32_t send_request(lua_State* L, int addr, Co* co) {
    Protocol p = find_protocol(L, addr + 1);
    const int last = p.pack - 3;  // the values end below the protocols table and class
    Payload direct;
    core_args::Body body = pack_values(L, p, addr + 2, last, &direct);
    Handle dest = core_args::check_dest(L, addr);
    LuaScheduler& s = LuaScheduler::of(L);
    Service& self = s.host().service();
    int32_t session = self.new_session();
    bool sent = self.send(dest, MessageType(p.id), session, take_payload(body, direct));
    // Keep [addr, (ms,) unpack] only.
    lua_pushvalue(L, p.unpack);
    lua_replace(L, addr + 1);
    lua_settop(L, addr + 1);
    if (!sent) {
        s.drop(session);  // the node answers a request to a dead service with an error anyway
        skynet_core_call_error(L, addr, 1, "failed: service is dead");
    }
    s.wait_on(session, co, Co::Wait::call);
    return session;
}

Co* running(lua_State* L, const char* what) {
    Co* co = LuaScheduler::of(L).current();
    if (!co || !lua_isyieldable(L))
        luaL_error(L, "%s must run in a message coroutine (not in the main chunk)", what);
    return co;
}

// proto_call(addr, protocol, ...) -> the unpacked answer (skynet.call). Yields.
int l_proto_call(lua_State* L) {
    Co* co = running(L, "skynet.call");
    send_request(L, 1, co);
    lua_pushlightuserdata(L, suspend_mark());
    return lua_yieldk(L, 1, 2, proto_call_k);
}

// proto_calltimeout(ms, addr, protocol, ...) (skynet.calltimeout). Yields.
int l_proto_calltimeout(lua_State* L) {
    Co* co = running(L, "skynet.calltimeout");
    lua_Integer ms = luaL_checkinteger(L, 1);
    luaL_argcheck(L, ms >= 0 && ms <= INT32_MAX, 1, "timeout in ms out of range");
    lua_rotate(L, 1, -1);  // ms to the top: addr is argument 1, as for call
    lua_pop(L, 1);
    int32_t session = send_request(L, 1, co);
    LuaScheduler& s = LuaScheduler::of(L);
    s.add_call_timer(s.host().service().timeout(int((ms + 9) / 10)), session);
    lua_pushlightuserdata(L, suspend_mark());
    return lua_yieldk(L, 1, 2 | (lua_KContext(ms) << 8), proto_call_k);
}

// proto_send(addr, protocol, ...) -> boolean (skynet.send).
int l_proto_send(lua_State* L) {
    Protocol p = find_protocol(L, 2);
    const int last = p.pack - 3;
    Payload direct;
    core_args::Body body = pack_values(L, p, 3, last, &direct);
    Handle dest = core_args::check_dest(L, 1);
    bool sent = LuaScheduler::of(L).host().service().send(dest, MessageType(p.id), 0,
                                                          take_payload(body, direct));
    lua_pushboolean(L, sent);
    return 1;
}

// protocols(table): the name/id -> class table of skynet.lua.
int l_protocols(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawseti(L, LUA_REGISTRYINDEX, LuaScheduler::of(L).protocols_ref());
    return 0;
}

}  // namespace

void skynet_proto_register(lua_State* L) {
    static const luaL_Reg funcs[] = {
        {"proto_send", l_proto_send},
        {"proto_call", l_proto_call},
        {"proto_calltimeout", l_proto_calltimeout},
        {"protocols", l_protocols},
        {nullptr, nullptr},
    };
    luaL_setfuncs(L, funcs, 0);
}

}  // namespace skyhive
