// with_nodes: runs a program beside real skyhive nodes it can kill, stop and restart.
//   with_nodes [--redis standalone|none] [--node NAME=CONFIG]... [--self NAME]
//              [--binary PATH] [--ready port|log:TEXT] [--ready-timeout MS] [--] <program>
//              [args...]
//
// 1. --redis standalone (the default) starts a redis-server on a free loopback port and exports
//    SKYHIVE_TEST_REDIS_PORT and SKYHIVE_TEST_REDIS_DIR; --redis none starts none, so that
//    with_nodes can run under with_redis, with_sentinel or with_cluster: their environment
//    passes through to the nodes and the program.
// 2. Every node NAME (and the program's own NAME, --self) gets a free loopback port. Then each
//    --node is started as `skyhive CONFIG` (the binary of --binary, else $SKYHIVE_BINARY, else
//    the program itself when its file is named skyhive), stdout and stderr into
//    $SKYHIVE_TEST_NODES_DIR/NAME.log, and with_nodes waits until every node is ready: by
//    default until its port accepts a TCP connection (so the config must make the node listen
//    there; the probe opens and closes one connection without a byte), or with --ready log:TEXT
//    until a line of its log contains TEXT. A node that exits or is not ready within
//    --ready-timeout (15000 ms) fails the run with its log's end. The nodes start side by side
//    (all launched, then each waited for).
// 3. The program runs with, beside the variables of step 1:
//      SKYHIVE_TEST_NODES             the node names, space-separated, --node order (no --self)
//      SKYHIVE_TEST_NODE_<NAME>_PORT  each node's port, NAME upper-cased (--self's too)
//      SKYHIVE_TEST_NODE_<NAME>_PID   each node's pid at start (PID below after a restart)
//      SKYHIVE_TEST_NODES_PORT        the control port (below)
//      SKYHIVE_TEST_NODES_DIR         the directory of the node logs
//      SKYHIVE_TEST_NODE_NAME, SKYHIVE_TEST_NODE_PORT   --self's name and port (unset without)
//    Every node sees the same, except SKYHIVE_TEST_NODE_NAME / _PORT: its own name and port,
//    so one config file serves several nodes: `cluster_listen =
//    "127.0.0.1:$SKYHIVE_TEST_NODE_PORT"`.
// 4. When the program exits, every node still running gets SIGTERM (SIGKILL 10 s later), the
//    redis-server is stopped and the log directory removed; if the program failed, the end of
//    every node's log is printed on stderr first. with_nodes exits with the program's status.
//    SIGINT / SIGTERM to with_nodes are passed to the program as SIGTERM.
//
// The control port (loopback, SKYHIVE_TEST_NODES_PORT) takes commands as inline lines or RESP
// arrays (so a Lua test talks to it with redis.connect{port = ...}: ctl:kill("b")), and
// answers each in RESP once done: +OK, :integer, or -ERR with what went wrong.
//   PING                  +PONG
//   PID <name>            :pid of the running node (ERR if it is not running)
//   PORT <name>           :port (also --self's)
//   KILL <name>           SIGKILL; answered once reaped                                  +OK
//   STOP <name>           SIGSTOP; answered once the node is stopped                     +OK
//   CONT <name>           SIGCONT; answered once it runs again                           +OK
//   TERM <name>           SIGTERM; answered once it has exited (ERR if it took > 10 s:
//                         then it was killed)                                            +OK
//   RESTART <name>        starts the node again with the same config, port and log (it must
//                         have exited: KILL or TERM first); answered once ready          +OK
//   WAITEXIT <name> [ms]  waits until the node exits (30000 ms by default); :its exit status
//                         (the code, or 128 + the signal). Other connections are served
//                         meanwhile; this one answers its next commands after it.
//   LOG <name> [lines]    the end of its log (bulk; 20 lines by default)
// One thread: a poll loop owns the nodes and the sockets; KILL, STOP, CONT, TERM and RESTART run
// one at a time and hold other connections back until done.
//
// A test under ctest: skyhive_lua_test(NAME UNDER with_nodes UNDER_ARGS --node
// a=${PROJECT_SOURCE_DIR}/test/config/X.lua --node b=... --) runs the test node last, once a and
// b are ready (see test/lualib/skynet/test_nodes_lab.lua for a complete use).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "test/support/control_io.h"
#include "test/support/node_process.h"
#include "test/support/program_runner.h"
#include "test/support/redis_process.h"

namespace {

using skyhive::test::ControlServer;
using skyhive::test::integer_reply;
using skyhive::test::listen_any;
using skyhive::test::NodeProcess;
using skyhive::test::parse_request;
using skyhive::test::upper;
using skyhive::test::write_all;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kTermGrace{10000};

volatile sig_atomic_t stop_requested = 0;  // the signal's number
void on_stop_signal(int sig) {
    stop_requested = sig;
}

struct Conn : skyhive::test::ControlConn {
    NodeProcess* waiting = nullptr;  // a WAITEXIT in progress
    Clock::time_point deadline{};
};

struct Lab {
    std::vector<std::unique_ptr<NodeProcess>> nodes;
    std::string self_name;
    int self_port = 0;
};

std::string error_reply(const std::string& text) {
    return skyhive::test::error_reply("with_nodes: " + text);
}

std::string ok_or_error(const skyhive::Result<void>& r) {
    return skyhive::test::ok_or_error(r, "with_nodes: ");
}

NodeProcess* find(Lab& lab, const std::string& name) {
    for (auto& n : lab.nodes)
        if (upper(n->name()) == upper(name)) return n.get();
    return nullptr;
}

// A positive decimal number below 10^9, or -1.
long number_arg(const std::string& s) {
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
        return -1;
    long v = std::atol(s.c_str());
    return v > 0 ? v : -1;
}

// Runs one command; returns the reply, or "" when `c` now waits (WAITEXIT on a running node).
std::string control(Lab& lab, Conn& c, const std::vector<std::string>& argv) {
    std::string cmd = argv.empty() ? "" : upper(argv[0]);
    size_t n = argv.size();
    if (cmd == "PING" && n == 1) return "+PONG\r\n";
    static const std::set<std::string> known{"PID",  "PORT",    "KILL",     "STOP", "CONT",
                                             "TERM", "RESTART", "WAITEXIT", "LOG"};
    if (n < 2 || n > 3 || !known.contains(cmd))
        return error_reply("unknown command or wrong arguments: '" + cmd + "' with " +
                           std::to_string(n - (n > 0)) + " argument(s)");
    if (cmd == "PORT" && n == 2 && !lab.self_name.empty() && upper(argv[1]) == upper(lab.self_name))
        return integer_reply(lab.self_port);
    NodeProcess* node = find(lab, argv[1]);
    if (!node) return error_reply(cmd + ": no node named '" + argv[1] + "'");
    long arg = n == 3 ? number_arg(argv[2]) : 0;
    if (arg < 0) return error_reply(cmd + ": '" + argv[2] + "' is not a positive number");
    if (cmd == "PID" && n == 2) {
        node->reap();
        if (!node->running())
            return error_reply("PID: node " + node->name() + " is not running (last exit status " +
                               std::to_string(node->exit_status()) + ")");
        return integer_reply(node->pid());
    }
    if (cmd == "PORT" && n == 2) return integer_reply(node->port());
    if (cmd == "KILL" && n == 2) return ok_or_error(node->kill());
    if (cmd == "STOP" && n == 2) return ok_or_error(node->pause());
    if (cmd == "CONT" && n == 2) return ok_or_error(node->resume());
    if (cmd == "TERM" && n == 2) return ok_or_error(node->terminate(kTermGrace));
    if (cmd == "RESTART" && n == 2) {
        node->reap();
        if (node->running())
            return error_reply("RESTART: node " + node->name() + " is still running (pid " +
                               std::to_string(node->pid()) + "): KILL or TERM it first");
        std::fprintf(stderr, "with_nodes: restarting node %s\n", node->name().c_str());
        return ok_or_error(node->start());
    }
    if (cmd == "WAITEXIT") {
        node->reap();
        if (!node->running()) return integer_reply(node->exit_status());
        c.waiting = node;
        c.deadline = Clock::now() + std::chrono::milliseconds(n == 3 ? arg : 30000);
        return "";
    }
    if (cmd == "LOG") {
        std::string t = node->tail(n == 3 ? int(arg) : 20);
        return "$" + std::to_string(t.size()) + "\r\n" + t + "\r\n";
    }
    return error_reply("unknown command or wrong arguments: '" + cmd + "' with " +
                       std::to_string(n - 1) + " argument(s)");
}

// Answers the requests buffered on `c`, in order, until one must wait.
void drain(Lab& lab, Conn& c) {
    std::vector<std::string> args;
    while (!c.waiting && parse_request(c.in, args)) {
        std::string reply = control(lab, c, args);
        if (!reply.empty()) write_all(c.fd, reply);
    }
}

// Notes nodes that exited on their own, and answers the WAITEXITs that are done.
void check_nodes(Lab& lab, const ControlServer& server) {
    for (auto& n : lab.nodes) {
        pid_t pid = n->pid();
        if (n->reap())
            std::fprintf(stderr, "with_nodes: node %s (pid %d) exited with status %d\n",
                         n->name().c_str(), int(pid), n->exit_status());
    }
    auto now = Clock::now();
    for (const auto& conn : server.conns()) {
        Conn& c = static_cast<Conn&>(*conn);
        if (!c.waiting) continue;
        if (!c.waiting->running()) {
            write_all(c.fd, integer_reply(c.waiting->exit_status()));
        } else if (now >= c.deadline) {
            write_all(c.fd,
                      error_reply("WAITEXIT: node " + c.waiting->name() + " still running (pid " +
                                  std::to_string(c.waiting->pid()) + ")"));
        } else {
            continue;
        }
        c.waiting = nullptr;
        drain(lab, c);
    }
}

int run_program(Lab& lab, int control_fd, char** program) {
    pid_t child = skyhive::test::spawn_program("with_nodes", program);
    if (child < 0) return 2;
    ControlServer* self = nullptr;
    ControlServer::Hooks hooks;
    // A node's exit wakes the loop (pidfd); the timeout bounds how late the program's exit and a
    // WAITEXIT's deadline are noticed.
    hooks.poll_ms = 20;
    hooks.make_conn = [] { return std::make_unique<Conn>(); };
    hooks.on_read = [&lab](skyhive::test::ControlConn& c, const char* data, size_t n) {
        c.in.append(data, n);
        drain(lab, static_cast<Conn&>(c));
    };
    hooks.on_turn = [&lab, &self] { check_nodes(lab, *self); };
    hooks.wake_fds = [&lab](std::vector<pollfd>& fds) {
        for (const auto& n : lab.nodes)
            if (n->exit_fd() >= 0) fds.push_back({n->exit_fd(), POLLIN, 0});
    };
    ControlServer server(control_fd, std::move(hooks));
    self = &server;
    return server.serve(child, &stop_requested);
}

int usage(const std::string& why) {
    std::fprintf(stderr,
                 "with_nodes: %s\nusage: with_nodes [--redis standalone|none] "
                 "[--node NAME=CONFIG]... [--self NAME] [--binary PATH] [--ready port|log:TEXT] "
                 "[--ready-timeout MS] [--] <program> [args...]\n",
                 why.c_str());
    return 2;
}

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > 32 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::string redis_mode = "standalone", self, binary, ready = "port";
    long ready_timeout = 15000;
    std::vector<std::pair<std::string, std::string>> specs;  // name, config
    int i = 1;
    for (; i < argc && std::strncmp(argv[i], "--", 2) == 0; i += 2) {
        std::string flag = argv[i];
        if (flag == "--") {
            ++i;
            break;
        }
        if (i + 1 >= argc) return usage("option " + flag + " needs a value");
        std::string value = argv[i + 1];
        if (flag == "--redis" && (value == "standalone" || value == "none")) {
            redis_mode = value;
        } else if (flag == "--node") {
            size_t eq = value.find('=');
            std::string name = value.substr(0, eq);
            if (eq == std::string::npos || eq + 1 == value.size() || !valid_name(name))
                return usage("--node " + value +
                             ": expected NAME=CONFIG, NAME of letters, "
                             "digits and _ starting with a letter");
            specs.emplace_back(name, value.substr(eq + 1));
        } else if (flag == "--self" && valid_name(value)) {
            self = value;
        } else if (flag == "--binary") {
            binary = value;
        } else if (flag == "--ready" &&
                   (value == "port" || (value.starts_with("log:") && value.size() > 4))) {
            ready = value;
        } else if (flag == "--ready-timeout" && number_arg(value) > 0) {
            ready_timeout = number_arg(value);
        } else {
            return usage("bad option " + flag + " " + value);
        }
    }
    if (i >= argc) return usage("no program to run");
    char** program = argv + i;
    if (binary.empty() && std::getenv("SKYHIVE_BINARY")) binary = std::getenv("SKYHIVE_BINARY");
    if (binary.empty() && std::filesystem::path(program[0]).filename() == "skyhive")
        binary = program[0];
    if (binary.empty() && !specs.empty())
        return usage("which skyhive binary runs the nodes? give --binary PATH");
    std::set<std::string> names;
    for (const auto& s : specs)
        if (!names.insert(upper(s.first)).second)
            return usage("two nodes named " + s.first + " (names ignore case)");
    if (!self.empty() && !names.insert(upper(self)).second)
        return usage("--self " + self + " is also a --node");

    ::signal(SIGPIPE, SIG_IGN);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    std::unique_ptr<skyhive::test::RedisProcess> redis;
    if (redis_mode == "standalone") {
        skyhive::test::RedisProcess::Options o;
        o.die_with_parent = true;
        auto started = skyhive::test::RedisProcess::start(o);
        if (!started) {
            std::fprintf(stderr, "with_nodes: redis-server: %s\n", started.error().message.c_str());
            return 2;
        }
        redis = std::move(started.value());
        ::setenv("SKYHIVE_TEST_REDIS_PORT", std::to_string(redis->port()).c_str(), 1);
        ::setenv("SKYHIVE_TEST_REDIS_DIR", redis->dir().c_str(), 1);
    }
    char tmpl[] = "/tmp/skyhive-nodes-XXXXXX";
    if (!::mkdtemp(tmpl)) {
        std::perror("with_nodes: mkdtemp");
        return 2;
    }
    std::string dir = tmpl;
    int control_port = 0;
    int control_fd = listen_any(&control_port, 16);
    if (control_fd < 0) {
        std::perror("with_nodes: listen");
        return 2;
    }

    // Every port first, so that each node's config can name its peers' ports.
    Lab lab;
    std::set<int> ports{control_port};
    auto pick_port = [&ports] {
        int p = 0;
        do
            p = skyhive::test::free_port();
        while (p <= 0 || !ports.insert(p).second);
        return p;
    };
    std::string list;
    for (const auto& [name, config] : specs) {
        NodeProcess::Options o;
        o.name = name;
        o.binary = binary;
        o.config = config;
        o.port = pick_port();
        o.log_path = dir + "/" + name + ".log";
        o.ready = ready;
        o.ready_timeout = std::chrono::milliseconds(ready_timeout);
        ::setenv(("SKYHIVE_TEST_NODE_" + upper(name) + "_PORT").c_str(),
                 std::to_string(o.port).c_str(), 1);
        list += (list.empty() ? "" : " ") + name;
        lab.nodes.push_back(std::make_unique<NodeProcess>(std::move(o)));
    }
    ::unsetenv("SKYHIVE_TEST_NODE_NAME");
    ::unsetenv("SKYHIVE_TEST_NODE_PORT");
    if (!self.empty()) {
        lab.self_name = self;
        lab.self_port = pick_port();
        ::setenv(("SKYHIVE_TEST_NODE_" + upper(self) + "_PORT").c_str(),
                 std::to_string(lab.self_port).c_str(), 1);
    }
    ::setenv("SKYHIVE_TEST_NODES", list.c_str(), 1);
    ::setenv("SKYHIVE_TEST_NODES_PORT", std::to_string(control_port).c_str(), 1);
    ::setenv("SKYHIVE_TEST_NODES_DIR", dir.c_str(), 1);

    // Every node is launched before any is waited for: they start side by side.
    int code = 0;
    for (auto& n : lab.nodes) {
        auto launched = n->launch();
        if (!launched) {
            std::fprintf(stderr, "with_nodes: %s\n", launched.error().message.c_str());
            code = 2;
            break;
        }
        ::setenv(("SKYHIVE_TEST_NODE_" + upper(n->name()) + "_PID").c_str(),
                 std::to_string(n->pid()).c_str(), 1);
    }
    for (auto& n : lab.nodes) {
        if (code) break;
        auto ready = n->wait_ready();
        if (stop_requested) code = 128 + stop_requested;
        if (!ready) {
            std::fprintf(stderr, "with_nodes: %s\n", ready.error().message.c_str());
            code = 2;
        }
    }
    if (!self.empty()) {
        ::setenv("SKYHIVE_TEST_NODE_NAME", self.c_str(), 1);
        ::setenv("SKYHIVE_TEST_NODE_PORT", std::to_string(lab.self_port).c_str(), 1);
    }
    bool ran = code == 0;  // else the start-up error above already showed the node's log
    if (ran) code = run_program(lab, control_fd, program);
    ::close(control_fd);
    for (auto& n : lab.nodes) {
        if (!n->running()) continue;
        if (auto r = n->terminate(kTermGrace); !r)
            std::fprintf(stderr, "with_nodes: %s\n", r.error().message.c_str());
    }
    if (ran && code != 0) {
        for (auto& n : lab.nodes)
            std::fprintf(stderr, "with_nodes: the end of node %s's log (%s):\n%s",
                         n->name().c_str(), n->log_path().c_str(), n->tail(30).c_str());
    }
    lab.nodes.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    redis.reset();
    return code;
}
