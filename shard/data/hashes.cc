// Redis hash commands (t_hash.c's surface, Redis 7.0 semantics) on the data model's collection
// layout: a metadata row of type hash with header {version, size, ""}, and one sub-key row per
// field, SubKey(gid, key, version, field) -> value. Iteration order is the fields' byte order.
// Every handler stages its writes before it replies, so a storage failure never follows a reply.
//
// Randomness (HRANDFIELD) is drawn from ctx.seed and ctx.now_ms. On the read path ctx.seed is 0,
// so two HRANDFIELD calls in the same millisecond on the same hash give the same answer.
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shard/data/commands.h"
#include "shard/data/util.h"

namespace tessera::shard::data {
namespace {

using Args = std::span<const std::string_view>;
using Entry = std::pair<std::string, std::string>;

// A hash key as a command sees it.
using Hash = CollectionKey;

absl::StatusOr<Hash> LoadHash(ExecContext& ctx, std::string_view key) {
  return LoadCollection(ctx, key, KeyType::kHash);
}

void CreateIfMissing(ExecContext& ctx, Hash& h) {
  CreateCollectionIfMissing(ctx, KeyType::kHash, h);
}

absl::Status SaveHash(ExecContext& ctx, std::string_view key, Hash& h) {
  return SaveCollection(ctx, key, h);
}

std::string FieldKey(const ExecContext& ctx, std::string_view key, const Hash& h,
                     std::string_view field) {
  return SubKey(ctx.gid, key, h.header.version, field);
}

absl::StatusOr<std::optional<std::string>> GetField(const ExecContext& ctx, std::string_view key,
                                                    const Hash& h, std::string_view field) {
  if (!h.exists) return std::nullopt;
  return GetRow(ctx, FieldKey(ctx, key, h, field));
}

// Calls visit(field, value) for every field from `from` on, in byte order, while it returns true.
template <typename Visit>
absl::Status WalkFields(const ExecContext& ctx, std::string_view key, const Hash& h,
                        std::string_view from, Visit visit) {
  if (!h.exists) return absl::OkStatus();
  const std::string prefix = SubKeyPrefix(ctx.gid, key, h.header.version);
  RowIterator it(ctx, PrefixEnd(prefix));
  for (it.Seek(prefix + std::string(from)); it.Valid(); it.Next()) {
    if (!visit(it.key().substr(prefix.size()), it.value())) break;
  }
  return it.status();
}

absl::StatusOr<std::vector<Entry>> ReadAll(const ExecContext& ctx, std::string_view key,
                                           const Hash& h) {
  std::vector<Entry> entries;
  absl::Status s = WalkFields(ctx, key, h, "", [&](std::string_view f, std::string_view v) {
    entries.emplace_back(f, v);
    return true;
  });
  if (!s.ok()) return s;
  return entries;
}

// ---- HSET, HMSET, HSETNX ----

// Sets the field-value pairs of argv[2..]; *added counts new fields.
absl::Status SetPairs(ExecContext& ctx, Args argv, Reply& reply, bool hmset) {
  if (argv.size() < 4 || argv.size() % 2 != 0) return ReplyArity(reply, hmset ? "hmset" : "hset");
  absl::StatusOr<Hash> h = LoadHash(ctx, argv[1]);
  if (!h.ok()) return h.status();
  if (h->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  CreateIfMissing(ctx, *h);
  int64_t added = 0;
  for (size_t i = 2; i < argv.size(); i += 2) {
    const std::string row = FieldKey(ctx, argv[1], *h, argv[i]);
    absl::StatusOr<std::optional<std::string>> old = GetRow(ctx, row);
    if (!old.ok()) return old.status();
    if (!old->has_value()) {
      ++added;
      ++h->header.size;
    }
    PutRow(ctx, row, argv[i + 1]);
  }
  if (absl::Status s = SaveHash(ctx, argv[1], *h); !s.ok()) return s;
  hmset ? reply.Ok() : reply.Integer(added);
  return absl::OkStatus();
}

absl::Status HSet(ExecContext& ctx, Args argv, Reply& reply) {
  return SetPairs(ctx, argv, reply, /*hmset=*/false);
}

absl::Status HMSet(ExecContext& ctx, Args argv, Reply& reply) {
  return SetPairs(ctx, argv, reply, /*hmset=*/true);
}

absl::Status HSetNx(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 4) return ReplyArity(reply, "hsetnx");
  absl::StatusOr<Hash> h = LoadHash(ctx, argv[1]);
  if (!h.ok()) return h.status();
  if (h->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<std::string>> old = GetField(ctx, argv[1], *h, argv[2]);
  if (!old.ok()) return old.status();
  if (old->has_value()) {
    reply.Integer(0);
    return absl::OkStatus();
  }
  CreateIfMissing(ctx, *h);
  PutRow(ctx, FieldKey(ctx, argv[1], *h, argv[2]), argv[3]);
  ++h->header.size;
  if (absl::Status s = SaveHash(ctx, argv[1], *h); !s.ok()) return s;
  reply.Integer(1);
  return absl::OkStatus();
}

// ---- HGET, HMGET, HEXISTS, HSTRLEN, HLEN ----

// Loads argv[1]; replies WRONGTYPE (and sets *replied) when it holds another type.
absl::StatusOr<Hash> LoadForRead(ExecContext& ctx, Args argv, Reply& reply, bool* replied) {
  absl::StatusOr<Hash> h = LoadHash(ctx, argv[1]);
  *replied = false;
  if (h.ok() && h->wrong_type) {
    reply.Error(kWrongTypeError);
    *replied = true;
  }
  return h;
}

absl::Status HGet(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) return ReplyArity(reply, "hget");
  bool replied;
  absl::StatusOr<Hash> h = LoadForRead(ctx, argv, reply, &replied);
  if (!h.ok()) return h.status();
  if (replied) return absl::OkStatus();
  absl::StatusOr<std::optional<std::string>> v = GetField(ctx, argv[1], *h, argv[2]);
  if (!v.ok()) return v.status();
  v->has_value() ? reply.Bulk(**v) : reply.Null();
  return absl::OkStatus();
}

absl::Status HMGet(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3) return ReplyArity(reply, "hmget");
  bool replied;
  absl::StatusOr<Hash> h = LoadForRead(ctx, argv, reply, &replied);
  if (!h.ok()) return h.status();
  if (replied) return absl::OkStatus();
  std::vector<std::optional<std::string>> values;
  for (size_t i = 2; i < argv.size(); ++i) {
    absl::StatusOr<std::optional<std::string>> v = GetField(ctx, argv[1], *h, argv[i]);
    if (!v.ok()) return v.status();
    values.push_back(*std::move(v));
  }
  reply.ArrayHeader(values.size());
  for (const auto& v : values) v.has_value() ? reply.Bulk(*v) : reply.Null();
  return absl::OkStatus();
}

absl::Status HExists(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) return ReplyArity(reply, "hexists");
  bool replied;
  absl::StatusOr<Hash> h = LoadForRead(ctx, argv, reply, &replied);
  if (!h.ok()) return h.status();
  if (replied) return absl::OkStatus();
  absl::StatusOr<std::optional<std::string>> v = GetField(ctx, argv[1], *h, argv[2]);
  if (!v.ok()) return v.status();
  reply.Integer(v->has_value() ? 1 : 0);
  return absl::OkStatus();
}

absl::Status HStrLen(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) return ReplyArity(reply, "hstrlen");
  bool replied;
  absl::StatusOr<Hash> h = LoadForRead(ctx, argv, reply, &replied);
  if (!h.ok()) return h.status();
  if (replied) return absl::OkStatus();
  absl::StatusOr<std::optional<std::string>> v = GetField(ctx, argv[1], *h, argv[2]);
  if (!v.ok()) return v.status();
  reply.Integer(v->has_value() ? static_cast<int64_t>((*v)->size()) : 0);
  return absl::OkStatus();
}

absl::Status HLen(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) return ReplyArity(reply, "hlen");
  bool replied;
  absl::StatusOr<Hash> h = LoadForRead(ctx, argv, reply, &replied);
  if (!h.ok()) return h.status();
  if (replied) return absl::OkStatus();
  reply.Integer(h->exists ? static_cast<int64_t>(h->header.size) : 0);
  return absl::OkStatus();
}

// ---- HDEL ----

absl::Status HDel(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3) return ReplyArity(reply, "hdel");
  absl::StatusOr<Hash> h = LoadHash(ctx, argv[1]);
  if (!h.ok()) return h.status();
  if (h->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  int64_t deleted = 0;
  if (h->exists) {
    for (size_t i = 2; i < argv.size(); ++i) {
      const std::string row = FieldKey(ctx, argv[1], *h, argv[i]);
      absl::StatusOr<std::optional<std::string>> old = GetRow(ctx, row);
      if (!old.ok()) return old.status();
      if (!old->has_value()) continue;
      DeleteRow(ctx, row);
      ++deleted;
      --h->header.size;
    }
    if (deleted > 0) {
      if (absl::Status s = SaveHash(ctx, argv[1], *h); !s.ok()) return s;
    }
  }
  reply.Integer(deleted);
  return absl::OkStatus();
}

// ---- HKEYS, HVALS, HGETALL ----

enum class Part { kKeys, kValues, kBoth };

absl::Status ReplyAll(ExecContext& ctx, Args argv, Reply& reply, Part part,
                      std::string_view command) {
  if (argv.size() != 2) return ReplyArity(reply, command);
  bool replied;
  absl::StatusOr<Hash> h = LoadForRead(ctx, argv, reply, &replied);
  if (!h.ok()) return h.status();
  if (replied) return absl::OkStatus();
  absl::StatusOr<std::vector<Entry>> entries = ReadAll(ctx, argv[1], *h);
  if (!entries.ok()) return entries.status();
  if (part == Part::kBoth) {
    reply.MapHeader(entries->size());
  } else {
    reply.ArrayHeader(entries->size());
  }
  for (const auto& [field, value] : *entries) {
    if (part != Part::kValues) reply.Bulk(field);
    if (part != Part::kKeys) reply.Bulk(value);
  }
  return absl::OkStatus();
}

absl::Status HKeys(ExecContext& ctx, Args argv, Reply& reply) {
  return ReplyAll(ctx, argv, reply, Part::kKeys, "hkeys");
}
absl::Status HVals(ExecContext& ctx, Args argv, Reply& reply) {
  return ReplyAll(ctx, argv, reply, Part::kValues, "hvals");
}
absl::Status HGetAll(ExecContext& ctx, Args argv, Reply& reply) {
  return ReplyAll(ctx, argv, reply, Part::kBoth, "hgetall");
}

// ---- HINCRBY, HINCRBYFLOAT ----

absl::Status HIncrBy(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 4) return ReplyArity(reply, "hincrby");
  std::optional<int64_t> increment = ParseInt64(argv[3]);
  if (!increment.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  absl::StatusOr<Hash> h = LoadHash(ctx, argv[1]);
  if (!h.ok()) return h.status();
  if (h->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<std::string>> old = GetField(ctx, argv[1], *h, argv[2]);
  if (!old.ok()) return old.status();
  int64_t current = 0;
  if (old->has_value()) {
    std::optional<int64_t> parsed = ParseInt64(**old);
    if (!parsed.has_value()) {
      reply.Error("ERR hash value is not an integer");
      return absl::OkStatus();
    }
    current = *parsed;
  }
  int64_t result;
  if (__builtin_add_overflow(current, *increment, &result)) {
    reply.Error("ERR increment or decrement would overflow");
    return absl::OkStatus();
  }
  CreateIfMissing(ctx, *h);
  PutRow(ctx, FieldKey(ctx, argv[1], *h, argv[2]), std::to_string(result));
  if (!old->has_value()) ++h->header.size;
  if (absl::Status s = SaveHash(ctx, argv[1], *h); !s.ok()) return s;
  reply.Integer(result);
  return absl::OkStatus();
}

absl::Status HIncrByFloat(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 4) return ReplyArity(reply, "hincrbyfloat");
  std::optional<long double> increment = ParseLongDouble(argv[3]);
  if (!increment.has_value()) {
    reply.Error(kNotFloatError);
    return absl::OkStatus();
  }
  if (std::isnan(*increment) || std::isinf(*increment)) {
    reply.Error("ERR value is NaN or Infinity");
    return absl::OkStatus();
  }
  absl::StatusOr<Hash> h = LoadHash(ctx, argv[1]);
  if (!h.ok()) return h.status();
  if (h->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<std::string>> old = GetField(ctx, argv[1], *h, argv[2]);
  if (!old.ok()) return old.status();
  long double current = 0;
  if (old->has_value()) {
    std::optional<long double> parsed = ParseLongDouble(**old);
    if (!parsed.has_value()) {
      reply.Error("ERR hash value is not a float");
      return absl::OkStatus();
    }
    current = *parsed;
  }
  const long double result = current + *increment;
  if (std::isnan(result) || std::isinf(result)) {
    reply.Error("ERR increment would produce NaN or Infinity");
    return absl::OkStatus();
  }
  const std::string value = FormatLongDouble(result);
  CreateIfMissing(ctx, *h);
  PutRow(ctx, FieldKey(ctx, argv[1], *h, argv[2]), value);
  if (!old->has_value()) ++h->header.size;
  if (absl::Status s = SaveHash(ctx, argv[1], *h); !s.ok()) return s;
  reply.Bulk(value);
  return absl::OkStatus();
}

// ---- HSCAN ----

// HSCAN key cursor [MATCH pattern] [COUNT count]. The cursor scheme is SCAN's (keys.cc) over
// fields: 0 starts and ends; c resumes at the first field whose first 7 bytes, zero-padded and
// read big-endian, are >= c. A reply examines at least COUNT fields, then finishes the run of
// fields sharing their first 7 bytes. Fields present throughout a scan come back exactly once.
// As in Redis, the cursor is checked first, then the key, then the options.
absl::Status HScan(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3) return ReplyArity(reply, "hscan");
  std::optional<uint64_t> cursor = ParseScanCursor(argv[2]);
  if (!cursor.has_value()) {
    reply.Error("ERR invalid cursor");
    return absl::OkStatus();
  }
  bool replied;
  absl::StatusOr<Hash> h = LoadForRead(ctx, argv, reply, &replied);
  if (!h.ok()) return h.status();
  if (replied) return absl::OkStatus();
  if (!h->exists) {
    reply.ArrayHeader(2);
    reply.Bulk("0");
    reply.ArrayHeader(0);
    return absl::OkStatus();
  }
  int64_t count = 10;
  std::optional<std::string_view> pattern;
  for (size_t i = 3; i < argv.size(); i += 2) {
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
    } else {
      reply.Error(kSyntaxError);
      return absl::OkStatus();
    }
  }
  std::vector<Entry> found;
  uint64_t next_cursor = 0;
  uint64_t last_cursor = 0;
  int64_t examined = 0;
  absl::Status s = WalkFields(ctx, argv[1], *h, *cursor == 0 ? std::string() : ScanSeekOf(*cursor),
                              [&](std::string_view field, std::string_view value) {
                                const uint64_t field_cursor = ScanCursorOf(field);
                                if (examined >= count && field_cursor != last_cursor) {
                                  next_cursor = field_cursor;
                                  return false;
                                }
                                ++examined;
                                last_cursor = field_cursor;
                                if (!pattern.has_value() || GlobMatch(*pattern, field)) {
                                  found.emplace_back(field, value);
                                }
                                return true;
                              });
  if (!s.ok()) return s;
  reply.ArrayHeader(2);
  reply.Bulk(std::to_string(next_cursor));
  reply.ArrayHeader(2 * found.size());
  for (const auto& [field, value] : found) {
    reply.Bulk(field);
    reply.Bulk(value);
  }
  return absl::OkStatus();
}

// ---- HRANDFIELD ----

// A SplitMix64 stream seeded from the entry index and time: identical on every replica.
class Rng {
 public:
  explicit Rng(const ExecContext& ctx) : state_(ctx.seed ^ (ctx.now_ms * 0xd1b54a32d192ed03ULL)) {}
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t Next() {
    uint64_t x = (state_ += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
  uint64_t state_;
};

// HRANDFIELD key [count [WITHVALUES]]. Reads every field (O(size)). WITHVALUES replies a flat
// array of field, value, ... in both protocols (Redis 7.0 nests pairs under RESP3: the Reply
// interface does not tell the protocol). A negative count may repeat fields; a positive one
// returns min(count, size) distinct fields.
absl::Status HRandField(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 2) return ReplyArity(reply, "hrandfield");
  Rng rng(ctx);
  if (argv.size() == 2) {
    bool replied;
    absl::StatusOr<Hash> h = LoadForRead(ctx, argv, reply, &replied);
    if (!h.ok()) return h.status();
    if (replied) return absl::OkStatus();
    absl::StatusOr<std::vector<Entry>> entries = ReadAll(ctx, argv[1], *h);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) {
      reply.Null();
    } else {
      reply.Bulk((*entries)[rng.Below(entries->size())].first);
    }
    return absl::OkStatus();
  }
  std::optional<int64_t> count = ParseInt64(argv[2]);
  if (!count.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  if (*count == std::numeric_limits<int64_t>::min()) {
    reply.Error(
        "ERR value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807");
    return absl::OkStatus();
  }
  if (argv.size() > 4 || (argv.size() == 4 && !EqualsIgnoreCase(argv[3], "withvalues"))) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  const bool with_values = argv.size() == 4;
  constexpr int64_t kHalf = std::numeric_limits<int64_t>::max() / 2;
  if (with_values && (*count < -kHalf || *count > kHalf)) {
    reply.Error("ERR value is out of range");
    return absl::OkStatus();
  }
  bool replied;
  absl::StatusOr<Hash> h = LoadForRead(ctx, argv, reply, &replied);
  if (!h.ok()) return h.status();
  if (replied) return absl::OkStatus();
  absl::StatusOr<std::vector<Entry>> entries = ReadAll(ctx, argv[1], *h);
  if (!entries.ok()) return entries.status();
  const uint64_t size = entries->size();
  // WITHVALUES: [field, value] pairs for RESP3 clients, a flat array for RESP2 (Redis 7.0).
  const bool nested = with_values && reply.protocol() >= 3;
  auto emit = [&](const Entry& e) {
    if (nested) reply.ArrayHeader(2);
    reply.Bulk(e.first);
    if (with_values) reply.Bulk(e.second);
  };
  const size_t per = with_values && !nested ? 2 : 1;
  if (*count == 0 || size == 0) {
    reply.ArrayHeader(0);
  } else if (*count < 0) {
    const auto n = static_cast<uint64_t>(-*count);
    reply.ArrayHeader(n * per);
    for (uint64_t i = 0; i < n; ++i) emit((*entries)[rng.Below(size)]);
  } else if (static_cast<uint64_t>(*count) >= size) {
    reply.ArrayHeader(size * per);
    for (const Entry& e : *entries) emit(e);
  } else {
    // A partial Fisher-Yates shuffle picks `count` distinct indexes.
    const auto n = static_cast<size_t>(*count);
    std::vector<size_t> order(size);
    std::iota(order.begin(), order.end(), 0);
    for (size_t i = 0; i < n; ++i) std::swap(order[i], order[i + rng.Below(size - i)]);
    reply.ArrayHeader(n * per);
    for (size_t i = 0; i < n; ++i) emit((*entries)[order[i]]);
  }
  return absl::OkStatus();
}

constexpr DataCommand kHashCommands[] = {
    {"hset", &HSet, true},        {"hmset", &HMSet, true},
    {"hsetnx", &HSetNx, true},    {"hget", &HGet, false},
    {"hmget", &HMGet, false},     {"hdel", &HDel, true},
    {"hexists", &HExists, false}, {"hlen", &HLen, false},
    {"hstrlen", &HStrLen, false}, {"hkeys", &HKeys, false},
    {"hvals", &HVals, false},     {"hgetall", &HGetAll, false},
    {"hincrby", &HIncrBy, true},  {"hincrbyfloat", &HIncrByFloat, true},
    {"hscan", &HScan, false},     {"hrandfield", &HRandField, false},
};

}  // namespace

std::span<const DataCommand> HashCommands() { return kHashCommands; }

}  // namespace tessera::shard::data
