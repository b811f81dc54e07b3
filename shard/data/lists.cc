// Redis list commands (t_list.c's surface, Redis 7.0 semantics) on the data model, Kvrocks-style:
// the metadata payload is the collection header whose extra is head u64 BE ‖ tail u64 BE, and
// the element at index i lives in the sub-key row EncodeU64BE(head + i). `head` is the position
// of the first element and `tail` one past the last; both start at 2^63 so that LPUSH (head - 1)
// and RPUSH (tail + 1) can grow either end. Edits in the middle (LINSERT, LREM) rewrite the
// shifted elements, O(n) like Kvrocks. An emptied list is deleted.
//
// BLPOP, BRPOP and BLMOVE only have their non-blocking behaviour here: with an element at hand
// they act like LPOP/RPOP/LMOVE, otherwise they answer what a timeout would (the nil array for
// BLPOP/BRPOP, nil array for BLMOVE too). Waiting for a push belongs to the listener (a later
// issue).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "shard/data/commands.h"
#include "shard/data/util.h"
#include "shard/storage/keys.h"

namespace tessera::shard::data {
namespace {

using Args = std::span<const std::string_view>;

constexpr uint64_t kMiddle = uint64_t{1} << 63;

constexpr std::string_view kNoSuchKeyError = "ERR no such key";
constexpr std::string_view kIndexOutOfRangeError = "ERR index out of range";
constexpr std::string_view kMustBePositiveError = "ERR value is out of range, must be positive";
constexpr std::string_view kTimeoutNotFloatError = "ERR timeout is not a float or out of range";
constexpr std::string_view kTimeoutNegativeError = "ERR timeout is negative";

// One live list: its metadata (for the TTL) and its header fields.
struct List {
  Metadata meta;
  uint64_t version = 0;
  uint64_t head = kMiddle;
  uint64_t tail = kMiddle;

  int64_t size() const { return static_cast<int64_t>(tail - head); }
};

struct Lookup {
  bool wrong_type = false;
  std::optional<List> list;  // nullopt: no such key (or wrong_type)
};

absl::StatusOr<Lookup> LoadList(ExecContext& ctx, std::string_view key) {
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, key);
  if (!m.ok()) return m.status();
  Lookup out;
  if (!m->has_value()) return out;
  if ((*m)->type != KeyType::kList) {
    out.wrong_type = true;
    return out;
  }
  absl::StatusOr<CollectionHeader> h = DecodeCollectionHeader((*m)->payload);
  if (!h.ok()) return h.status();
  if (h->extra.size() != 16) {
    return absl::DataLossError("list header without head and tail");
  }
  List list;
  list.meta = **std::move(m);
  list.version = h->version;
  list.head = DecodeU64BE(h->extra);
  list.tail = DecodeU64BE(std::string_view(h->extra).substr(8));
  if (list.tail - list.head != h->size) return absl::DataLossError("list size mismatch");
  out.list = std::move(list);
  return out;
}

List NewList(ExecContext& ctx) {
  List list;
  list.meta.type = KeyType::kList;
  list.version = NewCollectionVersion(ctx);
  return list;
}

// Writes the header, or deletes the key when the list is empty.
absl::Status SaveList(ExecContext& ctx, std::string_view key, List& list) {
  if (list.size() == 0) {
    DeleteEmptyCollection(ctx, key);  // its element rows are already deleted
    return absl::OkStatus();
  }
  CollectionHeader h;
  h.version = list.version;
  h.size = static_cast<uint64_t>(list.size());
  h.extra = EncodeU64BE(list.head) + EncodeU64BE(list.tail);
  list.meta.payload = EncodeCollectionHeader(h);
  StoreMetadata(ctx, key, list.meta);
  return absl::OkStatus();
}

std::string ElementKey(const ExecContext& ctx, std::string_view key, const List& list,
                       uint64_t position) {
  return SubKey(ctx.gid, key, list.version, EncodeU64BE(position));
}

// Elements [from, to) by index, 0 <= from <= to <= size, in head-to-tail order.
absl::StatusOr<std::vector<std::string>> ReadRange(const ExecContext& ctx, std::string_view key,
                                                   const List& list, int64_t from, int64_t to) {
  std::vector<std::string> out;
  if (from >= to) return out;
  out.reserve(static_cast<size_t>(to - from));
  RowIterator it(ctx, ElementKey(ctx, key, list, list.head + static_cast<uint64_t>(to)));
  for (it.Seek(ElementKey(ctx, key, list, list.head + static_cast<uint64_t>(from))); it.Valid();
       it.Next()) {
    out.emplace_back(it.value());
  }
  if (absl::Status s = it.status(); !s.ok()) return s;
  if (out.size() != static_cast<size_t>(to - from)) {
    return absl::DataLossError("list element rows missing");
  }
  return out;
}

absl::StatusOr<std::string> ReadAt(const ExecContext& ctx, std::string_view key, const List& list,
                                   int64_t index) {
  absl::StatusOr<std::optional<std::string>> row =
      GetRow(ctx, ElementKey(ctx, key, list, list.head + static_cast<uint64_t>(index)));
  if (!row.ok()) return row.status();
  if (!row->has_value()) return absl::DataLossError("list element row missing");
  return **std::move(row);
}

void PushLeft(ExecContext& ctx, std::string_view key, List& list, std::string_view value) {
  --list.head;
  PutRow(ctx, ElementKey(ctx, key, list, list.head), value);
}

void PushRight(ExecContext& ctx, std::string_view key, List& list, std::string_view value) {
  PutRow(ctx, ElementKey(ctx, key, list, list.tail), value);
  ++list.tail;
}

// Pops up to `count` elements from one end, in pop order.
absl::StatusOr<std::vector<std::string>> Pop(ExecContext& ctx, std::string_view key, List& list,
                                             bool left, int64_t count) {
  count = std::min(count, list.size());
  absl::StatusOr<std::vector<std::string>> values =
      left ? ReadRange(ctx, key, list, 0, count)
           : ReadRange(ctx, key, list, list.size() - count, list.size());
  if (!values.ok()) return values.status();
  for (int64_t i = 0; i < count; ++i) {
    if (left) {
      DeleteRow(ctx, ElementKey(ctx, key, list, list.head++));
    } else {
      DeleteRow(ctx, ElementKey(ctx, key, list, --list.tail));
    }
  }
  if (!left) std::reverse(values->begin(), values->end());
  return values;
}

// Rewrites the whole list as `values` from the current head, deleting rows past the new tail.
void Rewrite(ExecContext& ctx, std::string_view key, List& list,
             const std::vector<std::string>& values) {
  const uint64_t new_tail = list.head + values.size();
  for (size_t i = 0; i < values.size(); ++i) {
    PutRow(ctx, ElementKey(ctx, key, list, list.head + i), values[i]);
  }
  for (uint64_t p = new_tail; p < list.tail; ++p) DeleteRow(ctx, ElementKey(ctx, key, list, p));
  list.tail = new_tail;
}

// ---- LPUSH RPUSH LPUSHX RPUSHX ----

absl::Status PushGeneric(ExecContext& ctx, Args argv, Reply& reply, bool left, bool only_existing,
                         std::string_view name) {
  if (argv.size() < 3) return ReplyArity(reply, name);
  absl::StatusOr<Lookup> l = LoadList(ctx, argv[1]);
  if (!l.ok()) return l.status();
  if (l->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (!l->list.has_value()) {
    if (only_existing) {
      reply.Integer(0);
      return absl::OkStatus();
    }
    l->list = NewList(ctx);
  }
  List& list = *l->list;
  for (std::string_view value : argv.subspan(2)) {
    if (left) {
      PushLeft(ctx, argv[1], list, value);
    } else {
      PushRight(ctx, argv[1], list, value);
    }
  }
  if (absl::Status s = SaveList(ctx, argv[1], list); !s.ok()) return s;
  reply.Integer(list.size());
  return absl::OkStatus();
}

absl::Status LPush(ExecContext& ctx, Args argv, Reply& reply) {
  return PushGeneric(ctx, argv, reply, true, false, "lpush");
}
absl::Status RPush(ExecContext& ctx, Args argv, Reply& reply) {
  return PushGeneric(ctx, argv, reply, false, false, "rpush");
}
absl::Status LPushX(ExecContext& ctx, Args argv, Reply& reply) {
  return PushGeneric(ctx, argv, reply, true, true, "lpushx");
}
absl::Status RPushX(ExecContext& ctx, Args argv, Reply& reply) {
  return PushGeneric(ctx, argv, reply, false, true, "rpushx");
}

// ---- LPOP RPOP ----

absl::Status PopGeneric(ExecContext& ctx, Args argv, Reply& reply, bool left,
                        std::string_view name) {
  if (argv.size() < 2 || argv.size() > 3) return ReplyArity(reply, name);
  const bool has_count = argv.size() == 3;
  int64_t count = 1;
  if (has_count) {
    std::optional<int64_t> c = ParseInt64(argv[2]);
    if (!c.has_value() || *c < 0) {
      reply.Error(kMustBePositiveError);
      return absl::OkStatus();
    }
    count = *c;
  }
  absl::StatusOr<Lookup> l = LoadList(ctx, argv[1]);
  if (!l.ok()) return l.status();
  if (!l->list.has_value() && !l->wrong_type) {
    if (has_count) {
      reply.NullArray();
    } else {
      reply.Null();
    }
    return absl::OkStatus();
  }
  if (l->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (count == 0) {
    reply.ArrayHeader(0);
    return absl::OkStatus();
  }
  List& list = *l->list;
  absl::StatusOr<std::vector<std::string>> values = Pop(ctx, argv[1], list, left, count);
  if (!values.ok()) return values.status();
  if (absl::Status s = SaveList(ctx, argv[1], list); !s.ok()) return s;
  if (!has_count) {
    reply.Bulk(values->front());
    return absl::OkStatus();
  }
  reply.ArrayHeader(values->size());
  for (const std::string& v : *values) reply.Bulk(v);
  return absl::OkStatus();
}

absl::Status LPop(ExecContext& ctx, Args argv, Reply& reply) {
  return PopGeneric(ctx, argv, reply, true, "lpop");
}
absl::Status RPop(ExecContext& ctx, Args argv, Reply& reply) {
  return PopGeneric(ctx, argv, reply, false, "rpop");
}

// ---- LLEN LRANGE LINDEX ----

absl::Status LLen(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) return ReplyArity(reply, "llen");
  absl::StatusOr<Lookup> l = LoadList(ctx, argv[1]);
  if (!l.ok()) return l.status();
  if (l->wrong_type) {
    reply.Error(kWrongTypeError);
  } else {
    reply.Integer(l->list.has_value() ? l->list->size() : 0);
  }
  return absl::OkStatus();
}

// Redis's start/end normalization (LRANGE, LTRIM): [from, to) by index, empty when from >= to.
std::pair<int64_t, int64_t> NormalizeRange(int64_t start, int64_t end, int64_t len) {
  if (start < 0) start += len;
  if (end < 0) end += len;
  if (start < 0) start = 0;
  if (start > end || start >= len) return {0, 0};
  if (end >= len) end = len - 1;
  return {start, end + 1};
}

absl::Status LRange(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 4) return ReplyArity(reply, "lrange");
  std::optional<int64_t> start = ParseInt64(argv[2]);
  std::optional<int64_t> end = ParseInt64(argv[3]);
  if (!start.has_value() || !end.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  absl::StatusOr<Lookup> l = LoadList(ctx, argv[1]);
  if (!l.ok()) return l.status();
  if (l->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (!l->list.has_value()) {
    reply.ArrayHeader(0);
    return absl::OkStatus();
  }
  auto [from, to] = NormalizeRange(*start, *end, l->list->size());
  absl::StatusOr<std::vector<std::string>> values = ReadRange(ctx, argv[1], *l->list, from, to);
  if (!values.ok()) return values.status();
  reply.ArrayHeader(values->size());
  for (const std::string& v : *values) reply.Bulk(v);
  return absl::OkStatus();
}

// A Redis index (negative from the tail) as an index from the head, nullopt when out of range.
std::optional<int64_t> ResolveIndex(int64_t index, int64_t len) {
  if (index < 0) index += len;
  if (index < 0 || index >= len) return std::nullopt;
  return index;
}

absl::Status LIndex(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) return ReplyArity(reply, "lindex");
  absl::StatusOr<Lookup> l = LoadList(ctx, argv[1]);
  if (!l.ok()) return l.status();
  if (l->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (!l->list.has_value()) {
    reply.Null();
    return absl::OkStatus();
  }
  std::optional<int64_t> index = ParseInt64(argv[2]);
  if (!index.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  std::optional<int64_t> i = ResolveIndex(*index, l->list->size());
  if (!i.has_value()) {
    reply.Null();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> v = ReadAt(ctx, argv[1], *l->list, *i);
  if (!v.ok()) return v.status();
  reply.Bulk(*v);
  return absl::OkStatus();
}

// ---- LSET LREM LTRIM LINSERT ----

absl::Status LSet(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 4) return ReplyArity(reply, "lset");
  absl::StatusOr<Lookup> l = LoadList(ctx, argv[1]);
  if (!l.ok()) return l.status();
  if (l->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (!l->list.has_value()) {
    reply.Error(kNoSuchKeyError);
    return absl::OkStatus();
  }
  std::optional<int64_t> index = ParseInt64(argv[2]);
  if (!index.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  std::optional<int64_t> i = ResolveIndex(*index, l->list->size());
  if (!i.has_value()) {
    reply.Error(kIndexOutOfRangeError);
    return absl::OkStatus();
  }
  PutRow(ctx, ElementKey(ctx, argv[1], *l->list, l->list->head + static_cast<uint64_t>(*i)),
         argv[3]);
  reply.Ok();
  return absl::OkStatus();
}

absl::Status LRem(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 4) return ReplyArity(reply, "lrem");
  std::optional<int64_t> count = ParseInt64(argv[2]);
  if (!count.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  absl::StatusOr<Lookup> l = LoadList(ctx, argv[1]);
  if (!l.ok()) return l.status();
  if (l->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (!l->list.has_value()) {
    reply.Integer(0);
    return absl::OkStatus();
  }
  List& list = *l->list;
  absl::StatusOr<std::vector<std::string>> values = ReadRange(ctx, argv[1], list, 0, list.size());
  if (!values.ok()) return values.status();
  const std::string_view target = argv[3];
  // |count| matches from the head (count > 0), from the tail (count < 0), or all (count == 0).
  const uint64_t limit = *count == 0  ? std::numeric_limits<uint64_t>::max()
                         : *count > 0 ? static_cast<uint64_t>(*count)
                                      : 0 - static_cast<uint64_t>(*count);
  std::vector<bool> remove(values->size(), false);
  uint64_t removed = 0;
  const size_t n = values->size();
  for (size_t k = 0; k < n && removed < limit; ++k) {
    const size_t i = *count < 0 ? n - 1 - k : k;
    if ((*values)[i] == target) {
      remove[i] = true;
      ++removed;
    }
  }
  if (removed > 0) {
    std::vector<std::string> kept;
    kept.reserve(n - removed);
    for (size_t i = 0; i < n; ++i) {
      if (!remove[i]) kept.push_back(std::move((*values)[i]));
    }
    Rewrite(ctx, argv[1], list, kept);
    if (absl::Status s = SaveList(ctx, argv[1], list); !s.ok()) return s;
  }
  reply.Integer(static_cast<int64_t>(removed));
  return absl::OkStatus();
}

absl::Status LTrim(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 4) return ReplyArity(reply, "ltrim");
  std::optional<int64_t> start = ParseInt64(argv[2]);
  std::optional<int64_t> end = ParseInt64(argv[3]);
  if (!start.has_value() || !end.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  absl::StatusOr<Lookup> l = LoadList(ctx, argv[1]);
  if (!l.ok()) return l.status();
  if (l->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (l->list.has_value()) {
    List& list = *l->list;
    auto [from, to] = NormalizeRange(*start, *end, list.size());
    const uint64_t new_head = list.head + static_cast<uint64_t>(from);
    const uint64_t new_tail = list.head + static_cast<uint64_t>(to);
    for (uint64_t p = list.head; p < new_head; ++p)
      DeleteRow(ctx, ElementKey(ctx, argv[1], list, p));
    for (uint64_t p = std::max(new_tail, new_head); p < list.tail; ++p) {
      DeleteRow(ctx, ElementKey(ctx, argv[1], list, p));
    }
    list.head = new_head;
    list.tail = std::max(new_tail, new_head);
    if (absl::Status s = SaveList(ctx, argv[1], list); !s.ok()) return s;
  }
  reply.Ok();
  return absl::OkStatus();
}

absl::Status LInsert(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 5) return ReplyArity(reply, "linsert");
  bool after;
  if (EqualsIgnoreCase(argv[2], "after")) {
    after = true;
  } else if (EqualsIgnoreCase(argv[2], "before")) {
    after = false;
  } else {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  absl::StatusOr<Lookup> l = LoadList(ctx, argv[1]);
  if (!l.ok()) return l.status();
  if (l->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (!l->list.has_value()) {
    reply.Integer(0);
    return absl::OkStatus();
  }
  List& list = *l->list;
  const std::string_view key = argv[1];
  absl::StatusOr<std::vector<std::string>> values = ReadRange(ctx, key, list, 0, list.size());
  if (!values.ok()) return values.status();
  auto pivot = std::find(values->begin(), values->end(), argv[3]);
  if (pivot == values->end()) {
    reply.Integer(-1);
    return absl::OkStatus();
  }
  // The new element's index; the shorter side moves by one position.
  const int64_t at = (pivot - values->begin()) + (after ? 1 : 0);
  const int64_t n = list.size();
  if (at < n - at) {
    --list.head;
    for (int64_t i = 0; i < at; ++i) {
      PutRow(ctx, ElementKey(ctx, key, list, list.head + static_cast<uint64_t>(i)), (*values)[i]);
    }
  } else {
    for (int64_t i = n - 1; i >= at; --i) {
      PutRow(ctx, ElementKey(ctx, key, list, list.head + static_cast<uint64_t>(i) + 1),
             (*values)[i]);
    }
    ++list.tail;
  }
  PutRow(ctx, ElementKey(ctx, key, list, list.head + static_cast<uint64_t>(at)), argv[4]);
  if (absl::Status s = SaveList(ctx, key, list); !s.ok()) return s;
  reply.Integer(list.size());
  return absl::OkStatus();
}

// ---- LPOS ----

absl::Status LPos(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3) return ReplyArity(reply, "lpos");
  int64_t rank = 1;
  int64_t count = -1;  // -1: no COUNT, a single index or nil
  int64_t maxlen = 0;  // 0: unlimited
  for (size_t i = 3; i < argv.size(); i += 2) {
    if (i + 1 >= argv.size()) {
      reply.Error(kSyntaxError);
      return absl::OkStatus();
    }
    const std::string_view opt = argv[i];
    const bool is_rank = EqualsIgnoreCase(opt, "rank");
    if (!is_rank && !EqualsIgnoreCase(opt, "count") && !EqualsIgnoreCase(opt, "maxlen")) {
      reply.Error(kSyntaxError);
      return absl::OkStatus();
    }
    // RANK is any integer; COUNT and MAXLEN are non-negative, and a non-integer gets their
    // "can't be negative" error too (getPositiveLongFromObjectOrReply).
    std::optional<int64_t> v = ParseInt64(argv[i + 1]);
    if (!v.has_value() && is_rank) {
      reply.Error(kNotIntegerError);
      return absl::OkStatus();
    }
    if (is_rank) {
      if (*v == 0) {
        reply.Error(
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
            "or use negative to start from the end of the list");
        return absl::OkStatus();
      }
      rank = *v;
    } else if (EqualsIgnoreCase(opt, "count")) {
      if (!v.has_value() || *v < 0) {
        reply.Error("ERR COUNT can't be negative");
        return absl::OkStatus();
      }
      count = *v;
    } else {
      if (!v.has_value() || *v < 0) {
        reply.Error("ERR MAXLEN can't be negative");
        return absl::OkStatus();
      }
      maxlen = *v;
    }
  }
  absl::StatusOr<Lookup> l = LoadList(ctx, argv[1]);
  if (!l.ok()) return l.status();
  if (l->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (!l->list.has_value()) {
    if (count >= 0) {
      reply.ArrayHeader(0);
    } else {
      reply.Null();
    }
    return absl::OkStatus();
  }
  const List& list = *l->list;
  // Redis negates a negative rank; -INT64_MIN stays negative there, so every match counts,
  // which is rank -1.
  const bool from_tail = rank < 0;
  if (rank == std::numeric_limits<int64_t>::min()) rank = -1;
  if (rank < 0) rank = -rank;
  std::vector<int64_t> found;
  {
    const int64_t n = list.size();
    RowIterator it(ctx, ElementKey(ctx, argv[1], list, list.tail));
    if (from_tail) {
      it.SeekToLast();
    } else {
      it.Seek(ElementKey(ctx, argv[1], list, list.head));
    }
    int64_t matches = 0;
    for (int64_t scanned = 0; it.Valid() && scanned < n && (maxlen == 0 || scanned < maxlen);
         ++scanned) {
      if (it.value() == argv[2] && ++matches >= rank) {
        found.push_back(from_tail ? n - 1 - scanned : scanned);
        if (count < 0 || (count > 0 && static_cast<int64_t>(found.size()) >= count)) break;
      }
      if (from_tail) {
        it.Prev();
      } else {
        it.Next();
      }
    }
    if (absl::Status s = it.status(); !s.ok()) return s;
  }
  if (count < 0) {
    if (found.empty()) {
      reply.Null();
    } else {
      reply.Integer(found.front());
    }
    return absl::OkStatus();
  }
  reply.ArrayHeader(found.size());
  for (int64_t i : found) reply.Integer(i);
  return absl::OkStatus();
}

// ---- LMOVE RPOPLPUSH BLMOVE ----

// LEFT or RIGHT (getListPositionFromObjectOrReply).
std::optional<bool> ParseWhere(std::string_view s) {
  if (EqualsIgnoreCase(s, "left")) return true;
  if (EqualsIgnoreCase(s, "right")) return false;
  return std::nullopt;
}

absl::Status MoveGeneric(ExecContext& ctx, std::string_view src, std::string_view dst,
                         bool from_left, bool to_left, Reply& reply, bool blocking = false) {
  absl::StatusOr<Lookup> s = LoadList(ctx, src);
  if (!s.ok()) return s.status();
  if (s->wrong_type) {
    reply.Error(kWrongTypeError);
    return absl::OkStatus();
  }
  if (!s->list.has_value()) {
    if (blocking) {
      reply.NullArray();  // what BLMOVE's timeout answers
    } else {
      reply.Null();
    }
    return absl::OkStatus();
  }
  const bool same = src == dst;
  std::optional<Lookup> d;
  if (!same) {
    absl::StatusOr<Lookup> loaded = LoadList(ctx, dst);
    if (!loaded.ok()) return loaded.status();
    if (loaded->wrong_type) {
      reply.Error(kWrongTypeError);
      return absl::OkStatus();
    }
    d = *std::move(loaded);
  }
  List& source = *s->list;
  absl::StatusOr<std::vector<std::string>> values = Pop(ctx, src, source, from_left, 1);
  if (!values.ok()) return values.status();
  const std::string& value = values->front();
  List* dest = &source;
  if (!same) {
    if (!d->list.has_value()) d->list = NewList(ctx);
    dest = &*d->list;
  }
  if (to_left) {
    PushLeft(ctx, dst, *dest, value);
  } else {
    PushRight(ctx, dst, *dest, value);
  }
  if (!same) {
    if (absl::Status st = SaveList(ctx, src, source); !st.ok()) return st;
  }
  if (absl::Status st = SaveList(ctx, dst, *dest); !st.ok()) return st;
  reply.Bulk(value);
  return absl::OkStatus();
}

absl::Status LMove(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 5) return ReplyArity(reply, "lmove");
  std::optional<bool> from = ParseWhere(argv[3]);
  std::optional<bool> to = ParseWhere(argv[4]);
  if (!from.has_value() || !to.has_value()) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  return MoveGeneric(ctx, argv[1], argv[2], *from, *to, reply);
}

absl::Status RPopLPush(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) return ReplyArity(reply, "rpoplpush");
  return MoveGeneric(ctx, argv[1], argv[2], false, true, reply);
}

// getTimeoutFromObjectOrReply in seconds: a long double times 1000 converted to an integer the
// way x86-64 does (truncation; out of range or infinite gives INT64_MIN, hence "negative").
// Returns the error reply, or nullopt when the timeout is valid.
std::optional<std::string_view> CheckTimeout(std::string_view arg) {
  std::optional<long double> seconds = ParseLongDouble(arg);
  if (!seconds.has_value()) return kTimeoutNotFloatError;
  const long double ms = *seconds * 1000.0L;
  constexpr long double kLimit = 9223372036854775808.0L;  // 2^63
  const int64_t tval = (ms >= kLimit || ms < -kLimit) ? std::numeric_limits<int64_t>::min()
                                                      : static_cast<int64_t>(ms);
  if (tval < 0) return kTimeoutNegativeError;
  return std::nullopt;
}

// BLPOP/BRPOP without waiting: the first non-empty list (in argument order) gives one element;
// a key of another type met before it is WRONGTYPE; with none, the timeout's nil array.
absl::Status BlockingPopGeneric(ExecContext& ctx, Args argv, Reply& reply, bool left,
                                std::string_view name) {
  if (argv.size() < 3) return ReplyArity(reply, name);
  if (std::optional<std::string_view> error = CheckTimeout(argv.back())) {
    reply.Error(*error);
    return absl::OkStatus();
  }
  for (std::string_view key : argv.subspan(1, argv.size() - 2)) {
    absl::StatusOr<Lookup> l = LoadList(ctx, key);
    if (!l.ok()) return l.status();
    if (l->wrong_type) {
      reply.Error(kWrongTypeError);
      return absl::OkStatus();
    }
    if (!l->list.has_value()) continue;
    absl::StatusOr<std::vector<std::string>> values = Pop(ctx, key, *l->list, left, 1);
    if (!values.ok()) return values.status();
    if (absl::Status s = SaveList(ctx, key, *l->list); !s.ok()) return s;
    reply.ArrayHeader(2);
    reply.Bulk(key);
    reply.Bulk(values->front());
    return absl::OkStatus();
  }
  reply.NullArray();  // what the timeout answers; waiting is the listener's (a later issue)
  return absl::OkStatus();
}

absl::Status BLPop(ExecContext& ctx, Args argv, Reply& reply) {
  return BlockingPopGeneric(ctx, argv, reply, true, "blpop");
}
absl::Status BRPop(ExecContext& ctx, Args argv, Reply& reply) {
  return BlockingPopGeneric(ctx, argv, reply, false, "brpop");
}

// BLMOVE without waiting: LMOVE when the source has an element, else the timeout's nil array.
absl::Status BLMove(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 6) return ReplyArity(reply, "blmove");
  std::optional<bool> from = ParseWhere(argv[3]);
  std::optional<bool> to = ParseWhere(argv[4]);
  if (!from.has_value() || !to.has_value()) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  if (std::optional<std::string_view> error = CheckTimeout(argv[5])) {
    reply.Error(*error);
    return absl::OkStatus();
  }
  return MoveGeneric(ctx, argv[1], argv[2], *from, *to, reply, /*blocking=*/true);
}

constexpr DataCommand kListCommands[] = {
    {"lpush", &LPush, true},         {"rpush", &RPush, true},    {"lpushx", &LPushX, true},
    {"rpushx", &RPushX, true},       {"lpop", &LPop, true},      {"rpop", &RPop, true},
    {"llen", &LLen, false},          {"lrange", &LRange, false}, {"lindex", &LIndex, false},
    {"lset", &LSet, true},           {"lrem", &LRem, true},      {"ltrim", &LTrim, true},
    {"linsert", &LInsert, true},     {"lpos", &LPos, false},     {"lmove", &LMove, true},
    {"rpoplpush", &RPopLPush, true}, {"blpop", &BLPop, true},    {"brpop", &BRPop, true},
    {"blmove", &BLMove, true},
};

}  // namespace

std::span<const DataCommand> ListCommands() { return kListCommands; }

}  // namespace tessera::shard::data
