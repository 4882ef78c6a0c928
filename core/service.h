#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/handle.h"
#include "core/mailbox.h"
#include "core/message.h"
#include "core/message_log.h"
#include "core/module.h"

namespace skyhive {

class Node;

// Counters of one service. Written only by the worker running the service (relaxed stores, no
// read-modify-write on the hot path), read by anyone.
struct ServiceStats {
    std::atomic<uint64_t> messages{0};
    std::atomic<uint64_t> cpu_cycles{0};  // cycle_now() ticks spent in on_message
    // Of `messages`, those run on the thread that delivered them (Scheduler::run_here).
    std::atomic<uint64_t> inline_messages{0};
};

// What an operator watches on one service (the debug console's logon and trace): bits of
// Service::watching().
enum WatchFlag : uint8_t {
    kWatchLog = 1,    // every message written to the service's message log (Node::logon)
    kWatchTrace = 2,  // each message's type, source, session and time spent logged (Node::trace)
};

// A service: a handle, a module instance, a mailbox and statistics. This is also the context a
// module talks to the node through.
//
// Service objects are type-stable: the node pools them and never frees one while it runs, so a
// thread holding a stale pointer can still lock its mailbox and find out (by handle) that the
// service it wanted is gone. Identity type: not copyable.
//
// Thread: the methods for modules (send, new_session, timeout, exit, log) may be called from the
// service's own callbacks; stats and handle from any thread.
class Service {
  public:
    explicit Service(Node& node) : node_(node) { mailbox_.owner = this; }
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    Handle handle() const { return Handle(handle_.load(std::memory_order_acquire)); }
    Node& node() const { return node_; }
    const std::string& module_name() const { return module_name_; }
    const std::string& args() const { return args_; }
    Module* module() const { return module_.get(); }

    // Allocates a session number for a request (positive, wraps before INT32_MAX).
    int32_t new_session() {
        if (++session_ >= 0x7fffffff) session_ = 1;
        return session_;
    }
    // Sends from this service. Returns false when dest is dead (a request then also gets an error
    // reply, like any send to a dead handle).
    bool send(Handle dest, MessageType type, int32_t session, Payload payload);
    // A response with `session` arrives after `centiseconds` (at once for <= 0). Returns session.
    int32_t timeout(int centiseconds);
    // Retires this service after the current message.
    void exit();
    void log(std::string_view text);

    const ServiceStats& stats() const { return stats_; }
    size_t mailbox_length() const { return mailbox_.size(); }
    long long memory() const { return module_ ? module_->memory() : -1; }
    // WatchFlag bits. The dispatcher reads them once per message (relaxed: a change shows from
    // one of the next messages on); the rest of watching is done under watch_lock_.
    uint8_t watching() const { return watch_.load(std::memory_order_relaxed); }

  private:
    friend class Node;
    friend class Scheduler;

    Node& node_;
    std::atomic<uint32_t> handle_{0};
    std::unique_ptr<Module> module_;
    std::string module_name_;
    std::string args_;
    Mailbox mailbox_;
    ServiceStats stats_;
    int32_t session_ = 0;
    bool initialised_ = false;
    std::atomic<uint8_t> watch_{0};
    std::mutex watch_lock_;                    // guards message_log_ and changes of watch_
    std::unique_ptr<MessageLog> message_log_;  // set while kWatchLog is
};

}  // namespace skyhive
