// Typed errors of snapshots and cold start (spec/snapshots-and-cold-start.md §8), carried in an
// absl::Status payload so callers switch on the errc while logs still read well.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace tessera::shard {

// Values are stable: they never appear on disk, but keep them fixed so logs stay comparable.
enum class SnapshotErrc {
  kOk = 0,                           // OK status, or a status not made by SnapshotError
  kSnapshotTooSmall = 1,             // file size < kFsmMinFileSize
  kSnapshotTokenCrc = 2,             // footer != token CRC (metadata suspect)
  kSnapshotFileCrc = 3,              // computed payload CRC != footer (file corrupt)
  kSnapshotNotFound = 4,             // referenced file missing
  kSnapshotTokenInvalid = 5,         // token decode failed
  kSnapshotIndexMismatch = 6,        // token index != snapshot metadata index
  kSnapshotTooLarge = 7,             // over --raftMaxSnapshotBytes
  kSnapshotHeaderUnknownMagic = 8,   // unknown format; operator must upgrade
  kSnapshotHeaderInvalidLength = 9,  // v2 len < 16 or > 1024
  kSnapshotHeaderTruncated = 10,     // stream ends inside the header
  kSnapshotBodyInvalid = 11,         // body structure or limits violated
  kAppliedAheadOfCommit = 12,        // durable applied index > hard state commit
  kCorruptGroupState = 13,           // durable state contradicts itself
  kEnvelopeCutoverDivergence = 14,   // header cutover vs meta cutover
  kIo = 15,                          // errno or RocksDB I/O error; the message carries the cause
};

// "kSnapshotTooSmall", ...; "kUnknownSnapshotErrc" for a value outside the enum.
std::string_view SnapshotErrcName(SnapshotErrc errc);

// The canonical absl code §8 assigns to `errc` (kOk for kOk).
absl::StatusCode SnapshotErrcCode(SnapshotErrc errc);

// A status with the §8 code whose message is "<errc name>: <detail>" and whose payload carries
// the errc. OK for kOk.
absl::Status SnapshotError(SnapshotErrc errc, std::string_view detail = {});

// kIo whose message names the operation and the errno cause, e.g.
// "kIo: open /d/snapshots/...: No such file or directory".
absl::Status SnapshotIoError(std::string_view operation, std::string_view path, int errno_value);

// The errc carried by `status`; kOk for OK or for a status not made by SnapshotError.
SnapshotErrc GetSnapshotErrc(const absl::Status& status);

}  // namespace tessera::shard
