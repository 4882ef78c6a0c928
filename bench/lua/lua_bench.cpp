// Lua service benchmarks on a node with thread = 2 (per-message CPU accounting is always on):
//   lua.call.cN   skynet.call round trips/s between two Lua services, N coroutines calling at once
//   lua.send      skynet.send messages/s from one Lua service into another
//   lua.launch.lN skynet.newservice launches/s of idle services from N launching services
//   lua.idle      process RSS growth per idle Lua service
// Each figure is the median of kRuns runs, every run in a fresh child process (so RSS and caches
// start cold). References measured in the same run: the same message pattern between two C++
// services (the framework without Lua), and launches with the chunk cache off. `target` is the
// project's goal, `skynet` skynet's figure on the same 2-core machine (profiling off).
//
// Usage: lua_bench [substring]   runs the figures whose name contains substring.
// Output: one line per figure, e.g.
//   lua.call.c1 rtt_per_s=560000 target=550000 ref=1900000 ratio=0.29 skynet=418000

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/node.h"
#include "core/service.h"
#include "services/builtin.h"
#include "services/config_loader.h"
#include "services/runtime.h"

using namespace skyhive;

namespace {

constexpr int kRuns = 5;
constexpr int kCallRoundTrips = 300'000;
constexpr int kSends = 1'000'000;
constexpr int kIdleServices = 5'000;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Runs fn in a child process and returns the numbers it produced (NaN-free; empty on failure).
std::vector<double> in_child(const std::function<std::vector<double>()>& fn) {
    int fds[2];
    if (pipe(fds) != 0) return {};
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        std::vector<double> out = fn();
        ssize_t ignored = write(fds[1], out.data(), out.size() * sizeof(double));
        (void)ignored;
        _exit(out.empty() ? 1 : 0);
    }
    close(fds[1]);
    std::vector<double> out(8);
    ssize_t n = read(fds[0], out.data(), out.size() * sizeof(double));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return {};
    out.resize(size_t(n) / sizeof(double));
    return out;
}

// Median of each value over kRuns child runs; exits if a run fails.
std::vector<double> medians(const char* what, const std::function<std::vector<double>()>& fn) {
    std::vector<std::vector<double>> runs;
    for (int i = 0; i < kRuns; ++i) {
        std::vector<double> r = in_child(fn);
        if (r.empty()) {
            std::fprintf(stderr, "lua_bench: a run of %s failed\n", what);
            std::exit(1);
        }
        runs.push_back(r);
    }
    std::vector<double> out;
    for (size_t k = 0; k < runs[0].size(); ++k) {
        std::vector<double> column;
        for (auto& r : runs)
            column.push_back(r[k]);
        out.push_back(median(column));
    }
    return out;
}

// Runs one Lua bench service ("script args") on a fresh node; returns the env values it set.
std::vector<double> lua_run(const std::string& service, bool codecache,
                            std::vector<const char*> keys) {
    std::string text =
        "thread = 2\n"
        "loglevel = \"error\"\n"
        "luaservice = \"./bench/lua/?.lua;./services/lua/?.lua\"\n"
        "lua_path = \"./lualib/?.lua;./lualib/?/init.lua\"\n"
        "lua_codecache = " +
        std::string(codecache ? "true" : "false") + "\n";
    text += "bootstrap = \"snlua " + service + "\"\n";
    auto config = parse_config(text, "lua_bench");
    if (!config) return {};
    // The same composition root as the skyhive binary; the bench service stops the node.
    auto runtime = Runtime::create(std::move(config.value()));
    if (!runtime) return {};
    if ((*runtime)->run() != 0) return {};
    std::vector<double> out;
    for (const char* key : keys) {
        auto v = (*runtime)->node().env().get(key);
        if (!v) return {};
        out.push_back(std::atof(v->c_str()));
    }
    return out;
}

// A C++ module made of lambdas, for the references.
struct Fn final : Module {
    std::function<void(Service&)> on_init;
    std::function<void(Service&, Message&)> on_msg;
    bool init(Service& s, std::string_view) override {
        if (on_init) on_init(s);
        return true;
    }
    void on_message(Service& s, Message& m) override { on_msg(s, m); }
};

NodeOptions quiet() {
    NodeOptions o;
    o.log_level = LogLevel::error;
    return o;
}

Payload small_payload(uint64_t v) {
    return Payload::copy(&v, sizeof v);
}

// Round trips/s between two C++ services with `concurrency` requests in flight.
std::vector<double> cpp_call(int n, int concurrency) {
    Node node(quiet());
    node.modules().add("pong", [] {
        auto m = std::make_unique<Fn>();
        m->on_msg = [](Service& s, Message& msg) {
            s.send(msg.source, MessageType::response, msg.session, std::move(msg.payload));
        };
        return m;
    });
    if (!node.start()) return {};
    Handle pong = node.launch("pong", "").value();
    uint64_t t0 = 0, t1 = 0;
    node.modules().add("ping", [&] {
        auto m = std::make_unique<Fn>();
        auto done = std::make_shared<int>(0);
        m->on_msg = [&, done, pong, n, concurrency](Service& s, Message& msg) {
            if (msg.type == MessageType::text) {  // the start signal
                t0 = monotonic_ns();
                for (int i = 0; i < concurrency; ++i)
                    s.send(pong, MessageType::lua, s.new_session(), small_payload(uint64_t(i)));
                return;
            }
            if (++*done == n) {
                t1 = monotonic_ns();
                s.node().request_stop();
            } else if (*done + concurrency <= n) {
                s.send(pong, MessageType::lua, s.new_session(), small_payload(uint64_t(*done)));
            }
        };
        return m;
    });
    Handle ping = node.launch("ping", "").value();
    node.send(Handle(), ping, MessageType::text, 0, Payload());
    node.wait_for_stop();
    node.shutdown();
    return {double(n) / (double(t1 - t0) / 1e9)};
}

// Messages/s from one C++ service into another, in the pattern of bench_send.lua: bursts of
// kBurst sends, the sender yielding between bursts (a message to itself), then a request that is
// answered once all are handled.
std::vector<double> cpp_send(int n) {
    constexpr int kBurst = 1000;
    Node node(quiet());
    uint64_t received = 0;
    node.modules().add("sink", [&] {
        auto m = std::make_unique<Fn>();
        m->on_msg = [&](Service& s, Message& msg) {
            ++received;
            if (msg.session > 0) s.send(msg.source, MessageType::response, msg.session, Payload());
        };
        return m;
    });
    if (!node.start()) return {};
    Handle sink = node.launch("sink", "").value();
    uint64_t t0 = 0, t1 = 0;
    int sent = 0;
    node.modules().add("flood", [&] {
        auto m = std::make_unique<Fn>();
        m->on_msg = [&, sink, n](Service& s, Message& msg) {
            if (msg.type == MessageType::response) {
                t1 = monotonic_ns();
                s.node().request_stop();
                return;
            }
            if (t0 == 0) t0 = monotonic_ns();
            for (int i = 0; i < kBurst && sent < n; ++i, ++sent)
                s.send(sink, MessageType::lua, 0, small_payload(uint64_t(i)));
            if (sent < n)
                s.send(s.handle(), MessageType::text, 0, Payload());
            else
                s.send(sink, MessageType::lua, s.new_session(), Payload());
        };
        return m;
    });
    Handle flood = node.launch("flood", "").value();
    node.send(Handle(), flood, MessageType::text, 0, Payload());
    node.wait_for_stop();
    node.shutdown();
    if (received != uint64_t(n) + 1) return {};
    return {double(n) / (double(t1 - t0) / 1e9)};
}

bool wanted(const char* filter, const char* name) {
    return !filter || std::strstr(name, filter);
}

}  // namespace

int main(int argc, char** argv) {
    const char* filter = argc > 1 ? argv[1] : nullptr;
    if (chdir(SKYHIVE_SOURCE_DIR) != 0) {
        std::perror("lua_bench: chdir to the source tree");
        return 1;
    }
    for (int c : {1, 8}) {
        std::string name = "lua.call.c" + std::to_string(c);
        if (!wanted(filter, name.c_str())) continue;
        std::string args =
            "bench_call " + std::to_string(kCallRoundTrips) + " " + std::to_string(c);
        double lua =
            medians(name.c_str(), [&] { return lua_run(args, true, {"bench_result"}); })[0];
        double ref = medians(name.c_str(), [&] { return cpp_call(kCallRoundTrips * 4, c); })[0];
        std::printf("%s rtt_per_s=%.0f target=550000 ref=%.0f ratio=%.2f skynet=418000\n",
                    name.c_str(), lua, ref, lua / ref);
        std::fflush(stdout);
    }
    if (wanted(filter, "lua.send")) {
        std::string args = "bench_send " + std::to_string(kSends);
        double lua = medians("lua.send", [&] { return lua_run(args, true, {"bench_result"}); })[0];
        double ref = medians("lua.send", [&] { return cpp_send(kSends * 4); })[0];
        std::printf("lua.send msgs_per_s=%.0f target=1000000 ref=%.0f ratio=%.2f skynet=772000\n",
                    lua, ref, lua / ref);
        std::fflush(stdout);
    }
    for (int launchers : {1, 2}) {
        std::string name = "lua.launch.l" + std::to_string(launchers);
        if (!wanted(filter, name.c_str()) && !wanted(filter, "lua.idle")) continue;
        std::string args =
            "bench_idle " + std::to_string(kIdleServices) + " " + std::to_string(launchers);
        auto on = medians(name.c_str(), [&] {
            return lua_run(args, true, {"bench_result", "bench_rss"});
        });
        auto off = medians(name.c_str(), [&] { return lua_run(args, false, {"bench_result"}); });
        if (wanted(filter, name.c_str()))
            std::printf(
                "%s launches_per_s=%.0f target=10000 ref=%.0f ratio=%.2f skynet=3100 "
                "(ref: chunk cache off)\n",
                name.c_str(), on[0], off[0], on[0] / off[0]);
        if (launchers == 1 && wanted(filter, "lua.idle"))
            std::printf("lua.idle rss_per_service_kb=%.1f target=40 skynet=50.6 services=%d\n",
                        on[1] / 1024, kIdleServices);
        std::fflush(stdout);
    }
    return 0;
}
