#pragma once

// skynet.core: the C functions under lualib/skynet.lua. One table per Lua service, bound to the
// service's host (the snlua module) by skynet_core_bind before the first require.
//
// Functions (all run on the thread running the service; none yields):
//   send(dest, type, session, msg [, size]) -> session | false [, session]
//       dest: a handle (integer) or an address string (".name", ":0000000a"). session: nil
//       allocates a fresh one (for a request), otherwise it is used as given (0 for a plain send,
//       the request's session for a response). msg: a string (copied), a light userdata from
//       pack() with its size (ownership moves to the message, even when the send fails), or nil.
//       Returns false (and frees an adopted buffer) when dest is not a live service; a request to
//       a dead service also comes back as an error message with that session, which is returned
//       second when send allocated it.
//   redirect(dest, source, type, session, msg [, size]) -> boolean: send with another source.
//   genid() -> session for a wait with no request behind it.
//   timeout(centiseconds) -> session; a response with that session arrives after the delay.
//   callback(dispatch [, release]) installs dispatch(type, msg, size, session, source), called for
//       every message, and release(), called once when the service retires (exit or kill) while
//       its handle is still live, so pending requests can be answered.
//   take() -> msg, size: takes ownership of the payload of the message being dispatched (to
//       forward it with send, or to free it with trash); without take() the payload is freed
//       when dispatch returns, so the pointer must not be kept.
//   started(ok [, err]): answers the newservice that launched this service (once; no-op when the
//       service was not launched by newservice).
//   launch(module, args [, session]) -> handle | nil, err. With a session (snlua only), the child
//       answers that session once its start function has run (see started).
//   kill(handle) -> boolean; exit(): retire this service after the current message.
//   self(), now() (centiseconds since the node started), starttime() (UTC seconds), hpc()
//       (monotonic nanoseconds).
//   register(name [, handle]) -> boolean, unregister(name), query(name) -> handle | nil,
//       resolve(address) -> handle | nil.
//   getenv(key) -> string | nil, setenv(key, value) -> boolean (false: key exists).
//   error(text [, level]) logs through the node's logger; level "debug", "info", "warn", "error".
//   stat() -> messages, cpu seconds, mailbox length, Lua bytes, endless (the monitor trapped it).
//   info(handle) -> {module, args, messages, cpu, mqlen, memory} | nil; list() -> {handles}.
//   memlimit(bytes) -> previous limit (0 = none). signal(handle, sig) -> boolean.
//   loglevel([level]) -> current level name. abort(code): stops the node with that exit code.
//   pack, unpack, packstring, trash (skyhive.seri) and tostring(msg, size) -> string.

#include <lua.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/handle.h"
#include "core/message.h"
#include "core/result.h"

namespace skyhive {

class Service;

// What skynet.core needs from the module hosting the Lua state (the snlua module implements it).
// Thread: whatever thread runs the service (the same contract as Module).
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

    // Sets the Lua allocation limit in bytes (0 = none); returns the previous one.
    virtual size_t set_memory_limit(size_t bytes) = 0;
    virtual long long lua_memory() const = 0;
    // True once the monitor has interrupted this service (skynet's "endless" stat).
    virtual bool endless() const = 0;
    // Launches a service; with start_session > 0 and module "snlua", the child answers that
    // session when its start function is done. The error names the child's own failure.
    virtual Result<Handle> launch(std::string_view module, std::string_view args,
                                  int32_t start_session) = 0;
    // Answers the launcher of this service (see started()).
    virtual void notify_started(bool ok, std::string_view error) = 0;

  protected:
    ~LuaServiceHost() = default;
    void attach(Service& s) { service_ = &s; }

  private:
    Service* service_ = nullptr;
    Message* current_ = nullptr;
};

// Makes `host` the owner of L's skynet.core (stored in L's registry). Call before loading Lua.
void skynet_core_bind(lua_State* L, LuaServiceHost* host);

enum class DispatchStatus { ok, raised, no_dispatcher };

// Calls the installed dispatch function for msg (with host->current() set to it) under a
// traceback handler. On `raised` the error text, traceback appended, is left on the stack.
DispatchStatus skynet_core_dispatch(lua_State* L, LuaServiceHost& host, Message& msg);

// Runs the installed release function, if any. Returns false and pushes the error on failure.
bool skynet_core_release(lua_State* L);

// The message handler for lua_pcall used by snlua: appends a traceback to the error.
int skynet_core_traceback(lua_State* L);

}  // namespace skyhive

extern "C" int luaopen_skynet_core(lua_State* L);
