// The game and the debug console against hostile or odd clients, black-box: a node process and a
// real redis-server. Clients that send without reading are held at the write high-water mark
// and dropped past four times it, so the node's memory stays bounded and other players are
// served; lines are bounded; telnet commands, CR-only line ends, unprintable bytes and a last
// line before a half-close are handled.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "test/integration/game_support.h"

namespace skyhive::test::game {
namespace {

using namespace std::chrono_literals;

// The node's jemalloc "allocated" figure, from the console; nullopt without jemalloc.
std::optional<long long> allocated(DebugConsole& console) {
    for (auto& line : console.run("jmem").lines)
        if (line.rfind("allocated", 0) == 0) return std::stoll(line.substr(9));
    return std::nullopt;
}

// Logs in as `name` (a new account) -> the reply.
std::string login(Player& p, const std::string& name) {
    return p.command("login " + name + " secret-" + name);
}

using GameHostileTest = GameFixture;

// Four clients each send `help` 100,000 times (600 KB) and never read the 50 MB of answers. Their
// agents stop reading them at the 1 MB mark, so the node's allocated memory grows by a few MB, not
// by the 200 MB it took when every answer was queued; a normal player is served meanwhile.
TEST_F(GameHostileTest, ClientsThatDoNotReadAreHeldAndTheNodeStaysSmall) {
    GameNode node(dir_, "n1", redis_port());
    ASSERT_TRUE(node.start()) << node.output();
    DebugConsole admin(node.console_port());
    ASSERT_TRUE(admin.ready()) << node.output();
    auto before = allocated(admin);
    if (!before) GTEST_SKIP() << "jemalloc is not in use (sanitizer build)";

    std::string flood;
    for (int i = 0; i < 100000; ++i)
        flood += "help\r\n";
    std::vector<std::unique_ptr<LineClient>> flooders;
    for (int i = 0; i < 4; ++i) {
        flooders.push_back(std::make_unique<LineClient>(node.port()));
        ASSERT_TRUE(flooders.back()->connected());
    }
    // Send until everything is out or the sends stall (the node stopped reading them), sampling
    // the node's memory all along and for 5 s after, and on until the node has said it holds a
    // flooder: on a loaded machine the kernel can take the whole flood before the agents have
    // answered enough of it to reach their mark.
    const char* held_line = "not reading until the client catches up";
    std::vector<size_t> sent(flooders.size(), 0);
    long long peak = *before;
    auto last_progress = Clock::now();
    auto quiet_until = Clock::time_point::max();
    const auto give_up = Clock::now() + 60s;
    auto waiting = [&] {
        auto now = Clock::now();
        if (now < quiet_until) return true;
        return now < give_up && node.output().find(held_line) == std::string::npos;
    };
    while (waiting()) {
        bool progress = false, all_sent = true;
        for (size_t i = 0; i < flooders.size(); ++i) {
            size_t was = sent[i];
            ASSERT_TRUE(flooders[i]->send_some(flood, sent[i])) << "flooder " << i;
            progress |= sent[i] != was;
            all_sent &= sent[i] == flood.size();
        }
        if (progress) last_progress = Clock::now();
        bool stalled = Clock::now() - last_progress > 1s;
        if ((all_sent || stalled) && quiet_until == Clock::time_point::max())
            quiet_until = Clock::now() + 5s;
        auto now = allocated(admin);
        ASSERT_TRUE(now) << node.output();
        peak = std::max(peak, *now);
    }
    // A normal player on the same node is served while the flooders are held.
    Player p(node.port());
    ASSERT_TRUE(p.ready());
    EXPECT_EQ(p.command("dance"), "unknown command \"dance\": type help");
    EXPECT_EQ(p.command("gold"), "not logged in: type login <name> <password> first");

    long long growth = peak - *before;
    std::printf("node allocated: %.1f MB before, %.1f MB peak with 4 flooders (+%.1f MB)\n",
                double(*before) / 1e6, double(peak) / 1e6, double(growth) / 1e6);
    EXPECT_LT(growth, 20LL << 20) << "allocated " << *before << " -> peak " << peak;
    EXPECT_NE(node.output().find(held_line), std::string::npos) << node.output();
    for (auto& f : flooders)
        f->close();
    EXPECT_EQ(p.command("gold"), "not logged in: type login <name> <password> first");
    EXPECT_EQ(node.stop(), 0) << node.output();
}

// A player who never reads while chat keeps coming is dropped once four times the mark (here
// 64 KB) waits for them, with a log line naming their address; the others play on.
TEST_F(GameHostileTest, PlayerWhoNeverReadsIsDroppedPastTheHardLimit) {
    GameNode node(dir_, "n1", redis_port(), "socket_warning_kb = 64\n");
    ASSERT_TRUE(node.start()) << node.output();
    // A small receive buffer, so that little of the chat waits in this machine's kernel.
    LineClient deaf(node.port(), 4096);
    ASSERT_TRUE(deaf.connected());
    ASSERT_TRUE(deaf.read_line());  // welcome
    ASSERT_TRUE(deaf.send("login deaf secret-deaf\r\n"));
    auto reply = deaf.read_line();
    ASSERT_TRUE(reply && reply->find("welcome deaf") != std::string::npos) << *reply;
    const std::string deaf_address = deaf.address();

    Player talker(node.port());
    ASSERT_TRUE(talker.ready());
    ASSERT_NE(login(talker, "talker").find("welcome talker"), std::string::npos);
    const std::string text = "say " + std::string(480, 'x');
    const std::string needle = deaf_address + ": ";
    bool dropped = false;
    int says = 0;
    for (int batch = 0; batch < 200 && !dropped; ++batch) {
        says += 100;
        std::string lines;
        for (int i = 0; i < 100; ++i)
            lines += text + "\r\n";
        ASSERT_TRUE(talker.send_raw(lines));
        for (int i = 0; i < 100; ++i)
            ASSERT_EQ(talker.reply().rfind("you say: ", 0), 0u) << "batch " << batch;
        talker.notices.clear();
        std::string out = node.output();
        dropped = out.find("the client does not read: disconnecting") != std::string::npos;
    }
    ASSERT_TRUE(dropped) << node.output();
    std::printf("dropped after %d chat lines\n", says);
    std::string out = node.output();
    size_t at = out.find("the client does not read: disconnecting");
    size_t line_start = out.rfind('\n', at);
    EXPECT_NE(out.substr(line_start, at - line_start).find(needle), std::string::npos)
        << "the log line names the peer " << deaf_address << ": " << out.substr(line_start);
    EXPECT_TRUE(deaf.wait_eof()) << "the connection was closed";
    EXPECT_EQ(talker.command("gold"), "you have 100 gold");
    EXPECT_EQ(node.stop(), 0) << node.output();
}

// Telnet negotiation is removed wherever it appears (split or not), CR alone and CR NUL end a
// line like LF and CR LF, and what is echoed back is printable.
TEST_F(GameHostileTest, TelnetCommandsOddLineEndsAndUnprintableBytes) {
    GameNode node(dir_, "n1", redis_port());
    ASSERT_TRUE(node.start()) << node.output();
    LineClient c(node.port());
    ASSERT_TRUE(c.connected());
    ASSERT_NE(c.read_line().value_or("").find("welcome to skyhive"), std::string::npos);

    // IAC WILL ECHO, IAC DO SUPPRESS-GO-AHEAD, then "gold" with a terminal-type subnegotiation
    // and an IAC NOP inside, ended by CR alone.
    ASSERT_TRUE(
        c.send("\xff\xfb\x01\xff\xfd\x03go\xff\xfa\x18\x01\xff\xf0l\xff\xf1"
               "d\r"));
    EXPECT_EQ(c.read_line().value_or("<none>"),
              "not logged in: type login <name> <password> first");
    // CR alone, CR NUL, and a CR LF whose LF comes in the next packet.
    ASSERT_TRUE(c.send("gold\rgold\r"));
    EXPECT_EQ(c.read_line().value_or("<none>"),
              "not logged in: type login <name> <password> first");
    EXPECT_EQ(c.read_line().value_or("<none>"),
              "not logged in: type login <name> <password> first");
    ASSERT_TRUE(c.send(std::string("\0gold\r", 6)));
    EXPECT_EQ(c.read_line().value_or("<none>"),
              "not logged in: type login <name> <password> first");
    ASSERT_TRUE(c.send("\ngold\r\n"));
    EXPECT_EQ(c.read_line().value_or("<none>"),
              "not logged in: type login <name> <password> first");
    // Bytes >= 0x80 and control bytes never come back raw; IAC IAC is a data byte 255.
    ASSERT_TRUE(c.send("caf\xc3\xa9\r\n"));
    EXPECT_EQ(c.read_line().value_or("<none>"), "unknown command \"caf??\": type help");
    ASSERT_TRUE(c.send("x\xff\xffy\x7f\r\n"));
    EXPECT_EQ(c.read_line().value_or("<none>"), "unknown command \"x?y\\127\": type help");
    ASSERT_TRUE(c.send("help\r\n"));
    auto lines = c.read_until("quit");
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.front(), "commands:");
    EXPECT_EQ(node.stop(), 0) << node.output();
}

// A client that sends its last command without a line end and half-closes still gets the
// answer before the node closes the connection.
TEST_F(GameHostileTest, LastLineBeforeHalfCloseIsAnswered) {
    GameNode node(dir_, "n1", redis_port());
    ASSERT_TRUE(node.start()) << node.output();
    LineClient c(node.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.read_line());  // welcome
    ASSERT_TRUE(c.send("help\r\ngold"));
    c.shutdown_write();
    auto lines = c.read_until("not logged in");
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.front(), "commands:");
    EXPECT_EQ(lines.back(), "not logged in: type login <name> <password> first");
    EXPECT_TRUE(c.wait_eof());
    EXPECT_EQ(node.stop(), 0) << node.output();
}

// The console refuses a 17 MB line with one short error instead of buffering and echoing it,
// stays usable, understands CR-only line ends and telnet commands, and answers a last line
// before a half-close.
TEST_F(GameHostileTest, ConsoleBoundsLinesAndStaysUsable) {
    GameNode node(dir_, "n1", redis_port());
    ASSERT_TRUE(node.start()) << node.output();
    LineClient c(node.console_port());
    ASSERT_TRUE(c.connected()) << node.output();
    ASSERT_NE(c.read_line().value_or("").find("Welcome"), std::string::npos);

    const std::string huge = "x" + std::string(17u << 20, 'y') + "\n";
    size_t sent = 0;
    for (auto until = Clock::now() + kDeadline; sent < huge.size();) {
        ASSERT_TRUE(c.send_some(huge, sent));
        ASSERT_LT(Clock::now(), until) << "the console stopped reading after " << sent << " bytes";
        if (c.received() > 0) break;  // answered early: the rest is sent below
        pollfd p{-1, 0, 0};
        ::poll(&p, 0, 5);
    }
    ASSERT_TRUE(c.send(huge.substr(sent)));
    auto lines = c.read_until("<CMD ");
    ASSERT_LT(c.received(), 200u) << "the line was echoed";
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], "error: line too long (over 16384 bytes)");
    EXPECT_EQ(lines[1], "<CMD Error>");

    // Usable: CR-only and telnet-wrapped commands are answered.
    ASSERT_TRUE(c.send("\xff\xfd\x01lo\xff\xfb\x03g\r"));
    lines = c.read_until("<CMD ");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0].rfind("log level: ", 0), 0u) << lines[0];
    EXPECT_EQ(lines[1], "<CMD OK>");
    // Unknown commands are echoed printable only.
    ASSERT_TRUE(c.send("caf\xc3\xa9\x1b\n"));
    lines = c.read_until("<CMD ");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], "error: unknown command \"caf??\\27\", type help for the commands");
    // A last command without a line end, then a half-close: answered, then closed.
    ASSERT_TRUE(c.send("log"));
    c.shutdown_write();
    lines = c.read_until("<CMD ");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1], "<CMD OK>");
    EXPECT_TRUE(c.wait_eof());
    EXPECT_EQ(node.stop(), 0) << node.output();
}

// The high-water mark is checked before anything starts, naming the file, line and key.
TEST(GameHostileConfigTest, SocketWarningKbOutOfRangeIsRefused) {
    TempDir dir;
    for (const char* bad : {"0", "4194305", "\"big\""}) {
        dir.write("bad.lua", "thread = 2\nsocket_warning_kb = " + std::string(bad) + "\n");
        Process p({SKYHIVE_BINARY, dir.file("bad.lua")}, dir.file("out.txt"));
        EXPECT_EQ(p.wait(), 2) << bad;
        std::string out = p.output();
        EXPECT_NE(out.find("bad.lua:2: key 'socket_warning_kb': expected an integer between 1 "
                           "and 4194304"),
                  std::string::npos)
            << out;
        ::unlink(dir.file("out.txt").c_str());
    }
}

}  // namespace
}  // namespace skyhive::test::game
