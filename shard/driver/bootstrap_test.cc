// Bootstrap batch contents, never re-bootstrapping, corrupt-state detection, and the
// conf_state record / conf-change context codecs.
#include "shard/driver/bootstrap.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "shard/config/config_errc.h"
#include "shard/membership/node_id.h"
#include "shard/membership/peers_record.h"
#include "shard/storage/keys.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

std::vector<Server> ThreeVoters() {
  std::vector<Server> list;
  for (int i = 3; i >= 1; --i) {  // unsorted on purpose
    const std::string id = "n" + std::to_string(i);
    list.push_back(Server{DeriveNodeId(id), id, "10.0.0." + std::to_string(i) + ":5051", true});
  }
  return list;
}

std::optional<std::string> MetaGet(StorageEngine* e, GroupId gid, std::string_view name) {
  std::string v;
  if (!e->db()->Get(rocksdb::ReadOptions(), e->meta(), MetaKey(gid, name), &v).ok()) {
    return std::nullopt;
  }
  return v;
}

TEST(BootstrapTest, ContextAndConfStateRoundTrip) {
  const Server s{DeriveNodeId("n1"), "n1", "10.0.0.1:5051", true};
  auto decoded = DecodeConfChangeContext(EncodeConfChangeContext(s));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, s);
  EXPECT_FALSE(DecodeConfChangeContext("short").ok());
  const ConfStateRecord r{42, raft::ConfState{{1, 2, 3}, {9}}};
  auto back = DecodeConfStateRecord(EncodeConfStateRecord(r));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, r);
  EXPECT_EQ(DecodeConfStateRecord("abc").status().code(), absl::StatusCode::kDataLoss);
}

TEST(BootstrapTest, WritesEverythingOnceAndNeverAgain) {
  storage_testing::TempDir dir;
  auto engine = StorageEngine::Open(dir.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  StorageEngine* e = engine->get();
  const std::vector<Server> list = ThreeVoters();
  {
    auto log = GroupLog::Load(e, 7);
    ASSERT_TRUE(log.ok());
    auto outcome = BootstrapGroupIfNeeded(e, log->get(), 7, &list);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_EQ(*outcome, BootstrapOutcome::kBootstrapped);
  }
  auto log = GroupLog::Load(e, 7);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->LastIndex(), 3u);
  EXPECT_EQ((*log)->hard_state(), (raft::HardState{1, raft::kNoNode, 3}));
  auto entries = (*log)->Entries(1, 4, raft::kNoLimit);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 3u);
  NodeId prev = 0;
  for (const raft::Entry& en : *entries) {
    EXPECT_EQ(en.term, 1u);
    EXPECT_EQ(en.type, raft::EntryType::kConfChange);
    raft::ConfChange cc;
    ASSERT_TRUE(raft::DecodeConfChange(en.data, &cc));
    EXPECT_EQ(cc.type, raft::ConfChangeType::kAddNode);
    EXPECT_GT(cc.node_id, prev);  // NodeId order
    prev = cc.node_id;
    EXPECT_EQ(DecodeConfChangeContext(cc.context)->node_id, cc.node_id);
  }
  auto cs = ReadConfStateRecord(e, 7);
  ASSERT_TRUE(cs.ok() && cs->has_value());
  EXPECT_EQ((*cs)->index, 3u);
  EXPECT_EQ((*cs)->conf_state.voters.size(), 3u);
  auto peers = DecodePeersRecord(*MetaGet(e, 7, meta::kPeers));
  ASSERT_TRUE(peers.ok());
  EXPECT_EQ(peers->index, 3u);
  EXPECT_TRUE(DecodeBootstrapRecord(*MetaGet(e, 7, meta::kBootstrap)).ok());
  EXPECT_EQ(MetaGet(e, 7, meta::kInitialized), std::string(1, '\x01'));
  EXPECT_EQ(MetaGet(e, 7, meta::kBootstrapEra), std::string(1, '\x01'));
  EXPECT_EQ(*e->LastAppliedIndex(7), (AppliedIndex{3, true}));

  // A second open with the same list (in any order) changes nothing.
  std::vector<Server> reversed(list.rbegin(), list.rend());
  auto again = BootstrapGroupIfNeeded(e, log->get(), 7, &reversed);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, BootstrapOutcome::kAlreadyInitialized);
  EXPECT_EQ((*ReadConfStateRecord(e, 7))->conf_state.voters.size(), 3u);
}

TEST(BootstrapEraTest, EditedListIsRejectedByTheBootstrapRecord) {
  storage_testing::TempDir dir;
  auto engine = StorageEngine::Open(dir.path(), {});
  ASSERT_TRUE(engine.ok());
  StorageEngine* e = engine->get();
  auto log = GroupLog::Load(e, 7);
  ASSERT_TRUE(log.ok());
  std::vector<Server> list = ThreeVoters();
  ASSERT_TRUE(BootstrapGroupIfNeeded(e, log->get(), 7, &list).ok());

  std::vector<Server> edited = list;
  edited.pop_back();
  auto rejected = BootstrapGroupIfNeeded(e, log->get(), 7, &edited);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(GetConfigErrc(rejected.status()), ConfigErrc::kClusterMismatch);
  std::string message(rejected.status().message());
  EXPECT_NE(message.find("group 7"), std::string::npos) << message;
  EXPECT_NE(message.find(ListHashHex(ListHash(list))), std::string::npos) << message;
  EXPECT_EQ((*ReadConfStateRecord(e, 7))->conf_state.voters.size(), 3u) << "nothing written";
}

TEST(BootstrapEraTest, OriginalListAfterMembershipChangeAccepted) {
  storage_testing::TempDir dir;
  auto engine = StorageEngine::Open(dir.path(), {});
  ASSERT_TRUE(engine.ok());
  StorageEngine* e = engine->get();
  auto log = GroupLog::Load(e, 7);
  ASSERT_TRUE(log.ok());
  std::vector<Server> list = ThreeVoters();
  ASSERT_TRUE(BootstrapGroupIfNeeded(e, log->get(), 7, &list).ok());
  // A committed membership change clears the era (what conf-change apply writes).
  rocksdb::WriteBatch batch;
  batch.Put(e->meta(), MetaKey(7, meta::kBootstrapEra), std::string(1, '\0'));
  ASSERT_TRUE(e->Write(batch, true).ok());
  std::vector<Server> edited = list;
  edited.pop_back();
  auto outcome = BootstrapGroupIfNeeded(e, log->get(), 7, &edited);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(*outcome, BootstrapOutcome::kAlreadyInitialized);
}

TEST(BootstrapTest, JoinerWithoutListAndCorruptState) {
  storage_testing::TempDir dir;
  auto engine = StorageEngine::Open(dir.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  StorageEngine* e = engine->get();
  auto log = GroupLog::Load(e, 8);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*BootstrapGroupIfNeeded(e, log->get(), 8, nullptr), BootstrapOutcome::kNoListJoiner);
  // Raft state without meta:initialized.
  rocksdb::WriteBatch batch;
  (*log)->StageHardState(batch, raft::HardState{3, 0, 0});
  ASSERT_TRUE(e->Write(batch, true).ok());
  const std::vector<Server> list = ThreeVoters();
  auto outcome = BootstrapGroupIfNeeded(e, log->get(), 8, &list);
  EXPECT_EQ(GetConfigErrc(outcome.status()), ConfigErrc::kCorruptGroupState) << outcome.status();
}

TEST(BootstrapTest, BootstrapIsDeterministic) {
  // Two nodes given the same list in different orders write byte-identical initial entries
  // and hard state, so their log prefixes match.
  std::vector<std::vector<std::string>> logs;
  std::vector<raft::HardState> states;
  for (bool reversed : {false, true}) {
    storage_testing::TempDir dir;
    auto engine = StorageEngine::Open(dir.path(), EngineOptions{});
    ASSERT_TRUE(engine.ok());
    std::vector<Server> list = ThreeVoters();
    if (reversed) std::reverse(list.begin(), list.end());
    auto log = GroupLog::Load(engine->get(), 7);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE(BootstrapGroupIfNeeded(engine->get(), log->get(), 7, &list).ok());
    auto entries = (*log)->Entries(1, (*log)->LastIndex() + 1, raft::kNoLimit);
    ASSERT_TRUE(entries.ok());
    std::vector<std::string> bytes;
    for (const raft::Entry& e : *entries) {
      bytes.push_back(
          absl::StrCat(e.term, "/", e.index, "/", static_cast<int>(e.type), "/", e.data));
    }
    logs.push_back(std::move(bytes));
    states.push_back((*log)->hard_state());
    EXPECT_TRUE((*engine)->Close().ok());
  }
  ASSERT_EQ(logs[0].size(), 3u);
  EXPECT_EQ(logs[0], logs[1]);
  EXPECT_EQ(states[0], states[1]);
}

}  // namespace
}  // namespace tessera::shard
