// RoutingTable::EvenSpread: every slot assigned, contiguous ranges in group order, sizes
// differing by at most one.
#include "routing/routing_table.h"

#include <map>
#include <vector>

#include "gtest/gtest.h"

namespace tessera::routing {
namespace {

// Checks the spread and returns group -> slot count.
std::map<GroupId, int> CheckSpread(const RoutingTable& t, const std::vector<GroupId>& groups) {
  std::map<GroupId, int> counts;
  size_t current = 0;
  for (int slot = 0; slot < kSlotCount; ++slot) {
    const GroupId g = t.GroupForSlot(slot);
    EXPECT_NE(g, 0u) << "slot " << slot;
    while (current < groups.size() && groups[current] != g) ++current;  // only moves forward
    EXPECT_LT(current, groups.size()) << "slot " << slot << " out of order";
    ++counts[g];
  }
  return counts;
}

TEST(RoutingTableTest, OneGroupOwnsEverySlot) {
  const RoutingTable t = RoutingTable::EvenSpread({7});
  EXPECT_EQ(t.version(), 1u);
  auto counts = CheckSpread(t, {7});
  EXPECT_EQ(counts[7], kSlotCount);
}

TEST(RoutingTableTest, TwoGroupsSplitInHalves) {
  const RoutingTable t = RoutingTable::EvenSpread({1, 2});
  auto counts = CheckSpread(t, {1, 2});
  EXPECT_EQ(counts[1], 8192);
  EXPECT_EQ(counts[2], 8192);
  EXPECT_EQ(t.GroupForSlot(0), 1u);
  EXPECT_EQ(t.GroupForSlot(8191), 1u);
  EXPECT_EQ(t.GroupForSlot(8192), 2u);
  EXPECT_EQ(t.GroupForSlot(kSlotCount - 1), 2u);
}

TEST(RoutingTableTest, ThreeGroupsAsEvenAsPossible) {
  const RoutingTable t = RoutingTable::EvenSpread({3, 10, 20}, 5);
  EXPECT_EQ(t.version(), 5u);
  auto counts = CheckSpread(t, {3, 10, 20});
  EXPECT_EQ(counts[3], 5462);  // 16384 = 5461 * 3 + 1
  EXPECT_EQ(counts[10], 5461);
  EXPECT_EQ(counts[20], 5461);
  EXPECT_EQ(t.GroupForSlot(5461), 3u);
  EXPECT_EQ(t.GroupForSlot(5462), 10u);
  EXPECT_EQ(t.GroupForSlot(10922), 10u);
  EXPECT_EQ(t.GroupForSlot(10923), 20u);
}

TEST(RoutingTableTest, OutOfRangeAndEmpty) {
  const RoutingTable t = RoutingTable::EvenSpread({1});
  EXPECT_EQ(t.GroupForSlot(-1), 0u);
  EXPECT_EQ(t.GroupForSlot(kSlotCount), 0u);
  const RoutingTable empty = RoutingTable::EvenSpread({});
  EXPECT_EQ(empty.GroupForSlot(0), 0u);
}

TEST(RoutingTableTest, RangesRoundTripThroughFromRanges) {
  const RoutingTable t = RoutingTable::EvenSpread({1, 2, 5}, 7);
  const std::vector<SlotRange> ranges = t.Ranges();
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[0], (SlotRange{0, 5461, 1}));
  EXPECT_EQ(ranges[1], (SlotRange{5462, 10922, 2}));
  EXPECT_EQ(ranges[2], (SlotRange{10923, 16383, 5}));
  absl::StatusOr<RoutingTable> back = RoutingTable::FromRanges(ranges, 7);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version(), 7u);
  for (int s = 0; s < kSlotCount; ++s) ASSERT_EQ(back->GroupForSlot(s), t.GroupForSlot(s)) << s;
}

TEST(RoutingTableTest, FromRangesRefusesGapsOverlapsAndHoles) {
  EXPECT_FALSE(RoutingTable::FromRanges({{0, 100, 1}, {102, 16383, 2}}, 1).ok());  // gap
  EXPECT_FALSE(RoutingTable::FromRanges({{0, 100, 1}, {100, 16383, 2}}, 1).ok());  // overlap
  EXPECT_FALSE(RoutingTable::FromRanges({{0, 100, 1}}, 1).ok());                   // not covered
  EXPECT_FALSE(RoutingTable::FromRanges({{0, 16383, 0}}, 1).ok());                 // no group
  EXPECT_FALSE(RoutingTable::FromRanges({{0, 16384, 1}}, 1).ok());                 // past the end
  EXPECT_FALSE(RoutingTable::FromRanges({}, 1).ok());
  EXPECT_TRUE(RoutingTable::FromRanges({{0, 16383, 3}}, 1).ok());
}

}  // namespace
}  // namespace tessera::routing
