// Node's part of watching a service from the debug console: logon/logoff (every message to a
// file) and trace (each message's timing in the log). The dispatcher checks Service::watching()
// once per message and comes here only when a bit is set.
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <system_error>

#include "core/clock.h"
#include "core/node.h"

namespace skyhive {

namespace {
std::string address_of(Handle h) {
    char text[16];
    std::snprintf(text, sizeof text, ":%08x", h.value);
    return text;
}

Error gone(Handle h) {
    return Error{"no service " + address_of(h)};
}
}  // namespace

Result<std::string> Node::logon(Handle h) {
    const std::string dir = env_.get("logpath").value_or("");
    if (dir.empty()) return Error{"set logpath in the config (the directory message logs go to)"};
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error{"cannot make logpath " + dir + ": " + ec.message()};
    char name[16];
    std::snprintf(name, sizeof name, "%08x.log", h.value);
    const std::string path = dir + "/" + name;
    std::shared_lock guard(module_lock_);  // svc stays h while we hold it (retire takes it)
    Service* svc = find_live(h);
    if (!svc) return gone(h);
    std::lock_guard watch(svc->watch_lock_);
    if (svc->message_log_)
        return Error{address_of(h) + " is already logged to " + svc->message_log_->path()};
    std::string what = address_of(h) + " (" + svc->module_name_ +
                       (svc->args_.empty() ? "" : " " + svc->args_) + ")";
    auto log = MessageLog::open(path, options_.logon_limit, what);
    if (!log) return log.error();
    svc->message_log_ = std::move(log.value());
    svc->watch_.fetch_or(kWatchLog, std::memory_order_relaxed);
    return path;
}

Result<std::string> Node::logoff(Handle h) {
    std::shared_lock guard(module_lock_);
    Service* svc = find_live(h);
    if (!svc) return gone(h);
    std::lock_guard watch(svc->watch_lock_);
    if (!svc->message_log_) return Error{address_of(h) + " is not logged"};
    std::string path = svc->message_log_->path();
    svc->watch_.fetch_and(uint8_t(~kWatchLog), std::memory_order_relaxed);
    svc->message_log_.reset();
    return path;
}

Result<void> Node::trace(Handle h, bool on) {
    if (h == Handle(logger_.load(std::memory_order_acquire)))
        return Error{"the logger cannot be traced: its trace lines would be messages to itself"};
    std::shared_lock guard(module_lock_);
    Service* svc = find_live(h);
    if (!svc) return gone(h);
    std::lock_guard watch(svc->watch_lock_);
    if (on)
        svc->watch_.fetch_or(kWatchTrace, std::memory_order_relaxed);
    else
        svc->watch_.fetch_and(uint8_t(~kWatchTrace), std::memory_order_relaxed);
    return {};
}

void Node::unwatch(Service& svc) {
    std::lock_guard watch(svc.watch_lock_);
    svc.watch_.store(0, std::memory_order_relaxed);
    svc.message_log_.reset();
}

void Node::run_watched(Service& svc, Message& m, uint8_t watch) {
    const uint32_t bytes = m.payload.size();
    if (watch & kWatchLog) {
        std::string full;  // the path of a log that just reached its limit
        {
            std::lock_guard guard(svc.watch_lock_);
            if (svc.message_log_ && !svc.message_log_->write(m, now())) {
                full = svc.message_log_->path();
                svc.watch_.fetch_and(uint8_t(~kWatchLog), std::memory_order_relaxed);
                svc.message_log_.reset();
            }
        }
        if (!full.empty())
            log(svc.handle(), LogLevel::warn,
                "logon: message log " + full + " reached its limit of " +
                    std::to_string(options_.logon_limit) + " bytes; logging stopped");
    }
    const uint64_t start = cycle_now();
    svc.module_->on_message(svc, m);
    if (watch & kWatchTrace) {
        const double ms = double(cycles_to_ns(cycle_now() - start)) / 1e6;
        char line[160];
        std::snprintf(line, sizeof line, "trace: %s from :%08x session %d, %u bytes: %.3f ms",
                      to_string(m.type), m.source.value, m.session, bytes, ms);
        log(svc.handle(), LogLevel::info, line);
    }
}

}  // namespace skyhive
