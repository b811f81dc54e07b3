// Redis generic key commands (db.c and expire.c's surface, Redis 7.0 semantics) on the data
// model's metadata rows, including the keyspace walks KEYS, SCAN, RANDOMKEY, DBSIZE and FLUSHDB.
// Every handler stages its writes before it replies, so a storage failure never follows a reply.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rocksdb/iterator.h"
#include "shard/data/commands.h"
#include "shard/data/util.h"

namespace tessera::shard::data {
namespace {

using Args = std::span<const std::string_view>;

// Rows a walk that writes collects before it writes them: the batch must not change under a
// live iterator.
constexpr size_t kWriteChunkRows = 1024;
// RANDOMKEY draws uniformly from groups this small.
constexpr size_t kRandomKeyExactLimit = 1024;

// ---- DEL, UNLINK, EXISTS, TOUCH, TYPE ----

absl::Status DeleteKeys(ExecContext& ctx, Args keys, Reply& reply) {
  int64_t deleted = 0;
  for (std::string_view key : keys) {
    absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, key);
    if (!m.ok()) return m.status();
    if (!m->has_value()) continue;
    if (absl::Status s = DeleteKey(ctx, key, **m); !s.ok()) return s;
    ++deleted;
  }
  reply.Integer(deleted);
  return absl::OkStatus();
}

absl::Status Del(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 2) return ReplyArity(reply, "del");
  return DeleteKeys(ctx, argv.subspan(1), reply);
}

// UNLINK is DEL: DeleteKey is O(1) for every type already.
absl::Status Unlink(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 2) return ReplyArity(reply, "unlink");
  return DeleteKeys(ctx, argv.subspan(1), reply);
}

// EXISTS and TOUCH: live keys among the arguments, a repeated key counted each time.
absl::Status CountLive(ExecContext& ctx, Args keys, Reply& reply) {
  int64_t live = 0;
  for (std::string_view key : keys) {
    absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, key);
    if (!m.ok()) return m.status();
    if (m->has_value()) ++live;
  }
  reply.Integer(live);
  return absl::OkStatus();
}

absl::Status Exists(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 2) return ReplyArity(reply, "exists");
  return CountLive(ctx, argv.subspan(1), reply);
}

// Tessera keeps no access times, so TOUCH only counts.
absl::Status Touch(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 2) return ReplyArity(reply, "touch");
  return CountLive(ctx, argv.subspan(1), reply);
}

absl::Status Type(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) return ReplyArity(reply, "type");
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  reply.SimpleString(m->has_value() ? KeyTypeName((*m)->type) : "none");
  return absl::OkStatus();
}

// ---- RENAME, RENAMENX ----

// Moves a collection's sub-key rows from `from` to `to` under the same version. O(size of the
// collection): sub-key rows embed the user key. The version stays unique in the group, so the
// rows cannot meet rows that a deleted `to` left behind for collection.
absl::Status MoveSubKeys(ExecContext& ctx, std::string_view from, std::string_view to,
                         const Metadata& m) {
  if (m.payload.size() < 8) {
    return absl::DataLossError("collection metadata without a version");
  }
  const uint64_t version = DecodeU64BE(m.payload);
  const std::string from_prefix = SubKeyPrefix(ctx.gid, from, version);
  const std::string to_prefix = SubKeyPrefix(ctx.gid, to, version);
  std::string resume = from_prefix;
  for (;;) {
    std::vector<std::pair<std::string, std::string>> rows;
    {
      RowIterator it(ctx, PrefixEnd(from_prefix));
      for (it.Seek(resume); it.Valid() && rows.size() < kWriteChunkRows; it.Next()) {
        rows.emplace_back(it.key(), it.value());
      }
      if (absl::Status s = it.status(); !s.ok()) return s;
    }
    if (rows.empty()) return absl::OkStatus();
    for (const auto& [key, value] : rows) {
      PutRow(ctx, to_prefix + key.substr(from_prefix.size()), value);
      DeleteRow(ctx, key);
    }
    resume = rows.back().first + '\0';
  }
}

// The source keeps its TTL under the new name; the destination is replaced whatever its type.
absl::Status RenameKey(ExecContext& ctx, Args argv, Reply& reply, bool nx) {
  if (argv.size() != 3) return ReplyArity(reply, nx ? "renamenx" : "rename");
  const std::string_view from = argv[1];
  const std::string_view to = argv[2];
  absl::StatusOr<std::optional<Metadata>> source = LoadMetadata(ctx, from);
  if (!source.ok()) return source.status();
  if (!source->has_value()) {
    reply.Error("ERR no such key");
    return absl::OkStatus();
  }
  if (from == to) {
    nx ? reply.Integer(0) : reply.Ok();
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> dest = LoadMetadata(ctx, to);
  if (!dest.ok()) return dest.status();
  if (dest->has_value()) {
    if (nx) {
      reply.Integer(0);
      return absl::OkStatus();
    }
    if (absl::Status s = DeleteKey(ctx, to, **dest); !s.ok()) return s;
  }
  const Metadata& m = **source;
  if (m.type != KeyType::kString) {
    if (absl::Status s = MoveSubKeys(ctx, from, to, m); !s.ok()) return s;
  }
  StoreMetadata(ctx, to, m);
  DeleteRow(ctx, MetadataKey(ctx.gid, from));  // its sub-key rows moved: nothing to collect
  nx ? reply.Integer(1) : reply.Ok();
  return absl::OkStatus();
}

absl::Status Rename(ExecContext& ctx, Args argv, Reply& reply) {
  return RenameKey(ctx, argv, reply, /*nx=*/false);
}

absl::Status RenameNx(ExecContext& ctx, Args argv, Reply& reply) {
  return RenameKey(ctx, argv, reply, /*nx=*/true);
}

// ---- EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, PERSIST ----

// expireGenericCommand: options, then the time, then the key. A time at or before now deletes
// the key and still answers 1.
absl::Status ExpireKey(ExecContext& ctx, Args argv, Reply& reply, TimeUnit unit, bool absolute,
                       std::string_view command) {
  if (argv.size() < 3) return ReplyArity(reply, command);
  std::string error;
  std::optional<ExpireConditions> conditions = ParseExpireConditions(argv.subspan(3), &error);
  if (!conditions.has_value()) {
    reply.Error(error);
    return absl::OkStatus();
  }
  const int64_t base_ms = absolute ? 0 : static_cast<int64_t>(ctx.now_ms);
  std::optional<int64_t> when = ParseKeyExpireTime(argv[2], unit, base_ms, command, &error);
  if (!when.has_value()) {
    reply.Error(error);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (!m->has_value() || !conditions->Allow((*m)->expire_at_ms, *when)) {
    reply.Integer(0);
    return absl::OkStatus();
  }
  if (*when <= static_cast<int64_t>(ctx.now_ms)) {
    if (absl::Status s = DeleteKey(ctx, argv[1], **m); !s.ok()) return s;
  } else {
    (*m)->expire_at_ms = static_cast<uint64_t>(*when);
    StoreMetadata(ctx, argv[1], **m);
  }
  reply.Integer(1);
  return absl::OkStatus();
}

absl::Status Expire(ExecContext& ctx, Args argv, Reply& reply) {
  return ExpireKey(ctx, argv, reply, TimeUnit::kSeconds, false, "expire");
}
absl::Status PExpire(ExecContext& ctx, Args argv, Reply& reply) {
  return ExpireKey(ctx, argv, reply, TimeUnit::kMilliseconds, false, "pexpire");
}
absl::Status ExpireAt(ExecContext& ctx, Args argv, Reply& reply) {
  return ExpireKey(ctx, argv, reply, TimeUnit::kSeconds, true, "expireat");
}
absl::Status PExpireAt(ExecContext& ctx, Args argv, Reply& reply) {
  return ExpireKey(ctx, argv, reply, TimeUnit::kMilliseconds, true, "pexpireat");
}

absl::Status Persist(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) return ReplyArity(reply, "persist");
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (!m->has_value() || (*m)->expire_at_ms == 0) {
    reply.Integer(0);
    return absl::OkStatus();
  }
  (*m)->expire_at_ms = 0;
  StoreMetadata(ctx, argv[1], **m);
  reply.Integer(1);
  return absl::OkStatus();
}

// ---- TTL, PTTL, EXPIRETIME, PEXPIRETIME ----

// ttlGenericCommand: -2 without the key, -1 without a TTL; seconds are rounded to nearest.
absl::Status ReplyTtl(ExecContext& ctx, Args argv, Reply& reply, bool in_ms, bool absolute,
                      std::string_view command) {
  if (argv.size() != 2) return ReplyArity(reply, command);
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (!m->has_value()) {
    reply.Integer(-2);
    return absl::OkStatus();
  }
  const uint64_t expire_at = (*m)->expire_at_ms;
  if (expire_at == 0) {
    reply.Integer(-1);
    return absl::OkStatus();
  }
  // A live key expires after now; expire times never exceed INT64_MAX (util.h's parsers).
  const int64_t ms = static_cast<int64_t>(absolute ? expire_at : expire_at - ctx.now_ms);
  reply.Integer(in_ms ? ms : (ms + 500) / 1000);
  return absl::OkStatus();
}

absl::Status Ttl(ExecContext& ctx, Args argv, Reply& reply) {
  return ReplyTtl(ctx, argv, reply, false, false, "ttl");
}
absl::Status PTtl(ExecContext& ctx, Args argv, Reply& reply) {
  return ReplyTtl(ctx, argv, reply, true, false, "pttl");
}
absl::Status ExpireTime(ExecContext& ctx, Args argv, Reply& reply) {
  return ReplyTtl(ctx, argv, reply, false, true, "expiretime");
}
absl::Status PExpireTime(ExecContext& ctx, Args argv, Reply& reply) {
  return ReplyTtl(ctx, argv, reply, true, true, "pexpiretime");
}

// ---- KEYS, SCAN, RANDOMKEY, DBSIZE ----

// Calls visit(user_key, head) for every live key from `start` (a metadata key) to the group's
// end, in key order, while it returns true. Expired rows are skipped, never deleted: the walks
// are reads.
template <typename Visit>
absl::Status WalkLiveKeys(ExecContext& ctx, std::string_view start, Visit visit) {
  RowIterator it(ctx, MetadataKeyEnd(ctx.gid));
  for (it.Seek(start); it.Valid(); it.Next()) {
    absl::StatusOr<Metadata> head = DecodeMetadataHead(it.value());
    if (!head.ok()) return head.status();
    if (head->Expired(ctx.now_ms)) continue;
    if (!visit(UserKeyOf(it.key()), *head)) break;
  }
  return it.status();
}

absl::Status Keys(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) return ReplyArity(reply, "keys");
  const std::string_view pattern = argv[1];
  const bool all = pattern == "*";
  std::vector<std::string> keys;
  absl::Status s =
      WalkLiveKeys(ctx, MetadataKeyBegin(ctx.gid), [&](std::string_view key, const Metadata&) {
        if (all || GlobMatch(pattern, key)) keys.emplace_back(key);
        return true;
      });
  if (!s.ok()) return s;
  reply.ArrayHeader(keys.size());
  for (const std::string& key : keys) reply.Bulk(key);
  return absl::OkStatus();
}

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type].
//
// Our cursor: 0 starts and ends a scan; any other cursor c < 2^56 means "resume at the first key
// whose first 7 bytes, zero-padded, read big-endian as a number, are >= c". A reply examines at
// least COUNT rows (default 10), then goes on to the end of the run of keys sharing their first
// 7 bytes, so that the next cursor falls between two runs and strictly grows. Guarantee: a key
// present from the first call to the last is returned exactly once; a key added or removed
// meanwhile may or may not be. COUNT is a hint, as in Redis: a long run of keys with a common
// 7-byte prefix comes back in one reply. Cursors leave the top byte of a u64 free, for a caller
// that scans several groups to say which one.
absl::Status Scan(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 2) return ReplyArity(reply, "scan");
  const std::optional<uint64_t> cursor = ParseScanCursor(argv[1]);
  if (!cursor.has_value()) {
    reply.Error("ERR invalid cursor");
    return absl::OkStatus();
  }
  int64_t count = 10;
  std::optional<std::string_view> pattern;
  std::optional<std::string_view> type;
  for (size_t i = 2; i < argv.size(); i += 2) {
    const bool has_value = i + 1 < argv.size();
    if (has_value && EqualsIgnoreCase(argv[i], "count")) {
      std::optional<int64_t> n = ParseInt64(argv[i + 1]);
      if (!n.has_value()) {
        reply.Error(kNotIntegerError);
        return absl::OkStatus();
      }
      if (*n < 1) {
        reply.Error(kSyntaxError);
        return absl::OkStatus();
      }
      count = *n;
    } else if (has_value && EqualsIgnoreCase(argv[i], "match")) {
      pattern = argv[i + 1];
      if (*pattern == "*") pattern.reset();
    } else if (has_value && EqualsIgnoreCase(argv[i], "type")) {
      type = argv[i + 1];  // an unknown type matches nothing, as in Redis 7.0
    } else {
      reply.Error(kSyntaxError);
      return absl::OkStatus();
    }
  }

  std::vector<std::string> keys;
  uint64_t next_cursor = 0;
  int64_t examined = 0;
  uint64_t last_cursor = 0;
  RowIterator it(ctx, MetadataKeyEnd(ctx.gid));
  for (it.Seek(MetadataKey(ctx.gid, *cursor == 0 ? std::string() : ScanSeekOf(*cursor)));
       it.Valid(); it.Next()) {
    const std::string_view key = UserKeyOf(it.key());
    const uint64_t key_cursor = ScanCursorOf(key);
    if (examined >= count && key_cursor != last_cursor) {
      next_cursor = key_cursor;
      break;
    }
    ++examined;
    last_cursor = key_cursor;
    absl::StatusOr<Metadata> head = DecodeMetadataHead(it.value());
    if (!head.ok()) return head.status();
    if (head->Expired(ctx.now_ms)) continue;
    if (type.has_value() && !EqualsIgnoreCase(*type, KeyTypeName(head->type))) continue;
    if (pattern.has_value() && !GlobMatch(*pattern, key)) continue;
    keys.emplace_back(key);
  }
  if (absl::Status s = it.status(); !s.ok()) return s;
  reply.ArrayHeader(2);
  reply.Bulk(std::to_string(next_cursor));
  reply.ArrayHeader(keys.size());
  for (const std::string& key : keys) reply.Bulk(key);
  return absl::OkStatus();
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Up to 8 bytes of `key` from `at`, zero-padded, big-endian.
uint64_t Bytes8At(std::string_view key, size_t at) {
  uint64_t v = 0;
  for (size_t i = at; i < at + 8; ++i) {
    v = (v << 8) | (i < key.size() ? static_cast<uint8_t>(key[i]) : 0);
  }
  return v;
}

// RANDOMKEY, drawn from ctx.seed, so the same state and seed give the same key. A group of at
// most kRandomKeyExactLimit live keys draws uniformly. A larger one draws a probe between its
// first and last live key (past their common prefix) and takes the first live key at or after
// it, wrapping around: O(log n) but not uniform (nor is Redis's), a key weighs the gap before it.
absl::Status RandomKey(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 1) return ReplyArity(reply, "randomkey");
  std::vector<std::string> keys;
  bool more = false;
  absl::Status s =
      WalkLiveKeys(ctx, MetadataKeyBegin(ctx.gid), [&](std::string_view key, const Metadata&) {
        if (keys.size() == kRandomKeyExactLimit) {
          more = true;
          return false;
        }
        keys.emplace_back(key);
        return true;
      });
  if (!s.ok()) return s;
  if (keys.empty()) {
    reply.Null();
    return absl::OkStatus();
  }
  const uint64_t r = SplitMix64(ctx.seed);
  if (!more) {
    reply.Bulk(keys[r % keys.size()]);
    return absl::OkStatus();
  }
  const std::string& first = keys.front();
  std::string last;  // the last live key
  {
    RowIterator it(ctx, MetadataKeyEnd(ctx.gid));
    for (it.SeekToLast(); it.Valid(); it.Prev()) {
      absl::StatusOr<Metadata> head = DecodeMetadataHead(it.value());
      if (!head.ok()) return head.status();
      if (head->Expired(ctx.now_ms)) continue;
      last.assign(UserKeyOf(it.key()));
      break;
    }
    if (absl::Status st = it.status(); !st.ok()) return st;
  }
  const size_t common =
      std::mismatch(first.begin(), first.end(), last.begin(), last.end()).first - first.begin();
  const uint64_t lo = Bytes8At(first, common);
  const uint64_t span = std::max(Bytes8At(last, common), lo) - lo;
  std::string probe = first.substr(0, common);
  PutU64BE(&probe, lo + (span == UINT64_MAX ? r : r % (span + 1)));
  std::optional<std::string> chosen;
  s = WalkLiveKeys(ctx, MetadataKey(ctx.gid, probe), [&](std::string_view key, const Metadata&) {
    chosen.emplace(key);
    return false;
  });
  if (!s.ok()) return s;
  reply.Bulk(chosen.has_value() ? *chosen : first);
  return absl::OkStatus();
}

// O(keys): no key count is kept. Redis counts keys that expired but were not reclaimed yet; we
// count live keys only.
absl::Status DbSize(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 1) return ReplyArity(reply, "dbsize");
  int64_t live = 0;
  absl::Status s =
      WalkLiveKeys(ctx, MetadataKeyBegin(ctx.gid), [&](std::string_view, const Metadata&) {
        ++live;
        return true;
      });
  if (!s.ok()) return s;
  reply.Integer(live);
  return absl::OkStatus();
}

// ---- FLUSHDB, FLUSHALL ----

// FLUSHDB / FLUSHALL [ASYNC|SYNC]: deletes every key of this group (the gateway sends it to every
// group). Cost: one DeleteKey per key, so a flush of n keys stages n tombstones in the one batch
// of its log entry: WriteBatchWithIndex cannot index a DeleteRange. Collections leave their
// sub-key rows to the background collector, as DEL does.
absl::Status Flush(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() > 2 || (argv.size() == 2 && !EqualsIgnoreCase(argv[1], "async") &&
                          !EqualsIgnoreCase(argv[1], "sync"))) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  std::string resume = MetadataKeyBegin(ctx.gid);
  for (;;) {
    std::vector<std::pair<std::string, Metadata>> rows;
    {
      RowIterator it(ctx, MetadataKeyEnd(ctx.gid));
      for (it.Seek(resume); it.Valid() && rows.size() < kWriteChunkRows; it.Next()) {
        absl::StatusOr<Metadata> head = DecodeMetadataHead(it.value());
        if (!head.ok()) return head.status();
        if (head->type != KeyType::kString) {
          head = DecodeMetadata(it.value());  // DeleteKey may need a collection's header
          if (!head.ok()) return head.status();
        }
        rows.emplace_back(std::string(UserKeyOf(it.key())), *std::move(head));
      }
      if (absl::Status s = it.status(); !s.ok()) return s;
    }
    if (rows.empty()) break;
    for (const auto& [key, m] : rows) {
      if (absl::Status s = DeleteKey(ctx, key, m); !s.ok()) return s;
    }
    resume = MetadataKey(ctx.gid, rows.back().first + '\0');
  }
  reply.Ok();
  return absl::OkStatus();
}

constexpr DataCommand kKeyCommands[] = {
    {"del", &Del, true},
    {"unlink", &Unlink, true},
    {"exists", &Exists, false},
    {"touch", &Touch, false},
    {"type", &Type, false},
    {"rename", &Rename, true},
    {"renamenx", &RenameNx, true},
    {"expire", &Expire, true},
    {"pexpire", &PExpire, true},
    {"expireat", &ExpireAt, true},
    {"pexpireat", &PExpireAt, true},
    {"persist", &Persist, true},
    {"ttl", &Ttl, false},
    {"pttl", &PTtl, false},
    {"expiretime", &ExpireTime, false},
    {"pexpiretime", &PExpireTime, false},
    {"keys", &Keys, false},
    {"scan", &Scan, false},
    {"randomkey", &RandomKey, false},
    {"dbsize", &DbSize, false},
    {"flushdb", &Flush, true},
    {"flushall", &Flush, true},
};

}  // namespace

std::span<const DataCommand> KeyCommands() { return kKeyCommands; }

}  // namespace tessera::shard::data
