// EncryptionApplyTest: the encryption state-machine ops at apply (spec/encryption.md §8, §16),
// and EncryptionE2ETest.BootstrapCutoverPutReadback through the production write wiring.
#include "shard/encryption/applier.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "shard/data/store.h"
#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/testing.h"
#include "shard/encryption/value_codec.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard::encryption {
namespace {

constexpr GroupId kDefault = 1;
constexpr GroupId kOther = 2;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One replica: an engine, this node's runtime (KEK, keystore, state cache) and the applier.
class Replica {
 public:
  explicit Replica(uint8_t kek_seed = 100) {
    auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
    EXPECT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    runtime_.kek = testing::TestKey(kek_seed);
    runtime_.sidecar_path = dir_.path() + "/encryption/keys.json";
    applier_ = std::make_unique<EncryptionApplier>(engine_.get(), kDefault, runtime_, Sidecar{});
  }

  absl::Status Apply(GroupId gid, uint64_t index, const EncryptionOp& op, bool write = true) {
    return ApplyRaw(gid, index, EncodeEncryptionOp(op), write);
  }
  absl::Status ApplyRaw(GroupId gid, uint64_t index, std::string_view op, bool write = true) {
    rocksdb::WriteBatchWithIndex batch;
    absl::Status s = applier_->Apply(batch, gid, index, op);
    if (s.ok() && write) {
      EXPECT_TRUE(engine_->Write(*batch.GetWriteBatch(), true).ok());
    }
    return s;
  }
  uint64_t Meta(GroupId gid, std::string_view name) {
    std::string v;
    if (!engine_->db()->Get(rocksdb::ReadOptions(), engine_->meta(), MetaKey(gid, name), &v).ok())
      return 0;
    return v.size() == 8 ? DecodeU64BE(v) : 0;
  }
  // A restart of the applier from the sidecar on disk.
  void Reload() {
    absl::StatusOr<std::optional<Sidecar>> sc = ReadSidecar(runtime_.sidecar_path);
    ASSERT_TRUE(sc.ok()) << sc.status();
    applier_ = std::make_unique<EncryptionApplier>(engine_.get(), kDefault, runtime_,
                                                   sc->value_or(Sidecar{}));
  }

  storage_testing::TempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
  EncryptionRuntime runtime_;
  std::unique_ptr<EncryptionApplier> applier_;
};

BootstrapOp Bootstrap(const SecretBytes& kek, uint32_t sid = 11, uint32_t rid = 22) {
  return BootstrapOp{sid, WrapDek(kek, DekPurpose::kStorage, sid, *testing::TestKey(1)), rid,
                     WrapDek(kek, DekPurpose::kRaft, rid, *testing::TestKey(2)), 1777629600000ull};
}

TEST(EncryptionApplyTest, BootstrapIdempotent) {
  Replica r;
  ASSERT_TRUE(r.Apply(kDefault, 5, Bootstrap(*r.runtime_.kek)).ok());
  Sidecar s = r.applier_->sidecar();
  EXPECT_EQ(s.active_storage, 11u);
  EXPECT_EQ(s.active_raft, 22u);
  EXPECT_EQ(s.bootstrap_index, 5u);
  EXPECT_EQ(s.keys.at(11).created, "2026-05-01T10:00:00Z");
  EXPECT_EQ(r.runtime_.state->active_storage_id(), 11u);
  EXPECT_FALSE(r.runtime_.state->storage_envelope_active());
  EXPECT_TRUE(r.runtime_.keys->Has(22));
  EXPECT_EQ(r.Meta(kDefault, meta::kEncLastOpIndex), 5u);
  // A second bootstrap (another leader's) is a benign no-op that still advances the anchor.
  ASSERT_TRUE(r.Apply(kDefault, 6, Bootstrap(*r.runtime_.kek, 33, 44)).ok());
  s = r.applier_->sidecar();
  EXPECT_EQ(s.active_storage, 11u);
  EXPECT_EQ(s.bootstrap_index, 5u);
  EXPECT_EQ(s.raft_applied_index, 6u);
  EXPECT_FALSE(s.keys.contains(33));
  EXPECT_EQ(*ReadSidecar(r.runtime_.sidecar_path)->value().keys.begin()->second.wrapped.data(),
            *s.keys.begin()->second.wrapped.data());
}

TEST(EncryptionApplyTest, WrongKekHaltsWithoutRecording) {
  Replica r;
  auto other = testing::TestKey(200);
  const absl::Status s = r.Apply(kDefault, 5, Bootstrap(*other));
  EXPECT_EQ(GetEncryptionErrc(s), EncryptionErrc::kKekMismatch);
  EXPECT_FALSE(std::filesystem::exists(r.runtime_.sidecar_path));
  EXPECT_FALSE(r.runtime_.keys->Has(11));
  EXPECT_EQ(r.Meta(kDefault, meta::kEncLastOpIndex), 0u);
}

TEST(EncryptionApplyTest, StorageCutoverSetOnce) {
  Replica r;
  ASSERT_TRUE(r.Apply(kDefault, 5, Bootstrap(*r.runtime_.kek)).ok());
  ASSERT_TRUE(r.Apply(kDefault, 7, EnableStorageEnvelopeOp{1, 11, ""}).ok());
  EXPECT_TRUE(r.runtime_.state->storage_envelope_active());
  ASSERT_TRUE(r.Apply(kDefault, 9, EnableStorageEnvelopeOp{1, 11, ""}).ok());
  const Sidecar s = r.applier_->sidecar();
  EXPECT_TRUE(s.storage_envelope_active);
  EXPECT_EQ(s.storage_envelope_cutover_index, 7u);
  EXPECT_EQ(s.raft_applied_index, 9u);
}

TEST(EncryptionApplyTest, StaleKeyIdIsBenignNoOp) {
  Replica r;
  ASSERT_TRUE(r.Apply(kDefault, 5, Bootstrap(*r.runtime_.kek)).ok());
  const SecretBytes& kek = *r.runtime_.kek;
  ASSERT_TRUE(r.Apply(kDefault, 6,
                      RotateDekOp{DekPurpose::kStorage, 99,
                                  WrapDek(kek, DekPurpose::kStorage, 99, *testing::TestKey(3)), 1})
                  .ok());
  EXPECT_EQ(r.runtime_.state->active_storage_id(), 99u);
  // The cutover proposed against the old active id 11 raced the rotation.
  ASSERT_TRUE(r.Apply(kDefault, 7, EnableStorageEnvelopeOp{1, 11, ""}).ok());
  const Sidecar s = r.applier_->sidecar();
  EXPECT_FALSE(s.storage_envelope_active);
  EXPECT_EQ(s.raft_applied_index, 7u);
  EXPECT_FALSE(r.runtime_.state->storage_envelope_active());
  EXPECT_TRUE(s.keys.contains(11));  // old keys stay
}

TEST(EncryptionApplyTest, WrappedMustBeEmptyByLength) {
  Replica r;
  ASSERT_TRUE(r.Apply(kDefault, 5, Bootstrap(*r.runtime_.kek)).ok());
  EXPECT_EQ(
      GetEncryptionErrc(r.Apply(kDefault, 6, EnableStorageEnvelopeOp{1, 11, std::string(1, '\0')})),
      EncryptionErrc::kEncryptionApply);
  EXPECT_FALSE(r.applier_->sidecar().storage_envelope_active);
}

TEST(EncryptionApplyTest, PurposeMustBeStorage) {
  Replica r;
  ASSERT_TRUE(r.Apply(kDefault, 5, Bootstrap(*r.runtime_.kek)).ok());
  EXPECT_EQ(GetEncryptionErrc(r.Apply(kDefault, 6, EnableStorageEnvelopeOp{2, 22, ""})),
            EncryptionErrc::kEncryptionApply);
}

TEST(EncryptionApplyTest, UnknownSubTagHalts) {
  Replica r;
  for (char sub : {'\x00', '\x02', '\x03', '\x06', '\xff'}) {
    const std::string op = std::string("\x04\x01", 2) + sub + std::string(16, '\0');
    EXPECT_EQ(GetEncryptionErrc(r.ApplyRaw(kDefault, 5, op)), EncryptionErrc::kEncryptionApply)
        << int(sub);
  }
  // Trailing bytes after a valid op are refused too (no skip-unknown).
  std::string op = EncodeEncryptionOp(EnableRaftEnvelopeOp{kDefault, 1});
  op.push_back('\0');
  EXPECT_EQ(GetEncryptionErrc(r.ApplyRaw(kDefault, 5, op)), EncryptionErrc::kEncryptionApply);
}

TEST(EncryptionApplyTest, ReservedOpcodeHalts) {
  Replica r;
  for (char opcode : {'\x05', '\x06', '\x07', '\x00'}) {
    EXPECT_EQ(GetEncryptionErrc(r.ApplyRaw(kDefault, 5, std::string(1, opcode) + "\x01")),
              EncryptionErrc::kEncryptionApply);
  }
  // Key ops outside the default group halt.
  EXPECT_EQ(GetEncryptionErrc(r.Apply(kOther, 5, Bootstrap(*r.runtime_.kek))),
            EncryptionErrc::kEncryptionApply);
}

TEST(EncryptionApplyTest, SidecarThenMetaReplayIdempotent) {
  Replica r;
  ASSERT_TRUE(r.Apply(kDefault, 5, Bootstrap(*r.runtime_.kek)).ok());
  // Entry 8 writes the sidecar, then the process dies before its batch is written.
  ASSERT_TRUE(
      r.Apply(kDefault, 8,
              RotateDekOp{DekPurpose::kRaft, 77,
                          WrapDek(*r.runtime_.kek, DekPurpose::kRaft, 77, *testing::TestKey(4)), 1},
              /*write=*/false)
          .ok());
  EXPECT_EQ(r.Meta(kDefault, meta::kEncLastOpIndex), 5u);
  const std::string sidecar_before = ReadFile(r.runtime_.sidecar_path);
  r.Reload();
  // Re-delivery: the sidecar is not rewritten, the batch catches meta up.
  ASSERT_TRUE(
      r.Apply(kDefault, 8,
              RotateDekOp{DekPurpose::kRaft, 78,
                          WrapDek(*r.runtime_.kek, DekPurpose::kRaft, 78, *testing::TestKey(5)), 1})
          .ok());
  EXPECT_EQ(ReadFile(r.runtime_.sidecar_path), sidecar_before);
  EXPECT_EQ(r.Meta(kDefault, meta::kEncLastOpIndex), 8u);
  EXPECT_EQ(r.applier_->sidecar().active_raft, 77u);
}

TEST(EncryptionApplyTest, RaftCutoverPerGroupDeterministic) {
  // Replica A has applied the default group's bootstrap, replica B has not yet.
  Replica a, b;
  ASSERT_TRUE(a.Apply(kDefault, 5, Bootstrap(*a.runtime_.kek)).ok());
  for (Replica* r : {&a, &b}) {
    ASSERT_TRUE(r->Apply(kOther, 40, EnableRaftEnvelopeOp{kOther, 22}).ok());
    ASSERT_TRUE(r->Apply(kOther, 41, EnableRaftEnvelopeOp{kOther, 22}).ok());  // no-op
    EXPECT_EQ(r->Meta(kOther, meta::kRaftEnvelopeCutoverIndex), 40u);
    EXPECT_EQ(r->runtime_.state->raft_cutover(kOther), 40u);
    EXPECT_EQ(r->Meta(kOther, meta::kEncLastOpIndex), 0u);
  }
  EXPECT_EQ(GetEncryptionErrc(a.Apply(kOther, 42, EnableRaftEnvelopeOp{kDefault, 22})),
            EncryptionErrc::kEncryptionApply);
}

// §16: single node, production write wiring (cipher, keystore, state cache, store and applier
// sharing them), ops applied through the state machine.
TEST(EncryptionE2ETest, BootstrapCutoverPutReadback) {
  storage_testing::TempDir dir;
  EncryptionRuntime runtime;
  runtime.kek = testing::TestKey(100);
  runtime.sidecar_path = dir.path() + "/encryption/keys.json";
  StorageCipher cipher(runtime.keys, runtime.state);
  uint64_t index = 0;
  std::string raw_after;
  {
    auto engine = StorageEngine::Open(dir.path() + "/db", EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    (*engine)->set_storage_cipher(&cipher);
    EncryptionApplier applier(engine->get(), kDefault, runtime, Sidecar{});
    auto kv = KvStateMachine::Open(engine->get(), {kDefault});
    ASSERT_TRUE(kv.ok());
    (*kv)->set_encryption_applier(&applier);
    auto apply = [&](std::string command) {
      raft::Entry e;
      e.index = ++index;
      e.term = 1;
      e.type = raft::EntryType::kNormal;
      e.data = EncodeEntryPayload(ProposalId{1, index}, 1'000'000, command);
      rocksdb::WriteBatchWithIndex batch;
      auto applied = (*kv)->StageApply(batch, kDefault, e, nullptr);
      ASSERT_TRUE(applied.ok()) << applied.status();
      ASSERT_TRUE((*applied)->result.ok()) << (*applied)->result;
      ASSERT_TRUE((*engine)->Write(*batch.GetWriteBatch(), true).ok());
    };
    auto raw = [&](std::string_view key) {
      std::string v;
      EXPECT_TRUE(
          (*engine)
              ->db()
              ->Get(rocksdb::ReadOptions(), (*engine)->data(), data::MetadataKey(kDefault, key), &v)
              .ok());
      return v;
    };
    // (1) Before bootstrap.
    EXPECT_EQ(runtime.state->active_storage_id(), 0u);
    apply(EncodeSetCommand("before", "value-before"));
    EXPECT_EQ(raw("before")[0], '\x00');
    // (2) Bootstrap: keys exist, nothing uses them.
    apply(EncodeEncryptionCommand(Bootstrap(*runtime.kek)));
    EXPECT_EQ(runtime.state->active_storage_id(), 11u);
    EXPECT_FALSE(runtime.state->storage_envelope_active());
    apply(EncodeSetCommand("mid", "value-mid"));
    EXPECT_EQ(raw("mid")[0], '\x00');
    // (3) Storage cutover.
    apply(EncodeEncryptionCommand(EnableStorageEnvelopeOp{1, 11, ""}));
    EXPECT_TRUE(runtime.state->storage_envelope_active());
    apply(EncodeSetCommand("after", "value-after"));
    raw_after = raw("after");
    EXPECT_EQ(raw_after[0], '\x02');
    EXPECT_EQ(raw_after[1], '\x01');
    EXPECT_EQ(raw_after.substr(3, 4), std::string("\x00\x00\x00\x0b", 4));
    EXPECT_EQ(raw_after.size(), 1 + kEnvelopeOverhead + 9 + std::string("value-after").size());
    EXPECT_EQ(raw_after.find("value-after"), std::string::npos);
    // (4) All three read back.
    EXPECT_EQ(*(*kv)->Get(kDefault, "before"), "value-before");
    EXPECT_EQ(*(*kv)->Get(kDefault, "mid"), "value-mid");
    EXPECT_EQ(*(*kv)->Get(kDefault, "after"), "value-after");
    ASSERT_TRUE((*engine)->Close().ok());
    ASSERT_TRUE((*engine)->Close().ok());  // idempotent
  }
  {
    // (5) Reopen without a cipher.
    auto engine = StorageEngine::Open(dir.path() + "/db", EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto kv = KvStateMachine::Open(engine->get(), {kDefault});
    ASSERT_TRUE(kv.ok());
    const absl::Status s = (*kv)->Get(kDefault, "after").status();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(std::string(s.message()).find("no cipher configured"), std::string::npos) << s;
    EXPECT_EQ(*(*kv)->Get(kDefault, "before"), "value-before");
    EXPECT_EQ(*(*kv)->Get(kDefault, "mid"), "value-mid");
  }
  // (6) Another KEK cannot load the sidecar's keys.
  absl::StatusOr<std::optional<Sidecar>> sidecar = ReadSidecar(runtime.sidecar_path);
  ASSERT_TRUE(sidecar.ok() && sidecar->has_value());
  EncryptionRuntime wrong;
  wrong.kek = testing::TestKey(101);
  EXPECT_EQ(GetEncryptionErrc(LoadSidecarIntoRuntime(**sidecar, wrong)),
            EncryptionErrc::kKekMismatch);
  // And the right KEK reads everything again after a restart.
  EncryptionRuntime restarted;
  restarted.kek = testing::TestKey(100);
  ASSERT_TRUE(LoadSidecarIntoRuntime(**sidecar, restarted).ok());
  StorageCipher cipher2(restarted.keys, restarted.state);
  auto engine = StorageEngine::Open(dir.path() + "/db", EngineOptions{});
  ASSERT_TRUE(engine.ok());
  (*engine)->set_storage_cipher(&cipher2);
  auto kv = KvStateMachine::Open(engine->get(), {kDefault});
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(*(*kv)->Get(kDefault, "after"), "value-after");
  EXPECT_TRUE(restarted.state->storage_envelope_active());
}

}  // namespace
}  // namespace tessera::shard::encryption
