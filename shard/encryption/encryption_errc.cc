// EncryptionErrc names, their absl codes and the status payload that carries them.
#include "shard/encryption/encryption_errc.h"

#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace tessera::shard::encryption {
namespace {
// Debian builds abseil with its own string_view type, distinct from std::string_view.
constexpr absl::string_view kPayloadUrl = "tessera.shard/encryption-errc";
}  // namespace

std::string_view EncryptionErrcName(EncryptionErrc errc) {
  switch (errc) {
#define TESSERA_ERRC_NAME(name) \
  case EncryptionErrc::name:    \
    return #name;
    TESSERA_ERRC_NAME(kOk)
    TESSERA_ERRC_NAME(kSodiumInit)
    TESSERA_ERRC_NAME(kKekSourceConflict)
    TESSERA_ERRC_NAME(kKekRequiredWithFlag)
    TESSERA_ERRC_NAME(kKekFileInsecure)
    TESSERA_ERRC_NAME(kKekFileSize)
    TESSERA_ERRC_NAME(kKekInsideDataDir)
    TESSERA_ERRC_NAME(kKekEnvInvalid)
    TESSERA_ERRC_NAME(kSidecarPathRequired)
    TESSERA_ERRC_NAME(kSidecarPresentWithoutFlag)
    TESSERA_ERRC_NAME(kUnsupportedFilesystem)
    TESSERA_ERRC_NAME(kSidecarInsecure)
    TESSERA_ERRC_NAME(kSidecarCorrupt)
    TESSERA_ERRC_NAME(kSidecarVersion)
    TESSERA_ERRC_NAME(kKekMismatch)
    TESSERA_ERRC_NAME(kSidecarMissing)
    TESSERA_ERRC_NAME(kSidecarBehindRaftLog)
    TESSERA_ERRC_NAME(kEnvelopeCutoverDivergence)
    TESSERA_ERRC_NAME(kKeyUnavailable)
    TESSERA_ERRC_NAME(kEnvelopeVersion)
    TESSERA_ERRC_NAME(kEnvelopeFlag)
    TESSERA_ERRC_NAME(kEnvelopeShort)
    TESSERA_ERRC_NAME(kEncryptedReadIntegrity)
    TESSERA_ERRC_NAME(kValueHeaderReserved)
    TESSERA_ERRC_NAME(kNoCipher)
    TESSERA_ERRC_NAME(kRaftUnwrapFailed)
    TESSERA_ERRC_NAME(kEncryptionApply)
    TESSERA_ERRC_NAME(kEncryptionNotBootstrapped)
    TESSERA_ERRC_NAME(kCapabilityCheckFailed)
    TESSERA_ERRC_NAME(kCutoverKeyIdStale)
    TESSERA_ERRC_NAME(kMalformedMember)
    TESSERA_ERRC_NAME(kBadDialer)
    TESSERA_ERRC_NAME(kMismatchedResponder)
    TESSERA_ERRC_NAME(kProbeTimeout)
    TESSERA_ERRC_NAME(kIo)
#undef TESSERA_ERRC_NAME
  }
  return "kUnknownEncryptionErrc";
}

absl::StatusCode EncryptionErrcCode(EncryptionErrc errc) {
  switch (errc) {
    case EncryptionErrc::kOk:
      return absl::StatusCode::kOk;
    case EncryptionErrc::kKeyUnavailable:
    case EncryptionErrc::kProbeTimeout:
      return absl::StatusCode::kUnavailable;
    case EncryptionErrc::kEncryptedReadIntegrity:
    case EncryptionErrc::kValueHeaderReserved:
    case EncryptionErrc::kEnvelopeVersion:
    case EncryptionErrc::kEnvelopeFlag:
    case EncryptionErrc::kEnvelopeShort:
    case EncryptionErrc::kRaftUnwrapFailed:
      return absl::StatusCode::kDataLoss;
    case EncryptionErrc::kSidecarCorrupt:
    case EncryptionErrc::kEncryptionApply:
    case EncryptionErrc::kIo:
      return absl::StatusCode::kInternal;
    case EncryptionErrc::kMalformedMember:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kFailedPrecondition;
  }
}

absl::Status EncryptionError(EncryptionErrc errc, std::string_view detail) {
  if (errc == EncryptionErrc::kOk) return absl::OkStatus();
  std::string message(EncryptionErrcName(errc));
  if (!detail.empty())
    absl::StrAppend(&message, ": ", absl::string_view(detail.data(), detail.size()));
  absl::Status status(EncryptionErrcCode(errc), message);
  status.SetPayload(kPayloadUrl, absl::Cord(std::to_string(static_cast<int>(errc))));
  return status;
}

absl::Status EncryptionIoError(std::string_view operation, std::string_view path, int errno_value) {
  return EncryptionError(
      EncryptionErrc::kIo,
      absl::StrCat(absl::string_view(operation.data(), operation.size()), " ",
                   absl::string_view(path.data(), path.size()), ": ", std::strerror(errno_value)));
}

EncryptionErrc GetEncryptionErrc(const absl::Status& status) {
  if (status.ok()) return EncryptionErrc::kOk;
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) return EncryptionErrc::kOk;
  int value = 0;
  for (char c : std::string(*payload)) {
    if (c < '0' || c > '9') return EncryptionErrc::kOk;
    value = value * 10 + (c - '0');
    if (value > 1000) return EncryptionErrc::kOk;
  }
  return static_cast<EncryptionErrc>(value);
}

}  // namespace tessera::shard::encryption
