// HandleRegistry: handles are not reused soon, names follow their service, and a dead handle
// answers a request with an error.
#include "core/handle_registry.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <vector>

#include "core/node.h"
#include "test/core/test_support.h"

namespace skyhive::test {
namespace {

TEST(HandleRegistry, HandlesAreNotReusedSoon) {
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

TEST(HandleRegistry, NamesRegisterQueryAndDieWithTheService) {
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

TEST(HandleRegistry, ANameIsNeverBoundToAnErasedHandle) {
    // Node::register_name checks the handle, then binds: a retire in between erases the handle
    // and its names, and a name bound after that would point at nothing and stay taken.
    HandleRegistry registry(1);
    Service* fake = reinterpret_cast<Service*>(uintptr_t(64));  // never dereferenced
    Handle h = registry.insert(fake);
    ASSERT_TRUE(registry.erase(h));
    EXPECT_FALSE(registry.bind_name(".late", h)) << "bound to an erased handle";
    EXPECT_FALSE(registry.find_name(".late"));
    Handle live = registry.insert(fake);
    EXPECT_TRUE(registry.bind_name(".late", live)) << "the name is free";
    EXPECT_EQ(registry.find_name(".late"), live);
    registry.erase(live);
}

TEST(HandleRegistry, SendToDeadHandleRepliesWithError) {
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

}  // namespace
}  // namespace skyhive::test
