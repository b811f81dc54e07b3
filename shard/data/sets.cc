// Redis set commands (t_set.c's surface, Redis 7.0 semantics) on the data model's collection
// layout: a metadata row of type set with header {version, size, ""}, and one empty sub-key row
// per member, SubKey(gid, key, version, member). Iteration order is the members' byte order, so
// SMEMBERS, SUNION and friends answer in byte order.
// Every handler stages its writes before it replies, so a storage failure never follows a reply.
//
// Randomness (SPOP, SRANDMEMBER) is drawn from ctx.seed and ctx.now_ms: the same on every
// replica for a write. On the read path ctx.seed is 0, so two SRANDMEMBER calls in the same
// millisecond on the same set give the same answer.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "shard/data/commands.h"
#include "shard/data/util.h"

namespace tessera::shard::data {
namespace {

using Args = std::span<const std::string_view>;

// A set key as a command sees it.
using SetKey = CollectionKey;

absl::StatusOr<SetKey> LoadSet(ExecContext& ctx, std::string_view key) {
  return LoadCollection(ctx, key, KeyType::kSet);
}

void CreateIfMissing(ExecContext& ctx, SetKey& s) {
  CreateCollectionIfMissing(ctx, KeyType::kSet, s);
}

absl::Status SaveSet(ExecContext& ctx, std::string_view key, SetKey& s) {
  return SaveCollection(ctx, key, s);
}

std::string MemberKey(const ExecContext& ctx, std::string_view key, const SetKey& s,
                      std::string_view member) {
  return SubKey(ctx.gid, key, s.header.version, member);
}

absl::StatusOr<bool> IsMember(const ExecContext& ctx, std::string_view key, const SetKey& s,
                              std::string_view member) {
  if (!s.exists) return false;
  absl::StatusOr<std::optional<std::string>> row = GetRow(ctx, MemberKey(ctx, key, s, member));
  if (!row.ok()) return row.status();
  return row->has_value();
}

// Calls visit(member) for every member from `from` on, in byte order, while it returns true.
template <typename Visit>
absl::Status WalkMembers(const ExecContext& ctx, std::string_view key, const SetKey& s,
                         std::string_view from, Visit visit) {
  if (!s.exists) return absl::OkStatus();
  const std::string prefix = SubKeyPrefix(ctx.gid, key, s.header.version);
  RowIterator it(ctx, PrefixEnd(prefix));
  for (it.Seek(prefix + std::string(from)); it.Valid(); it.Next()) {
    if (!visit(it.key().substr(prefix.size()))) break;
  }
  return it.status();
}

absl::StatusOr<std::vector<std::string>> ReadAll(const ExecContext& ctx, std::string_view key,
                                                 const SetKey& s) {
  std::vector<std::string> members;
  absl::Status st = WalkMembers(ctx, key, s, "", [&](std::string_view m) {
    members.emplace_back(m);
    return true;
  });
  if (!st.ok()) return st;
  return members;
}

void ReplySet(Reply& reply, const std::vector<std::string>& members) {
  reply.SetHeader(members.size());
  for (const std::string& m : members) reply.Bulk(m);
}

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

// `n` distinct indexes below `size` (n < size), by a partial Fisher-Yates shuffle.
std::vector<size_t> Choose(Rng& rng, size_t size, size_t n) {
  std::vector<size_t> order(size);
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = 0; i < n; ++i) std::swap(order[i], order[i + rng.Below(size - i)]);
  order.resize(n);
  return order;
}

constexpr std::string_view kRangeError =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
constexpr std::string_view kPositiveError = "ERR value is out of range, must be positive";

// ---- SADD, SREM ----

absl::Status SAdd(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3) return ReplyArity(reply, "sadd");
  absl::StatusOr<SetKey> s = LoadSet(ctx, argv[1]);
  if (!s.ok()) return s.status();
  if (s->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  CreateIfMissing(ctx, *s);
  int64_t added = 0;
  for (size_t i = 2; i < argv.size(); ++i) {
    const std::string row = MemberKey(ctx, argv[1], *s, argv[i]);
    absl::StatusOr<std::optional<std::string>> old = GetRow(ctx, row);
    if (!old.ok()) return old.status();
    if (old->has_value()) continue;
    PutRow(ctx, row, "");
    ++added;
    ++s->header.size;
  }
  if (added > 0) {
    if (absl::Status st = SaveSet(ctx, argv[1], *s); !st.ok()) return st;
  }
  reply.Integer(added);
  return absl::OkStatus();
}

absl::Status SRem(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3) return ReplyArity(reply, "srem");
  absl::StatusOr<SetKey> s = LoadSet(ctx, argv[1]);
  if (!s.ok()) return s.status();
  if (s->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  int64_t removed = 0;
  if (s->exists) {
    for (size_t i = 2; i < argv.size(); ++i) {
      const std::string row = MemberKey(ctx, argv[1], *s, argv[i]);
      absl::StatusOr<std::optional<std::string>> old = GetRow(ctx, row);
      if (!old.ok()) return old.status();
      if (!old->has_value()) continue;
      DeleteRow(ctx, row);
      ++removed;
      --s->header.size;
    }
    if (removed > 0) {
      if (absl::Status st = SaveSet(ctx, argv[1], *s); !st.ok()) return st;
    }
  }
  reply.Integer(removed);
  return absl::OkStatus();
}

// ---- SMEMBERS, SISMEMBER, SMISMEMBER, SCARD ----

// Loads argv[1]; replies WRONGTYPE (and sets *replied) when it holds another type.
absl::StatusOr<SetKey> LoadForRead(ExecContext& ctx, std::string_view key, Reply& reply,
                                   bool* replied) {
  absl::StatusOr<SetKey> s = LoadSet(ctx, key);
  *replied = false;
  if (s.ok() && s->wrong_type) {
    reply.Error(kWrongTypeError);
    *replied = true;
  }
  return s;
}

absl::Status SMembers(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) return ReplyArity(reply, "smembers");
  bool replied;
  absl::StatusOr<SetKey> s = LoadForRead(ctx, argv[1], reply, &replied);
  if (!s.ok()) return s.status();
  if (replied) return absl::OkStatus();
  absl::StatusOr<std::vector<std::string>> members = ReadAll(ctx, argv[1], *s);
  if (!members.ok()) return members.status();
  ReplySet(reply, *members);
  return absl::OkStatus();
}

absl::Status SIsMember(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) return ReplyArity(reply, "sismember");
  bool replied;
  absl::StatusOr<SetKey> s = LoadForRead(ctx, argv[1], reply, &replied);
  if (!s.ok()) return s.status();
  if (replied) return absl::OkStatus();
  absl::StatusOr<bool> member = IsMember(ctx, argv[1], *s, argv[2]);
  if (!member.ok()) return member.status();
  reply.Integer(*member ? 1 : 0);
  return absl::OkStatus();
}

absl::Status SMIsMember(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3) return ReplyArity(reply, "smismember");
  bool replied;
  absl::StatusOr<SetKey> s = LoadForRead(ctx, argv[1], reply, &replied);
  if (!s.ok()) return s.status();
  if (replied) return absl::OkStatus();
  std::vector<bool> found;
  for (size_t i = 2; i < argv.size(); ++i) {
    absl::StatusOr<bool> member = IsMember(ctx, argv[1], *s, argv[i]);
    if (!member.ok()) return member.status();
    found.push_back(*member);
  }
  reply.ArrayHeader(found.size());
  for (bool f : found) reply.Integer(f ? 1 : 0);
  return absl::OkStatus();
}

absl::Status SCard(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) return ReplyArity(reply, "scard");
  bool replied;
  absl::StatusOr<SetKey> s = LoadForRead(ctx, argv[1], reply, &replied);
  if (!s.ok()) return s.status();
  if (replied) return absl::OkStatus();
  reply.Integer(s->exists ? static_cast<int64_t>(s->header.size) : 0);
  return absl::OkStatus();
}

// ---- SPOP, SRANDMEMBER ----

// SPOP key [count]. Reads every member (O(size)). With a count the reply is a set, as in Redis.
absl::Status SPop(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 2) return ReplyArity(reply, "spop");
  if (argv.size() > 3) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  std::optional<int64_t> count;
  if (argv.size() == 3) {
    count = ParseInt64(argv[2]);
    if (!count.has_value() || *count < 0) {
      reply.Error(kPositiveError);
      return absl::OkStatus();
    }
  }
  absl::StatusOr<SetKey> s = LoadSet(ctx, argv[1]);
  if (!s.ok()) return s.status();
  if (s->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (!s->exists || (count.has_value() && *count == 0)) {
    count.has_value() ? reply.SetHeader(0) : reply.Null();
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> members = ReadAll(ctx, argv[1], *s);
  if (!members.ok()) return members.status();
  Rng rng(ctx);
  std::vector<std::string> popped;
  if (count.has_value() && static_cast<uint64_t>(*count) >= members->size()) {
    popped = *std::move(members);
  } else {
    const size_t n = count.has_value() ? static_cast<size_t>(*count) : 1;
    for (size_t i : Choose(rng, members->size(), n)) popped.push_back((*members)[i]);
  }
  for (const std::string& m : popped) DeleteRow(ctx, MemberKey(ctx, argv[1], *s, m));
  s->header.size = s->header.size > popped.size() ? s->header.size - popped.size() : 0;
  if (absl::Status st = SaveSet(ctx, argv[1], *s); !st.ok()) return st;
  if (count.has_value()) {
    ReplySet(reply, popped);
  } else {
    reply.Bulk(popped.front());
  }
  return absl::OkStatus();
}

// SRANDMEMBER key [count]. Reads every member (O(size)). A negative count may repeat members; a
// positive one returns min(count, size) distinct members. The reply with a count is an array.
absl::Status SRandMember(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 2) return ReplyArity(reply, "srandmember");
  if (argv.size() > 3) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  std::optional<int64_t> count;
  if (argv.size() == 3) {
    count = ParseInt64(argv[2]);
    if (!count.has_value()) {
      reply.Error(kNotIntegerError);
      return absl::OkStatus();
    }
    if (*count == std::numeric_limits<int64_t>::min()) {
      reply.Error(kRangeError);
      return absl::OkStatus();
    }
  }
  bool replied;
  absl::StatusOr<SetKey> s = LoadForRead(ctx, argv[1], reply, &replied);
  if (!s.ok()) return s.status();
  if (replied) return absl::OkStatus();
  absl::StatusOr<std::vector<std::string>> members = ReadAll(ctx, argv[1], *s);
  if (!members.ok()) return members.status();
  Rng rng(ctx);
  const uint64_t size = members->size();
  if (!count.has_value()) {
    size == 0 ? reply.Null() : reply.Bulk((*members)[rng.Below(size)]);
  } else if (*count == 0 || size == 0) {
    reply.ArrayHeader(0);
  } else if (*count < 0) {
    const auto n = static_cast<uint64_t>(-*count);
    reply.ArrayHeader(n);
    for (uint64_t i = 0; i < n; ++i) reply.Bulk((*members)[rng.Below(size)]);
  } else if (static_cast<uint64_t>(*count) >= size) {
    reply.ArrayHeader(size);
    for (const std::string& m : *members) reply.Bulk(m);
  } else {
    const auto n = static_cast<size_t>(*count);
    reply.ArrayHeader(n);
    for (size_t i : Choose(rng, size, n)) reply.Bulk((*members)[i]);
  }
  return absl::OkStatus();
}

// ---- SMOVE ----

absl::Status SMove(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 4) return ReplyArity(reply, "smove");
  const std::string_view src_key = argv[1];
  const std::string_view dst_key = argv[2];
  const std::string_view member = argv[3];
  absl::StatusOr<SetKey> src = LoadSet(ctx, src_key);
  if (!src.ok()) return src.status();
  absl::StatusOr<SetKey> dst = LoadSet(ctx, dst_key);
  if (!dst.ok()) return dst.status();
  if (!src->exists && !src->wrong_type) {
    reply.Integer(0);
    return absl::OkStatus();
  }
  if (src->wrong_type || dst->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  absl::StatusOr<bool> in_src = IsMember(ctx, src_key, *src, member);
  if (!in_src.ok()) return in_src.status();
  if (src_key == dst_key || !*in_src) {
    reply.Integer(*in_src ? 1 : 0);
    return absl::OkStatus();
  }
  DeleteRow(ctx, MemberKey(ctx, src_key, *src, member));
  --src->header.size;
  if (absl::Status st = SaveSet(ctx, src_key, *src); !st.ok()) return st;
  CreateIfMissing(ctx, *dst);
  absl::StatusOr<bool> in_dst = IsMember(ctx, dst_key, *dst, member);
  if (!in_dst.ok()) return in_dst.status();
  if (!*in_dst) {
    PutRow(ctx, MemberKey(ctx, dst_key, *dst, member), "");
    ++dst->header.size;
    if (absl::Status st = SaveSet(ctx, dst_key, *dst); !st.ok()) return st;
  }
  reply.Integer(1);
  return absl::OkStatus();
}

// ---- SINTER, SUNION, SDIFF and their STORE forms, SINTERCARD ----

enum class SetOp { kInter, kUnion, kDiff };

// Loads every key; *wrong_type when one holds another type (Redis 7.0 checks every key).
absl::StatusOr<std::vector<SetKey>> LoadAll(ExecContext& ctx, Args keys, bool* wrong_type) {
  std::vector<SetKey> sets;
  *wrong_type = false;
  for (std::string_view key : keys) {
    absl::StatusOr<SetKey> s = LoadSet(ctx, key);
    if (!s.ok()) return s.status();
    if (s->wrong_type) {
      *wrong_type = true;
      return sets;
    }
    sets.push_back(*std::move(s));
  }
  return sets;
}

// The result of `op` over `keys`, in byte order; at most `limit` members for kInter (0 = all).
absl::StatusOr<std::vector<std::string>> Compute(const ExecContext& ctx, SetOp op, Args keys,
                                                 const std::vector<SetKey>& sets,
                                                 uint64_t limit = 0) {
  std::vector<std::string> result;
  if (op == SetOp::kUnion) {
    std::set<std::string> all;
    for (size_t i = 0; i < sets.size(); ++i) {
      absl::Status st = WalkMembers(ctx, keys[i], sets[i], "", [&](std::string_view m) {
        all.emplace(m);
        return true;
      });
      if (!st.ok()) return st;
    }
    result.assign(all.begin(), all.end());
    return result;
  }
  // Intersection walks the smallest set; difference walks the first. Both probe the others.
  size_t base = 0;
  if (op == SetOp::kInter) {
    for (size_t i = 0; i < sets.size(); ++i) {
      if (!sets[i].exists) return result;
      if (sets[i].header.size < sets[base].header.size) base = i;
    }
  }
  absl::Status probe_status;
  absl::Status st = WalkMembers(ctx, keys[base], sets[base], "", [&](std::string_view m) {
    bool keep = true;
    for (size_t i = op == SetOp::kDiff ? 1 : 0; i < sets.size(); ++i) {
      if (i == base && op == SetOp::kInter) continue;
      absl::StatusOr<bool> in = IsMember(ctx, keys[i], sets[i], m);
      if (!in.ok()) {
        probe_status = in.status();
        return false;
      }
      if (op == SetOp::kInter ? !*in : *in) {
        keep = false;
        break;
      }
    }
    if (keep) result.emplace_back(m);
    return limit == 0 || result.size() < limit;
  });
  if (!st.ok()) return st;
  if (!probe_status.ok()) return probe_status;
  return result;
}

absl::Status SetOpCommand(ExecContext& ctx, Args argv, Reply& reply, SetOp op,
                          std::string_view command) {
  if (argv.size() < 2) return ReplyArity(reply, command);
  const Args keys = argv.subspan(1);
  bool wrong_type;
  absl::StatusOr<std::vector<SetKey>> sets = LoadAll(ctx, keys, &wrong_type);
  if (!sets.ok()) return sets.status();
  if (wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> result = Compute(ctx, op, keys, *sets);
  if (!result.ok()) return result.status();
  ReplySet(reply, *result);
  return absl::OkStatus();
}

// The destination is replaced whatever its type; an empty result deletes it.
absl::Status SetOpStore(ExecContext& ctx, Args argv, Reply& reply, SetOp op,
                        std::string_view command) {
  if (argv.size() < 3) return ReplyArity(reply, command);
  const std::string_view dst_key = argv[1];
  const Args keys = argv.subspan(2);
  bool wrong_type;
  absl::StatusOr<std::vector<SetKey>> sets = LoadAll(ctx, keys, &wrong_type);
  if (!sets.ok()) return sets.status();
  if (wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> result = Compute(ctx, op, keys, *sets);
  if (!result.ok()) return result.status();
  absl::StatusOr<std::optional<Metadata>> old = LoadMetadata(ctx, dst_key);
  if (!old.ok()) return old.status();
  if (old->has_value()) {
    if (absl::Status st = DeleteKey(ctx, dst_key, **old); !st.ok()) return st;
  }
  SetKey dst;
  if (!result->empty()) {
    CreateIfMissing(ctx, dst);
    for (const std::string& m : *result) PutRow(ctx, MemberKey(ctx, dst_key, dst, m), "");
    dst.header.size = result->size();
    if (absl::Status st = SaveSet(ctx, dst_key, dst); !st.ok()) return st;
  }
  reply.Integer(static_cast<int64_t>(result->size()));
  return absl::OkStatus();
}

absl::Status SInter(ExecContext& ctx, Args argv, Reply& reply) {
  return SetOpCommand(ctx, argv, reply, SetOp::kInter, "sinter");
}
absl::Status SUnion(ExecContext& ctx, Args argv, Reply& reply) {
  return SetOpCommand(ctx, argv, reply, SetOp::kUnion, "sunion");
}
absl::Status SDiff(ExecContext& ctx, Args argv, Reply& reply) {
  return SetOpCommand(ctx, argv, reply, SetOp::kDiff, "sdiff");
}
absl::Status SInterStore(ExecContext& ctx, Args argv, Reply& reply) {
  return SetOpStore(ctx, argv, reply, SetOp::kInter, "sinterstore");
}
absl::Status SUnionStore(ExecContext& ctx, Args argv, Reply& reply) {
  return SetOpStore(ctx, argv, reply, SetOp::kUnion, "sunionstore");
}
absl::Status SDiffStore(ExecContext& ctx, Args argv, Reply& reply) {
  return SetOpStore(ctx, argv, reply, SetOp::kDiff, "sdiffstore");
}

// SINTERCARD numkeys key [key ...] [LIMIT limit]; the last LIMIT wins, 0 means none.
absl::Status SInterCard(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3) return ReplyArity(reply, "sintercard");
  std::optional<int64_t> numkeys = ParseInt64(argv[1]);
  if (!numkeys.has_value() || *numkeys < 1) {
    reply.Error("ERR numkeys should be greater than 0");
    return absl::OkStatus();
  }
  if (static_cast<uint64_t>(*numkeys) > argv.size() - 2) {
    reply.Error("ERR Number of keys can't be greater than number of args");
    return absl::OkStatus();
  }
  const Args keys = argv.subspan(2, static_cast<size_t>(*numkeys));
  uint64_t limit = 0;
  for (size_t i = 2 + keys.size(); i < argv.size(); i += 2) {
    if (i + 1 < argv.size() && EqualsIgnoreCase(argv[i], "limit")) {
      std::optional<int64_t> n = ParseInt64(argv[i + 1]);
      if (!n.has_value() || *n < 0) {
        reply.Error("ERR LIMIT can't be negative");
        return absl::OkStatus();
      }
      limit = static_cast<uint64_t>(*n);
    } else {
      reply.Error(kSyntaxError);
      return absl::OkStatus();
    }
  }
  bool wrong_type;
  absl::StatusOr<std::vector<SetKey>> sets = LoadAll(ctx, keys, &wrong_type);
  if (!sets.ok()) return sets.status();
  if (wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> result = Compute(ctx, SetOp::kInter, keys, *sets, limit);
  if (!result.ok()) return result.status();
  reply.Integer(static_cast<int64_t>(result->size()));
  return absl::OkStatus();
}

// ---- SSCAN ----

// SSCAN key cursor [MATCH pattern] [COUNT count], with SCAN's cursor scheme over members (see
// hashes.cc's HSCAN). The cursor is checked first, then the key, then the options.
absl::Status SScan(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3) return ReplyArity(reply, "sscan");
  std::optional<uint64_t> cursor = ParseScanCursor(argv[2]);
  if (!cursor.has_value()) {
    reply.Error("ERR invalid cursor");
    return absl::OkStatus();
  }
  bool replied;
  absl::StatusOr<SetKey> s = LoadForRead(ctx, argv[1], reply, &replied);
  if (!s.ok()) return s.status();
  if (replied) return absl::OkStatus();
  if (!s->exists) {
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
  std::vector<std::string> found;
  uint64_t next_cursor = 0;
  uint64_t last_cursor = 0;
  int64_t examined = 0;
  absl::Status st =
      WalkMembers(ctx, argv[1], *s, *cursor == 0 ? std::string() : ScanSeekOf(*cursor),
                  [&](std::string_view member) {
                    const uint64_t member_cursor = ScanCursorOf(member);
                    if (examined >= count && member_cursor != last_cursor) {
                      next_cursor = member_cursor;
                      return false;
                    }
                    ++examined;
                    last_cursor = member_cursor;
                    if (!pattern.has_value() || GlobMatch(*pattern, member)) {
                      found.emplace_back(member);
                    }
                    return true;
                  });
  if (!st.ok()) return st;
  reply.ArrayHeader(2);
  reply.Bulk(std::to_string(next_cursor));
  reply.ArrayHeader(found.size());
  for (const std::string& m : found) reply.Bulk(m);
  return absl::OkStatus();
}

constexpr DataCommand kSetCommands[] = {
    {"sadd", &SAdd, true},
    {"srem", &SRem, true},
    {"smembers", &SMembers, false},
    {"sismember", &SIsMember, false},
    {"smismember", &SMIsMember, false},
    {"scard", &SCard, false},
    {"spop", &SPop, true},
    {"srandmember", &SRandMember, false},
    {"smove", &SMove, true},
    {"sinter", &SInter, false},
    {"sunion", &SUnion, false},
    {"sdiff", &SDiff, false},
    {"sinterstore", &SInterStore, true},
    {"sunionstore", &SUnionStore, true},
    {"sdiffstore", &SDiffStore, true},
    {"sintercard", &SInterCard, false},
    {"sscan", &SScan, false},
};

}  // namespace

std::span<const DataCommand> SetCommands() { return kSetCommands; }

}  // namespace tessera::shard::data
