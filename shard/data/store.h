// The Redis data model's storage layer on the `data` column family (ARCHITECTURE §3.4,
// Kvrocks-style): one metadata row per key, sub-key rows per collection version, and the
// execution context every command runs in, at apply (writes, deterministic) or on the leader
// after a linearizable read barrier (reads).
//
// Rows of group `gid` (all integers big-endian):
//   gid ‖ 'M' ‖ user_key                                   metadata row
//   gid ‖ 'S' ‖ key_len u32 ‖ user_key ‖ version u64 ‖ sub   sub-key rows of a collection
// Metadata value:
//   type u8 ‖ expire_at_ms u64 (0 = no TTL) ‖ payload
//     string:      payload = the value bytes
//     collections: payload = version u64 ‖ size u64 ‖ type-specific fields
// A key whose expire_at_ms <= now reads as absent everywhere (lazy expiry); `now` is the
// entry's timestamp at apply and the leader's clock for reads, never a replica's own clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "shard/storage/engine.h"

namespace tessera::shard::data {

enum class KeyType : uint8_t { kString = 1, kHash = 2, kList = 3, kSet = 4, kZSet = 5 };
std::string_view KeyTypeName(KeyType type);  // TYPE's reply: "string", "hash", ...

struct Metadata {
  KeyType type = KeyType::kString;
  uint64_t expire_at_ms = 0;  // 0 = persistent
  std::string payload;        // string value, or collection header

  bool Expired(uint64_t now_ms) const { return expire_at_ms != 0 && expire_at_ms <= now_ms; }
};

std::string EncodeMetadata(const Metadata& m);
// DATA_LOSS on a value shorter than the fixed part or an unknown type byte.
absl::StatusOr<Metadata> DecodeMetadata(std::string_view value);

std::string MetadataKey(GroupId gid, std::string_view user_key);
// The first and past-the-end metadata keys of a group (KEYS, SCAN, DBSIZE, FLUSHDB).
std::string MetadataKeyBegin(GroupId gid);
std::string MetadataKeyEnd(GroupId gid);
// The user key of a metadata key (which must start with MetadataKeyBegin(gid)).
std::string_view UserKeyOf(std::string_view metadata_key);

// Where a command runs. Writes go into `batch` (indexed, so later commands of the same apply
// batch see earlier ones); reads see the batch over the database. `batch` is null for
// read-only execution on the leader.
struct ExecContext {
  StorageEngine* engine = nullptr;
  GroupId gid = 0;
  rocksdb::WriteBatchWithIndex* batch = nullptr;
  uint64_t now_ms = 0;  // entry timestamp (apply) / leader clock (reads)
  uint64_t seed = 0;    // entry index: the seed of every random choice

  bool read_only() const { return batch == nullptr; }
};

// Raw row access through the context (batch over database).
absl::StatusOr<std::optional<std::string>> GetRow(const ExecContext& ctx, std::string_view key);
void PutRow(ExecContext& ctx, std::string_view key, std::string_view value);
void DeleteRow(ExecContext& ctx, std::string_view key);

// The live metadata of `user_key`: nullopt when absent or expired at ctx.now_ms. An expired
// row found during a write is deleted in the same batch (the key is gone for every replica at
// this entry's time, so deleting it is deterministic).
absl::StatusOr<std::optional<Metadata>> LoadMetadata(ExecContext& ctx, std::string_view user_key);
void StoreMetadata(ExecContext& ctx, std::string_view user_key, const Metadata& m);
// Deletes the key: its metadata row, and for a collection its sub-key rows.
absl::Status DeleteKey(ExecContext& ctx, std::string_view user_key, const Metadata& m);

}  // namespace tessera::shard::data
