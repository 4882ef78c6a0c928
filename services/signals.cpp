#include "services/signals.h"

#include <cerrno>
#include <string>

#include "core/node.h"

namespace skyhive {

namespace {

sigset_t node_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}

}  // namespace

void Signals::block() {
    sigset_t set = node_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

Signals::Signals(Node& node, std::chrono::milliseconds shutdown_timeout)
    : node_(node), shutdown_timeout_(shutdown_timeout), set_(node_signals()) {
    thread_ = std::thread([this] { run(); });
}

Signals::~Signals() {
    stop();
}

void Signals::stop() {
    if (!thread_.joinable()) return;
    exiting_.store(true, std::memory_order_release);
    // The thread may be in sigwait (the stop came from elsewhere): wake it. SIGHUP is blocked
    // everywhere, so it is taken by sigwait and not acted on once exiting_ is set.
    pthread_kill(thread_.native_handle(), SIGHUP);
    thread_.join();
}

void Signals::run() {
    for (;;) {
        int sig = 0;
        if (sigwait(&set_, &sig) != 0) continue;
        if (exiting_.load(std::memory_order_acquire)) return;
        if (sig == SIGHUP) {
            node_.reopen_log();
            continue;
        }
        node_.log(
            Handle(), LogLevel::info,
            std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", shutting down");
        wait_for_finisher();
        if (exiting_.load(std::memory_order_acquire)) return;
        node_.request_stop();
        return;
    }
}

void Signals::wait_for_finisher() {
    // A service that must finish its work first (the game saves its players) registers as
    // ".shutdown": it gets the text "shutdown" and stops the node itself.
    const long timeout_ms = long(shutdown_timeout_.count());
    Handle finisher = node_.query_name(".shutdown");
    if (!finisher || timeout_ms <= 0 ||
        !node_.send(Handle(), finisher, MessageType::text, 0, Payload::copy("shutdown")))
        return;
    timespec left{timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
    auto deadline = std::chrono::steady_clock::now() + shutdown_timeout_;
    for (;;) {
        int got = sigtimedwait(&set_, nullptr, &left);
        if (exiting_.load(std::memory_order_acquire)) return;
        if (got == SIGINT || got == SIGTERM) {
            node_.log(Handle(), LogLevel::warn, "second signal: stopping at once");
            return;
        }
        if (got == SIGHUP) node_.reopen_log();
        auto rest = deadline - std::chrono::steady_clock::now();
        if (got < 0 && errno == EAGAIN) rest = rest.zero();
        if (rest <= rest.zero()) {
            node_.log(Handle(), LogLevel::warn,
                      ".shutdown did not stop the node within " + std::to_string(timeout_ms) +
                          " ms: stopping at once");
            return;
        }
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(rest).count();
        left = timespec{time_t(ns / 1000000000), long(ns % 1000000000)};
    }
}

}  // namespace skyhive
