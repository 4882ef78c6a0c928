#include "bench/gate/packet_load.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace skyhive::bench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kPacket = 64;  // on the wire, header included

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "packet load: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

struct Conn {
    int fd = -1;
    uint64_t round = 0;
    char request[kPacket];
    size_t received = 0;
};

// The next request of connection i: header 0x003e, then bytes that change with every round.
void send_next(Conn& c, size_t i) {
    c.request[0] = 0;
    c.request[1] = char(kPacket - 2);
    for (size_t k = 2; k < kPacket; ++k)
        c.request[k] = char((c.round * 31 + i * 7 + k) & 0xff);
    ++c.round;
    c.received = 0;
    if (::send(c.fd, c.request, kPacket, MSG_NOSIGNAL) != ssize_t(kPacket)) fail("send");
}

int connect_local(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail("connect");
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

}  // namespace

double packet_round_trips(int port, int connections, double seconds) {
    std::vector<Conn> conns(static_cast<size_t>(connections));
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < conns.size(); ++i) {
        conns[i].fd = connect_local(port);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    uint64_t round_trips = 0;
    auto t0 = Clock::now();
    auto end = t0 + std::chrono::duration<double>(seconds);
    for (size_t i = 0; i < conns.size(); ++i)
        send_next(conns[i], i);
    char buf[4096];
    epoll_event events[256];
    bool sending = true;
    size_t outstanding = conns.size();
    while (outstanding > 0) {
        int n = ::epoll_wait(ep, events, 256, 1000);
        if (n == 0) fail("no answer within a second");
        for (int k = 0; k < n; ++k) {
            size_t i = events[k].data.u64;
            Conn& c = conns[i];
            ssize_t r = ::read(c.fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                fail("read");
            }
            if (c.received + size_t(r) > kPacket ||
                std::memcmp(buf, c.request + c.received, size_t(r)) != 0) {
                std::fprintf(stderr, "packet load: wrong answer on connection %zu\n", i);
                std::exit(1);
            }
            c.received += size_t(r);
            if (c.received < kPacket) continue;
            ++round_trips;
            if (sending && Clock::now() >= end) sending = false;
            if (sending)
                send_next(c, i);
            else
                --outstanding;
        }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    for (Conn& c : conns)
        ::close(c.fd);
    ::close(ep);
    return double(round_trips) / secs;
}

}  // namespace skyhive::bench
