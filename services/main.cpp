// skyhive: runs one node from a config file.
//   skyhive [config.lua]       (default: config/default.lua)
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "core/config.h"
#include "core/memory_stats.h"
#include "core/node.h"
#include "lualib/native/socket_driver.h"
#include "net/socket_server.h"
#include "services/builtin.h"
#include "services/config_keys.h"
#include "services/local_redis.h"

using namespace skyhive;

namespace {

// Splits "module args..." (skynet's bootstrap syntax).
std::pair<std::string, std::string> split_command(const std::string& s) {
    size_t sp = s.find(' ');
    if (sp == std::string::npos) return {s, ""};
    size_t rest = s.find_first_not_of(' ', sp);
    return {s.substr(0, sp), rest == std::string::npos ? "" : s.substr(rest)};
}

}  // namespace

int main(int argc, char** argv) {
    std::string path = argc > 1 ? argv[1] : "config/default.lua";
    auto config = Config::load(path);
    if (!config) {
        std::fprintf(stderr, "skyhive: %s\n", config.error().message.c_str());
        return 2;
    }
    if (auto valid = validate_node_config(config.value()); !valid) {
        std::fprintf(stderr, "skyhive: %s\n", valid.error().message.c_str());
        return 2;
    }
    auto options = NodeOptions::from_config(config.value());
    if (!options) {
        std::fprintf(stderr, "skyhive: %s\n", options.error().message.c_str());
        return 2;
    }
    std::string bootstrap = config->get("bootstrap").value_or("demo");
    auto local_redis_options = LocalRedis::from_config(config.value());
    if (!local_redis_options) {
        std::fprintf(stderr, "skyhive: %s\n", local_redis_options.error().message.c_str());
        return 2;
    }
    // How long a service registered as ".shutdown" may take to stop the node itself after
    // SIGINT/SIGTERM (the game saves its players); 0 stops at once.
    auto shutdown_timeout = config->get_int("shutdown_timeout", 10000, 0, 3600000);
    if (!shutdown_timeout) {
        std::fprintf(stderr, "skyhive: %s\n", shutdown_timeout.error().message.c_str());
        return 2;
    }

    // Every thread inherits this mask; only the signal thread below receives these signals.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    Node node(std::move(options.value()), std::move(config.value()));
    // The node's sockets: events go to services through the node; conditions worth a line
    // (accepts paused for lack of descriptors) go to its log.
    net::SocketServer sockets(node, net::SocketServerOptions{[&node](std::string_view line) {
                                  node.log(Handle(), LogLevel::warn, line);
                              }});
    SocketDriver socket_driver(sockets);
    register_builtin_modules(node, &socket_driver);
    if (auto started = node.start(); !started) {
        std::fprintf(stderr, "skyhive: %s\n", started.error().message.c_str());
        return 1;
    }
    // No Redis configured but a local one wanted: start redis-server before any service needs
    // it, and stop it after the sockets closed (hooks run newest first), when every service has
    // saved what it had to.
    std::unique_ptr<LocalRedis> local_redis;
    if (local_redis_options.value()) {
        auto started = LocalRedis::start(std::move(*local_redis_options.value()));
        if (!started) {
            std::fprintf(stderr, "skyhive: %s\n", started.error().message.c_str());
            node.log(Handle(), LogLevel::error, started.error().message);
            node.shutdown();
            return 1;
        }
        local_redis = std::move(started.value());
        node.env().put("redis", local_redis->address());
        node.log(Handle(), LogLevel::info,
                 "started local redis-server on " + local_redis->address() + " (data in " +
                     local_redis->dir() + ")");
        node.on_shutdown([&node, &local_redis] {
            std::string address = local_redis->address();
            std::string how = local_redis->stop();
            node.log(Handle(), LogLevel::info,
                     "stopped local redis-server on " + address + " (" + how + ")");
        });
    }
    // Before the first service, so a bootstrap that listens finds the socket thread running.
    if (auto started = sockets.start(); !started) {
        std::fprintf(stderr, "skyhive: socket server: %s\n", started.error().message.c_str());
        node.shutdown();
        return 1;
    }
    // Sockets close while the services are still there; no event is sent for them.
    node.on_shutdown([&sockets] { sockets.stop(); });

    std::atomic<bool> exiting{false};
    const long timeout_ms = long(shutdown_timeout.value());
    std::thread signal_thread([&node, &exiting, signals, timeout_ms] {
        for (;;) {
            int sig = 0;
            if (sigwait(&signals, &sig) != 0) continue;
            if (exiting.load()) return;
            if (sig == SIGHUP) {
                node.reopen_log();
                continue;
            }
            node.log(Handle(), LogLevel::info,
                     std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                         ", shutting down");
            // A service that must finish its work first (the game saves its players) registers
            // as ".shutdown": it gets the text "shutdown" and stops the node itself. A second
            // signal, or the timeout, stops the node at once.
            Handle finisher = node.query_name(".shutdown");
            if (finisher && timeout_ms > 0 &&
                node.send(Handle(), finisher, MessageType::text, 0, Payload::copy("shutdown"))) {
                timespec left{timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
                auto deadline =
                    std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
                for (;;) {
                    int got = sigtimedwait(&signals, nullptr, &left);
                    if (exiting.load()) return;
                    if (got == SIGINT || got == SIGTERM) {
                        node.log(Handle(), LogLevel::warn, "second signal: stopping at once");
                        break;
                    }
                    if (got == SIGHUP) node.reopen_log();
                    auto rest = deadline - std::chrono::steady_clock::now();
                    if (got < 0 && errno == EAGAIN) rest = rest.zero();
                    if (rest <= rest.zero()) {
                        node.log(Handle(), LogLevel::warn,
                                 ".shutdown did not stop the node within " +
                                     std::to_string(timeout_ms) + " ms: stopping at once");
                        break;
                    }
                    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(rest).count();
                    left = timespec{time_t(ns / 1000000000), long(ns % 1000000000)};
                }
            }
            node.request_stop();
            return;
        }
    });

    if (auto mem = allocator_stats()) {
        node.log(Handle(), LogLevel::info,
                 "allocator: jemalloc (allocated " + std::to_string(mem->allocated) +
                     " B, active " + std::to_string(mem->active) + " B, resident " +
                     std::to_string(mem->resident) + " B)");
    } else {
        node.log(Handle(), LogLevel::info, "allocator: system malloc (jemalloc not linked)");
    }

    auto [module, args] = split_command(bootstrap);
    auto boot = node.launch(module, args);
    int code = 0;
    if (!boot) {
        node.log(Handle(), LogLevel::error,
                 "bootstrap '" + bootstrap + "' failed: " + boot.error().message);
        code = 1;
        node.request_stop();
    }
    node.wait_for_stop();
    node.shutdown();
    // The signal thread may still be in sigwait (the stop came from elsewhere): wake it.
    exiting.store(true);
    pthread_kill(signal_thread.native_handle(), SIGHUP);
    signal_thread.join();
    return code != 0 ? code : node.exit_code();
}
