#pragma once

#include <lua.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/module.h"
#include "lualib/native/skynet_core.h"
#include "services/snlua/lua_host.h"

namespace skyhive {

class Node;

// The Lua service host ("snlua"): one lua_State per service. args = "script arg1 arg2 ...": the
// script is found along `luaservice` and run with the arguments as `...` (or the `lualoader` file
// runs with the whole args string). Messages go to the dispatch function that skynet.lua installs
// with skynet.core.callback.
//
// Memory: every allocation of the state goes through an allocator that counts the bytes (read by
// memory() from any thread) and refuses to grow past the limit set with skynet.memlimit (Lua then
// raises "not enough memory"); a warning is logged when the state first passes 32 MB, then at
// each doubling.
//
// Collection: a state starts with Lua's generational collector, the fastest for the many small
// services that exchange messages. It is a poor fit for a service with a large, changing live set
// under load (the game's world during a storm): what survives two minor collections (a coroutine
// waiting on Redis, its buffers) turns old and is freed only by a major collection, which waits
// until memory has doubled past Lua's own estimate, so the world held 15-40 MB of garbage after a
// storm with 0.7 MB live. So after a message, once a generational state has grown past twice the
// size the last full collection left (and by at least kGcFloor), snlua collects it fully; when
// the live set then exceeds lua_gc_incremental_kb, the state switches to the incremental
// collector with Lua's default pause of 200% (a cycle starts when memory has doubled since the
// last one), whose memory follows the live set; it switches back, with a full collection, once
// below half that size. A pause of 100% (cycles back to back) kept memory closer still, but the
// collector then took about half the node's CPU in the game soak and halved its throughput.
//
// Inline events: a service that calls socket.inline(true) has its socket events (its own sockets,
// its Redis connections) run on the socket thread while it is idle (Module::inline_socket_events).
// One message there that takes longer than Scheduler::kGuestOverrunMs turns that off again, with a
// warning, so a handler that turns out slow costs the other sockets once.
//
// Endless loops: signal(0) from the monitor sets a count hook on the coroutine running at that
// moment; the hook removes itself and raises "endless loop detected in :%08x" there, so only the
// looping handler fails and the service takes its next message. The running coroutine is tracked
// by the scheduler and by replacing coroutine.resume and coroutine.wrap with versions that record
// it under a spinlock, so the monitor never hooks a coroutine that has been collected.
//
// Thread: Module's contract (one thread at a time; signal and memory from any thread).
class SnluaModule final : public Module, public LuaServiceHost {
  public:
    explicit SnluaModule(std::shared_ptr<LuaHost> host);
    ~SnluaModule() override;

    bool init(Service& self, std::string_view args) override;
    void on_message(Service& self, Message& msg) override;
    void signal(int sig) override;
    void release(Service& self) override;
    long long memory() const override { return used_.load(std::memory_order_relaxed); }
    bool inline_socket_events() const override {
        return inline_events_.load(std::memory_order_relaxed);
    }
    bool inline_overrun(Service& self, uint64_t ms) override;

    // LuaServiceHost
    size_t set_memory_limit(size_t bytes) override;
    bool set_inline_events(bool on) override;
    long long lua_memory() const override { return memory(); }
    bool endless() const override { return endless_.load(std::memory_order_relaxed); }
    Result<Handle> launch(std::string_view module, std::string_view args,
                          int32_t start_session) override;
    void notify_started(StartOutcome outcome, std::string_view error) override;

    // luaopen_coroutine with resume and wrap replaced (see the class comment).
    static int open_coroutine(lua_State* L);

    // Bytes at which the first memory warning is logged.
    static constexpr size_t kFirstWarning = size_t(32) << 20;
    // The least growth past the last live set that triggers a full collection of a generational
    // state: small services never pay for one.
    static constexpr size_t kGcFloor = size_t(1) << 20;
    // The incremental collector's parameters for large states: pause (percent of the live set
    // reached before a cycle starts) and step multiplier (work per allocated byte).
    static constexpr int kIncPause = 200;
    static constexpr int kIncStepMul = 200;

  private:
    static void* allocate(void* ud, void* ptr, size_t osize, size_t nsize);
    // A live block of osize bytes resized to nsize (> 0); nullptr when it cannot grow.
    static void* resize(void* ptr, size_t osize, size_t nsize);
    static void trap_hook(lua_State* L, lua_Debug* ar);
    static int resume(lua_State* L);
    static int wrap(lua_State* L);
    static int wrapped_call(lua_State* L);
    static int resume_into(lua_State* L, lua_State* co, int nargs);
    static int protected_init(lua_State* L);

    // Runs load_service under lua_pcall; on failure returns the error text with a traceback.
    Result<void> run_loader(std::string_view args);
    // Opens the libraries, sets the search paths, replaces coroutine.resume/wrap, then runs the
    // lualoader or finds the script (with preload first). Stack: 1 = the args string.
    int load_service(lua_State* L);
    void log_error(std::string_view what, std::string_view text);
    void account(long long delta);
    // After each message: runs the full collection or switches the collector when due (see the
    // class comment).
    void tend_collector();
    // Picks the collector for a live set of the current size and when to look again. Call just
    // after a full collection.
    void plan_collector();

    std::shared_ptr<LuaHost> host_;  // shared by every snlua of the node; see LuaHost
    lua_State* L_ = nullptr;

    std::atomic<long long> used_{0};  // written only by the thread running the state
    size_t limit_ = 0;                // 0 = none
    size_t warn_at_ = kFirstWarning;
    bool incremental_ = false;
    size_t gc_next_ = SIZE_MAX;  // generational: the size that triggers a full collection

    std::atomic<bool> endless_{false};
    // socket.inline(true): socket events run on the socket thread while the service is idle
    // (Module::inline_socket_events). Written by the thread running the state, read by the socket
    // thread while it holds the service.
    std::atomic<bool> inline_events_{false};
    // Messages dispatched so far, and its value when the monitor set the hook: a hook that fires
    // in a later message is stale and only removes itself.
    std::atomic<uint64_t> dispatch_seq_{0};
    std::atomic<uint64_t> trap_seq_{0};

    // Who launched this service through newservice and waits for its start to finish.
    Handle parent_;
    int32_t start_session_ = 0;
};

// Registers "snlua" with the node: makes the node's LuaHost from its config and registers the
// C modules built into the binary (skynet.core, skyhive.seri) with it. Other bindings are added to
// the returned host (add_native) before the node launches its first service.
std::shared_ptr<LuaHost> register_snlua(Node& node);

}  // namespace skyhive
