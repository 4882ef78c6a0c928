// The scheduler's functions in skynet.core that set what messages run (protocol, the handlers of
// unknown requests and responses) and that look at or drop waiting coroutines (task,
// killthread). The yielding and answering ones are in skynet_sched_api.cpp.
//
// Lua errors are longjmps: checks come first; no C++ object that owns memory is alive when
// something can raise.

#include "lualib/native/skynet_sched.h"

namespace skyhive {

using Co = LuaScheduler::Co;

namespace {

// killthread(co) -> co | nil: drops a coroutine that waits (LuaScheduler::kill_thread).
int l_killthread(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTHREAD);
    lua_settop(L, 1);
    if (!LuaScheduler::of(L).kill_thread(lua_tothread(L, 1))) return 0;
    return 1;
}

// Sets the function at `key` of the protocol table (nil: the default, a log line); returns the
// previous one (nil for the default).
int set_unknown(lua_State* L, int key) {
    if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LuaScheduler::of(L).protocol_ref());
    lua_rawgeti(L, -1, key);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -3, key);
    return 1;
}

// dispatch_unknown_request(f) -> previous: f(session, source, msg, size, type) runs for a send
// of a protocol this service has no dispatch function for (a call gets an error answer).
int l_unknown_request(lua_State* L) {
    return set_unknown(L, LuaScheduler::kUnknownRequestKey);
}

// dispatch_unknown_response(f) -> previous: f(session, source, msg, size, ok) runs for an answer
// nobody waits for (not a late answer to a calltimeout or a killed coroutine: those are dropped);
// ok is false for an error answer, whose msg is the error text (empty: the service died).
int l_unknown_response(lua_State* L) {
    return set_unknown(L, LuaScheduler::kUnknownResponseKey);
}

// protocol(id, dispatch, unpack): what requests of type id run.
int l_protocol(lua_State* L) {
    lua_Integer id = luaL_checkinteger(L, 1);
    luaL_argcheck(L, id >= 0 && id <= 255, 1, "protocol id must be 0..255");
    lua_settop(L, 3);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LuaScheduler::of(L).protocol_ref());
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, 2 * id);
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, 2 * id + 1);
    return 0;
}

// task() -> count of coroutines waiting for a session; task(t) also fills t[session] with
// tracebacks; task(session) -> that coroutine's traceback, or "No session" (skynet's text);
// task(co) -> the session co waits for, or nothing; task("init") -> the traceback of the start
// function while it has not finished, or nothing.
int l_task(lua_State* L) {
    LuaScheduler& s = LuaScheduler::of(L);
    if (lua_type(L, 1) == LUA_TNUMBER) {
        auto wanted = lua_tointeger(L, 1);
        lua_State* found = nullptr;
        s.each_waiting([&](int32_t session, const Co* co) {
            if (session == wanted) found = co->L;
        });
        if (!found) {
            lua_pushliteral(L, "No session");
            return 1;
        }
        luaL_traceback(L, found, nullptr, 0);
        return 1;
    }
    if (lua_type(L, 1) == LUA_TTHREAD) {
        lua_State* wanted = lua_tothread(L, 1);
        int32_t found = 0;
        s.each_waiting([&](int32_t session, const Co* co) {
            if (co->L == wanted) found = session;
        });
        if (!found) return 0;
        lua_pushinteger(L, found);
        return 1;
    }
    if (lua_type(L, 1) == LUA_TSTRING) {
        static const char* const options[] = {"init", nullptr};
        luaL_checkoption(L, 1, nullptr, options);
        lua_State* start = s.start_thread();
        if (!start) return 0;
        luaL_traceback(L, start, nullptr, 0);
        return 1;
    }
    // Collect first (no Lua call may raise inside the iteration's lambda frame).
    lua_Integer n = 0;
    s.each_waiting([&](int32_t, const Co*) { ++n; });
    if (lua_istable(L, 1)) {
        lua_State* threads[64];
        int32_t sessions[64];
        int k = 0;
        s.each_waiting([&](int32_t session, const Co* co) {
            if (k < 64) {
                threads[k] = co->L;
                sessions[k++] = session;
            }
        });
        for (int i = 0; i < k; ++i) {
            luaL_traceback(L, threads[i], nullptr, 0);
            lua_rawseti(L, 1, sessions[i]);
        }
    }
    lua_pushinteger(L, n);
    return 1;
}

}  // namespace

void LuaScheduler::register_protocol_functions(lua_State* L) {
    static const luaL_Reg funcs[] = {
        {"protocol", l_protocol},
        {"task", l_task},
        {"killthread", l_killthread},
        {"dispatch_unknown_request", l_unknown_request},
        {"dispatch_unknown_response", l_unknown_response},
        {nullptr, nullptr},
    };
    luaL_setfuncs(L, funcs, 0);
}

}  // namespace skyhive
