// The binary's config keys: every bad value and unknown key is refused with file, line and key
// before anything starts; every key the shipped code reads is declared; the shipped configs pass.
#include "services/config_keys.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "services/config_loader.h"

namespace skyhive {
namespace {

namespace fs = std::filesystem;

// Validation of `text` parsed as "node.lua": "" when it passes, else the error. The required
// bootstrap key is added after the text (so line numbers stay) unless the text sets it.
std::string problems(const std::string& text) {
    std::string full = text;
    if (text.find("bootstrap") == std::string::npos) full += "bootstrap = \"snlua bootstrap\"\n";
    auto config = parse_config(full, "node.lua");
    EXPECT_TRUE(config.ok()) << config.error().message;
    if (!config) return "parse error";
    auto valid = validate_node_config(config.value());
    return valid ? std::string() : valid.error().message;
}

struct BadValue {
    const char* text;      // the config
    const char* expected;  // the whole error
};

TEST(ConfigKeys, EachBadValueIsRefusedWithFileLineAndKey) {
    const BadValue cases[] = {
        {"game_start_gold = -5\n",
         "node.lua:1: key 'game_start_gold': expected an integer between 0 and 1000000000, got "
         "'-5'"},
        {"thread = 2\ngame_start_gold = \"abc\"\n",
         "node.lua:2: key 'game_start_gold': expected an integer between 0 and 1000000000, got "
         "'abc'"},
        {"game = \"nonsense\"\n",
         "node.lua:1: key 'game': expected \"host:port\" or false, got 'nonsense' (no port)"},
        {"game_flush_interval = 0\n",
         "node.lua:1: key 'game_flush_interval': expected an integer between 1 and 2147483647, "
         "got '0'"},
        {"redis = \"localhost\"\n",
         "node.lua:1: key 'redis': expected \"host:port\", got 'localhost' (no port)"},
        {"redis = \"localhost:http\"\n",
         "node.lua:1: key 'redis': expected \"host:port\", got 'localhost:http' (a port that is "
         "not a number)"},
        {"redis = \":6379\"\n",
         "node.lua:1: key 'redis': expected \"host:port\", got ':6379' (no host)"},
        {"debug_console = \"127.0.0.1:70000\"\n",
         "node.lua:1: key 'debug_console': expected \"host:port\", got '127.0.0.1:70000' (a port "
         "over 65535)"},
        {"redis_sentinels = \"127.0.0.1:26379,127.0.0.1\"\n",
         "node.lua:1: key 'redis_sentinels': expected a list of \"host:port\", item '127.0.0.1' "
         "has no port"},
        {"redis_cluster = \"127.0.0.1:7000,127.0.0.1\"\n",
         "node.lua:1: key 'redis_cluster': expected a list of \"host:port\", item '127.0.0.1' "
         "has no port"},
        {"game_test_hook = \"stall\"\n",
         "node.lua:1: key 'game_test_hook': expected stall_after_debit or stall_after_credit, got "
         "'stall'"},
        {"game_node = \"node 1\"\n",
         "node.lua:1: key 'game_node': expected 1 to 64 letters, digits, '_' or '-', got 'node "
         "1'"},
        {"loglevel = \"verbose\"\n",
         "node.lua:1: key 'loglevel': expected debug, info, warn, warning or error, got "
         "'verbose'"},
        {"debug_console_allow_remote = \"yes\"\n",
         "node.lua:1: key 'debug_console_allow_remote': expected true or false, got 'yes'"},
        {"thread = 0\n", "node.lua:1: key 'thread': expected an integer between 1 and 64, got '0'"},
        {"redis_db = 1.5\n",
         "node.lua:1: key 'redis_db': expected an integer between 0 and 2147483647, got '1.5'"},
        {"start = \"\"\n", "node.lua:1: key 'start': must not be empty"},
        {"cluster_nodes = \"node1=127.0.0.1:9001, node2\"\n",
         "node.lua:1: key 'cluster_nodes': expected a list of \"name=host:port\", entry 'node2' "
         "has no '='"},
        {"cluster_nodes = \"node1=127.0.0.1:9001,node2=127.0.0.1\"\n",
         "node.lua:1: key 'cluster_nodes': expected a list of \"name=host:port\", entry "
         "'node2=127.0.0.1' has no port"},
        {"cluster_nodes = \"node.1=127.0.0.1:9001\"\n",
         "node.lua:1: key 'cluster_nodes': expected a list of \"name=host:port\", entry "
         "'node.1=127.0.0.1:9001' has a name that is not 1 to 64 letters, digits, '_' or '-'"},
        {"cluster_nodes = \"a=127.0.0.1:9001 b=127.0.0.1:9002 a=127.0.0.1:9003\"\n",
         "node.lua:1: key 'cluster_nodes': expected a list of \"name=host:port\", entry "
         "'a=127.0.0.1:9003' names 'a' a second time"},
        {"cluster_nodes = \" , \"\n",
         "node.lua:1: key 'cluster_nodes': expected a list of \"name=host:port\", got ' , '"},
        {"cluster_listen = \"9001\"\n",
         "node.lua:1: key 'cluster_listen': expected \"host:port\", got '9001' (no port)"},
        {"cluster_name = \"\"\n",
         "node.lua:1: key 'cluster_name': expected 1 to 64 letters, digits, '_' or '-', got ''"},
        {"cluster_secret = \"\"\n", "node.lua:1: key 'cluster_secret': must not be empty"},
        {"cluster_ttl = 50\n",
         "node.lua:1: key 'cluster_ttl': expected an integer between 100 and 2147483647, got "
         "'50'"},
        {"cluster_send_queue = 0\n",
         "node.lua:1: key 'cluster_send_queue': expected an integer between 1 and 4194304, got "
         "'0'"},
        {"cluster_max_serving = 0\n",
         "node.lua:1: key 'cluster_max_serving': expected an integer between 1 and 2147483647, "
         "got '0'"},
        {"cluster_heartbeat = 2000\ncluster_peer_timeout = 2000\n",
         "node.lua:2: key 'cluster_peer_timeout': 2000 ms is not more than cluster_heartbeat "
         "(2000 ms): a quiet peer would be declared dead between two pings"},
        {"cluster_peer_timeout = 500\n",
         "node.lua:1: key 'cluster_peer_timeout': 500 ms is not more than cluster_heartbeat "
         "(1000 ms): a quiet peer would be declared dead between two pings"},
        {"admin = \"0.0.0.0:8080\"\n",
         "node.lua:1: key 'admin': '0.0.0.0:8080' is not a loopback address: set "
         "admin_allow_remote = true and an admin_token to serve other machines"},
        {"admin = \"10.0.0.5:8080\"\nadmin_allow_remote = true\n",
         "node.lua:1: key 'admin': '10.0.0.5:8080' is not a loopback address: admin_allow_remote "
         "needs an admin_token that every request presents"},
        {"admin = \"[::]:8080\"\nadmin_token = \"0123456789abcdef\"\n",
         "node.lua:1: key 'admin': '[::]:8080' is not a loopback address: set admin_allow_remote = "
         "true and an admin_token to serve other machines"},
        {"admin_token = \"short\"\n",
         "node.lua:1: key 'admin_token': a token of 5 characters is too easy to guess: use at "
         "least 16 (e.g. the output of `openssl rand -hex 16`)"},
        {"admin_write = \"yes\"\n",
         "node.lua:1: key 'admin_write': expected true or false, got 'yes'"},
        {"admin = \"127.0.0.1\"\n",
         "node.lua:1: key 'admin': expected \"host:port\" or false, got '127.0.0.1' (no port)"},
        {"daemon = \"./skyhive.pid\"\n",
         "node.lua:1: key 'daemon': a skynet key that skyhive does not implement (run the node "
         "under a process supervisor instead)"},
    };
    for (const auto& c : cases)
        EXPECT_EQ(problems(c.text), c.expected) << c.text;
}

// A node must say what it starts: no built-in service stands in for a missing bootstrap.
TEST(ConfigKeys, MissingBootstrapIsAnErrorNamingTheFileAndTheKey) {
    auto config = parse_config("thread = 2\n", "conf/node.lua");
    ASSERT_TRUE(config) << config.error().message;
    auto valid = validate_node_config(config.value());
    ASSERT_FALSE(valid);
    EXPECT_EQ(valid.error().message,
              "conf/node.lua: key 'bootstrap' is missing (the first service the node starts, e.g. "
              "bootstrap = \"snlua bootstrap\")");
    // Listed with the other problems, before those of the same file's lines.
    config = parse_config("thread = 0\n", "node.lua");
    ASSERT_TRUE(config) << config.error().message;
    valid = validate_node_config(config.value());
    ASSERT_FALSE(valid);
    EXPECT_EQ(valid.error().message,
              "node.lua: key 'bootstrap' is missing (the first service the node starts, e.g. "
              "bootstrap = \"snlua bootstrap\")\n"
              "node.lua:1: key 'thread': expected an integer between 1 and 64, got '0'");
    // A config built in code has no file to name.
    valid = validate_node_config(Config());
    ASSERT_FALSE(valid);
    EXPECT_EQ(valid.error().message.rfind("key 'bootstrap' is missing (", 0), 0u)
        << valid.error().message;
    // Set, even to a module that does not exist, it passes: launching it is the runtime's job.
    EXPECT_EQ(problems("bootstrap = \"nosuch\"\n"), "");
}

TEST(ConfigKeys, UnknownKeysNameTheNearestKnownKey) {
    EXPECT_EQ(problems("threads = 8\n"),
              "node.lua:1: unknown key 'threads' (did you mean 'thread'?)");
    EXPECT_EQ(problems("game_strat_gold = 5\n"),
              "node.lua:1: unknown key 'game_strat_gold' (did you mean 'game_start_gold'?)");
    EXPECT_EQ(problems("redis_sentinel = \"127.0.0.1:1\"\n"),
              "node.lua:1: unknown key 'redis_sentinel' (did you mean 'redis_sentinels'?)");
    EXPECT_EQ(problems("loglvl = \"info\"\n"),
              "node.lua:1: unknown key 'loglvl' (did you mean 'loglevel'?)");
    // Nothing close: the error says how to declare a key of one's own.
    EXPECT_EQ(problems("x = 1\n"),
              "node.lua:1: unknown key 'x' (a key of the application's own "
              "must start with 'app_' or be listed in extra_keys)");
}

TEST(ConfigKeys, EveryProblemIsReportedInLineOrder) {
    EXPECT_EQ(problems("thread = 2\nthreads = 8\ngame_start_gold = -5\nredis = \"localhost\"\n"),
              "node.lua:2: unknown key 'threads' (did you mean 'thread'?)\n"
              "node.lua:3: key 'game_start_gold': expected an integer between 0 and 1000000000, "
              "got '-5'\n"
              "node.lua:4: key 'redis': expected \"host:port\", got 'localhost' (no port)");
}

TEST(ConfigKeys, GoodValuesPass) {
    EXPECT_EQ(problems("thread = 16 / 2\n"  // 8.0
                       "game = false\n"
                       "game_start_gold = 0\n"
                       "game_flush_interval = 1000000\n"
                       "redis = \"[::1]:6379\"\n"
                       "redis_sentinels = \"127.0.0.1:26379, 127.0.0.1:26380 localhost:26381\"\n"
                       "debug_console = \"127.0.0.1:0\"\n"
                       "local_redis = false\n"
                       "loglevel = \"warn\"\n"
                       "lua_codecache = false\n"
                       "game_node = \"eu-west_1\"\n"
                       "cluster_name = \"eu-west_1\"\n"
                       "cluster_listen = \"0.0.0.0:9001\"\n"
                       "cluster_secret = \"s3cret\"\n"
                       "cluster_nodes = \"a=127.0.0.1:9001, b-2=[::1]:9002 c_3=db.local:9003\"\n"
                       "cluster_ttl = 3000\n"
                       "cluster_heartbeat = 1000\n"
                       "cluster_peer_timeout = 3000\n"
                       "cluster_max_message = 16777216\n"
                       "cluster_send_queue = 65536\n"
                       "cluster_max_serving = 65536\n"),
              "");
    // skynet's clustername style in the config itself.
    EXPECT_EQ(problems("cluster_nodes = { node1 = \"127.0.0.1:9001\", node2 = \"[::1]:9002\" }\n"),
              "");
    EXPECT_EQ(problems("cluster_nodes = { node1 = \"127.0.0.1:9001\", node2 = \"127.0.0.1\" }\n"),
              "node.lua:1: key 'cluster_nodes': expected a list of \"name=host:port\", entry "
              "'node2=127.0.0.1' has no port");
    // The admin endpoint: loopback of every spelling, off, or remote with both settings.
    for (const char* on :
         {"\"127.0.0.1:8080\"", "\"localhost:0\"", "\"[::1]:8080\"", "\"127.1.2.3:8080\"", "false"})
        EXPECT_EQ(problems(std::string("admin = ") + on + "\nadmin_write = true\n"), "") << on;
    EXPECT_EQ(problems("admin = \"0.0.0.0:8080\"\nadmin_allow_remote = true\n"
                       "admin_token = \"0123456789abcdef\"\n"),
              "");
}

// skynet's clustername file (the `cluster` key): it must exist, and each of its entries is
// checked before the node starts; the error names the key, the file, the line and the entry.
TEST(ConfigKeys, ClusterFileEntriesAreCheckedNamingTheEntry) {
    fs::path dir =
        fs::temp_directory_path() / ("skyhive-clustername-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto write = [&](const std::string& name, const std::string& text) {
        std::ofstream(dir / name) << text;
        return (dir / name).string();
    };
    std::string good = write("good.lua",
                             "__nowaiting = true\n"
                             "node1 = \"127.0.0.1:9001\"\n"
                             "node2 = \"[::1]:9002\"\n"
                             "db = false\n");
    EXPECT_EQ(problems("cluster = '" + good + "'\n"), "");
    std::string bad = write("bad.lua",
                            "node1 = \"127.0.0.1:9001\"\n"
                            "node2 = \"127.0.0.1\"\n"
                            "node3 = 9003\n"
                            "__nowaiting = 'yes'\n"
                            "__heartbeat = 5\n");
    const std::string at = "node.lua:2: key 'cluster': " + bad;
    EXPECT_EQ(
        problems("thread = 2\ncluster = '" + bad + "'\n"),
        at + ":2: entry 'node2': expected \"host:port\" or false, got '127.0.0.1' (no port)\n" +
            at + ":3: entry 'node3': expected \"host:port\" or false, got '9003' (no port)\n" + at +
            ":4: option '__nowaiting': expected true or false, got 'yes'\n" + at +
            ":5: unknown option '__heartbeat' (skynet's __nowaiting is the only one)");
    std::string broken = write("broken.lua", "node1 = \"127.0.0.1:9001\nnode2 = 1\n");
    std::string err = problems("cluster = '" + broken + "'\n");
    EXPECT_EQ(err.rfind("node.lua:1: key 'cluster': " + broken + ":1: ", 0), 0u) << err;
    // A relative path is taken from the config's directory, and must name a file.
    EXPECT_EQ(
        problems("cluster = 'nosuch.lua'\n"),
        "node.lua:1: key 'cluster': no file '" + fs::current_path().string() + "/nosuch.lua'");
    fs::remove_all(dir);
}

TEST(ConfigKeys, ApplicationKeysByPrefixOrByExtraKeys) {
    EXPECT_EQ(problems("app_max_rooms = 12\napp_motd = \"hello\"\n"), "");
    EXPECT_EQ(problems("extra_keys = \"max_rooms, motd\"\nmax_rooms = 12\nmotd = 'hi'\n"), "");
    // Listed after use: the whole config is read before it is checked.
    EXPECT_EQ(problems("motd = 'hi'\nextra_keys = 'motd'\n"), "");
    EXPECT_EQ(problems("extra_keys = 'motd'\nmotds = 'hi'\n"),
              "node.lua:2: unknown key 'motds' (a key of the application's own must start with "
              "'app_' or be listed in extra_keys)");
}

// A Lua file the node would load at every service start is checked before anything starts; the
// error names the key and the path the loader resolved.
TEST(ConfigKeys, MissingLualoaderOrPreloadNamesTheKeyAndTheResolvedPath) {
    const std::string cwd = fs::current_path().string();
    EXPECT_EQ(problems("thread = 2\nlualoader = 'no/loader.lua'\npreload = '/no/preload.lua'\n"),
              "node.lua:2: key 'lualoader': no file '" + cwd +
                  "/no/loader.lua'\nnode.lua:3: key 'preload': no file '/no/preload.lua'");
    // Listed after the other problems.
    EXPECT_EQ(problems("preload = 'nope.lua'\nthreads = 2\n"),
              "node.lua:2: unknown key 'threads' (did you mean 'thread'?)\nnode.lua:1: key "
              "'preload': no file '" +
                  cwd + "/nope.lua'");
    EXPECT_EQ(
        problems("preload = '" + std::string(SKYHIVE_SOURCE_DIR) + "/services/lua/main.lua'\n"),
        "");
}

// The directories a search path looks in (the part of each pattern before its first '?').
std::vector<fs::path> search_dirs(const std::string& patterns) {
    std::vector<fs::path> dirs;
    std::stringstream in(patterns);
    std::string p;
    while (std::getline(in, p, ';'))
        if (!p.empty()) dirs.push_back(fs::path(p.substr(0, p.find('?'))).parent_path());
    return dirs;
}

// Keys the shipped Lua code reads with skynet.getenv, and C++ code with config.get*(...); keys
// the Lua code also sets itself (skynet.setenv: values of the running node, not of configs)
// are left out.
std::set<std::string> keys_read_by_sources() {
    std::set<std::string> keys, set_at_run_time;
    const std::regex lua_read(R"(getenv\s*\(?\s*["']([A-Za-z_][A-Za-z0-9_]*)["'])");
    const std::regex lua_set(R"(setenv\s*[,(]\s*["']([A-Za-z_][A-Za-z0-9_]*)["'])");
    const std::regex cpp_read(
        R"(config(?:\.|->)get(?:_int|_bool)?\(\s*"([A-Za-z_][A-Za-z0-9_]*)\")");
    for (const char* dir : {"core", "services", "lualib"}) {
        for (const auto& e : fs::recursive_directory_iterator(fs::path(SKYHIVE_SOURCE_DIR) / dir)) {
            std::string ext = e.path().extension().string();
            if (ext != ".lua" && ext != ".cpp") continue;
            std::ifstream in(e.path());
            std::stringstream text;
            text << in.rdbuf();
            std::string s = text.str();
            const std::regex& re = ext == ".lua" ? lua_read : cpp_read;
            for (std::sregex_iterator it(s.begin(), s.end(), re), end; it != end; ++it)
                keys.insert((*it)[1].str());
            if (ext != ".lua") continue;
            for (std::sregex_iterator it(s.begin(), s.end(), lua_set), end; it != end; ++it)
                set_at_run_time.insert((*it)[1].str());
        }
    }
    for (const std::string& key : set_at_run_time)
        keys.erase(key);
    return keys;
}

TEST(ConfigKeys, EveryKeyTheShippedCodeReadsIsDeclared) {
    std::set<std::string> keys = keys_read_by_sources();
    // The scan must find the reads it is meant to find, or it proves nothing.
    for (const char* expected : {"game_start_gold", "redis_sentinels", "thread", "local_redis",
                                 "lua_codecache", "debug_console_allow_remote"})
        EXPECT_TRUE(keys.count(expected)) << expected;
    for (const std::string& key : keys)
        EXPECT_NE(node_config_schema().find(key), nullptr)
            << "'" << key << "' is read but not declared";
}

TEST(ConfigKeys, ShippedConfigsPass) {
    ::setenv("TEST", "test_misc", 1);
    // What with_nodes gives the nodes it starts (test/config/nodes-cluster.lua reads them).
    ::setenv("SKYHIVE_TEST_NODE_NAME", "b", 1);
    ::setenv("SKYHIVE_TEST_NODE_PORT", "9001", 1);
    ::setenv("SKYHIVE_TEST_REDIS_PORT", "6379", 1);
    fs::path root(SKYHIVE_SOURCE_DIR);
    std::vector<fs::path> files;
    for (const char* dir : {"config", "test/config"})
        for (const auto& e : fs::directory_iterator(root / dir))
            if (e.path().extension() == ".lua") files.push_back(e.path());
    files.push_back(root / "sentinel-demo/node.lua");
    ASSERT_GE(files.size(), 11u);
    for (const auto& f : files) {
        auto config = load_config(f.string());
        ASSERT_TRUE(config.ok()) << config.error().message;
        auto valid = validate_node_config(config.value());
        EXPECT_TRUE(valid.ok()) << f << ": " << valid.error().message;
        // Their search paths lead where they mean, whatever the current directory.
        for (const char* key : {"luaservice", "lua_path"}) {
            auto value = config->get(key);
            if (!value) continue;
            for (const fs::path& dir : search_dirs(*value))
                EXPECT_TRUE(dir.is_absolute() && fs::is_directory(dir))
                    << f << ": " << key << " looks in " << dir;
        }
    }
}

}  // namespace
}  // namespace skyhive
