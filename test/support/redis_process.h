#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "redis/probe.h"

namespace skyhive::test {

// A real redis-server or redis-sentinel process for a test: started on a free loopback port in a
// fresh temporary directory, stopped (SIGTERM, then SIGKILL) and its directory removed when the
// object dies. Nothing depends on a server left running by hand.
//
// Thread: one owner thread.
class RedisProcess {
  public:
    struct Options {
        bool sentinel = false;
        // Lines appended to the generated config file ("appendonly yes", "sentinel monitor ...").
        std::vector<std::string> config;
        // Port to use; 0 = pick a free one.
        int port = 0;
        // The server gets SIGKILL when the thread that started it dies (PR_SET_PDEATHSIG), so
        // that a harness killed by SIGKILL leaves no server behind. Only for owners whose
        // starting thread lives as long as they do (a harness's main thread).
        bool die_with_parent = false;
    };

    static Result<std::unique_ptr<RedisProcess>> start(Options options);
    static Result<std::unique_ptr<RedisProcess>> start() { return start(Options{}); }
    ~RedisProcess();
    RedisProcess(const RedisProcess&) = delete;
    RedisProcess& operator=(const RedisProcess&) = delete;

    int port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    const std::string& dir() const { return dir_; }
    pid_t pid() const { return pid_; }
    bool running() const { return pid_ > 0; }

    // Sends a signal (SIGSTOP / SIGCONT / SIGKILL...). After SIGKILL the process is reaped.
    void signal(int sig);
    // Stops the process (SIGTERM, waits) and keeps the directory, so restart() finds its data.
    void stop();
    // Starts the same server again on the same port and directory; waits until it answers.
    Result<void> restart();

    // Sends one inline command and returns the raw reply line(s) (first line only for arrays).
    Result<std::string> command(const std::string& inline_command) const;

  private:
    RedisProcess() = default;
    Result<void> launch();
    Result<void> wait_ready();

    Options options_;
    std::string dir_;
    std::string config_path_;
    int port_ = 0;
    pid_t pid_ = -1;
};

// A free TCP port on 127.0.0.1 (bound and released; a tiny race remains, callers retry).
inline int free_port() {
    return redis::free_loopback_port();
}

}  // namespace skyhive::test
