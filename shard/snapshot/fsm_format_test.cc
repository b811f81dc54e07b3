// .fsm header and body format: golden bytes pin the layout; every §2 format error is reachable.
#include "shard/snapshot/fsm_format.h"

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/snapshot/snapshot_testing.h"

namespace tessera::shard {
namespace {

using testing::BigEndian32;
using testing::BigEndian64;
using testing::Body;
using testing::FromHex;
using testing::HexOf;

constexpr uint64_t kCeiling = 1'700'000'000'000;
constexpr std::string_view kV1Golden = "545352534e4150310000018bcfe56800";
constexpr std::string_view kV2Golden = "545352534e41503200100000018bcfe568000000000000000096";

// A source that serves `data` and then fails, like a disk error mid-file.
class FailingByteSource final : public ByteSource {
 public:
  explicit FailingByteSource(std::string data) : data_(std::move(data)), inner_(data_) {}
  absl::StatusOr<size_t> Read(char* dst, size_t n) override {
    absl::StatusOr<size_t> got = inner_.Read(dst, n);
    if (got.ok() && *got == 0) return SnapshotIoError("read", "disk", EIO);
    return got;
  }

 private:
  std::string data_;
  StringByteSource inner_;
};

absl::StatusOr<FsmHeader> ParseHeader(std::string_view bytes) {
  StringByteSource in(bytes);
  return ReadFsmHeader(in);
}

SnapshotErrc HeaderErrc(std::string_view bytes) {
  return GetSnapshotErrc(ParseHeader(bytes).status());
}

TEST(SnapshotHeaderTest, V1Golden) {
  const FsmHeader header{.version = FsmHeaderVersion::kV1, .clock_ceiling_ms = kCeiling};
  absl::StatusOr<std::string> encoded = EncodeFsmHeader(header);
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(HexOf(*encoded), kV1Golden);
  EXPECT_EQ(encoded->size(), kV1HeaderSize);

  absl::StatusOr<FsmHeader> decoded = ParseHeader(FromHex(kV1Golden));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, header);
  EXPECT_EQ(decoded->raft_envelope_cutover_index, 0u);  // v1: cutover = 0
}

TEST(SnapshotHeaderTest, V2Golden) {
  const FsmHeader header{.version = FsmHeaderVersion::kV2,
                         .clock_ceiling_ms = kCeiling,
                         .raft_envelope_cutover_index = 150};
  absl::StatusOr<std::string> encoded = EncodeFsmHeader(header);
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(HexOf(*encoded), kV2Golden);
  EXPECT_EQ(encoded->size(), kV2HeaderSize);

  absl::StatusOr<FsmHeader> decoded = ParseHeader(FromHex(kV2Golden));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, header);
}

TEST(SnapshotHeaderTest, HeaderReadConsumesExactlyTheHeader) {
  for (std::string_view golden : {kV1Golden, kV2Golden}) {
    const std::string bytes = FromHex(golden) + "TSRROWS1";
    StringByteSource in(bytes);
    ASSERT_TRUE(ReadFsmHeader(in).ok());
    EXPECT_EQ(in.position(), bytes.size() - 8);
  }
}

TEST(SnapshotHeaderTest, V2ExtensionBytesConsumed) {
  const std::string bytes = "TSRSNAP2" + std::string("\x00\x14", 2) + BigEndian64(kCeiling) +
                            BigEndian64(150) + "EXT!" + "TSRROWS1";
  StringByteSource in(bytes);
  absl::StatusOr<FsmHeader> header = ReadFsmHeader(in);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->clock_ceiling_ms, kCeiling);
  EXPECT_EQ(header->raft_envelope_cutover_index, 150u);
  char next[8];
  ASSERT_EQ(*ReadFull(in, next, sizeof(next)), sizeof(next));
  EXPECT_EQ(std::string_view(next, 8), "TSRROWS1");  // the body starts after the 4 extra bytes
}

TEST(SnapshotHeaderTest, V2LenBelow16Rejected) {
  const std::string bytes = "TSRSNAP2" + std::string("\x00\x0f", 2) + std::string(64, '\0');
  EXPECT_EQ(HeaderErrc(bytes), SnapshotErrc::kSnapshotHeaderInvalidLength);
  EXPECT_EQ(HeaderErrc("TSRSNAP2" + std::string(2 + 64, '\0')),  // len 0
            SnapshotErrc::kSnapshotHeaderInvalidLength);
}

TEST(SnapshotHeaderTest, V2LenAbove1024Rejected) {
  const std::string bytes = "TSRSNAP2" + std::string("\x04\x01", 2) + std::string(2048, '\0');
  EXPECT_EQ(HeaderErrc(bytes), SnapshotErrc::kSnapshotHeaderInvalidLength);
  EXPECT_EQ(HeaderErrc("TSRSNAP2" + std::string("\xff\xff", 2) + std::string(2048, '\0')),
            SnapshotErrc::kSnapshotHeaderInvalidLength);
}

TEST(SnapshotHeaderTest, V2Len1024Accepted) {
  const std::string bytes = "TSRSNAP2" + std::string("\x04\x00", 2) + BigEndian64(7) +
                            BigEndian64(9) + std::string(1024 - 16, 'x') + "TSRROWS1";
  StringByteSource in(bytes);
  absl::StatusOr<FsmHeader> header = ReadFsmHeader(in);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->clock_ceiling_ms, 7u);
  EXPECT_EQ(header->raft_envelope_cutover_index, 9u);
  EXPECT_EQ(in.position(), bytes.size() - 8);
}

TEST(SnapshotHeaderTest, UnknownTesseraMagicRejected) {
  for (char eighth : {'0', '3', '9', 'X', '\0', '\xff'}) {
    const std::string bytes =
        "TSRSNAP" + std::string(1, eighth) + BigEndian64(kCeiling) + std::string(32, '\0');
    const absl::Status status = ParseHeader(bytes).status();
    EXPECT_EQ(GetSnapshotErrc(status), SnapshotErrc::kSnapshotHeaderUnknownMagic) << eighth;
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST(SnapshotHeaderTest, ForeignMagicRejected) {
  // No headerless format exists: rows-first data, lower case, zeros, a leveldb log all fail.
  for (std::string_view magic : std::initializer_list<std::string_view>{
           "TSRROWS1", "tsrsnap1", std::string_view("\0\0\0\0\0\0\0\0", 8), "SNAP1TSR",
           "RocksDB!"}) {
    const std::string bytes = std::string(magic) + std::string(32, '\0');
    EXPECT_EQ(HeaderErrc(bytes), SnapshotErrc::kSnapshotHeaderUnknownMagic) << HexOf(magic);
  }
}

TEST(SnapshotHeaderTest, ShortStreamRejected) {
  EXPECT_EQ(HeaderErrc("TSRSNAP"), SnapshotErrc::kSnapshotHeaderTruncated);  // 7 bytes
  EXPECT_EQ(HeaderErrc(""), SnapshotErrc::kSnapshotHeaderTruncated);
  // Every proper prefix of both headers (and of a v2 header with extension) is truncated.
  const std::string with_extension =
      "TSRSNAP2" + std::string("\x00\x14", 2) + BigEndian64(1) + BigEndian64(2) + "EXT!";
  for (const std::string& full : {FromHex(kV1Golden), FromHex(kV2Golden), with_extension}) {
    for (size_t n = 0; n < full.size(); ++n) {
      EXPECT_EQ(HeaderErrc(full.substr(0, n)), SnapshotErrc::kSnapshotHeaderTruncated)
          << HexOf(full.substr(0, n));
    }
    EXPECT_TRUE(ParseHeader(full).ok());
  }
}

TEST(SnapshotHeaderTest, IoErrorSurfaces) {
  // A read failure at every point inside the header is kIo, never truncated or a magic error.
  for (const std::string& full : {FromHex(kV1Golden), FromHex(kV2Golden)}) {
    for (size_t n = 0; n < full.size(); ++n) {
      FailingByteSource in(full.substr(0, n));
      const absl::Status status = ReadFsmHeader(in).status();
      EXPECT_EQ(GetSnapshotErrc(status), SnapshotErrc::kIo) << n << ": " << status;
      EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    }
  }
}

TEST(SnapshotHeaderTest, V1CannotCarryCutover) {
  const absl::StatusOr<std::string> encoded = EncodeFsmHeader(
      {.version = FsmHeaderVersion::kV1, .clock_ceiling_ms = 1, .raft_envelope_cutover_index = 5});
  EXPECT_EQ(encoded.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SnapshotHeaderTest, WriterPicksV1UntilCutover) {
  FsmHeaderChoice before = ChooseFsmHeader(kCeiling, /*meta_cutover_index=*/0, /*header_latch=*/0);
  EXPECT_EQ(before.header, (FsmHeader{.version = FsmHeaderVersion::kV1,
                                      .clock_ceiling_ms = kCeiling,
                                      .raft_envelope_cutover_index = 0}));
  EXPECT_FALSE(before.meta_below_latch);
  EXPECT_EQ(HexOf(*EncodeFsmHeader(before.header)), kV1Golden);

  FsmHeaderChoice after = ChooseFsmHeader(kCeiling, 150, 0);
  EXPECT_EQ(after.header.version, FsmHeaderVersion::kV2);
  EXPECT_EQ(after.header.raft_envelope_cutover_index, 150u);
  EXPECT_FALSE(after.meta_below_latch);
  EXPECT_EQ(HexOf(*EncodeFsmHeader(after.header)), kV2Golden);

  // Latch and meta agree (the steady state after the first v2 snapshot).
  FsmHeaderChoice steady = ChooseFsmHeader(kCeiling, 150, 150);
  EXPECT_EQ(steady.header.raft_envelope_cutover_index, 150u);
  EXPECT_FALSE(steady.meta_below_latch);
}

TEST(SnapshotHeaderTest, WriterNoDowngradeLatch) {
  // meta forced to 0 after a v2 snapshot with cutover 150: still v2 with 150, and flagged so the
  // caller logs its one ERROR.
  FsmHeaderChoice choice = ChooseFsmHeader(kCeiling, /*meta_cutover_index=*/0,
                                           /*header_latch=*/150);
  EXPECT_EQ(choice.header.version, FsmHeaderVersion::kV2);
  EXPECT_EQ(choice.header.raft_envelope_cutover_index, 150u);
  EXPECT_TRUE(choice.meta_below_latch);

  FsmHeaderChoice lower = ChooseFsmHeader(kCeiling, 120, 150);
  EXPECT_EQ(lower.header.raft_envelope_cutover_index, 150u);
  EXPECT_TRUE(lower.meta_below_latch);

  FsmHeaderChoice higher = ChooseFsmHeader(kCeiling, 200, 150);  // a later cutover moves forward
  EXPECT_EQ(higher.header.raft_envelope_cutover_index, 200u);
  EXPECT_FALSE(higher.meta_below_latch);
}

// ---- Body ----------------------------------------------------------------------------------

using Rows = std::vector<std::pair<std::string, std::string>>;

// Reads every row of `body`; the error, or the rows read.
absl::StatusOr<Rows> ReadBody(std::string_view body, bool skip_values = false) {
  StringByteSource in(body);
  FsmBodyReader reader(in);
  Rows rows;
  std::string key;
  std::string value;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(&key, skip_values ? nullptr : &value);
    if (!more.ok()) return more.status();
    if (!*more) break;
    rows.emplace_back(key, skip_values ? std::string() : value);
  }
  EXPECT_EQ(reader.rows(), rows.size());
  return rows;
}

SnapshotErrc BodyErrc(std::string_view body) { return GetSnapshotErrc(ReadBody(body).status()); }

TEST(FsmBodyTest, GoldenBytes) {
  const std::string body = Body({{"a", "xy"}, {"b", ""}}, 2);
  EXPECT_EQ(HexOf(body),
            "545352524f575331"  // "TSRROWS1"
            "00000001"
            "61"
            "00000002"
            "7879"  // key "a", value "xy"
            "00000001"
            "62"
            "00000000"  // key "b", empty value
            "ffffffff"
            "0000000000000002");  // end marker, row_count 2
}

TEST(FsmBodyTest, RoundTrip) {
  Rows rows = {{"", "empty key sorts first"},
               {std::string("\x00", 1), "zero byte"},
               {"a", ""},
               {"ab", std::string(1000, 'v')},
               {"b", "x"},
               {std::string("\x7f", 1), "del"},
               {std::string("\x80", 1), "bytes compare unsigned"},
               {std::string("\xff\xff", 2), "last"}};
  const std::string body = Body(rows, rows.size());
  absl::StatusOr<Rows> read = ReadBody(body);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, rows);

  absl::StatusOr<Rows> skipped = ReadBody(body, /*skip_values=*/true);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  ASSERT_EQ(skipped->size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ((*skipped)[i].first, rows[i].first);
}

TEST(FsmBodyTest, EmptyBody) {
  absl::StatusOr<Rows> read = ReadBody(Body({}, 0));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
}

TEST(FsmBodyTest, FinishedReaderStaysFinished) {
  const std::string body = Body({{"k", "v"}}, 1);
  StringByteSource in(body);
  FsmBodyReader reader(in);
  std::string key, value;
  EXPECT_TRUE(*reader.Next(&key, &value));
  EXPECT_FALSE(*reader.Next(&key, &value));
  EXPECT_FALSE(*reader.Next(&key, &value));
}

TEST(FsmBodyTest, StructureViolationsRejected) {
  const std::string valid = Body({{"a", "1"}, {"b", "2"}}, 2);
  const std::pair<const char*, std::string> cases[] = {
      {"unsorted keys", Body({{"b", "1"}, {"a", "2"}}, 2)},
      {"duplicate key", Body({{"a", "1"}, {"a", "2"}}, 2)},
      {"row_count too high", Body({{"a", "1"}, {"b", "2"}}, 3)},
      {"row_count too low", Body({{"a", "1"}, {"b", "2"}}, 1)},
      {"row_count of empty body", Body({}, 1)},
      {"one trailing byte", valid + "x"},
      {"a second body", valid + valid},
      {"bad body magic", "TSRROWS2" + valid.substr(8)},
      {"key over 1 MiB", "TSRROWS1" + BigEndian32(kFsmMaxKeySize + 1) + std::string(64, 'k')},
      {"value over 256 MiB",
       "TSRROWS1" + BigEndian32(1) + "k" + BigEndian32(kFsmMaxValueSize + 1) + "vvvv"},
      {"value_len past the end", "TSRROWS1" + BigEndian32(1) + "k" + BigEndian32(100) + "v"},
      {"key_len past the end", "TSRROWS1" + BigEndian32(100) + "k"},
  };
  for (const auto& [what, body] : cases) {
    const absl::Status status = ReadBody(body).status();
    EXPECT_EQ(GetSnapshotErrc(status), SnapshotErrc::kSnapshotBodyInvalid)
        << what << ": " << status;
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << what;
  }
  EXPECT_TRUE(ReadBody(valid).ok());
}

TEST(FsmBodyTest, LimitsAreInclusive) {
  const std::string max_key(kFsmMaxKeySize, 'k');
  absl::StatusOr<Rows> read = ReadBody(Body({{max_key, "v"}}, 1), /*skip_values=*/true);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(CheckFsmRow(false, "", max_key, kFsmMaxValueSize).ok());
  EXPECT_FALSE(CheckFsmRow(false, "", max_key + "k", 0).ok());
  EXPECT_FALSE(CheckFsmRow(false, "", "k", uint64_t{kFsmMaxValueSize} + 1).ok());
}

TEST(FsmBodyTest, EveryTruncationRejected) {
  const std::string body = Body({{"alpha", "one"}, {"beta", "two"}}, 2);
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_EQ(BodyErrc(body.substr(0, n)), SnapshotErrc::kSnapshotBodyInvalid) << n;
  }
}

TEST(FsmBodyTest, IoErrorSurfaces) {
  const std::string body = Body({{"alpha", "one"}, {"beta", "two"}}, 2);
  for (size_t n = 0; n <= body.size(); ++n) {
    FailingByteSource in(body.substr(0, n));
    FsmBodyReader reader(in);
    std::string key, value;
    absl::Status status;
    for (;;) {
      absl::StatusOr<bool> more = reader.Next(&key, &value);
      if (!more.ok()) {
        status = more.status();
        break;
      }
      ASSERT_TRUE(*more) << "a failing source never reaches a clean end";
    }
    EXPECT_EQ(GetSnapshotErrc(status), SnapshotErrc::kIo) << n << ": " << status;
    // The error is sticky.
    EXPECT_EQ(GetSnapshotErrc(reader.Next(&key, &value).status()), SnapshotErrc::kIo);
  }
}

}  // namespace
}  // namespace tessera::shard
