#pragma once

// Helpers shared by the core tests: a module made of lambdas, an inbox module, and waiting for a
// condition with a deadline (never a sleep used as synchronisation).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/module.h"
#include "core/node.h"
#include "core/service.h"

namespace skyhive::test {

struct FnModule : Module {
    std::function<bool(Service&, std::string_view)> on_init;
    std::function<void(Service&, Message&)> on_msg;
    std::function<void(int)> on_signal;
    std::function<void(Service&)> on_release;
    bool inline_events = false;                // Module::inline_socket_events
    std::function<void(uint64_t)> on_overrun;  // Module::inline_overrun (keeps opting in)

    bool init(Service& s, std::string_view args) override {
        return on_init ? on_init(s, args) : true;
    }
    void on_message(Service& s, Message& m) override {
        if (on_msg) on_msg(s, m);
    }
    void signal(int sig) override {
        if (on_signal) on_signal(sig);
    }
    void release(Service& s) override {
        if (on_release) on_release(s);
    }
    bool inline_socket_events() const override { return inline_events; }
    bool inline_overrun(Service&, uint64_t ms) override {
        if (on_overrun) on_overrun(ms);
        return false;
    }
};

// Registers a module named `name` whose instances run `msg` for every message.
inline void add_fn_module(Node& node, const std::string& name,
                          std::function<void(Service&, Message&)> msg,
                          std::function<bool(Service&, std::string_view)> init = {}) {
    node.modules().add(name, [msg, init] {
        auto m = std::make_unique<FnModule>();
        m->on_msg = msg;
        m->on_init = init;
        return m;
    });
}

// Records every message it receives (for error-reply and response checks).
struct Inbox {
    std::mutex lock;
    std::vector<Message> messages;
    size_t size() {
        std::lock_guard g(lock);
        return messages.size();
    }
};

// Registers a module named "inbox" whose instances append every message to `inbox`.
inline void add_inbox_module(Node& node, Inbox& inbox) {
    add_fn_module(node, "inbox", [&inbox](Service&, Message& m) {
        std::lock_guard g(inbox.lock);
        inbox.messages.push_back(std::move(m));
    });
}

// Polls `cond` until it holds or `timeout` passes; returns its last value.
inline bool wait_until(const std::function<bool()>& cond,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > deadline) return cond();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

inline NodeOptions quiet_options(int threads = 2) {
    NodeOptions o;
    o.threads = threads;
    o.log_level = LogLevel::error;
    return o;
}

#if defined(SKYHIVE_SANITIZED)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

}  // namespace skyhive::test
