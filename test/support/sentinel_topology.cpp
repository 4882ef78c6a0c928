#include "test/support/sentinel_topology.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

namespace skyhive::test {

namespace {

// Reads replies from a blocking socket with a receive timeout.
class Reader {
  public:
    explicit Reader(int fd) : fd_(fd) {}

    Result<std::string> line() {
        for (;;) {
            size_t e = buf_.find("\r\n", pos_);
            if (e != std::string::npos) {
                std::string l = buf_.substr(pos_, e - pos_);
                pos_ = e + 2;
                return l;
            }
            if (auto r = fill(); !r) return r.error();
        }
    }

    Result<std::string> bytes(size_t n) {
        while (buf_.size() - pos_ < n + 2)
            if (auto r = fill(); !r) return r.error();
        std::string s = buf_.substr(pos_, n);
        pos_ += n + 2;
        return s;
    }

    // Appends the reply's leaves to out.
    Result<void> reply(std::vector<std::string>& out) {
        auto l = line();
        if (!l) return l.error();
        const std::string& s = l.value();
        if (s.empty()) return Error{"empty reply line"};
        switch (s[0]) {
            case '+':
            case ':':
                out.push_back(s.substr(1));
                return {};
            case '-':
                return Error{s.substr(1)};
            case '$': {
                long n = std::strtol(s.c_str() + 1, nullptr, 10);
                if (n < 0) {
                    out.emplace_back();
                    return {};
                }
                auto b = bytes(size_t(n));
                if (!b) return b.error();
                out.push_back(std::move(b.value()));
                return {};
            }
            case '*': {
                long n = std::strtol(s.c_str() + 1, nullptr, 10);
                for (long i = 0; i < n; ++i)
                    if (auto r = reply(out); !r) return r;
                return {};
            }
            default:
                return Error{"unexpected reply line: " + s};
        }
    }

  private:
    Result<void> fill() {
        char tmp[4096];
        ssize_t n = ::read(fd_, tmp, sizeof tmp);
        if (n > 0) {
            buf_.append(tmp, size_t(n));
            return {};
        }
        if (n == 0) return Error{"connection closed"};
        return Error::from_errno("read");
    }

    int fd_;
    std::string buf_;
    size_t pos_ = 0;
};

std::map<std::string, std::string> pairs(const std::vector<std::string>& flat) {
    std::map<std::string, std::string> m;
    for (size_t i = 0; i + 1 < flat.size(); i += 2)
        m[flat[i]] = flat[i + 1];
    return m;
}

}  // namespace

Result<std::vector<std::string>> resp_query(int port, const std::vector<std::string>& words) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error::from_errno("socket");
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string where = "127.0.0.1:" + std::to_string(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        auto e = Error::from_errno("connect " + where);
        ::close(fd);
        return e;
    }
    std::string req = "*" + std::to_string(words.size()) + "\r\n";
    for (const auto& w : words)
        req += "$" + std::to_string(w.size()) + "\r\n" + w + "\r\n";
    if (::write(fd, req.data(), req.size()) != ssize_t(req.size())) {
        auto e = Error::from_errno("write " + where);
        ::close(fd);
        return e;
    }
    std::vector<std::string> out;
    auto r = Reader(fd).reply(out);
    ::close(fd);
    if (!r) return Error{where + ": " + r.error().message};
    return out;
}

Result<std::unique_ptr<SentinelTopology>> SentinelTopology::start(Options options) {
    std::unique_ptr<SentinelTopology> t(new SentinelTopology());
    t->options_ = std::move(options);
    const Options& o = t->options_;
    if (!o.ports.empty() && o.ports.size() != size_t(o.replicas + 1 + o.sentinels))
        return Error{"sentinel topology: " + std::to_string(o.replicas + 1 + o.sentinels) +
                     " ports needed, " + std::to_string(o.ports.size()) + " given"};
    auto port_of = [&o](size_t i) { return o.ports.empty() ? 0 : o.ports[i]; };
    // Full syncs start at once (the default waits 5 s for more replicas to join a diskless one).
    std::vector<std::string> common{"repl-diskless-sync-delay 0", "appendonly no"};
    for (int i = 0; i <= o.replicas; ++i) {
        RedisProcess::Options ro;
        ro.port = port_of(size_t(i));
        ro.config = common;
        ro.config.insert(ro.config.end(), o.server_config.begin(), o.server_config.end());
        if (i > 0)
            ro.config.push_back("replicaof 127.0.0.1 " + std::to_string(t->servers_[0]->port()));
        auto p = RedisProcess::start(std::move(ro));
        if (!p) return p.error();
        t->servers_.push_back(std::move(p.value()));
    }
    const std::string& name = o.master_name;
    for (int i = 0; i < o.sentinels; ++i) {
        RedisProcess::Options so;
        so.port = port_of(size_t(o.replicas + 1 + i));
        so.sentinel = true;
        so.config = {
            "sentinel monitor " + name + " 127.0.0.1 " + std::to_string(t->servers_[0]->port()) +
                " " + std::to_string(o.quorum),
            "sentinel down-after-milliseconds " + name + " " + std::to_string(o.down_after_ms),
            "sentinel failover-timeout " + name + " " + std::to_string(o.failover_timeout_ms),
            "sentinel parallel-syncs " + name + " 2",
        };
        so.config.insert(so.config.end(), o.sentinel_config.begin(), o.sentinel_config.end());
        auto p = RedisProcess::start(std::move(so));
        if (!p) return p.error();
        t->sentinels_.push_back(std::move(p.value()));
    }
    if (auto r = t->wait_ready(o.replicas, std::chrono::seconds(30)); !r) return r.error();
    return t;
}

RedisProcess* SentinelTopology::find(int port) const {
    for (const auto& p : servers_)
        if (p->port() == port) return p.get();
    for (const auto& p : sentinels_)
        if (p->port() == port) return p.get();
    return nullptr;
}

Result<void> SentinelTopology::ready(int min_replicas) const {
    int running = 0;
    for (const auto& s : sentinels_)
        running += s->running() ? 1 : 0;
    if (running == 0) return Error{"no sentinel is running"};
    std::string master;
    for (const auto& s : sentinels_) {
        if (!s->running()) continue;
        auto r = resp_query(s->port(), {"SENTINEL", "MASTER", options_.master_name});
        if (!r) return r.error();
        auto m = pairs(r.value());
        std::string addr = m["ip"] + ":" + m["port"];
        std::string where = "sentinel " + s->address() + ": ";
        if (master.empty()) master = addr;
        if (addr != master) return Error{where + "names " + addr + ", another names " + master};
        if (m["flags"] != "master") return Error{where + "master flags " + m["flags"]};
        if (std::atoi(m["num-other-sentinels"].c_str()) < running - 1)
            return Error{where + "knows " + m["num-other-sentinels"] + " other sentinels"};
        if (std::atoi(m["num-slaves"].c_str()) < min_replicas)
            return Error{where + "knows " + m["num-slaves"] + " replicas"};
    }
    int port = std::atoi(master.substr(master.rfind(':') + 1).c_str());
    auto info = resp_query(port, {"INFO", "replication"});
    if (!info) return info.error();
    const std::string& text = info.value().at(0);
    int online = 0;
    for (size_t at = text.find("state=online"); at != std::string::npos;
         at = text.find("state=online", at + 1))
        ++online;
    if (online < min_replicas)
        return Error{"master " + master + " has " + std::to_string(online) + " replicas online"};
    return {};
}

Result<void> SentinelTopology::wait_ready(int min_replicas,
                                          std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto r = ready(min_replicas);
        if (r || std::chrono::steady_clock::now() >= deadline) return r;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

int SentinelTopology::master_port() const {
    for (const auto& s : sentinels_) {
        if (!s->running()) continue;
        auto r =
            resp_query(s->port(), {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", options_.master_name});
        if (r && r.value().size() == 2) return std::atoi(r.value()[1].c_str());
    }
    return 0;
}

}  // namespace skyhive::test
