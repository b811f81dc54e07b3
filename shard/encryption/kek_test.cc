// KekTest: KEK file checks, the environment source and the fingerprint (spec/encryption.md §2).
#include "shard/encryption/kek.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/testing.h"

namespace tessera::shard::encryption {
namespace {

namespace fs = std::filesystem;

class KekTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("kek-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string WriteFile(const std::string& name, const std::string& bytes, mode_t mode) {
    const std::string path = (dir_ / name).string();
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << bytes;
    }
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string DataDir() const { return (dir_ / "data").string(); }

  fs::path dir_;
};

const std::string k32(32, '\x42');

TEST_F(KekTest, FileMustBeOwnerOnly) {
  const std::string path = WriteFile("kek", k32, 0640);
  EXPECT_EQ(GetEncryptionErrc(LoadKekFile(path, DataDir()).status()),
            EncryptionErrc::kKekFileInsecure);
  ::chmod(path.c_str(), 0604);
  EXPECT_EQ(GetEncryptionErrc(LoadKekFile(path, DataDir()).status()),
            EncryptionErrc::kKekFileInsecure);
  ::chmod(path.c_str(), 0400);
  EXPECT_TRUE(LoadKekFile(path, DataDir()).ok());
  ::chmod(path.c_str(), 0600);
  EXPECT_TRUE(LoadKekFile(path, DataDir()).ok());
}

TEST_F(KekTest, FileMustBe32Bytes) {
  EXPECT_EQ(
      GetEncryptionErrc(LoadKekFile(WriteFile("short", std::string(31, 'a'), 0600), "").status()),
      EncryptionErrc::kKekFileSize);
  EXPECT_EQ(
      GetEncryptionErrc(LoadKekFile(WriteFile("long", std::string(33, 'a'), 0600), "").status()),
      EncryptionErrc::kKekFileSize);
  EXPECT_EQ(
      GetEncryptionErrc(LoadKekFile(WriteFile("b64", std::string(44, 'A'), 0600), "").status()),
      EncryptionErrc::kKekFileSize);
}

TEST_F(KekTest, RejectsSymlink) {
  const std::string target = WriteFile("kek", k32, 0600);
  const std::string link = (dir_ / "link").string();
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_EQ(GetEncryptionErrc(LoadKekFile(link, DataDir()).status()),
            EncryptionErrc::kKekFileInsecure);
  // A directory is not a KEK either.
  EXPECT_NE(LoadKekFile(DataDir(), "").status().code(), absl::StatusCode::kOk);
}

TEST_F(KekTest, RejectsInsideDataDir) {
  const std::string path = WriteFile("data/kek", k32, 0600);
  EXPECT_EQ(GetEncryptionErrc(LoadKekFile(path, DataDir()).status()),
            EncryptionErrc::kKekInsideDataDir);
  // Through a "..": the real path decides.
  EXPECT_EQ(
      GetEncryptionErrc(LoadKekFile((dir_ / "data/../data/kek").string(), DataDir()).status()),
      EncryptionErrc::kKekInsideDataDir);
  // A sibling whose name shares the prefix is outside.
  fs::create_directories(dir_ / "data2");
  EXPECT_TRUE(LoadKekFile(WriteFile("data2/kek", k32, 0600), DataDir()).ok());
}

TEST_F(KekTest, EnvBase64Decodes) {
  // 32 bytes 0x00..0x1f, standard padded base64.
  absl::StatusOr<SecretBytes> kek = DecodeKekBase64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  ASSERT_TRUE(kek.ok()) << kek.status();
  EXPECT_EQ(kek->size(), 32u);
  EXPECT_EQ(kek->data()[31], 0x1f);
  for (const char* bad : {"", "AAEC", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",  // unpadded
                          "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8-",         // url alphabet
                          "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8fIA=="}) {  // 34 bytes
    EXPECT_EQ(GetEncryptionErrc(DecodeKekBase64(bad).status()), EncryptionErrc::kKekEnvInvalid)
        << bad;
  }
  absl::StatusOr<std::optional<SecretBytes>> loaded =
      LoadKek("", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", DataDir());
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->has_value());
  absl::StatusOr<std::optional<SecretBytes>> none = LoadKek("", nullptr, DataDir());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(KekTest, EnvAndFileConflict) {
  const std::string path = WriteFile("kek", k32, 0600);
  EXPECT_EQ(GetEncryptionErrc(
                LoadKek(path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", DataDir()).status()),
            EncryptionErrc::kKekSourceConflict);
}

TEST_F(KekTest, FingerprintStableAndKeyed) {
  auto a = testing::TestKey(1);
  auto a2 = testing::TestKey(1);
  auto b = testing::TestKey(2);
  EXPECT_EQ(Fingerprint(*a), Fingerprint(*a2));
  EXPECT_NE(Fingerprint(*a), Fingerprint(*b));
  // Keyed BLAKE2b-128 of the label, pinned.
  auto zero = testing::TestKey(0);
  const KekFingerprint fp = Fingerprint(*zero);
  EXPECT_EQ(testing::Hex(std::string_view(reinterpret_cast<const char*>(fp.data()), fp.size())),
            "03a759eb123a2b7cdd01405a048807c6");
}

}  // namespace
}  // namespace tessera::shard::encryption
