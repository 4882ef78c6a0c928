// Echo through the socket server, served by a C++ service on a real Node (2 workers), against a
// plain single-threaded epoll echo server measured in the same run with the same load client.
// Each figure alternates the two servers in 5 slices (3 s each in total by default) and prints
// medians, the ratio being the median of the per-slice ratios. One line per figure:
//   net.echo.c<N> rtt_per_s=<v> ref=<v> ratio=<v>     N connections, 64-byte request/response
//   net.bulk.c1 mb_per_s=<v> ref=<v> ratio=<v>        one connection streaming
// Each figure comes twice: plain, the service handling its events on the socket thread
// (Module::inline_socket_events); with ".worker", the same service behind the worker hand-off.
// Usage: echo_bench [seconds per measurement, default 3] [connections]
// With a connection count, only that round-trip figure is measured (for profiling runs).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "bench/support/compare.h"
#include "bench/support/echo_load.h"
#include "bench/support/plain_echo_server.h"
#include "core/node.h"
#include "core/service.h"
#include "net/socket_server.h"

using namespace skyhive;

namespace {

// The echo service: listens, starts every accepted socket, writes each data event back as-is
// (the payload is forwarded, header skipped: no copy), closes on EOF. `inline_events`: handled on
// the socket thread (Module::inline_socket_events) or handed to a worker, skynet's way.
class EchoModule : public Module {
  public:
    EchoModule(net::SocketServer& server, std::atomic<int>& port, bool inline_events)
        : server_(server), port_(port), inline_(inline_events) {}

    bool inline_socket_events() const override { return inline_; }

    bool init(Service& self, std::string_view) override {
        auto l = server_.listen(self.handle(), "127.0.0.1", 0, 1024);
        if (!l) {
            std::fprintf(stderr, "echo service: %s\n", l.error().message.c_str());
            return false;
        }
        server_.start(l->id);
        port_.store(l->port);
        return true;
    }

    void on_message(Service&, Message& msg) override {
        if (msg.type != MessageType::socket) return;
        net::SocketEvent e = net::event_header(msg.payload);
        switch (e.type) {
            case net::SocketEventType::accepted:
                server_.start(e.ud);
                break;
            case net::SocketEventType::data:
                server_.send(e.id, std::move(msg.payload), uint32_t(net::kEventHeaderSize));
                break;
            case net::SocketEventType::closed:
                if (e.op == uint8_t(net::CloseReason::eof)) server_.close(e.id);
                break;
            default:
                break;
        }
    }

  private:
    net::SocketServer& server_;
    std::atomic<int>& port_;
    const bool inline_;
};

}  // namespace

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
    int only = argc > 2 ? std::atoi(argv[2]) : 0;

    NodeOptions options;
    options.threads = 2;
    options.log_level = LogLevel::error;
    Node node(options);
    net::SocketServer server(node);
    std::atomic<int> inline_port{0}, worker_port{0};
    node.modules().add("echo",
                       [&] { return std::make_unique<EchoModule>(server, inline_port, true); });
    node.modules().add("echo_worker",
                       [&] { return std::make_unique<EchoModule>(server, worker_port, false); });
    if (auto r = node.start(); !r) {
        std::fprintf(stderr, "node: %s\n", r.error().message.c_str());
        return 1;
    }
    if (auto r = server.start(); !r) {
        std::fprintf(stderr, "socket server: %s\n", r.error().message.c_str());
        return 1;
    }
    node.on_shutdown([&] { server.stop(); });
    for (const char* name : {"echo", "echo_worker"}) {
        if (auto h = node.launch(name, ""); !h) {
            std::fprintf(stderr, "%s: %s\n", name, h.error().message.c_str());
            return 1;
        }
    }
    bench::PlainEchoServer plain;

    // Each figure twice: the service handling its events on the socket thread (the opt-in for
    // short C++ handlers), then handed to a worker as every Lua service is (".worker").
    struct Mode {
        const char* suffix;
        int port;
    };
    const Mode modes[] = {{"", inline_port.load()}, {".worker", worker_port.load()}};
    for (int n : {1, 16, 64}) {
        if (only && n != only) continue;
        for (const Mode& m : modes) {
            bench::compare_alternating(
                "net.echo.c" + std::to_string(n) + m.suffix, "rtt_per_s", plain.port(), m.port,
                seconds, [n](int p, double s) { return bench::echo_round_trips(p, n, s); });
        }
    }
    if (!only) {
        for (const Mode& m : modes) {
            bench::compare_alternating(std::string("net.bulk.c1") + m.suffix, "mb_per_s",
                                       plain.port(), m.port, seconds,
                                       [](int p, double s) { return bench::echo_bulk(p, s); });
        }
    }

    node.shutdown();
    return 0;
}
