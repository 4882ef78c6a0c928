#include "services/runtime.h"

#include <cassert>
#include <cstdio>
#include <thread>

#include "core/memory_stats.h"
#include "core/node.h"
#include "lualib/native/socket_driver.h"
#include "net/socket_server.h"
#include "services/builtin.h"
#include "services/config_keys.h"
#include "services/signals.h"

namespace skyhive {

namespace {

// Splits "module args..." (skynet's bootstrap syntax).
std::pair<std::string, std::string> split_command(const std::string& s) {
    size_t sp = s.find(' ');
    if (sp == std::string::npos) return {s, ""};
    size_t rest = s.find_first_not_of(' ', sp);
    return {s.substr(0, sp), rest == std::string::npos ? "" : s.substr(rest)};
}

// How long a clean stop waits for the cluster service to leave the membership. clusterd bounds
// its own Redis wait below this (services/lua/clusterd.lua, STOP_WAIT); this is the backstop.
constexpr std::chrono::milliseconds kClusterLeaveWait{1500};

void log_allocator(Node& node) {
    if (auto mem = allocator_stats()) {
        node.log(Handle(), LogLevel::info,
                 "allocator: jemalloc (allocated " + std::to_string(mem->allocated) +
                     " B, active " + std::to_string(mem->active) + " B, resident " +
                     std::to_string(mem->resident) + " B)");
    } else {
        node.log(Handle(), LogLevel::info, "allocator: system malloc (jemalloc not linked)");
    }
}

}  // namespace

Runtime::Runtime() = default;

Runtime::~Runtime() {
    stop();
}

Result<std::unique_ptr<Runtime>> Runtime::create(Config config) {
    // The whole config first: a bad value or an unknown key stops here, before anything starts.
    if (auto valid = validate_node_config(config); !valid) return valid.error();
    Signals::block();
    auto options = NodeOptions::from_config(config);
    if (!options) return options.error();
    std::unique_ptr<Runtime> r(new Runtime());
    r->owner_ = std::this_thread::get_id();
    r->bootstrap_ = *config.get("bootstrap");  // a required key: validated above
    auto local_redis = LocalRedis::from_config(config);
    if (!local_redis) return local_redis.error();
    r->local_redis_options_ = std::move(local_redis.value());
    // How long a service registered as ".shutdown" may take to stop the node itself after
    // SIGINT/SIGTERM (the game saves its players); 0 stops at once.
    auto shutdown_timeout = config.get_int("shutdown_timeout", 10000, 0, 3600000);
    if (!shutdown_timeout) return shutdown_timeout.error();
    r->shutdown_timeout_ = std::chrono::milliseconds(shutdown_timeout.value());

    // The write-queue high-water mark of every socket: its owner is warned when that many KB
    // wait to be sent (skynet's 1 MB by default) and decides what to do (the game's agents stop
    // reading the client, then drop it).
    auto warning_kb = config.get_int("socket_warning_kb", 1024, 1, 1 << 22);
    if (!warning_kb) return warning_kb.error();
    // How long the socket thread polls for more after a round before it blocks
    // (SocketServerOptions::spin_us); 0 blocks at once, as skynet.
    auto socket_spin = config.get_int("socket_spin", 0, 0, 10'000);
    if (!socket_spin) return socket_spin.error();
    // A worker's socket writes go out at the end of its batch of messages, the socket thread's
    // at the end of its round (SocketServerOptions::batch_writes); false writes each at once,
    // as skynet.
    auto batch_writes = config.get_bool("socket_batch_writes", true);
    if (!batch_writes) return batch_writes.error();

    r->node_ = std::make_unique<Node>(std::move(options.value()), std::move(config));
    // The node's sockets: events go to services through the node; conditions worth a line
    // (accepts paused for lack of descriptors) go to its log.
    Node& node = *r->node_;
    net::SocketServerOptions socket_options;
    socket_options.log = [&node](std::string_view line) {
        node.log(Handle(), LogLevel::warn, line);
    };
    socket_options.warning_bytes = uint64_t(warning_kb.value()) * 1024;
    socket_options.spin_us = uint32_t(socket_spin.value());
    socket_options.batch_writes = batch_writes.value();
    r->sockets_ = std::make_unique<net::SocketServer>(node, std::move(socket_options));
    r->socket_driver_ = std::make_unique<SocketDriver>(*r->sockets_);
    register_builtin_modules(node, r->socket_driver_.get());
    return r;
}

Result<void> Runtime::start_parts() {
    Node& node = *node_;
    if (auto started = node.start(); !started) return started.error();
    node_started_ = true;
    // No Redis configured but a local one wanted: start redis-server before any service needs
    // it; stop() stops it after the sockets closed, when every service has saved what it had to.
    if (local_redis_options_) {
        auto started = LocalRedis::start(
            std::move(*local_redis_options_),
            [&node](LogLevel level, const std::string& line) { node.log(Handle(), level, line); });
        if (!started) {
            node.log(Handle(), LogLevel::error, started.error().message);
            return started.error();
        }
        local_redis_ = std::move(started.value());
        node.env().put("redis", local_redis_->address());
        node.log(Handle(), LogLevel::info,
                 "started local redis-server on " + local_redis_->address() + " (pid " +
                     std::to_string(local_redis_->pid()) + ", data in " + local_redis_->dir() +
                     ")");
    }
    // Before the first service, so a bootstrap that listens finds the socket thread running.
    if (auto started = sockets_->start(); !started)
        return Error{"socket server: " + started.error().message};
    signals_ = std::make_unique<Signals>(node, shutdown_timeout_);
    return {};
}

int Runtime::run() {
    if (auto started = start(); !started)
        std::fprintf(stderr, "skyhive: %s\n", started.error().message.c_str());
    return wait();
}

Result<void> Runtime::start() {
    assert(std::this_thread::get_id() == owner_ && "Runtime::start: not the thread of create()");
    if (auto started = start_parts(); !started) {
        stop();
        start_failed_ = true;
        return started.error();
    }
    Node& node = *node_;
    log_allocator(node);
    auto [module, args] = split_command(bootstrap_);
    if (auto boot = node.launch(module, args); !boot) {
        node.log(Handle(), LogLevel::error,
                 "bootstrap '" + bootstrap_ + "' failed: " + boot.error().message);
        bootstrap_failed_ = true;
        node.request_stop();
    }
    return {};
}

int Runtime::wait() {
    assert(std::this_thread::get_id() == owner_ && "Runtime::wait: not the thread of create()");
    if (start_failed_) return 1;  // start() stopped what it had started
    node_->wait_for_stop();
    leave_cluster();
    stop();
    return bootstrap_failed_ ? 1 : node_->exit_code();
}

void Runtime::leave_cluster() {
    // Whatever asked for the stop (SIGTERM, skynet.abort), the node is still whole here: workers
    // and sockets run. ".clusterd" gets the text "stop", leaves the membership (peers see this
    // node go now, not after cluster_ttl), closes its links and exits; its name goes with it.
    // There is no reply to await from outside a service, so the name is polled, briefly.
    Node& node = *node_;
    const Handle clusterd = node.query_name(".clusterd");
    if (!clusterd || !node.send(Handle(), clusterd, MessageType::text, 0, Payload::copy("stop")))
        return;
    const auto deadline = std::chrono::steady_clock::now() + kClusterLeaveWait;
    while (node.query_name(".clusterd") == clusterd) {
        if (std::chrono::steady_clock::now() >= deadline) {
            node.log(Handle(), LogLevel::warn,
                     "clusterd did not leave the cluster within " +
                         std::to_string(kClusterLeaveWait.count()) + " ms: stopping anyway");
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

void Runtime::stop() {
    if (signals_) signals_->stop();
    // Sockets close while the services are still there; no event is sent for them.
    if (sockets_) sockets_->stop();
    if (local_redis_) {
        std::string address = local_redis_->address();
        std::string how = local_redis_->stop();
        node_->log(Handle(), LogLevel::info,
                   "stopped local redis-server on " + address + " (" + how + ")");
        local_redis_.reset();
    }
    if (node_ && node_started_) node_->shutdown();
}

}  // namespace skyhive
