// Socket ids: unique, positive, generation-carrying, and enough of them.
#include "net/slot_table.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace skyhive::net {
namespace {

// What the socket thread does when a socket is gone.
void free_slot(SlotTable& t, int32_t id) {
    Slot* s = t.slot(id);
    s->id.store(0);
    t.release(*s);
}

TEST(SlotTableTest, HoldsMoreThan65536ConcurrentSockets) {
    SlotTable t;
    std::set<int32_t> ids;
    for (uint32_t i = 0; i < kMaxSockets; ++i) {
        int32_t id = t.reserve();
        ASSERT_GT(id, 0) << "reservation " << i;
        ASSERT_TRUE(ids.insert(id).second) << "duplicate id " << id;
        ASSERT_EQ(t.slot(id)->id.load(), id);
        ASSERT_EQ(t.slot(id)->state.load(), SlotState::reserved);
    }
    EXPECT_GE(kMaxSockets, 65536u);
    EXPECT_EQ(t.in_use(), kMaxSockets);
    EXPECT_EQ(t.capacity(), kMaxSockets);
    EXPECT_EQ(t.reserve(), 0) << "a full table must refuse";
    // One freed slot is found again, with a new generation.
    int32_t some = *ids.begin();
    free_slot(t, some);
    int32_t again = t.reserve();
    EXPECT_EQ(slot_index(again), slot_index(some));
    EXPECT_NE(again, some);
}

TEST(SlotTableTest, GrowsWithUseNotUpFront) {
    SlotTable t;
    EXPECT_EQ(t.capacity(), SlotTable::kPageSize);
    std::vector<int32_t> ids;
    for (int i = 0; i < 600; ++i)
        ids.push_back(t.reserve());
    EXPECT_EQ(t.capacity(), 2 * SlotTable::kPageSize);  // doubled past half full
    EXPECT_EQ(t.slot(make_socket_id(1, 5 * SlotTable::kPageSize)), nullptr)
        << "a page that was never needed does not exist";
}

TEST(SlotTableTest, FreedSlotIsReusedLastAndUnderANewId) {
    SlotTable t;
    int32_t first = t.reserve();
    free_slot(t, first);
    // Round robin: every other free slot is handed out before this one comes back.
    for (uint32_t i = 1; i < t.capacity(); ++i) {
        int32_t id = t.reserve();
        ASSERT_NE(slot_index(id), slot_index(first)) << "after " << i;
        free_slot(t, id);
    }
    int32_t reused = t.reserve();
    ASSERT_EQ(slot_index(reused), slot_index(first));
    EXPECT_NE(reused, first);
    EXPECT_EQ(slot_generation(reused), slot_generation(first) + 1);
    // The stale id still maps to the slot, but does not match it.
    EXPECT_EQ(t.slot(first), t.slot(reused));
    EXPECT_NE(t.slot(first)->id.load(), first);
}

TEST(SlotTableTest, GenerationWrapsWithoutMakingZeroOrNegativeIds) {
    SlotTable t;
    int32_t id = t.reserve();
    Slot* s = t.slot(id);
    s->generation = kMaxGeneration - 1;
    free_slot(t, id);
    // Cycle the cursor back to this slot twice: generations kMaxGeneration, then 1.
    for (uint32_t expect : {kMaxGeneration, 1u}) {
        int32_t got = 0;
        for (uint32_t i = 0; i < t.capacity(); ++i) {
            int32_t r = t.reserve();
            if (slot_index(r) == slot_index(id)) got = r;
            free_slot(t, r);
        }
        ASSERT_NE(got, 0);
        EXPECT_GT(got, 0);
        EXPECT_EQ(slot_generation(got), expect);
    }
}

}  // namespace
}  // namespace skyhive::net
