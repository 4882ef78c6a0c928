#pragma once

// The message scheduler of a Lua service, in C++ (skynet keeps it in skynet.lua; here it costs no
// bytecode per service and no interpreted dispatch per message).
//
// Every message runs in a coroutine of the service's Lua state, taken from a pool. A coroutine
// that waits (call, sleep, wait, newservice) yields from C with a continuation after recording the
// session it waits for; the response or error with that session resumes it. Coroutines made by
// fork run after the current message, in fork order; coroutines woken by wakeup run as soon as the
// running coroutine suspends or ends. A request is answered once: by ret/retpack, by a response
// closure, with the error text when its handler raises, with an error when the handler returns
// without answering, and with an error from release() when the service retires first.

#include <lua.hpp>

#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/handle.h"
#include "core/message.h"

namespace skyhive {

class LuaServiceHost;

// What a coroutine yields to the scheduler (light userdata): it waits for a session, or the
// service is exiting. Anything else a message coroutine yields is a misuse.
inline void* suspend_mark() {
    static char mark;
    return &mark;
}
inline void* quit_mark() {
    static char mark;
    return &mark;
}

// The state behind one skynet.response closure (a full userdata, so release can find it).
struct ResponseBox {
    uint32_t dest;
    int32_t session;
    bool used;
};

// Sessions (> 0) to pointers: open addressing with linear probing and backward-shift deletion,
// sized to stay at most half full. Inserting and erasing allocate nothing in the steady state,
// unlike a node-based map (one insert and one erase per call).
template <class T>
class SessionMap {
  public:
    SessionMap() : slots_(16) {}
    T* find(int32_t session) const {
        for (size_t i = home(session);; i = (i + 1) & mask()) {
            if (slots_[i].session == session) return slots_[i].value;
            if (slots_[i].session == 0) return nullptr;
        }
    }
    void put(int32_t session, T* value) {
        if ((count_ + 1) * 2 > slots_.size()) grow();
        size_t i = home(session);
        while (slots_[i].session != 0 && slots_[i].session != session)
            i = (i + 1) & mask();
        if (slots_[i].session == 0) ++count_;
        slots_[i] = Slot{session, value};
    }
    // Removes session and returns its value (null when absent).
    T* take(int32_t session) {
        size_t i = home(session);
        while (slots_[i].session != session) {
            if (slots_[i].session == 0) return nullptr;
            i = (i + 1) & mask();
        }
        T* value = slots_[i].value;
        // Shift back the entries of the run after i that would not be found past the hole.
        for (size_t j = (i + 1) & mask(); slots_[j].session != 0; j = (j + 1) & mask()) {
            size_t h = home(slots_[j].session);
            if (((j - h) & mask()) >= ((j - i) & mask())) {
                slots_[i] = slots_[j];
                i = j;
            }
        }
        slots_[i] = Slot{};
        --count_;
        return value;
    }
    template <class F>
    void for_each(F fn) const {
        for (const Slot& s : slots_)
            if (s.session != 0) fn(s.session, s.value);
    }

  private:
    struct Slot {
        int32_t session = 0;
        T* value = nullptr;
    };
    size_t mask() const { return slots_.size() - 1; }
    size_t home(int32_t session) const {
        return size_t((uint32_t(session) * 2654435761u) >> 4) & mask();
    }
    void grow() {
        std::vector<Slot> old(slots_.size() * 2);
        old.swap(slots_);
        count_ = 0;
        for (const Slot& s : old)
            if (s.session != 0) put(s.session, s.value);
    }
    std::vector<Slot> slots_;  // size is a power of two
    size_t count_ = 0;
};

// Thread: the thread running the service (Module's contract).
class LuaScheduler {
  public:
    LuaScheduler(lua_State* L, LuaServiceHost& host);
    ~LuaScheduler();
    LuaScheduler(const LuaScheduler&) = delete;
    LuaScheduler& operator=(const LuaScheduler&) = delete;

    // Dispatches one message. Runs under lua_pcall on the main thread (it allocates).
    void dispatch(Message& msg);
    // Answers whatever is still pending, before the service goes. Runs under lua_pcall.
    void release();

    // True once skynet.start has installed the dispatcher.
    bool started() const { return started_; }

    // One coroutine of the pool. `session`: -1 none, 0 handling a send, > 0 a request.
    struct Co {
        lua_State* L = nullptr;
        int slot = 0;          // index in the anchor table that keeps the thread alive
        int32_t session = -1;  // the request it handles
        Handle source;         // who sent that request
        int32_t waits = 0;     // the session it waits for, 0 when not waiting
        enum class Wait : uint8_t { none, call, sleep, wait, timer } wait = Wait::none;
        bool queued_wakeup = false;
        bool is_start = false;  // runs skynet.start's function
        // Waits (wait or sleep) with itself as the token: wakeup(thread) finds it through the
        // thread's extra space (co_of), with no entry in the token table.
        bool self_token = false;
    };

    // The scheduler coroutine whose thread is T, or nullptr (the main thread, coroutines the
    // service made itself, threads of coroutines already released). Kept in T's extra space.
    static_assert(LUA_EXTRASPACE >= sizeof(void*), "co_of keeps a pointer in the extra space");
    static Co* co_of(lua_State* T) { return *static_cast<Co**>(lua_getextraspace(T)); }
    // Clears L's extra space; the state's creator calls it on the main thread before any other
    // thread exists, since Lua copies the main thread's extra space into every new thread.
    static void clear_extraspace(lua_State* L) {
        *static_cast<Co**>(lua_getextraspace(L)) = nullptr;
    }

    // Keys in the protocol table (beside 2*id and 2*id+1) of the functions set with
    // skynet.dispatch_unknown_request / dispatch_unknown_response.
    static constexpr int kUnknownRequestKey = 512;
    static constexpr int kUnknownResponseKey = 513;

    // The Lua functions below are the scheduler's part of skynet.core (see skynet_core.h).
    static void register_functions(lua_State* L);
    // protocol, task, killthread and the unknown-message handlers (skynet_sched_protocol.cpp);
    // register_functions calls it.
    static void register_protocol_functions(lua_State* L);

    // Internals used by those functions (defined in skynet_sched_api.cpp).
    static LuaScheduler& of(lua_State* L);
    Co* current() const { return current_; }
    LuaServiceHost& host() const { return host_; }
    Co* take_co();
    void wait_on(int32_t session, Co* co, Co::Wait kind);
    void queue_fork(Co* co) { forks_.push_back(co); }
    // Keeps the function at `idx` of L's stack to be called, without a coroutine, once the
    // current message and its forks have run (skynet.core.after_message). May raise a memory
    // error, with nothing queued.
    void queue_after(lua_State* L, int idx);
    bool queue_wakeup(int32_t session);
    void drop(int32_t session) { dropped_.insert(session); }
    void add_call_timer(int32_t timer, int32_t call) { call_timers_[timer] = call; }
    void set_start(Co* co) {
        start_pending_ = true;
        started_ = true;
        co->is_start = true;
    }
    void begin_exit();
    // skynet.killthread: drops the coroutine T if it waits here (a queued fork, a pending
    // timeout, a call, sleep or wait); the request it handles gets an error, a late answer to
    // what it waited for is dropped. Returns false when T is not such a coroutine. Runs under
    // lua_pcall (it may allocate); refuses the start function's coroutine with a Lua error.
    bool kill_thread(lua_State* T);
    // The coroutine running skynet.start's function until that function ends, else null.
    lua_State* start_thread() const {
        for (const auto& co : slots_)
            if (co && co->is_start) return co->L;
        return nullptr;
    }
    bool exiting() const { return exiting_; }
    // Calls fn(T) for the state's main thread and the thread of every coroutine of the pool,
    // running or waiting (not those the service made itself with coroutine.create).
    template <class F>
    void each_thread(F fn) const {
        fn(L_);
        for (const auto& co : slots_)
            if (co) fn(co->L);
    }
    int anchor_ref() const { return anchor_ref_; }
    int sleep_ref() const { return sleep_ref_; }
    int protocol_ref() const { return protocol_ref_; }
    int unresponse_ref() const { return unresponse_ref_; }
    int protocols_ref() const { return protocols_ref_; }
    // Calls fn(session, co) for each coroutine waiting for a response.
    template <class F>
    void each_waiting(F fn) const {
        waiting_.for_each([&](int32_t session, const Co* co) {
            if (co->wait != Co::Wait::timer) fn(session, co);
        });
    }

  private:
    // A response or error reply (msg.type says which) for `session`.
    void on_response(int32_t session, Message& msg);
    void on_request(Message& msg);
    // Resumes co with the nargs values on its stack, then whatever wakeup() queued meanwhile.
    void resume(Co* co, int nargs);
    void resume_one(Co* co, int nargs);
    void finished(Co* co);
    void failed(Co* co, const char* why);
    // Readies co for reuse: back to the pool (or released beyond it), or, with reuse false,
    // released whatever the pool holds.
    void recycle(Co* co, bool reuse = true);
    void release_co(Co* co);
    void answer_error(Handle to, int32_t session, std::string_view text);
    // Calls the function at `key` of the protocol table with (session, source, msg, size [,
    // type]) under lua_pcall, logging its error. False when none is set.
    bool call_unknown(int key, Message& msg);
    void run_forks();
    // Calls the functions queued with queue_after, in order, each under lua_pcall on the main
    // thread (an error is logged and the others still run).
    void run_afters();

    lua_State* const L_;
    LuaServiceHost& host_;
    int anchor_ref_ = LUA_NOREF;      // table: slot -> thread of a Co
    int sleep_ref_ = LUA_NOREF;       // table: token -> session (sleep, wait)
    int protocol_ref_ = LUA_NOREF;    // table: 2*id -> dispatch, 2*id+1 -> unpack
    int unresponse_ref_ = LUA_NOREF;  // table: response box -> true until it answers
    int protocols_ref_ = LUA_NOREF;   // skynet.lua's table: name and id -> protocol class
    int break_ref_ = LUA_NOREF;       // the string "BREAK" that wakeup resumes a waiter with
    int after_ref_ = LUA_NOREF;       // table: 1..afters_ -> function queued by after_message

    std::vector<std::unique_ptr<Co>> slots_;  // by slot; null when freed
    std::vector<int> free_slots_;
    std::vector<Co*> pool_;
    Co* current_ = nullptr;  // the coroutine the scheduler resumed (skynet's running_thread)

    SessionMap<Co> waiting_;                            // session -> coroutine resumed by it
    std::unordered_map<int32_t, int32_t> call_timers_;  // timer session -> call session
    std::unordered_set<int32_t> dropped_;               // late answers dropped silently
    std::vector<Co*> forks_;
    size_t fork_head_ = 0;
    int afters_ = 0;                                // functions in after_ref_'s table
    std::vector<std::pair<Co*, int32_t>> wakeups_;  // coroutine, the session it waited for

    bool started_ = false;
    bool start_pending_ = false;
    bool exiting_ = false;
};

}  // namespace skyhive
