// The round trips a lock holder meets, as the plainest client sees them: one hiredis blocking
// connection that spins `gap_us` (the critical section of bench/redis/lock_bench.sh), then sends
// three GETs one after the other, and times each. On a host whose idle CPUs sleep, the first
// round trip after the gap pays the wake-up of the server (and of the client's own wait), which
// back-to-back `redis-benchmark -c 1` never does. lock_bench.sh prints the ceiling these give,
// 1 / (gap + first + second + third), beside the one of the formula.
//   idle_rtt <port> [gap_us=1000] [cycles=1000]
// prints
//   idle_rtt gap_us=1000 first_us=<p50> second_us=<p50> third_us=<p50> back_to_back_us=<p50>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double us_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

double median(std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

bool get(redisContext* c) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "GET idle_rtt"));
    if (!r) return false;
    freeReplyObject(r);
    return true;
}

int fail(redisContext* c, int port) {
    std::fprintf(stderr, "idle_rtt: GET to 127.0.0.1:%d failed: %s\n", port, c->errstr);
    redisFree(c);
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: idle_rtt <port> [gap_us=1000] [cycles=1000]\n");
        return 2;
    }
    int port = std::atoi(argv[1]);
    int gap_us = argc > 2 ? std::atoi(argv[2]) : 1000;
    int cycles = argc > 3 ? std::atoi(argv[3]) : 1000;
    redisContext* c = redisConnect("127.0.0.1", port);
    if (!c || c->err) {
        std::fprintf(stderr, "idle_rtt: cannot connect to 127.0.0.1:%d: %s\n", port,
                     c ? c->errstr : "out of memory");
        return 1;
    }
    std::vector<double> first, second, third, tight;
    for (int i = 0; i < cycles; ++i) {
        auto until = Clock::now() + std::chrono::microseconds(gap_us);
        while (Clock::now() < until) {
        }
        std::vector<double>* into[] = {&first, &second, &third};
        for (auto* v : into) {
            auto t0 = Clock::now();
            if (!get(c)) return fail(c, port);
            v->push_back(us_since(t0));
        }
    }
    for (int i = 0; i < cycles * 3; ++i) {
        auto t0 = Clock::now();
        if (!get(c)) return fail(c, port);
        tight.push_back(us_since(t0));
    }
    std::printf(
        "idle_rtt gap_us=%d first_us=%.1f second_us=%.1f third_us=%.1f back_to_back_us=%.1f\n",
        gap_us, median(first), median(second), median(third), median(tight));
    redisFree(c);
    return 0;
}
