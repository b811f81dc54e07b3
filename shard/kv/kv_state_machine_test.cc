// KvStateMachine: SET/DEL apply, applied index in the same batch, replay after reopen skipped,
// malformed commands apply as no-ops, and the entry format's golden bytes.
#include "shard/kv/kv_state_machine.h"

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

raft::Entry Normal(uint64_t index, std::string data) {
  return raft::Entry{2, index, raft::EntryType::kNormal, std::move(data)};
}

TEST(KvStateMachineTest, EntryPayloadGoldenBytes) {
  const std::string payload = EncodeEntryPayload(ProposalId{0x0102, 7}, EncodeSetCommand("k", "v"));
  EXPECT_EQ(absl::BytesToHexString(payload),
            "0000000000000102"
            "0000000000000007"
            "01"
            "00000001"
            "6b"
            "76");
  EXPECT_EQ(absl::BytesToHexString(EncodeDelCommand({"a", "bc"})),
            "02000000020000000161000000026263");
}

TEST(KvStateMachineTest, AppliesSetDelAndPersistsAppliedIndexIdempotently) {
  storage_testing::TempDir dir;
  auto engine = StorageEngine::Open(dir.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  {
    auto sm = KvStateMachine::Open(engine->get(), {5});
    ASSERT_TRUE(sm.ok());
    rocksdb::WriteBatch batch;
    auto a1 = (*sm)->StageApply(batch, 5, Normal(1, ""));  // leader noop
    ASSERT_TRUE(a1.has_value());
    EXPECT_FALSE(a1->proposal.has_value());
    auto a2 = (*sm)->StageApply(
        batch, 5, Normal(2, EncodeEntryPayload(ProposalId{9, 1}, EncodeSetCommand("a", "1"))));
    ASSERT_TRUE(a2.has_value());
    EXPECT_EQ(a2->proposal, (ProposalId{9, 1}));
    EXPECT_TRUE(a2->result.ok());
    (*sm)->StageApply(batch, 5,
                      Normal(3, EncodeEntryPayload(ProposalId{9, 2}, EncodeSetCommand("b", "2"))));
    (*sm)->StageApply(batch, 5,
                      Normal(4, EncodeEntryPayload(ProposalId{9, 3}, EncodeDelCommand({"a"}))));
    auto bad = (*sm)->StageApply(batch, 5, Normal(5, EncodeEntryPayload(ProposalId{9, 4}, "\x07")));
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->result.code(), absl::StatusCode::kInvalidArgument);
    ASSERT_TRUE((*engine)->Write(batch, true).ok());
    EXPECT_EQ((*sm)->applied_index(5), 5u);
    EXPECT_EQ(*(*sm)->Get(5, "a"), std::nullopt);
    EXPECT_EQ(*(*sm)->Get(5, "b"), "2");
    EXPECT_EQ(*(*sm)->Get(6, "b"), std::nullopt);  // another group's keyspace
  }
  auto applied = (*engine)->LastAppliedIndex(5);
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, (AppliedIndex{5, true}));
  // Reopen: replayed entries at or below the durable index have no effect.
  auto sm = KvStateMachine::Open(engine->get(), {5});
  ASSERT_TRUE(sm.ok());
  EXPECT_EQ((*sm)->applied_index(5), 5u);
  rocksdb::WriteBatch batch;
  EXPECT_FALSE((*sm)
                   ->StageApply(batch, 5,
                                Normal(2, EncodeEntryPayload(ProposalId{9, 1},
                                                             EncodeSetCommand("b", "old"))))
                   .has_value());
  EXPECT_EQ(batch.Count(), 0u);
  auto next = (*sm)->StageApply(batch, 5, raft::Entry{2, 6, raft::EntryType::kConfChange, "x"});
  ASSERT_TRUE(next.has_value());
  ASSERT_TRUE((*engine)->Write(batch, true).ok());
  EXPECT_EQ(*(*engine)->LastAppliedIndex(5), (AppliedIndex{6, true}));
  EXPECT_EQ(*(*sm)->Get(5, "b"), "2");
}

}  // namespace
}  // namespace tessera::shard
