#pragma once

// Support for the game's black-box tests (header only): skyhive node processes running the game
// against a test's redis-server, telnet-style players, a small RESP client to check what Redis
// holds afterwards, and the debug console.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test/integration/line_client.h"
#include "test/integration/process.h"
#include "test/support/redis_process.h"

namespace skyhive::test::game {

using Clock = LineClient::Clock;
inline constexpr auto kDeadline = LineClient::kDeadline;

// A test with its own redis-server (started before each test) and a temporary directory for the
// nodes' configs and logs. A test that wants other server options overrides redis_options().
// Thread: the test's main thread.
class GameFixture : public ::testing::Test {
  protected:
    virtual RedisProcess::Options redis_options() const { return {}; }
    void SetUp() override {
        auto r = RedisProcess::start(redis_options());
        ASSERT_TRUE(r) << r.error().message;
        redis_ = std::move(r.value());
    }
    int redis_port() const { return redis_->port(); }

    TempDir dir_;
    std::unique_ptr<RedisProcess> redis_;
};

// A player on a telnet-style connection. Replies are the lines that do not start with '['; the
// notices (chat, gold received, kicks) are collected on the side. Thread: one owner thread.
class Player {
  public:
    explicit Player(int port) : socket_(port) {
        if (socket_.connected()) welcome_ = socket_.read_line().value_or("");
    }
    // Connected and greeted.
    bool ready() const { return welcome_.find("welcome to skyhive") != std::string::npos; }
    bool closed() const { return socket_.closed(); }

    // Sends one line and returns the first reply line ("" at close or after the deadline).
    std::string command(const std::string& line) {
        if (!socket_.send(line + "\r\n")) return "";
        return reply();
    }
    std::string reply() {
        auto deadline = Clock::now() + kDeadline;
        while (auto line = socket_.read_line(deadline)) {
            if (!line->empty() && line->front() == '[') {
                notices.push_back(*line);
                continue;
            }
            return *line;
        }
        return "";
    }
    bool send_raw(const std::string& bytes) { return socket_.send(bytes); }

    // The first notice containing `text`, waiting for it; "" after the deadline.
    std::string wait_notice(const std::string& text) {
        auto deadline = Clock::now() + kDeadline;
        for (;;) {
            for (auto& n : notices)
                if (n.find(text) != std::string::npos) return n;
            auto line = socket_.read_line(deadline);
            if (!line) return "";
            if (!line->empty() && line->front() == '[') notices.push_back(*line);
        }
    }

    std::vector<std::string> notices;

  private:
    LineClient socket_;
    std::string welcome_;
};

// A parsed RESP reply.
struct Resp {
    char type = 0;  // '+', '-', ':', '$', '*'; 0 = no reply
    std::string str;
    long long integer = 0;
    bool null = false;
    std::vector<Resp> elements;
};

// Just enough of a Redis client to inspect the game's keys. Thread: one owner thread.
class RespClient {
  public:
    explicit RespClient(int port) : socket_(port) {}
    Resp command(const std::vector<std::string>& args) {
        std::string out = "*" + std::to_string(args.size()) + "\r\n";
        for (auto& a : args)
            out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
        if (!socket_.send(out)) return {};
        size_t pos = 0;
        auto deadline = Clock::now() + kDeadline;
        for (;;) {
            pos = 0;
            if (auto r = parse(pos)) {
                buffer_.erase(0, pos);
                return *r;
            }
            auto more = socket_.read_some(deadline);
            if (!more) return {};
            buffer_ += *more;
        }
    }

  private:
    std::optional<Resp> parse(size_t& pos) {
        size_t eol = buffer_.find("\r\n", pos);
        if (eol == std::string::npos) return std::nullopt;
        Resp r;
        r.type = buffer_[pos];
        std::string head = buffer_.substr(pos + 1, eol - pos - 1);
        pos = eol + 2;
        if (r.type == '+' || r.type == '-') {
            r.str = head;
        } else if (r.type == ':') {
            r.integer = std::stoll(head);
        } else if (r.type == '$') {
            long long n = std::stoll(head);
            if (n < 0) {
                r.null = true;
            } else {
                if (buffer_.size() < pos + size_t(n) + 2) return std::nullopt;
                r.str = buffer_.substr(pos, size_t(n));
                pos += size_t(n) + 2;
            }
        } else if (r.type == '*') {
            long long n = std::stoll(head);
            r.null = n < 0;
            for (long long i = 0; i < n; ++i) {
                auto e = parse(pos);
                if (!e) return std::nullopt;
                r.elements.push_back(std::move(*e));
            }
        }
        return r;
    }

    LineClient socket_;
    std::string buffer_;
};

// name -> gold of every player record in Redis.
inline std::map<std::string, long long> balances(RespClient& redis) {
    std::map<std::string, long long> out;
    Resp keys = redis.command({"KEYS", "game:player:*"});
    for (auto& k : keys.elements) {
        Resp gold = redis.command({"HGET", k.str, "gold"});
        out[k.str.substr(std::string("game:player:").size())] = std::stoll(gold.str);
    }
    return out;
}

// One applied transfer, from the ledger stream.
struct Transfer {
    std::string from, to;
    long long amount = 0;
};

// One entry of the ledger stream (id, then the field/value list) as a transfer.
inline Transfer transfer_of(const Resp& entry) {
    Transfer t;
    const auto& fields = entry.elements.at(1).elements;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i].str == "from") t.from = fields[i + 1].str;
        if (fields[i].str == "to") t.to = fields[i + 1].str;
        if (fields[i].str == "amount") t.amount = std::stoll(fields[i + 1].str);
    }
    return t;
}

inline std::vector<Transfer> ledger(RespClient& redis) {
    std::vector<Transfer> out;
    Resp entries = redis.command({"XRANGE", "game:ledger", "-", "+"});
    for (auto& e : entries.elements)
        out.push_back(transfer_of(e));
    return out;
}

// The skyhive binary running the shipped default config with the game on a kernel-chosen port,
// against the Redis on `redis_port`; `extra` lines are appended to the config.
// Thread: one owner thread.
class GameNode {
  public:
    GameNode(const TempDir& dir, std::string name, int redis_port, std::string extra = "")
        : dir_(dir), name_(std::move(name)) {
        dir_.write(name_ + ".lua", "include \"" + std::string(SKYHIVE_SOURCE_DIR) +
                                       "/config/default.lua\"\n"
                                       "game = \"127.0.0.1:0\"\n"
                                       "debug_console = \"127.0.0.1:0\"\n"
                                       "admin = \"127.0.0.1:0\"\n"
                                       "cluster_listen = \"127.0.0.1:0\"\n"
                                       "game_node = \"" +
                                       name_ + "\"\nredis = \"127.0.0.1:" +
                                       std::to_string(redis_port) + "\"\n" + extra);
    }

    // Starts the process and waits until the game listens. False (see output()) if it did not.
    bool start() {
        ++runs_;
        process_ = std::make_unique<Process>(
            std::vector<std::string>{SKYHIVE_BINARY, dir_.file(name_ + ".lua")}, log_path(),
            SKYHIVE_SOURCE_DIR);
        port_ = process_->wait_for_port("game: listening on ", kDeadline);
        return port_ > 0;
    }
    int port() const { return port_; }
    // The debug console's port (the config asks for one on a free port); 0 before it listens.
    int console_port() const;
    void signal(int sig) { process_->signal(sig); }
    // SIGTERM (or another signal) and the exit status.
    int stop(int sig = SIGTERM) {
        process_->signal(sig);
        return process_->wait();
    }
    void kill() {
        process_->signal(SIGKILL);
        process_->wait();
    }
    std::string output() const { return process_ ? process_->output() : ""; }

  private:
    std::string log_path() const { return dir_.file(name_ + "." + std::to_string(runs_) + ".log"); }

    const TempDir& dir_;
    std::string name_;
    int runs_ = 0;
    int port_ = 0;
    std::unique_ptr<Process> process_;
};

// --- The debug console, for tests that look inside a running node ---------------------------

// The console's port, from a node's output ("debug console: listening on 127.0.0.1:<port>");
// 0 while it has not said so.
inline int console_port(const std::string& output) {
    const std::string needle = "debug console: listening on 127.0.0.1:";
    size_t at = output.rfind(needle);
    return at == std::string::npos ? 0 : std::atoi(output.c_str() + at + needle.size());
}

// A console command's answer: its output lines, up to (without) the "<CMD OK>" or "<CMD Error>"
// line that ends it.
struct ConsoleReply {
    enum class Status { none, ok, error };  // none: no answer (closed, deadline passed)
    Status status = Status::none;
    std::vector<std::string> lines;

    bool ok() const { return status == Status::ok; }
};

// One connection to a node's debug console. Thread: one owner thread.
class DebugConsole {
  public:
    explicit DebugConsole(int port) : socket_(port) {
        if (socket_.connected()) welcome_ = socket_.read_line().value_or("");
    }
    bool ready() const { return welcome_.find("debug console") != std::string::npos; }

    ConsoleReply run(const std::string& command) {
        ConsoleReply reply;
        if (!ready() || !socket_.send(command + "\n")) return reply;
        auto deadline = Clock::now() + kDeadline;
        while (auto line = socket_.read_line(deadline)) {
            if (*line == "<CMD OK>" || *line == "<CMD Error>") {
                reply.status =
                    *line == "<CMD OK>" ? ConsoleReply::Status::ok : ConsoleReply::Status::error;
                return reply;
            }
            reply.lines.push_back(*line);
        }
        return reply;
    }

  private:
    LineClient socket_;
    std::string welcome_;
};

// One command on a connection of its own.
inline ConsoleReply console(int port, const std::string& command) {
    return DebugConsole(port).run(command);
}

// How many services the node runs, from the console's list; -1 when it could not be asked.
inline int service_count(int console_port) {
    ConsoleReply list = console(console_port, "list");
    return list.ok() ? int(list.lines.size()) : -1;
}

inline int GameNode::console_port() const {
    return game::console_port(output());
}

// What the console's `list` and `cmem` say about a node; nullopt when it could not be asked.
struct NodeFigures {
    size_t services = 0;       // without the cluster links (and their clusterbulk helpers)
    size_t links = 0;          // cluster links: one per peer node, made at the first call to it
    long long rss = 0;         // bytes resident
    long long allocated = -1;  // jemalloc's bytes in use; -1 when the node is not on jemalloc
};

inline std::optional<NodeFigures> node_figures(int console) {
    DebugConsole c(console);
    ConsoleReply list = c.run("list");
    ConsoleReply mem = list.ok() ? c.run("cmem") : ConsoleReply{};
    if (!mem.ok()) return std::nullopt;
    NodeFigures f;
    for (auto& line : list.lines) {
        if (line.find("clusterlink") != std::string::npos)
            ++f.links;
        else if (line.find("clusterbulk") == std::string::npos)  // a link's, comes with it
            ++f.services;
    }
    for (auto& line : mem.lines) {
        long long n = 0;
        if (std::sscanf(line.c_str(), "rss %lld B", &n) == 1) f.rss = n;
        if (std::sscanf(line.c_str(), "allocated %lld B", &n) == 1) f.allocated = n;
    }
    if (f.rss <= 0) return std::nullopt;
    return f;
}

}  // namespace skyhive::test::game
