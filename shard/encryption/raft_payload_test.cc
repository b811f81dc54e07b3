// RaftEnvelopeTest: log payloads above the group's cutover are sealed at propose time and
// opened at apply (spec/encryption.md §9), through KvStateMachine and the applier.
#include "shard/encryption/raft_payload.h"

#include <gtest/gtest.h>

#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/envelope.h"
#include "shard/encryption/testing.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard::encryption {
namespace {

constexpr GroupId kGroup = 2;
constexpr uint32_t kRaftId = 22;

class RaftEnvelopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
    ASSERT_TRUE(engine.ok());
    engine_ = *std::move(engine);
    runtime_.kek = testing::TestKey(100);
    runtime_.sidecar_path = dir_.path() + "/encryption/keys.json";
    runtime_.keys->Install(kRaftId, DekPurpose::kRaft, testing::TestKey(7));
    runtime_.state->set_active_raft_id(kRaftId);
    applier_ = std::make_unique<EncryptionApplier>(engine_.get(), 1, runtime_, Sidecar{});
    auto kv = KvStateMachine::Open(engine_.get(), {kGroup});
    ASSERT_TRUE(kv.ok());
    kv_ = *std::move(kv);
    kv_->set_encryption_applier(applier_.get());
  }
  // Proposes as the leader would (wrapping decided from the applied cutover), then applies.
  absl::StatusOr<std::optional<AppliedEntry>> ProposeAndApply(uint64_t index, std::string command,
                                                              bool wrap = true) {
    std::string body = command;
    if (wrap) {
      absl::StatusOr<std::string> w = WrapProposalCommand(runtime_, kGroup, command);
      if (!w.ok()) return w.status();
      body = *w;
    }
    last_payload_ = EncodeEntryPayload(ProposalId{5, index}, 1'000'000, body);
    return Apply(index, last_payload_);
  }
  absl::StatusOr<std::optional<AppliedEntry>> Apply(uint64_t index, std::string payload) {
    raft::Entry e;
    e.index = index;
    e.term = 1;
    e.type = raft::EntryType::kNormal;
    e.data = std::move(payload);
    rocksdb::WriteBatchWithIndex batch;
    auto applied = kv_->StageApply(batch, kGroup, e, nullptr);
    if (applied.ok()) {
      EXPECT_TRUE(engine_->Write(*batch.GetWriteBatch(), true).ok());
    }
    return applied;
  }

  storage_testing::TempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
  EncryptionRuntime runtime_;
  std::unique_ptr<EncryptionApplier> applier_;
  std::unique_ptr<KvStateMachine> kv_;
  std::string last_payload_;
};

TEST_F(RaftEnvelopeTest, CutoverEntryNotWrapped) {
  ASSERT_TRUE(ProposeAndApply(1, EncodeSetCommand("a", "clear-1")).ok());
  EXPECT_NE(last_payload_.find("clear-1"), std::string::npos);
  // The cutover entry C = 2 is itself cleartext.
  ASSERT_TRUE(
      ProposeAndApply(2, EncodeEncryptionCommand(EnableRaftEnvelopeOp{kGroup, kRaftId})).ok());
  EXPECT_EQ(runtime_.state->raft_cutover(kGroup), 2u);
  EXPECT_TRUE(IsEncryptionCommand(last_payload_.substr(kEntryHeaderSize)));
  // C + 1 is wrapped: the value is absent from the log payload, the apply reads it.
  auto applied = ProposeAndApply(3, EncodeSetCommand("b", "SEALED-VALUE"));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(last_payload_.find("SEALED-VALUE"), std::string::npos);
  EXPECT_EQ(last_payload_[kEntryHeaderSize], '\x01');  // envelope version
  EXPECT_EQ(*kv_->Get(kGroup, "b"), "SEALED-VALUE");
  EXPECT_EQ(*kv_->Get(kGroup, "a"), "clear-1");
}

TEST_F(RaftEnvelopeTest, WrapsInnerPayloadOnly) {
  ASSERT_TRUE(
      ProposeAndApply(1, EncodeEncryptionCommand(EnableRaftEnvelopeOp{kGroup, kRaftId})).ok());
  auto applied = ProposeAndApply(2, EncodeSetCommand("k", "v"));
  ASSERT_TRUE(applied.ok());
  // The proposal id in the cleartext header still resolves the waiter.
  EXPECT_EQ((*applied)->proposal, (ProposalId{5, 2}));
  EXPECT_EQ(*DecodeEntryProposalId(last_payload_), (ProposalId{5, 2}));
  EXPECT_EQ(last_payload_.size(),
            kEntryHeaderSize + kEnvelopeOverhead + EncodeSetCommand("k", "v").size());
}

TEST_F(RaftEnvelopeTest, PlaintextAfterCutoverHalts) {
  ASSERT_TRUE(
      ProposeAndApply(1, EncodeEncryptionCommand(EnableRaftEnvelopeOp{kGroup, kRaftId})).ok());
  auto applied = ProposeAndApply(2, EncodeSetCommand("k", "cleartext"), /*wrap=*/false);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(GetEncryptionErrc(applied.status()), EncryptionErrc::kRaftUnwrapFailed);
  EXPECT_EQ(kv_->applied_index(kGroup), 1u);  // no SetApplied
}

TEST_F(RaftEnvelopeTest, AuthFailureHalts) {
  ASSERT_TRUE(
      ProposeAndApply(1, EncodeEncryptionCommand(EnableRaftEnvelopeOp{kGroup, kRaftId})).ok());
  std::string payload = EncodeEntryPayload(
      ProposalId{5, 2}, 1, *WrapProposalCommand(runtime_, kGroup, EncodeSetCommand("k", "v")));
  payload.back() ^= 0x01;
  auto applied = Apply(2, payload);
  EXPECT_EQ(GetEncryptionErrc(applied.status()), EncryptionErrc::kRaftUnwrapFailed);
}

TEST_F(RaftEnvelopeTest, UnknownKeyIsRetryableNotSkipped) {
  ASSERT_TRUE(
      ProposeAndApply(1, EncodeEncryptionCommand(EnableRaftEnvelopeOp{kGroup, kRaftId})).ok());
  auto other = testing::TestKey(8);
  std::string payload =
      EncodeEntryPayload(ProposalId{5, 2}, 1, SealRaft(*other, 999, EncodeSetCommand("k", "v")));
  auto applied = Apply(2, payload);
  EXPECT_EQ(GetEncryptionErrc(applied.status()), EncryptionErrc::kKeyUnavailable);
  EXPECT_TRUE(IsKeyWaitBeforeStaging(applied.status()));  // the driver waits, never aborts
  EXPECT_EQ(kv_->applied_index(kGroup), 1u);
  // Once the key arrives (a raft RotateDEK applied, or a resync), the same entry applies.
  runtime_.keys->Install(999, DekPurpose::kRaft, other);
  ASSERT_TRUE(Apply(2, payload).ok());
  EXPECT_EQ(*kv_->Get(kGroup, "k"), "v");
}

TEST_F(RaftEnvelopeTest, ProposeWithoutActiveKeyRefused) {
  runtime_.state->set_raft_cutover(kGroup, 5);
  runtime_.state->set_active_raft_id(12345);  // not loaded
  EXPECT_EQ(GetEncryptionErrc(WrapProposalCommand(runtime_, kGroup, "x").status()),
            EncryptionErrc::kKeyUnavailable);
}

TEST_F(RaftEnvelopeTest, CutoverReloadedAfterRestore) {
  // A restore assigns meta's cutover from the snapshot header; AdvanceApplied reloads it.
  rocksdb::WriteBatch b;
  b.Put(engine_->meta(), MetaKey(kGroup, meta::kRaftEnvelopeCutoverIndex), EncodeU64BE(150));
  ASSERT_TRUE(engine_->Write(b, true).ok());
  kv_->AdvanceApplied(kGroup, 200);
  EXPECT_EQ(runtime_.state->raft_cutover(kGroup), 150u);
}

}  // namespace
}  // namespace tessera::shard::encryption
