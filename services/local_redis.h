#pragma once

// A redis-server the node starts for itself when its config names no Redis (the README's first
// command on a fresh machine): loopback only, data under a project folder, supervised while the
// node runs (reaped, logged and restarted on the same port and data when it dies), stopped with
// the node.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/config.h"
#include "core/log.h"
#include "core/result.h"

namespace skyhive {

// Identity type: not copyable.
// Thread: start(), stop() and the destructor on the owner thread; the accessors from any thread.
// The supervisor thread it runs is the only one that waits for the child (so the child's pid is
// never reused while this object may still signal it).
class LocalRedis {
  public:
    struct Options {
        // Data directory, created if missing. A config's comes resolved against the config
        // file's directory (services/config_loader.h); one set in code is taken from the cwd.
        std::string dir;
        int port = 0;                          // 0: a free port (kept across restarts)
        std::string program = "redis-server";  // looked up on PATH unless it contains a '/'
        std::chrono::milliseconds ready_timeout{10000};
        // The server's appendfsync: "always" (a write is in the append-only file and fsynced
        // before it is acknowledged) or "everysec" (faster; see docs/architecture.md).
        std::string appendfsync = "always";
        // Restart delay after a death: first `backoff_min`, doubled after each death or failed
        // restart up to `backoff_max`, back to `backoff_min` once a server stayed up
        // `stable_after`.
        std::chrono::milliseconds backoff_min{100};
        std::chrono::milliseconds backoff_max{5000};
        std::chrono::milliseconds stable_after{10000};
    };
    // Where the supervisor reports deaths and restarts. Called from the supervisor thread.
    using Log = std::function<void(LogLevel, const std::string&)>;

    // The options the config asks for: `local_redis` (the data directory), `local_redis_port` and
    // `local_redis_fsync`, when none of `redis`, `redis_sentinels`, `redis_cluster` is set and
    // local_redis is not false. Empty when the config wants no local server; an Error naming
    // file:line for a bad value.
    static Result<std::optional<Options>> from_config(const Config& config);

    // Starts the server, waits until it answers PING, then supervises it. Errors say what failed:
    // the program missing from PATH, the directory, the port in use (with the server's own log
    // line). The server dies with the thread that forked it (PR_SET_PDEATHSIG, so that it dies
    // with a killed node): the calling thread must live until stop().
    static Result<std::unique_ptr<LocalRedis>> start(Options options, Log log = {});
    // stop().
    ~LocalRedis();
    LocalRedis(const LocalRedis&) = delete;
    LocalRedis& operator=(const LocalRedis&) = delete;

    int port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    // The absolute data directory.
    const std::string& dir() const { return dir_; }
    // The running server's pid; -1 between a death and its restart, and after stop().
    pid_t pid() const;
    // How many times the server was restarted after a death.
    int restarts() const;

    // Ends supervision (no restart after this), then SIGTERM (the server writes its append-only
    // file and exits) and SIGKILL after 10 s. Returns how it ended, e.g. "exit code 0".
    // Idempotent.
    std::string stop();

  private:
    explicit LocalRedis(Options options, Log log);
    // Forks and execs the server, and waits until it answers PING. Thread: the owner before the
    // supervisor runs, then the supervisor.
    Result<void> launch();
    // Reaps the child if it exited. Thread: as launch().
    std::optional<int> try_reap();
    // Waits for the child's death and restarts it with backoff until stop().
    void supervise();
    void report(LogLevel level, const std::string& text) const;

    const Options options_;
    const Log log_;
    std::string program_;
    std::string dir_;
    int port_ = 0;

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    pid_t pid_ = -1;          // guarded by mutex_; reaped only under it
    bool stopping_ = false;   // guarded by mutex_
    bool finished_ = false;   // guarded by mutex_: the supervisor returned
    std::string how_ended_;   // guarded by mutex_: the last reaped exit, as text
    int restarts_ = 0;        // guarded by mutex_
    std::thread supervisor_;  // runs supervise() once start() succeeded
    std::thread::id owner_;   // the thread that called start()
};

}  // namespace skyhive
