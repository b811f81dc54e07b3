// Snapshot token: golden bytes and fail-closed decoding (spec §1).
#include "shard/snapshot/snapshot_token.h"

#include <string>

#include "gtest/gtest.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/snapshot/snapshot_testing.h"

namespace tessera::shard {
namespace {

using testing::FromHex;
using testing::HexOf;

constexpr std::string_view kGolden = "54535254010000000000000064deadbeef";

TEST(FsmFileTest, TokenGolden) {
  const SnapshotToken token{.index = 100, .crc32c = 0xDEADBEEF};
  EXPECT_EQ(HexOf(EncodeSnapshotToken(token)), kGolden);
  absl::StatusOr<SnapshotToken> decoded = DecodeSnapshotToken(FromHex(kGolden));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, token);
  EXPECT_TRUE(IsSnapshotToken(FromHex(kGolden)));
}

TEST(FsmFileTest, TokenRejectsWrongLengthMagicVersion) {
  const std::string golden = FromHex(kGolden);
  std::string wrong_magic = golden;
  wrong_magic[3] = 'X';
  std::string wrong_version = golden;
  wrong_version[4] = 0x02;
  std::string version_zero = golden;
  version_zero[4] = 0x00;
  const std::string cases[] = {
      golden.substr(0, 16),         // one byte short
      golden + '\0',                // one byte long
      wrong_magic,                  // "TSRX"
      wrong_version,                // a future version
      version_zero,                 //
      std::string(17, '\0'),        // zeros
      "some-legacy-snapshot-data",  // a non-token, non-empty value
      "",                           // empty is "no snapshot", never a token
  };
  for (const std::string& data : cases) {
    SCOPED_TRACE(HexOf(data));
    absl::StatusOr<SnapshotToken> decoded = DecodeSnapshotToken(data);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(GetSnapshotErrc(decoded.status()), SnapshotErrc::kSnapshotTokenInvalid);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  }
}

TEST(SnapshotTokenTest, IsSnapshotTokenChecksOnlySizeAndMagic) {
  const std::string golden = FromHex(kGolden);
  EXPECT_TRUE(IsSnapshotToken(golden));
  std::string future = golden;
  future[4] = 0x07;
  EXPECT_TRUE(IsSnapshotToken(future));  // a token, but an unsupported one
  EXPECT_FALSE(IsSnapshotToken(golden.substr(0, 16)));
  EXPECT_FALSE(IsSnapshotToken(golden + "x"));
  EXPECT_FALSE(IsSnapshotToken(""));
  EXPECT_FALSE(IsSnapshotToken("TSRS" + golden.substr(4)));
}

TEST(SnapshotTokenTest, RoundTripsExtremes) {
  for (const SnapshotToken token : {SnapshotToken{0, 0}, SnapshotToken{~uint64_t{0}, ~0u},
                                    SnapshotToken{0x0102030405060708, 0x090a0b0c}}) {
    absl::StatusOr<SnapshotToken> decoded = DecodeSnapshotToken(EncodeSnapshotToken(token));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, token);
  }
  EXPECT_EQ(HexOf(EncodeSnapshotToken({0x0102030405060708, 0x090a0b0c})),
            "54535254010102030405060708090a0b0c");
}

TEST(SnapshotTokenTest, EmptyDataMeansNoSnapshotAnythingElseFailsClosed) {
  absl::StatusOr<std::optional<SnapshotToken>> none = DecodeSnapshotData("");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  absl::StatusOr<std::optional<SnapshotToken>> some = DecodeSnapshotData(FromHex(kGolden));
  ASSERT_TRUE(some.ok());
  ASSERT_TRUE(some->has_value());
  EXPECT_EQ((*some)->index, 100u);

  absl::StatusOr<std::optional<SnapshotToken>> junk = DecodeSnapshotData("\x01");
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(GetSnapshotErrc(junk.status()), SnapshotErrc::kSnapshotTokenInvalid);
}

TEST(SnapshotTokenTest, CheckTokenIndex) {
  EXPECT_TRUE(CheckTokenIndex({.index = 100, .crc32c = 1}, 100).ok());
  const absl::Status mismatch = CheckTokenIndex({.index = 99, .crc32c = 1}, 100);
  EXPECT_EQ(GetSnapshotErrc(mismatch), SnapshotErrc::kSnapshotIndexMismatch);
  EXPECT_EQ(mismatch.code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tessera::shard
