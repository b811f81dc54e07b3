// Typed errors of encryption at rest (spec/encryption.md §1–§13), carried in an absl::Status
// payload so callers switch on the errc while logs and RPC messages still read well.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace tessera::shard::encryption {

// Values are stable: they never appear on disk, but keep them fixed so logs stay comparable.
enum class EncryptionErrc {
  kOk = 0,
  // Startup guards (§13), in the order they are checked.
  kSodiumInit = 1,
  kKekSourceConflict = 2,
  kKekRequiredWithFlag = 3,
  kKekFileInsecure = 4,
  kKekFileSize = 5,
  kKekInsideDataDir = 6,
  kKekEnvInvalid = 7,
  kSidecarPathRequired = 8,
  kSidecarPresentWithoutFlag = 9,
  kUnsupportedFilesystem = 10,
  kSidecarInsecure = 11,
  kSidecarCorrupt = 12,
  kSidecarVersion = 13,
  kKekMismatch = 14,
  kSidecarMissing = 15,
  kSidecarBehindRaftLog = 16,
  kEnvelopeCutoverDivergence = 17,
  kKeyUnavailable = 18,  // retryable: a key id this node does not (yet) hold
  // Envelopes and value headers (§5, §7).
  kEnvelopeVersion = 19,
  kEnvelopeFlag = 20,
  kEnvelopeShort = 21,
  kEncryptedReadIntegrity = 22,  // tag mismatch: never yields plaintext
  kValueHeaderReserved = 23,
  kNoCipher = 24,  // an enveloped value read by a store opened without a cipher
  kRaftUnwrapFailed = 25,
  // State-machine ops and admin (§8, §11, §12).
  kEncryptionApply = 26,
  kEncryptionNotBootstrapped = 27,
  kCapabilityCheckFailed = 28,
  kCutoverKeyIdStale = 29,
  kMalformedMember = 30,
  kBadDialer = 31,
  kMismatchedResponder = 32,
  kProbeTimeout = 33,
  kIo = 34,  // errno cause in the message
};

// "kSodiumInit", ...; "kUnknownEncryptionErrc" for a value outside the enum.
std::string_view EncryptionErrcName(EncryptionErrc errc);

// The absl code an errc is reported with (kOk for kOk).
absl::StatusCode EncryptionErrcCode(EncryptionErrc errc);

// A status with EncryptionErrcCode(errc) whose message is "<errc name>: <detail>" and whose
// payload carries the errc. OK for kOk.
absl::Status EncryptionError(EncryptionErrc errc, std::string_view detail = {});

// kIo naming the operation, the path and the errno cause.
absl::Status EncryptionIoError(std::string_view operation, std::string_view path, int errno_value);

// The errc carried by `status`; kOk for OK or a status not made by EncryptionError.
EncryptionErrc GetEncryptionErrc(const absl::Status& status);

}  // namespace tessera::shard::encryption
