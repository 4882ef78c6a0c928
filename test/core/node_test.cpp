#include "core/node.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "core/spinlock.h"
#include "test/core/test_support.h"

namespace skyhive::test {
namespace {

struct Seq {
    uint32_t producer;
    uint32_t seq;
};

Payload seq_payload(uint32_t producer, uint32_t seq) {
    Seq s{producer, seq};
    return Payload::copy(&s, sizeof s);
}

// Records every message it receives (for error-reply and response checks).
struct Inbox {
    std::mutex lock;
    std::vector<Message> messages;
    size_t size() {
        std::lock_guard g(lock);
        return messages.size();
    }
};

void add_inbox_module(Node& node, Inbox& inbox) {
    add_fn_module(node, "inbox", [&inbox](Service&, Message& m) {
        std::lock_guard g(inbox.lock);
        inbox.messages.push_back(std::move(m));
    });
}

TEST(Node, PerSenderFifoNoLossNoDuplicates) {
    constexpr int kProducers = 4, kServices = 64;
    const uint32_t kPerService = kSanitized ? 5'000 : 100'000;
    Node node(quiet_options());
    struct alignas(64) State {  // one cache line each: two workers update neighbours
        uint32_t next[kProducers] = {};
        std::atomic<uint64_t> count{0};  // written by the service only, read by the test
        uint64_t sum = 0;
        bool order_ok = true;
    };
    std::vector<State> states(kServices);
    std::atomic<uint64_t> received{0};
    std::atomic<int> index{0};
    node.modules().add("counter", [&] {
        auto m = std::make_unique<FnModule>();
        State* st = &states[size_t(index.fetch_add(1))];
        m->on_msg = [st, &received](Service&, Message& msg) {
            Seq s;
            std::memcpy(&s, msg.payload.data(), sizeof s);
            if (s.seq != st->next[s.producer]) st->order_ok = false;
            st->next[s.producer] = s.seq + 1;
            uint64_t n = st->count.load(std::memory_order_relaxed) + 1;
            st->count.store(n, std::memory_order_release);
            st->sum += uint64_t(s.producer) * 1'000'000'007ull + s.seq;
            if (n % 256 == 0) received.fetch_add(256, std::memory_order_relaxed);  // backpressure
        };
        return m;
    });
    ASSERT_TRUE(node.start());
    std::vector<Handle> services;
    for (int i = 0; i < kServices; ++i)
        services.push_back(node.launch("counter", "").value());

    std::atomic<uint64_t> sent{0};
    std::vector<std::thread> producers;
    for (uint32_t p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
            for (uint32_t seq = 0; seq < kPerService; ++seq) {
                for (Handle h : services)
                    ASSERT_TRUE(node.send(Handle(), h, MessageType::text, 0, seq_payload(p, seq)));
                sent.fetch_add(kServices, std::memory_order_relaxed);
                // Bound the backlog so the test measures ordering, not memory.
                while (sent.load(std::memory_order_relaxed) -
                           received.load(std::memory_order_relaxed) >
                       400'000)
                    std::this_thread::yield();
            }
        });
    }
    for (auto& t : producers)
        t.join();
    const uint64_t per_service = uint64_t(kProducers) * kPerService;
    ASSERT_TRUE(wait_until(
        [&] {
            for (const State& st : states)
                if (st.count.load(std::memory_order_acquire) != per_service) return false;
            return true;
        },
        std::chrono::minutes(3)));
    uint64_t expected_sum = 0;
    for (uint32_t p = 0; p < kProducers; ++p)
        expected_sum += uint64_t(p) * 1'000'000'007ull * kPerService +
                        uint64_t(kPerService) * (kPerService - 1) / 2;
    node.shutdown();
    for (const State& st : states) {
        EXPECT_TRUE(st.order_ok);
        EXPECT_EQ(st.count.load(), per_service);
        EXPECT_EQ(st.sum, expected_sum);
    }
}

TEST(Node, FloodingServiceDoesNotStarvePing) {
    Node node(quiet_options());
    std::atomic<bool> stop_flood{false};
    add_fn_module(
        node, "flood",
        [&](Service& self, Message&) {
            if (!stop_flood.load(std::memory_order_relaxed))
                self.send(self.handle(), MessageType::text, 0, {});
        },
        [](Service& self, std::string_view) {
            for (int i = 0; i < 1'000'000; ++i)
                self.send(self.handle(), MessageType::text, 0, {});
            return true;
        });
    add_fn_module(node, "ping", [](Service& self, Message& m) {
        self.send(m.source, MessageType::response, m.session, std::move(m.payload));
    });
    std::atomic<int32_t> answered{0};
    add_fn_module(node, "pinger", [&](Service&, Message& m) {
        if (m.type == MessageType::response) answered.store(m.session);
    });
    ASSERT_TRUE(node.start());
    Handle flood = node.launch("flood", "").value();
    Handle ping = node.launch("ping", "").value();
    Handle pinger = node.launch("pinger", "").value();
    for (int32_t session = 1; session <= 50; ++session) {
        node.send(pinger, ping, MessageType::lua, session, {});
        ASSERT_TRUE(wait_until([&] { return answered.load() == session; }, std::chrono::seconds(5)))
            << "ping " << session << " starved";
    }
    size_t backlog = 0;
    node.with_service(flood, [&](Service& s) { backlog = s.mailbox_length(); });
    EXPECT_GT(backlog, 100'000u)
        << "the flood must still be running for the check to mean anything";
    stop_flood = true;
    node.shutdown();
}

TEST(Node, ServiceNeverRunsOnTwoWorkersAtOnce) {
    Node node(quiet_options(4));
    std::atomic<int> violations{0};
    std::atomic<uint64_t> handled{0};
    node.modules().add("exclusive", [&] {
        auto m = std::make_unique<FnModule>();
        auto busy = std::make_shared<std::atomic<bool>>(false);
        m->on_msg = [busy, &violations, &handled](Service&, Message&) {
            if (busy->exchange(true)) violations++;
            for (int i = 0; i < 200; ++i)
                cpu_relax();
            busy->store(false);
            handled++;
        };
        return m;
    });
    ASSERT_TRUE(node.start());
    std::vector<Handle> services;
    for (int i = 0; i < 8; ++i)
        services.push_back(node.launch("exclusive", "").value());
    const int kPerProducer = kSanitized ? 5'000 : 50'000;
    std::vector<std::thread> producers;
    for (int p = 0; p < 4; ++p)
        producers.emplace_back([&, p] {
            std::mt19937 rng(p);
            for (int i = 0; i < kPerProducer; ++i)
                node.send(Handle(), services[rng() % services.size()], MessageType::text, 0, {});
        });
    for (auto& t : producers)
        t.join();
    ASSERT_TRUE(wait_until([&] { return handled.load() == uint64_t(4 * kPerProducer); }));
    EXPECT_EQ(violations.load(), 0);
}

TEST(Node, MonitorReportsAndSignalsAStuckCallback) {
    NodeOptions o = quiet_options();
    o.monitor_threshold_ms = 100;
    Node node(o);
    std::atomic<bool> signalled{false};
    std::atomic<int> handled{0};
    node.modules().add("stuck", [&] {
        auto m = std::make_unique<FnModule>();
        m->on_msg = [&](Service&, Message& msg) {
            if (msg.session == 1)
                while (!signalled.load())
                    std::this_thread::yield();  // an "endless" loop
            handled++;
        };
        m->on_signal = [&](int sig) {
            if (sig == 0) signalled = true;
        };
        return m;
    });
    ASSERT_TRUE(node.start());
    Handle h = node.launch("stuck", "").value();
    node.send(Handle(), h, MessageType::text, 1, {});
    ASSERT_TRUE(wait_until([&] { return signalled.load(); }, std::chrono::seconds(10)));
    EXPECT_GE(node.monitor_reports(), 1u);
    node.send(Handle(), h, MessageType::text, 0, {});
    EXPECT_TRUE(wait_until([&] { return handled.load() == 2; })) << "the service survives";
}

TEST(Node, SendToDeadHandleRepliesWithError) {
    Node node(quiet_options());
    Inbox inbox;
    add_inbox_module(node, inbox);
    add_fn_module(node, "nop", [](Service&, Message&) {});
    ASSERT_TRUE(node.start());
    Handle a = node.launch("inbox", "").value();
    Handle b = node.launch("nop", "").value();
    ASSERT_TRUE(node.kill(b));
    ASSERT_TRUE(wait_until([&] { return node.service_count() == 2; }));  // logger + inbox
    EXPECT_FALSE(node.send(a, b, MessageType::lua, 7, Payload::copy("x")));
    EXPECT_FALSE(node.send(a, Handle(0x00ffff00), MessageType::lua, 8, {}));
    EXPECT_FALSE(node.send(a, b, MessageType::lua, 0, {}));  // not a request: no reply
    ASSERT_TRUE(wait_until([&] { return inbox.size() == 2; }));
    std::lock_guard g(inbox.lock);
    EXPECT_EQ(inbox.messages[0].type, MessageType::error);
    EXPECT_EQ(inbox.messages[0].session, 7);
    EXPECT_EQ(inbox.messages[0].source, b);
    EXPECT_EQ(inbox.messages[1].session, 8);
}

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

TEST(Node, ExitInsideAMessageErrorsTheRestOfTheBatch) {
    NodeOptions o = quiet_options(1);
    Node node(o);
    Inbox inbox;
    add_inbox_module(node, inbox);
    std::atomic<bool> go{false};
    add_fn_module(node, "quitter", [&](Service& self, Message& m) {
        while (!go.load())
            std::this_thread::yield();
        if (m.session == 1) self.exit();
    });
    ASSERT_TRUE(node.start());
    Handle a = node.launch("inbox", "").value();
    Handle q = node.launch("quitter", "").value();
    for (int32_t s = 1; s <= 4; ++s)
        node.send(a, q, MessageType::lua, s, {});
    go = true;
    ASSERT_TRUE(wait_until([&] { return inbox.size() == 3; }));
    EXPECT_FALSE(node.with_service(q, [](Service&) {}));
}

TEST(Node, HandlesAreNotReusedSoon) {
    Node node(quiet_options());
    add_fn_module(node, "nop", [](Service&, Message&) {});
    ASSERT_TRUE(node.start());
    std::set<uint32_t> seen;
    std::vector<Handle> old;
    for (int i = 0; i < 3000; ++i) {
        Handle h = node.launch("nop", "").value();
        EXPECT_TRUE(seen.insert(h.value).second) << "handle reused: " << h.value;
        old.push_back(h);
        if (i % 2 == 1) node.kill(old[size_t(i) - 1]);  // kill every other one as we go
    }
    ASSERT_TRUE(wait_until([&] { return node.service_count() == 1 + old.size() / 2; }));
    for (size_t i = 0; i < old.size(); i += 2)
        EXPECT_FALSE(node.send(Handle(), old[i], MessageType::text, 0, {}));
    Handle fresh = node.launch("nop", "").value();
    EXPECT_EQ(seen.count(fresh.value), 0u);
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

TEST(Node, NamesRegisterQueryAndDieWithTheService) {
    Node node(quiet_options());
    add_fn_module(node, "nop", [](Service&, Message&) {});
    ASSERT_TRUE(node.start());
    Handle h = node.launch("nop", "").value();
    EXPECT_TRUE(node.register_name(".db", h));
    EXPECT_EQ(node.query_name(".db"), h);
    EXPECT_EQ(node.resolve(".db"), h);
    char buf[16];
    std::snprintf(buf, sizeof buf, ":%08x", h.value);
    EXPECT_EQ(node.resolve(buf), h);
    Handle other = node.launch("nop", "").value();
    EXPECT_FALSE(node.register_name(".db", other)) << "a taken name is not stolen";
    node.kill(h);
    ASSERT_TRUE(wait_until([&] { return !node.query_name(".db"); }));
    EXPECT_TRUE(node.register_name(".db", other));
    EXPECT_TRUE(node.unregister_name(".db"));
    EXPECT_FALSE(node.query_name(".db"));
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

namespace skyhive::test {
namespace {

TEST(Node, MailboxOverloadIsLoggedAtEachDoubling) {
    char path[] = "/tmp/skyhive-overload-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    NodeOptions o = quiet_options(1);
    o.log_level = LogLevel::warn;
    o.logger = path;
    {
        Node node(o);
        std::atomic<bool> go{false};
        std::atomic<int> handled{0};
        add_fn_module(node, "slow", [&](Service&, Message&) {
            while (!go.load())
                std::this_thread::yield();
            handled++;
        });
        ASSERT_TRUE(node.start());
        Handle h = node.launch("slow", "").value();
        for (int i = 0; i < 5000; ++i)
            node.send(Handle(), h, MessageType::text, 0, {});
        go = true;
        ASSERT_TRUE(wait_until([&] { return handled.load() == 5000; }));
        node.shutdown();
    }
    std::ifstream in(path);
    std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ::unlink(path);
    // One warning when the backlog is first seen (~5000 >= 4096 after doubling from 1024), not
    // one per message.
    size_t warnings = 0;
    for (size_t pos = 0; (pos = log.find("mailbox overload", pos)) != std::string::npos; ++pos)
        ++warnings;
    EXPECT_GE(warnings, 1u) << log;
    EXPECT_LE(warnings, 3u) << log;
}

}  // namespace
}  // namespace skyhive::test
