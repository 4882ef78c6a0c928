// The scheduler's functions in skynet.core that set what messages run (protocol, the handlers of
// unknown requests and responses), that look at or drop waiting coroutines (task, killthread)
// and that sample where the service's Lua runs (profile_start, profile_stop). The yielding and
// answering ones are in skynet_sched_api.cpp.
//
// Lua errors are longjmps: checks come first; no C++ object that owns memory is alive when
// something can raise.

#include "lualib/native/skynet_sched.h"

#include <algorithm>
#include <cstdio>
#include <new>
#include <string>
#include <unordered_map>

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

// The profiler: a count hook on every thread of the state, which every `period` Lua VM
// instructions notes the function running then (its source and first line), or the line. It counts
// VM instructions, not time: what C functions called from Lua do is not seen. Its state is a full
// userdata in the registry (at &kProfileKey), so a service that exits while profiling frees it.
// Thread: whichever runs the service (its hooks run there too); one state, one thread at a time.
char kProfileKey;

struct Profile {
    int period = 0;
    bool lines = false;  // by line rather than by function
    uint64_t samples = 0;
    std::unordered_map<std::string, uint64_t> by_function;  // "source:line" -> samples
};

Profile* running_profile(lua_State* L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kProfileKey);
    auto* p = static_cast<Profile*>(lua_touserdata(L, -1));
    lua_pop(L, 1);
    return p;
}

void profile_hook(lua_State* L, lua_Debug* ar) {
    Profile* p = running_profile(L);
    if (!p) {
        // A coroutine the service made while the profile ran inherited the hook and is out of
        // reach of profile_stop: it drops the hook itself.
        lua_sethook(L, nullptr, 0, 0);
        return;
    }
    if (!lua_getinfo(L, p->lines ? "Sl" : "S", ar)) return;
    char where[LUA_IDSIZE + 24];
    const int n = std::snprintf(where, sizeof where, "%s:%d", ar->short_src,
                                p->lines ? ar->currentline : ar->linedefined);
    if (n <= 0) return;
    try {
        ++p->by_function[std::string(where, size_t(std::min<int>(n, sizeof where - 1)))];
        ++p->samples;
    } catch (const std::bad_alloc&) {
        // A sample lost; the hook must not raise through the VM.
    }
}

int profile_gc(lua_State* L) {
    static_cast<Profile*>(lua_touserdata(L, 1))->~Profile();
    return 0;
}

// profile_start([period [, lines]]): samples every `period` VM instructions (default 1000, 1 to
// 10^7) of every thread of the service until profile_stop, by function (source and first line)
// or, with lines true, by the line running. Raises if a profile is already running.
int l_profile_start(lua_State* L) {
    const lua_Integer period = luaL_optinteger(L, 1, 1000);
    luaL_argcheck(L, period >= 1 && period <= 10'000'000, 1, "period out of 1..10000000");
    const bool lines = lua_toboolean(L, 2);
    lua_settop(L, 0);
    if (running_profile(L)) return luaL_error(L, "profile_start: a profile is already running");
    // Built before the metatable gives it a __gc; an empty map owns no memory if that raises.
    auto* p = new (lua_newuserdatauv(L, sizeof(Profile), 0)) Profile;
    p->period = int(period);
    p->lines = lines;
    if (luaL_newmetatable(L, "skyhive.profile")) {
        lua_pushcfunction(L, profile_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kProfileKey);
    LuaScheduler::of(L).each_thread(
        [p](lua_State* T) { lua_sethook(T, profile_hook, LUA_MASKCOUNT, p->period); });
    return 0;
}

// profile_stop() -> {samples = n, period = p, lines = bool, {where = "source:line", count = n},
// ...} sorted by count, most first; nil when no profile runs. Clears the hooks.
int l_profile_stop(lua_State* L) {
    Profile* p = running_profile(L);
    if (!p) return 0;
    LuaScheduler::of(L).each_thread([](lua_State* T) { lua_sethook(T, nullptr, 0, 0); });
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kProfileKey);  // kept alive until the result is built
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &kProfileKey);
    // The rows sorted in a block of Lua's (so that a memory error raised below leaks nothing),
    // pointing into the map, which the userdata on the stack keeps.
    struct Row {
        const std::string* where;
        uint64_t count;
    };
    const size_t n = p->by_function.size();
    auto* rows = static_cast<Row*>(lua_newuserdatauv(L, std::max<size_t>(n, 1) * sizeof(Row), 0));
    size_t i = 0;
    for (const auto& [where, count] : p->by_function)
        rows[i++] = Row{&where, count};
    std::sort(rows, rows + n, [](const Row& a, const Row& b) {
        return a.count != b.count ? a.count > b.count : *a.where < *b.where;
    });
    lua_createtable(L, int(n), 3);
    lua_pushboolean(L, p->lines);
    lua_setfield(L, -2, "lines");
    lua_pushinteger(L, lua_Integer(p->samples));
    lua_setfield(L, -2, "samples");
    lua_pushinteger(L, p->period);
    lua_setfield(L, -2, "period");
    for (i = 0; i < n; ++i) {
        lua_createtable(L, 0, 2);
        lua_pushlstring(L, rows[i].where->data(), rows[i].where->size());
        lua_setfield(L, -2, "where");
        lua_pushinteger(L, lua_Integer(rows[i].count));
        lua_setfield(L, -2, "count");
        lua_rawseti(L, -2, lua_Integer(i + 1));
    }
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
        {"profile_start", l_profile_start},
        {"profile_stop", l_profile_stop},
        {"dispatch_unknown_request", l_unknown_request},
        {"dispatch_unknown_response", l_unknown_response},
        {nullptr, nullptr},
    };
    luaL_setfuncs(L, funcs, 0);
}

}  // namespace skyhive
