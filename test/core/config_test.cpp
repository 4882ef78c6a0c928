// core::Config as a plain typed key/value store: typed getters, where each key was set, and the
// errors that name it. Reading config files is tested with the loader (test/services/).
#include "core/config.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace skyhive {
namespace {

TEST(Config, KeepsValuesAndWhereEachWasSet) {
    Config c("conf/node.lua");
    EXPECT_EQ(c.origin(), "conf/node.lua");
    c.set("thread", "8", "conf/node.lua", 3);
    c.set("root", "./", "conf/common.lua", 1);
    EXPECT_EQ(c.get("thread"), "8");
    EXPECT_EQ(c.get("missing"), std::nullopt);
    EXPECT_EQ(c.entry("missing"), nullptr);
    ASSERT_NE(c.entry("root"), nullptr);
    EXPECT_EQ(c.entry("root")->file, "conf/common.lua");
    EXPECT_EQ(c.entry("root")->line, 1);
    EXPECT_EQ(c.where("thread"), "conf/node.lua:3: ");
    EXPECT_EQ(c.where("missing"), "");
    // A later set wins, and moves the entry to where it was set.
    c.set("root", "/opt/", "conf/node.lua", 9);
    EXPECT_EQ(c.get("root"), "/opt/");
    EXPECT_EQ(c.where("root"), "conf/node.lua:9: ");
    c.erase("root");
    EXPECT_EQ(c.entry("root"), nullptr);
    c.erase("never-set");
    EXPECT_EQ(c.entries().size(), 1u);
    EXPECT_EQ(Config().origin(), "");
}

TEST(Config, SetOverridesFromCode) {
    Config c("n.lua");
    c.set("thread", "8", "n.lua", 1);
    c.set("thread", "2");
    EXPECT_EQ(c.get("thread"), "2");
    EXPECT_EQ(c.entry("thread")->file, "<override>");
    EXPECT_EQ(c.entry("thread")->line, 0);
    EXPECT_EQ(c.where("thread"), "<override>: ");
}

TEST(Config, GetInt) {
    Config c("config.lua");
    c.set("thread", "8", "config.lua", 1);
    c.set("big", "100", "config.lua", 2);
    c.set("word", "abc", "config.lua", 3);
    c.set("half", "8.0", "config.lua", 4);  // what `half = 16 / 2` leaves in a Lua config
    c.set("frac", "0.5", "config.lua", 5);
    EXPECT_EQ(c.get_int("thread", 4, 1, 64).value(), 8);
    EXPECT_EQ(c.get_int("absent", 4, 1, 64).value(), 4);
    EXPECT_EQ(c.get_int("half", 4, 1, 64).value(), 8);

    Result<int64_t> r = c.get_int("word", 4, 1, 64);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message,
              "config.lua:3: key 'word': expected an integer between 1 and 64, got 'abc'");
    r = c.get_int("big", 4, 1, 64);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message,
              "config.lua:2: key 'big': expected an integer between 1 and 64, got '100'");
    EXPECT_EQ(c.get_int("big", 0, 100, 100).value(), 100);  // bounds are inclusive
    r = c.get_int("frac", 0, 0, std::numeric_limits<int64_t>::max());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message,
              "config.lua:5: key 'frac': expected an integer of at least 0, got '0.5'");
    r = c.get_int("thread", 0, std::numeric_limits<int64_t>::min(), 4);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message,
              "config.lua:1: key 'thread': expected an integer of at most 4, got '8'");
}

TEST(Config, GetIntFullRange) {
    constexpr int64_t lo = std::numeric_limits<int64_t>::min();
    constexpr int64_t hi = std::numeric_limits<int64_t>::max();
    Config c;
    c.set("max", "9223372036854775807");
    c.set("min", "-9223372036854775808");
    c.set("over", "9223372036854775808");
    c.set("overf", "9.3e18");
    EXPECT_EQ(c.get_int("max", 0, lo, hi).value(), hi);
    EXPECT_EQ(c.get_int("min", 0, lo, hi).value(), lo);
    Result<int64_t> r = c.get_int("over", 0, lo, hi);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message,
              "<override>: key 'over': expected an integer, got '9223372036854775808'");
    EXPECT_FALSE(c.get_int("overf", 0, lo, hi).ok());
}

TEST(Config, GetBoolAndInvalid) {
    Config c("config.lua");
    c.set("daemon", "true", "config.lua", 1);
    c.set("profile", "false", "config.lua", 2);
    c.set("strict", "yes", "config.lua", 3);
    c.set("num", "1", "config.lua", 4);
    EXPECT_TRUE(c.get_bool("daemon", false).value());
    EXPECT_FALSE(c.get_bool("profile", true).value());
    EXPECT_TRUE(c.get_bool("num", false).value());
    EXPECT_TRUE(c.get_bool("absent", true).value());
    Result<bool> r = c.get_bool("strict", false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "config.lua:3: key 'strict': expected true or false, got 'yes'");
    EXPECT_EQ(c.invalid("daemon", "no daemons here").message,
              "config.lua:1: key 'daemon': no daemons here");
    EXPECT_EQ(c.invalid("absent", "is required").message, "key 'absent': is required");
}

}  // namespace
}  // namespace skyhive
