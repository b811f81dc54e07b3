// EncryptionOpsTest: the binary encoding of the encryption state-machine ops (golden bytes,
// round trips, strict decoding).
#include "shard/encryption/ops.h"

#include <gtest/gtest.h>

#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/testing.h"

namespace tessera::shard::encryption {
namespace {

TEST(EncryptionOpsTest, GoldenBytes) {
  EXPECT_EQ(testing::Hex(EncodeEncryptionOp(EnableStorageEnvelopeOp{1, 0x0A0B0C0D, ""})),
            "0401"
            "04"
            "01"
            "0a0b0c0d"
            "0000");
  EXPECT_EQ(testing::Hex(EncodeEncryptionOp(EnableRaftEnvelopeOp{2, 7})),
            "0401"
            "05"
            "0000000000000002"
            "00000007");
  EXPECT_EQ(testing::Hex(EncodeEncryptionOp(RotateDekOp{DekPurpose::kRaft, 5, "ab", 9})),
            "0401"
            "01"
            "02"
            "00000005"
            "0002"
            "6162"
            "0000000000000009");
  const std::string boot =
      EncodeEncryptionOp(BootstrapOp{1, std::string(72, 'a'), 2, std::string(72, 'b'), 3});
  EXPECT_EQ(boot.size(), 2u + 4 + 72 + 4 + 72 + 8);
  EXPECT_EQ(testing::Hex(boot.substr(0, 6)), "030100000001");
}

TEST(EncryptionOpsTest, RoundTrip) {
  const EncryptionOp ops[] = {
      BootstrapOp{1, std::string(72, 'a'), 2, std::string(72, 'b'), 3},
      RotateDekOp{DekPurpose::kStorage, 5, std::string(72, 'c'), 9},
      EnableStorageEnvelopeOp{1, 11, ""},
      EnableStorageEnvelopeOp{2, 11, "x"},  // decodes; apply refuses it
      EnableRaftEnvelopeOp{3, 4},
  };
  for (const EncryptionOp& op : ops) {
    absl::StatusOr<EncryptionOp> back = DecodeEncryptionOp(EncodeEncryptionOp(op));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == op);
  }
}

TEST(EncryptionOpsTest, StrictDecoding) {
  const std::string good = EncodeEncryptionOp(RotateDekOp{DekPurpose::kStorage, 5, "ab", 9});
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(GetEncryptionErrc(DecodeEncryptionOp(good.substr(0, n)).status()),
              EncryptionErrc::kEncryptionApply)
        << n;
  }
  std::string bad_version = good;
  bad_version[1] = '\x02';
  EXPECT_FALSE(DecodeEncryptionOp(bad_version).ok());
  std::string bad_purpose = good;
  bad_purpose[3] = '\x03';
  EXPECT_FALSE(DecodeEncryptionOp(bad_purpose).ok());
}

}  // namespace
}  // namespace tessera::shard::encryption
