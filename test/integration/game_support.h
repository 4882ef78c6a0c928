#pragma once

// Support for the game's black-box tests (header only): skyhive node processes running the game
// against a test's redis-server, telnet-style players, and a small RESP client to check what
// Redis holds afterwards.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

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

#include "test/integration/process.h"

namespace skyhive::test::game {

using Clock = std::chrono::steady_clock;
inline constexpr auto kDeadline = std::chrono::seconds(15);

// A blocking loopback TCP connection read line by line with deadlines.
// Thread: one owner thread.
class LineSocket {
  public:
    explicit LineSocket(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~LineSocket() {
        if (fd_ >= 0) ::close(fd_);
    }
    LineSocket(const LineSocket&) = delete;
    LineSocket& operator=(const LineSocket&) = delete;

    bool connected() const { return fd_ >= 0; }
    bool closed() const { return eof_; }

    bool send(const std::string& s) {
        size_t done = 0;
        while (fd_ >= 0 && done < s.size()) {
            ssize_t n = ::send(fd_, s.data() + done, s.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return false;
            done += size_t(n);
        }
        return fd_ >= 0;
    }

    // The next line without CR LF; nullopt when the peer closed or the deadline passed.
    std::optional<std::string> read_line(Clock::time_point deadline = Clock::now() + kDeadline) {
        for (;;) {
            size_t nl = buffer_.find('\n');
            if (nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                return line;
            }
            if (fd_ < 0 || eof_) return std::nullopt;
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, int(left.count())) <= 0) continue;
            char buf[4096];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                eof_ = true;
                continue;
            }
            buffer_.append(buf, size_t(n));
        }
    }

    // Raw bytes, for RESP.
    std::optional<std::string> read_some(Clock::time_point deadline) {
        if (!buffer_.empty()) return std::exchange(buffer_, std::string());
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd p{fd_, POLLIN, 0};
        if (fd_ < 0 || left.count() <= 0 || ::poll(&p, 1, int(left.count())) <= 0)
            return std::nullopt;
        char buf[65536];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return std::nullopt;
        return std::string(buf, size_t(n));
    }

  private:
    int fd_ = -1;
    bool eof_ = false;
    std::string buffer_;
};

// A player on a telnet-style connection. Replies are the lines that do not start with '['; the
// notices (chat, gold received, kicks) are collected on the side.
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
    LineSocket socket_;
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

// Just enough of a Redis client to inspect the game's keys.
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

    LineSocket socket_;
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

inline std::vector<Transfer> ledger(RespClient& redis) {
    std::vector<Transfer> out;
    Resp entries = redis.command({"XRANGE", "game:ledger", "-", "+"});
    for (auto& e : entries.elements) {
        Transfer t;
        const auto& fields = e.elements.at(1).elements;
        for (size_t i = 0; i + 1 < fields.size(); i += 2) {
            if (fields[i].str == "from") t.from = fields[i + 1].str;
            if (fields[i].str == "to") t.to = fields[i + 1].str;
            if (fields[i].str == "amount") t.amount = std::stoll(fields[i + 1].str);
        }
        out.push_back(t);
    }
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
                                       "game_node = \"" +
                                       name_ + "\"\nredis = \"127.0.0.1:" +
                                       std::to_string(redis_port) + "\"\n" + extra);
    }

    // Starts the process and waits until the game listens. False (with the output in `why`) if
    // it did not.
    bool start() {
        ++runs_;
        process_ = std::make_unique<Process>(
            std::vector<std::string>{SKYHIVE_BINARY, dir_.file(name_ + ".lua")}, log_path(),
            SKYHIVE_SOURCE_DIR);
        const std::string needle = "game: listening on 127.0.0.1:";
        std::string out;
        for (auto until = Clock::now() + kDeadline;;) {
            out = process_->output();
            if (out.find(needle) != std::string::npos) break;
            // Exited (a bad config, a failed start): no point in waiting.
            if (Clock::now() > until || process_->wait(std::chrono::milliseconds(0)) != -1)
                return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        size_t at = out.find(needle) + needle.size();
        port_ = std::stoi(out.substr(at));
        return true;
    }
    int port() const { return port_; }
    // The debug console's port (the config asks for one on a free port).
    int console_port() const {
        const std::string needle = "debug console: listening on 127.0.0.1:";
        std::string out = output();
        size_t at = out.rfind(needle);
        return at == std::string::npos ? 0 : std::stoi(out.substr(at + needle.size()));
    }
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

// One debug console command: its output lines up to (without) the "<CMD OK>" / "<CMD Error>"
// line, which goes to `status`. Empty with status "" when the console did not answer.
inline std::vector<std::string> console(int port, const std::string& command,
                                        std::string* status = nullptr) {
    LineSocket s(port);
    std::vector<std::string> lines;
    if (!s.read_line() || !s.send(command + "\n")) return lines;
    while (auto line = s.read_line()) {
        if (*line == "<CMD OK>" || *line == "<CMD Error>") {
            if (status) *status = *line;
            return lines;
        }
        lines.push_back(*line);
    }
    if (status) *status = "";
    return lines;
}

// How many services the node runs, from the console's list.
inline int service_count(int console_port) {
    std::string status;
    auto lines = console(console_port, "list", &status);
    return status == "<CMD OK>" ? int(lines.size()) : -1;
}

// --- The debug console, for tests that look inside a running node ---------------------------

// The console's port, from a node's output ("debug console: listening on 127.0.0.1:<port>");
// 0 while it has not said so.
inline int console_port(const std::string& output) {
    const std::string needle = "debug console: listening on 127.0.0.1:";
    size_t at = output.rfind(needle);
    return at == std::string::npos ? 0 : std::atoi(output.c_str() + at + needle.size());
}

// One connection to a node's debug console. run() sends a command and returns its output lines,
// or nullopt when the command failed ("<CMD Error>"), the node closed or the deadline passed.
// Thread: one owner thread.
class DebugConsole {
  public:
    explicit DebugConsole(int port) : socket_(port) {
        if (socket_.connected()) welcome_ = socket_.read_line().value_or("");
    }
    bool ready() const { return welcome_.find("debug console") != std::string::npos; }

    std::optional<std::vector<std::string>> run(const std::string& command) {
        if (!ready() || !socket_.send(command + "\n")) return std::nullopt;
        std::vector<std::string> lines;
        auto deadline = Clock::now() + kDeadline;
        while (auto line = socket_.read_line(deadline)) {
            if (*line == "<CMD OK>") return lines;
            if (*line == "<CMD Error>") return std::nullopt;
            lines.push_back(*line);
        }
        return std::nullopt;
    }

  private:
    LineSocket socket_;
    std::string welcome_;
};

// What the console's `list` and `cmem` say about a node; nullopt when it could not be asked.
struct NodeFigures {
    size_t services = 0;
    long long rss = 0;         // bytes resident
    long long allocated = -1;  // jemalloc's bytes in use; -1 when the node is not on jemalloc
};

inline std::optional<NodeFigures> node_figures(int console) {
    DebugConsole c(console);
    auto list = c.run("list");
    auto mem = list ? c.run("cmem") : std::nullopt;
    if (!mem) return std::nullopt;
    NodeFigures f;
    f.services = list->size();
    for (auto& line : *mem) {
        long long n = 0;
        if (std::sscanf(line.c_str(), "rss %lld B", &n) == 1) f.rss = n;
        if (std::sscanf(line.c_str(), "allocated %lld B", &n) == 1) f.allocated = n;
    }
    if (f.rss <= 0) return std::nullopt;
    return f;
}

}  // namespace skyhive::test::game
