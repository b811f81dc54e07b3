// Data-encryption keys (spec/encryption.md §3): purposes, ids, and the 72-byte wrapped form
// nonce(24) ‖ XChaCha20-Poly1305(dek, aad = "TSRDEK" ‖ 0x01 ‖ purpose ‖ key_id BE, key = KEK).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "shard/encryption/secret.h"

namespace tessera::shard::encryption {

enum class DekPurpose : uint8_t { kStorage = 1, kRaft = 2 };

inline constexpr size_t kWrappedDekSize = 72;

// "storage" / "raft" (the sidecar's spelling).
std::string_view DekPurposeName(DekPurpose purpose);
std::optional<DekPurpose> ParseDekPurpose(std::string_view name);
std::optional<DekPurpose> DekPurposeFromByte(uint8_t value);

// Wraps `dek` under `kek`; the AAD binds purpose and id, so a wrapped key cannot be relabelled.
std::string WrapDek(const SecretBytes& kek, DekPurpose purpose, uint32_t key_id,
                    const SecretBytes& dek);
// kKekMismatch when `wrapped` does not authenticate under (kek, purpose, key_id) or is not 72
// bytes.
absl::StatusOr<SecretBytes> UnwrapDek(const SecretBytes& kek, DekPurpose purpose, uint32_t key_id,
                                      std::string_view wrapped);

// A new key id from `rng` (randombytes_random when empty), redrawn while 0 or `taken`.
uint32_t DrawKeyId(const std::function<bool(uint32_t)>& taken,
                   const std::function<uint32_t()>& rng = {});

}  // namespace tessera::shard::encryption
