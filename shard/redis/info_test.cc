// Tests for INFO: Redis 7.0's section selection, the text format, the rate sampler, the
// keyspace walk, and the dispatch of INFO's arguments from RunLocalCommand.
#include "shard/redis/info.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "routing/command_table.h"
#include "shard/data/data_testing.h"
#include "shard/data/gc.h"
#include "shard/redis/local_commands.h"

namespace tessera::shard {
namespace {

InfoSections Select(std::vector<std::string> args) { return SelectInfoSections(args); }

InfoSections Only(std::initializer_list<InfoSection> sections) {
  InfoSections s;
  for (InfoSection section : sections) s.set(static_cast<size_t>(section));
  return s;
}

// The "# Title" lines of an INFO text, in order.
std::vector<std::string> Titles(const std::string& text) {
  std::vector<std::string> titles;
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(text, "\r\n"))) {
    if (line.starts_with("# ")) titles.push_back(line.substr(2));
  }
  return titles;
}

InfoFigures SampleFigures() {
  InfoFigures f;
  f.redis_version = "7.0.15";
  f.node_id = 42;
  f.tcp_port = 6379;
  f.clients.connected = 3;
  f.clients.blocked = 1;
  f.stats.connections_received = 9;
  f.stats.commands_processed = 120;
  f.stats.error_replies = 2;
  f.used_memory = 974128;
  f.used_memory_rss = 12300288;
  f.driver.log_syncs = 5;
  GroupFigures leader;
  leader.id = 1;
  leader.status = GroupStatus{};
  leader.status->role = raft::Role::kLeader;
  leader.status->leader = 42;
  leader.status->term = 3;
  leader.status->commit = 17;
  leader.status->applied = 16;
  leader.suffrage = "voter";
  leader.keyspace = KeyspaceFigures{10, 4, 2000, false};
  GroupFigures follower;
  follower.id = 2;
  follower.status = GroupStatus{};
  follower.status->role = raft::Role::kFollower;
  follower.status->leader = 7;
  follower.suffrage = "learner";
  follower.keyspace = KeyspaceFigures{5, 0, 0, false};
  f.groups = {leader, follower};
  return f;
}

TEST(InfoSelectionTest, NoArgumentMeansDefault) {
  EXPECT_EQ(Select({}), Select({"default"}));
  EXPECT_EQ(Select({}).count(), static_cast<size_t>(InfoSection::kCount));
}

TEST(InfoSelectionTest, AllAndEverythingCoverEverySection) {
  EXPECT_EQ(Select({"all"}), Select({"default"}));
  EXPECT_EQ(Select({"everything"}), Select({"default"}));
  EXPECT_EQ(Select({"default", "keyspace"}), Select({"default"}));
}

TEST(InfoSelectionTest, NamesAreCaseInsensitiveAndCombine) {
  EXPECT_EQ(Select({"keyspace"}), Only({InfoSection::kKeyspace}));
  EXPECT_EQ(Select({"SERVER"}), Only({InfoSection::kServer}));
  EXPECT_EQ(Select({"keyspace", "Server", "clients"}),
            Only({InfoSection::kServer, InfoSection::kClients, InfoSection::kKeyspace}));
  EXPECT_EQ(Select({"replication", "cpu", "memory", "persistence", "stats", "cluster"}),
            Only({InfoSection::kReplication, InfoSection::kCpu, InfoSection::kMemory,
                  InfoSection::kPersistence, InfoSection::kStats, InfoSection::kCluster}));
}

TEST(InfoSelectionTest, UnknownNamesSelectNothing) {
  EXPECT_TRUE(Select({"nosuch"}).none());
  EXPECT_EQ(Select({"nosuch", "cpu"}), Only({InfoSection::kCpu}));
  EXPECT_EQ(RenderInfo(Select({"nosuch"}), SampleFigures()), "");
}

TEST(InfoFormatTest, SectionsComeInRedisOrderWhateverTheArgumentOrder) {
  const std::string text = RenderInfo(Select({"keyspace", "server"}), SampleFigures());
  EXPECT_EQ(Titles(text), (std::vector<std::string>{"Server", "Keyspace"}));
  EXPECT_TRUE(text.starts_with("# Server\r\nredis_version:7.0.15\r\n")) << text;
  // One blank line between sections, each field line ends in CRLF, no trailing blank line.
  EXPECT_NE(text.find("\r\n\r\n# Keyspace\r\n"), std::string::npos) << text;
  EXPECT_TRUE(text.ends_with("role=follower\r\n")) << text;
  EXPECT_EQ(text.find("\r\n\r\n\r\n"), std::string::npos);
}

TEST(InfoFormatTest, DefaultListsEverySection) {
  const std::string text = RenderInfo(Select({}), SampleFigures());
  EXPECT_EQ(Titles(text),
            (std::vector<std::string>{"Server", "Clients", "Memory", "Persistence", "Stats",
                                      "Replication", "Replication group 1", "Replication group 2",
                                      "CPU", "Cluster", "Keyspace"}));
}

TEST(InfoFormatTest, KeyspaceSumsLedGroupsIntoDb0AndListsEveryGroup) {
  const std::string text = RenderInfo(Only({InfoSection::kKeyspace}), SampleFigures());
  EXPECT_EQ(text,
            "# Keyspace\r\n"
            "db0:keys=10,expires=4,avg_ttl=2000\r\n"
            "group1:keys=10,expires=4,avg_ttl=2000,role=leader\r\n"
            "group2:keys=5,expires=0,avg_ttl=0,role=follower\r\n");
}

TEST(InfoFormatTest, EmptyKeyspaceHasNoDb0Line) {
  InfoFigures f = SampleFigures();
  f.groups[0].keyspace = KeyspaceFigures{};
  f.groups[1].keyspace->partial = true;
  EXPECT_EQ(RenderInfo(Only({InfoSection::kKeyspace}), f),
            "# Keyspace\r\n"
            "group1:keys=0,expires=0,avg_ttl=0,role=leader\r\n"
            "group2:keys=5,expires=0,avg_ttl=0,partial=1,role=follower\r\n");
}

TEST(InfoFormatTest, ReplicationHasRaftFiguresPerGroup) {
  const std::string text = RenderInfo(Only({InfoSection::kReplication}), SampleFigures());
  EXPECT_TRUE(
      text.starts_with("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
                       "raft_groups:2\r\nraft_groups_led:1\r\n"))
      << text;
  EXPECT_NE(text.find("# Replication group 1\r\ngroup_id:1\r\nrole:leader\r\nleader_node_id:42\r\n"
                      "suffrage:voter\r\nterm:3\r\ncommit_index:17\r\napplied_index:16\r\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# Replication group 2\r\ngroup_id:2\r\nrole:follower\r\n"
                      "leader_node_id:7\r\nsuffrage:learner\r\n"),
            std::string::npos)
      << text;
}

TEST(InfoFormatTest, ReplicationRoleIsSlaveWhenNoGroupIsLed) {
  InfoFigures f = SampleFigures();
  f.groups[0].status->role = raft::Role::kFollower;
  f.groups[1].status.reset();
  const std::string text = RenderInfo(Only({InfoSection::kReplication}), f);
  EXPECT_TRUE(text.starts_with("# Replication\r\nrole:slave\r\n")) << text;
  EXPECT_NE(text.find("# Replication group 2\r\ngroup_id:2\r\nrole:unknown\r\n"), std::string::npos)
      << text;
  // db0 counts led groups only.
  EXPECT_EQ(RenderInfo(Only({InfoSection::kKeyspace}), f).find("db0:"), std::string::npos);
}

TEST(InfoFormatTest, ClientsStatsAndMemoryFields) {
  const std::string text = RenderInfo(
      Only({InfoSection::kClients, InfoSection::kStats, InfoSection::kMemory}), SampleFigures());
  for (const char* line :
       {"\r\nconnected_clients:3\r\n", "\r\nblocked_clients:1\r\n",
        "\r\ntotal_connections_received:9\r\n", "\r\ntotal_commands_processed:120\r\n",
        "\r\ninstantaneous_ops_per_sec:0\r\n", "\r\ntotal_error_replies:2\r\n",
        "\r\nrejected_connections:0\r\n", "\r\nused_memory:974128\r\n",
        "\r\nused_memory_human:951.30K\r\n", "\r\nused_memory_rss_human:11.73M\r\n",
        "\r\nused_memory_peak:974128\r\n", "\r\nmaxmemory_policy:noeviction\r\n",
        "\r\nrocksdb_memtables_bytes:0\r\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " in " << text;
  }
}

TEST(InfoFormatTest, BytesToHumanMatchesRedis) {
  EXPECT_EQ(BytesToHuman(0), "0B");
  EXPECT_EQ(BytesToHuman(1023), "1023B");
  EXPECT_EQ(BytesToHuman(1024), "1.00K");
  EXPECT_EQ(BytesToHuman(974128), "951.30K");
  EXPECT_EQ(BytesToHuman(12300288), "11.73M");
  EXPECT_EQ(BytesToHuman(25276510208), "23.54G");
}

TEST(RateSamplerTest, AveragesSixteenSamplesOfAtLeastAHundredMs) {
  RateSampler r;
  EXPECT_EQ(r.PerSecond(), 0);
  r.Sample(1000, 0);
  r.Sample(1050, 50);  // too soon: no sample
  EXPECT_EQ(r.PerSecond(), 0);
  // 100 per 100 ms = 1000/s, for 16 periods.
  for (int i = 1; i <= 16; ++i) r.Sample(1000 + 100 * i, 100 * i);
  EXPECT_DOUBLE_EQ(r.PerSecond(), 1000);
  // A long idle gap fills the whole ring with its (zero) rate.
  r.Sample(10'000, 1600);
  EXPECT_DOUBLE_EQ(r.PerSecond(), 0);
}

TEST(ListenerStatsTest, RecordCommandCountsAndSamples) {
  ListenerStats s;
  for (uint64_t t = 0; t <= 1600; t += 10) s.RecordCommand(t);  // 161 commands, 100/s
  EXPECT_EQ(s.commands_processed, 161u);
  EXPECT_NEAR(s.ops.PerSecond(), 100, 1);
}

class KeyspaceCountTest : public data::data_testing::DataTest {};

TEST_F(KeyspaceCountTest, CountsLiveKeysAndTtls) {
  Run({"SET", "a", "1"});
  Run({"SET", "b", "1", "PX", "1000"});
  Run({"SET", "c", "1", "PX", "3000"});
  Run({"HSET", "h", "f", "v"});
  Run({"SET", "gone", "1", "PX", "10"});
  absl::StatusOr<KeyspaceFigures> k = CountKeyspace(engine_.get(), gid_, now_ms_ + 10, 1000);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->keys, 4u);
  EXPECT_EQ(k->expires, 2u);
  EXPECT_EQ(k->avg_ttl_ms, (990u + 2990u) / 2);
  EXPECT_FALSE(k->partial);
  // Another group's rows are not counted.
  absl::StatusOr<KeyspaceFigures> other = CountKeyspace(engine_.get(), gid_ + 1, now_ms_, 1000);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->keys, 0u);
}

TEST_F(KeyspaceCountTest, StopsAtTheRowBudget) {
  for (int i = 0; i < 10; ++i) Run({"SET", "k" + std::to_string(i), "v"});
  absl::StatusOr<KeyspaceFigures> k = CountKeyspace(engine_.get(), gid_, now_ms_, 4);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->keys, 4u);
  EXPECT_TRUE(k->partial);
  k = CountKeyspace(engine_.get(), gid_, now_ms_, 10);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->keys, 10u);
  EXPECT_FALSE(k->partial);
}

TEST_F(KeyspaceCountTest, CountsQueuedGarbageWithinItsLimits) {
  EXPECT_EQ(CountGarbage(*engine_, gid_, 100, 100), 0u);
  for (int i = 0; i < 5; ++i) {
    ++seed_;  // one entry each: distinct collection versions
    Run({"SADD", "s" + std::to_string(i), "m"});
  }
  Run({"DEL", "s0", "s1", "s2", "s3", "s4"});
  EXPECT_EQ(CountGarbage(*engine_, gid_, 100, 100), 5u);
  EXPECT_EQ(CountGarbage(*engine_, gid_, 3, 100), 3u);
  EXPECT_EQ(CountGarbage(*engine_, gid_ + 1, 100, 100), 0u);
  Run({"TESSERA.GC", "3"});  // collects two versions, leaving their rows' tombstones
  EXPECT_EQ(CountGarbage(*engine_, gid_, 100, 100), 3u);
  EXPECT_EQ(CountGarbage(*engine_, gid_, 100, 1), 0u);  // stopped at the tombstones
}

TEST(LocalInfoTest, InfoPassesItsSectionArgumentsAndRepliesVerbatim) {
  std::vector<std::string> seen;
  SessionInfo info;
  info.info_text = [&seen](std::span<const std::string> sections) {
    seen.assign(sections.begin(), sections.end());
    return std::string("# Keyspace\r\n");
  };
  const std::vector<std::string> argv = {"INFO", "keyspace", "server"};
  absl::StatusOr<const routing::CommandSpec*> spec = routing::ResolveCommand(argv);
  ASSERT_TRUE(spec.ok());
  Session session;
  std::string reply;
  data::RespReply out(2, &reply);
  EXPECT_EQ(RunLocalCommand(**spec, argv, info, &session, out), LocalOutcome::kReply);
  EXPECT_EQ(seen, (std::vector<std::string>{"keyspace", "server"}));
  EXPECT_EQ(reply, "$12\r\n# Keyspace\r\n\r\n");
  // RESP3: a verbatim string, as Redis 7 answers INFO.
  std::string reply3;
  data::RespReply out3(3, &reply3);
  RunLocalCommand(**spec, {"INFO"}, info, &session, out3);
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(reply3, "=16\r\ntxt:# Keyspace\r\n\r\n");
}

}  // namespace
}  // namespace tessera::shard
