// Validate-on-open of meta:peers against meta:conf_state, and the refusal to start over state of
// a group not in --raftGroups, on a real StorageEngine with records from the real encoders.
#include "shard/driver/validate_open.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "shard/config/config_errc.h"
#include "shard/driver/bootstrap.h"
#include "shard/membership/node_id.h"
#include "shard/membership/peers_record.h"
#include "shard/storage/group_log.h"
#include "shard/storage/keys.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

constexpr GroupId kGroup = 7;

Server Member(int i, bool voter = true) {
  const std::string id = "n" + std::to_string(i);
  return Server{DeriveNodeId(id), id, "10.0.0." + std::to_string(i) + ":5051", voter};
}

std::vector<Server> SortedById(std::vector<Server> servers) {
  std::sort(servers.begin(), servers.end(),
            [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  return servers;
}

std::vector<NodeId> Ids(const std::vector<Server>& servers) {
  std::vector<NodeId> ids;
  for (const Server& s : servers) ids.push_back(s.node_id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  StorageEngine* e() { return engine_.get(); }

  void Put(rocksdb::ColumnFamilyHandle* cf, std::string_view key, std::string_view value) {
    rocksdb::WriteBatch batch;
    batch.Put(cf, rocksdb::Slice(key.data(), key.size()),
              rocksdb::Slice(value.data(), value.size()));
    ASSERT_TRUE(e()->Write(batch, /*sync=*/true).ok());
  }

  void WritePeers(GroupId gid, uint64_t index, const std::vector<Server>& peers) {
    Put(e()->meta(), MetaKey(gid, meta::kPeers),
        EncodePeersRecord(PeersRecord{index, SortedById(peers)}));
  }

  void WriteConfState(GroupId gid, uint64_t index, std::vector<NodeId> voters,
                      std::vector<NodeId> learners = {}) {
    Put(e()->meta(), MetaKey(gid, meta::kConfState),
        EncodeConfStateRecord(ConfStateRecord{index, raft::ConfState{voters, learners}}));
  }

  // Real bootstrap state: log entries, hard state and every meta record.
  void Bootstrap(GroupId gid, const std::vector<Server>& voters) {
    auto log = GroupLog::Load(e(), gid);
    ASSERT_TRUE(log.ok()) << log.status();
    auto outcome = BootstrapGroupIfNeeded(e(), log->get(), gid, &voters);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    ASSERT_EQ(*outcome, BootstrapOutcome::kBootstrapped);
  }

  storage_testing::TempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
};

void ExpectRejected(const absl::Status& status, ConfigErrc errc,
                    const std::vector<std::string>& fragments) {
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(GetConfigErrc(status), errc) << status;
  const std::string message(status.message());
  EXPECT_TRUE(message.starts_with(std::string(ConfigErrcName(errc)))) << message;
  for (const std::string& fragment : fragments) {
    EXPECT_NE(message.find(fragment), std::string::npos)
        << "missing \"" << fragment << "\" in: " << message;
  }
}

using ValidateOnOpenTest = EngineFixture;

TEST_F(ValidateOnOpenTest, JoinerWithNoRecordsPasses) {
  EXPECT_TRUE(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address).ok());
}

TEST_F(ValidateOnOpenTest, BootstrappedGroupPasses) {
  Bootstrap(kGroup, {Member(3), Member(1), Member(2)});
  for (int i = 1; i <= 3; ++i) {
    absl::Status s = ValidateGroupOnOpen(e(), kGroup, Member(i).node_id, Member(i).address);
    EXPECT_TRUE(s.ok()) << s;
  }
}

TEST_F(ValidateOnOpenTest, OnlyPeersPresentIsCorrupt) {
  WritePeers(kGroup, 3, {Member(1), Member(2), Member(3)});
  ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
                 ConfigErrc::kCorruptGroupState,
                 {"group 7", "meta:peers is present but meta:conf_state is absent"});
}

TEST_F(ValidateOnOpenTest, OnlyConfStatePresentIsCorrupt) {
  WriteConfState(kGroup, 3, Ids({Member(1), Member(2), Member(3)}));
  ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
                 ConfigErrc::kCorruptGroupState,
                 {"group 7", "meta:conf_state is present but meta:peers is absent"});
}

TEST_F(ValidateOnOpenTest, CorruptPeersRecordIsTyped) {
  const std::vector<Server> members = {Member(1), Member(2)};
  std::string bytes = EncodePeersRecord(PeersRecord{3, SortedById(members)});
  bytes[bytes.size() / 2] ^= 0x5a;  // the CRC no longer matches
  Put(e()->meta(), MetaKey(kGroup, meta::kPeers), bytes);
  WriteConfState(kGroup, 3, Ids(members));
  ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
                 ConfigErrc::kPeersRecordCorrupt, {"group 7: meta:peers: "});
}

TEST_F(ValidateOnOpenTest, IndexMismatchIsClusterMismatch) {
  const std::vector<Server> members = {Member(1), Member(2), Member(3)};
  WritePeers(kGroup, 5, members);
  WriteConfState(kGroup, 6, Ids(members));
  ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
                 ConfigErrc::kClusterMismatch,
                 {"group 7", "meta:peers is at index 5", "meta:conf_state is at index 6"});
}

TEST_F(ValidateOnOpenTest, VoterSetDiffers) {
  // peers has a voter the ConfState does not: the highest NodeId, so the first difference is
  // the extra entry at the end.
  const std::vector<Server> members = SortedById({Member(1), Member(2), Member(3), Member(4)});
  WritePeers(kGroup, 9, members);
  std::vector<NodeId> voters = Ids(members);
  voters.pop_back();
  WriteConfState(kGroup, 9, voters);
  ExpectRejected(
      ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
      ConfigErrc::kClusterMismatch,
      {"group 7", "meta:peers voter " + members.back().raft_id, "is not a ConfState voter"});
}

TEST_F(ValidateOnOpenTest, VoterOrderMismatchRejected) {
  const std::vector<Server> members = {Member(1), Member(2), Member(3)};
  WritePeers(kGroup, 3, members);
  std::vector<NodeId> voters = Ids(members);
  std::reverse(voters.begin(), voters.end());
  WriteConfState(kGroup, 3, voters);
  ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
                 ConfigErrc::kClusterMismatch, {"group 7", "at position 0"});
}

TEST_F(ValidateOnOpenTest, JointMarkersRejected) {
  // What etcd's ConfState would add for a joint configuration: voters_outgoing (field 3),
  // learners_next (4), auto_leave (5). Each alone makes the group refuse to open.
  const std::vector<Server> members = {Member(1), Member(2), Member(3)};
  const std::string plain = EncodeConfStateRecord(ConfStateRecord{3, {Ids(members), {}}});
  ASSERT_FALSE(DecodeConfStateRecord(plain)->unknown_fields);
  const std::string n4 = [] {
    std::string varint;
    for (uint64_t v = Member(4).node_id;; v >>= 7) {
      if (v < 0x80) {
        varint.push_back(static_cast<char>(v));
        return varint;
      }
      varint.push_back(static_cast<char>((v & 0x7f) | 0x80));
    }
  }();
  for (const std::string& marker :
       {std::string("\x18") + n4, std::string("\x20") + n4, std::string("\x28\x01", 2)}) {
    WritePeers(kGroup, 3, members);
    Put(e()->meta(), MetaKey(kGroup, meta::kConfState), plain + marker);
    ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
                   ConfigErrc::kClusterMismatch, {"group 7", "joint-consensus"});
  }
  Put(e()->meta(), MetaKey(kGroup, meta::kConfState), plain);
  EXPECT_TRUE(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address).ok());
}

TEST_F(ValidateOnOpenTest, LearnerSetDiffers) {
  // peers says n4 is a learner; the ConfState has no learner.
  WritePeers(kGroup, 4, {Member(1), Member(2), Member(3), Member(4, /*voter=*/false)});
  WriteConfState(kGroup, 4, Ids({Member(1), Member(2), Member(3)}));
  ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
                 ConfigErrc::kClusterMismatch,
                 {"group 7", "meta:peers learner n4", "is not a ConfState learner"});
}

TEST_F(ValidateOnOpenTest, MixedVotersAndLearnersMatch) {
  const std::vector<Server> voters = {Member(1), Member(2), Member(3)};
  const std::vector<Server> learners = {Member(4, false), Member(5, false)};
  std::vector<Server> all = voters;
  all.insert(all.end(), learners.begin(), learners.end());
  WritePeers(kGroup, 12, all);
  std::vector<NodeId> learner_ids = Ids(learners);
  std::reverse(learner_ids.begin(), learner_ids.end());  // learners compare as sets
  WriteConfState(kGroup, 12, Ids(voters), learner_ids);
  absl::Status s = ValidateGroupOnOpen(e(), kGroup, Member(4).node_id, Member(4).address);
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(ValidateOnOpenTest, SameCountDifferentLearnerRejected) {
  WritePeers(kGroup, 5, {Member(1), Member(2), Member(3), Member(4, false)});
  WriteConfState(kGroup, 5, Ids({Member(1), Member(2), Member(3)}), {Member(5).node_id});
  ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
                 ConfigErrc::kClusterMismatch,
                 {"group 7", "ConfState learner ", "has no entry (and so no address)"});
}

TEST_F(ValidateOnOpenTest, LearnerMissingFromRecordRejected) {
  // The ConfState has learner n4; peers has no entry for it.
  WritePeers(kGroup, 5, {Member(1), Member(2), Member(3)});
  WriteConfState(kGroup, 5, Ids({Member(1), Member(2), Member(3)}), {Member(4).node_id});
  ExpectRejected(
      ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
      ConfigErrc::kClusterMismatch,
      {"group 7",
       "ConfState learner " + absl::StrCat(absl::Hex(Member(4).node_id, absl::kZeroPad16)),
       "has no entry (and so no address) in meta:peers"});
}

TEST_F(ValidateOnOpenTest, LearnerThatIsVoterInRecordRejected) {
  // The ConfState learner n4 is a voter in peers: the voter comparison reports it first.
  WritePeers(kGroup, 5, {Member(1), Member(2), Member(3), Member(4)});
  WriteConfState(kGroup, 5, Ids({Member(1), Member(2), Member(3)}), {Member(4).node_id});
  ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
                 ConfigErrc::kClusterMismatch,
                 {"group 7", "meta:peers voter n4", "is not a ConfState voter"});
}

TEST_F(ValidateOnOpenTest, MemberWithoutAddress) {
  // n3 is a ConfState voter with no entry, and so no address, in peers.
  WritePeers(kGroup, 3, {Member(1), Member(2)});
  WriteConfState(kGroup, 3, Ids({Member(1), Member(2), Member(3)}));
  ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, Member(1).address),
                 ConfigErrc::kClusterMismatch,
                 {"group 7", absl::StrCat(absl::Hex(Member(3).node_id, absl::kZeroPad16)),
                  "has no entry (and so no address) in meta:peers"});
}

TEST_F(ValidateOnOpenTest, LocalListenerMovedIsLocalAddrMismatch) {
  Bootstrap(kGroup, {Member(1), Member(2), Member(3)});
  ExpectRejected(ValidateGroupOnOpen(e(), kGroup, Member(1).node_id, "10.0.0.1:6000"),
                 ConfigErrc::kLocalAddrMismatch,
                 {"group 7", "local node n1", "10.0.0.1:5051", "10.0.0.1:6000", "RemoveServer",
                  "AddVoter or AddLearner"});
}

TEST_F(ValidateOnOpenTest, NonMemberLocalNodePasses) {
  Bootstrap(kGroup, {Member(1), Member(2), Member(3)});
  absl::Status s = ValidateGroupOnOpen(e(), kGroup, Member(9).node_id, "10.0.0.9:5051");
  EXPECT_TRUE(s.ok()) << s;
}

using UnlistedGroupStateTest = EngineFixture;

TEST_F(UnlistedGroupStateTest, EmptyDatabasePasses) {
  EXPECT_TRUE(CheckNoUnlistedGroupState(e(), {}).ok());
  EXPECT_TRUE(CheckNoUnlistedGroupState(e(), {1, 2}).ok());
}

TEST_F(UnlistedGroupStateTest, HostedGroupsOnlyPasses) {
  Bootstrap(1, {Member(1), Member(2), Member(3)});
  Bootstrap(2, {Member(1), Member(2), Member(3)});
  for (int i = 0; i < 100; ++i) Put(e()->data(), GroupKey(2, "key" + std::to_string(i)), "v");
  absl::Status s = CheckNoUnlistedGroupState(e(), {1, 2});
  EXPECT_TRUE(s.ok()) << s;
  // Hosting more groups than have state is the joiner case.
  s = CheckNoUnlistedGroupState(e(), {1, 2, 3});
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(UnlistedGroupStateTest, StateOfUnlistedGroupRefused) {
  Bootstrap(1, {Member(1), Member(2), Member(3)});
  Bootstrap(2, {Member(1), Member(2), Member(3)});
  Put(e()->meta(), MetaKey(9, meta::kAppliedIndex), EncodeU64BE(4));
  ExpectRejected(
      CheckNoUnlistedGroupState(e(), {1, 2}), ConfigErrc::kUnlistedGroupState,
      {"group 9", "column family meta", "not in --raftGroups", "hosted: 1,2", "refuses to start"});
}

TEST_F(UnlistedGroupStateTest, UnlistedGroupBetweenHostedGroupsFound) {
  Bootstrap(1, {Member(1), Member(2), Member(3)});
  Bootstrap(3, {Member(1), Member(2), Member(3)});
  Put(e()->data(), GroupKey(2, "orphan"), "v");  // only a data row
  ExpectRejected(CheckNoUnlistedGroupState(e(), {1, 3}), ConfigErrc::kUnlistedGroupState,
                 {"group 2", "column family data", "not in --raftGroups"});
}

TEST_F(UnlistedGroupStateTest, HighestGroupIdDoesNotWrap) {
  constexpr GroupId kMax = std::numeric_limits<GroupId>::max();
  Put(e()->raftlog(), GroupKey(kMax, "x"), "v");
  Put(e()->meta(), MetaKey(1, meta::kInitialized), "\x01");
  EXPECT_TRUE(CheckNoUnlistedGroupState(e(), {1, kMax}).ok());
  ExpectRejected(CheckNoUnlistedGroupState(e(), {1}), ConfigErrc::kUnlistedGroupState,
                 {"group 18446744073709551615", "column family raftlog"});
}

TEST_F(UnlistedGroupStateTest, ShortKeyIsCorrupt) {
  // Nothing writes keys shorter than the group prefix. This one sorts after every row of
  // group 255 and before group 256's, where a seek to GroupKeyEnd(255) would jump over it.
  Put(e()->meta(), MetaKey(255, meta::kInitialized), "\x01");
  Put(e()->meta(), MetaKey(256, meta::kInitialized), "\x01");
  Put(e()->meta(), std::string("\0\0\0\0\0\0\x01", 7), "v");
  ExpectRejected(CheckNoUnlistedGroupState(e(), {255, 256}), ConfigErrc::kCorruptGroupState,
                 {"column family meta", "7-byte key", "00000000000001"});
}

}  // namespace
}  // namespace tessera::shard
