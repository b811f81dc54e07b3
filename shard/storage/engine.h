// The shard process's one RocksDB: column families `raftlog`, `data` and `meta` for every local
// group, opened with the settings of snapshots-and-cold-start.md §0, and the one write path.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/write_batch.h"
#include "shard/storage/keys.h"
#include "shard/storage/row_cache.h"

namespace tessera::shard {
namespace encryption {
class StorageCipher;
}

inline constexpr char kRaftLogColumnFamily[] = "raftlog";
inline constexpr char kDataColumnFamily[] = "data";
inline constexpr char kMetaColumnFamily[] = "meta";

struct EngineOptions {
  // The RocksDB environment; null = rocksdb::Env::Default(). Tests inject a faulty file system.
  std::shared_ptr<rocksdb::Env> env;
  // Called after a synced write failed and the fatal line was printed. It must not return in
  // production: null means std::abort(). A test hook may return; Write then reports the error.
  std::function<void()> on_sync_failure;
  // Capacity of the cache of cleartext `data` rows for reads (row_cache.h); 0 disables it.
  size_t read_cache_bytes = size_t{64} << 20;
};

// The durable applied index of a group (snapshots-and-cold-start.md §3).
struct AppliedIndex {
  uint64_t value = 0;
  bool present = false;

  bool operator==(const AppliedIndex&) const = default;
};

// Thread-safe as RocksDB is: any thread may read or write. Column family handles live as long
// as the engine.
class StorageEngine {
 public:
  // Opens (creating directories, the database and missing column families) <data_dir>/rocksdb.
  static absl::StatusOr<std::unique_ptr<StorageEngine>> Open(const std::string& data_dir,
                                                             const EngineOptions& options);
  ~StorageEngine();
  StorageEngine(const StorageEngine&) = delete;
  StorageEngine& operator=(const StorageEngine&) = delete;

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* raftlog() const { return raftlog_; }
  rocksdb::ColumnFamilyHandle* data() const { return data_; }
  rocksdb::ColumnFamilyHandle* meta() const { return meta_; }

  // Writes the batch atomically across column families, always through the WAL, and keeps the
  // read cache from answering older than the database (row_cache.h). With sync, the
  // WAL is fsynced before returning; if that fails the process stops (a log entry or vote that
  // may not be durable must never be acknowledged): one line on stderr, then on_sync_failure.
  absl::Status Write(rocksdb::WriteBatch& batch, bool sync);

  // meta:applied_index of the group: absent when the key is missing, its value is not 8 bytes,
  // or meta:restore_marker is present. A RocksDB error is returned as UNAVAILABLE.
  absl::StatusOr<AppliedIndex> LastAppliedIndex(GroupId gid) const;

  // Flushes memtables and closes the database; the destructor does it too (reporting a failure
  // on stderr). Only for an orderly shutdown: durability never depends on it.
  absl::Status Close();

  // Encryption at rest (spec/encryption.md §7): the cipher every `data` row read and write goes
  // through (shard/data/store.cc). Null = a store opened without a cipher: it writes cleartext
  // and refuses enveloped values with "no cipher configured". Set once at startup, before
  // serving; the cipher outlives the engine's use of it. Setting it empties the read cache.
  void set_storage_cipher(const encryption::StorageCipher* cipher) {
    storage_cipher_.store(cipher, std::memory_order_release);
    row_cache_->Clear();
  }
  const encryption::StorageCipher* storage_cipher() const {
    return storage_cipher_.load(std::memory_order_acquire);
  }

  // The read cache of `data` rows (shard/data/store.cc's GetRow, for read-only contexts).
  RowCache* row_cache() const { return row_cache_.get(); }

 private:
  StorageEngine() = default;

  std::shared_ptr<rocksdb::Env> env_;  // kept alive for db_
  std::function<void()> on_sync_failure_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_cf_ =
      nullptr;  // owned by db_'s lifetime; destroyed in Close
  rocksdb::ColumnFamilyHandle* raftlog_ = nullptr;
  rocksdb::ColumnFamilyHandle* data_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  std::atomic<const encryption::StorageCipher*> storage_cipher_{nullptr};
  std::unique_ptr<RowCache> row_cache_;
};

// RocksDB status → absl status (UNAVAILABLE for I/O, DATA_LOSS for corruption), with context.
absl::Status FromRocksStatus(const rocksdb::Status& s, std::string_view context);

}  // namespace tessera::shard
