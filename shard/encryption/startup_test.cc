// StartupGuardTest: one test per startup guard of spec/encryption.md §13 that this node can
// check locally, plus the happy paths.
#include "shard/encryption/startup.h"

#include <gtest/gtest.h>

#include <cerrno>
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

  storage_testing::TempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
  EncryptionStartupOptions options_;
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

}  // namespace
}  // namespace tessera::shard::encryption
