// The cost of metrics.render() (what GET /metrics serves) on a node of 1,000 idle Lua services
// plus a few instrumented families (bench_metrics.lua), thread = 2:
//   metrics.render.s1000       ms per render from Lua, back to back (median of 50; cpu_ms: the
//                              process's CPU time per render, the node being otherwise idle),
//                              against a reference: the same number of sample lines formatted with
//                              std::to_chars into one reserved buffer in plain C++ (the floor
//                              for writing this text), and the ratio
//   metrics.render.s1000.max   the slowest of those 50 renders
//   metrics.render.cpp.s1000   MetricsRegistry::render from the main thread (no Lua string);
//                              .max: the slowest of 50, wall time and the thread's CPU time
//   metrics.collect.s1000      ms per metrics.collect() (the same data as Lua tables, for the
//                              dashboard), median of 20, and cpu_ms as for render
//   metrics.scrape.s1000       ms per render at one render a second (caches cold), its CPU
//                              time (cpu_ms), and cpu_pct: that CPU time over one second, the
//                              share of one worker a scrape a second costs
// Targets (issue 18): one scrape under 20 ms, a scrape a second under 1% of one worker.
//
// Usage: metrics_bench [services] [paced_seconds]   (defaults 1000 and 5)

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "bench/support/lua_node.h"
#include "core/clock.h"
#include "core/node.h"

using namespace skyhive;

namespace {

double env_number(Runtime& runtime, const char* key) {
    auto v = runtime.node().env().get(key);
    return v ? std::atof(v->c_str()) : -1;
}

double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// `samples` lines shaped like the per-service series (name, three labels, a value), written with
// std::to_chars into one buffer reserved once. Median ms of 50 runs.
double reference_ms(int samples, std::string& keep) {
    std::vector<double> times;
    std::string out;
    out.reserve(size_t(samples) * 128);
    for (int run = 0; run < 50; ++run) {
        const uint64_t t0 = cycle_now();
        out.clear();
        for (int i = 0; i < samples; ++i) {
            char buf[32];
            out += "skyhive_service_messages_total{address=\":";
            auto r = std::to_chars(buf, buf + sizeof buf, unsigned(i + 1), 16);
            out.append(8 - size_t(r.ptr - buf), '0');
            out.append(buf, r.ptr);
            out += "\",name=\"bench_idle_service\",module=\"snlua\"} ";
            r = std::to_chars(buf, buf + sizeof buf, double(i) * 1.25);
            out.append(buf, r.ptr);
            out += '\n';
        }
        times.push_back(double(cycles_to_ns(cycle_now() - t0)) / 1e6);
    }
    keep.swap(out);  // so the formatting cannot be optimised away
    return median(times);
}

}  // namespace

int main(int argc, char** argv) {
    const int services = argc > 1 ? std::atoi(argv[1]) : 1000;
    const int paced = argc > 2 ? std::atoi(argv[2]) : 5;
    const std::string src = SKYHIVE_SOURCE_DIR;
    const std::string text =
        "thread = 2\n"
        "loglevel = \"error\"\n"
        "luaservice = \"" +
        src + "/bench/metrics/?.lua;" + src + "/bench/lua/?.lua;" + src +
        "/services/lua/?.lua\"\n"
        "lua_path = \"" +
        src + "/lualib/?.lua;" + src +
        "/lualib/?/init.lua\"\n"
        "bootstrap = \"snlua bench_metrics " +
        std::to_string(services) + " " + std::to_string(paced) + "\"\n";
    auto runtime = bench::start_runtime(text, src + "/bench/metrics/metrics_bench.lua");
    if (!runtime) return 1;
    // The service needs about paced seconds; wait_for gives up after 10 s, so wait in rounds.
    int done = 0;
    for (int round = 0; round < 10 && !done; ++round)
        done = bench::wait_for([&] { return int(env_number(*runtime, "bench_done") > 0); });
    if (!done) {
        std::fprintf(stderr, "metrics_bench: the bench service did not finish\n");
        bench::stop(*runtime);
        return 1;
    }

    // The registry's own render, from this thread, while the node still runs.
    std::vector<double> cpp_times;
    std::vector<double> cpp_cpu;  // the thread's CPU time: what a render costs without preemption
    std::string buffer;
    for (int i = 0; i < 3; ++i)  // warm up: the buffer and the row list reach their size
        runtime->node().metrics().render(buffer);
    for (int i = 0; i < 50; ++i) {
        const double c0 = thread_cpu_ms();
        const uint64_t t0 = cycle_now();
        buffer.clear();
        runtime->node().metrics().render(buffer);
        cpp_times.push_back(double(cycles_to_ns(cycle_now() - t0)) / 1e6);
        cpp_cpu.push_back(thread_cpu_ms() - c0);
    }

    const double render_ms = env_number(*runtime, "render_ms_median");
    const double render_max = env_number(*runtime, "render_ms_max");
    const double paced_ms = env_number(*runtime, "paced_ms_median");
    const double paced_cpu = env_number(*runtime, "paced_cpu_ms");
    const double collect_ms = env_number(*runtime, "collect_ms_median");
    const double render_cpu = env_number(*runtime, "render_cpu_ms");
    const double collect_cpu = env_number(*runtime, "collect_cpu_ms");
    const int samples = int(env_number(*runtime, "samples"));
    const double bytes = env_number(*runtime, "bytes");
    if (bench::stop(*runtime) != 0) return 1;

    std::string keep;
    const double ref_ms = reference_ms(samples, keep);
    const double cpp_ms = median(cpp_times);
    std::printf("# %d services, %d sample lines, %.0f bytes a render (reference wrote %zu)\n",
                services, samples, bytes, keep.size());
    std::printf("metrics.render.s%d ms=%.3f target=20 ref=%.3f ratio=%.2f cpu_ms=%.3f\n", services,
                render_ms, ref_ms, render_ms / ref_ms, render_cpu);
    std::printf("metrics.render.s%d.max ms=%.3f target=20\n", services, render_max);
    std::printf("metrics.render.cpp.s%d ms=%.3f ref=%.3f ratio=%.2f\n", services, cpp_ms, ref_ms,
                cpp_ms / ref_ms);
    std::printf("metrics.render.cpp.s%d.max ms=%.3f cpu_ms=%.3f\n", services,
                *std::max_element(cpp_times.begin(), cpp_times.end()),
                *std::max_element(cpp_cpu.begin(), cpp_cpu.end()));
    std::printf("metrics.collect.s%d ms=%.3f cpu_ms=%.3f\n", services, collect_ms, collect_cpu);
    std::printf("metrics.scrape.s%d ms=%.3f cpu_ms=%.3f cpu_pct=%.3f target_pct=1\n", services,
                paced_ms, paced_cpu, paced_cpu / 1000 * 100);
    return 0;
}
