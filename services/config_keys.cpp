#include "services/config_keys.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <utility>
#include <vector>

namespace skyhive {
namespace {

constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();

// Lua files a config names which must exist when it is checked.
constexpr const char* kExistingFiles[] = {"lualoader", "preload", "cluster"};

// The schema and its path keys, declared together so that the two lists cannot disagree.
struct NodeKeys {
    // What a one-path key accepts besides a path.
    enum class Path {
        only,      // a path, not ""
        or_empty,  // "" too: unset (logger: stdout)
        or_off,    // "" and false too: the feature is off
    };

    ConfigSchema schema;
    PathKeys paths;

    // A key whose value is one file or directory; with `base_key`, a relative value is taken
    // from the directory that key names when the config sets it.
    NodeKeys& path(const std::string& name, Path accepts, std::string base_key = {}) {
        if (accepts == Path::or_empty)
            schema.string(name);
        else
            schema.path(
                name, accepts == Path::or_off ? ConfigSchema::Off::allowed : ConfigSchema::Off::no);
        paths[name] = PathKey{PathKey::Kind::one, accepts == Path::or_off, std::move(base_key)};
        return *this;
    }
    // A key whose value is `;`-separated search patterns with `?`.
    NodeKeys& search_path(const std::string& name) {
        schema.string(name);
        paths[name] = PathKey{PathKey::Kind::search, false, {}};
        return *this;
    }
};

NodeKeys build() {
    NodeKeys keys;
    ConfigSchema& s = keys.schema;
    // The node (core/node.cpp) and the binary (services/main.cpp).
    s.integer("thread", 1, 64)
        .integer("worker_spin", 0, 100'000)
        .integer("harbor", 0, 255)
        .integer("monitor_threshold", 10, 3'600'000)
        .nonempty("bootstrap")
        .choice("loglevel", {"debug", "info", "warn", "warning", "error"})
        .integer("shutdown_timeout", 0, 3'600'000)
        .integer("socket_warning_kb", 1, int64_t(1) << 22)
        .integer("socket_spin", 0, 10'000)
        .integer("socket_inline_budget", 1, 1'000'000)
        .integer("socket_inline_limit", 1, 60'000)
        .boolean("socket_batch_writes")
        .integer("logon_limit_kb", 1, int64_t(1) << 30)
        .required("bootstrap",
                  "the first service the node starts, e.g. bootstrap = \"snlua "
                  "bootstrap\"");
    // A relative logger file lives in logpath when that is set (skynet's rule).
    using Path = NodeKeys::Path;
    keys.path("logger", Path::or_empty, "logpath")
        .path("logpath", Path::or_empty)
        .search_path("cpath");
    // The local redis-server (services/local_redis.cpp).
    keys.path("local_redis", Path::or_off);
    s.integer("local_redis_port", 0, 65535).choice("local_redis_fsync", {"always", "everysec"});
    // snlua (services/snlua/lua_host.cpp, snlua.cpp).
    keys.search_path("luaservice")
        .search_path("lua_path")
        .search_path("lua_cpath")
        .path("lualoader", Path::only)
        .path("preload", Path::only);
    s.boolean("lua_codecache").integer("lua_gc_incremental_kb", 0, int64_t(1) << 30);
    // The Lua start scripts: bootstrap.lua, main.lua, game_main.lua.
    s.nonempty("start")
        .address("debug_console")
        .boolean("debug_console_allow_remote")
        .address("echo");
    // The admin endpoint (services/lua/admin.lua): checked further in check_admin below.
    s.address("admin", ConfigSchema::Off::allowed)
        .boolean("admin_allow_remote")
        .nonempty("admin_token")
        .boolean("admin_write");
    // The game (services/game/): game.lua, world.lua, game_db.lua.
    s.address("game", ConfigSchema::Off::allowed)
        .node_name("game_node")
        .integer("game_start_gold", 0, 1'000'000'000)
        .integer("game_flush_interval", 1, kIntMax)
        .choice("game_test_hook", {"stall_after_debit", "stall_after_credit"})
        .boolean("game_notify_pubsub")
        .address("redis")
        .address_list("redis_sentinels")
        .address_list("redis_cluster")
        .nonempty("redis_master")
        .string("redis_auth")
        .integer("redis_db", 0, kIntMax);
    // The cluster (lualib/skynet/cluster/config.lua reads them for clusterd and membership).
    s.node_name("cluster_name")
        .address("cluster_listen")
        .nonempty("cluster_secret")
        .node_list("cluster_nodes")
        .integer("cluster_ttl", 100, kIntMax)
        .integer("cluster_heartbeat", 10, kIntMax)
        .integer("cluster_peer_timeout", 20, kIntMax)
        .integer("cluster_max_message", 1024, kIntMax)
        .integer("cluster_send_queue", 1, int64_t(1) << 22)
        .integer("cluster_max_serving", 1, kIntMax);
    // skynet's clustername file: checked by check_cluster_file.
    keys.path("cluster", Path::only);
    // skynet's keys that mean nothing here: say so instead of "unknown key".
    const std::string skynet = "a skynet key that skyhive does not implement";
    s.unsupported("daemon", skynet + " (run the node under a process supervisor instead)")
        .unsupported("standalone", skynet + " (no master/slave harbor: nodes share a Redis)")
        .unsupported("master", skynet + " (no master/slave harbor: nodes share a Redis)")
        .unsupported("address", skynet + " (no master/slave harbor: nodes share a Redis)")
        .unsupported("logservice", skynet + " (the logger is built in: set logger, logpath)")
        .unsupported("profile",
                     skynet + " (CPU time per service is always counted, see the console's stat)")
        .unsupported("snax", skynet + " (no snax)");
    // Set at run time, not by configs.
    s.unsupported("lock_node_tag",
                  "set by the lock library when the node runs (it tells this node's lock "
                  "waiters from other nodes'); a config may not set it");
    return keys;
}

// The entries of skynet's clustername file (the `cluster` key): `name = "host:port"` lines, a
// node set to false (known, down), and skynet's option `__nowaiting`. "" when the file is good,
// else every problem as "key 'cluster': file:line: entry ...", one per line.
std::string check_cluster_file(const Config& config, const std::string& path) {
    auto file = load_config(path, PathKeys{});
    if (!file) return config.invalid("cluster", file.error().message).message;
    std::vector<std::pair<int, std::string>> found;  // (line, text): reported in line order
    for (const auto& [name, entry] : file->entries()) {
        std::string what;
        if (name.rfind("__", 0) == 0) {
            if (name != "__nowaiting")
                what = "unknown option '" + name + "' (skynet's __nowaiting is the only one)";
            else if (entry.value != "true" && entry.value != "false")
                what = "option '__nowaiting': expected true or false, got '" + entry.value + "'";
        } else if (!is_node_name(name)) {
            what = "entry '" + name + "': a node name is 1 to 64 letters, digits, '_' or '-'";
        } else if (entry.value != "false") {
            if (std::string bad = address_problem(entry.value); !bad.empty())
                what = "entry '" + name + "': expected \"host:port\" or false, got '" +
                       entry.value + "' (" + bad + ")";
        }
        if (!what.empty())
            found.emplace_back(entry.line,
                               config.invalid("cluster", file->where(name) + what).message);
    }
    std::sort(found.begin(), found.end());
    std::string problems;
    for (const auto& [line, text] : found)
        problems += (problems.empty() ? "" : "\n") + text;
    return problems;
}

bool is_loopback_host(std::string_view host) {
    if (host == "localhost" || host == "::1") return true;
    if (host.substr(0, 4) != "127.") return false;
    int dots = 0;
    for (char ch : host.substr(4)) {
        if (ch == '.')
            ++dots;
        else if (ch < '0' || ch > '9')
            return false;
    }
    return dots == 2;
}

// The admin endpoint's access rule: whoever reaches it reads every service's state, so it
// listens on loopback unless the config both allows remote clients and sets a token they must
// present. "" when the config is fine, else the problem as "file:line: key 'k': ...".
std::string check_admin(const Config& config) {
    const Config::Entry* admin = config.entry("admin");
    const Config::Entry* token = config.entry("admin_token");
    std::string problems;
    auto add = [&problems](std::string text) {
        problems += (problems.empty() ? "" : "\n") + std::move(text);
    };
    constexpr size_t kMinToken = 16;
    if (token && !token->value.empty() && token->value.size() < kMinToken)
        add(config
                .invalid("admin_token", "a token of " + std::to_string(token->value.size()) +
                                            " characters is too easy to guess: use at least " +
                                            std::to_string(kMinToken) +
                                            " (e.g. the output of `openssl rand -hex 16`)")
                .message);
    if (!admin || admin->value.empty() || admin->value == "false" ||
        !address_problem(admin->value).empty())
        return problems;
    std::string_view value = admin->value;
    std::string_view host = value.substr(0, value.rfind(':'));
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (is_loopback_host(host)) return problems;
    auto allow = config.get_bool("admin_allow_remote", false);
    if (!allow || !*allow)
        add(config
                .invalid("admin", "'" + admin->value +
                                      "' is not a loopback address: set admin_allow_remote = true "
                                      "and an admin_token to serve other machines")
                .message);
    else if (!token || token->value.empty())
        add(config
                .invalid("admin", "'" + admin->value +
                                      "' is not a loopback address: admin_allow_remote needs an "
                                      "admin_token that every request presents")
                .message);
    return problems;
}

const NodeKeys& node_keys() {
    static const NodeKeys keys = build();
    return keys;
}

}  // namespace

const ConfigSchema& node_config_schema() {
    return node_keys().schema;
}

const PathKeys& node_path_keys() {
    return node_keys().paths;
}

Result<void> validate_node_config(const Config& config) {
    auto valid = node_config_schema().validate(config);
    std::string problems = valid ? std::string() : valid.error().message;
    for (const char* key : kExistingFiles) {
        const Config::Entry* e = config.entry(key);
        if (!e || e->value.empty()) continue;
        std::error_code ec;
        std::string more;
        if (!std::filesystem::is_regular_file(e->value, ec))
            more = config.invalid(key, "no file '" + e->value + "'").message;
        else if (std::string_view(key) == "cluster")
            more = check_cluster_file(config, e->value);
        if (more.empty()) continue;
        if (!problems.empty()) problems += '\n';
        problems += more;
    }
    // A link is declared dead after cluster_peer_timeout ms of silence, and an idle link pings
    // every cluster_heartbeat ms: the timeout must leave room for a ping.
    auto heartbeat = config.get_int("cluster_heartbeat", 1000, 0, kIntMax);
    auto peer_timeout = config.get_int("cluster_peer_timeout", 3000, 0, kIntMax);
    if (heartbeat && peer_timeout && *peer_timeout <= *heartbeat) {
        if (!problems.empty()) problems += '\n';
        problems += config
                        .invalid("cluster_peer_timeout",
                                 std::to_string(*peer_timeout) + " ms is not more than " +
                                     "cluster_heartbeat (" + std::to_string(*heartbeat) +
                                     " ms): a quiet peer would be declared dead between two pings")
                        .message;
    }
    if (std::string admin = check_admin(config); !admin.empty()) {
        if (!problems.empty()) problems += '\n';
        problems += admin;
    }
    if (problems.empty()) return {};
    return Error{std::move(problems)};
}

}  // namespace skyhive
