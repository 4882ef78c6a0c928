#pragma once

// skynet.core: the C functions under lualib/skynet.lua. One table per Lua service, bound to the
// service's host (the snlua module) by skynet_core_bind before the first require. The message
// scheduler behind call, sleep, fork... is C++ (skynet_sched.h); skynet.lua adds protocols and
// skynet's names on top.
//
// Functions (all run on the thread running the service). Those marked [yields] must run in a
// message coroutine:
//   send(dest, type, session, msg [, size]) -> session | false
//       dest: a handle (integer) or an address string (".name", ":0000000a"); an unknown name is
//       a dead service. session: nil allocates a fresh one. msg: a string (copied), a light
//       userdata from pack() with its size (ownership moves to the message, even when the send
//       fails), or nil. Returns false when dest is not a live service.
//   redirect(dest, source, type, session, msg [, size]) -> boolean: send with another source.
//   proto_send(dest, protocol, ...), proto_call(dest, protocol, ...) [yields],
//       proto_calltimeout(ms, dest, protocol, ...) [yields]: skynet.send/call/calltimeout, with
//       the protocol classes registered by protocols(table) (pack and unpack looked up there).
//   call(dest, type, msg [, size]) -> msg, size [yields]. Raises "call to <dest> failed: <why>"
//       (the callee's error text, "service is dead", ...), positioned at the Lua code that called
//       the skynet.lua wrapper.
//   calltimeout(ms, dest, type, msg [, size]) -> msg, size [yields]; also raises "call to <dest>
//       timed out after <ms> ms". A late answer is dropped.
//   newservice(args) -> handle | nil [yields]: launches "snlua args" here and waits for its
//       start; nil when the start function called exit() (skynet's launcher answers so).
//   context() -> session, source: the request the running coroutine handles (session nil once
//       answered or outside a handler; 0 for a send), skynet.context.
//   ret(msg [, size]) -> boolean, retpack(...) -> boolean, response([pack]) -> function,
//       ignoreret(): answer (or decline to answer) the request the running coroutine handles.
//   fork(f, ...) -> coroutine; timeout(centiseconds, f) -> coroutine; start(f).
//   sleep(centiseconds [, token]) -> nil | "BREAK" [yields]; wait([token]) [yields];
//       wakeup(token) -> true | nil.
//   killthread(co) -> co | nil; dispatch_unknown_request(f), dispatch_unknown_response(f) ->
//       the previous f (skynet's; see skynet_sched_api.cpp).
//   exit(): retires the service after the current message [yields when it can, never returns].
//   protocol(id, dispatch, unpack): what runs requests of message type id.
//   task([table | session | co | "init"]) -> count | traceback | session (skynet.task).
//   genid() -> a fresh session. take() -> msg, size: takes ownership of the payload of the
//       message being dispatched (to forward it with send, or to trash it); without take() the
//       payload is freed once the handler first suspends or returns.
//   launch(module, args) -> handle | nil, err (no waiting for start).
//   kill(dest) -> boolean; self(), now() (centiseconds since start), starttime() (UTC seconds),
//       hpc() (monotonic nanoseconds).
//   register(name [, handle]) -> boolean, unregister(name), query(name) -> handle | nil,
//       resolve(address) -> handle | nil.
//   getenv(key) -> string | nil, setenv(key, value) -> boolean (false: the key exists).
//   error(text [, level]) logs one line at "debug", "info" (default), "warn" or "error";
//       print(...) logs its arguments tostring'd and space-separated at info (skynet.error).
//   stat(what) -> "message" count, "cpu" seconds, "mqlen", "memory" (Lua bytes), "endless".
//   info(dest) -> {module, args, messages, cpu, mqlen, memory} | nil; list() -> {handles}.
//   memlimit(bytes) -> previous limit (0 = none). signal(dest [, sig]) -> boolean.
//   loglevel([level]) -> level name. abort([code]): stops the node with that exit code.
//   pack, unpack, packstring, trash (skyhive.seri) and tostring(msg, size) -> string.

#include <lua.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "core/handle.h"
#include "core/message.h"
#include "core/result.h"
#include "core/spinlock.h"
#include "lualib/native/skynet_sched.h"

namespace skyhive {

class Service;

// How a service's start function ended, for the newservice that waits on it: it returned, it
// called skynet.exit() (skynet's newservice then returns nil), or it raised / the service was
// killed first (newservice raises with the text).
enum class StartOutcome : uint8_t { started, exited, failed };

// Native code that sees each message of a Lua service before its Lua does and may take it, so
// that a message needing no decision costs no Lua dispatch (a cluster link's direct path,
// cluster_core.cpp). Registered with LuaServiceHost::set_filter by whoever owns it, and removed
// by it before it goes away. Thread: the service's.
class MessageFilter {
  public:
    // True when it handled msg: the service's Lua never sees it.
    virtual bool take(Message& msg) = 0;

  protected:
    ~MessageFilter() = default;
};

// What skynet.core needs from the module hosting the Lua state (the snlua module implements it).
// Thread: whatever thread runs the service (the same contract as Module), except where a method
// says otherwise.
class LuaServiceHost {
  public:
    LuaServiceHost() = default;
    LuaServiceHost(const LuaServiceHost&) = delete;
    LuaServiceHost& operator=(const LuaServiceHost&) = delete;

    // The service this host runs. Valid once attached (in Module::init, before any Lua runs).
    Service& service() const { return *service_; }
    Service* attached() const { return service_; }
    // The message being dispatched (take() moves its payload out), null outside dispatch.
    Message* current() const { return current_; }
    void set_current(Message* m) { current_ = m; }
    // Made by skynet_core_bind.
    LuaScheduler& scheduler() const { return *scheduler_; }
    // The filter offered every message before Lua (null: none). One at a time; its owner
    // removes it (set_filter(nullptr)) before it goes away.
    MessageFilter* filter() const { return filter_; }
    void set_filter(MessageFilter* f) { filter_ = f; }

    // The thread of the state that is running: the host records it around every resume, so
    // another thread (the monitor) can act on it while holding active_lock().
    lua_State* enter(lua_State* co) {
        std::lock_guard guard(active_lock_);
        return std::exchange(active_, co);
    }
    void leave(lua_State* previous) {
        std::lock_guard guard(active_lock_);
        active_ = previous;
    }

    // Sets the Lua allocation limit in bytes (0 = none); returns the previous one.
    virtual size_t set_memory_limit(size_t bytes) = 0;
    virtual long long lua_memory() const = 0;
    // socket.inline: whether the service's socket events may run on the socket thread while it
    // is idle (Module::inline_socket_events); returns the previous setting.
    virtual bool set_inline_events(bool on) = 0;
    // True once the monitor has interrupted this service (skynet's "endless" stat).
    virtual bool endless() const = 0;
    // Launches a service; with start_session > 0 and module "snlua", the child answers that
    // session when its start function is done. The error names the child's own failure.
    virtual Result<Handle> launch(std::string_view module, std::string_view args,
                                  int32_t start_session) = 0;
    // Answers the newservice that launched this service, once (no-op when none did). `error` is
    // the text for StartOutcome::failed.
    virtual void notify_started(StartOutcome outcome, std::string_view error) = 0;

  protected:
    ~LuaServiceHost() = default;
    void attach(Service& s) { service_ = &s; }

    Spinlock active_lock_;
    lua_State* active_ = nullptr;  // guarded by active_lock_

  private:
    friend void skynet_core_bind(lua_State* L, LuaServiceHost* host);
    Service* service_ = nullptr;
    Message* current_ = nullptr;
    MessageFilter* filter_ = nullptr;
    std::unique_ptr<LuaScheduler> scheduler_;
};

// Makes `host` the owner of L's skynet.core and creates its scheduler. L must have been made with
// lua_newstate(alloc, host): the functions find their host as the allocator's user data. Call
// before loading Lua, under lua_pcall (it allocates).
void skynet_core_bind(lua_State* L, LuaServiceHost* host);

// Dispatches msg through the scheduler under lua_pcall with a traceback handler. Returns false
// with the error text (traceback appended) left on the stack when the scheduler itself raised
// (a memory error, say); errors of handlers are dealt with inside.
bool skynet_core_dispatch(lua_State* L, LuaServiceHost& host, Message& msg);

// Answers what the service leaves pending (LuaScheduler::release). Returns false and pushes the
// error on failure.
bool skynet_core_release(lua_State* L, LuaServiceHost& host);

// Raises "call to <addr> <what>", <addr> from stack index addr_arg (a handle or a name), with the
// position of the Lua function `level` levels up (luaL_where).
int skynet_core_call_error(lua_State* L, int addr_arg, int level, const char* what);

// Adds proto_send, proto_call, proto_calltimeout and protocols (skynet_proto.cpp) to the table
// on top of the stack.
void skynet_proto_register(lua_State* L);

// Adds register, unregister, query, resolve, address, getenv, setenv, error, print, loglevel,
// stat, info, list, memlimit, signal and abort (skynet_core_node.cpp) to the table on top of the
// stack.
void skynet_core_node_register(lua_State* L);

// The message handler for lua_pcall used by snlua: appends a traceback to the error.
int skynet_core_traceback(lua_State* L);

// Argument checks shared by the skynet.core functions; each raises a Lua error on bad input.
namespace core_args {
LuaServiceHost& host_of(lua_State* L);  // the allocator's user data
Service& service_of(lua_State* L);      // host_of(L).service()
Handle check_dest(lua_State* L, int arg);
MessageType check_type(lua_State* L, int arg);
struct Body {
    const void* data = nullptr;
    size_t size = 0;
    bool adopt = false;  // light userdata from pack: the message takes ownership
};
Body check_body(lua_State* L, int arg);
Payload to_payload(const Body& b);
// Pushes every value on the stack, each tostring'd (luaL_tolstring) and joined with single
// spaces (the form of skynet.error and of newservice's arguments); returns that string, valid
// while it stays on the stack, and its length in *len.
const char* push_joined(lua_State* L, size_t* len);
}  // namespace core_args

}  // namespace skyhive

extern "C" int luaopen_skynet_core(lua_State* L);
