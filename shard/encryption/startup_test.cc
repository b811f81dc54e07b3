// StartupGuardTest: one test per startup guard of spec/encryption.md §13 that this node can
// check locally, plus the happy paths.
#include "shard/encryption/startup.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/testing.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard::encryption {
namespace {

constexpr GroupId kDefault = 1;
// 32 bytes 0x00..0x1f.
constexpr char kKek[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

class StartupGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = StorageEngine::Open(dir_.path() + "/data", EngineOptions{});
    ASSERT_TRUE(engine.ok());
    engine_ = *std::move(engine);
    options_.enabled = true;
    options_.kek_env = kKek;
    options_.sidecar_path = dir_.path() + "/data/encryption/keys.json";
    options_.data_dir = dir_.path() + "/data";
    options_.default_group = kDefault;
    options_.groups = {kDefault, 2};
  }
  EncryptionErrc Start() {
    return GetEncryptionErrc(StartEncryption(options_, engine_.get()).status());
  }
  void PutMeta(GroupId gid, std::string_view name, uint64_t v) {
    rocksdb::WriteBatch b;
    b.Put(engine_->meta(), MetaKey(gid, name), EncodeU64BE(v));
    ASSERT_TRUE(engine_->Write(b, true).ok());
  }
  // A sidecar with storage + raft keys wrapped under `kek`, reflecting index `applied`.
  void WriteSidecarUnder(const SecretBytes& kek, uint64_t applied) {
    Sidecar s;
    s.raft_applied_index = applied;
    s.active_storage = 11;
    s.active_raft = 22;
    s.keys[11] = SidecarKey{DekPurpose::kStorage,
                            WrapDek(kek, DekPurpose::kStorage, 11, *testing::TestKey(1)), "", 1};
    s.keys[22] = SidecarKey{DekPurpose::kRaft,
                            WrapDek(kek, DekPurpose::kRaft, 22, *testing::TestKey(2)), "", 1};
    ASSERT_TRUE(WriteSidecar(options_.sidecar_path, s).ok());
  }

  // The leader's ResyncSidecar answer for a cluster with storage key 11 and raft keys 22, 33
  // wrapped under `kek`, reflecting `applied`.
  static tessera::encryption::v1::ResyncSidecarResponse LeaderAnswer(const SecretBytes& kek,
                                                                     uint64_t applied) {
    tessera::encryption::v1::ResyncSidecarResponse r;
    auto add = [&](uint32_t id, DekPurpose purpose, uint8_t seed) {
      (*r.mutable_wrapped_deks_by_id())[id] = WrapDek(kek, purpose, id, *testing::TestKey(seed));
      auto& meta = (*r.mutable_key_meta())[id];
      meta.set_purpose(std::string(DekPurposeName(purpose)));
      meta.set_created("2026-05-01T10:00:00Z");
      meta.set_created_index(1);
    };
    add(11, DekPurpose::kStorage, 1);
    add(22, DekPurpose::kRaft, 2);
    add(33, DekPurpose::kRaft, 3);
    r.set_active_storage_id(11);
    r.set_active_raft_id(33);
    r.set_storage_envelope_active(true);
    r.set_storage_envelope_cutover_index(6);
    r.set_sidecar_raft_applied_index(applied);
    r.set_leader_applied_index(applied + 3);
    r.set_bootstrap_index(1);
    return r;
  }
  // --encryption-resync-sidecar against a leader answering `answer`; counts the calls.
  void ResyncFrom(tessera::encryption::v1::ResyncSidecarResponse answer) {
    options_.resync_sidecar = true;
    options_.fetch_resync =
        [this, answer]() -> absl::StatusOr<tessera::encryption::v1::ResyncSidecarResponse> {
      ++resync_calls_;
      return answer;
    };
  }

  storage_testing::TempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
  EncryptionStartupOptions options_;
  int resync_calls_ = 0;
};

TEST_F(StartupGuardTest, FreshNodeStartsCapable) {
  absl::StatusOr<EncryptionStartup> s = StartEncryption(options_, engine_.get());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->mutators_enabled);
  EXPECT_FALSE(s->sidecar_present);
  EXPECT_TRUE(s->fingerprint.has_value());
}

TEST_F(StartupGuardTest, DisabledWithoutStateStartsCleartext) {
  options_.enabled = false;
  absl::StatusOr<EncryptionStartup> s = StartEncryption(options_, engine_.get());
  ASSERT_TRUE(s.ok()) << s.status();  // a KEK without the flag is only a warning
  EXPECT_FALSE(s->mutators_enabled);
}

TEST_F(StartupGuardTest, KekSourceConflict) {
  options_.kek_file = dir_.path() + "/kek";
  EXPECT_EQ(Start(), EncryptionErrc::kKekSourceConflict);
}

TEST_F(StartupGuardTest, KekRequiredWithFlag) {
  options_.kek_env = nullptr;
  EXPECT_EQ(Start(), EncryptionErrc::kKekRequiredWithFlag);
}

TEST_F(StartupGuardTest, KekEnvInvalid) {
  options_.kek_env = "not base64";
  EXPECT_EQ(Start(), EncryptionErrc::kKekEnvInvalid);
}

TEST_F(StartupGuardTest, SidecarPathRequired) {
  options_.sidecar_path.clear();
  EXPECT_EQ(Start(), EncryptionErrc::kSidecarPathRequired);
}

TEST_F(StartupGuardTest, SidecarPresentWithoutFlag) {
  WriteSidecarUnder(*DecodeKekBase64(kKek), 0);
  options_.enabled = false;
  EXPECT_EQ(Start(), EncryptionErrc::kSidecarPresentWithoutFlag);
}

TEST_F(StartupGuardTest, SidecarPresentWithoutFlagFromMeta) {
  PutMeta(kDefault, meta::kEncLastOpIndex, 7);
  options_.enabled = false;
  EXPECT_EQ(Start(), EncryptionErrc::kSidecarPresentWithoutFlag);
}

TEST_F(StartupGuardTest, UnsupportedFilesystem) {
  options_.io.fsync_dir = [](int) {
    errno = EINVAL;
    return -1;
  };
  EXPECT_EQ(Start(), EncryptionErrc::kUnsupportedFilesystem);
}

TEST_F(StartupGuardTest, SidecarCorrupt) {
  ASSERT_TRUE(WriteSidecar(options_.sidecar_path, Sidecar{}).ok());
  {
    std::ofstream out(options_.sidecar_path, std::ios::trunc);
    out << "{\"version\": 1}";
  }
  EXPECT_EQ(Start(), EncryptionErrc::kSidecarCorrupt);
}

TEST_F(StartupGuardTest, KekMismatch) {
  WriteSidecarUnder(*testing::TestKey(99), 5);
  EXPECT_EQ(Start(), EncryptionErrc::kKekMismatch);
}

TEST_F(StartupGuardTest, SidecarMissing) {
  PutMeta(kDefault, meta::kEncLastOpIndex, 7);
  EXPECT_EQ(Start(), EncryptionErrc::kSidecarMissing);
}

TEST_F(StartupGuardTest, SidecarBehindRaftLog) {
  WriteSidecarUnder(*DecodeKekBase64(kKek), 5);
  PutMeta(kDefault, meta::kEncLastOpIndex, 7);
  EXPECT_EQ(Start(), EncryptionErrc::kSidecarBehindRaftLog);
  PutMeta(kDefault, meta::kEncLastOpIndex, 5);
  absl::StatusOr<EncryptionStartup> s = StartEncryption(options_, engine_.get());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->runtime.keys->Has(11));
  EXPECT_EQ(s->runtime.state->active_raft_id(), 22u);
}

TEST_F(StartupGuardTest, KeyUnavailableForRaftCutover) {
  PutMeta(2, meta::kRaftEnvelopeCutoverIndex, 40);
  EXPECT_EQ(Start(), EncryptionErrc::kKeyUnavailable);
  WriteSidecarUnder(*DecodeKekBase64(kKek), 0);
  absl::StatusOr<EncryptionStartup> s = StartEncryption(options_, engine_.get());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->runtime.state->raft_cutover(2), 40u);
}

TEST_F(StartupGuardTest, ResyncRepairsBehindSidecar) {
  const SecretBytes kek = *DecodeKekBase64(kKek);
  WriteSidecarUnder(kek, 5);
  PutMeta(kDefault, meta::kEncLastOpIndex, 7);
  ResyncFrom(LeaderAnswer(kek, 7));
  absl::StatusOr<EncryptionStartup> s = StartEncryption(options_, engine_.get());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(resync_calls_, 1);
  EXPECT_TRUE(s->sidecar_resynced);
  // The runtime and the rewritten file both reflect the leader's state.
  EXPECT_TRUE(s->runtime.keys->Has(33));
  EXPECT_EQ(s->runtime.state->active_raft_id(), 33u);
  EXPECT_TRUE(s->runtime.state->storage_envelope_active());
  absl::StatusOr<std::optional<Sidecar>> file = ReadSidecar(options_.sidecar_path);
  ASSERT_TRUE(file.ok() && file->has_value()) << file.status();
  EXPECT_EQ((*file)->raft_applied_index, 7u);
  EXPECT_EQ((*file)->keys.size(), 3u);
  EXPECT_EQ(**file, s->sidecar);
  // The next start needs no repair: the guard passes without asking again.
  absl::StatusOr<EncryptionStartup> again = StartEncryption(options_, engine_.get());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(resync_calls_, 1);
  EXPECT_FALSE(again->sidecar_resynced);
}

TEST_F(StartupGuardTest, ResyncRepairsMissingSidecar) {
  PutMeta(kDefault, meta::kEncLastOpIndex, 7);
  ResyncFrom(LeaderAnswer(*DecodeKekBase64(kKek), 9));
  absl::StatusOr<EncryptionStartup> s = StartEncryption(options_, engine_.get());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->sidecar_present);
  EXPECT_TRUE(s->runtime.keys->Has(11));
  EXPECT_EQ(s->sidecar.raft_applied_index, 9u);
}

TEST_F(StartupGuardTest, ResyncRefusesALeaderBehindTheLocalLog) {
  PutMeta(kDefault, meta::kEncLastOpIndex, 7);
  ResyncFrom(LeaderAnswer(*DecodeKekBase64(kKek), 6));
  EXPECT_EQ(Start(), EncryptionErrc::kSidecarBehindRaftLog);
  EXPECT_FALSE(std::filesystem::exists(options_.sidecar_path));  // nothing written
}

TEST_F(StartupGuardTest, ResyncRefusesKeysOfAnotherKek) {
  PutMeta(kDefault, meta::kEncLastOpIndex, 7);
  ResyncFrom(LeaderAnswer(*testing::TestKey(99), 7));
  EXPECT_EQ(Start(), EncryptionErrc::kKekMismatch);
  EXPECT_FALSE(std::filesystem::exists(options_.sidecar_path));
}

TEST_F(StartupGuardTest, ResyncUnreachableLeaderKeepsTheGuard) {
  PutMeta(kDefault, meta::kEncLastOpIndex, 7);
  options_.resync_sidecar = true;
  options_.fetch_resync = []() -> absl::StatusOr<tessera::encryption::v1::ResyncSidecarResponse> {
    return absl::UnavailableError("no default-group leader answered");
  };
  EXPECT_EQ(Start(), EncryptionErrc::kSidecarMissing);
}

TEST_F(StartupGuardTest, ResyncFlagOnACurrentSidecarAsksNobody) {
  WriteSidecarUnder(*DecodeKekBase64(kKek), 7);
  PutMeta(kDefault, meta::kEncLastOpIndex, 7);
  ResyncFrom(LeaderAnswer(*DecodeKekBase64(kKek), 9));
  absl::StatusOr<EncryptionStartup> s = StartEncryption(options_, engine_.get());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(resync_calls_, 0);
}

}  // namespace
}  // namespace tessera::shard::encryption
