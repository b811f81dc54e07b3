// CRC32C against the published check values, and incremental == one-shot.
#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace tessera::common {
namespace {

TEST(Crc32cTest, KnownValues) {
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);            // the standard CRC-32C check value
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8a9136aau);  // RFC 3720 B.4
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62a8ab43u);
}

TEST(Crc32cTest, ExtendMatchesOneShot) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 37));
  for (size_t split : {0u, 1u, 7u, 8u, 9u, 500u, 999u, 1000u}) {
    uint32_t a = Crc32cExtend(0, data.data(), split);
    a = Crc32cExtend(a, data.data() + split, data.size() - split);
    EXPECT_EQ(a, Crc32c(data)) << "split at " << split;
  }
}

}  // namespace
}  // namespace tessera::common
