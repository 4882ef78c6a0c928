// LuaHost: search paths, the compiled-chunk cache and its options; the snlua module's memory
// accounting as the node sees it.
#include "services/snlua/lua_host.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "core/config.h"
#include "core/node.h"
#include "services/config_loader.h"
#include "services/snlua/snlua.h"

namespace skyhive::test {
namespace {

// A temporary directory with Lua files in it, removed at the end.
class Files {
  public:
    Files() {
        char tmpl[] = "/tmp/lua_host_test.XXXXXX";
        dir_ = mkdtemp(tmpl);
    }
    ~Files() { std::system(("rm -rf '" + dir_ + "'").c_str()); }
    std::string write(const std::string& rel, const std::string& text) {
        std::string path = dir_ + "/" + rel;
        std::system(("mkdir -p \"$(dirname '" + path + "')\"").c_str());
        std::ofstream(path) << text;
        return path;
    }
    const std::string& dir() const { return dir_; }

  private:
    std::string dir_;
};

struct State {
    State() : L(luaL_newstate()) { luaL_openlibs(L); }
    ~State() { lua_close(L); }
    // Runs the function on top and returns its integer result.
    long long run() {
        EXPECT_EQ(lua_pcall(L, 0, 1, 0), LUA_OK) << lua_tostring(L, -1);
        long long v = lua_tointeger(L, -1);
        lua_pop(L, 1);
        return v;
    }
    lua_State* L;
};

TEST(LuaHost, SearchFollowsTemplatesInOrder) {
    Files f;
    f.write("b/x.lua", "return 1");
    f.write("a/x/y.lua", "return 2");
    LuaHost host(LuaHostOptions{});
    std::string templates = f.dir() + "/a/?.lua;" + f.dir() + "/b/?.lua";
    EXPECT_EQ(host.search(templates, "x", LuaHost::Names::modules).value(), f.dir() + "/b/x.lua");
    EXPECT_EQ(host.search(templates, "x.y", LuaHost::Names::modules).value(),
              f.dir() + "/a/x/y.lua");
    // Service names are used verbatim, as skynet's loader does.
    std::string tried;
    EXPECT_FALSE(host.search(templates, "x.y", LuaHost::Names::verbatim, &tried));
    EXPECT_NE(tried.find("no file '" + f.dir() + "/a/x.y.lua'"), std::string::npos) << tried;
    EXPECT_NE(tried.find("no file '" + f.dir() + "/b/x.y.lua'"), std::string::npos) << tried;
}

TEST(LuaHost, EachFileIsParsedOncePerNode) {
    Files f;
    std::string path = f.write("m.lua", "local t = {} for i = 1, 10 do t[i] = i end return #t * 4");
    LuaHost host(LuaHostOptions{});
    for (int i = 0; i < 3; ++i) {
        State s;
        ASSERT_TRUE(host.load(s.L, path));
        EXPECT_EQ(s.run(), 40);
    }
    EXPECT_EQ(host.cache_stats().misses, 1u);
    EXPECT_EQ(host.cache_stats().hits, 2u);

    // Edits are seen only after clear_cache.
    f.write("m.lua", "return 7");
    {
        State s;
        ASSERT_TRUE(host.load(s.L, path));
        EXPECT_EQ(s.run(), 40);
    }
    host.clear_cache();
    State s;
    ASSERT_TRUE(host.load(s.L, path));
    EXPECT_EQ(s.run(), 7);
    EXPECT_EQ(host.cache_stats().misses, 2u);
}

TEST(LuaHost, CachedChunksKeepLineNumbers) {
    Files f;
    std::string path = f.write("e.lua", "local x = 1\nerror('line two')\n");
    LuaHost host(LuaHostOptions{});
    for (int i = 0; i < 2; ++i) {  // parsed, then undumped
        State s;
        ASSERT_TRUE(host.load(s.L, path));
        ASSERT_NE(lua_pcall(s.L, 0, 0, 0), LUA_OK);
        EXPECT_NE(std::string(lua_tostring(s.L, -1)).find("e.lua:2: line two"), std::string::npos)
            << lua_tostring(s.L, -1);
    }
}

TEST(LuaHost, WithoutTheCacheEveryLoadParses) {
    Files f;
    std::string path = f.write("m.lua", "return 3");
    LuaHostOptions o;
    o.codecache = false;
    LuaHost host(o);
    for (int i = 0; i < 2; ++i) {
        State s;
        ASSERT_TRUE(host.load(s.L, path));
        EXPECT_EQ(s.run(), 3);
    }
    EXPECT_EQ(host.cache_stats().misses, 2u);
    EXPECT_EQ(host.cache_stats().hits, 0u);
}

TEST(LuaHost, LoadErrorsNameTheFile) {
    Files f;
    std::string bad = f.write("bad.lua", "local = 1");
    LuaHost host(LuaHostOptions{});
    State s;
    auto syntax = host.load(s.L, bad);
    ASSERT_FALSE(syntax);
    EXPECT_NE(syntax.error().message.find("bad.lua:1:"), std::string::npos)
        << syntax.error().message;
    auto missing = host.load(s.L, f.dir() + "/none.lua");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("cannot open " + f.dir() + "/none.lua"),
              std::string::npos)
        << missing.error().message;
    EXPECT_EQ(lua_gettop(s.L), 0) << "a failed load pushes nothing";
}

TEST(LuaHost, OptionsFromConfig) {
    auto defaults = LuaHostOptions::from_config(parse_config("thread = 2\n", "t.lua").value());
    ASSERT_TRUE(defaults);
    EXPECT_EQ(defaults->lua_path, "./lualib/?.lua;./lualib/?/init.lua");
    EXPECT_TRUE(defaults->codecache);
    EXPECT_EQ(defaults->gc_incremental_kb, 1024);
    auto set = LuaHostOptions::from_config(
        parse_config("luaservice = 'x/?.lua'\nlua_cpath = 'c/?.so'\npreload = 'p.lua'\n"
                     "lualoader = 'l.lua'\nlua_codecache = false\nlua_gc_incremental_kb = 0\n",
                     "t.lua", PathKeys{})  // values as written: no path resolution
            .value());
    ASSERT_TRUE(set);
    EXPECT_EQ(set->luaservice, "x/?.lua");
    EXPECT_EQ(set->lua_cpath, "c/?.so");
    EXPECT_EQ(set->preload, "p.lua");
    EXPECT_EQ(set->lualoader, "l.lua");
    EXPECT_FALSE(set->codecache);
    EXPECT_EQ(set->gc_incremental_kb, 0);
    auto bad =
        LuaHostOptions::from_config(parse_config("\nlua_codecache = 'maybe'\n", "t.lua").value());
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("t.lua:2"), std::string::npos) << bad.error().message;
}

bool wait_until(const std::function<bool()>& cond) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

TEST(Snlua, MemoryIsAccountedPerServiceAndFreedWithIt) {
    Files f;
    f.write("idle.lua", "big = string.rep('x', 1 << 20)");
    NodeOptions options;
    options.log_level = LogLevel::error;
    Config config = parse_config("luaservice = '" + f.dir() + "/?.lua'\n", "t.lua").value();
    Node node(options, config);
    register_snlua(node);
    ASSERT_TRUE(node.start());
    auto h = node.launch("snlua", "idle");
    ASSERT_TRUE(h) << h.error().message;
    long long bytes = -1;
    ASSERT_TRUE(node.with_service(h.value(), [&](Service& s) { bytes = s.memory(); }));
    EXPECT_GE(bytes, 1 << 20) << "the 1 MB string is counted";
    EXPECT_LT(bytes, 2 << 20);
    auto missing = node.launch("snlua", "no_such_script");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("no_such_script"), std::string::npos);
    ASSERT_TRUE(node.kill(h.value()));
    EXPECT_TRUE(wait_until([&] { return !node.with_service(h.value(), [](Service&) {}); }));
    node.shutdown();
}

}  // namespace
}  // namespace skyhive::test
