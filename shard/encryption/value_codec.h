// The value header of every `data` row and the read/write dispatch on it
// (spec/encryption.md §5, §7). Stored value = flags u8 ‖ body:
//   bit 0     tombstone (unused by Tessera's data model: a set bit is refused)
//   bits 1-2  encryption_state: 00 cleartext (body = value), 01 envelope v1 (body = storage
//             envelope, envelope.h), 10/11 reserved → kValueHeaderReserved
//   bits 3-7  reserved, zero
// Reads dispatch on these bits only, never on the body's bytes. Documented in docs/formats.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "shard/encryption/keystore.h"
#include "shard/encryption/state_cache.h"

namespace tessera::shard::encryption {

inline constexpr uint8_t kValueTombstoneBit = 0x01;
inline constexpr uint8_t kValueStateMask = 0x06;
inline constexpr uint8_t kValueStateCleartext = 0x00;
inline constexpr uint8_t kValueStateEnvelopeV1 = 0x02;  // state 01 in bits 1-2
inline constexpr uint8_t kValueReservedMask = 0xF8;
inline constexpr size_t kValueHeaderSize = 1;

// The node's storage cipher: its keystore and encryption state. Thread-safe (both are).
class StorageCipher {
 public:
  StorageCipher(std::shared_ptr<const Keystore> keys,
                std::shared_ptr<const EncryptionStateCache> state)
      : keys_(std::move(keys)), state_(std::move(state)) {}

  // The stored form of `value` for row `storage_key`: an envelope under the active storage DEK
  // once the storage envelope is active, cleartext before. Active with its key missing →
  // kKeyUnavailable (the apply halts; never a cleartext fallback).
  absl::StatusOr<std::string> Encode(std::string_view storage_key, std::string_view value) const;
  absl::StatusOr<std::string> Open(std::string_view storage_key, std::string_view envelope) const;

 private:
  std::shared_ptr<const Keystore> keys_;
  std::shared_ptr<const EncryptionStateCache> state_;
};

// Cleartext stored form (header 0x00): what a node without a cipher writes.
std::string EncodeCleartextValue(std::string_view value);

// Encodes through `cipher`, or as cleartext when it is null.
absl::StatusOr<std::string> EncodeStoredValue(const StorageCipher* cipher,
                                              std::string_view storage_key, std::string_view value);

// The value a stored row holds. Cleartext returns a view into `stored`; an envelope is opened
// into `*scratch` and a view into it is returned. Errors: empty row or set tombstone/reserved
// bits → kValueHeaderReserved; an envelope with a null cipher → FAILED_PRECONDITION
// "no cipher configured" (kNoCipher); envelope errors (envelope.h).
absl::StatusOr<std::string_view> DecodeStoredValue(const StorageCipher* cipher,
                                                   std::string_view storage_key,
                                                   std::string_view stored, std::string* scratch);

}  // namespace tessera::shard::encryption
