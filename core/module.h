#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "core/message.h"

namespace skyhive {

class Service;

// The behaviour of a service: what skynet calls a module instance. One instance per service,
// created by a factory ("create"), destroyed when the service is released.
//
// Thread: every method is called by one thread at a time for a given instance; `signal` is the
// exception (see there).
class Module {
  public:
    virtual ~Module() = default;

    // Called once, on the thread that launches the service, before any message is delivered.
    // Messages sent to the service meanwhile are queued. Return false to abort the launch (the
    // handle is then retired and queued requests get error replies).
    virtual bool init(Service& self, std::string_view args) = 0;

    // Called on a worker for every message, never on two workers at once. The message is
    // borrowed: move its payload out to keep it.
    virtual void on_message(Service& self, Message& msg) = 0;

    // Called on the monitor thread while a worker may be inside on_message for this instance (an
    // endless loop, say). Must only do what is safe concurrently with on_message, e.g. set a flag
    // or a Lua debug hook. sig 0 = "break the current message".
    virtual void signal(int sig) { (void)sig; }

    // Called on the worker that retires the service, after the last on_message, before the
    // destructor. The handle is still registered: the module may send its last messages.
    virtual void release(Service& self) { (void)self; }

    // Bytes this instance holds, where known (the Lua host reports its VM); -1 when unknown.
    // Thread: any; must be safe concurrently with on_message.
    virtual long long memory() const { return -1; }
};

using ModuleFactory = std::function<std::unique_ptr<Module>()>;

}  // namespace skyhive
