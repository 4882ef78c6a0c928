#include "lualib/native/skynet_sched.h"

#include <cstdio>
#include <cstring>
#include <string>

#include "core/node.h"
#include "core/service.h"
#include "lualib/native/seri.h"
#include "lualib/native/skynet_core.h"

// Lua errors are longjmps (Debian's liblua is C): the code below keeps no object with a destructor
// alive across a Lua call that can raise, and runs only under lua_pcall or lua_resume.

namespace skyhive {

namespace {

// The body of a request coroutine. Stack: dispatch, unpack, session, source, msg, size.
int request_k(lua_State*, int, lua_KContext) {
    return 0;
}

int request_body(lua_State* T) {
    int nvalues = 2;
    if (lua_isnil(T, 2)) {  // no unpack: the handler gets the raw msg, size
        lua_pushvalue(T, 5);
        lua_pushvalue(T, 6);
    } else if (lua_tocfunction(T, 2) == seri_unpack) {  // skynet.unpack, without a Lua call
        nvalues = seri_unpack_buffer(T, lua_touserdata(T, 5), size_t(lua_tointeger(T, 6)));
    } else {
        lua_pushvalue(T, 2);
        lua_pushvalue(T, 5);
        lua_pushvalue(T, 6);
        lua_call(T, 2, LUA_MULTRET);
        nvalues = lua_gettop(T) - 6;
    }
    // dispatch(session, source, values...)
    lua_pushvalue(T, 1);
    lua_pushvalue(T, 3);
    lua_pushvalue(T, 4);
    lua_rotate(T, 7, 3);
    lua_callk(T, 2 + nvalues, 0, 0, request_k);
    return 0;
}

std::string address_of(Handle h) {
    char buf[16];
    std::snprintf(buf, sizeof buf, ":%08x", h.value);
    return buf;
}

}  // namespace

LuaScheduler::LuaScheduler(lua_State* L, LuaServiceHost& host) : L_(L), host_(host) {
    lua_newtable(L);
    anchor_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    sleep_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    protocol_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    unresponse_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    protocols_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushliteral(L, "BREAK");
    break_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_newtable(L);
    after_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
}

LuaScheduler::~LuaScheduler() = default;  // the Lua state owns the threads and tables

LuaScheduler::Co* LuaScheduler::take_co() {
    if (!pool_.empty()) {
        Co* co = pool_.back();
        pool_.pop_back();
        return co;
    }
    int slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
    } else {
        slot = int(slots_.size()) + 1;
    }
    lua_rawgeti(L_, LUA_REGISTRYINDEX, anchor_ref_);
    lua_State* T = lua_newthread(L_);  // may raise a memory error: nothing is changed yet
    lua_rawseti(L_, -2, slot);
    lua_pop(L_, 1);
    auto co = std::make_unique<Co>();
    co->L = T;
    co->slot = slot;
    Co* raw = co.get();
    *static_cast<Co**>(lua_getextraspace(T)) = raw;
    if (!free_slots_.empty()) {
        free_slots_.pop_back();
        slots_[size_t(slot - 1)] = std::move(co);
    } else {
        slots_.push_back(std::move(co));
    }
    return raw;
}

void LuaScheduler::recycle(Co* co, bool reuse) {
    // A coroutine that ends while registered as waiting (it called skynet.call inside a plain
    // coroutine, say) must not be resumed by that session later.
    if (co->waits) {
        if (waiting_.find(co->waits) == co) waiting_.take(co->waits);
    }
    co->session = -1;
    co->source = Handle();  // a fork taking this coroutine has no requester (context())
    co->waits = 0;
    co->wait = Co::Wait::none;
    co->queued_wakeup = false;
    co->is_start = false;
    co->self_token = false;
    lua_settop(co->L, 0);
    constexpr size_t kPoolMax = 256;
    if (reuse && pool_.size() < kPoolMax) {
        pool_.push_back(co);
        return;
    }
    release_co(co);  // beyond the pool
}

void LuaScheduler::release_co(Co* co) {
    // The anchor is the thread's last reference: dropping it lets the collector take it.
    int slot = co->slot;
    clear_extraspace(co->L);  // the thread may outlive the Co (a script kept a reference)
    lua_rawgeti(L_, LUA_REGISTRYINDEX, anchor_ref_);
    lua_pushnil(L_);
    lua_rawseti(L_, -2, slot);
    lua_pop(L_, 1);
    slots_[size_t(slot - 1)].reset();
    free_slots_.push_back(slot);
}

void LuaScheduler::wait_on(int32_t session, Co* co, Co::Wait kind) {
    co->waits = session;
    co->wait = kind;
    waiting_.put(session, co);
}

bool LuaScheduler::queue_wakeup(int32_t session) {
    Co* co = waiting_.find(session);
    if (!co) return false;
    if (co->queued_wakeup) return true;
    co->queued_wakeup = true;
    wakeups_.emplace_back(co, session);
    return true;
}

void LuaScheduler::answer_error(Handle to, int32_t session, std::string_view text) {
    host_.service().send(to, MessageType::error, session, Payload::copy(text));
}

void LuaScheduler::dispatch(Message& msg) {
    switch (msg.type) {
        case MessageType::response:
            on_response(msg.session, msg);
            break;
        case MessageType::error:
            if (msg.session > 0) on_response(msg.session, msg);
            break;
        default:
            on_request(msg);
            break;
    }
    // The forks first, so that what they queue for the end of the message joins what the
    // message queued (the Redis client's writes of one message leave as one).
    while (fork_head_ < forks_.size() || afters_ > 0) {
        if (fork_head_ < forks_.size()) run_forks();
        if (afters_ > 0) run_afters();
    }
}

void LuaScheduler::run_forks() {
    while (fork_head_ < forks_.size()) {
        Co* co = forks_[fork_head_++];
        resume(co, lua_gettop(co->L) - 1);
    }
    forks_.clear();
    fork_head_ = 0;
}

void LuaScheduler::queue_after(lua_State* L, int idx) {
    idx = lua_absindex(L, idx);
    lua_rawgeti(L, LUA_REGISTRYINDEX, after_ref_);
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, afters_ + 1);  // may raise (memory): counted only once stored
    ++afters_;
    lua_pop(L, 1);
}

namespace {

int after_traceback(lua_State* L) {
    const char* text = lua_tostring(L, 1);
    luaL_traceback(L, L, text ? text : luaL_tolstring(L, 1, nullptr), 1);
    return 1;
}

}  // namespace

void LuaScheduler::run_afters() {
    lua_State* L = L_;
    lua_pushcfunction(L, after_traceback);
    lua_rawgeti(L, LUA_REGISTRYINDEX, after_ref_);
    // Functions queued meanwhile (by the ones called here) run in this loop too.
    for (int i = 1; i <= afters_; ++i) {
        lua_rawgeti(L, -1, i);
        lua_pushnil(L);
        lua_rawseti(L, -3, i);  // an existing key: no allocation
        if (lua_pcall(L, 0, 0, -3) != LUA_OK) {
            std::string text = std::string("after_message function failed: ") +
                               (lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
            host_.service().node().log(host_.service().handle(), LogLevel::error, text);
            lua_pop(L, 1);
        }
    }
    afters_ = 0;
    lua_pop(L, 2);
}

void LuaScheduler::on_response(int32_t session, Message& msg) {
    const bool ok = msg.type == MessageType::response;  // else an error reply, its text the payload
    if (Co* co = waiting_.take(session)) {
        co->waits = 0;
        co->queued_wakeup = false;
        if (co->wait == Co::Wait::timer) {  // skynet.timeout: the function is on its stack
            co->wait = Co::Wait::none;
            resume(co, lua_gettop(co->L) - 1);
            return;
        }
        co->wait = Co::Wait::none;
        lua_State* T = co->L;
        lua_pushboolean(T, ok);
        if (ok) {
            lua_pushlightuserdata(T, msg.payload.data());
            lua_pushinteger(T, msg.payload.size());
            resume(co, 3);
        } else {
            lua_pushlstring(T, msg.payload.data(), msg.payload.size());
            resume(co, 2);
        }
        return;
    }
    if (auto timer = call_timers_.find(session); timer != call_timers_.end()) {
        int32_t call = timer->second;
        call_timers_.erase(timer);
        Co* co = waiting_.take(call);
        if (!co) return;  // answered in time
        co->waits = 0;
        co->wait = Co::Wait::none;
        dropped_.insert(call);
        lua_pushboolean(co->L, 0);
        lua_pushnil(co->L);  // nil text: the call timed out
        resume(co, 2);
        return;
    }
    if (dropped_.erase(session)) return;
    // An error answer reaches the function too (ok = false, msg = its text): a service that
    // forwards requests with skynet.redirect answers its own callers from there, errors included.
    if (call_unknown(kUnknownResponseKey, msg)) return;
    char text[96];
    std::snprintf(text, sizeof text, "%s for unknown session %d dropped", ok ? "response" : "error",
                  session);
    host_.service().node().log(host_.service().handle(), LogLevel::warn, text);
}

bool LuaScheduler::call_unknown(int key, Message& msg) {
    lua_State* L = L_;
    lua_rawgeti(L, LUA_REGISTRYINDEX, protocol_ref_);
    if (lua_rawgeti(L, -1, key) != LUA_TFUNCTION) {
        lua_pop(L, 2);
        return false;
    }
    lua_pushinteger(L, msg.session);
    lua_pushinteger(L, msg.source.value);
    lua_pushlightuserdata(L, msg.payload.data());
    lua_pushinteger(L, lua_Integer(msg.payload.size()));
    if (key == kUnknownRequestKey) {
        lua_pushinteger(L, int(msg.type));
    } else {
        lua_pushboolean(L, msg.type == MessageType::response);
    }
    const int nargs = 5;
    if (lua_pcall(L, nargs, 0, 0) != LUA_OK) {
        const char* err = lua_tostring(L, -1);
        std::string text = std::string(key == kUnknownRequestKey ? "dispatch_unknown_request"
                                                                 : "dispatch_unknown_response") +
                           " function failed: " + (err ? err : "?");
        host_.service().node().log(host_.service().handle(), LogLevel::warn, text);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return true;
}

void LuaScheduler::on_request(Message& msg) {
    lua_State* L = L_;
    const int id = int(msg.type);
    lua_rawgeti(L, LUA_REGISTRYINDEX, protocol_ref_);
    if (!started_ || lua_rawgeti(L, -1, 2 * id) != LUA_TFUNCTION) {
        lua_pop(L, 2);
        // skynet: a call gets an error answer; a send goes to dispatch_unknown_request's function.
        if (msg.session == 0 && call_unknown(kUnknownRequestKey, msg)) return;
        char text[128];
        std::snprintf(text, sizeof text, "service %s has no dispatch function for message type %d",
                      address_of(host_.service().handle()).c_str(), id);
        char line[160];
        std::snprintf(line, sizeof line, "%s from %s", text, address_of(msg.source).c_str());
        host_.service().node().log(host_.service().handle(), LogLevel::warn, line);
        if (msg.session > 0) answer_error(msg.source, msg.session, text);
        return;
    }
    lua_rawgeti(L, -2, 2 * id + 1);
    Co* co = take_co();
    lua_State* T = co->L;
    lua_pushcfunction(T, request_body);
    lua_xmove(L, T, 2);  // dispatch, unpack
    lua_pop(L, 1);
    lua_pushinteger(T, msg.session);
    lua_pushinteger(T, msg.source.value);
    lua_pushlightuserdata(T, msg.payload.data());
    lua_pushinteger(T, msg.payload.size());
    co->session = msg.session;
    co->source = msg.source;
    resume(co, 6);
}

void LuaScheduler::resume(Co* co, int nargs) {
    resume_one(co, nargs);
    // Coroutines woken meanwhile run now, each as soon as the previous one suspends.
    for (size_t i = 0; i < wakeups_.size(); ++i) {
        auto [woken, session] = wakeups_[i];
        woken->queued_wakeup = false;
        if (waiting_.find(session) != woken) continue;
        waiting_.take(session);
        // A woken sleep still has its timer running: drop that response when it comes.
        if (woken->wait == Co::Wait::sleep) dropped_.insert(session);
        woken->waits = 0;
        woken->wait = Co::Wait::none;
        lua_rawgeti(woken->L, LUA_REGISTRYINDEX, break_ref_);  // "BREAK", no string lookup
        resume_one(woken, 1);
    }
    wakeups_.clear();
}

void LuaScheduler::resume_one(Co* co, int nargs) {
    lua_State* T = co->L;
    current_ = co;
    lua_State* previous = host_.enter(T);
    int nres = 0;
    int status = lua_resume(T, L_, nargs, &nres);
    host_.leave(previous);
    current_ = nullptr;
    switch (status) {
        case LUA_OK:
            lua_pop(T, nres);
            finished(co);
            return;
        case LUA_YIELD: {
            void* mark = nres == 1 ? lua_touserdata(T, -1) : nullptr;
            lua_pop(T, nres);
            if (mark == suspend_mark()) return;  // waits for a session
            if (mark == quit_mark()) return;     // exiting; release answers it
            failed(co, "coroutine.yield in a message handler (use skynet.coroutine)");
            return;
        }
        default:
            failed(co, nullptr);
            return;
    }
}

void LuaScheduler::finished(Co* co) {
    if (co->is_start) {
        start_pending_ = false;
        host_.notify_started(StartOutcome::started, {});
        // Not pooled: a service that only starts (and idles) keeps no spare coroutine (~1 KB).
        co->is_start = false;
        co->session = -1;
        co->waits = 0;
        lua_settop(co->L, 0);
        release_co(co);
        return;
    }
    if (co->session > 0) {
        std::string text = "service " + address_of(host_.service().handle()) +
                           " returned from a request of " + address_of(co->source) +
                           " without answering it";
        host_.service().node().log(host_.service().handle(), LogLevel::warn, text);
        answer_error(co->source, co->session, text);
    }
    recycle(co);
}

void LuaScheduler::failed(Co* co, const char* why) {
    lua_State* T = co->L;
    lua_State* L = L_;
    // The error text: `why`, or the error object of the dead coroutine (tostring'd).
    if (why) {
        lua_pushstring(L, why);
    } else {
        lua_xmove(T, L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            luaL_tolstring(L, -1, nullptr);
            lua_remove(L, -2);
        }
    }
    const char* text = lua_tostring(L, -1);
    luaL_traceback(L, T, text, 0);
    host_.service().node().log(host_.service().handle(), LogLevel::error, lua_tostring(L, -1));
    lua_pop(L, 1);
    if (co->session > 0) answer_error(co->source, co->session, text);
    if (co->is_start) {
        start_pending_ = false;
        std::string line(text, strcspn(text, "\n"));
        host_.service().node().log(host_.service().handle(), LogLevel::error,
                                   "start function failed: " + line);
        host_.notify_started(StartOutcome::failed, line);
        begin_exit();
    }
    lua_pop(L, 1);
    lua_resetthread(T);  // closes pending to-be-closed variables; the thread is reusable
    recycle(co);
}

bool LuaScheduler::kill_thread(lua_State* T) {
    Co* victim = nullptr;
    for (size_t i = fork_head_; i < forks_.size(); ++i) {
        if (forks_[i]->L == T) {
            victim = forks_[i];
            forks_.erase(forks_.begin() + std::ptrdiff_t(i));
            break;
        }
    }
    if (!victim) {
        int32_t session = 0;
        waiting_.for_each([&](int32_t s, Co* co) {
            if (co->L == T) session = s;
        });
        if (!session) return false;
        victim = waiting_.find(session);
        if (victim->is_start) luaL_error(L_, "killthread: cannot kill the start function");
        waiting_.take(session);
        if (victim->wait != Co::Wait::wait) dropped_.insert(session);  // its answer may come
        // Forget the sleep or wait token that maps to this session.
        lua_rawgeti(L_, LUA_REGISTRYINDEX, sleep_ref_);
        lua_pushnil(L_);
        while (lua_next(L_, -2)) {
            bool mine = lua_isinteger(L_, -1) && lua_tointeger(L_, -1) == session;
            lua_pop(L_, 1);
            if (mine) {
                lua_pushvalue(L_, -1);
                lua_pushnil(L_);
                lua_rawset(L_, -4);
                lua_pop(L_, 1);
                break;
            }
        }
        lua_pop(L_, 1);
        victim->waits = 0;
        victim->wait = Co::Wait::none;
        victim->queued_wakeup = false;
    }
    if (victim->session > 0) {
        answer_error(victim->source, victim->session,
                     "service " + address_of(host_.service().handle()) +
                         " killed the coroutine handling this request (skynet.killthread)");
    }
    victim->session = -1;
    lua_resetthread(T);  // closes its pending to-be-closed variables
    // Not reused: whoever held the thread as a token (a Redis request's waiter, a socket's
    // reader) may still wake it when its answer comes, and must not wake the thread's next
    // coroutine. Released, the thread is no longer a scheduler's coroutine: a late wakeup finds
    // nothing.
    recycle(victim, false);
    return true;
}

void LuaScheduler::begin_exit() {
    exiting_ = true;
    for (size_t i = fork_head_; i < forks_.size(); ++i)
        recycle(forks_[i]);
    forks_.clear();
    fork_head_ = 0;
    // Calls queued for the end of the message are dropped with the forks.
    lua_rawgeti(L_, LUA_REGISTRYINDEX, after_ref_);
    for (int i = 1; i <= afters_; ++i) {
        lua_pushnil(L_);
        lua_rawseti(L_, -2, i);
    }
    lua_pop(L_, 1);
    afters_ = 0;
    host_.service().exit();
}

void LuaScheduler::release() {
    const std::string text = "service " + address_of(host_.service().handle()) +
                             (exiting_ ? " exited" : " was killed") + " before answering";
    for (const auto& co : slots_)
        if (co && co->session > 0) {
            answer_error(co->source, co->session, text);
            co->session = -1;
        }
    lua_State* L = L_;
    lua_rawgeti(L, LUA_REGISTRYINDEX, unresponse_ref_);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        auto* box = static_cast<ResponseBox*>(lua_touserdata(L, -1));
        if (box && !box->used) {
            box->used = true;
            answer_error(Handle(box->dest), box->session, text);
        }
    }
    lua_pop(L, 1);
    if (start_pending_) {
        start_pending_ = false;
        // skynet's launcher: a service that exits in its start function gives its newservice
        // nil (REMOVE answers without a handle); being killed is a failure.
        if (exiting_)
            host_.notify_started(StartOutcome::exited, {});
        else
            host_.notify_started(StartOutcome::failed, "service " +
                                                           address_of(host_.service().handle()) +
                                                           " was killed during its start function");
    }
}

}  // namespace skyhive
