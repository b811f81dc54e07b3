// StorageEngine: opens the shard's RocksDB with the spec's durability settings and owns the one
// write path, where a failed fsync stops the process instead of being reported and forgotten.
#include "shard/storage/engine.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/options.h"
#include "rocksdb/snapshot.h"
#include "shard/encryption/value_codec.h"

namespace tessera::shard {

absl::Status FromRocksStatus(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string msg =
      absl::StrCat(absl::string_view(context.data(), context.size()), ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::UnavailableError(msg);
}

absl::StatusOr<std::unique_ptr<StorageEngine>> StorageEngine::Open(const std::string& data_dir,
                                                                   const EngineOptions& options) {
  const std::filesystem::path dir = std::filesystem::path(data_dir) / "rocksdb";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("create ", dir.string(), ": ", ec.message()));
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // Recovery yields a prefix of the write history across column families, never a history with
  // holes (snapshots-and-cold-start.md §0).
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.atomic_flush = true;
  if (options.env != nullptr) db_options.env = options.env.get();

  const rocksdb::ColumnFamilyOptions cf_options;
  const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {rocksdb::kDefaultColumnFamilyName, cf_options},
      {kRaftLogColumnFamily, cf_options},
      {kDataColumnFamily, cf_options},
      {kMetaColumnFamily, cf_options},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir.string(), descriptors, &handles, &raw_db);
  if (!s.ok()) return FromRocksStatus(s, absl::StrCat("open ", dir.string()));

  auto engine = std::unique_ptr<StorageEngine>(new StorageEngine());
  engine->env_ = options.env;
  engine->on_sync_failure_ = options.on_sync_failure;
  engine->db_.reset(raw_db);
  engine->default_cf_ = handles[0];
  engine->raftlog_ = handles[1];
  engine->data_ = handles[2];
  engine->meta_ = handles[3];
  engine->row_cache_ = std::make_unique<RowCache>(options.read_cache_bytes);
  return engine;
}

StorageEngine::~StorageEngine() {
  absl::Status s = Close();
  if (!s.ok()) std::fprintf(stderr, "storage engine close failed: %s\n", s.ToString().c_str());
}

absl::Status StorageEngine::Close() {
  if (db_ == nullptr) return absl::OkStatus();
  rocksdb::Status first_error;
  for (rocksdb::ColumnFamilyHandle** h : {&default_cf_, &raftlog_, &data_, &meta_}) {
    rocksdb::Status s = db_->DestroyColumnFamilyHandle(*h);
    if (!s.ok() && first_error.ok()) first_error = s;
    *h = nullptr;
  }
  rocksdb::Status s = db_->Close();
  if (!s.ok() && first_error.ok()) first_error = s;
  db_.reset();
  return FromRocksStatus(first_error, "close");
}

namespace {

// The row a cleartext stored value holds (shard/encryption/value_codec.h: header 0x00, then the
// value); nullopt for an envelope, which only a read opens.
std::optional<std::string_view> CleartextRow(std::string_view stored) {
  if (stored.size() < encryption::kValueHeaderSize ||
      static_cast<uint8_t>(stored[0]) != encryption::kValueStateCleartext) {
    return std::nullopt;
  }
  return stored.substr(encryption::kValueHeaderSize);
}

}  // namespace

absl::Status StorageEngine::Write(rocksdb::WriteBatch& batch, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  wo.disableWAL = false;  // never: every write of every column family goes through the WAL
  const RowCache::WriteToken token = row_cache_->BeginWrite(batch, data_->GetID());
  rocksdb::Status s = db_->Write(wo, &batch);
  // Written through only when the write succeeded: a failed batch changed nothing.
  row_cache_->EndWrite(token, s.ok() ? &CleartextRow : nullptr);
  if (s.ok()) return absl::OkStatus();
  if (!sync) return FromRocksStatus(s, "write");
  // The batch may or may not be durable, and RocksDB refuses further writes anyway; carrying
  // on could acknowledge a vote or an entry that a crash then forgets.
  std::fprintf(stderr, "fatal: fsync of the raft log failed: %s; stopping\n", s.ToString().c_str());
  std::fflush(stderr);
  if (on_sync_failure_) {
    on_sync_failure_();
  } else {
    std::abort();
  }
  return FromRocksStatus(s, "synced write");
}

absl::StatusOr<AppliedIndex> StorageEngine::LastAppliedIndex(GroupId gid) const {
  // Both rows from one view, so a concurrent restore batch is seen entirely or not at all.
  rocksdb::ManagedSnapshot view(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot();
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(ro, meta_, MetaKey(gid, meta::kRestoreMarker), &value);
  if (s.ok()) return AppliedIndex{};
  if (!s.IsNotFound()) return FromRocksStatus(s, "read meta:restore_marker");
  value.Reset();
  s = db_->Get(ro, meta_, MetaKey(gid, meta::kAppliedIndex), &value);
  if (s.IsNotFound()) return AppliedIndex{};
  if (!s.ok()) return FromRocksStatus(s, "read meta:applied_index");
  if (value.size() != 8) return AppliedIndex{};
  return AppliedIndex{DecodeU64BE(value.ToStringView()), true};
}

}  // namespace tessera::shard
