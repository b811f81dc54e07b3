// PlanCommand routing and splitting over a two-group table, and MergeReplies for every split
// and fan-out policy.
#include "gateway/command_plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "routing/slot.h"

namespace tessera::gateway {
namespace {

using routing::RoutingTable;

const std::vector<GroupId> kGroups = {1, 2};

// The first key "<prefix><i>" whose slot lands in `group` under the even spread.
std::string KeyIn(GroupId group, const std::string& prefix) {
  const RoutingTable t = RoutingTable::EvenSpread(kGroups);
  for (int i = 0;; ++i) {
    std::string k = prefix + std::to_string(i);
    if (t.GroupForSlot(routing::SlotForKey(k)) == group) return k;
  }
}

CommandPlan Plan(const std::vector<std::string>& argv, std::string_view raw = {}) {
  absl::StatusOr<const routing::CommandSpec*> spec = routing::ResolveCommand(argv);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return PlanCommand(**spec, argv, raw, RoutingTable::EvenSpread(kGroups), kGroups);
}

PartReply Parsed(const std::string& bytes) {
  PartReply r;
  EXPECT_TRUE(ParsePartReply(bytes, &r)) << bytes;
  return r;
}

TEST(CommandPlanTest, SingleKeyGoesToItsGroupAsReceived) {
  const std::string k2 = KeyIn(2, "k");
  const std::string raw = EncodeCommand(std::vector<std::string>{"GET", k2});
  CommandPlan p = Plan({"GET", k2}, raw);
  ASSERT_EQ(p.route, Route::kGroup);
  ASSERT_EQ(p.parts.size(), 1u);
  EXPECT_EQ(p.parts[0].group, 2u);
  EXPECT_EQ(p.parts[0].slot, routing::SlotForKey(k2));
  EXPECT_EQ(p.parts[0].command, raw);
  // Inline input (no raw bytes) is re-encoded as multibulk.
  EXPECT_EQ(Plan({"GET", k2}).parts[0].command, raw);
  // Borrowed: the part points at the caller's bytes, no copy.
  const std::vector<std::string> get = {"GET", k2};
  absl::StatusOr<const routing::CommandSpec*> spec = routing::ResolveCommand(get);
  ASSERT_TRUE(spec.ok());
  CommandPlan borrowed =
      PlanCommand(**spec, get, raw, RoutingTable::EvenSpread(kGroups), kGroups, true);
  ASSERT_EQ(borrowed.parts.size(), 1u);
  EXPECT_TRUE(borrowed.parts[0].command.empty());
  EXPECT_EQ(borrowed.parts[0].borrowed.data(), raw.data());
  EXPECT_EQ(borrowed.parts[0].bytes(), raw);
}

TEST(CommandPlanTest, HashTagsKeepKeysTogether) {
  CommandPlan p = Plan({"RENAME", "{u1}a", "{u1}b"});
  EXPECT_EQ(p.route, Route::kGroup);
}

TEST(CommandPlanTest, SameGroupCommandsAcrossGroupsAreCrossSlot) {
  CommandPlan p = Plan({"RENAME", KeyIn(1, "a"), KeyIn(2, "b")});
  ASSERT_EQ(p.route, Route::kError);
  EXPECT_EQ(p.error, routing::kCrossSlotError);
  EXPECT_EQ(Plan({"MSETNX", KeyIn(1, "a"), "1", KeyIn(2, "b"), "2"}).route, Route::kError);
}

TEST(CommandPlanTest, MgetSplitsPerGroupInFirstKeyOrder) {
  const std::string a1 = KeyIn(1, "a"), b2 = KeyIn(2, "b"), c1 = KeyIn(1, "c");
  CommandPlan p = Plan({"MGET", b2, a1, c1});
  ASSERT_EQ(p.route, Route::kSplit);
  EXPECT_EQ(p.key_count, 3u);
  ASSERT_EQ(p.parts.size(), 2u);
  EXPECT_EQ(p.parts[0].group, 2u);
  EXPECT_EQ(p.parts[0].keys, std::vector<size_t>({0}));
  EXPECT_EQ(p.parts[0].command, EncodeCommand(std::vector<std::string>{"MGET", b2}));
  EXPECT_EQ(p.parts[1].group, 1u);
  EXPECT_EQ(p.parts[1].keys, std::vector<size_t>({1, 2}));
  EXPECT_EQ(p.parts[1].command, EncodeCommand(std::vector<std::string>{"MGET", a1, c1}));

  // Replies come back per part; the merge restores the client's key order.
  const std::string merged =
      MergeReplies(p, {Parsed("*1\r\n$2\r\nvb\r\n"), Parsed("*2\r\n$-1\r\n$2\r\nvc\r\n")});
  EXPECT_EQ(merged, "*3\r\n$2\r\nvb\r\n$-1\r\n$2\r\nvc\r\n");
}

TEST(CommandPlanTest, MsetCarriesEachValueWithItsKey) {
  const std::string a1 = KeyIn(1, "a"), b2 = KeyIn(2, "b");
  CommandPlan p = Plan({"MSET", a1, "va", b2, "vb"});
  ASSERT_EQ(p.route, Route::kSplit);
  ASSERT_EQ(p.parts.size(), 2u);
  EXPECT_EQ(p.parts[0].command, EncodeCommand(std::vector<std::string>{"MSET", a1, "va"}));
  EXPECT_EQ(p.parts[1].command, EncodeCommand(std::vector<std::string>{"MSET", b2, "vb"}));
  EXPECT_EQ(MergeReplies(p, {Parsed("+OK\r\n"), Parsed("+OK\r\n")}), "+OK\r\n");
  // The first error in part order wins.
  EXPECT_EQ(MergeReplies(p, {Parsed("+OK\r\n"), Parsed("-ERR boom\r\n")}), "-ERR boom\r\n");
}

TEST(CommandPlanTest, DelExistsTouchUnlinkSumPerGroupCounts) {
  for (const char* cmd : {"DEL", "EXISTS", "TOUCH", "UNLINK"}) {
    CommandPlan p = Plan({cmd, KeyIn(1, "a"), KeyIn(2, "b"), KeyIn(2, "c")});
    ASSERT_EQ(p.route, Route::kSplit) << cmd;
    EXPECT_EQ(MergeReplies(p, {Parsed(":1\r\n"), Parsed(":2\r\n")}), ":3\r\n") << cmd;
  }
}

TEST(CommandPlanTest, KeylessDataCommandsFanOutToEveryGroup) {
  CommandPlan keys = Plan({"KEYS", "*"});
  ASSERT_EQ(keys.route, Route::kAllGroups);
  ASSERT_EQ(keys.parts.size(), 2u);
  // Each part names its group: a shard hosting both answers for that one group only.
  EXPECT_EQ(keys.parts[0].command,
            EncodeCommand(std::vector<std::string>{"TESSERA.INGROUP", "1", "KEYS", "*"}));
  EXPECT_EQ(keys.parts[1].command,
            EncodeCommand(std::vector<std::string>{"TESSERA.INGROUP", "2", "KEYS", "*"}));
  EXPECT_EQ(
      MergeReplies(keys, {Parsed("*1\r\n$1\r\na\r\n"), Parsed("*2\r\n$1\r\nb\r\n$1\r\nc\r\n")}),
      "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
  CommandPlan dbsize = Plan({"DBSIZE"});
  EXPECT_EQ(MergeReplies(dbsize, {Parsed(":4\r\n"), Parsed(":5\r\n")}), ":9\r\n");
  CommandPlan flush = Plan({"FLUSHALL"});
  EXPECT_EQ(MergeReplies(flush, {Parsed("+OK\r\n"), Parsed("+OK\r\n")}), "+OK\r\n");
  CommandPlan random = Plan({"RANDOMKEY"});
  EXPECT_EQ(MergeReplies(random, {Parsed("$-1\r\n"), Parsed("$1\r\nz\r\n")}, 0), "$1\r\nz\r\n");
  EXPECT_EQ(MergeReplies(random, {Parsed("$-1\r\n"), Parsed("$-1\r\n")}, 1), "$-1\r\n");
}

TEST(CommandPlanTest, ScanCursorWalksTheGroupsInTurn) {
  CommandPlan first = Plan({"SCAN", "0", "COUNT", "10"});
  ASSERT_EQ(first.route, Route::kAllGroups);
  ASSERT_EQ(first.parts.size(), 1u);
  EXPECT_EQ(first.parts[0].group, 1u);
  EXPECT_EQ(first.parts[0].command, EncodeCommand(std::vector<std::string>{
                                        "TESSERA.INGROUP", "1", "SCAN", "0", "COUNT", "10"}));
  // Group 1 has more: the gateway cursor keeps its index (0) and the shard cursor.
  EXPECT_EQ(MergeReplies(first, {Parsed("*2\r\n$2\r\n17\r\n*1\r\n$1\r\na\r\n")}),
            "*2\r\n$2\r\n17\r\n*1\r\n$1\r\na\r\n");
  // Group 1 is done: the next cursor starts group 2.
  const std::string next = std::to_string(GatewayScanCursor(1, 0));
  EXPECT_EQ(MergeReplies(first, {Parsed("*2\r\n$1\r\n0\r\n*0\r\n")}),
            "*2\r\n$" + std::to_string(next.size()) + "\r\n" + next + "\r\n*0\r\n");
  CommandPlan second = Plan({"SCAN", next});
  ASSERT_EQ(second.parts.size(), 1u);
  EXPECT_EQ(second.parts[0].group, 2u);
  EXPECT_EQ(second.parts[0].command,
            EncodeCommand(std::vector<std::string>{"TESSERA.INGROUP", "2", "SCAN", "0"}));
  // The last group's 0 ends the scan.
  EXPECT_EQ(MergeReplies(second, {Parsed("*2\r\n$1\r\n0\r\n*0\r\n")}), "*2\r\n$1\r\n0\r\n*0\r\n");
  EXPECT_EQ(Plan({"SCAN", std::to_string(GatewayScanCursor(2, 0))}).route, Route::kError);
  EXPECT_EQ(Plan({"SCAN", "x"}).error, "ERR invalid cursor");
}

TEST(CommandPlanTest, LocalAndTransactionCommandsAreLeftToTheSession) {
  EXPECT_EQ(Plan({"PING"}).route, Route::kLocal);
  EXPECT_EQ(Plan({"MULTI"}).route, Route::kTransaction);
  EXPECT_EQ(Plan({"WATCH", "a"}).route, Route::kTransaction);
}

TEST(CommandPlanTest, UnassignedSlotIsClusterDown) {
  absl::StatusOr<const routing::CommandSpec*> spec =
      routing::ResolveCommand(std::vector<std::string>{"GET", "k"});
  ASSERT_TRUE(spec.ok());
  CommandPlan p =
      PlanCommand(**spec, std::vector<std::string>{"GET", "k"}, {}, RoutingTable(), kGroups);
  ASSERT_EQ(p.route, Route::kError);
  EXPECT_TRUE(p.error.starts_with("CLUSTERDOWN")) << p.error;
}

}  // namespace
}  // namespace tessera::gateway
