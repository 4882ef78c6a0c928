// The Lua config loader: skynet's config format, environment variables, include, and errors that
// name file and line.
#include "services/config_loader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace skyhive {
namespace {

namespace fs = std::filesystem;

Config parse_ok(std::string_view text, const std::string& name = "config.lua") {
    Result<Config> c = parse_config(text, name);
    EXPECT_TRUE(c.ok()) << c.error().message;
    return c.ok() ? std::move(c).value() : Config{};
}

std::string parse_error(std::string_view text, const std::string& name = "config.lua") {
    Result<Config> c = parse_config(text, name);
    EXPECT_FALSE(c.ok()) << "parsed although an error was expected";
    return c.ok() ? std::string() : c.error().message;
}

// Sets an environment variable for the life of one test.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
    ~ScopedEnv() { ::unsetenv(name_); }

  private:
    const char* name_;
};

// A fresh directory of config files, removed afterwards.
class ConfigLoaderFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "skyhive-config-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& rel, const std::string& text) {
        fs::path p = dir_ / rel;
        fs::create_directories(p.parent_path());
        std::ofstream(p) << text;
        return p.string();
    }

    fs::path dir_;
};

TEST(ConfigLoader, PlainKeysKeepValuesAsStrings) {
    Config c = parse_ok(
        "thread = 8\n"
        "ratio = 0.5\n"
        "whole = 8.0\n"
        "negative = -3\n"
        "daemon = false\n"
        "standalone = true\n"
        "start = \"main\"\n"
        "path = [[./service/?.lua]]\n");
    EXPECT_EQ(c.get("thread"), "8");
    EXPECT_EQ(c.get("ratio"), "0.5");
    EXPECT_EQ(c.get("whole"), "8.0");
    EXPECT_EQ(c.get("negative"), "-3");
    EXPECT_EQ(c.get("daemon"), "false");
    EXPECT_EQ(c.get("standalone"), "true");
    EXPECT_EQ(c.get("start"), "main");
    EXPECT_EQ(c.get("path"), "./service/?.lua");
    EXPECT_EQ(c.get("missing"), std::nullopt);
    EXPECT_EQ(c.entries().size(), 8u);
}

TEST(ConfigLoader, EarlierKeysAreReadableAndEveryEntryKnowsItsLine) {
    Config c = parse_ok(
        "root = \"./\"\n"
        "\n"
        "app_service = root .. \"service/?.lua\"\n"
        "root = \"/opt/\"  -- a later assignment wins, and moves the entry's line\n"
        "gone = 1\n"
        "gone = nil\n");
    EXPECT_EQ(c.get("app_service"), "./service/?.lua");
    ASSERT_NE(c.entry("app_service"), nullptr);
    EXPECT_EQ(c.entry("app_service")->file, "config.lua");
    EXPECT_EQ(c.entry("app_service")->line, 3);
    EXPECT_EQ(c.get("root"), "/opt/");
    EXPECT_EQ(c.entry("root")->line, 4);
    EXPECT_EQ(c.entry("gone"), nullptr);
}

TEST(ConfigLoader, EnvironmentVariablesInCodeAndStrings) {
    ScopedEnv threads("SKYHIVE_TEST_THREADS", "6");
    ScopedEnv root("SKYHIVE_TEST_ROOT", "/srv/game");
    ScopedEnv odd("SKYHIVE_TEST_ODD", "say \"hi\"\\ \n'x'");
    Config c = parse_ok(
        "thread = $SKYHIVE_TEST_THREADS * 2\n"
        "root = \"$SKYHIVE_TEST_ROOT/\"\n"
        "single = '$SKYHIVE_TEST_ROOT'\n"
        "long = [==[$SKYHIVE_TEST_ROOT]]]==]\n"
        "odd = \"<$SKYHIVE_TEST_ODD>\"\n"
        "escaped = \"\\\"$SKYHIVE_TEST_ROOT\"\n"
        "after = 1\n");
    EXPECT_EQ(c.get("thread"), "12");
    EXPECT_EQ(c.get("root"), "/srv/game/");
    EXPECT_EQ(c.get("single"), "/srv/game");
    EXPECT_EQ(c.get("long"), "/srv/game]]");
    // A value inside quotes stays exactly the value: quotes, backslashes, newlines included.
    EXPECT_EQ(c.get("odd"), "<say \"hi\"\\ \n'x'>");
    EXPECT_EQ(c.get("escaped"), "\"/srv/game");
    // The escaped newline did not shift the lines that follow.
    EXPECT_EQ(c.entry("after")->line, 7);
}

TEST(ConfigLoader, CommentsAreNotExpanded) {
    ScopedEnv set("SKYHIVE_TEST_SET", "expanded");
    Config c = parse_ok(
        "-- $SKYHIVE_TEST_UNSET_1 in a line comment\n"
        "--[[ $SKYHIVE_TEST_UNSET_2\n"
        "     still a comment $SKYHIVE_TEST_UNSET_3 ]]\n"
        "--[==[ ]] is not the end $SKYHIVE_TEST_UNSET_4 ]==]\n"
        "a = \"-- $SKYHIVE_TEST_SET\"  -- $SKYHIVE_TEST_UNSET_5\n"
        "b = \"$SKYHIVE_TEST_SET\"\n");
    EXPECT_EQ(c.get("a"), "-- expanded");
    EXPECT_EQ(c.get("b"), "expanded");
    EXPECT_EQ(c.entry("b")->line, 6);
}

TEST(ConfigLoader, UnsetVariableNamesFileAndLine) {
    ::unsetenv("SKYHIVE_TEST_NOPE");
    EXPECT_EQ(
        parse_error("a = 1\n-- $SKYHIVE_TEST_NOPE\nb = \"x$SKYHIVE_TEST_NOPE\"\n", "game.lua"),
        "game.lua:3: environment variable $SKYHIVE_TEST_NOPE is not set");
    EXPECT_EQ(parse_error("\n\n\nthread = $SKYHIVE_TEST_NOPE\n"),
              "config.lua:4: environment variable $SKYHIVE_TEST_NOPE is not set");
    // A '$' not followed by a name is left for Lua, inside a string it is just a character.
    EXPECT_EQ(parse_ok("price = \"$5\"\n").get("price"), "$5");
}

TEST(ConfigLoader, VariableThatWouldCloseALongStringIsRefused) {
    ScopedEnv closer("SKYHIVE_TEST_CLOSER", "a]]b");
    EXPECT_EQ(parse_error("x = 1\ny = [[$SKYHIVE_TEST_CLOSER]]\n"),
              "config.lua:2: environment variable $SKYHIVE_TEST_CLOSER contains ']]' and cannot "
              "be expanded inside this long string");
    EXPECT_EQ(parse_ok("y = [=[$SKYHIVE_TEST_CLOSER]=]\n").get("y"), "a]]b");
}

TEST(ConfigLoader, SyntaxAndRuntimeErrorsNameFileAndLine) {
    std::string e = parse_error("a = 1\nb = = 2\n", "conf/game.lua");
    EXPECT_EQ(e.rfind("conf/game.lua:2:", 0), 0u) << e;
    e = parse_error("a = 1\n\nb = nothing .. 'x'\n");
    EXPECT_EQ(e, "config.lua:3: attempt to concatenate a nil value (global 'nothing')");
    e = parse_error("a = 1\nb = c.d\n");
    EXPECT_EQ(e.rfind("config.lua:2:", 0), 0u) << e;
    EXPECT_NE(e.find("attempt to index"), std::string::npos) << e;
}

// A table of names to strings is skynet's clustername style (cluster_nodes = {node1 = "h:p"}):
// kept as "node1=h:p, node2=h:p", names sorted, for the key's own check.
TEST(ConfigLoader, ATableOfNamesToStringsIsKeptAsAList) {
    auto c = parse_config("x = {b = 'h:2', a = \"h:1\"}\ny = {}\n", "config.lua");
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->get("x").value_or("?"), "a=h:1, b=h:2");
    EXPECT_EQ(c->entry("x")->line, 1);
    EXPECT_EQ(c->get("y").value_or("?"), "");
}

TEST(ConfigLoader, TablesOfOtherValuesAndFunctionsAreNotValues) {
    EXPECT_EQ(parse_error("a = 1\nb = 2\nx = {1, 2}\n"),
              "config.lua:3: key 'x': a table value maps names to strings ({node1 = "
              "\"127.0.0.1:9001\"}), not number to number");
    EXPECT_EQ(parse_error("x = {a = false}\n"),
              "config.lua:1: key 'x': a table value maps names to strings ({node1 = "
              "\"127.0.0.1:9001\"}), not string to boolean");
    EXPECT_EQ(parse_error("f = function() end\n"),
              "config.lua:1: key 'f': functions are not allowed as config values");
    EXPECT_EQ(parse_error("a = 1\n_ENV[1] = 2\n"),
              "config.lua:2: config keys must be strings, not number");
}

TEST(ConfigLoader, StandardLibraryIsNotInScope) {
    // As in skynet: only `include` and earlier keys are visible, so a typo fails loudly.
    std::string e = parse_error("t = os.time()\n");
    EXPECT_EQ(e.rfind("config.lua:1:", 0), 0u) << e;
    EXPECT_EQ(parse_ok("s = (\"ab\"):rep(2)\n").get("s"), "abab");
}

TEST(ConfigLoader, NumbersReachTheTypedGettersAsLuaWritesThem) {
    Config c = parse_ok("thread = 8\nhalf = 16 / 2\nfrac = 0.5\nword = 'abc'\nflag = true\n");
    EXPECT_EQ(c.get("half"), "8.0");
    EXPECT_EQ(c.get_int("thread", 4, 1, 64).value(), 8);
    EXPECT_EQ(c.get_int("half", 4, 1, 64).value(), 8);
    EXPECT_TRUE(c.get_bool("flag", false).value());
    Result<int64_t> r = c.get_int("word", 4, 1, 64);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message,
              "config.lua:4: key 'word': expected an integer between 1 and 64, got 'abc'");
    EXPECT_FALSE(c.get_int("frac", 0, 0, 10).ok());
}

TEST(ConfigLoader, TheConfigKnowsTheFileItCameFrom) {
    EXPECT_EQ(parse_ok("a = 1\n", "conf/node.lua").origin(), "conf/node.lua");
}
TEST_F(ConfigLoaderFiles, MissingFile) {
    std::string path = (dir_ / "x.lua").string();
    Result<Config> c = load_config(path);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, "cannot open config '" + path + "': No such file or directory");
}

TEST_F(ConfigLoaderFiles, IncludeIsRelativeToTheIncludingFileAndNests) {
    std::string main = write("main.lua", "thread = 2\ninclude \"common/base.lua\"\nafter = 1\n");
    write("common/base.lua", "harbor = 0\ninclude 'deeper/leaf.lua'\n");
    write("common/deeper/leaf.lua", "\n\nleaf = thread + harbor + 1\n");
    Result<Config> c = load_config(main);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->get("leaf"), "3");
    EXPECT_EQ(c->get("after"), "1");
    const Config::Entry* leaf = c->entry("leaf");
    ASSERT_NE(leaf, nullptr);
    EXPECT_EQ(leaf->file, (dir_ / "common/deeper/leaf.lua").string());
    EXPECT_EQ(leaf->line, 3);
    EXPECT_EQ(c->entry("harbor")->file, (dir_ / "common/base.lua").string());
    EXPECT_EQ(c->entry("after")->file, main);
}

TEST_F(ConfigLoaderFiles, ErrorsInIncludedFilesNameThatFile) {
    std::string main = write("main.lua", "include 'a.lua'\n");
    std::string a = write("a.lua", "x = 1\ny = = 2\n");
    Result<Config> c = load_config(main);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message.rfind(a + ":2:", 0), 0u) << c.error().message;

    ::unsetenv("SKYHIVE_TEST_NOPE");
    write("a.lua", "x = 1\n\ny = $SKYHIVE_TEST_NOPE\n");
    c = load_config(main);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, a + ":3: environment variable $SKYHIVE_TEST_NOPE is not set");

    write("a.lua", "x = function() end\n");
    c = load_config(main);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, a + ":1: key 'x': functions are not allowed as config values");
}

TEST_F(ConfigLoaderFiles, MissingIncludeNamesTheIncludeLine) {
    std::string main = write("main.lua", "a = 1\ninclude 'nothere.lua'\n");
    Result<Config> c = load_config(main);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, main + ":2: cannot open config '" +
                                     (dir_ / "nothere.lua").string() +
                                     "': No such file or directory");
}

TEST_F(ConfigLoaderFiles, IncludeCycleIsDetected) {
    std::string a = write("a.lua", "include 'sub/b.lua'\n");
    std::string b = write("sub/b.lua", "x = 1\ninclude '../a.lua'\n");
    Result<Config> c = load_config(a);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, b + ":2: include cycle: " + a + " -> " + b + " -> " + a);

    std::string self = write("self.lua", "include 'self.lua'\n");
    c = load_config(self);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, self + ":1: include cycle: " + self + " -> " + self);
}

// Each path key's relative paths are taken from the directory of the file that set it, element by
// element for search paths; what another file set stays resolved against that file's directory.
TEST_F(ConfigLoaderFiles, PathsAreResolvedAgainstTheDirectoryOfTheFileThatSetsThem) {
    write("conf/base.lua",
          "luaservice = '../svc/?.lua;/opt/svc/?.lua;;x/?.lua'\n"
          "lualoader = 'loader.lua'\n"
          "local_redis = './data/'\n"
          "logger = 'node.log'\n"
          "start = '../not/a/path'\n");
    std::string node = write("app/node.lua",
                             "include '../conf/base.lua'\n"
                             "lua_path = 'lib/?.lua;lib/?/init.lua'\n"
                             "luaservice = luaservice .. ';mine/?.lua'\n"
                             "preload = '/etc/skyhive/preload.lua'\n");
    Result<Config> c = load_config(node);
    ASSERT_TRUE(c.ok()) << c.error().message;
    const std::string d = fs::canonical(dir_).string();
    EXPECT_EQ(c->get("luaservice"),
              d + "/svc/?.lua;/opt/svc/?.lua;;" + d + "/conf/x/?.lua;" + d + "/app/mine/?.lua");
    EXPECT_EQ(c->get("lua_path"), d + "/app/lib/?.lua;" + d + "/app/lib/?/init.lua");
    EXPECT_EQ(c->get("lualoader"), d + "/conf/loader.lua");
    EXPECT_EQ(c->get("local_redis"), d + "/conf/data/");
    EXPECT_EQ(c->get("logger"), d + "/conf/node.log");
    EXPECT_EQ(c->get("preload"), "/etc/skyhive/preload.lua");
    EXPECT_EQ(c->get("start"), "../not/a/path") << "not a path key: kept as written";
    // The entry still names the file and line that set it.
    EXPECT_EQ(c->entry("lualoader")->file, (dir_ / "conf/base.lua").string());
    EXPECT_EQ(c->entry("lualoader")->line, 2);
}

TEST_F(ConfigLoaderFiles, TheCurrentDirectoryDoesNotMatter) {
    std::string text = "lua_path = '../lualib/?.lua'\nlocal_redis = 'run'\n";
    write("config/node.lua", text);
    const std::string d = fs::canonical(dir_).string();
    fs::path cwd = fs::current_path();
    for (const fs::path& from : {dir_, dir_ / "config", fs::path("/")}) {
        fs::current_path(from);
        Result<Config> c = load_config(fs::relative(dir_ / "config/node.lua", from).string());
        fs::current_path(cwd);
        ASSERT_TRUE(c.ok()) << c.error().message;
        EXPECT_EQ(c->get("lua_path"), d + "/lualib/?.lua") << "from " << from;
        EXPECT_EQ(c->get("local_redis"), d + "/config/run") << "from " << from;
    }
}

// "../x" means what the file system means: a symlinked config directory is followed first.
TEST_F(ConfigLoaderFiles, ASymlinkedConfigDirectoryIsFollowed) {
    write("real/etc/node.lua", "lua_path = '../lib/?.lua'\n");
    fs::create_directory_symlink(dir_ / "real/etc", dir_ / "etc");
    Result<Config> c = load_config((dir_ / "etc/node.lua").string());
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->get("lua_path"), fs::canonical(dir_).string() + "/real/lib/?.lua");
}

TEST_F(ConfigLoaderFiles, OffEmptyAndAbsoluteValuesAreKept) {
    std::string node = write("node.lua",
                             "local_redis = false\n"
                             "logger = ''\n"
                             "cpath = '/usr/lib/skyhive/?.so'\n"
                             "lua_cpath = ''\n");
    Result<Config> c = load_config(node);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->get("local_redis"), "false");
    EXPECT_EQ(c->get("logger"), "");
    EXPECT_EQ(c->get("cpath"), "/usr/lib/skyhive/?.so");
    EXPECT_EQ(c->get("lua_cpath"), "");
    c = load_config(write("quoted.lua", "local_redis = 'false'\n"));
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->get("local_redis"), "false") << "an off key's \"false\" is not a file name";
}

// skynet's rule: a relative logger lives in logpath, whichever of the two is set first.
TEST_F(ConfigLoaderFiles, ARelativeLoggerIsTakenFromLogpath) {
    write("conf/base.lua", "logger = 'node.log'\n");
    std::string node = write("node.lua", "include 'conf/base.lua'\nlogpath = 'logs'\n");
    Result<Config> c = load_config(node);
    ASSERT_TRUE(c.ok()) << c.error().message;
    const std::string d = fs::canonical(dir_).string();
    EXPECT_EQ(c->get("logpath"), d + "/logs");
    EXPECT_EQ(c->get("logger"), d + "/logs/node.log");
}

TEST(ConfigLoader, TextResolvesAgainstTheDirectoryOfItsName) {
    const std::string cwd = fs::current_path().string();
    EXPECT_EQ(parse_ok("lua_path = 'x/?.lua'\n").get("lua_path"), cwd + "/x/?.lua");
    EXPECT_EQ(parse_ok("lua_path = 'x/?.lua'\n", "/nonexistent-skyhive/etc/n.lua").get("lua_path"),
              "/nonexistent-skyhive/etc/x/?.lua");
    // Without path keys every value stays as written.
    Result<Config> raw = parse_config("lua_path = 'x/?.lua'\n", "n.lua", PathKeys{});
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(raw->get("lua_path"), "x/?.lua");
}

TEST_F(ConfigLoaderFiles, SameFileTwiceIsNotACycle) {
    std::string main = write("main.lua", "include 'part.lua'\ninclude 'part.lua'\n");
    write("part.lua", "n = (n or 0) + 1\n");
    Result<Config> c = load_config(main);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->get("n"), "2");
}

}  // namespace
}  // namespace skyhive
