#include "shard/data/store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "shard/data/gc.h"
#include "shard/encryption/value_codec.h"
#include "shard/storage/keys.h"

namespace tessera::shard::data {
namespace {

constexpr char kMetadataTag = 'M';
constexpr size_t kMetadataFixedSize = 1 + 8;  // type ‖ expire_at_ms

// The storage key an envelope's AAD binds: the row key without its 8-byte group prefix, so a
// future slot migration can move ciphertext between groups (spec/encryption.md §5).
std::string_view StorageKeyOf(std::string_view data_key) {
  return data_key.size() <= 8 ? std::string_view() : data_key.substr(8);
}

}  // namespace

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kString:
      return "string";
    case KeyType::kHash:
      return "hash";
    case KeyType::kList:
      return "list";
    case KeyType::kSet:
      return "set";
    case KeyType::kZSet:
      return "zset";
  }
  return "none";
}

std::string EncodeMetadata(const Metadata& m) {
  std::string out;
  out.reserve(kMetadataFixedSize + m.payload.size());
  out.push_back(static_cast<char>(m.type));
  PutU64BE(&out, m.expire_at_ms);
  out.append(m.payload);
  return out;
}

absl::StatusOr<Metadata> DecodeMetadata(std::string_view value) {
  if (value.size() < kMetadataFixedSize) {
    return absl::DataLossError(absl::StrCat("metadata row of ", value.size(), " bytes"));
  }
  const auto type = static_cast<uint8_t>(value[0]);
  if (type < static_cast<uint8_t>(KeyType::kString) ||
      type > static_cast<uint8_t>(KeyType::kZSet)) {
    return absl::DataLossError(absl::StrCat("metadata row with unknown type ", type));
  }
  Metadata m;
  m.type = static_cast<KeyType>(type);
  m.expire_at_ms = DecodeU64BE(value.substr(1));
  m.payload.assign(value.substr(kMetadataFixedSize));
  return m;
}

absl::StatusOr<Metadata> DecodeMetadataHead(std::string_view value) {
  return DecodeMetadata(value.substr(0, std::min(value.size(), kMetadataFixedSize)));
}

std::string MetadataKey(GroupId gid, std::string_view user_key) {
  std::string key = GroupKey(gid, std::string_view(&kMetadataTag, 1));
  key.append(user_key);
  return key;
}

std::string MetadataKeyBegin(GroupId gid) {
  return GroupKey(gid, std::string_view(&kMetadataTag, 1));
}

std::string MetadataKeyEnd(GroupId gid) {
  const char next = kMetadataTag + 1;
  return GroupKey(gid, std::string_view(&next, 1));
}

std::string_view UserKeyOf(std::string_view metadata_key) { return metadata_key.substr(9); }

namespace {

// The cleartext of a stored `data` value (the value header stripped, an envelope opened).
absl::StatusOr<std::string> DecodeRow(const ExecContext& ctx, std::string_view key,
                                      std::string value) {
  std::string scratch;
  absl::StatusOr<std::string_view> decoded = encryption::DecodeStoredValue(
      ctx.engine->storage_cipher(), StorageKeyOf(key), value, &scratch);
  if (!decoded.ok()) return decoded.status();
  // Cleartext views into `value`, an opened envelope into `scratch`.
  if (decoded->data() == scratch.data()) return scratch;
  value.erase(0, encryption::kValueHeaderSize);
  return value;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> GetRow(const ExecContext& ctx, std::string_view key) {
  const rocksdb::Slice slice(key.data(), key.size());
  std::string value;
  if (ctx.batch != nullptr) {
    rocksdb::Status s = ctx.batch->GetFromBatchAndDB(ctx.engine->db(), rocksdb::ReadOptions(),
                                                     ctx.engine->data(), slice, &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocksStatus(s, "data read");
    return DecodeRow(ctx, key, std::move(value));
  }
  // Read-only (a leader after its read barrier): through the read cache.
  RowCache& cache = *ctx.engine->row_cache();
  RowCache::Ticket ticket;
  if (std::optional<std::optional<std::string>> hit = cache.Lookup(key, &ticket)) return *hit;
  rocksdb::Status s =
      ctx.engine->db()->Get(rocksdb::ReadOptions(), ctx.engine->data(), slice, &value);
  std::optional<std::string> row;
  if (!s.IsNotFound()) {
    if (!s.ok()) return FromRocksStatus(s, "data read");
    absl::StatusOr<std::string> decoded = DecodeRow(ctx, key, std::move(value));
    if (!decoded.ok()) return decoded.status();
    row = *std::move(decoded);
  }
  cache.Fill(key, ticket, row);
  return row;
}

void PutRow(ExecContext& ctx, std::string_view key, std::string_view value) {
  if (!ctx.write_status.ok()) return;  // the apply halts: write nothing more
  absl::StatusOr<std::string> stored =
      encryption::EncodeStoredValue(ctx.engine->storage_cipher(), StorageKeyOf(key), value);
  if (!stored.ok()) {
    ctx.write_status = stored.status();
    return;
  }
  ctx.batch->Put(ctx.engine->data(), rocksdb::Slice(key.data(), key.size()),
                 rocksdb::Slice(stored->data(), stored->size()));
}

void DeleteRow(ExecContext& ctx, std::string_view key) {
  ctx.batch->Delete(ctx.engine->data(), rocksdb::Slice(key.data(), key.size()));
}

absl::StatusOr<std::optional<Metadata>> LoadMetadata(ExecContext& ctx, std::string_view user_key) {
  const std::string mkey = MetadataKey(ctx.gid, user_key);
  absl::StatusOr<std::optional<std::string>> row = GetRow(ctx, mkey);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return std::nullopt;
  absl::StatusOr<Metadata> m = DecodeMetadata(**row);
  if (!m.ok()) return m.status();
  if (m->Expired(ctx.now_ms)) {
    if (!ctx.read_only()) {
      if (absl::Status s = DeleteKey(ctx, user_key, *m); !s.ok()) return s;
    }
    return std::nullopt;
  }
  return *std::move(m);
}

void StoreMetadata(ExecContext& ctx, std::string_view user_key, const Metadata& m) {
  PutRow(ctx, MetadataKey(ctx.gid, user_key), EncodeMetadata(m));
}

absl::Status DeleteKey(ExecContext& ctx, std::string_view user_key, const Metadata& m) {
  // Collections keep their sub-key rows under the old version; they are unreachable once the
  // metadata row is gone and are collected in the background (gc.h), so DEL is O(1).
  DeleteRow(ctx, MetadataKey(ctx.gid, user_key));
  if (m.type == KeyType::kString) return absl::OkStatus();
  absl::StatusOr<CollectionHeader> header = DecodeCollectionHeader(m.payload);
  if (!header.ok()) return header.status();
  if (header->size > 0) RecordGarbage(ctx, user_key, header->version);
  return absl::OkStatus();
}

void DeleteEmptyCollection(ExecContext& ctx, std::string_view user_key) {
  DeleteRow(ctx, MetadataKey(ctx.gid, user_key));
}

std::string EncodeCollectionHeader(const CollectionHeader& h) {
  std::string out;
  out.reserve(16 + h.extra.size());
  PutU64BE(&out, h.version);
  PutU64BE(&out, h.size);
  out.append(h.extra);
  return out;
}

absl::StatusOr<CollectionHeader> DecodeCollectionHeader(std::string_view payload) {
  if (payload.size() < 16) {
    return absl::DataLossError(absl::StrCat("collection header of ", payload.size(), " bytes"));
  }
  return CollectionHeader{DecodeU64BE(payload), DecodeU64BE(payload.substr(8)),
                          std::string(payload.substr(16))};
}

absl::StatusOr<CollectionKey> LoadCollection(ExecContext& ctx, std::string_view key, KeyType type) {
  CollectionKey c;
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, key);
  if (!m.ok()) return m.status();
  if (!m->has_value()) return c;
  if ((*m)->type != type) {
    c.wrong_type = true;
    return c;
  }
  absl::StatusOr<CollectionHeader> header = DecodeCollectionHeader((*m)->payload);
  if (!header.ok()) return header.status();
  c.exists = true;
  c.meta = std::move(**m);
  c.header = *std::move(header);
  return c;
}

void CreateCollectionIfMissing(ExecContext& ctx, KeyType type, CollectionKey& c) {
  if (c.exists) return;
  c.meta = Metadata{};
  c.meta.type = type;
  c.header = CollectionHeader{};
  c.header.version = NewCollectionVersion(ctx);
}

absl::Status SaveCollection(ExecContext& ctx, std::string_view key, CollectionKey& c) {
  if (c.header.size == 0) {
    if (c.exists) DeleteEmptyCollection(ctx, key);
    return absl::OkStatus();
  }
  c.meta.payload = EncodeCollectionHeader(c.header);
  StoreMetadata(ctx, key, c.meta);
  c.exists = true;
  return absl::OkStatus();
}

uint64_t NewCollectionVersion(ExecContext& ctx) {
  return (ctx.seed << 16) | (ctx.versions_issued++ & 0xffff);
}

std::string SubKeyPrefix(GroupId gid, std::string_view user_key, uint64_t version) {
  std::string prefix = GroupKey(gid, "S");
  const auto len = static_cast<uint32_t>(user_key.size());
  for (int shift = 24; shift >= 0; shift -= 8) prefix.push_back(static_cast<char>(len >> shift));
  prefix.append(user_key);
  PutU64BE(&prefix, version);
  return prefix;
}

std::string SubKey(GroupId gid, std::string_view user_key, uint64_t version, std::string_view sub) {
  std::string key = SubKeyPrefix(gid, user_key, version);
  key.append(sub);
  return key;
}

std::string PrefixEnd(std::string prefix) {
  while (static_cast<uint8_t>(prefix.back()) == 0xff) prefix.pop_back();
  prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
  return prefix;
}

RowIterator::RowIterator(const ExecContext& ctx, std::string end)
    : cipher_(ctx.engine->storage_cipher()), end_(std::move(end)), upper_(end_) {
  options_.iterate_upper_bound = &upper_;
  rocksdb::Iterator* base = ctx.engine->db()->NewIterator(options_, ctx.engine->data());
  it_.reset(ctx.batch == nullptr
                ? base
                : ctx.batch->NewIteratorWithBase(ctx.engine->data(), base, &options_));
}

bool RowIterator::Valid() const {
  if (!decode_status_.ok() || !it_->Valid() || it_->key().compare(upper_) >= 0) return false;
  if (!decoded_) {
    const std::string_view stored(it_->value().data(), it_->value().size());
    absl::StatusOr<std::string_view> v =
        encryption::DecodeStoredValue(cipher_, StorageKeyOf(key()), stored, &scratch_);
    if (!v.ok()) {
      decode_status_ = v.status();
      value_ = {};
      return false;
    }
    value_ = *v;
    decoded_ = true;
  }
  return true;
}

void RowIterator::SeekToLast() {
  decoded_ = false;
  it_->SeekForPrev(upper_);
  while (it_->Valid() && it_->key().compare(upper_) >= 0) it_->Prev();
}

absl::Status RowIterator::status() const {
  if (!decode_status_.ok()) return decode_status_;
  return it_->status().ok() ? absl::OkStatus() : FromRocksStatus(it_->status(), "data scan");
}

}  // namespace tessera::shard::data
