// SnapshotErrc: every §8 code has its name, its absl code, and survives the status payload.
#include "shard/snapshot/snapshot_errc.h"

#include <cerrno>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace tessera::shard {
namespace {

struct ErrcRow {
  SnapshotErrc errc;
  const char* name;
  absl::StatusCode code;
};

// The §8 table, verbatim.
constexpr ErrcRow kTable[] = {
    {SnapshotErrc::kSnapshotTooSmall, "kSnapshotTooSmall", absl::StatusCode::kDataLoss},
    {SnapshotErrc::kSnapshotTokenCrc, "kSnapshotTokenCrc", absl::StatusCode::kDataLoss},
    {SnapshotErrc::kSnapshotFileCrc, "kSnapshotFileCrc", absl::StatusCode::kDataLoss},
    {SnapshotErrc::kSnapshotNotFound, "kSnapshotNotFound", absl::StatusCode::kNotFound},
    {SnapshotErrc::kSnapshotTokenInvalid, "kSnapshotTokenInvalid", absl::StatusCode::kDataLoss},
    {SnapshotErrc::kSnapshotIndexMismatch, "kSnapshotIndexMismatch", absl::StatusCode::kDataLoss},
    {SnapshotErrc::kSnapshotTooLarge, "kSnapshotTooLarge", absl::StatusCode::kResourceExhausted},
    {SnapshotErrc::kSnapshotHeaderUnknownMagic, "kSnapshotHeaderUnknownMagic",
     absl::StatusCode::kFailedPrecondition},
    {SnapshotErrc::kSnapshotHeaderInvalidLength, "kSnapshotHeaderInvalidLength",
     absl::StatusCode::kDataLoss},
    {SnapshotErrc::kSnapshotHeaderTruncated, "kSnapshotHeaderTruncated",
     absl::StatusCode::kDataLoss},
    {SnapshotErrc::kSnapshotBodyInvalid, "kSnapshotBodyInvalid", absl::StatusCode::kDataLoss},
    {SnapshotErrc::kAppliedAheadOfCommit, "kAppliedAheadOfCommit", absl::StatusCode::kDataLoss},
    {SnapshotErrc::kCorruptGroupState, "kCorruptGroupState", absl::StatusCode::kDataLoss},
    {SnapshotErrc::kEnvelopeCutoverDivergence, "kEnvelopeCutoverDivergence",
     absl::StatusCode::kFailedPrecondition},
    {SnapshotErrc::kIo, "kIo", absl::StatusCode::kUnavailable},
};

TEST(SnapshotErrcTest, EveryCodeHasItsNameAndAbslCode) {
  for (const ErrcRow& row : kTable) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(SnapshotErrcName(row.errc), row.name);
    EXPECT_EQ(SnapshotErrcCode(row.errc), row.code);
    const absl::Status status = SnapshotError(row.errc, "detail here");
    EXPECT_EQ(status.code(), row.code);
    EXPECT_EQ(std::string(status.message()), std::string(row.name) + ": detail here");
    EXPECT_EQ(GetSnapshotErrc(status), row.errc);
  }
}

TEST(SnapshotErrcTest, EmptyDetailIsJustTheName) {
  EXPECT_EQ(std::string(SnapshotError(SnapshotErrc::kSnapshotFileCrc).message()),
            "kSnapshotFileCrc");
}

TEST(SnapshotErrcTest, OkAndForeignStatusesCarryNoErrc) {
  EXPECT_TRUE(SnapshotError(SnapshotErrc::kOk, "x").ok());
  EXPECT_EQ(GetSnapshotErrc(absl::OkStatus()), SnapshotErrc::kOk);
  EXPECT_EQ(GetSnapshotErrc(absl::DataLossError("kSnapshotFileCrc: looks alike")),
            SnapshotErrc::kOk);
}

TEST(SnapshotErrcTest, ErrcSurvivesCopies) {
  absl::Status status = SnapshotError(SnapshotErrc::kSnapshotBodyInvalid, "x");
  absl::Status copy = status;
  EXPECT_EQ(GetSnapshotErrc(copy), SnapshotErrc::kSnapshotBodyInvalid);
}

TEST(SnapshotErrcTest, IoErrorCarriesOperationPathAndCause) {
  const absl::Status status = SnapshotIoError("open", "/d/x.fsm", ENOENT);
  EXPECT_EQ(GetSnapshotErrc(status), SnapshotErrc::kIo);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StartsWith(status.message(), "kIo: open /d/x.fsm: "));
  EXPECT_TRUE(absl::StrContains(status.message(), "No such file or directory"));
}

}  // namespace
}  // namespace tessera::shard
