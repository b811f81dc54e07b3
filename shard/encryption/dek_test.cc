// DekWrapTest: the wrapped DEK form and key-id drawing (spec/encryption.md §3).
#include "shard/encryption/dek.h"

#include <gtest/gtest.h>

#include <vector>

#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/testing.h"

namespace tessera::shard::encryption {
namespace {

TEST(DekWrapTest, RoundTrip) {
  auto kek = testing::TestKey(10);
  auto dek = testing::TestKey(20);
  const std::string wrapped = WrapDek(*kek, DekPurpose::kStorage, 77, *dek);
  EXPECT_EQ(wrapped.size(), kWrappedDekSize);
  EXPECT_EQ(wrapped.size(), 72u);
  absl::StatusOr<SecretBytes> back = UnwrapDek(*kek, DekPurpose::kStorage, 77, wrapped);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->Equals(*dek));
  // Random nonce: wrapping twice differs.
  EXPECT_NE(wrapped, WrapDek(*kek, DekPurpose::kStorage, 77, *dek));
}

TEST(DekWrapTest, PurposeAndIdBound) {
  auto kek = testing::TestKey(10);
  auto dek = testing::TestKey(20);
  const std::string wrapped = WrapDek(*kek, DekPurpose::kStorage, 77, *dek);
  EXPECT_EQ(GetEncryptionErrc(UnwrapDek(*kek, DekPurpose::kRaft, 77, wrapped).status()),
            EncryptionErrc::kKekMismatch);
  EXPECT_EQ(GetEncryptionErrc(UnwrapDek(*kek, DekPurpose::kStorage, 78, wrapped).status()),
            EncryptionErrc::kKekMismatch);
  EXPECT_EQ(
      GetEncryptionErrc(UnwrapDek(*kek, DekPurpose::kStorage, 77, wrapped.substr(1)).status()),
      EncryptionErrc::kKekMismatch);
}

TEST(DekWrapTest, WrongKekFails) {
  auto dek = testing::TestKey(20);
  const std::string wrapped = WrapDek(*testing::TestKey(10), DekPurpose::kRaft, 5, *dek);
  const absl::Status s = UnwrapDek(*testing::TestKey(11), DekPurpose::kRaft, 5, wrapped).status();
  EXPECT_EQ(GetEncryptionErrc(s), EncryptionErrc::kKekMismatch);
  // The message never carries key bytes.
  EXPECT_EQ(std::string(s.message()).find("\x0b\x0c"), std::string::npos);
}

TEST(DekWrapTest, KeyIdNeverZeroNorDuplicate) {
  std::vector<uint32_t> draws = {0, 42, 0, 42, 99};
  size_t next = 0;
  auto rng = [&] { return draws[next++]; };
  auto taken = [](uint32_t id) { return id == 42; };
  EXPECT_EQ(DrawKeyId(taken, rng), 99u);
  EXPECT_EQ(next, 5u);
  EXPECT_NE(DrawKeyId({}), 0u);
}

}  // namespace
}  // namespace tessera::shard::encryption
