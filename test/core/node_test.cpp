// Node: launch, kill, timeouts and several nodes in one process.
#include "core/node.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "test/core/test_support.h"

namespace skyhive::test {
namespace {

TEST(Node, KillAnswersQueuedRequestsWithErrors) {
    Node node(quiet_options());
    Inbox inbox;
    add_inbox_module(node, inbox);
    std::atomic<bool> inside{false}, go{false}, released{false};
    node.modules().add("blocker", [&] {
        auto m = std::make_unique<FnModule>();
        m->on_msg = [&](Service&, Message&) {
            inside = true;
            while (!go.load())
                std::this_thread::yield();
        };
        m->on_release = [&](Service&) { released = true; };
        return m;
    });
    ASSERT_TRUE(node.start());
    Handle a = node.launch("inbox", "").value();
    Handle b = node.launch("blocker", "").value();
    for (int32_t s = 1; s <= 5; ++s)
        node.send(a, b, MessageType::lua, s, {});
    ASSERT_TRUE(wait_until([&] { return inside.load(); }));
    EXPECT_TRUE(node.kill(b));
    go = true;
    ASSERT_TRUE(wait_until([&] { return inbox.size() == 4; }));
    EXPECT_TRUE(released.load());
    std::set<int32_t> sessions;
    {
        std::lock_guard g(inbox.lock);
        for (auto& m : inbox.messages) {
            EXPECT_EQ(m.type, MessageType::error);
            EXPECT_EQ(m.source, b);
            sessions.insert(m.session);
        }
    }
    EXPECT_EQ(sessions, (std::set<int32_t>{2, 3, 4, 5}));
    EXPECT_FALSE(node.kill(b));
}

TEST(Node, LaunchFailureIsReportedAndLeavesNoService) {
    Node node(quiet_options());
    add_fn_module(
        node, "refuses", [](Service&, Message&) {},
        [](Service&, std::string_view) { return false; });
    ASSERT_TRUE(node.start());
    auto r = node.launch("refuses", "abc");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("refuses"), std::string::npos);
    auto missing = node.launch("no_such_module", "");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("no_such_module"), std::string::npos);
    EXPECT_EQ(node.service_count(), 1u);
}

TEST(Node, AServiceInAReusedShellStartsWithEveryCounterAtZero) {
    Node node(quiet_options());
    std::atomic<int> handled{0};
    node.modules().add("opted", [&] {
        auto m = std::make_unique<FnModule>();
        m->inline_events = true;
        m->on_msg = [&](Service&, Message&) { handled++; };
        return m;
    });
    ASSERT_TRUE(node.start());
    Handle a = node.launch("opted", "").value();
    // Socket messages from a thread that is not a worker run there (ServiceStats::inline_messages).
    std::thread t([&] {
        for (int i = 0; i < 10; ++i)
            node.deliver(a, Message{Handle(), 0, MessageType::socket, Payload()});
    });
    t.join();
    ASSERT_TRUE(wait_until([&] { return handled.load() == 10; }));
    const Service* shell = nullptr;
    ASSERT_TRUE(node.with_service(a, [&](Service& s) {
        shell = &s;
        EXPECT_EQ(s.stats().messages.load(), 10u);
        EXPECT_GT(s.stats().inline_messages.load(), 0u);
    }));

    ASSERT_TRUE(node.kill(a));
    // Shells are reused last freed first; the old one is back in the pool a moment after the
    // handle is gone, and from then on the next launch takes it.
    Handle b;
    ASSERT_TRUE(wait_until([&] {
        b = node.launch("opted", "").value();
        const Service* got = nullptr;
        node.with_service(b, [&](Service& s) { got = &s; });
        return got == shell;
    }));
    ASSERT_TRUE(node.with_service(b, [](Service& s) {
        EXPECT_EQ(s.stats().messages.load(), 0u);
        EXPECT_EQ(s.stats().cpu_cycles.load(), 0u);
        EXPECT_EQ(s.stats().inline_messages.load(), 0u);
    }));
}

TEST(Node, TwoNodesInOneProcess) {
    NodeOptions o1 = quiet_options(), o2 = quiet_options();
    o1.node_id = 1;
    o2.node_id = 2;
    Node n1(o1), n2(o2);
    std::atomic<int> bounces1{0}, bounces2{0};
    auto bouncer = [](std::atomic<int>& counter) {
        return [&counter](Service& self, Message& m) {
            if (counter.fetch_add(1) < 10'000) self.send(m.source, MessageType::text, 0, {});
        };
    };
    add_fn_module(n1, "bounce", bouncer(bounces1));
    add_fn_module(n2, "bounce", bouncer(bounces2));
    ASSERT_TRUE(n1.start());
    ASSERT_TRUE(n2.start());
    Handle a1 = n1.launch("bounce", "").value(), b1 = n1.launch("bounce", "").value();
    Handle a2 = n2.launch("bounce", "").value(), b2 = n2.launch("bounce", "").value();
    EXPECT_EQ(a1.node(), 1);
    EXPECT_EQ(a2.node(), 2);
    n1.send(a1, b1, MessageType::text, 0, {});
    n2.send(a2, b2, MessageType::text, 0, {});
    EXPECT_TRUE(wait_until([&] { return bounces1.load() > 10'000 && bounces2.load() > 10'000; }));
    EXPECT_FALSE(n1.send(Handle(), a2, MessageType::text, 0, {}))
        << "a handle of node 2 is not node 1's";
    n1.shutdown();
    EXPECT_TRUE(n2.send(Handle(), a2, MessageType::text, 0, {})) << "node 2 outlives node 1";
}

TEST(Node, TimeoutDeliversAResponseWithTheSession) {
    Node node(quiet_options());
    Inbox inbox;
    add_inbox_module(node, inbox);
    ASSERT_TRUE(node.start());
    Handle a = node.launch("inbox", "").value();
    node.timeout(a, 0, 41);
    node.timeout(a, 2, 42);
    ASSERT_TRUE(wait_until([&] { return inbox.size() == 2; }));
    std::lock_guard g(inbox.lock);
    EXPECT_EQ(inbox.messages[0].session, 41);
    EXPECT_EQ(inbox.messages[1].session, 42);
    EXPECT_EQ(inbox.messages[1].type, MessageType::response);
}

}  // namespace
}  // namespace skyhive::test
