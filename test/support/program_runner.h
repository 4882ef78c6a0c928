#pragma once

// The child-running half shared by the test runners (with_sentinel, with_cluster, with_nodes):
// the program under test runs as a child while the runner serves connections to its control
// port (and to any other listener it adds) in one poll loop, until the child exits.
// Thread: the runner's one thread.

#include <poll.h>
#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace skyhive::test {

// Starts program (argv form, program[0] searched in PATH) as a child whose SIGINT, SIGTERM and
// SIGPIPE are back to their defaults. `tool` names the runner in the error lines. Returns the
// child's pid, or -1 (logged) when fork failed.
pid_t spawn_program(const char* tool, char** program);

// The exit code a runner passes on for a child's wait status: its own, or 128 + the signal.
int exit_code_of(int wait_status);

// One accepted connection. Runners that keep more per connection derive from it (make_conn).
struct ControlConn {
    virtual ~ControlConn() = default;
    int fd = -1;
    size_t listener = 0;  // which listener accepted it: 0 is the control port
    std::string in;       // received bytes that on_read left for later
    bool close = false;   // set by on_read: the server closes the connection after it
};

// Serves connections while one child runs. Not copyable.
class ControlServer {
  public:
    struct Hooks {
        // Bounds how late the child's exit, and whatever on_turn checks, is noticed.
        int poll_ms = 50;
        // Makes the object of a new connection (default: a plain ControlConn).
        std::function<std::unique_ptr<ControlConn>()> make_conn;
        // Bytes arrived on c (the default appends them to c.in and answers nothing).
        std::function<void(ControlConn& c, const char* data, size_t n)> on_read;
        // Runs at the start of every turn of the loop.
        std::function<void()> on_turn;
        // More fds to poll each turn, only so that they wake the loop (a child's pidfd).
        std::function<void(std::vector<pollfd>&)> wake_fds;
    };

    ControlServer(int control_fd, Hooks hooks);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Another listening fd (owned by the caller) whose connections are served from the next turn.
    void add_listener(int fd) { listeners_.push_back(fd); }
    // The open connections, oldest first.
    const std::vector<std::unique_ptr<ControlConn>>& conns() const { return conns_; }

    // Serves until `child` exits (it gets SIGTERM once *stop is non-zero: the runner's signal
    // handler sets it; null: never); closes the connections. Returns exit_code_of the child's
    // status.
    int serve(pid_t child, const volatile sig_atomic_t* stop);

  private:
    std::vector<int> listeners_;
    Hooks hooks_;
    std::vector<std::unique_ptr<ControlConn>> conns_;
};

}  // namespace skyhive::test
