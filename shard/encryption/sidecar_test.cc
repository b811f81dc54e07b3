// SidecarTest: keys.json format strictness and the crash-durable write (spec/encryption.md §4).
#include "shard/encryption/sidecar.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "shard/encryption/encryption_errc.h"

namespace tessera::shard::encryption {
namespace {

namespace fs = std::filesystem;

Sidecar Sample() {
  Sidecar s;
  s.raft_applied_index = 57;
  s.bootstrap_index = 12;
  s.storage_envelope_active = true;
  s.storage_envelope_cutover_index = 40;
  s.active_storage = 2882400001u;
  s.active_raft = 19088743;
  s.keys[2882400001u] =
      SidecarKey{DekPurpose::kStorage, std::string(72, 'a'), "2026-05-01T10:00:00Z", 12};
  s.keys[19088743] =
      SidecarKey{DekPurpose::kRaft, std::string(72, 'b'), "2026-05-01T10:00:00Z", 12};
  return s;
}

class SidecarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("sidecar-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    path_ = (dir_ / "encryption" / "keys.json").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(SidecarTest, RoundTrip) {
  const Sidecar s = Sample();
  absl::StatusOr<Sidecar> back = ParseSidecar(SerializeSidecar(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
  ASSERT_TRUE(WriteSidecar(path_, s).ok());
  absl::StatusOr<std::optional<Sidecar>> read = ReadSidecar(path_);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ(**read, s);
  // Missing is not an error.
  absl::StatusOr<std::optional<Sidecar>> none = ReadSidecar((dir_ / "nope.json").string());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(Rfc3339FromUnixMs(1777629600000ull), "2026-05-01T10:00:00Z");
}

TEST_F(SidecarTest, WriteIsAtomicAndMode0600) {
  for (mode_t mask : {mode_t{0}, mode_t{077}}) {
    const mode_t old = ::umask(mask);
    fs::remove_all(dir_);
    const absl::Status s = WriteSidecar(path_, Sample());
    ::umask(old);
    ASSERT_TRUE(s.ok()) << s;
    struct stat st {};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "umask " << mask;
    ASSERT_EQ(::stat((dir_ / "encryption").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0077, 0u) << "umask " << mask;
    EXPECT_FALSE(fs::exists(path_ + ".tmp"));
  }
}

TEST_F(SidecarTest, CrashBeforeRenameKeepsOld) {
  Sidecar first = Sample();
  ASSERT_TRUE(WriteSidecar(path_, first).ok());
  const std::string before = Read(path_);
  Sidecar second = first;
  second.raft_applied_index = 99;
  SidecarIo io = RealSidecarIo();
  io.rename = [](const char*, const char*) {
    errno = EIO;
    return -1;
  };
  EXPECT_FALSE(WriteSidecar(path_, second, io).ok());
  EXPECT_EQ(Read(path_), before);
  // A failing file fsync leaves the old file too.
  io = RealSidecarIo();
  io.fsync_file = [](int) {
    errno = EIO;
    return -1;
  };
  EXPECT_FALSE(WriteSidecar(path_, second, io).ok());
  EXPECT_EQ(Read(path_), before);
  EXPECT_EQ(ReadSidecar(path_)->value(), first);
}

TEST_F(SidecarTest, UnknownFieldRejected) {
  nlohmann::json doc = nlohmann::json::parse(SerializeSidecar(Sample()));
  doc["future_field"] = 1;
  EXPECT_EQ(GetEncryptionErrc(ParseSidecar(doc.dump()).status()), EncryptionErrc::kSidecarCorrupt);
  doc = nlohmann::json::parse(SerializeSidecar(Sample()));
  doc["keys"]["19088743"]["retired"] = true;
  EXPECT_EQ(GetEncryptionErrc(ParseSidecar(doc.dump()).status()), EncryptionErrc::kSidecarCorrupt);
}

TEST_F(SidecarTest, CorruptVariantsRejected) {
  const std::string good = SerializeSidecar(Sample());
  auto mutate = [&](auto&& f) {
    nlohmann::json doc = nlohmann::json::parse(good);
    f(doc);
    return GetEncryptionErrc(ParseSidecar(doc.dump()).status());
  };
  const auto kCorrupt = EncryptionErrc::kSidecarCorrupt;
  EXPECT_EQ(GetEncryptionErrc(ParseSidecar("{").status()), kCorrupt);
  EXPECT_EQ(GetEncryptionErrc(ParseSidecar("[]").status()), kCorrupt);
  EXPECT_EQ(mutate([](auto& d) { d.erase("bootstrap_index"); }), kCorrupt);
  EXPECT_EQ(mutate([](auto& d) { d["raft_applied_index"] = -1; }), kCorrupt);
  EXPECT_EQ(mutate([](auto& d) { d["raft_applied_index"] = "57"; }), kCorrupt);
  EXPECT_EQ(mutate([](auto& d) { d["active"]["storage"] = 4294967296ull; }), kCorrupt);
  EXPECT_EQ(mutate([](auto& d) { d["active"]["storage"] = 5; }), kCorrupt);         // absent id
  EXPECT_EQ(mutate([](auto& d) { d["active"]["storage"] = 19088743; }), kCorrupt);  // raft key
  EXPECT_EQ(mutate([](auto& d) { d["keys"]["0"] = d["keys"]["19088743"]; }), kCorrupt);
  EXPECT_EQ(mutate([](auto& d) { d["keys"]["019088743"] = d["keys"]["19088743"]; }), kCorrupt);
  EXPECT_EQ(mutate([](auto& d) { d["keys"]["19088743"]["wrapped"] = "AAAA"; }), kCorrupt);
  EXPECT_EQ(mutate([](auto& d) { d["keys"]["19088743"]["wrapped"] = "!!"; }), kCorrupt);
  EXPECT_EQ(mutate([](auto& d) { d["keys"]["19088743"]["purpose"] = "other"; }), kCorrupt);
  EXPECT_EQ(mutate([](auto& d) { d["version"] = 0; }), kCorrupt);
}

TEST_F(SidecarTest, VersionTooNewRejected) {
  nlohmann::json doc = nlohmann::json::parse(SerializeSidecar(Sample()));
  doc["version"] = 2;
  EXPECT_EQ(GetEncryptionErrc(ParseSidecar(doc.dump()).status()), EncryptionErrc::kSidecarVersion);
}

TEST_F(SidecarTest, InsecureModes) {
  ASSERT_TRUE(WriteSidecar(path_, Sample()).ok());
  ::chmod(path_.c_str(), 0620);
  EXPECT_EQ(GetEncryptionErrc(ReadSidecar(path_).status()), EncryptionErrc::kSidecarInsecure);
  ::chmod(path_.c_str(), 0644);  // readable: fixed with a warning
  ASSERT_TRUE(ReadSidecar(path_).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SidecarTest, UnsupportedFilesystemProbe) {
  EXPECT_TRUE(ProbeSidecarDir(path_).ok());
  SidecarIo io = RealSidecarIo();
  io.fsync_dir = [](int) {
    errno = EINVAL;
    return -1;
  };
  EXPECT_EQ(GetEncryptionErrc(ProbeSidecarDir(path_, io)), EncryptionErrc::kUnsupportedFilesystem);
  EXPECT_TRUE(fs::is_empty(dir_ / "encryption"));  // the probe cleans up after itself
}

}  // namespace
}  // namespace tessera::shard::encryption
