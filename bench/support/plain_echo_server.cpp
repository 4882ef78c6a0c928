#include "bench/support/plain_echo_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>

namespace skyhive::bench {

namespace {
void die(const char* what) {
    std::perror(what);
    std::exit(1);
}
}  // namespace

PlainEchoServer::PlainEchoServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
    if (::listen(listen_fd_, 1024) != 0) die("listen");
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    ev.data.fd = stop_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
    thread_ = std::thread([this] { run(); });
}

PlainEchoServer::~PlainEchoServer() {
    uint64_t one = 1;
    if (::write(stop_fd_, &one, sizeof one) < 0) die("eventfd write");
    thread_.join();
    ::close(stop_fd_);
    ::close(epoll_fd_);
    ::close(listen_fd_);
}

void PlainEchoServer::run() {
    std::unordered_map<int, std::string> pending;  // bytes the kernel refused, per connection
    char buf[65536];
    epoll_event events[128];
    for (;;) {
        int n = ::epoll_wait(epoll_fd_, events, 128, -1);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == stop_fd_) {
                for (auto& [c, _] : pending)
                    ::close(c);
                return;
            }
            if (fd == listen_fd_) {
                int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (c < 0) continue;
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.fd = c;
                ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c, &ev);
                pending[c];
                continue;
            }
            std::string& out = pending[fd];
            if (events[i].events & EPOLLOUT) {
                ssize_t w = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
                if (w > 0) out.erase(0, size_t(w));
                if (out.empty()) {
                    // Drained: read again (reading stops while output waits: flow control).
                    epoll_event ev{};
                    ev.events = EPOLLIN;
                    ev.data.fd = fd;
                    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
                }
                continue;
            }
            ssize_t r = ::read(fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                ::close(fd);
                pending.erase(fd);
                continue;
            }
            ssize_t w = ::send(fd, buf, size_t(r), MSG_NOSIGNAL);
            if (w < 0) w = 0;
            if (w < r) {
                out.assign(buf + w, size_t(r - w));
                epoll_event ev{};
                ev.events = EPOLLOUT;
                ev.data.fd = fd;
                ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
            }
        }
    }
}

}  // namespace skyhive::bench
