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

    // Called for every message, never on two threads at once: on a worker, or on the socket
    // thread for a module that opts in below. The message is borrowed: move its payload out to
    // keep it.
    virtual void on_message(Service& self, Message& msg) = 0;

    // Opt-in for short, non-blocking handlers (gates, proxies, echo). When true, a socket
    // event for this service, if the service is idle, is handled on the socket thread right after
    // the read instead of being handed to a worker: no wake-up, no queueing, no second thread
    // touching the bytes. The service still runs on one thread at a time. The price: while
    // on_message runs there, no other socket of that server is served, so it must not block or
    // run long (the monitor reports it like a stuck worker), and it must not call
    // SocketServer::info/snapshot (they wait for the socket thread). Whatever the socket thread
    // sends the idle service otherwise (from another inline handler, or the cluster router's
    // answers) runs there too (Scheduler::run_on_guest). Asked each time the socket thread makes
    // the idle service schedulable, while it holds the service. A Lua service opts in with
    // socket.inline(true). Client packets that a
    // gate hands on from its own inline handler (Node::deliver) are events in this sense: an
    // opted-in agent runs inside the gate's handler, one level deep, with the same rules.
    virtual bool inline_socket_events() const { return false; }

    // Called on the thread that ran the message, right after one message handled there (opted in
    // above) took `ms` milliseconds, past Scheduler::kGuestOverrunMs: every other socket waited
    // that long. Return true if the module stopped opting in (its events go to the workers from
    // now on); the scheduler logs which.
    virtual bool inline_overrun(Service& self, uint64_t ms) {
        (void)self;
        (void)ms;
        return false;
    }

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
