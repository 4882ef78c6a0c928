// Monitor: a callback stuck past the threshold is reported and signalled.
#include "core/monitor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/node.h"
#include "test/core/test_support.h"

namespace skyhive::test {
namespace {

TEST(Monitor, ReportsAndSignalsAStuckCallback) {
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

}  // namespace
}  // namespace skyhive::test
