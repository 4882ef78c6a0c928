#include "core/node.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "core/deferred.h"
#include "core/logger.h"
#include "core/monitor.h"
#include "core/node_metrics.h"
#include "core/scheduler.h"
#include "core/timer.h"

namespace skyhive {

namespace {
// A request expects a response; only requests get error replies when they cannot be served.
bool is_request(const Message& m) {
    return m.session > 0 && m.type != MessageType::response && m.type != MessageType::error;
}
}  // namespace

Result<NodeOptions> NodeOptions::from_config(const Config& config) {
    NodeOptions o;
    auto threads = config.get_int("thread", 2, 1, 64);
    if (!threads) return threads.error();
    o.threads = int(threads.value());
    auto spin = config.get_int("worker_spin", o.spin_us, 0, 100'000);
    if (!spin) return spin.error();
    o.spin_us = int(spin.value());
    auto budget = config.get_int("socket_inline_budget", o.guest_budget_us, 1, 1'000'000);
    if (!budget) return budget.error();
    o.guest_budget_us = int(budget.value());
    auto limit = config.get_int("socket_inline_limit", o.guest_overrun_ms, 1, 60'000);
    if (!limit) return limit.error();
    o.guest_overrun_ms = int(limit.value());
    auto harbor = config.get_int("harbor", 0, 0, 255);
    if (!harbor) return harbor.error();
    o.node_id = uint8_t(harbor.value());
    auto threshold = config.get_int("monitor_threshold", 5000, 10, 3'600'000);
    if (!threshold) return threshold.error();
    o.monitor_threshold_ms = uint32_t(threshold.value());
    o.logger = config.get("logger").value_or("");
    // skynet's logpath: the directory log files live in; a relative `logger` is taken from there.
    if (auto dir = config.get("logpath");
        dir && !dir->empty() && !o.logger.empty() && o.logger[0] != '/')
        o.logger = *dir + "/" + o.logger;
    o.cpath = config.get("cpath").value_or("");
    auto logon_kb =
        config.get_int("logon_limit_kb", int64_t(o.logon_limit >> 10), 1, int64_t(1) << 30);
    if (!logon_kb) return logon_kb.error();
    o.logon_limit = uint64_t(logon_kb.value()) << 10;
    if (auto level = config.get("loglevel")) {
        auto parsed = parse_log_level(*level);
        if (!parsed) return config.invalid("loglevel", "expected debug, info, warn or error");
        o.log_level = *parsed;
    }
    return o;
}

Node::Node(NodeOptions options, Config config)
    : options_(std::move(options)),
      config_(std::move(config)),
      registry_(options_.node_id),
      log_level_(uint8_t(options_.log_level)) {
    for (const auto& [key, entry] : config_.entries())
        env_.put(key, entry.value);
    modules_.add("logger", make_logger);
    modules_.set_cpath(options_.cpath);
    scheduler_ = std::make_unique<Scheduler>(*this, options_.threads, options_.spin_us,
                                             options_.guest_budget_us, options_.guest_overrun_ms);
    timer_ = std::make_unique<Timer>([this](std::vector<TimerEvent>& due) {
        for (const TimerEvent& ev : due) {
            Message m{Handle(), ev.session, MessageType::response, Payload()};
            push(ev.handle, m, Wake::deferred);
        }
        scheduler_->notify();
    });
    monitor_ = std::make_unique<Monitor>(*this, *scheduler_, options_.monitor_threshold_ms);
    add_node_metrics(*this);
}

Node::~Node() {
    shutdown();
}

Result<void> Node::start() {
    if (started_.exchange(true)) return Error{"node already started"};
    starttime_ = uint32_t(std::time(nullptr));
    auto logger = launch("logger", options_.logger);
    if (!logger) return Error{"cannot start the logger: " + logger.error().message};
    logger_.store(logger.value().value, std::memory_order_release);
    scheduler_->start();
    timer_->start();
    monitor_->start();
    return {};
}

void Node::on_shutdown(std::function<void()> fn) {
    std::lock_guard guard(stop_lock_);
    shutdown_hooks_.push_back(std::move(fn));
}

void Node::shutdown() {
    if (shut_down_.exchange(true)) return;
    std::vector<std::function<void()>> hooks;
    {
        std::lock_guard guard(stop_lock_);
        hooks.swap(shutdown_hooks_);
    }
    for (auto it = hooks.rbegin(); it != hooks.rend(); ++it)
        (*it)();
    monitor_->stop();
    timer_->stop();
    scheduler_->stop();
    // No worker runs now: this thread may retire every service. Newest first, the logger last, so
    // the release of every other service can still log.
    const Handle logger(logger_.load(std::memory_order_acquire));
    std::vector<Handle> live = registry_.list();
    for (auto it = live.rbegin(); it != live.rend(); ++it)
        if (*it != logger)
            if (Service* s = find_live(*it)) retire(s, nullptr, 0);
    if (Service* s = find_live(logger)) {
        // Write what is still queued for the logger before it goes.
        Message batch[16];
        while (size_t n = s->mailbox_.pop(batch, 16))
            for (size_t i = 0; i < n; ++i)
                s->module_->on_message(*s, batch[i]);
        logger_.store(0, std::memory_order_release);
        retire(s, nullptr, 0);
    }
    request_stop();
}

void Node::request_stop(int exit_code) {
    if (exit_code != 0) {
        int expected = 0;
        exit_code_.compare_exchange_strong(expected, exit_code, std::memory_order_acq_rel);
    }
    {
        std::lock_guard guard(stop_lock_);
        stop_requested_.store(true, std::memory_order_release);
    }
    stop_cv_.notify_all();
}

void Node::wait_for_stop() {
    std::unique_lock guard(stop_lock_);
    stop_cv_.wait(guard, [this] { return stop_requested_.load(std::memory_order_acquire); });
}

Service* Node::acquire_shell() {
    std::lock_guard guard(pool_lock_);
    if (!free_shells_.empty()) {
        Service* s = free_shells_.back();
        free_shells_.pop_back();
        return s;
    }
    shells_.push_back(std::make_unique<Service>(*this));
    return shells_.back().get();
}

Result<Handle> Node::launch(std::string_view module, std::string_view args) {
    if (shut_down_.load(std::memory_order_acquire)) return Error{"node is shutting down"};
    auto instance = modules_.create(module);
    if (!instance) return instance.error();
    Service* s = acquire_shell();
    s->module_ = std::move(instance.value());
    s->module_name_ = std::string(module);
    s->args_ = std::string(args);
    s->session_ = 0;
    s->initialised_ = false;
    // A reused shell starts counting from zero (every ServiceStats field).
    s->stats_.messages.store(0, std::memory_order_relaxed);
    s->stats_.cpu_cycles.store(0, std::memory_order_relaxed);
    s->stats_.inline_messages.store(0, std::memory_order_relaxed);
    Handle h = registry_.insert(s);
    if (!h) {
        s->module_.reset();
        std::lock_guard guard(pool_lock_);
        free_shells_.push_back(s);
        return Error{"cannot launch '" + std::string(module) + "': too many services"};
    }
    s->handle_.store(h.value, std::memory_order_release);
    s->mailbox_.open(h);  // held: messages queue up but nobody runs them until init is done
    if (!s->module_->init(*s, args)) {
        retire(s, nullptr, 0);
        return Error{"launch of '" + std::string(module) + "' failed in init (args '" +
                     std::string(args) + "')"};
    }
    s->initialised_ = true;
    if (s->mailbox_.finish()) schedule(&s->mailbox_);
    return h;
}

bool Node::kill(Handle h) {
    Service* s = registry_.find(h);
    if (!s) return false;
    switch (s->mailbox_.request_retire(h)) {
        case Mailbox::Push::closed:
            return false;
        case Mailbox::Push::schedule:
            schedule(&s->mailbox_);
            return true;
        case Mailbox::Push::queued:
            return true;
    }
    return false;
}

void Node::retire(Service* s, Message* unprocessed, size_t n) {
    // The holder of s's mailbox (a worker, or the launcher before it releases the mailbox), or
    // any thread once shutdown has joined the workers.
    assert((shut_down_.load(std::memory_order_acquire) || s->mailbox_.held()) &&
           "Node::retire: only the thread holding the service's mailbox");
    assert((shut_down_.load(std::memory_order_acquire) || !scheduler_->on_worker() ||
            s->mailbox_.retiring() || !s->initialised_) &&
           "Node::retire on a worker: only for a service asked to retire");
    Handle h = s->handle();
    if (s->initialised_) s->module_->release(*s);
    s->mailbox_.close();
    registry_.erase(h);
    for (size_t i = 0; i < n; ++i)
        if (is_request(unprocessed[i]))
            reply_error(unprocessed[i].source, h, unprocessed[i].session);
    Message batch[32];
    while (size_t got = s->mailbox_.pop(batch, 32))
        for (size_t i = 0; i < got; ++i)
            if (is_request(batch[i])) reply_error(batch[i].source, h, batch[i].session);
    {
        std::unique_lock guard(module_lock_);
        unwatch(*s);
        s->module_.reset();
        s->handle_.store(0, std::memory_order_release);
    }
    std::lock_guard guard(pool_lock_);
    free_shells_.push_back(s);
}

void Node::reply_error(Handle to, Handle from, int32_t session) {
    if (!to) return;
    Message m{from, session, MessageType::error, Payload()};
    push(to, m, scheduler_->wake_for_caller());
}

void Node::schedule(Mailbox* mb) {
    scheduler_->push(mb, scheduler_->wake_for_caller());
}

bool Node::push(Handle dest, Message& msg, Wake wake, RunHere run_here) {
    // What this thread's batch put off happens before the message can be seen.
    deferred::flush();
    Service* s = registry_.find(dest);
    if (s) {
        switch (s->mailbox_.push(dest, msg)) {
            case Mailbox::Push::queued:
                return true;
            case Mailbox::Push::schedule:
                // We hold the idle service now, so its module is stable and may run right here:
                // a socket event, or anything the socket thread sends (Scheduler::run_on_guest).
                if (wake == Wake::now && s->module_->inline_socket_events() &&
                    (run_here == RunHere::if_idle ? scheduler_->run_here(&s->mailbox_)
                                                  : scheduler_->run_on_guest(&s->mailbox_))) {
                    return true;
                }
                scheduler_->push(&s->mailbox_, wake);
                return true;
            case Mailbox::Push::closed:
                break;
        }
    }
    if (is_request(msg)) reply_error(msg.source, dest, msg.session);
    return false;
}

bool Node::send(Handle source, Handle dest, MessageType type, int32_t session, Payload payload) {
    Message m{source, session, type, std::move(payload)};
    return push(dest, m, scheduler_->wake_for_caller());
}

bool Node::deliver(Handle dest, Message msg) {
    if (scheduler_->on_worker()) return push(dest, msg, Wake::deferred);
    const bool inline_type = msg.type == MessageType::socket || msg.type == MessageType::client;
    return push(dest, msg, Wake::now, inline_type ? RunHere::if_idle : RunHere::no);
}

void Node::hold_wakes() {
    scheduler_->hold_wakes();
}

void Node::release_wakes() {
    scheduler_->release_wakes();
}

uint64_t Node::timeout(Handle h, int centiseconds, int32_t session) {
    if (centiseconds <= 0) {
        send(Handle(), h, MessageType::response, session, Payload());
        return now();
    }
    return timer_->add(h, session, uint64_t(centiseconds));
}

uint64_t Node::now() const {
    return timer_->now();
}

uint64_t Node::monitor_reports() const {
    return monitor_->reports();
}

uint64_t Node::messages_processed() const {
    return scheduler_->messages();
}

size_t Node::global_queue_length() const {
    return scheduler_->queue_length();
}

bool Node::register_name(std::string_view name, Handle h) {
    if (!find_live(h)) return false;
    return registry_.bind_name(name, h);
}

Handle Node::resolve(std::string_view address) const {
    if (!address.empty() && address[0] == ':') {
        uint32_t v = 0;
        auto [end, ec] =
            std::from_chars(address.data() + 1, address.data() + address.size(), v, 16);
        if (ec != std::errc() || end != address.data() + address.size()) return {};
        return Handle(v);
    }
    return registry_.find_name(address);
}

Service* Node::find_live(Handle h) const {
    Service* s = registry_.find(h);
    return s && s->handle() == h ? s : nullptr;
}

void Node::for_each_service(const std::function<void(Service&)>& fn) {
    for (Handle h : registry_.list())
        with_service(h, fn);
}

bool Node::with_service(Handle h, const std::function<void(Service&)>& fn) {
    std::shared_lock guard(module_lock_);
    Service* s = find_live(h);
    if (!s) return false;
    fn(*s);
    return true;
}

bool Node::signal(Handle h, int sig) {
    std::shared_lock guard(module_lock_);
    Service* s = find_live(h);
    if (!s || !s->module_) return false;
    s->module_->signal(sig);
    return true;
}

void Node::log(Handle source, LogLevel level, std::string_view text) {
    if (uint8_t(level) < log_level_.load(std::memory_order_relaxed)) return;
    Handle logger(logger_.load(std::memory_order_acquire));
    if (logger) {
        Message m{source, LoggerModule::session_for(level), MessageType::text, Payload::copy(text)};
        if (push(logger, m, scheduler_->wake_for_caller())) return;
    }
    std::string line = LoggerModule::format(source.value, level, text);
    std::fprintf(stderr, "%s\n", line.c_str());
}

void Node::reopen_log() {
    Handle logger(logger_.load(std::memory_order_acquire));
    if (logger) send(Handle(), logger, MessageType::system, 0, Payload::copy("reopen"));
}

}  // namespace skyhive
