// Redis sorted set commands (t_zset.c's surface, Redis 7.0 semantics) on the data model.
//
// Layout (ARCHITECTURE: member→score and score|member): the metadata row has type kZSet and the
// collection header {version, size, ""}; each member has two sub-key rows of that version:
//   'm' ‖ member                      → score (IEEE-754 bits, u64 big-endian)
//   's' ‖ sortable score (8 bytes) ‖ member → empty
// The sortable score flips the sign bit of a positive double and inverts every bit of a negative
// one, so the bytewise order of the index is the numeric order, ties broken by member bytes like
// Redis's skiplist. -0 is stored as 0, as Redis's listpack encoding does (ZSCORE answers "0").
//
// Ranks are found by walking the score index: ZRANK, rank ranges and ZREMRANGEBYRANK cost
// O(rank) rows, not O(log n) like a skiplist. Good enough for now; an order-statistics index
// (e.g. counted blocks) would fix it.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "shard/data/commands.h"
#include "shard/data/util.h"
#include "shard/storage/keys.h"

namespace tessera::shard::data {
namespace {

using Args = std::span<const std::string_view>;

constexpr char kMemberTag = 'm';
constexpr char kScoreTag = 's';

constexpr std::string_view kMinMaxNotFloat = "ERR min or max is not a float";
constexpr std::string_view kMinMaxNotLex = "ERR min or max not valid string range item";
constexpr std::string_view kNanScore = "ERR resulting score is not a number (NaN)";

uint64_t DoubleBits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}
double BitsDouble(uint64_t bits) {
  double v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

std::string EncodeScore(double v) { return EncodeU64BE(DoubleBits(v)); }

std::string SortableScore(double v) {
  if (v == 0) v = 0.0;  // -0 sorts with 0
  uint64_t bits = DoubleBits(v);
  bits = (bits >> 63) != 0 ? ~bits : bits | (uint64_t{1} << 63);
  return EncodeU64BE(bits);
}
double ScoreOfSortable(std::string_view in) {
  uint64_t bits = DecodeU64BE(in);
  bits = (bits >> 63) != 0 ? bits & ~(uint64_t{1} << 63) : ~bits;
  return BitsDouble(bits);
}

// d2string / RESP2 doubles: "%.17g" ("inf", "-inf", "-0" included).
std::string FormatScore(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// WITHSCORES replies: Redis 7.0 answers RESP3 clients an array of [member, score] pairs and
// RESP2 clients a flat array.
void PairsHeader(Reply& reply, size_t pairs) {
  reply.ArrayHeader(reply.protocol() >= 3 ? pairs : 2 * pairs);
}
void PairHeader(Reply& reply) {
  if (reply.protocol() >= 3) reply.ArrayHeader(2);
}

struct Entry {
  std::string member;
  double score = 0;
};

// An open sorted set: its live metadata (when the key exists) and header.
struct ZSet {
  bool exists = false;
  Metadata meta;
  CollectionHeader header;
  std::string member_prefix;
  std::string score_prefix;

  void SetPrefixes(GroupId gid, std::string_view key) {
    const std::string base = SubKeyPrefix(gid, key, header.version);
    member_prefix = base + kMemberTag;
    score_prefix = base + kScoreTag;
  }
};

// Loads `key`: *out is the sorted set or nullopt when absent. Returns false after replying
// WRONGTYPE when the key holds another type.
absl::StatusOr<bool> Open(ExecContext& ctx, std::string_view key, Reply& reply,
                          std::optional<ZSet>* out) {
  out->reset();
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, key);
  if (!m.ok()) return m.status();
  if (!m->has_value()) return true;
  if ((*m)->type != KeyType::kZSet) {
    reply.Error(kWrongTypeError);
    return false;
  }
  absl::StatusOr<CollectionHeader> h = DecodeCollectionHeader((*m)->payload);
  if (!h.ok()) return h.status();
  ZSet z;
  z.exists = true;
  z.meta = **m;
  z.header = *std::move(h);
  z.SetPrefixes(ctx.gid, key);
  *out = std::move(z);
  return true;
}

// A fresh, empty sorted set for `key` (stored by Save once it has members).
ZSet NewZSet(ExecContext& ctx, std::string_view key) {
  ZSet z;
  z.meta.type = KeyType::kZSet;
  z.header.version = NewCollectionVersion(ctx);
  z.SetPrefixes(ctx.gid, key);
  return z;
}

// Writes the header back; an empty sorted set is deleted.
absl::Status Save(ExecContext& ctx, std::string_view key, const ZSet& z) {
  if (z.header.size == 0) {
    if (z.exists) DeleteEmptyCollection(ctx, key);  // its member rows are already deleted
    return absl::OkStatus();
  }
  Metadata m = z.meta;
  m.type = KeyType::kZSet;
  m.payload = EncodeCollectionHeader(z.header);
  StoreMetadata(ctx, key, m);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<double>> GetScore(const ExecContext& ctx, const ZSet& z,
                                               std::string_view member) {
  std::string row = z.member_prefix;
  row.append(member);
  absl::StatusOr<std::optional<std::string>> v = GetRow(ctx, row);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<double>();
  if ((*v)->size() != 8) {
    return absl::DataLossError("sorted set score row of " + std::to_string((*v)->size()) +
                               " bytes");
  }
  return std::optional<double>(BitsDouble(DecodeU64BE(**v)));
}

std::string IndexRow(const ZSet& z, double score, std::string_view member) {
  std::string row = z.score_prefix;
  row += SortableScore(score);
  row.append(member);
  return row;
}

// Sets `member`'s score; `old` is its current score, if any.
void PutMember(ExecContext& ctx, ZSet& z, std::string_view member, double score,
               std::optional<double> old) {
  if (score == 0) score = 0.0;  // no -0
  if (old.has_value()) {
    DeleteRow(ctx, IndexRow(z, *old, member));
  } else {
    ++z.header.size;
  }
  std::string row = z.member_prefix;
  row.append(member);
  PutRow(ctx, row, EncodeScore(score));
  PutRow(ctx, IndexRow(z, score, member), "");
}

void RemoveMember(ExecContext& ctx, ZSet& z, std::string_view member, double score) {
  std::string row = z.member_prefix;
  row.append(member);
  DeleteRow(ctx, row);
  DeleteRow(ctx, IndexRow(z, score, member));
  --z.header.size;
}

// Walks the score index ascending (or descending when `reverse`), calling visit(member, score)
// until it returns false. Forward walks start at `bound` (a key under score_prefix; empty = the
// first row); reverse walks start below `bound` (empty = past the last row).
template <typename Visit>
absl::Status Walk(const ExecContext& ctx, const ZSet& z, bool reverse, std::string_view bound,
                  Visit visit) {
  const std::string end = PrefixEnd(z.score_prefix);
  RowIterator it(ctx, reverse && !bound.empty() ? std::string(bound) : end);
  if (reverse) {
    it.SeekToLast();
  } else {
    it.Seek(bound.empty() ? std::string_view(z.score_prefix) : bound);
  }
  for (; it.Valid(); reverse ? it.Prev() : it.Next()) {
    std::string_view key = it.key();
    if (!key.starts_with(z.score_prefix)) break;
    key.remove_prefix(z.score_prefix.size());
    if (key.size() < 8) return absl::DataLossError("short sorted set index row");
    if (!visit(key.substr(8), ScoreOfSortable(key.substr(0, 8)))) break;
  }
  return it.status();
}

// ---- Range specifications ----

struct ScoreRange {
  double min = 0, max = 0;
  bool minex = false, maxex = false;

  bool GteMin(double v) const { return minex ? v > min : v >= min; }
  bool LteMax(double v) const { return maxex ? v < max : v <= max; }
  bool Empty() const { return min > max || (min == max && (minex || maxex)); }
};

// zslParseRange: '(' makes a bound exclusive; the rest goes through strtod whole (so "" is 0 and
// "inf" works), NaN is refused.
std::optional<double> ParseScoreBound(std::string_view arg, bool* exclusive) {
  *exclusive = !arg.empty() && arg[0] == '(';
  if (*exclusive) arg.remove_prefix(1);
  const std::string text(arg);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || std::isnan(v)) return std::nullopt;
  return v;
}

std::optional<ScoreRange> ParseScoreRange(std::string_view min, std::string_view max) {
  ScoreRange r;
  std::optional<double> lo = ParseScoreBound(min, &r.minex);
  std::optional<double> hi = ParseScoreBound(max, &r.maxex);
  if (!lo.has_value() || !hi.has_value()) return std::nullopt;
  r.min = *lo;
  r.max = *hi;
  return r;
}

struct LexBound {
  enum class Kind { kMin, kMax, kValue } kind = Kind::kValue;
  std::string value;
  bool ex = false;
};

std::optional<LexBound> ParseLexBound(std::string_view arg) {
  LexBound b;
  if (arg == "+" || arg == "-") {
    b.kind = arg == "+" ? LexBound::Kind::kMax : LexBound::Kind::kMin;
    b.ex = true;
    return b;
  }
  if (arg.empty() || (arg[0] != '(' && arg[0] != '[')) return std::nullopt;
  b.ex = arg[0] == '(';
  b.value = std::string(arg.substr(1));
  return b;
}

// sdscmplex: a member against a bound, or two bounds.
int CompareLex(const LexBound& a, const LexBound& b) {
  using K = LexBound::Kind;
  if (a.kind != K::kValue && a.kind == b.kind) return 0;
  if (a.kind == K::kMin || b.kind == K::kMax) return -1;
  if (a.kind == K::kMax || b.kind == K::kMin) return 1;
  const int c = a.value.compare(b.value);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}
int CompareLex(std::string_view member, const LexBound& b) {
  if (b.kind == LexBound::Kind::kMin) return 1;
  if (b.kind == LexBound::Kind::kMax) return -1;
  const int c = member.compare(b.value);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

struct LexRange {
  LexBound min, max;

  bool GteMin(std::string_view m) const {
    const int c = CompareLex(m, min);
    return min.ex ? c > 0 : c >= 0;
  }
  bool LteMax(std::string_view m) const {
    const int c = CompareLex(m, max);
    return max.ex ? c < 0 : c <= 0;
  }
  bool Empty() const {
    const int c = CompareLex(min, max);
    return c > 0 || (c == 0 && (min.ex || max.ex));
  }
};

std::optional<LexRange> ParseLexRange(std::string_view min, std::string_view max) {
  std::optional<LexBound> lo = ParseLexBound(min);
  std::optional<LexBound> hi = ParseLexBound(max);
  if (!lo.has_value() || !hi.has_value()) return std::nullopt;
  return LexRange{*std::move(lo), *std::move(hi)};
}

enum class RangeType { kRank, kScore, kLex };

struct RangeSpec {
  RangeType type = RangeType::kRank;
  bool reverse = false;
  int64_t start = 0, stop = -1;  // ranks
  ScoreRange score;
  LexRange lex;
  int64_t offset = 0;  // LIMIT (score and lex)
  int64_t limit = -1;  // negative: no limit
};

// The members of `z` in `spec`, in reply order. Score and lex ranges honour offset/limit like
// Redis (a negative offset gives nothing, a negative count means all).
absl::Status CollectRange(const ExecContext& ctx, const ZSet& z, const RangeSpec& spec,
                          std::vector<Entry>* out) {
  out->clear();
  const int64_t size = static_cast<int64_t>(z.header.size);
  if (spec.type == RangeType::kRank) {
    int64_t start = spec.start, stop = spec.stop;
    if (start < 0) start += size;
    if (stop < 0) stop += size;
    if (start < 0) start = 0;
    if (start > stop || start >= size) return absl::OkStatus();
    if (stop >= size) stop = size - 1;
    int64_t index = 0;
    return Walk(ctx, z, spec.reverse, "", [&](std::string_view member, double score) {
      if (index++ >= start) out->push_back({std::string(member), score});
      return index <= stop;
    });
  }
  if (spec.offset < 0 || (spec.offset > 0 && spec.offset >= size)) return absl::OkStatus();
  int64_t skip = spec.offset;
  int64_t left = spec.limit;
  if (left == 0) return absl::OkStatus();
  bool started = false;  // past the rows before the range
  auto take = [&](std::string_view member, double score, bool gte_min, bool lte_max) {
    if (!started) {
      if (spec.reverse ? !lte_max : !gte_min) return true;
      started = true;
    }
    if (spec.reverse ? !gte_min : !lte_max) return false;
    if (skip > 0) {
      --skip;
      return true;
    }
    out->push_back({std::string(member), score});
    return left < 0 || --left > 0;
  };
  if (spec.type == RangeType::kScore) {
    if (spec.score.Empty()) return absl::OkStatus();
    const std::string bound = spec.reverse
                                  ? PrefixEnd(z.score_prefix + SortableScore(spec.score.max))
                                  : z.score_prefix + SortableScore(spec.score.min);
    return Walk(ctx, z, spec.reverse, bound, [&](std::string_view member, double score) {
      return take(member, score, spec.score.GteMin(score), spec.score.LteMax(score));
    });
  }
  // Lex ranges assume equal scores (as Redis does). Seeking inside the first (last) score's
  // rows skips exactly the rows a walk from the end would skip.
  if (spec.lex.Empty() || size == 0) return absl::OkStatus();
  // Like zslIsInLexRange: nothing when the first member is above max or the last below min.
  double edge = 0;
  bool in_range = true;
  for (const bool from_end : {false, true}) {
    absl::Status s = Walk(ctx, z, from_end, "", [&](std::string_view member, double score) {
      if (from_end == spec.reverse) edge = score;
      if (!(from_end ? spec.lex.GteMin(member) : spec.lex.LteMax(member))) in_range = false;
      return false;
    });
    if (!s.ok()) return s;
  }
  if (!in_range) return absl::OkStatus();
  std::string bound;
  const LexBound& b = spec.reverse ? spec.lex.max : spec.lex.min;
  if (b.kind == LexBound::Kind::kValue) {
    bound = IndexRow(z, edge, b.value);
    if (spec.reverse && !b.ex) bound.push_back('\0');
  }
  return Walk(ctx, z, spec.reverse, bound, [&](std::string_view member, double score) {
    return take(member, score, spec.lex.GteMin(member), spec.lex.LteMax(member));
  });
}

void ReplyEntries(Reply& reply, const std::vector<Entry>& entries, bool withscores) {
  if (!withscores) {
    reply.ArrayHeader(entries.size());
    for (const Entry& e : entries) reply.Bulk(e.member);
    return;
  }
  PairsHeader(reply, entries.size());
  for (const Entry& e : entries) {
    PairHeader(reply);
    reply.Bulk(e.member);
    reply.Double(e.score);
  }
}

// ---- ZADD / ZINCRBY ----

struct AddFlags {
  bool nx = false, xx = false, gt = false, lt = false, ch = false, incr = false;
};

// zaddGenericCommand after option parsing: `pairs` are score, member, ...
absl::Status AddGeneric(ExecContext& ctx, std::string_view key, const AddFlags& f, Args pairs,
                        Reply& reply) {
  const size_t elements = pairs.size() / 2;
  if (f.nx && f.xx) {
    reply.Error("ERR XX and NX options at the same time are not compatible");
    return absl::OkStatus();
  }
  if ((f.gt && f.nx) || (f.lt && f.nx) || (f.gt && f.lt)) {
    reply.Error("ERR GT, LT, and/or NX options at the same time are not compatible");
    return absl::OkStatus();
  }
  if (f.incr && elements > 1) {
    reply.Error("ERR INCR option supports a single increment-element pair");
    return absl::OkStatus();
  }
  std::vector<double> scores;
  scores.reserve(elements);
  for (size_t i = 0; i < elements; ++i) {
    std::optional<double> v = ParseDouble(pairs[2 * i]);
    if (!v.has_value()) {
      reply.Error(kNotFloatError);
      return absl::OkStatus();
    }
    scores.push_back(*v);
  }
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, key, reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  int64_t added = 0, updated = 0, processed = 0;
  double last_score = 0;
  if (z.has_value() || !f.xx) {
    if (!z.has_value()) z = NewZSet(ctx, key);
    for (size_t i = 0; i < elements; ++i) {
      const std::string_view member = pairs[2 * i + 1];
      double score = scores[i];
      absl::StatusOr<std::optional<double>> cur = GetScore(ctx, *z, member);
      if (!cur.ok()) return cur.status();
      if (cur->has_value()) {
        const double old = **cur;
        if (f.nx) continue;
        if (f.incr) {
          score += old;
          if (std::isnan(score)) {
            // Only INCR (one pair) gets here, so nothing was changed yet.
            reply.Error(kNanScore);
            return absl::OkStatus();
          }
        }
        if ((f.lt && score >= old) || (f.gt && score <= old)) continue;
        if (score != old) {
          PutMember(ctx, *z, member, score, old);
          ++updated;
        }
      } else {
        if (f.xx) continue;
        PutMember(ctx, *z, member, score, std::nullopt);
        ++added;
      }
      ++processed;
      last_score = score;
    }
    if (absl::Status s = Save(ctx, key, *z); !s.ok()) return s;
  }
  if (f.incr) {
    if (processed > 0) {
      reply.Double(last_score);
    } else {
      reply.Null();
    }
  } else {
    reply.Integer(f.ch ? added + updated : added);
  }
  return absl::OkStatus();
}

absl::Status ZAdd(ExecContext& ctx, Args argv, Reply& reply) {
  AddFlags f;
  size_t i = 2;
  for (; i < argv.size(); ++i) {
    const std::string_view opt = argv[i];
    if (EqualsIgnoreCase(opt, "nx")) {
      f.nx = true;
    } else if (EqualsIgnoreCase(opt, "xx")) {
      f.xx = true;
    } else if (EqualsIgnoreCase(opt, "ch")) {
      f.ch = true;
    } else if (EqualsIgnoreCase(opt, "incr")) {
      f.incr = true;
    } else if (EqualsIgnoreCase(opt, "gt")) {
      f.gt = true;
    } else if (EqualsIgnoreCase(opt, "lt")) {
      f.lt = true;
    } else {
      break;
    }
  }
  const Args pairs = argv.subspan(i);
  if (pairs.empty() || pairs.size() % 2 != 0) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  return AddGeneric(ctx, argv[1], f, pairs, reply);
}

absl::Status ZIncrBy(ExecContext& ctx, Args argv, Reply& reply) {
  AddFlags f;
  f.incr = true;
  return AddGeneric(ctx, argv[1], f, argv.subspan(2, 2), reply);
}

// ---- Simple reads and ZREM ----

absl::Status ZRem(ExecContext& ctx, Args argv, Reply& reply) {
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  int64_t removed = 0;
  if (z.has_value()) {
    for (std::string_view member : argv.subspan(2)) {
      absl::StatusOr<std::optional<double>> cur = GetScore(ctx, *z, member);
      if (!cur.ok()) return cur.status();
      if (!cur->has_value()) continue;
      RemoveMember(ctx, *z, member, **cur);
      ++removed;
    }
    if (removed > 0) {
      if (absl::Status s = Save(ctx, argv[1], *z); !s.ok()) return s;
    }
  }
  reply.Integer(removed);
  return absl::OkStatus();
}

absl::Status ZCard(ExecContext& ctx, Args argv, Reply& reply) {
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  reply.Integer(z.has_value() ? static_cast<int64_t>(z->header.size) : 0);
  return absl::OkStatus();
}

absl::Status ZScore(ExecContext& ctx, Args argv, Reply& reply) {
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  std::optional<double> score;
  if (z.has_value()) {
    absl::StatusOr<std::optional<double>> cur = GetScore(ctx, *z, argv[2]);
    if (!cur.ok()) return cur.status();
    score = *cur;
  }
  if (score.has_value()) {
    reply.Double(*score);
  } else {
    reply.Null();
  }
  return absl::OkStatus();
}

absl::Status ZMScore(ExecContext& ctx, Args argv, Reply& reply) {
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  std::vector<std::optional<double>> scores;
  for (std::string_view member : argv.subspan(2)) {
    if (!z.has_value()) {
      scores.emplace_back();
      continue;
    }
    absl::StatusOr<std::optional<double>> cur = GetScore(ctx, *z, member);
    if (!cur.ok()) return cur.status();
    scores.push_back(*cur);
  }
  reply.ArrayHeader(scores.size());
  for (const std::optional<double>& s : scores) {
    if (s.has_value()) {
      reply.Double(*s);
    } else {
      reply.Null();
    }
  }
  return absl::OkStatus();
}

absl::Status RankGeneric(ExecContext& ctx, Args argv, Reply& reply, bool reverse) {
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  if (!z.has_value()) {
    reply.Null();
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<double>> cur = GetScore(ctx, *z, argv[2]);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value()) {
    reply.Null();
    return absl::OkStatus();
  }
  // The rows before the member's index row (O(rank)).
  const std::string row = IndexRow(*z, **cur, argv[2]);
  int64_t before = 0;
  absl::Status s = Walk(ctx, *z, false, "", [&](std::string_view member, double score) {
    if (IndexRow(*z, score, member) >= row) return false;
    ++before;
    return true;
  });
  if (!s.ok()) return s;
  reply.Integer(reverse ? static_cast<int64_t>(z->header.size) - 1 - before : before);
  return absl::OkStatus();
}

absl::Status ZRank(ExecContext& ctx, Args argv, Reply& reply) {
  return RankGeneric(ctx, argv, reply, false);
}
absl::Status ZRevRank(ExecContext& ctx, Args argv, Reply& reply) {
  return RankGeneric(ctx, argv, reply, true);
}

absl::Status CountGeneric(ExecContext& ctx, Args argv, Reply& reply, RangeType type) {
  RangeSpec spec;
  spec.type = type;
  if (type == RangeType::kScore) {
    std::optional<ScoreRange> r = ParseScoreRange(argv[2], argv[3]);
    if (!r.has_value()) {
      reply.Error(kMinMaxNotFloat);
      return absl::OkStatus();
    }
    spec.score = *r;
  } else {
    std::optional<LexRange> r = ParseLexRange(argv[2], argv[3]);
    if (!r.has_value()) {
      reply.Error(kMinMaxNotLex);
      return absl::OkStatus();
    }
    spec.lex = *std::move(r);
  }
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  std::vector<Entry> entries;
  if (z.has_value()) {
    if (absl::Status s = CollectRange(ctx, *z, spec, &entries); !s.ok()) return s;
  }
  reply.Integer(static_cast<int64_t>(entries.size()));
  return absl::OkStatus();
}

absl::Status ZCount(ExecContext& ctx, Args argv, Reply& reply) {
  return CountGeneric(ctx, argv, reply, RangeType::kScore);
}
absl::Status ZLexCount(ExecContext& ctx, Args argv, Reply& reply) {
  return CountGeneric(ctx, argv, reply, RangeType::kLex);
}

// ---- ZRANGE family ----

// zrangeGenericCommand: `type`/`reverse` are fixed by the legacy commands, nullopt for ZRANGE
// (chosen by BYSCORE/BYLEX/REV).
absl::Status RangeGeneric(ExecContext& ctx, Args argv, Reply& reply, std::optional<RangeType> type,
                          std::optional<bool> reverse) {
  bool withscores = false;
  int64_t offset = 0, limit = -1;
  for (size_t j = 4; j < argv.size(); ++j) {
    const size_t left = argv.size() - j - 1;
    const std::string_view opt = argv[j];
    if (EqualsIgnoreCase(opt, "withscores")) {
      withscores = true;
    } else if (EqualsIgnoreCase(opt, "limit") && left >= 2) {
      std::optional<int64_t> o = ParseInt64(argv[j + 1]);
      std::optional<int64_t> l = o.has_value() ? ParseInt64(argv[j + 2]) : std::nullopt;
      if (!l.has_value()) {
        reply.Error(kNotIntegerError);
        return absl::OkStatus();
      }
      offset = *o;
      limit = *l;
      j += 2;
    } else if (!reverse.has_value() && EqualsIgnoreCase(opt, "rev")) {
      reverse = true;
    } else if (!type.has_value() && EqualsIgnoreCase(opt, "bylex")) {
      type = RangeType::kLex;
    } else if (!type.has_value() && EqualsIgnoreCase(opt, "byscore")) {
      type = RangeType::kScore;
    } else {
      reply.Error(kSyntaxError);
      return absl::OkStatus();
    }
  }
  RangeSpec spec;
  spec.type = type.value_or(RangeType::kRank);
  spec.reverse = reverse.value_or(false);
  spec.offset = offset;
  spec.limit = limit;
  // Redis tests the count alone: ZRANGE ... LIMIT 5 -1 passes by rank.
  if (limit != -1 && spec.type == RangeType::kRank) {
    reply.Error(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    return absl::OkStatus();
  }
  if (withscores && spec.type == RangeType::kLex) {
    reply.Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    return absl::OkStatus();
  }
  std::string_view min = argv[2], max = argv[3];
  if (spec.reverse && spec.type != RangeType::kRank) std::swap(min, max);
  switch (spec.type) {
    case RangeType::kRank: {
      std::optional<int64_t> start = ParseInt64(min);
      std::optional<int64_t> stop = start.has_value() ? ParseInt64(max) : std::nullopt;
      if (!stop.has_value()) {
        reply.Error(kNotIntegerError);
        return absl::OkStatus();
      }
      spec.start = *start;
      spec.stop = *stop;
      break;
    }
    case RangeType::kScore: {
      std::optional<ScoreRange> r = ParseScoreRange(min, max);
      if (!r.has_value()) {
        reply.Error(kMinMaxNotFloat);
        return absl::OkStatus();
      }
      spec.score = *r;
      break;
    }
    case RangeType::kLex: {
      std::optional<LexRange> r = ParseLexRange(min, max);
      if (!r.has_value()) {
        reply.Error(kMinMaxNotLex);
        return absl::OkStatus();
      }
      spec.lex = *std::move(r);
      break;
    }
  }
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  std::vector<Entry> entries;
  if (z.has_value()) {
    if (absl::Status s = CollectRange(ctx, *z, spec, &entries); !s.ok()) return s;
  }
  ReplyEntries(reply, entries, withscores);
  return absl::OkStatus();
}

absl::Status ZRange(ExecContext& ctx, Args argv, Reply& reply) {
  return RangeGeneric(ctx, argv, reply, std::nullopt, std::nullopt);
}
absl::Status ZRangeByScore(ExecContext& ctx, Args argv, Reply& reply) {
  return RangeGeneric(ctx, argv, reply, RangeType::kScore, false);
}
absl::Status ZRevRangeByScore(ExecContext& ctx, Args argv, Reply& reply) {
  return RangeGeneric(ctx, argv, reply, RangeType::kScore, true);
}
absl::Status ZRangeByLex(ExecContext& ctx, Args argv, Reply& reply) {
  return RangeGeneric(ctx, argv, reply, RangeType::kLex, false);
}
absl::Status ZRevRangeByLex(ExecContext& ctx, Args argv, Reply& reply) {
  return RangeGeneric(ctx, argv, reply, RangeType::kLex, true);
}
absl::Status ZRevRange(ExecContext& ctx, Args argv, Reply& reply) {
  return RangeGeneric(ctx, argv, reply, RangeType::kRank, true);
}

// ZREMRANGEBYRANK / BYSCORE / BYLEX key a b.
absl::Status RemRangeGeneric(ExecContext& ctx, Args argv, Reply& reply, RangeType type) {
  RangeSpec spec;
  spec.type = type;
  switch (type) {
    case RangeType::kRank: {
      std::optional<int64_t> start = ParseInt64(argv[2]);
      std::optional<int64_t> stop = start.has_value() ? ParseInt64(argv[3]) : std::nullopt;
      if (!stop.has_value()) {
        reply.Error(kNotIntegerError);
        return absl::OkStatus();
      }
      spec.start = *start;
      spec.stop = *stop;
      break;
    }
    case RangeType::kScore: {
      std::optional<ScoreRange> r = ParseScoreRange(argv[2], argv[3]);
      if (!r.has_value()) {
        reply.Error(kMinMaxNotFloat);
        return absl::OkStatus();
      }
      spec.score = *r;
      break;
    }
    case RangeType::kLex: {
      std::optional<LexRange> r = ParseLexRange(argv[2], argv[3]);
      if (!r.has_value()) {
        reply.Error(kMinMaxNotLex);
        return absl::OkStatus();
      }
      spec.lex = *std::move(r);
      break;
    }
  }
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  std::vector<Entry> entries;
  if (z.has_value()) {
    if (absl::Status s = CollectRange(ctx, *z, spec, &entries); !s.ok()) return s;
    for (const Entry& e : entries) RemoveMember(ctx, *z, e.member, e.score);
    if (!entries.empty()) {
      if (absl::Status s = Save(ctx, argv[1], *z); !s.ok()) return s;
    }
  }
  reply.Integer(static_cast<int64_t>(entries.size()));
  return absl::OkStatus();
}

absl::Status ZRemRangeByRank(ExecContext& ctx, Args argv, Reply& reply) {
  return RemRangeGeneric(ctx, argv, reply, RangeType::kRank);
}
absl::Status ZRemRangeByScore(ExecContext& ctx, Args argv, Reply& reply) {
  return RemRangeGeneric(ctx, argv, reply, RangeType::kScore);
}
absl::Status ZRemRangeByLex(ExecContext& ctx, Args argv, Reply& reply) {
  return RemRangeGeneric(ctx, argv, reply, RangeType::kLex);
}

// ---- Pops ----

// Pops up to `count` lowest (highest when `max`) members of an existing sorted set.
absl::Status PopMembers(ExecContext& ctx, std::string_view key, ZSet& z, bool max, int64_t count,
                        std::vector<Entry>* out) {
  RangeSpec spec;
  spec.reverse = max;
  spec.start = 0;
  spec.stop = count - 1;
  if (absl::Status s = CollectRange(ctx, z, spec, out); !s.ok()) return s;
  for (const Entry& e : *out) RemoveMember(ctx, z, e.member, e.score);
  return Save(ctx, key, z);
}

// ZPOPMIN/ZPOPMAX key [count]: without a count a flat [member, score] (or an empty array);
// with one, pairs.
absl::Status PopGeneric(ExecContext& ctx, Args argv, Reply& reply, bool max) {
  if (argv.size() > 3) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  int64_t count = 1;
  const bool with_count = argv.size() == 3;
  if (with_count) {
    std::optional<int64_t> c = ParseInt64(argv[2]);
    if (!c.has_value()) {
      reply.Error(kNotIntegerError);
      return absl::OkStatus();
    }
    if (*c < 0) {
      reply.Error("ERR value is out of range, must be positive");
      return absl::OkStatus();
    }
    count = *c;
  }
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  std::vector<Entry> popped;
  if (z.has_value() && count > 0) {
    if (absl::Status s = PopMembers(ctx, argv[1], *z, max, count, &popped); !s.ok()) return s;
  }
  if (with_count) {
    ReplyEntries(reply, popped, true);
  } else {
    reply.ArrayHeader(2 * popped.size());
    for (const Entry& e : popped) {
      reply.Bulk(e.member);
      reply.Double(e.score);
    }
  }
  return absl::OkStatus();
}

absl::Status ZPopMin(ExecContext& ctx, Args argv, Reply& reply) {
  return PopGeneric(ctx, argv, reply, false);
}
absl::Status ZPopMax(ExecContext& ctx, Args argv, Reply& reply) {
  return PopGeneric(ctx, argv, reply, true);
}

// BZPOPMIN/BZPOPMAX key [key ...] timeout, non-blocking part only: pops from the first
// non-empty key and answers [key, member, score], or a nil array when every key is empty.
// Waiting for a key (timeout) belongs to the listener and is not implemented yet.
absl::Status BPopGeneric(ExecContext& ctx, Args argv, Reply& reply, bool max) {
  std::optional<long double> timeout = ParseLongDouble(argv.back());
  if (!timeout.has_value()) {
    reply.Error("ERR timeout is not a float or out of range");
    return absl::OkStatus();
  }
  if (*timeout < 0) {
    reply.Error("ERR timeout is negative");
    return absl::OkStatus();
  }
  for (std::string_view key : argv.subspan(1, argv.size() - 2)) {
    std::optional<ZSet> z;
    absl::StatusOr<bool> opened = Open(ctx, key, reply, &z);
    if (!opened.ok()) return opened.status();
    if (!*opened) return absl::OkStatus();
    if (!z.has_value()) continue;
    std::vector<Entry> popped;
    if (absl::Status s = PopMembers(ctx, key, *z, max, 1, &popped); !s.ok()) return s;
    if (popped.empty()) continue;
    reply.ArrayHeader(3);
    reply.Bulk(key);
    reply.Bulk(popped[0].member);
    reply.Double(popped[0].score);
    return absl::OkStatus();
  }
  reply.NullArray();
  return absl::OkStatus();
}

absl::Status BZPopMin(ExecContext& ctx, Args argv, Reply& reply) {
  return BPopGeneric(ctx, argv, reply, false);
}
absl::Status BZPopMax(ExecContext& ctx, Args argv, Reply& reply) {
  return BPopGeneric(ctx, argv, reply, true);
}

// ---- ZRANDMEMBER ----

uint64_t SplitMix64(uint64_t& state) {
  uint64_t x = (state += 0x9e3779b97f4a7c15ULL);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// ZRANDMEMBER key [count [WITHSCORES]], drawn from ctx.seed: the same state and seed give the
// same answer. Loads the whole set (O(n)).
absl::Status ZRandMember(ExecContext& ctx, Args argv, Reply& reply) {
  const bool with_count = argv.size() >= 3;
  int64_t count = 1;
  bool withscores = false;
  if (with_count) {
    std::optional<int64_t> c = ParseInt64(argv[2]);
    if (!c.has_value()) {
      reply.Error(kNotIntegerError);
      return absl::OkStatus();
    }
    if (*c == std::numeric_limits<int64_t>::min()) {
      reply.Error(
          "ERR value is out of range, value must between -9223372036854775807 and "
          "9223372036854775807");
      return absl::OkStatus();
    }
    count = *c;
    if (argv.size() == 4 && EqualsIgnoreCase(argv[3], "withscores")) {
      withscores = true;
    } else if (argv.size() >= 4) {
      reply.Error(kSyntaxError);
      return absl::OkStatus();
    }
    if (withscores && count < -std::numeric_limits<int64_t>::max() / 2) {
      reply.Error("ERR value is out of range");
      return absl::OkStatus();
    }
  }
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  if (!z.has_value() || count == 0) {
    if (with_count) {
      reply.ArrayHeader(0);
    } else {
      reply.Null();
    }
    return absl::OkStatus();
  }
  std::vector<Entry> all;
  RangeSpec everything;
  if (absl::Status s = CollectRange(ctx, *z, everything, &all); !s.ok()) return s;
  const uint64_t size = all.size();
  uint64_t state = ctx.seed ^ 0x5a5e7a5e7a5e7a5eULL;
  std::vector<const Entry*> picks;
  if (count < 0) {
    // With repetition: streamed, as the count may be huge (Redis streams too).
    const uint64_t n = static_cast<uint64_t>(-count);
    if (withscores) {
      PairsHeader(reply, n);
    } else {
      reply.ArrayHeader(n);
    }
    for (uint64_t i = 0; i < n; ++i) {
      const Entry& e = all[SplitMix64(state) % size];
      if (withscores) PairHeader(reply);
      reply.Bulk(e.member);
      if (withscores) reply.Double(e.score);
    }
    return absl::OkStatus();
  }
  if (static_cast<uint64_t>(count) >= size) {
    for (const Entry& e : all) picks.push_back(&e);
  } else {
    // Floyd's sampling of `count` distinct indexes, answered in set order.
    const uint64_t n = static_cast<uint64_t>(count);
    std::vector<bool> chosen(size, false);
    for (uint64_t j = size - n; j < size; ++j) {
      const uint64_t t = SplitMix64(state) % (j + 1);
      chosen[chosen[t] ? j : t] = true;
    }
    for (uint64_t i = 0; i < size; ++i) {
      if (chosen[i]) picks.push_back(&all[i]);
    }
  }
  if (!with_count) {
    reply.Bulk(picks[0]->member);
    return absl::OkStatus();
  }
  if (!withscores) {
    reply.ArrayHeader(picks.size());
    for (const Entry* e : picks) reply.Bulk(e->member);
    return absl::OkStatus();
  }
  PairsHeader(reply, picks.size());
  for (const Entry* e : picks) {
    PairHeader(reply);
    reply.Bulk(e->member);
    reply.Double(e->score);
  }
  return absl::OkStatus();
}

// ---- ZUNIONSTORE / ZINTERSTORE ----

enum class Aggregate { kSum, kMin, kMax };

void AggregateInto(Aggregate a, double* target, double v) {
  switch (a) {
    case Aggregate::kSum:
      *target += v;
      if (std::isnan(*target)) *target = 0;  // inf + -inf
      break;
    case Aggregate::kMin:
      *target = std::min(*target, v);
      break;
    case Aggregate::kMax:
      *target = std::max(*target, v);
      break;
  }
}

// ZUNIONSTORE/ZINTERSTORE dest numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX].
// Sources must be sorted sets (Redis also takes plain sets with score 1: not supported yet,
// they answer WRONGTYPE).
absl::Status StoreGeneric(ExecContext& ctx, Args argv, Reply& reply, bool inter) {
  const std::string_view command = inter ? "zinterstore" : "zunionstore";
  std::optional<int64_t> numkeys = ParseInt64(argv[2]);
  if (!numkeys.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  if (*numkeys < 1) {
    reply.Error("ERR at least 1 input key is needed for '" + std::string(command) + "' command");
    return absl::OkStatus();
  }
  if (*numkeys > static_cast<int64_t>(argv.size()) - 3) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  const size_t n = static_cast<size_t>(*numkeys);
  std::vector<std::optional<ZSet>> sources(n);
  for (size_t i = 0; i < n; ++i) {
    absl::StatusOr<bool> opened = Open(ctx, argv[3 + i], reply, &sources[i]);
    if (!opened.ok()) return opened.status();
    if (!*opened) return absl::OkStatus();
  }
  std::vector<double> weights(n, 1.0);
  Aggregate aggregate = Aggregate::kSum;
  for (size_t j = 3 + n; j < argv.size();) {
    const size_t remaining = argv.size() - j;
    if (remaining >= n + 1 && EqualsIgnoreCase(argv[j], "weights")) {
      ++j;
      for (size_t i = 0; i < n; ++i, ++j) {
        std::optional<double> w = ParseDouble(argv[j]);
        if (!w.has_value()) {
          reply.Error("ERR weight value is not a float");
          return absl::OkStatus();
        }
        weights[i] = *w;
      }
    } else if (remaining >= 2 && EqualsIgnoreCase(argv[j], "aggregate")) {
      const std::string_view a = argv[j + 1];
      if (EqualsIgnoreCase(a, "sum")) {
        aggregate = Aggregate::kSum;
      } else if (EqualsIgnoreCase(a, "min")) {
        aggregate = Aggregate::kMin;
      } else if (EqualsIgnoreCase(a, "max")) {
        aggregate = Aggregate::kMax;
      } else {
        reply.Error(kSyntaxError);
        return absl::OkStatus();
      }
      j += 2;
    } else {
      reply.Error(kSyntaxError);
      return absl::OkStatus();
    }
  }
  // Smallest sources first, like Redis (the order of floating-point sums follows it).
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  auto card = [&](size_t i) { return sources[i].has_value() ? sources[i]->header.size : 0; };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return card(a) < card(b); });
  std::vector<std::vector<Entry>> contents(n);
  for (size_t i = 0; i < n; ++i) {
    if (!sources[i].has_value()) continue;
    if (inter && card(order[0]) == 0) break;
    RangeSpec everything;
    if (absl::Status s = CollectRange(ctx, *sources[i], everything, &contents[i]); !s.ok()) {
      return s;
    }
  }
  auto weighted = [&](size_t i, double score) {
    const double v = weights[i] * score;
    return std::isnan(v) ? 0.0 : v;
  };
  std::vector<Entry> result;
  if (inter) {
    if (card(order[0]) > 0) {
      std::vector<absl::flat_hash_map<std::string_view, double>> index(n);
      for (size_t k = 1; k < n; ++k) {
        for (const Entry& e : contents[order[k]]) index[order[k]].emplace(e.member, e.score);
      }
      for (const Entry& e : contents[order[0]]) {
        double score = weighted(order[0], e.score);
        bool everywhere = true;
        for (size_t k = 1; k < n && everywhere; ++k) {
          auto it = index[order[k]].find(e.member);
          if (it == index[order[k]].end()) {
            everywhere = false;
          } else {
            AggregateInto(aggregate, &score, weighted(order[k], it->second));
          }
        }
        if (everywhere) result.push_back({e.member, score});
      }
    }
  } else {
    absl::flat_hash_map<std::string, size_t> at;
    for (size_t k = 0; k < n; ++k) {
      for (const Entry& e : contents[order[k]]) {
        const double v = weighted(order[k], e.score);
        auto [it, inserted] = at.emplace(e.member, result.size());
        if (inserted) {
          result.push_back({e.member, v});
        } else {
          AggregateInto(aggregate, &result[it->second].score, v);
        }
      }
    }
  }
  // Replace the destination (any type) with the result.
  const std::string_view dest = argv[1];
  absl::StatusOr<std::optional<Metadata>> old = LoadMetadata(ctx, dest);
  if (!old.ok()) return old.status();
  if (old->has_value()) {
    if (absl::Status s = DeleteKey(ctx, dest, **old); !s.ok()) return s;
  }
  ZSet z = NewZSet(ctx, dest);
  for (const Entry& e : result) PutMember(ctx, z, e.member, e.score, std::nullopt);
  if (absl::Status s = Save(ctx, dest, z); !s.ok()) return s;
  reply.Integer(static_cast<int64_t>(result.size()));
  return absl::OkStatus();
}

absl::Status ZUnionStore(ExecContext& ctx, Args argv, Reply& reply) {
  return StoreGeneric(ctx, argv, reply, false);
}
absl::Status ZInterStore(ExecContext& ctx, Args argv, Reply& reply) {
  return StoreGeneric(ctx, argv, reply, true);
}

// ---- ZSCAN ----

// Sets of this size or smaller come back whole with cursor 0, as Redis does for its listpack
// encoding (zset-max-listpack-entries 128).
constexpr uint64_t kScanWholeSetSize = 128;

// ZSCAN key cursor [MATCH pattern] [COUNT count]. Our cursor is the number of members (in member
// order) already passed: a scan sees every member present throughout, but members added or
// removed behind the cursor may shift it (Redis's reverse-binary cursor has no such shift).
absl::Status ZScan(ExecContext& ctx, Args argv, Reply& reply) {
  uint64_t cursor = 0;
  bool cursor_ok = !argv[2].empty() && argv[2].size() <= 20;
  for (char c : argv[2]) {
    if (c < '0' || c > '9' ||
        cursor > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(c - '0')) / 10) {
      cursor_ok = false;
      break;
    }
    cursor = cursor * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!cursor_ok) {
    reply.Error("ERR invalid cursor");
    return absl::OkStatus();
  }
  std::optional<ZSet> z;
  absl::StatusOr<bool> opened = Open(ctx, argv[1], reply, &z);
  if (!opened.ok()) return opened.status();
  if (!*opened) return absl::OkStatus();
  if (!z.has_value()) {
    reply.ArrayHeader(2);
    reply.Bulk("0");
    reply.ArrayHeader(0);
    return absl::OkStatus();
  }
  int64_t count = 10;
  std::optional<std::string_view> pattern;
  for (size_t i = 3; i < argv.size(); i += 2) {
    if (i + 1 >= argv.size()) {
      reply.Error(kSyntaxError);
      return absl::OkStatus();
    }
    if (EqualsIgnoreCase(argv[i], "count")) {
      std::optional<int64_t> c = ParseInt64(argv[i + 1]);
      if (!c.has_value()) {
        reply.Error(kNotIntegerError);
        return absl::OkStatus();
      }
      if (*c < 1) {
        reply.Error(kSyntaxError);
        return absl::OkStatus();
      }
      count = *c;
    } else if (EqualsIgnoreCase(argv[i], "match")) {
      pattern = argv[i + 1];
      if (*pattern == "*") pattern.reset();
    } else {
      reply.Error(kSyntaxError);
      return absl::OkStatus();
    }
  }
  const bool whole = z->header.size <= kScanWholeSetSize;
  std::vector<Entry> found;
  uint64_t next = 0;
  if (whole) {
    // In score order, like a listpack.
    absl::Status s = Walk(ctx, *z, false, "", [&](std::string_view member, double score) {
      if (!pattern.has_value() || GlobMatch(*pattern, member)) {
        found.push_back({std::string(member), score});
      }
      return true;
    });
    if (!s.ok()) return s;
  } else {
    uint64_t position = 0;
    RowIterator it(ctx, PrefixEnd(z->member_prefix));
    for (it.Seek(z->member_prefix); it.Valid(); it.Next()) {
      std::string_view key = it.key();
      if (!key.starts_with(z->member_prefix)) break;
      if (position++ < cursor) continue;
      if (position - cursor > static_cast<uint64_t>(count)) {
        next = position - 1;
        break;
      }
      key.remove_prefix(z->member_prefix.size());
      if (it.value().size() != 8) return absl::DataLossError("sorted set score row");
      if (pattern.has_value() && !GlobMatch(*pattern, key)) continue;
      found.push_back({std::string(key), BitsDouble(DecodeU64BE(it.value()))});
    }
    if (absl::Status s = it.status(); !s.ok()) return s;
  }
  reply.ArrayHeader(2);
  reply.Bulk(std::to_string(next));
  reply.ArrayHeader(2 * found.size());
  for (const Entry& e : found) {
    reply.Bulk(e.member);
    reply.Bulk(FormatScore(e.score));
  }
  return absl::OkStatus();
}

const DataCommand kCommands[] = {
    {"zadd", ZAdd, true},
    {"zincrby", ZIncrBy, true},
    {"zrem", ZRem, true},
    {"zcard", ZCard, false},
    {"zscore", ZScore, false},
    {"zmscore", ZMScore, false},
    {"zrank", ZRank, false},
    {"zrevrank", ZRevRank, false},
    {"zcount", ZCount, false},
    {"zlexcount", ZLexCount, false},
    {"zrange", ZRange, false},
    {"zrangebyscore", ZRangeByScore, false},
    {"zrevrangebyscore", ZRevRangeByScore, false},
    {"zrangebylex", ZRangeByLex, false},
    {"zrevrangebylex", ZRevRangeByLex, false},
    {"zrevrange", ZRevRange, false},
    {"zremrangebyrank", ZRemRangeByRank, true},
    {"zremrangebyscore", ZRemRangeByScore, true},
    {"zremrangebylex", ZRemRangeByLex, true},
    {"zpopmin", ZPopMin, true},
    {"zpopmax", ZPopMax, true},
    {"bzpopmin", BZPopMin, true},
    {"bzpopmax", BZPopMax, true},
    {"zrandmember", ZRandMember, false},
    {"zunionstore", ZUnionStore, true},
    {"zinterstore", ZInterStore, true},
    {"zscan", ZScan, false},
};

}  // namespace

std::span<const DataCommand> ZSetCommands() { return kCommands; }

}  // namespace tessera::shard::data
