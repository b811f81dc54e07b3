// SnapshotErrc names, their canonical absl codes and the status payload that carries them.
#include "shard/snapshot/snapshot_errc.h"

#include <string>
#include <system_error>

#include "absl/strings/cord.h"

namespace tessera::shard {
namespace {
// Debian builds abseil with its own string_view type, distinct from std::string_view.
constexpr absl::string_view kPayloadUrl = "tessera.shard/snapshot-errc";

constexpr SnapshotErrc kAllErrcs[] = {
    SnapshotErrc::kSnapshotTooSmall,
    SnapshotErrc::kSnapshotTokenCrc,
    SnapshotErrc::kSnapshotFileCrc,
    SnapshotErrc::kSnapshotNotFound,
    SnapshotErrc::kSnapshotTokenInvalid,
    SnapshotErrc::kSnapshotIndexMismatch,
    SnapshotErrc::kSnapshotTooLarge,
    SnapshotErrc::kSnapshotHeaderUnknownMagic,
    SnapshotErrc::kSnapshotHeaderInvalidLength,
    SnapshotErrc::kSnapshotHeaderTruncated,
    SnapshotErrc::kSnapshotBodyInvalid,
    SnapshotErrc::kAppliedAheadOfCommit,
    SnapshotErrc::kCorruptGroupState,
    SnapshotErrc::kEnvelopeCutoverDivergence,
    SnapshotErrc::kIo,
};
}  // namespace

std::string_view SnapshotErrcName(SnapshotErrc errc) {
  switch (errc) {
    case SnapshotErrc::kOk:
      return "kOk";
    case SnapshotErrc::kSnapshotTooSmall:
      return "kSnapshotTooSmall";
    case SnapshotErrc::kSnapshotTokenCrc:
      return "kSnapshotTokenCrc";
    case SnapshotErrc::kSnapshotFileCrc:
      return "kSnapshotFileCrc";
    case SnapshotErrc::kSnapshotNotFound:
      return "kSnapshotNotFound";
    case SnapshotErrc::kSnapshotTokenInvalid:
      return "kSnapshotTokenInvalid";
    case SnapshotErrc::kSnapshotIndexMismatch:
      return "kSnapshotIndexMismatch";
    case SnapshotErrc::kSnapshotTooLarge:
      return "kSnapshotTooLarge";
    case SnapshotErrc::kSnapshotHeaderUnknownMagic:
      return "kSnapshotHeaderUnknownMagic";
    case SnapshotErrc::kSnapshotHeaderInvalidLength:
      return "kSnapshotHeaderInvalidLength";
    case SnapshotErrc::kSnapshotHeaderTruncated:
      return "kSnapshotHeaderTruncated";
    case SnapshotErrc::kSnapshotBodyInvalid:
      return "kSnapshotBodyInvalid";
    case SnapshotErrc::kAppliedAheadOfCommit:
      return "kAppliedAheadOfCommit";
    case SnapshotErrc::kCorruptGroupState:
      return "kCorruptGroupState";
    case SnapshotErrc::kEnvelopeCutoverDivergence:
      return "kEnvelopeCutoverDivergence";
    case SnapshotErrc::kIo:
      return "kIo";
  }
  return "kUnknownSnapshotErrc";
}

absl::StatusCode SnapshotErrcCode(SnapshotErrc errc) {
  switch (errc) {
    case SnapshotErrc::kOk:
      return absl::StatusCode::kOk;
    case SnapshotErrc::kSnapshotNotFound:
      return absl::StatusCode::kNotFound;
    case SnapshotErrc::kSnapshotTooLarge:
      return absl::StatusCode::kResourceExhausted;
    case SnapshotErrc::kSnapshotHeaderUnknownMagic:
    case SnapshotErrc::kEnvelopeCutoverDivergence:
      return absl::StatusCode::kFailedPrecondition;
    case SnapshotErrc::kIo:
      return absl::StatusCode::kUnavailable;
    case SnapshotErrc::kSnapshotTooSmall:
    case SnapshotErrc::kSnapshotTokenCrc:
    case SnapshotErrc::kSnapshotFileCrc:
    case SnapshotErrc::kSnapshotTokenInvalid:
    case SnapshotErrc::kSnapshotIndexMismatch:
    case SnapshotErrc::kSnapshotHeaderInvalidLength:
    case SnapshotErrc::kSnapshotHeaderTruncated:
    case SnapshotErrc::kSnapshotBodyInvalid:
    case SnapshotErrc::kAppliedAheadOfCommit:
    case SnapshotErrc::kCorruptGroupState:
      return absl::StatusCode::kDataLoss;
  }
  return absl::StatusCode::kInternal;
}

absl::Status SnapshotError(SnapshotErrc errc, std::string_view detail) {
  if (errc == SnapshotErrc::kOk) return absl::OkStatus();
  const std::string_view name = SnapshotErrcName(errc);
  std::string message(name);
  if (!detail.empty()) {
    message += ": ";
    message.append(detail.data(), detail.size());
  }
  absl::Status status(SnapshotErrcCode(errc), message);
  status.SetPayload(kPayloadUrl, absl::Cord(absl::string_view(name.data(), name.size())));
  return status;
}

absl::Status SnapshotIoError(std::string_view operation, std::string_view path, int errno_value) {
  std::string detail(operation);
  if (!path.empty()) {
    detail += ' ';
    detail.append(path.data(), path.size());
  }
  detail += ": ";
  detail += std::error_code(errno_value, std::generic_category()).message();
  return SnapshotError(SnapshotErrc::kIo, detail);
}

SnapshotErrc GetSnapshotErrc(const absl::Status& status) {
  if (status.ok()) return SnapshotErrc::kOk;
  const auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return SnapshotErrc::kOk;
  const std::string name(*payload);
  for (SnapshotErrc errc : kAllErrcs) {
    if (SnapshotErrcName(errc) == name) return errc;
  }
  return SnapshotErrc::kOk;
}

}  // namespace tessera::shard
