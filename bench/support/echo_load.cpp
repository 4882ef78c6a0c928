#include "bench/support/echo_load.h"

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

int connect_loopback(int port, const char* who) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::fprintf(stderr, "%s: connect: %s\n", who, std::strerror(errno));
        std::exit(1);
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kRequest = 64;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "echo load: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

int connect_to(int port) {
    int fd = connect_loopback(port, "echo load");
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

// Byte i of the stream sent on connection c: cheap, different per connection, and periodic in
// 256 so the bulk writer can send slices of one prepared buffer.
inline char stream_byte(uint64_t c, uint64_t i) {
    return char((i * 131 + c * 7) & 0xff);
}

struct Conn {
    int fd = -1;
    uint64_t sent = 0;
    uint64_t received = 0;
};

// Byte i of the requests on connection c: the stream, with each request's first two bytes the
// netpack header (length 62) when the requests are packets.
inline char request_byte(Framing framing, uint64_t c, uint64_t i) {
    if (framing == Framing::netpack && i % kRequest < 2)
        return i % kRequest == 0 ? char(0) : char(kRequest - 2);
    return stream_byte(c, i);
}

void send_request(Conn& c, uint64_t index, Framing framing) {
    char req[kRequest];
    for (size_t i = 0; i < kRequest; ++i)
        req[i] = request_byte(framing, index, c.sent + i);
    ssize_t w = ::send(c.fd, req, kRequest, MSG_NOSIGNAL);
    // 64 bytes into an empty socket buffer: all or an error.
    if (w != ssize_t(kRequest)) die("send request");
    c.sent += kRequest;
}

void check(const Conn& c, uint64_t index, Framing framing, const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (data[i] != request_byte(framing, index, c.received + i)) {
            std::fprintf(stderr, "echo load: wrong byte on connection %llu at %llu\n",
                         (unsigned long long)index, (unsigned long long)(c.received + i));
            std::exit(1);
        }
    }
}

}  // namespace

double echo_round_trips(int port, int connections, double seconds, Framing framing) {
    std::vector<Conn> conns(static_cast<size_t>(connections));
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < conns.size(); ++i) {
        conns[i].fd = connect_to(port);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    uint64_t round_trips = 0;
    auto t0 = Clock::now();
    auto end = t0 + std::chrono::duration<double>(seconds);
    for (size_t i = 0; i < conns.size(); ++i)
        send_request(conns[i], i, framing);
    char buf[4096];
    epoll_event events[256];
    bool sending = true;
    size_t outstanding = conns.size();
    while (outstanding > 0) {
        int n = ::epoll_wait(ep, events, 256, 1000);
        if (n == 0) die("no echo within a second");
        for (int k = 0; k < n; ++k) {
            size_t i = events[k].data.u64;
            Conn& c = conns[i];
            ssize_t r = ::read(c.fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                die("read echo");
            }
            check(c, i, framing, buf, size_t(r));
            c.received += uint64_t(r);
            if (c.received != c.sent) continue;  // the rest of the echo is still coming
            ++round_trips;
            if (sending && Clock::now() >= end) sending = false;
            if (sending) {
                send_request(c, i, framing);
            } else {
                --outstanding;
            }
        }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    for (Conn& c : conns)
        ::close(c.fd);
    ::close(ep);
    return double(round_trips) / secs;
}

double echo_bulk(int port, double seconds) {
    constexpr size_t kChunk = 64 * 1024;
    constexpr uint64_t kInFlight = 4u << 20;
    Conn c;
    c.fd = connect_to(port);
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    std::vector<char> out(kChunk + 256), in(256 * 1024);
    // The stream repeats every 256 bytes, so one pattern buffer serves every write.
    for (size_t i = 0; i < out.size(); ++i)
        out[i] = stream_byte(0, i);
    auto t0 = Clock::now();
    auto end = t0 + std::chrono::duration<double>(seconds);
    bool writing = true;
    bool watching_out = true;
    while (writing || c.received < c.sent) {
        // Watch for writability only while more may be written, or the loop would spin.
        bool want_out = writing && c.sent - c.received < kInFlight;
        if (want_out != watching_out) {
            ev.events = want_out ? EPOLLIN | EPOLLOUT : EPOLLIN;
            ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
            watching_out = want_out;
        }
        epoll_event e;
        if (::epoll_wait(ep, &e, 1, 1000) != 1) die("bulk stalled");
        if ((e.events & EPOLLOUT) && want_out) {
            ssize_t w = ::send(c.fd, out.data() + (c.sent % 256), kChunk, MSG_NOSIGNAL);
            if (w > 0) c.sent += uint64_t(w);
            if (Clock::now() >= end) writing = false;
        }
        if (e.events & EPOLLIN) {
            ssize_t r = ::read(c.fd, in.data(), in.size());
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                die("bulk read");
            }
            check(c, 0, Framing::raw, in.data(), size_t(r));
            c.received += uint64_t(r);
        }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    ::close(c.fd);
    ::close(ep);
    return double(c.received) / secs / double(1 << 20);
}

}  // namespace skyhive::bench
