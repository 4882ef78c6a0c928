#include "redis/probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace skyhive::redis {

namespace {

std::string loopback(int port) {
    return "127.0.0.1:" + std::to_string(port);
}

sockaddr_in loopback_address(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

// Closes the descriptor when the scope ends.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

int free_loopback_port() {
    Fd s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (s.fd < 0) return 0;
    sockaddr_in addr = loopback_address(0);
    socklen_t len = sizeof addr;
    if (::bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        return 0;
    return ntohs(addr.sin_port);
}

Result<std::string> inline_command(int port, std::string_view command,
                                   std::chrono::milliseconds timeout) {
    const std::string where = loopback(port);
    Fd s{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (s.fd < 0) return Error::from_errno("socket for " + where);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
    timeval tv{time_t(us / 1'000'000), suseconds_t(us % 1'000'000)};
    // SO_SNDTIMEO bounds the connect as well as the send.
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr = loopback_address(port);
    if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return Error::from_errno("connect " + where);
    const std::string line = std::string(command) + "\r\n";
    if (::send(s.fd, line.data(), line.size(), MSG_NOSIGNAL) != ssize_t(line.size()))
        return Error::from_errno("send " + std::string(command) + " to " + where);
    std::string reply;
    char buf[512];
    size_t end;
    while ((end = reply.find("\r\n")) == std::string::npos) {
        ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
        if (n <= 0) return Error{"no reply from " + where + " to " + std::string(command)};
        reply.append(buf, size_t(n));
    }
    reply.resize(end);
    return reply;
}

bool answers_ping(int port, std::chrono::milliseconds timeout) {
    auto reply = inline_command(port, "PING", timeout);
    return reply && reply.value().starts_with("+PONG");
}

Result<void> await_ping(int port, std::chrono::milliseconds timeout,
                        const std::function<Result<void>()>& starting) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto alive = starting(); !alive) return alive;
        if (answers_ping(port)) return {};
        if (std::chrono::steady_clock::now() > deadline)
            return Error{loopback(port) + " did not answer PING within " +
                         std::to_string(timeout.count()) + " ms"};
        // Nothing to wait on but the server's own start-up: poll.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

}  // namespace skyhive::redis
