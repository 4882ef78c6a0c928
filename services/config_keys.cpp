#include "services/config_keys.h"

#include <limits>

namespace skyhive {
namespace {

constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();

ConfigSchema build() {
    ConfigSchema s;
    // The node (core/node.cpp) and the binary (services/main.cpp).
    s.integer("thread", 1, 64)
        .integer("worker_spin", 0, 100'000)
        .integer("harbor", 0, 255)
        .integer("monitor_threshold", 10, 3'600'000)
        .nonempty("bootstrap")
        .string("logger")
        .string("logpath")
        .choice("loglevel", {"debug", "info", "warn", "warning", "error"})
        .string("cpath")
        .integer("shutdown_timeout", 0, 3'600'000)
        .integer("socket_warning_kb", 1, int64_t(1) << 22)
        .required("bootstrap",
                  "the first service the node starts, e.g. bootstrap = \"snlua "
                  "bootstrap\"");
    // The local redis-server (services/local_redis.cpp).
    s.path("local_redis", ConfigSchema::Off::allowed)
        .integer("local_redis_port", 0, 65535)
        .choice("local_redis_fsync", {"always", "everysec"});
    // snlua (services/snlua/lua_host.cpp, snlua.cpp).
    s.string("luaservice")
        .string("lua_path")
        .string("lua_cpath")
        .path("lualoader")
        .path("preload")
        .boolean("lua_codecache")
        .integer("lua_gc_incremental_kb", 0, int64_t(1) << 30);
    // The Lua start scripts: bootstrap.lua, main.lua, game_main.lua.
    s.nonempty("start")
        .address("debug_console")
        .boolean("debug_console_allow_remote")
        .address("echo");
    // The game (services/game/): game.lua, world.lua, game_db.lua.
    s.address("game", ConfigSchema::Off::allowed)
        .node_name("game_node")
        .integer("game_start_gold", 0, 1'000'000'000)
        .integer("game_flush_interval", 1, kIntMax)
        .address("redis")
        .address_list("redis_sentinels")
        .nonempty("redis_master")
        .string("redis_auth")
        .integer("redis_db", 0, kIntMax);
    // skynet's keys that mean nothing here: say so instead of "unknown key".
    const std::string skynet = "a skynet key that skyhive does not implement";
    s.unsupported("daemon", skynet + " (run the node under a process supervisor instead)")
        .unsupported("standalone", skynet + " (no master/slave harbor: nodes share a Redis)")
        .unsupported("master", skynet + " (no master/slave harbor: nodes share a Redis)")
        .unsupported("address", skynet + " (no master/slave harbor: nodes share a Redis)")
        .unsupported("cluster", skynet + " (no cluster config)")
        .unsupported("logservice", skynet + " (the logger is built in: set logger, logpath)")
        .unsupported("profile",
                     skynet + " (CPU time per service is always counted, see the console's stat)")
        .unsupported("snax", skynet + " (no snax)");
    return s;
}

}  // namespace

const ConfigSchema& node_config_schema() {
    static const ConfigSchema schema = build();
    return schema;
}

Result<void> validate_node_config(const Config& config) {
    return node_config_schema().validate(config);
}

}  // namespace skyhive
