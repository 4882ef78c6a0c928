// Accounts: a name is protected by its password, names are one account whatever their case,
// only a salted hash is stored, and failed logins are limited per name and per address (counted
// in Redis, so every node sees them).
#include <gtest/gtest.h>

#include "test/integration/game_support.h"

namespace skyhive::test::game {
namespace {

using GameAccountTest = GameFixture;

TEST_F(GameAccountTest, PasswordsProtectCaseInsensitiveNames) {
    GameNode n1(dir_, "n1", redis_->port()), n2(dir_, "n2", redis_->port());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    RespClient redis(redis_->port());
    {
        Player p(n1.port());
        EXPECT_EQ(p.command("login Alice hunter22"),
                  "welcome Alice: you are new here and have 100 gold");
        EXPECT_EQ(p.command("quit"), "bye: your progress is saved");
    }
    // Only a salted scrypt hash is stored, under the lower-case name.
    std::string hash = redis.command({"HGET", "game:player:alice", "pwhash"}).str;
    EXPECT_EQ(hash.rfind("scrypt$2048$8$1$", 0), 0u) << hash;
    EXPECT_EQ(hash.find("hunter22"), std::string::npos);
    EXPECT_EQ(redis.command({"EXISTS", "game:player:Alice"}).integer, 0);
    {
        // Same password, same account: another salt, another hash.
        Player p(n1.port());
        EXPECT_EQ(p.command("login Other hunter22"),
                  "welcome Other: you are new here and have 100 gold");
        EXPECT_NE(redis.command({"HGET", "game:player:other", "pwhash"}).str, hash);
    }

    Player thief(n2.port());
    std::string version = redis.command({"HGET", "game:player:alice", "version"}).str;
    EXPECT_EQ(thief.command("login alice letmein"), "wrong password for Alice");
    EXPECT_EQ(thief.command("login ALICE hunter2"), "wrong password for Alice");
    // A refused login writes nothing to the record and leaves no presence.
    EXPECT_EQ(redis.command({"HGET", "game:player:alice", "version"}).str, version);
    EXPECT_TRUE(redis.command({"HGET", "game:online", "alice"}).null);
    EXPECT_EQ(thief.command("gold"), "not logged in: type login <name> <password> first");

    Player alice(n2.port()), bob(n1.port());
    EXPECT_EQ(alice.command("login aLiCe hunter22"),
              "welcome back Alice: 100 gold, login #2, 0 lines said");
    EXPECT_EQ(alice.command("login alice hunter22"), "you are already logged in as Alice");
    EXPECT_EQ(bob.command("login bob pass1234"), "welcome bob: you are new here and have 100 gold");
    EXPECT_EQ(bob.command("give ALICE 10"), "gave 10 gold to ALICE; you have 90 gold");
    EXPECT_EQ(alice.wait_notice("[gold]"), "[gold] bob gave you 10 gold; you have 110");
    EXPECT_EQ(alice.command("give Bob 200"), "not enough gold: you have 110");
    EXPECT_EQ(alice.command("give alice 1"), "you cannot give gold to yourself");
    {
        Player twin(n1.port());
        EXPECT_EQ(twin.command("login Alice hunter22"), "Alice is already playing on n2");
    }
    EXPECT_EQ(bob.command("who"), "2 online: Alice@n2 bob@n1");
    EXPECT_EQ(alice.command("say hi"), "you say: hi");
    EXPECT_EQ(bob.wait_notice("[chat]"), "[chat] Alice@n2: hi");
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

// Records written before accounts get their password at their first login; hashes made with
// weaker parameters than today's are replaced at the next good login.
TEST_F(GameAccountTest, OldRecordsAndOldHashesAreUpgradedAtLogin) {
    GameNode n1(dir_, "n1", redis_->port());
    ASSERT_TRUE(n1.start()) << n1.output();
    RespClient redis(redis_->port());
    // scrypt("oldpass1", salt 00112233..ff, N=1024, r=8, p=1), made outside skyhive.
    const std::string old_hash =
        "scrypt$1024$8$1$00112233445566778899aabbccddeeff$"
        "6e8d95733faee7dea44744e59e8495a3480a4bdd0f8ecb0b7d375dd67ed41a92";
    redis.command({"HSET", "game:player:hal", "version", "1", "name", "Hal", "gold", "10", "pwhash",
                   old_hash});
    redis.command({"HSET", "game:player:kai", "version", "3", "gold", "42", "logins", "2"});
    {
        Player p(n1.port());
        EXPECT_EQ(p.command("login hal newpass1"), "wrong password for Hal");
        EXPECT_EQ(p.command("login HAL oldpass1"),
                  "welcome back Hal: 10 gold, login #1, 0 lines said");
        EXPECT_EQ(p.command("quit"), "bye: your progress is saved");
    }
    std::string upgraded = redis.command({"HGET", "game:player:hal", "pwhash"}).str;
    EXPECT_EQ(upgraded.rfind("scrypt$2048$8$1$", 0), 0u) << upgraded;
    {
        Player p(n1.port());
        EXPECT_EQ(p.command("login kai firstpw1"),
                  "welcome back kai: 42 gold, login #3, 0 lines said");
        EXPECT_EQ(p.command("quit"), "bye: your progress is saved");
    }
    Player p(n1.port());
    EXPECT_EQ(p.command("login kai otherpw1"), "wrong password for kai");
    EXPECT_EQ(p.command("login hal oldpass1"), "welcome back Hal: 10 gold, login #2, 0 lines said");
    EXPECT_EQ(n1.stop(), 0) << n1.output();
}

TEST_F(GameAccountTest, FailedLoginsAreLimitedPerNameAndPerAddress) {
    GameNode n1(dir_, "n1", redis_->port()), n2(dir_, "n2", redis_->port());
    ASSERT_TRUE(n1.start()) << n1.output();
    ASSERT_TRUE(n2.start()) << n2.output();
    for (const char* name : {"carol", "dave", "erin", "fay"}) {
        Player p(n1.port());
        EXPECT_EQ(p.command(std::string("login ") + name + " rightpass").rfind("welcome", 0), 0u);
        EXPECT_EQ(p.command("quit"), "bye: your progress is saved");
    }
    Player p(n1.port()), q(n2.port());
    // Five failures a minute per name, on either node; then even the right password waits.
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ((i % 2 ? p : q).command("login carol wrongpass"), "wrong password for carol");
    for (Player* who : {&p, &q}) {
        std::string r = who->command("login carol rightpass");
        EXPECT_EQ(r.rfind("too many failed logins, try again in ", 0), 0u) << r;
        int wait = std::stoi(r.substr(r.rfind(' ', r.size() - 3) + 1));
        EXPECT_GE(wait, 1);
        EXPECT_LE(wait, 60);
    }
    // A success clears the name's count: dave fails four times, logs in, and may fail again.
    for (int i = 0; i < 4; ++i)
        EXPECT_EQ(p.command("login dave wrongpass"), "wrong password for dave");
    EXPECT_EQ(p.command("login dave rightpass").rfind("welcome back dave", 0), 0u);
    EXPECT_EQ(p.command("quit"), "bye: your progress is saved");
    Player r(n1.port());
    // Twenty failures a minute per address: 5 (carol) + 4 (dave) so far; 5 each for erin and
    // fay make 19, and dave's count started again at his login, so one more for him makes 20.
    for (const char* name : {"erin", "fay"})
        for (int i = 0; i < 5; ++i)
            EXPECT_EQ(r.command(std::string("login ") + name + " wrongpass"),
                      std::string("wrong password for ") + name);
    EXPECT_EQ(r.command("login dave wrongpass"), "wrong password for dave");
    std::string blocked = r.command("login dave rightpass");
    EXPECT_EQ(blocked.rfind("too many failed logins, try again in ", 0), 0u) << blocked;
    // New names from the same address are refused too (no account is created).
    EXPECT_EQ(r.command("login gus rightpass").rfind("too many failed logins", 0), 0u);
    RespClient redis(redis_->port());
    EXPECT_EQ(redis.command({"EXISTS", "game:player:gus"}).integer, 0);
    EXPECT_EQ(n1.stop(), 0) << n1.output();
    EXPECT_EQ(n2.stop(), 0) << n2.output();
}

}  // namespace
}  // namespace skyhive::test::game
