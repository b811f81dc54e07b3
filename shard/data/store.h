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
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "shard/storage/engine.h"

namespace tessera::shard::encryption {
class StorageCipher;
}

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
// Type and expire time only, without copying the payload (scans over many rows).
absl::StatusOr<Metadata> DecodeMetadataHead(std::string_view value);

std::string MetadataKey(GroupId gid, std::string_view user_key);
// The first and past-the-end metadata keys of a group (KEYS, SCAN, DBSIZE, FLUSHDB).
std::string MetadataKeyBegin(GroupId gid);
std::string MetadataKeyEnd(GroupId gid);
// The user key of a metadata key (which must start with MetadataKeyBegin(gid)).
std::string_view UserKeyOf(std::string_view metadata_key);

// Every value in `data` starts with the value header of shard/encryption/value_codec.h (its
// encryption state: cleartext or a storage envelope bound to the row key). GetRow, PutRow and
// RowIterator are the only ways rows are read and written, so they alone encode and decode it;
// everything above sees plain values.

// Where a command runs. Writes go into `batch` (indexed, so later commands of the same apply
// batch see earlier ones); reads see the batch over the database. `batch` is null for
// read-only execution on the leader.
struct ExecContext {
  StorageEngine* engine = nullptr;
  GroupId gid = 0;
  rocksdb::WriteBatchWithIndex* batch = nullptr;
  uint64_t now_ms = 0;           // entry timestamp (apply) / leader clock (reads)
  uint64_t seed = 0;             // entry index: the seed of every random choice
  uint32_t versions_issued = 0;  // NewCollectionVersion's per-entry counter
  // The first PutRow that could not encode its value (the storage envelope is active but its
  // key is missing): that row and every later one are not written, and the apply must halt.
  absl::Status write_status = absl::OkStatus();

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
// Deletes the key in O(1): its metadata row, and for a non-empty collection (per `m`'s header) a
// garbage row that queues its sub-key rows for background collection (gc.h).
absl::Status DeleteKey(ExecContext& ctx, std::string_view user_key, const Metadata& m);
// Deletes the metadata row of a collection whose last sub-key row the caller just deleted (its
// loaded header still counts the old size): nothing is left to collect.
void DeleteEmptyCollection(ExecContext& ctx, std::string_view user_key);

// ---- Collections (hash, list, set, zset) ----
// Metadata payload of a collection: version u64 ‖ size u64 ‖ extra (type-specific, e.g. a
// list's head and tail). The version names this incarnation of the key: sub-key rows carry it,
// so DEL or an overwrite drops only the metadata row (O(1)) and the old rows become
// unreachable garbage for background collection.
struct CollectionHeader {
  uint64_t version = 0;
  uint64_t size = 0;  // members / fields / elements
  std::string extra;
};
std::string EncodeCollectionHeader(const CollectionHeader& h);
// DATA_LOSS when shorter than 16 bytes.
absl::StatusOr<CollectionHeader> DecodeCollectionHeader(std::string_view payload);

// A collection key as a command sees it: live and of the expected type (`exists`), a live
// key of another type (`wrong_type`), or absent (neither).
struct CollectionKey {
  bool exists = false;
  bool wrong_type = false;
  Metadata meta;
  CollectionHeader header;
};
absl::StatusOr<CollectionKey> LoadCollection(ExecContext& ctx, std::string_view key, KeyType type);
// Gives a missing collection of `type` a fresh version, before its first sub-key is written.
void CreateCollectionIfMissing(ExecContext& ctx, KeyType type, CollectionKey& c);
// Writes the header back (keeping the TTL); a collection left empty is deleted.
absl::Status SaveCollection(ExecContext& ctx, std::string_view key, CollectionKey& c);

// A version for a collection created by the current entry, unique in the group: the entry
// index (ctx.seed) in the high 48 bits, a per-entry counter in the low 16.
uint64_t NewCollectionVersion(ExecContext& ctx);

// gid ‖ 'S' ‖ key_len u32 ‖ user_key ‖ version u64: the first bytes of every sub-key row of
// one collection version; SubKey appends the type's sub-key (field, member, index...).
std::string SubKeyPrefix(GroupId gid, std::string_view user_key, uint64_t version);
std::string SubKey(GroupId gid, std::string_view user_key, uint64_t version, std::string_view sub);
// The past-the-end key of every key starting with `prefix` (which is not all 0xff).
std::string PrefixEnd(std::string prefix);

// The data column family's rows below `end` as `ctx` sees them: the batch over the database
// when the context writes (WriteBatchWithIndex::NewIteratorWithBase), the database alone
// otherwise.
class RowIterator {
 public:
  RowIterator(const ExecContext& ctx, std::string end);
  RowIterator(const RowIterator&) = delete;
  RowIterator& operator=(const RowIterator&) = delete;

  void Seek(std::string_view key) {
    decoded_ = false;
    it_->Seek(rocksdb::Slice(key.data(), key.size()));
  }
  // The last row below `end`; entries of the batch past it are stepped over.
  void SeekToLast();
  // False past the end, and also at a row whose value does not decode (status() says why): a
  // scan stops there instead of seeing ciphertext or a partial value.
  bool Valid() const;
  void Next() {
    decoded_ = false;
    it_->Next();
  }
  void Prev() {
    decoded_ = false;
    it_->Prev();
  }
  std::string_view key() const { return {it_->key().data(), it_->key().size()}; }
  // The decoded value of the current row; only after Valid() returned true.
  std::string_view value() const { return value_; }
  absl::Status status() const;

 private:
  const encryption::StorageCipher* cipher_;
  mutable bool decoded_ = false;
  mutable std::string_view value_;
  mutable std::string scratch_;
  mutable absl::Status decode_status_;
  std::string end_;
  rocksdb::Slice upper_;
  rocksdb::ReadOptions options_;  // the base delta iterator keeps a pointer to it
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace tessera::shard::data
