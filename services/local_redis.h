#pragma once

// A redis-server the node starts for itself when its config names no Redis (the README's first
// command on a fresh machine): loopback only, data under a project folder, stopped with the node.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/result.h"

namespace skyhive {

// Thread: the owner (the binary's main thread). Identity type: not copyable.
class LocalRedis {
  public:
    struct Options {
        std::string dir;  // data directory, created if missing (relative: to the cwd)
        int port = 0;     // 0: a free port
        std::string program = "redis-server";  // looked up on PATH unless it contains a '/'
        std::chrono::milliseconds ready_timeout{10000};
    };

    // The options the config asks for: `local_redis` (the data directory) and
    // `local_redis_port`, when neither `redis` nor `redis_sentinels` is set and local_redis is
    // not false. Empty when the config wants no local server; an Error naming file:line for a bad
    // value.
    static Result<std::optional<Options>> from_config(const Config& config);

    // Starts the server and waits until it answers PING. Errors say what failed: the program
    // missing from PATH, the directory, the port in use (with the server's own log line).
    static Result<std::unique_ptr<LocalRedis>> start(Options options);
    // Stops the server if it still runs.
    ~LocalRedis();
    LocalRedis(const LocalRedis&) = delete;
    LocalRedis& operator=(const LocalRedis&) = delete;

    int port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    // The absolute data directory.
    const std::string& dir() const { return dir_; }
    pid_t pid() const { return pid_; }

    // SIGTERM (the server writes its append-only file and exits), then SIGKILL after 10 s.
    // Returns how it ended, e.g. "exit code 0". Idempotent.
    std::string stop();

  private:
    LocalRedis() = default;
    Result<void> launch(const std::string& program, std::chrono::milliseconds ready_timeout);

    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace skyhive
