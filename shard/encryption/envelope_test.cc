// EnvelopeTest: the envelope layout (golden bytes), AAD binding, header checks, nonce
// randomness and tamper handling (spec/encryption.md §5, §16).
#include "shard/encryption/envelope.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/container/flat_hash_set.h"
#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/testing.h"

namespace tessera::shard::encryption {
namespace {

using testing::Hex;
using testing::TestKey;

constexpr uint32_t kId = 0x01020304;

KeyLookup Only(uint32_t id, std::shared_ptr<const SecretBytes> key) {
  return [id, key](uint32_t want) { return want == id ? key : nullptr; };
}

Nonce TestNonce() {
  Nonce n;
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(0x40 + i);
  return n;
}

TEST(EnvelopeTest, GoldenBytes) {
  // Computed independently (Python ctypes over libsodium with the AAD built by hand).
  auto key = TestKey(0);
  EXPECT_EQ(Hex(SealStorageWithNonceForTest(*key, kId, "user:1", "hello", TestNonce())),
            "010001020304404142434445464748494a4b4c4d4e4f5051525354555657"
            "bc5c691cbf6ba6fd4152496817f2764033e9fd7268");
  EXPECT_EQ(Hex(SealRaftWithNonceForTest(*key, kId, "payload", TestNonce())),
            "010001020304404142434445464748494a4b4c4d4e4f5051525354555657"
            "a4587c1cbf811da6a2c4f96808944331c12df163111376");
}

TEST(EnvelopeTest, LayoutAndOverhead) {
  auto key = TestKey(1);
  const std::string plain(100, 'x');
  const std::string env = SealStorage(*key, kId, "k", plain);
  EXPECT_EQ(kEnvelopeOverhead, 46u);
  EXPECT_EQ(env.size(), 146u);
  EXPECT_EQ(env[0], '\x01');
  EXPECT_EQ(env[1], '\x00');
  EXPECT_EQ(env.substr(2, 4), std::string("\x01\x02\x03\x04"));
  EXPECT_EQ(env.find(plain), std::string::npos);
  absl::StatusOr<std::string> opened = OpenStorage(Only(kId, key), "k", env);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, plain);
  // An empty value seals to exactly the overhead and opens back to empty.
  const std::string empty = SealStorage(*key, kId, "k", "");
  EXPECT_EQ(empty.size(), kEnvelopeOverhead);
  EXPECT_EQ(*OpenStorage(Only(kId, key), "k", empty), "");
}

TEST(EnvelopeTest, StorageAadBindsKeyAndHeader) {
  auto key = TestKey(2);
  const std::string env = SealStorage(*key, kId, "row-a", "secret");
  // Moved to another row.
  EXPECT_EQ(GetEncryptionErrc(OpenStorage(Only(kId, key), "row-b", env).status()),
            EncryptionErrc::kEncryptedReadIntegrity);
  // key_id rewritten (a key under the new id exists and is the same bytes).
  std::string relabelled = env;
  relabelled[5] = '\x05';
  EXPECT_EQ(GetEncryptionErrc(OpenStorage(Only(0x01020305, key), "row-a", relabelled).status()),
            EncryptionErrc::kEncryptedReadIntegrity);
  // A flag bit set is refused before decryption.
  std::string flagged = env;
  flagged[1] = '\x01';
  EXPECT_EQ(GetEncryptionErrc(OpenStorage(Only(kId, key), "row-a", flagged).status()),
            EncryptionErrc::kEnvelopeFlag);
}

TEST(EnvelopeTest, RaftAadRejectsFlag) {
  auto key = TestKey(3);
  const std::string env = SealRaft(*key, kId, "entry");
  EXPECT_EQ(*OpenRaft(Only(kId, key), env), "entry");
  std::string flagged = env;
  flagged[1] = '\x80';
  EXPECT_EQ(GetEncryptionErrc(OpenRaft(Only(kId, key), flagged).status()),
            EncryptionErrc::kEnvelopeFlag);
  // A storage envelope does not open as a raft envelope (different AAD).
  EXPECT_EQ(
      GetEncryptionErrc(OpenRaft(Only(kId, key), SealStorage(*key, kId, "", "entry")).status()),
      EncryptionErrc::kEncryptedReadIntegrity);
}

TEST(EnvelopeTest, RejectsVersionAndShort) {
  auto key = TestKey(4);
  std::string env = SealStorage(*key, kId, "k", "v");
  env[0] = '\x02';
  EXPECT_EQ(GetEncryptionErrc(OpenStorage(Only(kId, key), "k", env).status()),
            EncryptionErrc::kEnvelopeVersion);
  EXPECT_EQ(GetEncryptionErrc(OpenStorage(Only(kId, key), "k", std::string(45, '\x01')).status()),
            EncryptionErrc::kEnvelopeShort);
  EXPECT_EQ(GetEncryptionErrc(OpenRaft(Only(kId, key), "").status()),
            EncryptionErrc::kEnvelopeShort);
}

TEST(EnvelopeTest, UnknownKeyIsRetryable) {
  auto key = TestKey(5);
  const absl::Status s = OpenStorage(Only(7, key), "k", SealStorage(*key, kId, "k", "v")).status();
  EXPECT_EQ(GetEncryptionErrc(s), EncryptionErrc::kKeyUnavailable);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

TEST(EnvelopeTest, NoncesRandomAndDistinct) {
  auto key = TestKey(6);
  absl::flat_hash_set<std::string> nonces;
  constexpr int kSeals = 1000000;
  nonces.reserve(kSeals);
  for (int i = 0; i < kSeals; ++i) {
    const std::string env = SealRaft(*key, kId, "same plaintext");
    ASSERT_TRUE(nonces.insert(env.substr(6, kEnvelopeNonceSize)).second)
        << "nonce repeated at " << i;
  }
  EXPECT_NE(SealStorage(*key, kId, "k", "v"), SealStorage(*key, kId, "k", "v"));
}

TEST(EnvelopeTest, TamperNeverReturnsEmpty) {
  auto key = TestKey(7);
  const std::string env = SealStorage(*key, kId, "k", "some value");
  for (size_t i = kEnvelopeAadHeaderSize; i < env.size(); ++i) {
    std::string bad = env;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    absl::StatusOr<std::string> opened = OpenStorage(Only(kId, key), "k", bad);
    ASSERT_FALSE(opened.ok()) << "byte " << i;
    EXPECT_EQ(GetEncryptionErrc(opened.status()), EncryptionErrc::kEncryptedReadIntegrity);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  }
  // Truncation past the minimum size is an integrity error too.
  absl::StatusOr<std::string> cut = OpenStorage(Only(kId, key), "k", env.substr(0, env.size() - 1));
  EXPECT_FALSE(cut.ok());
}

}  // namespace
}  // namespace tessera::shard::encryption
