// Requests per second of http.server (bench_http.lua: a handler returning a fixed 64-byte body)
// on keep-alive connections, against the plain single-threaded epoll echo server of
// bench/support answering requests of exactly the HTTP response's size: the same bytes in and
// out per round trip, without any HTTP work. Each figure alternates the two in 5 slices and
// prints medians; the ratio is the median of the per-slice ratios. One line per figure:
//   http.keepalive.c<N> req_per_s=<v> ref=<v> ratio=<v>   N connections, one request in flight
//   http.pipeline.c1 req_per_s=<v> ref=<v> ratio=<v>      1 connection, 16 requests per write
// Usage: http_bench [seconds per measurement, default 3]
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/support/compare.h"
#include "bench/support/echo_load.h"
#include "bench/support/lua_node.h"
#include "bench/support/plain_echo_server.h"

using namespace skyhive;

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "http_bench: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

int connect_to(int port) {
    return bench::connect_loopback(port, "http_bench");
}

// One blocking GET on a fresh connection: the size of http.server's whole response.
size_t probe_response_size(int port, const std::string& request) {
    int fd = connect_to(port);
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size()))
        die("probe send");
    std::string got;
    char buf[4096];
    for (;;) {
        auto end = got.find("\r\n\r\n");
        if (end != std::string::npos) {
            auto cl = got.find("content-length: ");
            if (cl == std::string::npos || got.compare(0, 12, "HTTP/1.1 200") != 0) {
                std::fprintf(stderr, "http_bench: unexpected response: %s\n", got.c_str());
                std::exit(1);
            }
            size_t total = end + 4 + std::strtoul(got.c_str() + cl + 16, nullptr, 10);
            if (got.size() >= total) {
                ::close(fd);
                return total;
            }
        }
        ssize_t r = ::read(fd, buf, sizeof buf);
        if (r <= 0) die("probe read");
        got.append(buf, size_t(r));
    }
}

// `connections` connections, each sending `depth` copies of `request` in one write and waiting
// for depth * response_size bytes before the next, for `seconds`. -> requests per second.
double round_trips(int port, int connections, int depth, double seconds, const std::string& request,
                   size_t response_size) {
    struct Conn {
        int fd;
        size_t due;  // bytes of the current batch still to come
    };
    std::string batch;
    for (int i = 0; i < depth; ++i)
        batch += request;
    const size_t batch_response = response_size * size_t(depth);
    std::vector<Conn> conns;
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < connections; ++i) {
        int fd = connect_to(port);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        conns.push_back({fd, 0});
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = uint64_t(i);
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    auto send_batch = [&](Conn& c) {
        if (::send(c.fd, batch.data(), batch.size(), MSG_NOSIGNAL) != ssize_t(batch.size()))
            die("send");
        c.due = batch_response;
    };
    uint64_t done = 0;
    auto t0 = Clock::now();
    auto end = t0 + std::chrono::duration<double>(seconds);
    for (Conn& c : conns)
        send_batch(c);
    size_t outstanding = conns.size();
    bool sending = true;
    char buf[65536];
    epoll_event events[256];
    while (outstanding > 0) {
        int n = ::epoll_wait(ep, events, 256, 2000);
        if (n == 0) die("no response within 2 s");
        for (int k = 0; k < n; ++k) {
            Conn& c = conns[events[k].data.u64];
            ssize_t r = ::read(c.fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                die("read");
            }
            if (size_t(r) > c.due) {
                std::fprintf(stderr, "http_bench: more bytes than responses\n");
                std::exit(1);
            }
            c.due -= size_t(r);
            if (c.due > 0) continue;
            done += uint64_t(depth);
            if (sending && Clock::now() >= end) sending = false;
            if (sending)
                send_batch(c);
            else
                --outstanding;
        }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    for (Conn& c : conns)
        ::close(c.fd);
    ::close(ep);
    return double(done) / secs;
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
    auto node = bench::start_runtime(
        "thread = 2\n"
        "loglevel = \"error\"\n"
        "bootstrap = \"snlua bench_http\"\n"
        "luaservice = \"./bench/http/?.lua;./services/lua/?.lua\"\n"
        "lua_path = \"./lualib/?.lua;./lualib/?/init.lua\"\n",
        SKYHIVE_SOURCE_DIR "/http_bench");
    if (!node) return 1;
    const int port = bench::wait_for_env_port(*node, "bench_http_port");
    if (!port) {
        std::fprintf(stderr, "bench_http did not publish its port\n");
        bench::stop(*node);
        return 1;
    }
    // A request padded to the response's size, so the echo server moves the same bytes.
    const std::string base = "GET /bench HTTP/1.1\r\nHost: bench\r\nX-Pad: ";
    const size_t response_size = probe_response_size(port, base + "\r\n\r\n");
    if (response_size < base.size() + 4) {
        std::fprintf(stderr, "http_bench: response shorter than the request\n");
        return 1;
    }
    const std::string request =
        base + std::string(response_size - base.size() - 4, 'p') + "\r\n\r\n";
    std::printf("# request and response: %zu bytes each\n", request.size());
    bench::PlainEchoServer plain;

    for (int n : {1, 16, 64}) {
        bench::compare_alternating(
            "http.keepalive.c" + std::to_string(n), "req_per_s", plain.port(), port, seconds,
            [&](int p, double s) { return round_trips(p, n, 1, s, request, response_size); });
    }
    bench::compare_alternating(
        "http.pipeline.c1", "req_per_s", plain.port(), port, seconds,
        [&](int p, double s) { return round_trips(p, 1, 16, s, request, response_size); });
    return bench::stop(*node);
}
