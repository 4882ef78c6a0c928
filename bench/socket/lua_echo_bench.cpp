// Echo through skynet.socket: a Lua service (bench_echo_raw.lua: read() then write() per
// connection coroutine) on a real node (2 workers), against the plain single-threaded epoll echo
// server of bench/support, measured in the same run with the same load client. Each figure
// alternates the two servers in 5 slices and prints medians; the ratio is the median of the
// per-slice ratios. One line per figure:
//   lua.echo.c<N> rtt_per_s=<v> ref=<v> ratio=<v>     N connections, 64-byte request/response
//   lua.bulk.c1 mb_per_s=<v> ref=<v> ratio=<v>        one connection streaming
// Usage: lua_echo_bench [seconds per measurement, default 3] [connections [ours|ref]]
// With a connection count, only that round-trip figure is measured; with `ours` or `ref` as well,
// only that server, once, printing its round trips in total (for perf stat / strace runs, whose
// counts then divide by round trips). LUA_ECHO_BATCH_WRITES=0 runs the node with
// socket_batch_writes = false (each reply written at once), for comparing the two;
// LUA_ECHO_NODE_CONFIG adds its text to the node's config (e.g. "worker_spin = 0").
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/support/compare.h"
#include "bench/support/echo_load.h"
#include "bench/support/lua_node.h"
#include "bench/support/plain_echo_server.h"

using namespace skyhive;

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
    // The same composition root as the skyhive binary: node, socket thread, socket driver.
    const char* batch = std::getenv("LUA_ECHO_BATCH_WRITES");
    std::string config = std::string("socket_batch_writes = ") +
                         (batch && *batch == '0' ? "false" : "true") +
                         "\n"
                         "thread = 2\n"
                         "loglevel = \"error\"\n"
                         "bootstrap = \"snlua bench_echo_raw\"\n"
                         "luaservice = \"./bench/socket/?.lua;./services/lua/?.lua\"\n"
                         "lua_path = \"./lualib/?.lua;./lualib/?/init.lua\"\n";
    if (const char* extra = std::getenv("LUA_ECHO_NODE_CONFIG"))
        config += std::string(extra) + "\n";
    auto node = bench::start_runtime(config, SKYHIVE_SOURCE_DIR "/lua_echo_bench");
    if (!node) return 1;
    const int port = bench::wait_for_env_port(*node, "bench_echo_port");
    const int inline_port = bench::wait_for_env_port(*node, "bench_echo_inline_port");
    if (!port || !inline_port) {
        std::fprintf(stderr, "bench_echo_raw did not publish its port\n");
        bench::stop(*node);
        return 1;
    }
    bench::PlainEchoServer plain;
    const int only = argc > 2 ? std::atoi(argv[2]) : 0;
    if (only > 0 && argc > 3) {
        const std::string who = argv[3];
        const int target = who == "ours" ? port : who == "inline" ? inline_port : plain.port();
        double rate = bench::echo_round_trips(target, only, seconds);
        std::printf("lua.echo.c%d.%s rtt_per_s=%.0f round_trips=%.0f\n", only, argv[3], rate,
                    rate * seconds);
        return bench::stop(*node);
    }

    for (int n : {1, 16, 64}) {
        if (only > 0 && n != only) continue;
        bench::compare_alternating(
            "lua.echo.c" + std::to_string(n), "rtt_per_s", plain.port(), port, seconds,
            [n](int p, double s) { return bench::echo_round_trips(p, n, s); });
        bench::compare_alternating(
            "lua.echo.inline.c" + std::to_string(n), "rtt_per_s", plain.port(), inline_port,
            seconds, [n](int p, double s) { return bench::echo_round_trips(p, n, s); });
    }
    if (only > 0) return bench::stop(*node);
    bench::compare_alternating("lua.bulk.c1", "mb_per_s", plain.port(), port, seconds,
                               [](int p, double s) { return bench::echo_bulk(p, s); });
    return bench::stop(*node);
}
