// with_cluster: runs a command beside a Redis Cluster it can break.
//   with_cluster [--masters N] [--replicas R] [--full-coverage yes|no] [--node-timeout MS]
//                [--config LINE]... [--] <program> [args...]
// Starts masters x (1 + replicas) redis-server nodes (3 x 2 by default, cluster-node-timeout
// 1500 ms, no persistence) on free loopback ports, joins them with redis-cli --cluster create,
// waits until every node says cluster_state:ok and all agree on the slot map, and exports:
//   SKYHIVE_TEST_CLUSTER_PORTS          every node's port, space-separated ("7000 7001 ...")
//   SKYHIVE_TEST_CLUSTER_FULL_COVERAGE  "yes" or "no" (cluster-require-full-coverage)
//   SKYHIVE_TEST_LAB_PORT               the control port: RESP commands, each answered once done:
//       MASTERS            the masters the cluster does not consider failed (array of integer
//                          ports, the owner of slot 0 first)
//       REPLICAS <port>    the replicas of that master (array of integer ports)
//       SLOTS <port>       how many slots that master owns (integer)
//       OWNER <slot>       the port of the master that owns the slot (integer)
//       ID <port>          its node id (bulk)
//       KILL / STOP / PAUSE / RESUME <port>   SIGKILL / SIGTERM / SIGSTOP / SIGCONT    [+OK]
//       RESTART <port>     start it again with its directory (nodes.conf): it rejoins  [+OK]
//       FAILOVER <port>    CLUSTER FAILOVER on that replica, until it says it is master
//                          and the cluster is ok again (as WAITOK)            [+OK / -ERR]
//       RESHARD <from> <to> <n>  redis-cli --cluster reshard of n slots, then until the
//                          cluster is ok again              [+OK or -ERR with redis-cli's output]
//       ADDNODE [<master>] a new node joined as an empty master, or as a replica of that
//                          master; answered once the cluster is ok again   [:port]
//       DELNODE <port>     redis-cli --cluster del-node (an empty master or a replica), then
//                          the node is stopped and its directory removed  [+OK]
//       WAITOK [<ms>]      until the cluster is ok (see above; 30000 ms by default) [+OK / -ERR]
//       GARBAGE            a fake node on a new port that answers anything with a line that is
//                          not RESP                                        [:port]
//       PING
// Exits with the program's status, after stopping every process it started and removing their
// directories (also when the program fails, or on SIGINT / SIGTERM, which it passes on to the
// program as SIGTERM; one during start-up stops it with 128 + the signal). The nodes get SIGKILL
// if with_cluster itself is killed (PR_SET_PDEATHSIG); their directories then stay behind.
// One thread: a poll loop owns the processes and the sockets, so control commands run one at a
// time, and a long one (RESHARD, ADDNODE, WAITOK) holds the others back until it is done.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "test/support/cluster_topology.h"
#include "test/support/control_io.h"
#include "test/support/program_runner.h"

namespace {

using skyhive::test::ClusterTopology;
using skyhive::test::ControlServer;
using skyhive::test::error_reply;
using skyhive::test::integer_reply;
using skyhive::test::listen_any;
using skyhive::test::ok_or_error;
using skyhive::test::parse_request;
using skyhive::test::upper;
using skyhive::test::write_all;

// Set by SIGINT/SIGTERM: the program is told to stop, and everything is stopped after it.
volatile sig_atomic_t stop_requested = 0;  // the signal's number
void on_stop_signal(int sig) {
    stop_requested = sig;
}

struct Lab {
    ClusterTopology* topo;
    std::vector<int> garbage_listeners;  // owned here; served by `server` too
    ControlServer* server = nullptr;     // while the program runs
};

std::string int_array(const skyhive::Result<std::vector<int>>& r) {
    if (!r) return error_reply(r.error().message);
    std::string out = "*" + std::to_string(r.value().size()) + "\r\n";
    for (int v : r.value())
        out += ":" + std::to_string(v) + "\r\n";
    return out;
}

// A whole decimal port number, or 0.
int port_arg(const std::string& s) {
    char* end = nullptr;
    long v = std::strtol(s.c_str(), &end, 10);
    return (!s.empty() && *end == '\0' && v > 0 && v < 65536) ? int(v) : 0;
}

std::string control(Lab& lab, const std::vector<std::string>& argv) {
    ClusterTopology& topo = *lab.topo;
    std::string cmd = argv.empty() ? "" : upper(argv[0]);
    size_t n = argv.size();
    std::vector<int> ports;
    for (size_t i = 1; i < n; ++i) {
        ports.push_back(port_arg(argv[i]));
        bool number = (cmd == "RESHARD" && i == 3) || cmd == "WAITOK" || cmd == "OWNER";
        if (ports.back() == 0 && !number)
            return error_reply("with_cluster: " + cmd + ": '" + argv[i] + "' is not a port");
    }
    if (cmd == "PING" && n == 1) return "+PONG\r\n";
    if (cmd == "MASTERS" && n == 1) return int_array(topo.masters());
    if (cmd == "REPLICAS" && n == 2) return int_array(topo.replicas(ports[0]));
    if (cmd == "SLOTS" && n == 2) {
        auto r = topo.slots(ports[0]);
        return r ? integer_reply(r.value()) : error_reply(r.error().message);
    }
    if (cmd == "OWNER" && n == 2) {
        const std::string& a = argv[1];
        if (a.empty() || a.size() > 5 || a.find_first_not_of("0123456789") != std::string::npos)
            return error_reply("with_cluster: OWNER: '" + a + "' is not a slot");
        auto r = topo.owner(std::atoi(a.c_str()));
        return r ? integer_reply(r.value()) : error_reply(r.error().message);
    }
    if (cmd == "ID" && n == 2) {
        auto r = topo.node_id(ports[0]);
        if (!r) return error_reply(r.error().message);
        return "$" + std::to_string(r.value().size()) + "\r\n" + r.value() + "\r\n";
    }
    if (cmd == "KILL" && n == 2) return ok_or_error(topo.kill(ports[0]));
    if (cmd == "STOP" && n == 2) return ok_or_error(topo.stop(ports[0]));
    if (cmd == "PAUSE" && n == 2) return ok_or_error(topo.pause(ports[0]));
    if (cmd == "RESUME" && n == 2) return ok_or_error(topo.resume(ports[0]));
    if (cmd == "RESTART" && n == 2) return ok_or_error(topo.restart(ports[0]));
    if (cmd == "FAILOVER" && n == 2) return ok_or_error(topo.failover(ports[0]));
    if (cmd == "RESHARD" && n == 4) {
        int count = std::atoi(argv[3].c_str());
        if (count <= 0 || count > 16384)
            return error_reply("with_cluster: RESHARD: slot count '" + argv[3] +
                               "' is not in 1..16384");
        return ok_or_error(topo.reshard(ports[0], ports[1], count));
    }
    if (cmd == "ADDNODE" && n <= 2) {
        auto r = topo.add_node(n == 2 ? ports[0] : 0);
        return r ? integer_reply(r.value()) : error_reply(r.error().message);
    }
    if (cmd == "DELNODE" && n == 2) return ok_or_error(topo.del_node(ports[0]));
    if (cmd == "WAITOK" && n <= 2) {
        int ms = n == 2 ? std::atoi(argv[1].c_str()) : 30000;
        if (ms <= 0) return error_reply("with_cluster: WAITOK: '" + argv[1] + "' is not a time");
        return ok_or_error(topo.wait_ok(std::chrono::milliseconds(ms)));
    }
    if (cmd == "GARBAGE" && n == 1) {
        int port = 0;
        int fd = listen_any(&port, 16);
        if (fd < 0) return error_reply(std::string("with_cluster: listen: ") + strerror(errno));
        lab.garbage_listeners.push_back(fd);
        if (lab.server) lab.server->add_listener(fd);
        return ":" + std::to_string(port) + "\r\n";
    }
    return error_reply("with_cluster: unknown command or wrong arguments: '" + cmd + "' with " +
                       std::to_string(n - (n > 0)) + " argument(s)");
}

std::string join_ports(const ClusterTopology& topo) {
    std::string s;
    for (const auto& p : topo.nodes())
        s += (s.empty() ? "" : " ") + std::to_string(p->port());
    return s;
}

int usage(const char* why) {
    std::fprintf(stderr,
                 "with_cluster: %s\nusage: with_cluster [--masters N] [--replicas R] "
                 "[--full-coverage yes|no] [--node-timeout MS] [--config LINE]... [--] "
                 "<program> [args...]\n",
                 why);
    return 2;
}

// Runs the program and serves the control port until it exits; returns the exit code to give.
int serve(Lab& lab, int control_fd, char** program) {
    pid_t child = skyhive::test::spawn_program("with_cluster", program);
    if (child < 0) return 2;
    ControlServer::Hooks hooks;
    // The timeout only bounds how late the child's exit is noticed.
    hooks.poll_ms = 50;
    hooks.on_read = [&lab](skyhive::test::ControlConn& c, const char* data, size_t n) {
        if (c.listener != 0) {
            // a GARBAGE listener's client; '?' starts no RESP type: a protocol error to it
            write_all(c.fd, "?garbage: this node does not speak RESP\r\n");
            return;
        }
        c.in.append(data, n);
        std::vector<std::string> args;
        while (parse_request(c.in, args))
            write_all(c.fd, control(lab, args));
    };
    ControlServer server(control_fd, std::move(hooks));
    lab.server = &server;
    int code = server.serve(child, &stop_requested);
    lab.server = nullptr;
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    ClusterTopology::Options options;
    int i = 1;
    for (; i < argc && std::strncmp(argv[i], "--", 2) == 0; i += 2) {
        std::string flag = argv[i];
        if (flag == "--") {
            ++i;
            break;
        }
        if (i + 1 >= argc) return usage(("option " + flag + " needs a value").c_str());
        std::string value = argv[i + 1];
        char* end = nullptr;
        long v = std::strtol(value.c_str(), &end, 10);
        bool number = !value.empty() && *end == '\0';
        if (flag == "--full-coverage" && (value == "yes" || value == "no")) {
            options.full_coverage = value == "yes";
        } else if (flag == "--masters" && number && v >= 3 && v <= 100) {
            options.masters = int(v);
        } else if (flag == "--replicas" && number && v >= 0 && v <= 10) {
            options.replicas = int(v);
        } else if (flag == "--node-timeout" && number && v >= 100) {
            options.node_timeout_ms = int(v);
        } else if (flag == "--config") {
            options.server_config.push_back(value);
        } else {
            return usage(("bad option " + flag + " " + value +
                          " (--masters 3..100, --replicas 0..10, --full-coverage yes|no, "
                          "--node-timeout >= 100 ms)")
                             .c_str());
        }
    }
    if (i >= argc) return usage("no program to run");
    ::signal(SIGPIPE, SIG_IGN);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    options.cancelled = [] { return stop_requested != 0; };
    options.die_with_parent = true;
    auto started = ClusterTopology::start(options);
    if (!started) {
        std::fprintf(stderr, "with_cluster: %s\n", started.error().message.c_str());
        return stop_requested ? 128 + stop_requested : 2;
    }
    Lab lab{started.value().get(), {}, nullptr};
    int control_port = 0;
    int control_fd = listen_any(&control_port, 16);
    if (control_fd < 0) {
        std::perror("with_cluster: listen");
        return 2;
    }
    ::setenv("SKYHIVE_TEST_CLUSTER_PORTS", join_ports(*lab.topo).c_str(), 1);
    ::setenv("SKYHIVE_TEST_CLUSTER_FULL_COVERAGE", options.full_coverage ? "yes" : "no", 1);
    ::setenv("SKYHIVE_TEST_LAB_PORT", std::to_string(control_port).c_str(), 1);
    int code = serve(lab, control_fd, argv + i);
    for (int fd : lab.garbage_listeners)
        ::close(fd);
    ::close(control_fd);
    started.value().reset();
    return code;
}
