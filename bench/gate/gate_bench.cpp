// The gate (services/gate/) under echo load, each figure against the plain single-threaded epoll
// echo server of bench/support measured in the same run with the same load client (64-byte
// requests that are netpack packets; the plain server sends the bytes back, the gate's agent
// answers each packet with the same packet). Alternating slices, medians, as bench/net. Lines:
//   gate.echo.c<N> rtt_per_s=<v> ref=<v> ratio=<v>         gate + one C++ agent, N connections
//   gate.lua.echo.c<N> rtt_per_s=<v> ref=<v> ratio=<v>     gate + one Lua agent
//   lua.raw.echo.c<N> rtt_per_s=<v> ref=<v> ratio=<v>      a Lua service reading its own sockets
//   gate.lua_vs_raw.c<N> rtt_per_s=<v> ref=<v> ratio=<v>   gate + Lua agent, the raw Lua service
//                                                          as the reference
// Usage: gate_bench [seconds per measurement, default 3]
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "bench/support/compare.h"
#include "bench/support/echo_load.h"
#include "bench/support/lua_node.h"
#include "bench/support/plain_echo_server.h"
#include "core/node.h"
#include "core/service.h"
#include "net/socket_event.h"
#include "net/socket_server.h"
#include "services/gate/gate.h"

using namespace skyhive;

namespace {

// The C++ agent: answers every client packet on its connection (the session) with the packet.
class EchoAgent : public Module {
  public:
    explicit EchoAgent(net::SocketServer& server) : server_(server) {}
    // Short and non-blocking: runs inside the gate's handler on the socket thread.
    bool inline_socket_events() const override { return true; }
    bool init(Service&, std::string_view) override { return true; }
    void on_message(Service&, Message& msg) override {
        if (msg.type != MessageType::client) return;
        const uint32_t n = msg.payload.size();
        Payload out = Payload::allocate(n + 2);
        out.data()[0] = char(n >> 8);
        out.data()[1] = char(n & 0xff);
        std::memcpy(out.data() + 2, msg.payload.data(), n);
        server_.send(msg.session, std::move(out));
    }

  private:
    net::SocketServer& server_;
};

// The C++ watchdog: opens the gate (its answer carries the port) and forwards every new
// connection to the agent.
class Watchdog : public Module {
  public:
    Watchdog(Handle gate, Handle agent, std::atomic<int>& port)
        : gate_(gate), agent_(agent), port_(port) {}
    bool init(Service& self, std::string_view) override {
        LuaPacker p(codec_);
        p.string("open").hash(4).string("address").string("127.0.0.1").string("port").integer(0);
        p.string("maxclient").integer(4096).string("nodelay").boolean(true);
        return self.send(gate_, MessageType::lua, self.new_session(), p.take());
    }
    void on_message(Service& self, Message& msg) override {
        if (msg.type == MessageType::error) {  // its payload is the error text, not packed
            std::fprintf(stderr, "gate open failed: %.*s\n", int(msg.payload.size()),
                         msg.payload.data());
            std::exit(1);
        }
        auto args = codec_.unpack(msg.payload.view());
        if (!args || args->empty()) return;
        if (msg.type == MessageType::response) {
            if (auto* port = (*args)[0].value.integer()) port_.store(int(*port));
            return;
        }
        if (args->size() >= 3 && (*args)[1].value.string() &&
            *(*args)[1].value.string() == "open") {
            LuaPacker p(codec_);
            p.string("forward")
                .integer(*(*args)[2].value.integer())
                .integer(0)
                .integer(agent_.value);
            self.send(gate_, MessageType::lua, 0, p.take());
        }
    }

  private:
    Handle gate_, agent_;
    std::atomic<int>& port_;
    LuaCodec codec_;
};

}  // namespace

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;

    // The C++ figures: a node of 2 workers with its socket server, as bench/net/echo_bench.
    NodeOptions options;
    options.threads = 2;
    options.log_level = LogLevel::error;
    Node node(options);
    net::SocketServer server(node);
    std::atomic<int> gate_port{0};
    Handle gate, agent;
    node.modules().add("gate", [&] { return std::make_unique<Gate>(server); });
    node.modules().add("agent", [&] { return std::make_unique<EchoAgent>(server); });
    node.modules().add("watchdog",
                       [&] { return std::make_unique<Watchdog>(gate, agent, gate_port); });
    if (!node.start() || !server.start()) {
        std::fprintf(stderr, "node or socket server failed to start\n");
        return 1;
    }
    node.on_shutdown([&] { server.stop(); });
    gate = node.launch("gate", "").value();
    agent = node.launch("agent", "").value();
    node.launch("watchdog", "").value();
    const int cpp_port = bench::wait_for([&] { return gate_port.load(); });
    if (!cpp_port) {
        std::fprintf(stderr, "the gate did not open\n");
        return 1;
    }

    // The Lua figures: the skyhive binary's composition root with its Lua services.
    auto lua = bench::start_runtime(
        "thread = 2\n"
        "loglevel = \"error\"\n"
        "bootstrap = \"snlua bench_gate_lua\"\n"
        "luaservice = \"./bench/gate/?.lua;./bench/socket/?.lua;./services/lua/?.lua\"\n"
        "lua_path = \"./lualib/?.lua;./lualib/?/init.lua\"\n",
        SKYHIVE_SOURCE_DIR "/gate_bench");
    if (!lua) return 1;
    const int lua_gate_port = bench::wait_for_env_port(*lua, "bench_gate_port");
    const int lua_raw_port = bench::wait_for_env_port(*lua, "bench_echo_port");
    if (!lua_gate_port || !lua_raw_port) {
        std::fprintf(stderr, "the Lua services did not publish their ports\n");
        bench::stop(*lua);
        return 1;
    }

    bench::PlainEchoServer plain;
    auto load = [](int n) {
        return [n](int p, double s) {
            return bench::echo_round_trips(p, n, s, bench::Framing::netpack);
        };
    };
    for (int n : {1, 16, 64}) {
        const std::string c = ".c" + std::to_string(n);
        bench::compare_alternating("gate.echo" + c, "rtt_per_s", plain.port(), cpp_port, seconds,
                                   load(n));
        bench::compare_alternating("gate.lua.echo" + c, "rtt_per_s", plain.port(), lua_gate_port,
                                   seconds, load(n));
        bench::compare_alternating("lua.raw.echo" + c, "rtt_per_s", plain.port(), lua_raw_port,
                                   seconds, load(n));
        bench::compare_alternating("gate.lua_vs_raw" + c, "rtt_per_s", lua_raw_port, lua_gate_port,
                                   seconds, load(n));
    }
    int rc = bench::stop(*lua);
    node.shutdown();
    return rc;
}
