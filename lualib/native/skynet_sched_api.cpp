// The scheduler's functions in skynet.core: the ones that yield (call, calltimeout, newservice,
// sleep, wait, exit) and the ones that touch coroutines or sessions (ret, retpack, response,
// ignoreret, fork, timeout, wakeup, start); protocols and inspection are in
// skynet_sched_protocol.cpp.
//
// Lua errors are longjmps: checks come first; C++ objects that own memory are confined to blocks
// that end before anything can raise.

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/service.h"
#include "lualib/native/seri.h"
#include "lualib/native/skynet_core.h"
#include "lualib/native/skynet_sched.h"

namespace skyhive {

using Co = LuaScheduler::Co;
using core_args::check_body;
using core_args::check_dest;
using core_args::check_type;
using core_args::host_of;
using core_args::to_payload;

LuaScheduler& LuaScheduler::of(lua_State* L) {
    return host_of(L).scheduler();
}

namespace {

// The coroutine the scheduler is running, or a Lua error naming `what` when there is none (the
// main chunk, a C callback).
Co* running(lua_State* L, const char* what) {
    Co* co = LuaScheduler::of(L).current();
    if (!co || !lua_isyieldable(L))
        luaL_error(L, "%s must run in a message coroutine (not in the main chunk)", what);
    return co;
}

Co* answering(lua_State* L, const char* what) {
    Co* co = LuaScheduler::of(L).current();
    if (!co || co->session < 0) luaL_error(L, "%s: no request to answer in this coroutine", what);
    return co;
}

int yield_for(lua_State* L, lua_KContext ctx, lua_KFunction k) {
    lua_pushlightuserdata(L, suspend_mark());
    return lua_yieldk(L, 1, ctx, k);
}

// Sends a request and registers the running coroutine for its answer. Stack: addr, type, msg,
// size at first..first+3. Returns the session, or raises when the destination is dead.
int32_t request(lua_State* L, int first, Co* co) {
    LuaScheduler& s = LuaScheduler::of(L);
    Handle dest = check_dest(L, first);
    MessageType type = check_type(L, first + 1);
    auto body = check_body(L, first + 2);
    Service& self = s.host().service();
    int32_t session = self.new_session();
    if (!self.send(dest, type, session, to_payload(body))) {
        s.drop(session);  // the node answers a request to a dead service with an error anyway
        skynet_core_call_error(L, first, 2, "failed: service is dead");
    }
    s.wait_on(session, co, Co::Wait::call);
    return session;
}

// After a call: (true, msg, size) or (false, text); text nil means a calltimeout expired.
int call_k(lua_State* L, int, lua_KContext ctx) {
    const int base = int(ctx & 0xff);  // number of fixed arguments before the resume values
    const int addr = base == 4 ? 1 : 2;
    if (lua_toboolean(L, base + 1)) {
        lua_pushvalue(L, base + 2);
        lua_pushvalue(L, base + 3);
        return 2;
    }
    if (lua_isnil(L, base + 2)) {
        char text[64];
        std::snprintf(text, sizeof text, "timed out after %lld ms",
                      static_cast<long long>(ctx >> 8));
        return skynet_core_call_error(L, addr, 2, text);
    }
    const char* text = lua_tostring(L, base + 2);
    if (!text || !*text) text = "service is dead or exited before answering";
    lua_pushfstring(L, "failed: %s", text);
    return skynet_core_call_error(L, addr, 2, lua_tostring(L, -1));
}

// call(addr, type, msg [, size]) -> msg, size. Yields.
int l_call(lua_State* L) {
    Co* co = running(L, "skynet.call");
    lua_settop(L, 4);
    request(L, 1, co);
    return yield_for(L, 4, call_k);
}

// calltimeout(ms, addr, type, msg [, size]) -> msg, size. Yields.
int l_calltimeout(lua_State* L) {
    Co* co = running(L, "skynet.calltimeout");
    lua_Integer ms = luaL_checkinteger(L, 1);
    luaL_argcheck(L, ms >= 0 && ms <= INT32_MAX, 1, "timeout in ms out of range");
    lua_settop(L, 5);
    int32_t session = request(L, 2, co);
    LuaScheduler& s = LuaScheduler::of(L);
    int32_t timer = s.host().service().timeout(int((ms + 9) / 10));
    s.add_call_timer(timer, session);
    return yield_for(L, 5 | (lua_KContext(ms) << 8), call_k);
}

// Stack: args, then the resume values (true, msg, size) or (false, text). A non-empty answer
// means the child called exit() in its start function: nil, as skynet's launcher answers.
int newservice_k(lua_State* L, int, lua_KContext ctx) {
    if (lua_toboolean(L, 2)) {
        if (lua_tointeger(L, 4) > 0)
            lua_pushnil(L);
        else
            lua_pushinteger(L, lua_Integer(ctx));
        return 1;
    }
    luaL_where(L, 2);
    lua_pushfstring(L, "newservice %s failed: %s", lua_tostring(L, 1), lua_tostring(L, 3));
    lua_concat(L, 2);
    return lua_error(L);
}

// newservice(name, ...) -> handle | nil: launches "snlua name args..." (the arguments
// tostring'd and joined with spaces) from this service and waits until the child's start
// function has returned (nil when it called exit()). Yields.
int l_newservice(lua_State* L) {
    Co* co = running(L, "skynet.newservice");
    luaL_checkany(L, 1);
    core_args::push_joined(L, nullptr);
    lua_replace(L, 1);
    lua_settop(L, 1);
    size_t len = 0;
    const char* args = lua_tolstring(L, 1, &len);
    LuaScheduler& s = LuaScheduler::of(L);
    int32_t session = s.host().service().new_session();
    uint32_t handle = 0;
    char err[1024] = "";
    {
        auto r = s.host().launch("snlua", std::string_view(args, len), session);
        if (r)
            handle = r.value().value;
        else
            std::snprintf(err, sizeof err, "%s", r.error().message.c_str());
    }
    if (!handle) {
        luaL_where(L, 1);
        lua_pushfstring(L, "newservice %s failed: %s", args, err);
        lua_concat(L, 2);
        return lua_error(L);
    }
    s.wait_on(session, co, Co::Wait::call);
    return yield_for(L, lua_KContext(handle), newservice_k);
}

int answer(lua_State* L, Co* co, Payload payload) {
    int32_t session = co->session;
    co->session = -1;
    bool sent = LuaScheduler::of(L).host().service().send(co->source, MessageType::response,
                                                          session, std::move(payload));
    lua_pushboolean(L, sent);
    return 1;
}

// ret(msg [, size]) -> boolean: answers the request the running coroutine handles.
int l_ret(lua_State* L) {
    Co* co = answering(L, "skynet.ret");
    auto body = check_body(L, 1);
    if (co->session == 0) {  // a send: nothing to answer (skynet returns false)
        co->session = -1;
        if (body.adopt) std::free(const_cast<void*>(body.data));
        lua_pushboolean(L, 0);
        return 1;
    }
    return answer(L, co, to_payload(body));
}

// retpack(...) -> boolean: ret(pack(...)) in one step.
int l_retpack(lua_State* L) {
    Co* co = answering(L, "skynet.retpack");
    if (co->session == 0) {
        co->session = -1;
        lua_pushboolean(L, 0);
        return 1;
    }
    char err[512] = "";
    {
        auto packed = seri_encode(L, 1, lua_gettop(L));
        if (packed) return answer(L, co, std::move(packed.value()));
        std::snprintf(err, sizeof err, "%s", packed.error().message.c_str());
    }
    return luaL_error(L, "%s", err);
}

// context() -> session, source of the request the running coroutine handles: session nil when
// there is none or it was answered (ret, response, ignoreret), 0 for a send; source nil in a
// fork, a timeout or the main chunk.
int l_context(lua_State* L) {
    Co* co = LuaScheduler::of(L).current();
    if (co && co->session >= 0)
        lua_pushinteger(L, co->session);
    else
        lua_pushnil(L);
    if (co && co->source)
        lua_pushinteger(L, co->source.value);
    else
        lua_pushnil(L);
    return 2;
}

int ignoreret(lua_State* L) {
    if (Co* co = LuaScheduler::of(L).current()) co->session = -1;
    return 0;
}

int response_noop(lua_State* L) {
    lua_pushboolean(L, 0);
    return 1;
}

// The closure skynet.response returns. Upvalues: 1 pack, 2 box.
int response_call(lua_State* L) {
    auto* box = static_cast<ResponseBox*>(lua_touserdata(L, lua_upvalueindex(2)));
    if (lua_type(L, 1) == LUA_TSTRING && std::strcmp(lua_tostring(L, 1), "TEST") == 0) {
        lua_pushboolean(L, !box->used);
        return 1;
    }
    if (box->used) return luaL_error(L, "this response was already sent");
    LuaScheduler& s = LuaScheduler::of(L);
    Service& self = s.host().service();
    bool ok = lua_toboolean(L, 1);
    bool sent = false;
    if (ok) {
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_rotate(L, 2, 1);  // pack below the values to answer with
        lua_call(L, lua_gettop(L) - 2, 2);
        auto body = check_body(L, -2);
        box->used = true;
        sent = self.send(Handle(box->dest), MessageType::response, box->session, to_payload(body));
    } else {
        const char* text =
            lua_isnoneornil(L, 2) ? "request refused" : luaL_tolstring(L, 2, nullptr);
        box->used = true;
        sent = self.send(Handle(box->dest), MessageType::error, box->session, Payload::copy(text));
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, s.unresponse_ref());
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pushboolean(L, sent);
    return 1;
}

// response([pack]) -> function(ok, ...): answers the running coroutine's request later, once.
int l_response(lua_State* L) {
    Co* co = answering(L, "skynet.response");
    if (!lua_isnoneornil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
    LuaScheduler& s = LuaScheduler::of(L);
    if (co->session == 0) {
        co->session = -1;
        lua_pushcfunction(L, response_noop);
        return 1;
    }
    const bool default_pack = lua_isnoneornil(L, 1);
    if (default_pack)
        lua_pushcfunction(L, seri_pack);
    else
        lua_pushvalue(L, 1);
    auto* box = static_cast<ResponseBox*>(lua_newuserdatauv(L, sizeof(ResponseBox), 0));
    *box = ResponseBox{co->source.value, co->session, false};
    lua_rawgeti(L, LUA_REGISTRYINDEX, s.unresponse_ref());
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    lua_pushcclosure(L, response_call, 2);
    co->session = -1;  // only after everything that can raise
    return 1;
}

// fork(f, ...) -> coroutine: runs f(...) after the current message.
int l_fork(lua_State* L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    LuaScheduler& s = LuaScheduler::of(L);
    int n = lua_gettop(L);
    Co* co = s.take_co();
    lua_xmove(L, co->L, n);
    s.queue_fork(co);
    lua_pushthread(co->L);
    lua_xmove(co->L, L, 1);
    return 1;
}

// after_message(f): calls f() once the current message and its forks have run, in the order
// queued, without a coroutine (f must not yield). An error is logged; the others still run.
int l_after_message(lua_State* L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    LuaScheduler::of(L).queue_after(L, 1);
    return 0;
}

// timeout(centiseconds, f) -> coroutine: runs f in a new coroutine after the delay (skynet
// returns the coroutine too).
int l_timeout(lua_State* L) {
    lua_Integer cs = luaL_checkinteger(L, 1);
    luaL_argcheck(L, cs <= INT32_MAX, 1, "timeout too long");
    luaL_checktype(L, 2, LUA_TFUNCTION);
    LuaScheduler& s = LuaScheduler::of(L);
    Co* co = s.take_co();
    lua_pushvalue(L, 2);
    lua_xmove(L, co->L, 1);
    int32_t session = s.host().service().timeout(cs < 0 ? 0 : int(cs));
    s.wait_on(session, co, Co::Wait::timer);
    lua_pushthread(co->L);
    lua_xmove(co->L, L, 1);
    return 1;
}

// start(f): installs the dispatcher; f runs in the service's first message.
int l_start(lua_State* L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    LuaScheduler& s = LuaScheduler::of(L);
    Co* co = s.take_co();
    lua_pushvalue(L, 1);
    lua_xmove(L, co->L, 1);
    int32_t session = s.host().service().timeout(0);
    s.wait_on(session, co, Co::Wait::timer);
    s.set_start(co);
    return 0;
}

constexpr lua_KContext kWaited = 1;     // sleep_k's context: after wait (else after sleep)
constexpr lua_KContext kSelfToken = 2;  // the token was the coroutine itself (no table entry)

// After sleep or wait (ctx: kWaited, kSelfToken). Stack: arg1, token, resume values ("BREAK" |
// true, msg, size).
int sleep_k(lua_State* L, int, lua_KContext ctx) {
    LuaScheduler& s = LuaScheduler::of(L);
    if (ctx & kSelfToken) {
        s.current()->self_token = false;
    } else {
        lua_rawgeti(L, LUA_REGISTRYINDEX, s.sleep_ref());
        lua_pushvalue(L, 2);
        lua_pushnil(L);
        lua_rawset(L, -3);
        lua_pop(L, 1);
    }
    if (lua_type(L, 3) == LUA_TSTRING) {
        if (ctx & kWaited) return 0;
        lua_pushvalue(L, 3);  // "BREAK"
        return 1;
    }
    if (!lua_toboolean(L, 3)) return luaL_error(L, "sleep interrupted: %s", lua_tostring(L, 4));
    return 0;
}

// Registers the running coroutine as waiting on session under token (default: itself). A
// coroutine that is its own token (skynet.socket's readers are) needs no entry in the token table:
// wakeup finds it from the thread. The one difference from the table: should another coroutine
// also wait on this thread as its token, wakeup(thread) wakes the thread itself (skynet's table
// keeps the later of two waits on one token and never wakes the other).
int wait_with_token(lua_State* L, Co* co, int32_t session, Co::Wait kind) {
    LuaScheduler& s = LuaScheduler::of(L);
    const lua_KContext waited = kind == Co::Wait::wait ? kWaited : 0;
    if (lua_isnil(L, 2) || lua_tothread(L, 2) == co->L) {
        co->self_token = true;
        s.wait_on(session, co, kind);
        return yield_for(L, waited | kSelfToken, sleep_k);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, s.sleep_ref());
    lua_pushvalue(L, 2);
    lua_pushinteger(L, session);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    s.wait_on(session, co, kind);
    return yield_for(L, waited, sleep_k);
}

// sleep(centiseconds [, token]) -> nil, or "BREAK" when woken early. Yields.
int l_sleep(lua_State* L) {
    Co* co = running(L, "skynet.sleep");
    lua_Integer cs = luaL_checkinteger(L, 1);
    luaL_argcheck(L, cs <= INT32_MAX, 1, "sleep too long");
    lua_settop(L, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LuaScheduler::of(L).sleep_ref());  // fail early on OOM
    lua_pop(L, 1);
    int32_t session = LuaScheduler::of(L).host().service().timeout(cs < 0 ? 0 : int(cs));
    return wait_with_token(L, co, session, Co::Wait::sleep);
}

// yield(): lets the messages and coroutines queued so far run first (sleep(0)). Yields.
int l_yield(lua_State* L) {
    lua_settop(L, 0);
    lua_pushinteger(L, 0);
    return l_sleep(L);
}

// wait([token]): until wakeup(token). Yields.
int l_wait(lua_State* L) {
    Co* co = running(L, "skynet.wait");
    lua_settop(L, 1);
    lua_pushnil(L);
    lua_rotate(L, 1, 1);  // wait's token becomes argument 2, as sleep's
    int32_t session = LuaScheduler::of(L).host().service().new_session();
    return wait_with_token(L, co, session, Co::Wait::wait);
}

// wakeup(token) -> true | nil: the coroutine sleeping or waiting on token runs once the current
// coroutine suspends.
int l_wakeup(lua_State* L) {
    LuaScheduler& s = LuaScheduler::of(L);
    if (lua_type(L, 1) == LUA_TTHREAD) {
        lua_State* T = lua_tothread(L, 1);
        Co* co = LuaScheduler::co_of(T);
        if (co && co->L == T && co->self_token) {
            if (s.queue_wakeup(co->waits))
                lua_pushboolean(L, 1);
            else
                lua_pushnil(L);
            return 1;
        }
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, s.sleep_ref());
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    bool woken = lua_isinteger(L, -1) && s.queue_wakeup(int32_t(lua_tointeger(L, -1)));
    if (woken)
        lua_pushboolean(L, 1);
    else
        lua_pushnil(L);  // skynet's wakeup returns nothing then
    return 1;
}

// exit(): retires the service after the current message; yields for good when it can.
int l_exit(lua_State* L) {
    LuaScheduler& s = LuaScheduler::of(L);
    s.begin_exit();
    if (!s.current() || !lua_isyieldable(L)) return 0;
    lua_pushlightuserdata(L, quit_mark());
    return lua_yield(L, 1);
}

}  // namespace

void LuaScheduler::register_functions(lua_State* L) {
    static const luaL_Reg funcs[] = {
        {"call", l_call},
        {"calltimeout", l_calltimeout},
        {"newservice", l_newservice},
        {"ret", l_ret},
        {"retpack", l_retpack},
        {"response", l_response},
        {"ignoreret", ignoreret},
        {"context", l_context},
        {"fork", l_fork},
        {"after_message", l_after_message},
        {"timeout", l_timeout},
        {"start", l_start},
        {"sleep", l_sleep},
        {"wait", l_wait},
        {"wakeup", l_wakeup},
        {"exit", l_exit},
        {"yield", l_yield},
        {nullptr, nullptr},
    };
    luaL_setfuncs(L, funcs, 0);
    register_protocol_functions(L);
}

}  // namespace skyhive
