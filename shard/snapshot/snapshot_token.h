// The snapshot token: the 17 bytes Tessera stores as raft snapshot metadata `data`, naming the
// snapshot index and the CRC32C footer of its .fsm file (spec/snapshots-and-cold-start.md §1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessera::shard {

// Layout: magic "TSRT" ‖ version u8 ‖ index u64 BE ‖ crc32c u32 BE.
inline constexpr std::string_view kSnapshotTokenMagic = "TSRT";
inline constexpr uint8_t kSnapshotTokenVersion = 0x01;
inline constexpr size_t kSnapshotTokenSize = 17;  // 4 + 1 + 8 + 4

struct SnapshotToken {
  uint64_t index = 0;   // raft index the snapshot covers; equals the metadata index
  uint32_t crc32c = 0;  // the .fsm file footer: CRC32C of its payload
  bool operator==(const SnapshotToken&) const = default;
};

std::string EncodeSnapshotToken(const SnapshotToken& token);

// True iff `data` has the token's size and magic (its version may still be unsupported).
bool IsSnapshotToken(std::string_view data);

// kSnapshotTokenInvalid for anything but a well-formed version-1 token, the empty value included.
absl::StatusOr<SnapshotToken> DecodeSnapshotToken(std::string_view data);

// Raft snapshot metadata `data`: empty means "no snapshot" (nullopt); anything else must be a
// token (kSnapshotTokenInvalid otherwise: fail closed).
absl::StatusOr<std::optional<SnapshotToken>> DecodeSnapshotData(std::string_view data);

// kSnapshotIndexMismatch unless token.index == metadata_index.
absl::Status CheckTokenIndex(const SnapshotToken& token, uint64_t metadata_index);

}  // namespace tessera::shard
