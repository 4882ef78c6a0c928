// redis_lab: runs a command beside a real redis-server it can break, and a fake one that breaks
// the protocol on request. For the Lua tests of the Redis client.
//   redis_lab <program> [args...]
// Exports to the program:
//   SKYHIVE_TEST_REDIS_PORT  a fresh redis-server on 127.0.0.1
//   SKYHIVE_TEST_LAB_PORT    the control port: RESP commands KILL (SIGKILL the server), STOP
//                            (SIGSTOP), CONT (SIGCONT), START (start it again on the same port
//                            after KILL), RESTART (SIGTERM, then start), PING. Each answers +OK
//                            once done (START/RESTART: once the server answers PING). START and
//                            RESTART with words start a new server on the same port with those
//                            words as an extra config line: RESTART requirepass pw.
//   SKYHIVE_TEST_FAKE_PORT   a fake server: PING -> +PONG; GET <key> answers per key:
//                            ok -> $2 ok; malformed -> a line no RESP type starts; stall -> no
//                            answer to it or anything after it on that connection; cut -> half a
//                            bulk, then close; bigbulk / bigarray -> a header over the client's
//                            size limits; extra -> two replies to one command. Anything else -> an
//                            error reply.
// Exits with the program's status. One thread: a poll loop owns the servers and the sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
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
#include <memory>
#include <string>
#include <vector>

#include "test/support/control_io.h"
#include "test/support/program_runner.h"
#include "test/support/redis_process.h"

namespace {

using skyhive::test::listen_any;
using skyhive::test::parse_request;
using skyhive::test::RedisProcess;
using skyhive::test::upper;
using skyhive::test::write_all;

struct Conn : skyhive::test::ControlConn {
    bool stalled = false;  // a stalled fake connection reads and never answers again
};

std::string control(std::unique_ptr<RedisProcess>& redis, const std::vector<std::string>& argv) {
    std::string cmd = argv.empty() ? "" : upper(argv[0]);
    if (cmd == "PING") return "+PONG\r\n";
    if (cmd == "KILL") {
        redis->signal(SIGKILL);
        return "+OK\r\n";
    }
    if (cmd == "STOP") {
        redis->signal(SIGSTOP);
        return "+OK\r\n";
    }
    if (cmd == "CONT") {
        redis->signal(SIGCONT);
        return "+OK\r\n";
    }
    if ((cmd == "START" || cmd == "RESTART") && argv.size() == 1) {
        auto r = redis->restart();  // restart() = stop (a no-op after KILL) + start
        if (!r) return "-ERR " + r.error().message + "\r\n";
        return "+OK\r\n";
    }
    if (cmd == "START" || cmd == "RESTART") {
        // With words: a new server on the same port whose config has them as one more line
        // ("START requirepass pw"), so the setting holds from its first connection.
        std::string line;
        for (size_t i = 1; i < argv.size(); ++i)
            line += (i > 1 ? " " : "") + argv[i];
        int port = redis->port();
        redis->stop();
        RedisProcess::Options options;
        options.port = port;
        options.config.push_back(line);
        auto r = RedisProcess::start(std::move(options));
        if (!r) return "-ERR " + r.error().message + "\r\n";
        redis = std::move(r.value());
        return "+OK\r\n";
    }
    return "-ERR redis_lab: unknown command '" + cmd + "'\r\n";
}

// The fake server's answer to one request; *close_after when the connection must then close,
// *stall when it must never answer again.
std::string fake(const std::vector<std::string>& argv, bool* close_after, bool* stall) {
    std::string cmd = argv.empty() ? "" : upper(argv[0]);
    if (cmd == "PING") return "+PONG\r\n";
    if (cmd == "GET" && argv.size() == 2) {
        const std::string& key = argv[1];
        if (key == "ok") return "$2\r\nok\r\n";
        if (key == "malformed") return "?not a RESP type\r\n";
        if (key == "stall") {
            *stall = true;
            return "";
        }
        if (key == "cut") {
            *close_after = true;
            return "$10\r\nabc";
        }
        if (key == "bigbulk") return "$1000000000\r\n";
        if (key == "bigarray") return "*100000000\r\n";
        if (key == "extra") return "+OK\r\n+OK\r\n";
    }
    return "-ERR fake server: no behaviour for '" + cmd + "'\r\n";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: redis_lab <program> [args...]\n");
        return 2;
    }
    ::signal(SIGPIPE, SIG_IGN);
    auto started = RedisProcess::start();
    if (!started) {
        std::fprintf(stderr, "redis_lab: %s\n", started.error().message.c_str());
        return 2;
    }
    std::unique_ptr<RedisProcess> redis = std::move(started.value());
    int control_port = 0, fake_port = 0;
    int control_fd = listen_any(&control_port);
    int fake_fd = listen_any(&fake_port);
    if (control_fd < 0 || fake_fd < 0) {
        std::perror("redis_lab: listen");
        return 2;
    }
    ::setenv("SKYHIVE_TEST_REDIS_PORT", std::to_string(redis->port()).c_str(), 1);
    ::setenv("SKYHIVE_TEST_REDIS_DIR", redis->dir().c_str(), 1);
    ::setenv("SKYHIVE_TEST_LAB_PORT", std::to_string(control_port).c_str(), 1);
    ::setenv("SKYHIVE_TEST_FAKE_PORT", std::to_string(fake_port).c_str(), 1);

    pid_t child = skyhive::test::spawn_program("redis_lab", argv + 1);
    if (child < 0) return 2;
    skyhive::test::ControlServer::Hooks hooks;
    // The timeout only bounds how late the child's exit is noticed.
    hooks.poll_ms = 50;
    hooks.make_conn = [] { return std::make_unique<Conn>(); };
    hooks.on_read = [&redis](skyhive::test::ControlConn& conn, const char* data, size_t n) {
        Conn& c = static_cast<Conn&>(conn);
        if (c.stalled) return;
        c.in.append(data, n);
        std::vector<std::string> args;
        while (!c.stalled && parse_request(c.in, args)) {
            bool close_after = false;
            // listener 0 is the control port, 1 the fake server
            std::string reply =
                c.listener == 0 ? control(redis, args) : fake(args, &close_after, &c.stalled);
            write_all(c.fd, reply);
            if (close_after) {
                c.close = true;
                break;
            }
        }
    };
    skyhive::test::ControlServer server(control_fd, std::move(hooks));
    server.add_listener(fake_fd);
    int code = server.serve(child, nullptr);
    redis.reset();
    return code;
}
