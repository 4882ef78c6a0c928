#include "test/support/program_runner.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace skyhive::test {

pid_t spawn_program(const char* tool, char** program) {
    pid_t child = ::fork();
    if (child < 0) {
        std::perror((std::string(tool) + ": fork").c_str());
        return -1;
    }
    if (child == 0) {
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        ::signal(SIGPIPE, SIG_DFL);
        ::execvp(program[0], program);
        std::perror((std::string(tool) + ": exec " + program[0]).c_str());
        std::_Exit(127);
    }
    return child;
}

int exit_code_of(int wait_status) {
    return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

ControlServer::ControlServer(int control_fd, Hooks hooks)
    : listeners_{control_fd}, hooks_(std::move(hooks)) {
    if (!hooks_.make_conn) hooks_.make_conn = [] { return std::make_unique<ControlConn>(); };
    if (!hooks_.on_read)
        hooks_.on_read = [](ControlConn& c, const char* data, size_t n) { c.in.append(data, n); };
}

ControlServer::~ControlServer() {
    for (const auto& c : conns_)
        ::close(c->fd);
}

int ControlServer::serve(pid_t child, const volatile sig_atomic_t* stop) {
    int status = 0;
    bool told = false;
    for (;;) {
        if (::waitpid(child, &status, WNOHANG) == child) break;
        if (stop && *stop && !told) {
            ::kill(child, SIGTERM);  // child > 0: never kill(-1, ...)
            told = true;
        }
        if (hooks_.on_turn) hooks_.on_turn();
        std::vector<pollfd> fds;
        for (int fd : listeners_)
            fds.push_back({fd, POLLIN, 0});
        const size_t first_conn = fds.size();  // conns_[k] is fds[first_conn + k]
        for (const auto& c : conns_)
            fds.push_back({c->fd, POLLIN, 0});
        const size_t polled = fds.size();
        if (hooks_.wake_fds) hooks_.wake_fds(fds);
        if (::poll(fds.data(), fds.size(), hooks_.poll_ms) < 0 && errno != EINTR) break;
        std::vector<int> gone;
        for (size_t k = first_conn; k < polled; ++k) {
            if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ControlConn& c = *conns_[k - first_conn];
            char buf[4096];
            ssize_t n = ::read(c.fd, buf, sizeof buf);
            if (n <= 0) {
                gone.push_back(c.fd);
                continue;
            }
            hooks_.on_read(c, buf, size_t(n));
            if (c.close) gone.push_back(c.fd);
        }
        for (int fd : gone) {
            ::close(fd);
            std::erase_if(conns_, [fd](const auto& c) { return c->fd == fd; });
        }
        for (size_t l = 0; l < first_conn; ++l) {
            if (!(fds[l].revents & POLLIN)) continue;
            int fd = ::accept4(fds[l].fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            auto c = hooks_.make_conn();
            c->fd = fd;
            c->listener = l;
            conns_.push_back(std::move(c));
        }
    }
    for (const auto& c : conns_)
        ::close(c->fd);
    conns_.clear();
    return exit_code_of(status);
}

}  // namespace skyhive::test
