// The RESP face of encryption read errors (spec/encryption.md §7): a key this node does not hold
// yet is retryable (-TRYAGAIN), an envelope that fails authentication is a data integrity
// failure (-ERR, counted per group) and never yields data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace tessera::shard::encryption {

inline constexpr char kKeyUnavailableReply[] = "TRYAGAIN encryption key unavailable";
inline constexpr char kIntegrityFailureReply[] = "ERR data integrity failure";

// The RESP error text (without the leading '-') for an encryption error of a command on
// `group`, nullopt for any other status. An integrity failure also increments
// tessera_encryption_read_integrity_failures_total{group}.
std::optional<std::string> EncryptionErrorReply(const absl::Status& status, uint64_t group);

// The counter's current value for `group` (tests and INFO).
double ReadIntegrityFailures(uint64_t group);

}  // namespace tessera::shard::encryption
