// tcp_pingpong: the reference of the cluster benchmark (bench/cluster/cluster_bench.sh): plain
// C++ request/response over loopback TCP between two processes, what a node-to-node call is
// measured against. The server is a forked child: one thread, epoll, TCP_NODELAY. A frame is a
// u32 big-endian length and the body; the server echoes a body of up to 4096 bytes and answers a
// larger one with an 8-byte acknowledgement. The client is this process.
//   tcp_pingpong [seconds per figure, default 2] [runs, default 3] [spin us, default 0]
// Figures (medians over the runs; with runs > 1 each run's line comes first, marked run=N):
//   cluster.ref.c1 rtt_per_s=N p50_us=X p99_us=Y  one connection, one 100-byte request in flight,
//                                                 blocking write/read; the latencies are its own
//   cluster.ref.c64 rtt_per_s=N                   64 connections, one request in flight on each
//                                                 (epoll)
//   cluster.ref.p64 rtt_per_s=N                   one connection, 64 requests in flight
//   cluster.ref.mb1 mb_per_s=N                    one connection, 1 MB requests one at a time,
//                                                 each acknowledged (MB = 10^6 bytes sent)
//   cluster.ref.c1.spin rtt_per_s=N spin_us=S     (with spin us > 0) c1 again against a second
//                                                 server, both sides polling for up to S us
//                                                 before they block, as skyhive's socket_spin
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kSmall = 100;
constexpr size_t kEchoMax = 4096;
constexpr size_t kBulk = 1000000;
constexpr size_t kAck = 8;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "tcp_pingpong: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

void nodelay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::string frame(size_t body) {
    std::string f(4 + body, 'x');
    uint32_t be = htonl(uint32_t(body));
    std::memcpy(f.data(), &be, 4);
    return f;
}

uint32_t length_at(const char* p) {
    uint32_t be;
    std::memcpy(&be, p, 4);
    return ntohl(be);
}

// A buffer of received bytes: complete frames are taken from the front.
struct Input {
    std::vector<char> buf = std::vector<char>(1 << 16);
    size_t begin = 0, end = 0;

    // Room for at least `need` more bytes after end.
    char* room(size_t need) {
        if (begin == end) begin = end = 0;
        if (buf.size() - end < need && begin > 0) {
            std::memmove(buf.data(), buf.data() + begin, end - begin);
            end -= begin;
            begin = 0;
        }
        if (buf.size() - end < need) buf.resize(std::max(end + need, 2 * buf.size()));
        return buf.data() + end;
    }
    // The body size of the next complete frame, or -1.
    long next() const {
        if (end - begin < 4) return -1;
        uint32_t len = length_at(buf.data() + begin);
        return end - begin >= 4 + size_t(len) ? long(len) : -1;
    }
};

// Writes all of s (blocking socket).
void send_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die("write");
        p += w;
        n -= size_t(w);
    }
}

// The server: accepts, and answers every frame; exits when the parent goes away. With spin_ns,
// after a round that handled something it polls epoll for up to that long before it blocks.
[[noreturn]] void serve(int listener, long spin_ns) {
    int ep = ::epoll_create1(0);
    epoll_event ev{EPOLLIN, {.fd = listener}};
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    struct Conn {
        Input in;
        std::string out;
        size_t sent = 0;
        bool want_out = false;
    };
    std::vector<Conn*> conns(1024, nullptr);
    epoll_event events[64];
    bool busy = false;
    for (;;) {
        int n = 0;
        if (busy && spin_ns > 0) {
            auto until = Clock::now() + std::chrono::nanoseconds(spin_ns);
            do {
                n = ::epoll_wait(ep, events, 64, 0);
            } while (n == 0 && Clock::now() < until);
        }
        if (n == 0) n = ::epoll_wait(ep, events, 64, -1);
        busy = n > 0;
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
                if (c < 0) continue;
                nodelay(c);
                if (size_t(c) >= conns.size()) conns.resize(size_t(c) + 1, nullptr);
                conns[size_t(c)] = new Conn;
                epoll_event e{EPOLLIN, {.fd = c}};
                ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
                continue;
            }
            Conn& c = *conns[size_t(fd)];
            bool closed = false;
            for (;;) {
                ssize_t r = ::read(fd, c.in.room(1 << 16), 1 << 16);
                if (r > 0) {
                    c.in.end += size_t(r);
                    if (r == 1 << 16) continue;  // maybe more; else epoll says when
                    break;
                }
                closed = r == 0 || (errno != EAGAIN && errno != EINTR);
                break;
            }
            for (long len; (len = c.in.next()) >= 0;) {
                if (size_t(len) <= kEchoMax) {
                    c.out.append(c.in.buf.data() + c.in.begin, 4 + size_t(len));
                } else {
                    std::string ack = frame(kAck);
                    c.out += ack;
                }
                c.in.begin += 4 + size_t(len);
            }
            while (c.sent < c.out.size()) {
                ssize_t w = ::write(fd, c.out.data() + c.sent, c.out.size() - c.sent);
                if (w <= 0) break;
                c.sent += size_t(w);
            }
            if (c.sent == c.out.size()) c.out.clear(), c.sent = 0;
            bool want = !c.out.empty();
            if (want != c.want_out) {
                epoll_event e{want ? uint32_t(EPOLLIN | EPOLLOUT) : uint32_t(EPOLLIN), {.fd = fd}};
                ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
                c.want_out = want;
            }
            if (closed) {
                ::close(fd);
                delete conns[size_t(fd)];
                conns[size_t(fd)] = nullptr;
            }
        }
    }
}

int dial(int port, bool nonblocking) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(uint16_t(port));
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect");
    nodelay(fd);
    if (nonblocking) ::fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

struct Figure {
    double per_s = 0;
    double p50_us = 0, p99_us = 0;
};

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    size_t k = std::min(v.size() - 1, size_t(p * double(v.size())));
    std::nth_element(v.begin(), v.begin() + long(k), v.end());
    return v[k];
}

// A read that first polls the (non-blocking) socket for up to spin_ns, then waits in poll().
ssize_t read_spinning(int fd, char* buf, size_t n, long spin_ns) {
    auto until = Clock::now() + std::chrono::nanoseconds(spin_ns);
    for (;;) {
        ssize_t r = ::read(fd, buf, n);
        if (r >= 0 || (errno != EAGAIN && errno != EINTR)) return r;
        if (Clock::now() < until) continue;
        pollfd p{fd, POLLIN, 0};
        ::poll(&p, 1, -1);
    }
}

// One blocking connection, `depth` requests of `body` bytes in flight; a new request goes out
// for every answer. Latencies are recorded when depth is 1. With spin_ns each read first polls
// for up to that long (the connection is non-blocking then).
Figure blocking(int port, size_t body, int depth, double seconds, long spin_ns = 0) {
    int fd = dial(port, spin_ns > 0);
    std::string req = frame(body);
    size_t answer = 4 + (body <= kEchoMax ? body : kAck);
    Input in;
    std::vector<double> lat;
    std::string batch;
    for (int i = 0; i < depth; ++i)
        batch += req;
    auto start = Clock::now();
    auto deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    auto sent_at = Clock::now();
    send_all(fd, batch.data(), batch.size());
    long done = 0;
    for (;;) {
        ssize_t r = spin_ns > 0 ? read_spinning(fd, in.room(1 << 16), 1 << 16, spin_ns)
                                : ::read(fd, in.room(1 << 16), 1 << 16);
        if (r <= 0) die("read");
        in.end += size_t(r);
        int answered = 0;
        for (long len; (len = in.next()) >= 0; ++answered) {
            if (4 + size_t(len) != answer) die("unexpected answer size");
            in.begin += 4 + size_t(len);
        }
        if (answered == 0) continue;
        auto now = Clock::now();
        if (depth == 1)
            lat.push_back(std::chrono::duration<double, std::micro>(now - sent_at).count());
        done += answered;
        if (now >= deadline) break;
        batch.clear();
        for (int i = 0; i < answered; ++i)
            batch += req;
        sent_at = now;
        send_all(fd, batch.data(), batch.size());
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    ::close(fd);  // answers still in flight are dropped with the connection
    Figure f;
    f.per_s = double(done) / elapsed;
    f.p50_us = percentile(lat, 0.50);
    f.p99_us = percentile(lat, 0.99);
    return f;
}

// `conns` non-blocking connections under one epoll, one small request in flight on each.
Figure many(int port, int conns, double seconds) {
    int ep = ::epoll_create1(0);
    std::vector<int> fds;
    std::vector<Input> in;
    in.resize(size_t(conns));
    std::string req = frame(kSmall);
    for (int i = 0; i < conns; ++i) {
        int fd = dial(port, true);
        fds.push_back(fd);
        epoll_event e{EPOLLIN, {.u32 = uint32_t(i)}};
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        send_all(fd, req.data(), req.size());  // fits in an empty socket buffer
    }
    auto start = Clock::now();
    auto deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    long done = 0;
    epoll_event events[256];
    while (Clock::now() < deadline) {
        int n = ::epoll_wait(ep, events, 256, 100);
        for (int k = 0; k < n; ++k) {
            size_t i = events[k].data.u32;
            Input& b = in[i];
            ssize_t r = ::read(fds[i], b.room(1 << 12), 1 << 12);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                die("read");
            }
            b.end += size_t(r);
            for (long len; (len = b.next()) >= 0;) {
                b.begin += 4 + size_t(len);
                ++done;
                send_all(fds[i], req.data(), req.size());
            }
        }
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    for (int fd : fds)
        ::close(fd);
    ::close(ep);
    return Figure{double(done) / elapsed, 0, 0};
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

// Forks a server on a loopback port of its own (spin_ns: see serve); sets *port.
pid_t start_server(long spin_ns, int* port) {
    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener, 256) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &alen) != 0)
        die("listen");
    *port = ntohs(a.sin_port);
    pid_t parent = ::getpid();
    pid_t server = ::fork();
    if (server < 0) die("fork");
    if (server == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) std::_Exit(0);
        serve(listener, spin_ns);
    }
    ::close(listener);  // the child's copy stays open: connects queue until it accepts
    return server;
}

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
    int runs = argc > 2 ? std::atoi(argv[2]) : 3;
    int spin_us = argc > 3 ? std::atoi(argv[3]) : 0;
    if (seconds <= 0 || runs <= 0 || spin_us < 0) {
        std::fprintf(stderr,
                     "usage: tcp_pingpong [seconds per figure > 0] [runs > 0] [spin us >= 0]\n");
        return 2;
    }
    ::signal(SIGPIPE, SIG_IGN);
    const long spin_ns = long(spin_us) * 1000;
    int port = 0;
    pid_t server = start_server(0, &port);
    int spin_port = 0;
    pid_t spin_server = spin_ns > 0 ? start_server(spin_ns, &spin_port) : -1;

    std::vector<double> c1, p50, p99, c64, p64, mb1, c1spin;
    for (int run = 1; run <= runs; ++run) {
        Figure f = blocking(port, kSmall, 1, seconds);
        c1.push_back(f.per_s);
        p50.push_back(f.p50_us);
        p99.push_back(f.p99_us);
        c64.push_back(many(port, 64, seconds).per_s);
        p64.push_back(blocking(port, kSmall, 64, seconds).per_s);
        mb1.push_back(blocking(port, kBulk, 1, seconds).per_s * double(kBulk) / 1e6);
        if (spin_ns > 0) c1spin.push_back(blocking(spin_port, kSmall, 1, seconds, spin_ns).per_s);
        if (runs == 1) break;
        std::printf("cluster.ref.c1 rtt_per_s=%.0f p50_us=%.1f p99_us=%.1f run=%d\n", c1.back(),
                    p50.back(), p99.back(), run);
        std::printf("cluster.ref.c64 rtt_per_s=%.0f run=%d\n", c64.back(), run);
        std::printf("cluster.ref.p64 rtt_per_s=%.0f run=%d\n", p64.back(), run);
        std::printf("cluster.ref.mb1 mb_per_s=%.0f run=%d\n", mb1.back(), run);
        if (spin_ns > 0)
            std::printf("cluster.ref.c1.spin rtt_per_s=%.0f spin_us=%d run=%d\n", c1spin.back(),
                        spin_us, run);
        std::fflush(stdout);
    }
    std::printf(
        "cluster.ref.c1 rtt_per_s=%.0f p50_us=%.1f p99_us=%.1f (1 connection, 1 request "
        "of %zu bytes in flight)\n",
        median(c1), median(p50), median(p99), kSmall);
    std::printf("cluster.ref.c64 rtt_per_s=%.0f (64 connections, 1 request in flight each)\n",
                median(c64));
    std::printf("cluster.ref.p64 rtt_per_s=%.0f (1 connection, 64 requests in flight)\n",
                median(p64));
    std::printf("cluster.ref.mb1 mb_per_s=%.0f (1 connection, 1 MB requests one at a time)\n",
                median(mb1));
    if (spin_ns > 0)
        std::printf(
            "cluster.ref.c1.spin rtt_per_s=%.0f spin_us=%d (c1, both sides polling %d us before "
            "they block)\n",
            median(c1spin), spin_us, spin_us);
    for (pid_t p : {server, spin_server}) {
        if (p <= 0) continue;
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
    }
    return 0;
}
