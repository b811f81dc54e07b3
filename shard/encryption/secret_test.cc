// SecretTest: key material never reaches a formatter (spec/encryption.md §0).
#include "shard/encryption/secret.h"

#include <gtest/gtest.h>

#include <sstream>

#include "fmt/format.h"
#include "shard/encryption/testing.h"

namespace tessera::shard::encryption {
namespace {

TEST(SecretTest, FormattersRedact) {
  auto key = testing::TestKey(0x61);  // bytes 'a', 'b', ...
  const std::string raw(reinterpret_cast<const char*>(key->data()), key->size());
  std::ostringstream os;
  os << *key;
  const std::string texts[] = {key->ToString(), os.str(), fmt::format("{}", *key),
                               fmt::format("{:>30}", *key)};
  for (std::string text : texts) {
    text.erase(0, text.find_first_not_of(' '));
    EXPECT_EQ(text, "<redacted 32 bytes>");
    EXPECT_EQ(text.find("abcd"), std::string::npos);
  }
}

TEST(SecretTest, GenerateIsRandomAndSized) {
  absl::StatusOr<SecretBytes> a = SecretBytes::Generate();
  absl::StatusOr<SecretBytes> b = SecretBytes::Generate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), kKeySize);
  EXPECT_FALSE(a->Equals(*b));
  SecretBytes moved = *std::move(a);
  EXPECT_EQ(moved.size(), kKeySize);
}

TEST(SecretTest, EmptyMaterialRejected) { EXPECT_FALSE(SecretBytes::FromBytes({}).ok()); }

}  // namespace
}  // namespace tessera::shard::encryption
