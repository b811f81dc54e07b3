// Tests for the routing table row (routing_rows.h): the encoding pinned by golden bytes, init
// stores once, assign splits ranges, bumps the version and checks it, the row survives FLUSHDB
// and is invisible to KEYS, and TESSERA.SLOTKEYS counts keys per slot range.
#include "shard/data/routing_rows.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "routing/slot.h"
#include "shard/data/data_testing.h"
#include "shard/data/transaction.h"
#include "shard/kv/kv_state_machine.h"

namespace tessera::shard::data {
namespace {

using data_testing::Bulks;
using data_testing::DataTest;
using data_testing::Err;
using data_testing::Int;
using data_testing::kNil;
using data_testing::kOk;
using routing::RoutingTable;
using routing::SlotRange;

TEST(RoutingRowsTest, EncodingIsPinned) {
  const RoutingTable even = RoutingTable::EvenSpread({1, 2}, 1);
  const std::string bytes = EncodeRoutingTable(even);
  const std::string golden = std::string("\0\0\0\0\0\0\0\1", 8) + std::string("\0\0\0\2", 4) +
                             std::string("\0\0\x1f\xff", 4) + std::string("\0\0\0\0\0\0\0\1", 8) +
                             std::string("\x20\0\x3f\xff", 4) + std::string("\0\0\0\0\0\0\0\2", 8);
  EXPECT_EQ(bytes, golden);
  absl::StatusOr<RoutingTable> back = DecodeRoutingTable(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version(), 1u);
  EXPECT_EQ(back->Ranges(), even.Ranges());
  EXPECT_FALSE(DecodeRoutingTable(bytes.substr(0, bytes.size() - 1)).ok());
  EXPECT_FALSE(DecodeRoutingTable("short").ok());
  // A gap is not a table.
  std::string gap = bytes;
  gap[14] = 0;  // first range ends at slot 0x00ff
  EXPECT_FALSE(DecodeRoutingTable(gap).ok());
}

TEST(RoutingRowsTest, AssignSplitsRangesAndBumpsTheVersion) {
  const RoutingTable even = RoutingTable::EvenSpread({1, 2}, 4);
  absl::StatusOr<RoutingTable> t = AssignSlots(even, 100, 199, 2);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->version(), 5u);
  EXPECT_EQ(t->Ranges(),
            (std::vector<SlotRange>{{0, 99, 1}, {100, 199, 2}, {200, 8191, 1}, {8192, 16383, 2}}));
  t = AssignSlots(*t, 8000, 9000, 3);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->Ranges(),
            (std::vector<SlotRange>{
                {0, 99, 1}, {100, 199, 2}, {200, 7999, 1}, {8000, 9000, 3}, {9001, 16383, 2}}));
  EXPECT_FALSE(AssignSlots(even, 10, 5, 1).ok());
  EXPECT_FALSE(AssignSlots(even, 0, 16384, 1).ok());
  EXPECT_FALSE(AssignSlots(even, 0, 1, 0).ok());
}

class RoutingCommandsTest : public DataTest {};

TEST_F(RoutingCommandsTest, InitStoresOnceAndAssignChecksTheVersion) {
  EXPECT_EQ(Run({"tessera.routing.get"}), kNil);
  const std::string v1 = EncodeRoutingTable(RoutingTable::EvenSpread({1, 2}, 1));
  EXPECT_EQ(Run({"tessera.routing.init", v1}), Int(1));
  // A second bootstrap proposal (another leader's) changes nothing.
  EXPECT_EQ(Run({"tessera.routing.init", EncodeRoutingTable(RoutingTable::EvenSpread({1}, 9))}),
            Int(1));
  EXPECT_EQ(Run({"tessera.routing.get"}), data_testing::Bulk(v1));
  EXPECT_EQ(Run({"tessera.routing.assign", "2", "0", "10", "2"}),
            Err("ERR the routing table is at version 1, not 2"));
  EXPECT_EQ(Run({"tessera.routing.assign", "1", "0", "10", "2"}), Int(2));
  EXPECT_EQ(Run({"tessera.routing.assign", "1", "0", "10", "2"}),
            Err("ERR the routing table is at version 2, not 1"));
  EXPECT_EQ(Run({"tessera.routing.assign", "2", "5", "99999", "2"}),
            Err("ERR bad slot range 5-99999 (0 <= first <= last < 16384)"));
  EXPECT_EQ(Run({"tessera.routing.assign", "2", "x"}),
            Err("ERR usage: tessera.routing.assign <expected_version> <first> <last> <group>"));
  EXPECT_EQ(Run({"tessera.routing.init", "garbage"}), Int(2));
  // The row is not a key: FLUSHDB keeps it and KEYS does not list it.
  EXPECT_EQ(Run({"set", "k", "v"}), kOk);
  EXPECT_EQ(Run({"keys", "*"}), Bulks({"k"}));
  EXPECT_EQ(Run({"flushdb"}), kOk);
  EXPECT_EQ(Run({"dbsize"}), Int(0));
  const std::string got = Run({"tessera.routing.get"});  // $<n>\r\n<table>\r\n
  const size_t body = got.find("\r\n") + 2;
  absl::StatusOr<RoutingTable> stored =
      DecodeRoutingTable(std::string_view(got).substr(body, got.size() - body - 2));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->version(), 2u);
  EXPECT_EQ(stored->GroupForSlot(10), 2u);
  EXPECT_EQ(stored->GroupForSlot(11), 1u);
}

TEST_F(RoutingCommandsTest, AssignBeforeInitIsRefused) {
  EXPECT_EQ(Run({"tessera.routing.assign", "1", "0", "10", "2"}),
            Err("ERR no routing table is stored in this group yet"));
  EXPECT_EQ(Run({"tessera.routing.init", "x"}).substr(0, 26), "-ERR bad routing table: ro");
}

TEST_F(RoutingCommandsTest, SlotKeysCountsLiveKeysInTheRange) {
  const int foo = routing::SlotForKey("foo");  // 12182
  EXPECT_EQ(Run({"set", "foo", "1"}), kOk);
  EXPECT_EQ(Run({"set", "x{foo}", "1"}), kOk);
  EXPECT_EQ(Run({"set", "bar", "1"}), kOk);  // 5061
  EXPECT_EQ(Run({"tessera.slotkeys", std::to_string(foo), std::to_string(foo)}), Int(2));
  EXPECT_EQ(Run({"tessera.slotkeys", "0", "16383"}), Int(3));
  EXPECT_EQ(Run({"tessera.slotkeys", "0", "5000"}), Int(0));
  EXPECT_EQ(Run({"pexpire", "bar", "1"}), Int(1));
  now_ms_ += 10;
  EXPECT_EQ(Run({"tessera.slotkeys", "0", "16383"}), Int(2));
  EXPECT_EQ(Run({"tessera.slotkeys", "5", "4"}),
            Err("ERR usage: tessera.slotkeys <first> <last> (0 <= first <= last < 16384)"));
}

TEST_F(RoutingCommandsTest, ReleaseFencesOnlyEmptySlotsAndAcquireLiftsTheFence) {
  const std::string foo = std::to_string(routing::SlotForKey("foo"));  // 12182
  const int bar = routing::SlotForKey("bar");                          // 5061
  EXPECT_EQ(Run({"set", "foo", "1"}), kOk);
  // A slot holding a key is not released, and nothing is fenced.
  EXPECT_EQ(Run({"tessera.slots.release", foo, foo}), Int(1));
  absl::StatusOr<SlotFence> fence = LoadSlotFence(Context(nullptr));
  ASSERT_TRUE(fence.ok()) << fence.status();
  EXPECT_TRUE(fence->none());
  EXPECT_EQ(Run({"del", "foo"}), Int(1));
  EXPECT_EQ(Run({"tessera.slots.release", foo, foo}), Int(0));
  EXPECT_EQ(Run({"tessera.slots.release", "5000", "5100"}), Int(0));
  fence = LoadSlotFence(Context(nullptr));
  ASSERT_TRUE(fence.ok());
  EXPECT_EQ(fence->count(), 102u);
  // Commands naming a key of a fenced slot, also inside a transaction; keyless ones do not.
  using V = std::vector<std::string_view>;
  EXPECT_EQ(FencedSlotOf(*fence, V{"SET", "foo", "2"}), std::stoi(foo));
  EXPECT_EQ(FencedSlotOf(*fence, V{"mget", "a{x}", "bar"}), bar);
  EXPECT_EQ(FencedSlotOf(*fence, V{"GET", "a"}), -1);  // slot 15495
  EXPECT_EQ(FencedSlotOf(*fence, V{"DBSIZE"}), -1);
  EXPECT_EQ(FencedSlotOf(*fence, V{"tessera.slotkeys", "0", "1"}), -1);
  const std::string blob = EncodeCommand(V{"SET", "x{foo}", "1"});
  EXPECT_EQ(FencedSlotOf(*fence, V{kExecCommand, blob}), std::stoi(foo));
  EXPECT_EQ(FencedSlotError(7).substr(0, 16), "TRYAGAIN slot 7 ");
  // ACQUIRE lifts part of it, then all of it (the row goes away).
  EXPECT_EQ(Run({"tessera.slots.acquire", "5000", "5100"}), kOk);
  fence = LoadSlotFence(Context(nullptr));
  ASSERT_TRUE(fence.ok());
  EXPECT_EQ(fence->count(), 1u);
  EXPECT_EQ(Run({"tessera.slots.acquire", foo, foo}), kOk);
  fence = LoadSlotFence(Context(nullptr));
  ASSERT_TRUE(fence.ok());
  EXPECT_TRUE(fence->none());
  EXPECT_EQ(Run({"tessera.slots.release", "9", "2"}),
            Err("ERR usage: tessera.slots.release <first> <last> (0 <= first <= last < 16384)"));
}

}  // namespace
}  // namespace tessera::shard::data
