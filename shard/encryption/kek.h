// The key-encryption key (spec/encryption.md §2): 32 bytes from an owner-only file outside the
// data dir (--kekFile) or, for tests, from TESSERA_KEK_BASE64; and its public fingerprint.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "shard/encryption/secret.h"

namespace tessera::shard::encryption {

inline constexpr char kKekEnvVariable[] = "TESSERA_KEK_BASE64";
inline constexpr size_t kKekFingerprintSize = 16;
using KekFingerprint = std::array<uint8_t, kKekFingerprintSize>;

// O_NOFOLLOW open; a regular file owned by the euid with no group/other bits (kKekFileInsecure,
// which also covers a symlink), exactly 32 bytes (kKekFileSize), whose real path is not inside
// `data_dir` (kKekInsideDataDir; empty `data_dir` skips the check).
absl::StatusOr<SecretBytes> LoadKekFile(const std::string& path, const std::string& data_dir);

// Standard padded base64 decoding to exactly 32 bytes, else kKekEnvInvalid.
absl::StatusOr<SecretBytes> DecodeKekBase64(std::string_view base64);

// The configured KEK: nullopt when neither source is set; kKekSourceConflict when both are.
// `env_value` is the environment variable's value (null when unset). Logs a WARN for the env.
absl::StatusOr<std::optional<SecretBytes>> LoadKek(const std::string& kek_file,
                                                   const char* env_value,
                                                   const std::string& data_dir);

// Keyed BLAKE2b of a fixed label under the KEK: equal on nodes holding the same KEK, and says
// nothing about it.
KekFingerprint Fingerprint(const SecretBytes& kek);

}  // namespace tessera::shard::encryption
