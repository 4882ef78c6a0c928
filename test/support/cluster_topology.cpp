#include "test/support/cluster_topology.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <thread>

#include "test/support/sentinel_topology.h"

namespace skyhive::test {

namespace {

std::string where(int port) {
    return "127.0.0.1:" + std::to_string(port);
}

// redis-cli colours its output even into a pipe; the escapes would end up in error texts.
std::string strip_colours(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\x1b') {
            size_t m = s.find('m', i);
            if (m != std::string::npos) {
                i = m;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

// The value of "field:" in an INFO-style text, "" when absent.
std::string info_field(const std::string& text, const std::string& field) {
    size_t at = text.find(field + ":");
    if (at == std::string::npos) return "";
    at += field.size() + 1;
    size_t end = text.find_first_of("\r\n", at);
    return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

Result<std::string> query_text(int port, const std::vector<std::string>& words) {
    auto r = resp_query(port, words);
    if (!r) return r.error();
    if (r.value().size() != 1) return Error{where(port) + ": unexpected reply to " + words[0]};
    return r.value()[0];
}

std::string role_text(int master_port) {
    return master_port ? "a replica of " + where(master_port) : "a master";
}

}  // namespace

Result<std::unique_ptr<ClusterTopology>> ClusterTopology::start(Options options) {
    if (options.masters < 3)
        return Error{"cluster topology: redis-cli --cluster create needs at least 3 masters, " +
                     std::to_string(options.masters) + " asked"};
    if (options.replicas < 0) return Error{"cluster topology: negative replica count"};
    std::unique_ptr<ClusterTopology> t(new ClusterTopology());
    t->options_ = std::move(options);
    int total = t->options_.masters * (1 + t->options_.replicas);
    std::vector<std::string> create{"--cluster", "create"};
    for (int i = 0; i < total; ++i) {
        auto node = t->launch_node();
        if (!node) return node.error();
        create.push_back(node.value()->address());
        t->nodes_.push_back(std::move(node.value()));
    }
    create.insert(create.end(),
                  {"--cluster-replicas", std::to_string(t->options_.replicas), "--cluster-yes"});
    if (auto r = t->redis_cli(create, std::chrono::seconds(60)); !r) return r.error();
    if (auto r = t->wait_ok(std::chrono::seconds(30)); !r) return r.error();
    return t;
}

Result<std::unique_ptr<RedisProcess>> ClusterTopology::launch_node() const {
    Error last{"no free port"};
    // Two free ports: data and cluster bus (the default bus port, port + 10000, may be taken or
    // past 65535).
    for (int attempt = 0; attempt < 5; ++attempt) {
        RedisProcess::Options ro;
        ro.port = free_port();
        int bus = free_port();
        if (ro.port == 0 || bus == 0 || bus == ro.port) continue;
        ro.die_with_parent = options_.die_with_parent;
        ro.config = {
            "cluster-enabled yes",
            "cluster-port " + std::to_string(bus),
            "cluster-node-timeout " + std::to_string(options_.node_timeout_ms),
            std::string("cluster-require-full-coverage ") + (options_.full_coverage ? "yes" : "no"),
            "appendonly no",
            "repl-diskless-sync-delay 0"};
        ro.config.insert(ro.config.end(), options_.server_config.begin(),
                         options_.server_config.end());
        auto p = RedisProcess::start(std::move(ro));
        if (p) return p;
        last = p.error();
    }
    return Error{"cluster topology: cannot start a node: " + last.message};
}

Result<std::string> ClusterTopology::redis_cli(const std::vector<std::string>& args,
                                               std::chrono::seconds timeout) const {
    std::string what = "redis-cli";
    for (const auto& a : args)
        what += " " + a;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno("pipe");
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return Error::from_errno("fork");
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(fds[1], 1);
        ::dup2(fds[1], 2);
        int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, 0);
        std::vector<char*> argv{const_cast<char*>("redis-cli")};
        for (const auto& a : args)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execvp("redis-cli", argv.data());
        std::_Exit(127);
    }
    ::close(fds[1]);
    std::string output;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string failure;
    for (;;) {
        if (cancelled()) {
            failure = "cancelled";
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            failure = "no exit within " + std::to_string(timeout.count()) + " s";
            break;
        }
        pollfd pfd{fds[0], POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0) continue;  // a timeout, or EINTR: check the clocks
        char buf[4096];
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n > 0) output.append(buf, size_t(n));
        if (n == 0) break;
    }
    ::close(fds[0]);
    if (!failure.empty()) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    output = strip_colours(output);
    if (failure.empty() && WIFEXITED(status) && WEXITSTATUS(status) == 0) return output;
    if (failure.empty())
        failure = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                    : "killed by signal " + std::to_string(WTERMSIG(status));
    return Error{what + ": " + failure + ": " + output};
}

ClusterTopology::~ClusterTopology() {
    // One at a time, each stop would wait out the node's own shutdown (a master waits for its
    // replicas to catch up) before the next even starts.
    for (const auto& p : nodes_) {
        if (!p->running()) continue;
        ::kill(p->pid(), SIGCONT);
        ::kill(p->pid(), SIGTERM);
    }
    nodes_.clear();
}

RedisProcess* ClusterTopology::find(int port) const {
    for (const auto& p : nodes_)
        if (p->port() == port) return p.get();
    return nullptr;
}

bool ClusterTopology::live(int port) const {
    auto* p = find(port);
    return p && p->running() && !paused_.count(port);
}

Result<int> ClusterTopology::any_live_port(int except) const {
    for (const auto& p : nodes_)
        if (p->port() != except && live(p->port())) return p->port();
    return Error{"cluster topology: no live node"};
}

Result<std::vector<ClusterNode>> ClusterTopology::view() const {
    auto port = any_live_port();
    if (!port) return port.error();
    auto text = query_text(port.value(), {"CLUSTER", "NODES"});
    if (!text) return text.error();
    return parse_cluster_nodes(text.value());
}

Result<std::vector<int>> ClusterTopology::masters() const {
    auto v = view();
    if (!v) return v.error();
    std::vector<std::pair<int, int>> found;  // (first slot or kClusterSlots + port, port)
    for (const auto& n : v.value()) {
        if (!n.master || n.failed) continue;
        int first = kClusterSlots + n.port;
        for (auto [lo, hi] : n.slots)
            first = std::min(first, lo);
        found.emplace_back(first, n.port);
    }
    std::sort(found.begin(), found.end());
    std::vector<int> out;
    for (auto [first, port] : found)
        out.push_back(port);
    return out;
}

Result<std::vector<int>> ClusterTopology::replicas(int master_port) const {
    auto v = view();
    if (!v) return v.error();
    const ClusterNode* m = find_node(v.value(), master_port);
    if (!m) return Error{"cluster topology: no node " + where(master_port) + " in the cluster"};
    std::vector<int> out;
    for (const auto& n : v.value())
        if (n.master_id == m->id && !n.failed) out.push_back(n.port);
    std::sort(out.begin(), out.end());
    return out;
}

Result<int> ClusterTopology::slots(int port) const {
    auto v = view();
    if (!v) return v.error();
    const ClusterNode* n = find_node(v.value(), port);
    if (!n) return Error{"cluster topology: no node " + where(port) + " in the cluster"};
    return n->slot_count;
}

Result<int> ClusterTopology::owner(int slot) const {
    if (slot < 0 || slot >= kClusterSlots)
        return Error{"cluster topology: slot " + std::to_string(slot) + " out of 0..16383"};
    auto v = view();
    if (!v) return v.error();
    int port = slot_owners(v.value())[size_t(slot)];
    if (port == 0) return Error{"cluster topology: slot " + std::to_string(slot) + " unassigned"};
    return port;
}

Result<std::string> ClusterTopology::node_id(int port) const {
    if (!live(port)) return Error{"cluster topology: no live node " + where(port)};
    return query_text(port, {"CLUSTER", "MYID"});
}

Result<void> ClusterTopology::ok() const {
    std::vector<int> live_ports;
    for (const auto& p : nodes_)
        if (live(p->port())) live_ports.push_back(p->port());
    if (live_ports.empty()) return Error{"no node is running"};
    std::vector<int> reference;
    std::map<int, int> reference_roles;  // node -> its master's port, 0 for a master
    int reference_port = 0;
    for (int port : live_ports) {
        std::string at = where(port) + ": ";
        auto info = query_text(port, {"CLUSTER", "INFO"});
        if (!info) return info.error();
        std::string state = info_field(info.value(), "cluster_state");
        if (state != "ok") return Error{at + "cluster_state:" + state};
        auto text = query_text(port, {"CLUSTER", "NODES"});
        if (!text) return text.error();
        auto view = parse_cluster_nodes(text.value());
        if (!view) return Error{at + view.error().message};
        for (int other : live_ports) {
            const ClusterNode* n = find_node(view.value(), other);
            if (!n) return Error{at + "does not know " + where(other)};
            if (!n->usable) return Error{at + "sees " + where(other) + " as " + n->flags};
        }
        // Who replicates whom, for every live node: all views must agree (a node turned into a
        // replica is seen as an empty master until the news reaches everyone).
        std::map<int, int> roles;
        for (int other : live_ports) {
            const ClusterNode* n = find_node(view.value(), other);
            int master = 0;
            for (const auto& m : view.value())
                if (!n->master && m.id == n->master_id) master = m.port;
            roles[other] = master;
        }
        if (reference.empty()) {
            reference_roles = roles;
        } else {
            for (auto [node, master] : roles)
                if (reference_roles[node] != master)
                    return Error{at + "sees " + where(node) + " as " + role_text(master) + ", " +
                                 where(reference_port) + " as " + role_text(reference_roles[node])};
        }
        std::vector<int> owners = slot_owners(view.value());
        for (int s = 0; s < kClusterSlots; ++s) {
            int o = owners[size_t(s)];
            if (o == 0) return Error{at + "slot " + std::to_string(s) + " is unassigned"};
            if (!live(o))
                return Error{at + "slot " + std::to_string(s) + " is on " + where(o) +
                             ", which is down"};
            if (!reference.empty() && reference[size_t(s)] != o)
                return Error{at + "maps slot " + std::to_string(s) + " to " + where(o) + ", " +
                             where(reference_port) + " to " + where(reference[size_t(s)])};
        }
        if (reference.empty()) {
            reference = std::move(owners);
            reference_port = port;
        }
        const ClusterNode* self = nullptr;
        for (const auto& n : view.value())
            if (n.flags.find("myself") != std::string::npos) self = &n;
        if (self && !self->master) {
            auto repl = query_text(port, {"INFO", "replication"});
            if (!repl) return repl.error();
            std::string link = info_field(repl.value(), "master_link_status");
            if (link != "up") return Error{at + "replica with master_link_status:" + link};
        }
    }
    return {};
}

Result<void> ClusterTopology::wait_ok(std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto r = ok();
        if (r) return r;
        if (cancelled()) return Error{"cancelled while waiting: " + r.error().message};
        if (std::chrono::steady_clock::now() >= deadline)
            return Error{"cluster not ok after " + std::to_string(timeout.count()) +
                         " ms: " + r.error().message};
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

Result<void> ClusterTopology::kill(int port) {
    auto* p = find(port);
    if (!p) return Error{"cluster topology: no node " + where(port)};
    p->signal(SIGKILL);
    paused_.erase(port);
    return {};
}

Result<void> ClusterTopology::stop(int port) {
    auto* p = find(port);
    if (!p) return Error{"cluster topology: no node " + where(port)};
    p->stop();
    paused_.erase(port);
    return {};
}

Result<void> ClusterTopology::pause(int port) {
    auto* p = find(port);
    if (!p || !p->running()) return Error{"cluster topology: no running node " + where(port)};
    p->signal(SIGSTOP);
    paused_.insert(port);
    return {};
}

Result<void> ClusterTopology::resume(int port) {
    auto* p = find(port);
    if (!p || !p->running()) return Error{"cluster topology: no running node " + where(port)};
    p->signal(SIGCONT);
    paused_.erase(port);
    return {};
}

Result<void> ClusterTopology::restart(int port) {
    auto* p = find(port);
    if (!p) return Error{"cluster topology: no node " + where(port)};
    paused_.erase(port);
    return p->restart();
}

Result<void> ClusterTopology::failover(int replica_port) {
    if (!live(replica_port)) return Error{"cluster topology: no live node " + where(replica_port)};
    auto r = resp_query(replica_port, {"CLUSTER", "FAILOVER"});
    if (!r) return r.error();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    for (;;) {
        auto role = resp_query(replica_port, {"ROLE"});
        if (role && !role.value().empty() && role.value()[0] == "master")
            return wait_ok(std::chrono::seconds(30));
        if (cancelled()) return Error{"cancelled"};
        if (std::chrono::steady_clock::now() >= deadline)
            return Error{"CLUSTER FAILOVER: " + where(replica_port) +
                         " is not a master after 15 s"};
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

Result<void> ClusterTopology::reshard(int from_port, int to_port, int n) {
    auto from = node_id(from_port);
    if (!from) return from.error();
    auto to = node_id(to_port);
    if (!to) return to.error();
    auto r = redis_cli(
        {"--cluster", "reshard", where(from_port), "--cluster-from", from.value(), "--cluster-to",
         to.value(), "--cluster-slots", std::to_string(n), "--cluster-yes"},
        std::chrono::seconds(300));
    if (!r) return r.error();
    // redis-cli tells the two masters; the others learn the new owners by gossip.
    return wait_ok(std::chrono::seconds(30));
}

Result<int> ClusterTopology::add_node(int master_port) {
    auto entry = any_live_port();
    if (!entry) return entry.error();
    std::string master_id;
    if (master_port != 0) {
        auto id = node_id(master_port);
        if (!id) return id.error();
        master_id = id.value();
    }
    auto node = launch_node();
    if (!node) return node.error();
    int port = node.value()->port();
    std::vector<std::string> args{"--cluster", "add-node", node.value()->address(),
                                  where(entry.value())};
    if (master_port != 0)
        args.insert(args.end(), {"--cluster-slave", "--cluster-master-id", master_id});
    auto joined = redis_cli(args, std::chrono::seconds(60));
    if (!joined) {
        // add-node may fail after the node has joined (CLUSTER REPLICATE refused): then it is a
        // member and stays one; otherwise it goes, or ok() would wait for it forever.
        auto v = view();
        if (!v || !find_node(v.value(), port)) return joined.error();
        nodes_.push_back(std::move(node.value()));
        return Error{joined.error().message + " (" + where(port) +
                     " joined the cluster as an empty master and stays in it)"};
    }
    nodes_.push_back(std::move(node.value()));
    if (auto r = wait_ok(std::chrono::seconds(30)); !r) return r.error();
    return port;
}

Result<void> ClusterTopology::del_node(int port) {
    auto id = node_id(port);
    if (!id) return id.error();
    auto entry = any_live_port(port);
    if (!entry) return entry.error();
    auto r = redis_cli({"--cluster", "del-node", where(entry.value()), id.value()},
                       std::chrono::seconds(60));
    if (!r) return r.error();
    paused_.erase(port);
    std::erase_if(nodes_, [port](const auto& p) { return p->port() == port; });
    return {};
}

}  // namespace skyhive::test
