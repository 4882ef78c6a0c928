// Node::logon / logoff / trace: what the debug console's logon, logoff and trace commands rely
// on. Each message of a watched service is written to its message log or timed in the node's
// log, on the workers and on the inline (socket thread) path; unwatched services are untouched.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "core/node.h"
#include "test/core/test_support.h"

namespace skyhive::test {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t pos = 0; (pos = text.find(what, pos)) != std::string::npos; ++pos)
        ++n;
    return n;
}

// A temporary directory, removed with what is in it.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/skyhive-watch-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// A node logging at info into dir/node.log, with a "counter" module counting its messages
// (a message whose payload is "slow" takes 30 ms).
struct WatchedNode {
    TempDir dir;
    std::atomic<int> handled{0};
    std::unique_ptr<Node> node;

    explicit WatchedNode(uint64_t logon_limit = uint64_t(64) << 20, bool inline_events = false) {
        NodeOptions o = quiet_options();
        o.log_level = LogLevel::info;
        o.logger = dir.path + "/node.log";
        o.logon_limit = logon_limit;
        node = std::make_unique<Node>(o);
        node->modules().add("counter", [this, inline_events] {
            auto m = std::make_unique<FnModule>();
            m->inline_events = inline_events;
            m->on_msg = [this](Service&, Message& msg) {
                if (msg.payload.view() == "slow")
                    std::this_thread::sleep_for(std::chrono::milliseconds(30));
                handled++;
            };
            return m;
        });
        EXPECT_TRUE(node->start());
    }
    void send(Handle to, int32_t session, std::string_view payload) {
        node->send(Handle(0x42), to, MessageType::lua, session, Payload::copy(payload));
    }
    void wait_handled(int n) {
        ASSERT_TRUE(wait_until([&] { return handled.load() == n; }));
    }
    std::string stop_and_read_log() {
        node->shutdown();
        return slurp(dir.path + "/node.log");
    }
};

TEST(NodeWatch, TraceLogsEachMessageWithTypeSourceSessionSizeAndTime) {
    WatchedNode w;
    Handle h = w.node->launch("counter", "").value();
    Handle other = w.node->launch("counter", "").value();
    ASSERT_TRUE(w.node->trace(h, true));
    w.send(h, 7, "hello");
    w.send(h, 8, "slow");
    w.send(other, 9, "not traced");
    w.wait_handled(3);
    ASSERT_TRUE(w.node->trace(h, false));
    w.send(h, 10, "after");
    w.wait_handled(4);
    std::string log = w.stop_and_read_log();
    EXPECT_EQ(count(log, "trace: "), 2u) << log;
    EXPECT_EQ(count(log, "trace: lua from :00000042 session 7, 5 bytes: "), 1u) << log;
    size_t slow = log.find("trace: lua from :00000042 session 8, 4 bytes: ");
    ASSERT_NE(slow, std::string::npos) << log;
    const std::string line = log.substr(slow, log.find('\n', slow) - slow);
    double ms = std::stod(line.substr(line.rfind(": ") + 2));
    EXPECT_GE(ms, 29.0) << log;  // the message's own time, measured around it
}

TEST(NodeWatch, TraceRefusesTheLoggerAndDeadServices) {
    WatchedNode w;
    auto logger = w.node->trace(w.node->resolve(":00000001"), true);
    ASSERT_FALSE(logger);
    EXPECT_NE(logger.error().message.find("the logger cannot be traced"), std::string::npos);
    auto dead = w.node->trace(Handle(0x99), true);
    ASSERT_FALSE(dead);
    EXPECT_EQ(dead.error().message, "no service :00000099");
}

TEST(NodeWatch, TraceRunsOnTheInlinePathToo) {
    WatchedNode w(uint64_t(64) << 20, /*inline_events=*/true);
    Handle h = w.node->launch("counter", "").value();
    ASSERT_TRUE(w.node->trace(h, true));
    // From a thread that is not a worker, an idle opted-in service runs the event right here.
    w.node->deliver(h, Message{Handle(), 3, MessageType::socket, Payload::copy("evt")});
    w.wait_handled(1);
    std::string log = w.stop_and_read_log();
    EXPECT_EQ(count(log, "trace: socket from :00000000 session 3, 3 bytes: "), 1u) << log;
}

TEST(NodeWatch, LogonWritesEachMessageUntilLogoff) {
    WatchedNode w;
    Handle h = w.node->launch("counter", "tag").value();
    auto no_path = w.node->logon(h);
    ASSERT_FALSE(no_path);
    EXPECT_NE(no_path.error().message.find("set logpath"), std::string::npos);

    const std::string dir = w.dir.path + "/messages";  // made by logon
    ASSERT_TRUE(w.node->env().set("logpath", dir));
    auto path = w.node->logon(h);
    ASSERT_TRUE(path) << path.error().message;
    char name[32];
    std::snprintf(name, sizeof name, "/%08x.log", h.value);
    EXPECT_EQ(path.value(), dir + name);
    auto again = w.node->logon(h);
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("is already logged to " + path.value()),
              std::string::npos);

    w.send(h, 5, "hello");
    w.wait_handled(1);
    std::string text = slurp(path.value());  // flushed per message
    EXPECT_NE(text.find("(counter tag)"), std::string::npos) << text;
    EXPECT_NE(text.find(" :00000042 lua 5 5 68656c6c6f\n"), std::string::npos) << text;

    auto off = w.node->logoff(h);
    ASSERT_TRUE(off);
    EXPECT_EQ(off.value(), path.value());
    w.send(h, 6, "after");
    w.wait_handled(2);
    EXPECT_EQ(slurp(path.value()), text);
    auto off_again = w.node->logoff(h);
    ASSERT_FALSE(off_again);
    EXPECT_NE(off_again.error().message.find("is not logged"), std::string::npos);

    // A second logon appends: the first one's lines stay.
    ASSERT_TRUE(w.node->logon(h));
    w.send(h, 7, "again");
    w.wait_handled(3);
    std::string both = slurp(path.value());
    EXPECT_EQ(both.substr(0, text.size()), text);
    EXPECT_EQ(count(both, "# messages of "), 2u) << both;
    EXPECT_NE(both.find(" :00000042 lua 7 5 616761696e\n"), std::string::npos) << both;
}

TEST(NodeWatch, LogonStopsAtItsLimitWithALastLineAndALogLine) {
    WatchedNode w(1024);
    Handle h = w.node->launch("counter", "").value();
    ASSERT_TRUE(w.node->env().set("logpath", w.dir.path));
    auto path = w.node->logon(h);
    ASSERT_TRUE(path);
    for (int i = 0; i < 50; ++i)
        w.send(h, i + 1, std::string(32, 'x'));
    w.wait_handled(50);
    std::string text = slurp(path.value());
    EXPECT_LE(text.size(), 1024u);
    EXPECT_GT(text.size(), 700u);  // it wrote up to near the limit
    const std::string last =
        "# stopped: the next message would take this file past its limit of 1024 bytes\n";
    ASSERT_GE(text.size(), last.size());
    EXPECT_EQ(text.substr(text.size() - last.size()), last) << text;
    EXPECT_FALSE(w.node->logoff(h));  // no longer logged
    auto full = w.node->logon(h);     // and the full file takes no more
    ASSERT_FALSE(full);
    EXPECT_NE(full.error().message.find("is already at its limit of 1024 bytes"), std::string::npos)
        << full.error().message;
    std::string log = w.stop_and_read_log();
    EXPECT_EQ(count(log, "reached its limit of 1024 bytes; logging stopped"), 1u) << log;
}

TEST(NodeWatch, ARetiredServiceLeavesNoWatchToTheNextOneInItsShell) {
    WatchedNode w;
    ASSERT_TRUE(w.node->env().set("logpath", w.dir.path));
    Handle h = w.node->launch("counter", "").value();
    ASSERT_TRUE(w.node->logon(h));
    ASSERT_TRUE(w.node->trace(h, true));
    ASSERT_TRUE(w.node->kill(h));
    ASSERT_TRUE(wait_until([&] { return !w.node->with_service(h, [](Service&) {}); }));
    // Shells are reused: the next service may get h's, and must start unwatched.
    for (int i = 0; i < 4; ++i) {
        Handle next = w.node->launch("counter", "").value();
        w.node->with_service(next, [](Service& s) { EXPECT_EQ(s.watching(), 0); });
        w.send(next, 1, "x");
    }
    w.wait_handled(4);
    std::string log = w.stop_and_read_log();
    EXPECT_EQ(count(log, "trace: "), 0u) << log;
}

}  // namespace
}  // namespace skyhive::test
