// with_sentinel: runs a command beside a Redis Sentinel topology it can break.
//   with_sentinel [--replicas N] [--sentinels N] [--down-after MS] [--ports P,P,...]
//                 <program> [args...]
// Starts a master, its replicas (2) and sentinels (3, quorum 2, down-after 1000 ms) on free
// loopback ports (or the ports given: data servers first, then sentinels), waits until the
// sentinels know each other and the replicas are in sync, and exports to the program:
//   SKYHIVE_TEST_REDIS_PORTS     data servers, the initial master first ("6380,6381,6382")
//   SKYHIVE_TEST_SENTINEL_PORTS  sentinels ("26380,26381,26382")
//   SKYHIVE_TEST_SENTINEL_MASTER the master name ("mymaster")
//   SKYHIVE_TEST_LAB_PORT        the control port: RESP commands, each answered once done:
//       KILL <port> / STOP <port> / CONT <port>   SIGKILL / SIGSTOP / SIGCONT that process
//       START <port>        start a killed process again on its port (a fresh config file)
//       READY <replicas> [ms]  wait until the sentinels agree on an up master that has that
//                           many replicas online (default 10000 ms); +OK or -ERR <what lacks>
//       MASTER              the master's port as the sentinels name it (:0 when none does)
//       PING
// Exits with the program's status, after stopping everything it started (also on SIGINT or
// SIGTERM, which it passes on to the program as SIGTERM). One thread: a poll loop owns the
// processes and the sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "test/support/control_io.h"
#include "test/support/program_runner.h"
#include "test/support/sentinel_topology.h"

namespace {

using skyhive::test::listen_any;
using skyhive::test::parse_request;
using skyhive::test::SentinelTopology;
using skyhive::test::upper;
using skyhive::test::write_all;

// Set by SIGINT/SIGTERM: the program is told to stop, and everything is stopped after it.
volatile sig_atomic_t stop_requested = 0;
void on_stop_signal(int) {
    stop_requested = 1;
}

std::string control(SentinelTopology& topo, const std::vector<std::string>& argv) {
    std::string cmd = argv.empty() ? "" : upper(argv[0]);
    if (cmd == "PING") return "+PONG\r\n";
    if (cmd == "MASTER") return ":" + std::to_string(topo.master_port()) + "\r\n";
    if (cmd == "READY" && argv.size() >= 2) {
        int ms = argv.size() >= 3 ? std::atoi(argv[2].c_str()) : 10000;
        auto r = topo.wait_ready(std::atoi(argv[1].c_str()), std::chrono::milliseconds(ms));
        return r ? "+OK\r\n" : "-ERR " + r.error().message + "\r\n";
    }
    if (argv.size() != 2) return "-ERR with_sentinel: bad command '" + cmd + "'\r\n";
    auto* p = topo.find(std::atoi(argv[1].c_str()));
    if (!p) return "-ERR with_sentinel: no process on port " + argv[1] + "\r\n";
    if (cmd == "KILL") {
        p->signal(SIGKILL);
    } else if (cmd == "STOP") {
        p->signal(SIGSTOP);
    } else if (cmd == "CONT") {
        p->signal(SIGCONT);
    } else if (cmd == "START") {
        if (p->running()) return "-ERR with_sentinel: port " + argv[1] + " is running\r\n";
        auto r = p->restart();
        if (!r) return "-ERR " + r.error().message + "\r\n";
    } else {
        return "-ERR with_sentinel: unknown command '" + cmd + "'\r\n";
    }
    return "+OK\r\n";
}

std::string join_ports(const std::vector<std::unique_ptr<skyhive::test::RedisProcess>>& list) {
    std::string s;
    for (const auto& p : list)
        s += (s.empty() ? "" : ",") + std::to_string(p->port());
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    SentinelTopology::Options options;
    int i = 1;
    for (; i + 1 < argc && std::strncmp(argv[i], "--", 2) == 0; i += 2) {
        std::string flag = argv[i];
        int v = std::atoi(argv[i + 1]);
        if (flag == "--ports") {
            std::string list = argv[i + 1];
            for (size_t at = 0; at < list.size();) {
                size_t comma = std::min(list.find(',', at), list.size());
                options.ports.push_back(std::atoi(list.substr(at, comma - at).c_str()));
                at = comma + 1;
            }
        } else if (flag == "--replicas") {
            options.replicas = v;
        } else if (flag == "--sentinels") {
            options.sentinels = v;
        } else if (flag == "--down-after") {
            options.down_after_ms = v;
        } else {
            std::fprintf(stderr, "with_sentinel: unknown option %s\n", flag.c_str());
            return 2;
        }
    }
    if (i >= argc) {
        std::fprintf(stderr,
                     "usage: with_sentinel [--replicas N] [--sentinels N] [--down-after MS] "
                     "<program> [args...]\n");
        return 2;
    }
    ::signal(SIGPIPE, SIG_IGN);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    auto started = SentinelTopology::start(options);
    if (!started) {
        std::fprintf(stderr, "with_sentinel: %s\n", started.error().message.c_str());
        return 2;
    }
    SentinelTopology& topo = *started.value();
    int control_port = 0;
    int control_fd = listen_any(&control_port, 16);
    if (control_fd < 0) {
        std::perror("with_sentinel: listen");
        return 2;
    }
    ::setenv("SKYHIVE_TEST_REDIS_PORTS", join_ports(topo.servers()).c_str(), 1);
    ::setenv("SKYHIVE_TEST_SENTINEL_PORTS", join_ports(topo.sentinels()).c_str(), 1);
    ::setenv("SKYHIVE_TEST_SENTINEL_MASTER", options.master_name.c_str(), 1);
    ::setenv("SKYHIVE_TEST_LAB_PORT", std::to_string(control_port).c_str(), 1);

    pid_t child = skyhive::test::spawn_program("with_sentinel", argv + i);
    if (child < 0) return 2;
    skyhive::test::ControlServer::Hooks hooks;
    // The timeout only bounds how late the child's exit is noticed.
    hooks.poll_ms = 50;
    hooks.on_read = [&topo](skyhive::test::ControlConn& c, const char* data, size_t n) {
        c.in.append(data, n);
        std::vector<std::string> args;
        while (parse_request(c.in, args))
            write_all(c.fd, control(topo, args));
    };
    int code =
        skyhive::test::ControlServer(control_fd, std::move(hooks)).serve(child, &stop_requested);
    started.value().reset();
    return code;
}
