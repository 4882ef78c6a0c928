#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/env.h"
#include "core/handle.h"
#include "core/handle_registry.h"
#include "core/log.h"
#include "core/message.h"
#include "core/metrics.h"
#include "core/module_registry.h"
#include "core/result.h"
#include "core/service.h"
#include "core/status_board.h"

namespace skyhive {

class Scheduler;
enum class Wake : uint8_t;  // core/scheduler.h
class Timer;
class Monitor;

struct NodeOptions {
    int threads = 2;   // workers
    int spin_us = 50;  // an idle worker polls this long before parking
    // What one delivery runs on the socket thread (a guest: an event's service and the chain it
    // starts) stops taking messages this long after it began; the workers run the rest.
    // Config key socket_inline_budget.
    int guest_budget_us = 1000;
    // One message run on the socket thread that takes longer than this is reported, and moves
    // its service to the workers (Scheduler::kGuestOverrunMs). Config key socket_inline_limit.
    int guest_overrun_ms = 10;
    uint8_t node_id = 0;                   // harbor: the high 8 bits of every handle
    uint32_t monitor_threshold_ms = 5000;  // a message running longer than this is reported
    std::string logger;                    // log file; empty = stdout
    LogLevel log_level = LogLevel::info;
    std::string cpath;                          // where C modules are searched: "dir/?.so;..."
    uint64_t logon_limit = uint64_t(64) << 20;  // bytes of one message log

    // Reads thread, worker_spin, socket_inline_budget, socket_inline_limit, harbor,
    // monitor_threshold, logger (+ logpath), logon_limit_kb, loglevel, cpath. Errors name
    // file:line.
    static Result<NodeOptions> from_config(const Config& config);
};

// One actor runtime: services, their registry, the scheduler (workers and global queue), the
// timer and monitor threads, the module registry, the logger and the env. Everything a service
// reaches is owned here; nothing is process-wide, so several nodes can live in one process.
//
// Lifecycle: construct, register modules, start(), launch services, then shutdown() (or the
// destructor). Identity type: not copyable.
//
// Thread: every public method is safe from any thread unless it says otherwise.
class Node final : public MessageSink {
  public:
    explicit Node(NodeOptions options, Config config = {});
    ~Node() override;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // Starts workers, timer and monitor, and the logger service. Thread: the owner, once.
    Result<void> start();
    // Stops threads, then releases every remaining service (the logger last) on the calling
    // thread. Idempotent. Thread: the owner, not a worker.
    void shutdown();
    // Asks the owner to shut down: wakes wait_for_stop(). `exit_code` becomes the process's exit
    // status (the first non-zero code wins). Async-signal-unsafe; call it from a thread (e.g. a
    // signal-waiting thread) or a service.
    void request_stop(int exit_code = 0);
    int exit_code() const { return exit_code_.load(std::memory_order_acquire); }
    // Blocks until request_stop() is called. Thread: the owner.
    void wait_for_stop();
    bool stopping() const { return stop_requested_.load(std::memory_order_acquire); }

    // Creates a service running `module` (a registered name, or a C module found on cpath) and
    // calls its init(args) on this thread. Returns the new handle, or an Error saying why.
    Result<Handle> launch(std::string_view module, std::string_view args);
    // Retires h after its current message; queued requests get error replies. False if h is dead.
    bool kill(Handle h);

    // Sends a message. Returns false when dest is not a live service; if the message was a
    // request (session != 0, not a response or error), the source also receives an error reply.
    // From a worker this wakes nobody (the sender's worker will find the work); from any other
    // thread it wakes a sleeping worker when one is needed; on a guest thread (the socket thread),
    // an idle dest that opts in runs there instead (Scheduler::run_on_guest).
    bool send(Handle source, Handle dest, MessageType type, int32_t session, Payload payload);
    // MessageSink: what the socket thread and other producers use. A socket message, or a client
    // packet (a gate delivering from its own inline handler), for an idle service whose module
    // opts in (Module::inline_socket_events) runs on the calling thread.
    bool deliver(Handle dest, Message msg) override;
    // MessageSink: true while h is registered (until its retirement unregisters it).
    bool alive(Handle h) const override { return find_live(h) != nullptr; }
    void hold_wakes() override;
    void release_wakes() override;

    // A response message with `session` reaches `h` after `centiseconds` (at once for <= 0).
    // Returns the now() tick it is due at.
    uint64_t timeout(Handle h, int centiseconds, int32_t session);
    // Centiseconds since start(); starttime() is the UTC second of start().
    uint64_t now() const;
    uint32_t starttime() const { return starttime_; }

    // Names (skynet's ".name" aliases).
    bool register_name(std::string_view name, Handle h);
    Handle query_name(std::string_view name) const { return registry_.find_name(name); }
    bool unregister_name(std::string_view name) { return registry_.unbind_name(name); }
    // ":0000000a" or ".name" to a handle; empty when neither parses or is known.
    Handle resolve(std::string_view address) const;

    // Calls `fn` with each live service; the service stays alive during the call.
    void for_each_service(const std::function<void(Service&)>& fn);
    // Calls `fn` with the service if it is alive; returns false otherwise.
    bool with_service(Handle h, const std::function<void(Service&)>& fn);
    // Delivers sig to the module of h (monitor, debug console). False if h is dead.
    bool signal(Handle h, int sig);

    // skynet's logon: every message h receives from now on goes to its message log,
    // <logpath>/<8 hex digits of h>.log (logpath: the env's value now, made if needed;
    // core/message_log.h), until logoff(h), h's end, or the file's limit (options().logon_limit:
    // then a line in the file and one in the node's log say so). Returns the file's path, or why
    // not: h dead or already logged, no logpath, the file.
    Result<std::string> logon(Handle h);
    // Stops logon(h); returns the file's path. Error when h is dead or not logged.
    Result<std::string> logoff(Handle h);
    // Per-message timing of h: a log line (info) per message with its type, source, session, size
    // and time spent, until trace(h, false) or h's end. Error when h is dead, or is the logger
    // (its trace lines would be messages to itself).
    Result<void> trace(Handle h, bool on);

    void log(Handle source, LogLevel level, std::string_view text);
    LogLevel log_level() const { return LogLevel(log_level_.load(std::memory_order_relaxed)); }
    void set_log_level(LogLevel level) {
        log_level_.store(uint8_t(level), std::memory_order_relaxed);
    }
    // Makes the logger reopen its file (SIGHUP).
    void reopen_log();

    Env& env() { return env_; }
    const Config& config() const { return config_; }
    const NodeOptions& options() const { return options_; }
    ModuleRegistry& modules() { return modules_; }
    size_t service_count() const { return registry_.size(); }
    // How many stuck messages the monitor has reported.
    uint64_t monitor_reports() const;
    // Messages run so far by every worker (and thread running services' messages inline).
    uint64_t messages_processed() const;
    // Mailboxes waiting in the global queue for a worker.
    size_t global_queue_length() const;
    // Every registered name with its handle (a snapshot, sorted by name).
    std::vector<std::pair<std::string, Handle>> names() const { return registry_.names(); }
    uint8_t node_id() const { return options_.node_id; }
    // The node's metric families and collectors (what /metrics renders), and its status board.
    MetricsRegistry& metrics() { return metrics_; }
    StatusBoard& board() { return board_; }

    // Runs `fn` on the calling thread when shutdown() begins, before workers stop; later
    // registrations run first. Subsystems owned elsewhere (the socket server) stop themselves here.
    void on_shutdown(std::function<void()> fn);

  private:
    friend class Scheduler;
    friend class Service;

    Service* find_live(Handle h) const;
    Service* acquire_shell();
    // Thread: the worker holding svc's mailbox, or any thread once workers are joined.
    void retire(Service* svc, Message* unprocessed, size_t n);
    void reply_error(Handle to, Handle from, int32_t session);
    // Runs m through svc's module with what `watch` (WatchFlag bits) asks around it: the
    // dispatcher's slow path, taken only for a watched service. Thread: the holder of svc's
    // mailbox.
    void run_watched(Service& svc, Message& m, uint8_t watch);
    // Ends every watch on svc (at its retirement). Thread: any.
    void unwatch(Service& svc);
    // Puts a mailbox in the global queue; wakes a worker when the caller is not one of ours.
    void schedule(Mailbox* mb);
    // Whether a caller that is not a worker may run the message itself, at once, when dest is
    // idle and opts in (Scheduler::run_here). With `no`, a guest thread may still run it later
    // from its slot (Scheduler::run_on_guest).
    enum class RunHere : uint8_t { no, if_idle };
    // Queues msg for dest (moving its payload) or, if dest is dead, answers a request with an
    // error. `wake`: see Scheduler::push.
    bool push(Handle dest, Message& msg, Wake wake, RunHere run_here = RunHere::no);

    NodeOptions options_;
    Config config_;
    Env env_;
    ModuleRegistry modules_;
    HandleRegistry registry_;
    MetricsRegistry metrics_;
    StatusBoard board_;
    std::unique_ptr<Scheduler> scheduler_;
    std::unique_ptr<Timer> timer_;
    std::unique_ptr<Monitor> monitor_;
    std::atomic<uint32_t> logger_{0};  // written by start/shutdown, read by log() anywhere
    std::atomic<uint8_t> log_level_;
    uint32_t starttime_ = 0;

    // Shells of retired services, reused by launch (see Service: type-stable memory).
    std::mutex pool_lock_;
    std::vector<std::unique_ptr<Service>> shells_;  // every shell ever made
    std::vector<Service*> free_shells_;
    // Held shared while a module is used from outside its worker (signal, memory, stats); held
    // exclusive while a module is destroyed.
    std::shared_mutex module_lock_;

    std::mutex stop_lock_;
    std::condition_variable stop_cv_;
    std::atomic<bool> stop_requested_{false};
    std::atomic<int> exit_code_{0};
    std::atomic<bool> started_{false};
    std::atomic<bool> shut_down_{false};
    std::vector<std::function<void()>> shutdown_hooks_;
};

}  // namespace skyhive
