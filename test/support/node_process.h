#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace skyhive::test {

// One skyhive node of a multi-node test: the binary run on a config, with its own environment
// (its name and port), stdout and stderr appended to a log file; started, signalled, restarted
// with the same config and stopped by its owner. Nothing else signals it: every pid it uses is
// one it forked and has not reaped yet.
//
// Thread: one owner thread (with_nodes' loop). The process gets SIGKILL when that thread dies
// (PR_SET_PDEATHSIG), so a harness killed by SIGKILL leaves no node behind.
class NodeProcess {
  public:
    struct Options {
        std::string name;
        std::string binary;  // the skyhive binary
        std::string config;  // its config file
        int port = 0;        // the node's port, exported to it as SKYHIVE_TEST_NODE_PORT
        std::string log_path;
        // Extra environment of this node only (name, value).
        std::vector<std::pair<std::string, std::string>> env;
        // Ready when: "port" = a TCP connection to 127.0.0.1:port is accepted; "log:TEXT" = a
        // line of this run's log contains TEXT.
        std::string ready = "port";
        std::chrono::milliseconds ready_timeout{15000};
    };

    explicit NodeProcess(Options options) : options_(std::move(options)) {}
    ~NodeProcess();  // SIGKILL if still running, and reaped
    NodeProcess(const NodeProcess&) = delete;
    NodeProcess& operator=(const NodeProcess&) = delete;

    // Forks and execs the node, then waits until it is ready. An exit or a timeout during
    // start-up is an error naming the node with its log's last lines (the process is killed).
    Result<void> start();
    // The two halves of start(), so that an owner can launch several nodes before waiting for
    // any: launch() forks and execs; wait_ready() waits as start() does (and on an error leaves
    // the process to the caller: kill() it).
    Result<void> launch();
    Result<void> wait_ready();

    const std::string& name() const { return options_.name; }
    int port() const { return options_.port; }
    const std::string& log_path() const { return options_.log_path; }
    pid_t pid() const { return pid_; }
    bool running() const { return pid_ > 0; }
    bool stopped() const { return stopped_; }
    // A pollable descriptor that becomes readable when the process exits (pidfd), or -1.
    int exit_fd() const { return pidfd_; }
    // The last exit: the exit code, or 128 + the signal that killed it; -1 before any exit.
    int exit_status() const { return exit_status_; }

    // Reaps the process if it has exited (no wait); returns true when this call reaped it.
    bool reap();
    // SIGKILL, and reaped before returning.
    Result<void> kill();
    // SIGSTOP / SIGCONT, and the process is stopped / running again before returning.
    Result<void> pause();
    Result<void> resume();
    // SIGTERM (after SIGCONT if it was stopped); waits until it exits, SIGKILL after `grace`
    // (then an error saying so).
    Result<void> terminate(std::chrono::milliseconds grace);
    // The last `lines` lines of its log.
    std::string tail(int lines) const;

  private:
    void exited(int status);
    Result<void> not_running() const;

    Options options_;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    bool stopped_ = false;
    int exit_status_ = -1;
    long log_offset_ = 0;  // where this run's output starts in the log
};

}  // namespace skyhive::test
