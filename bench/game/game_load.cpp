// The players of bench/game/game_bench.sh's game figure, as a plain C++ client: one thread, one
// epoll set, `clients` telnet-style connections to the game nodes, each logged in as its own
// player (b00, b01, ...) and giving 1-5 gold to a random other player of the set, one command at
// a time, for `seconds`.
//   game_load <game ports "p1,p2"> <clients> <seconds>
// Client i connects to port i % (number of ports). Prints, as bench/game/bench_game.lua does:
//   game.transfers <per s> <refused> <p50 us> <p99 us> <cpu s> <count> 0 0
// (the latency is one command's, from the write of a give to its reply; the CPU is this
// process's while the figure ran; the last two fields, this process's service messages and Redis
// commands, are 0: it has neither). It exists so that the load costs the two cores of the
// benchmark machine little: the reference figure pays for no client at all, and the Lua client
// (a node of its own, GAME_BENCH_CLIENT=lua) took 36-54 us of CPU per transfer.
// With GAME_LOAD_HOLD set to a fifo's path it prints "ready" once every player is logged in and
// waits for a line on that fifo before the first give (bench/game/game_bench.sh reads its
// counters there, so that the logins' password checks are not counted against the transfers).
// Single-threaded; a connection that closes or an unexpected reply ends it with exit status 1.

#include "bench/support/echo_load.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "game_load: %s\n", what.c_str());
    std::exit(1);
}

std::string player(int i) {
    char name[16];
    std::snprintf(name, sizeof name, "b%02d", i);
    return name;
}

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// One player's connection: the bytes read and not yet cut into lines, and its command in flight.
struct Player {
    int fd = -1;
    int index = 0;
    std::string in;
    bool waiting = false;  // a give was written and its reply has not come
    Clock::time_point sent_at;
};

void write_all(int fd, const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
        ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {  // a few bytes into an empty buffer: rare, wait a bit
            std::this_thread::sleep_for(std::chrono::microseconds(50));
            continue;
        }
        if (n <= 0) die(std::string("send: ") + std::strerror(errno));
        done += size_t(n);
    }
}

// Cuts the next "\r\n"-ended line off p.in into line; false when none is whole yet.
bool next_line(Player& p, std::string& line) {
    size_t end = p.in.find("\r\n");
    if (end == std::string::npos) return false;
    line.assign(p.in, 0, end);
    p.in.erase(0, end + 2);
    return true;
}

// Reads what is there (blocking connections only): false when the peer closed.
bool fill(Player& p) {
    char buf[4096];
    ssize_t n;
    do
        n = ::recv(p.fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    p.in.append(buf, size_t(n));
    return true;
}

// The next line that is a reply (news lines start with "["), blocking.
std::string reply_blocking(Player& p) {
    std::string line;
    for (;;) {
        while (!next_line(p, line))
            if (!fill(p)) die("game connection " + player(p.index) + " closed");
        if (line.empty() || line[0] != '[') return line;
    }
}

void log_in(Player& p) {
    reply_blocking(p);  // the greeting
    std::string r;
    // The previous run's session of this player may still be logging out.
    for (int attempt = 0; attempt < 100; ++attempt) {
        write_all(p.fd, "login " + player(p.index) + " secret\r\n");
        r = reply_blocking(p);
        if (r.rfind("welcome", 0) == 0) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    die("login " + player(p.index) + ": " + r);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) die("usage: game_load <ports p1,p2> <clients> <seconds>");
    std::vector<int> ports;
    for (const char* s = argv[1]; *s;) {
        char* end;
        long port = std::strtol(s, &end, 10);
        if (end == s || port <= 0 || port > 65535) die(std::string("bad ports: ") + argv[1]);
        ports.push_back(int(port));
        s = *end == ',' ? end + 1 : end;
    }
    const int clients = std::atoi(argv[2]);
    const double seconds = std::atof(argv[3]);
    if (clients < 2 || seconds <= 0) die("need at least 2 clients and a positive duration");

    std::vector<Player> players(static_cast<size_t>(clients));
    for (int i = 0; i < clients; ++i) {
        Player& p = players[size_t(i)];
        p.index = i;
        p.fd = skyhive::bench::connect_loopback(ports[size_t(i) % ports.size()], "game_load");
        log_in(p);
    }
    // GAME_LOAD_HOLD=<fifo>: say "ready" once logged in and wait for a line on the fifo, so that
    // the caller can read its counters between the logins (a password check each) and the gives.
    if (const char* hold = std::getenv("GAME_LOAD_HOLD"); hold && *hold) {
        std::printf("ready\n");
        std::fflush(stdout);
        FILE* go = std::fopen(hold, "r");
        if (!go)
            die(std::string("GAME_LOAD_HOLD: cannot open ") + hold + ": " + std::strerror(errno));
        char buf[16];
        if (!std::fgets(buf, sizeof buf, go)) die("GAME_LOAD_HOLD: no line to go on");
        std::fclose(go);
    }

    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die(std::string("epoll_create1: ") + std::strerror(errno));
    for (Player& p : players) {
        ::fcntl(p.fd, F_SETFL, ::fcntl(p.fd, F_GETFL) | O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = &p;
        if (::epoll_ctl(ep, EPOLL_CTL_ADD, p.fd, &ev) != 0)
            die(std::string("epoll_ctl: ") + std::strerror(errno));
    }

    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> pick(0, clients - 2), amount(1, 5);
    auto give = [&](Player& p) {
        int j = pick(rng);
        if (j >= p.index) ++j;
        p.sent_at = Clock::now();
        p.waiting = true;
        write_all(p.fd, "give " + player(j) + " " + std::to_string(amount(rng)) + "\r\n");
    };

    std::vector<int64_t> latency_ns;
    latency_ns.reserve(size_t(200000));
    uint64_t done = 0, refused = 0;
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::duration<double>(seconds);
    int in_flight = 0;
    for (Player& p : players) {
        give(p);
        ++in_flight;
    }
    epoll_event events[64];
    std::string line;
    // Past the deadline no give starts; the ones in flight are waited for, as the Lua client does.
    while (in_flight > 0) {
        int n = ::epoll_wait(ep, events, 64, 10000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die(std::string("epoll_wait: ") + std::strerror(errno));
        if (n == 0) die("no reply for 10 s");
        for (int e = 0; e < n; ++e) {
            Player& p = *static_cast<Player*>(events[e].data.ptr);
            char buf[4096];
            ssize_t r = ::recv(p.fd, buf, sizeof buf, 0);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (r <= 0) die("game connection " + player(p.index) + " closed");
            p.in.append(buf, size_t(r));
            while (next_line(p, line)) {
                if (!line.empty() && line[0] == '[') continue;  // news of a gift
                if (!p.waiting) die("reply without a command: " + line);
                const auto now = Clock::now();
                latency_ns.push_back((now - p.sent_at).count());
                p.waiting = false;
                if (line.rfind("gave", 0) == 0)
                    ++done;
                else
                    ++refused;
                if (now < deadline)
                    give(p);
                else
                    --in_flight;
            }
        }
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;

    std::sort(latency_ns.begin(), latency_ns.end());
    auto pct = [&](double q) {
        if (latency_ns.empty()) return 0.0;
        size_t k = size_t(std::max(1.0, std::ceil(double(latency_ns.size()) * q)));
        return double(latency_ns[k - 1]) / 1000.0;
    };
    std::printf("game.transfers %.0f %llu %.0f %.0f %.3f %llu 0 0\n", double(done) / elapsed,
                (unsigned long long)refused, pct(0.5), pct(0.99), cpu, (unsigned long long)done);
    std::fflush(stdout);
    for (Player& p : players) {
        ::fcntl(p.fd, F_SETFL, ::fcntl(p.fd, F_GETFL) & ~O_NONBLOCK);
        write_all(p.fd, "quit\r\n");
        ::close(p.fd);
    }
    ::close(ep);
    return 0;
}
