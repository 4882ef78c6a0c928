#include "net/control_pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace skyhive::net {

ControlPipe::~ControlPipe() {
    for (int fd : fds_) {
        if (fd >= 0) ::close(fd);
    }
}

Result<void> ControlPipe::open() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) return Error::from_errno("socket server control pipe");
    // Only the read end is non-blocking: writers must never lose a command.
    int flags = ::fcntl(fds_[0], F_GETFL);
    ::fcntl(fds_[0], F_SETFL, flags | O_NONBLOCK);
    // A deeper pipe absorbs bursts of commands without blocking workers; best effort (the
    // system-wide limit may refuse it, the default 64 KB still works).
    ::fcntl(fds_[1], F_SETPIPE_SZ, 1 << 20);
    return {};
}

void ControlPipe::write(const Command& c) {
    unread_.fetch_add(1, std::memory_order_relaxed);
    for (;;) {
        ssize_t n = ::write(fds_[1], &c, sizeof c);
        if (n == ssize_t(sizeof c)) return;
        if (n < 0 && errno == EINTR) continue;
        // A pipe write of less than PIPE_BUF is all or nothing; anything else means the pipe is
        // gone, which only a bug can cause.
        std::fprintf(stderr, "socket server: control pipe write failed (%zd, errno %d)\n", n,
                     errno);
        std::abort();
    }
}

size_t ControlPipe::read(Command* out, size_t max) {
    for (;;) {
        ssize_t n = ::read(fds_[0], out, max * sizeof(Command));
        if (n < 0) {
            if (errno == EINTR) continue;
            return 0;  // EAGAIN: nothing there
        }
        // Every write is one whole command and the request is a multiple of its size, so a
        // read never ends inside a command.
        assert(size_t(n) % sizeof(Command) == 0);
        const size_t got = size_t(n) / sizeof(Command);
        unread_.fetch_sub(got, std::memory_order_relaxed);
        return got;
    }
}

}  // namespace skyhive::net
