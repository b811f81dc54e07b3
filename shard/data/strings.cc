// Redis string commands (t_string.c's surface, Redis 7.0 semantics) on the data model: a string's
// value is its metadata row's payload, so each key costs one row read and at most one row write.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "shard/data/commands.h"
#include "shard/data/util.h"

namespace tessera::shard::data {
namespace {

using Args = std::span<const std::string_view>;

// Replies WRONGTYPE and returns true when `m` holds a live key of another type than string.
bool RepliedWrongType(const std::optional<Metadata>& m, Reply& reply) {
  if (!m.has_value() || m->type == KeyType::kString) return false;
  reply.Error(kWrongTypeError);
  return true;
}

// Makes `key` the string `value` expiring at `expire_at_ms` (0 = never); `old` is its live
// metadata. An expire time at or before now deletes the key instead, as the key would be gone
// at once (Redis 7.0 stores it and lets it expire; nobody can tell the difference).
absl::Status StoreString(ExecContext& ctx, std::string_view key, const std::optional<Metadata>& old,
                         std::string value, uint64_t expire_at_ms) {
  const bool expired = expire_at_ms != 0 && expire_at_ms <= ctx.now_ms;
  if (old.has_value() && (expired || old->type != KeyType::kString)) {
    if (absl::Status s = DeleteKey(ctx, key, *old); !s.ok()) return s;
  }
  if (expired) return absl::OkStatus();
  Metadata m;
  m.type = KeyType::kString;
  m.expire_at_ms = expire_at_ms;
  m.payload = std::move(value);
  StoreMetadata(ctx, key, m);
  return absl::OkStatus();
}

void BulkOrNull(const std::optional<Metadata>& m, Reply& reply) {
  if (m.has_value()) {
    reply.Bulk(m->payload);
  } else {
    reply.Null();
  }
}

absl::Status Get(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) {
    reply.Error(WrongArityError("get"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (RepliedWrongType(*m, reply)) return absl::OkStatus();
  BulkOrNull(*m, reply);
  return absl::OkStatus();
}

// The expire options of SET and GETEX (parseExtendedStringArgumentsOrReply).
struct StringOptions {
  enum class Expire { kNone, kEx, kPx, kExAt, kPxAt };
  bool nx = false;
  bool xx = false;
  bool get = false;
  bool keepttl = false;
  bool persist = false;
  Expire expire = Expire::kNone;
  std::string_view expire_arg;

  bool has_expire() const { return expire != Expire::kNone; }
  TimeUnit unit() const {
    return expire == Expire::kEx || expire == Expire::kExAt ? TimeUnit::kSeconds
                                                            : TimeUnit::kMilliseconds;
  }
  bool relative() const { return expire == Expire::kEx || expire == Expire::kPx; }
};

// SET accepts NX XX GET KEEPTTL EX PX EXAT PXAT; GETEX accepts EX PX EXAT PXAT PERSIST. Options
// may repeat (the last expire wins) but never conflict; anything else is a syntax error.
std::optional<StringOptions> ParseStringOptions(Args options, bool for_set) {
  StringOptions o;
  for (size_t i = 0; i < options.size(); ++i) {
    const std::string_view opt = options[i];
    const bool has_next = i + 1 < options.size();
    // An expire option conflicts with KEEPTTL, PERSIST and the other expire options.
    auto expire_option = [&](StringOptions::Expire kind) {
      if (o.keepttl || o.persist || !has_next || (o.has_expire() && o.expire != kind)) {
        return false;
      }
      o.expire = kind;
      o.expire_arg = options[++i];
      return true;
    };
    if (for_set && EqualsIgnoreCase(opt, "nx") && !o.xx) {
      o.nx = true;
    } else if (for_set && EqualsIgnoreCase(opt, "xx") && !o.nx) {
      o.xx = true;
    } else if (for_set && EqualsIgnoreCase(opt, "get")) {
      o.get = true;
    } else if (for_set && EqualsIgnoreCase(opt, "keepttl") && !o.has_expire()) {
      o.keepttl = true;
    } else if (!for_set && EqualsIgnoreCase(opt, "persist") && !o.has_expire()) {
      o.persist = true;
    } else if (EqualsIgnoreCase(opt, "ex")) {
      if (!expire_option(StringOptions::Expire::kEx)) return std::nullopt;
    } else if (EqualsIgnoreCase(opt, "px")) {
      if (!expire_option(StringOptions::Expire::kPx)) return std::nullopt;
    } else if (EqualsIgnoreCase(opt, "exat")) {
      if (!expire_option(StringOptions::Expire::kExAt)) return std::nullopt;
    } else if (EqualsIgnoreCase(opt, "pxat")) {
      if (!expire_option(StringOptions::Expire::kPxAt)) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  return o;
}

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]. Errors come in Redis's order:
// syntax, expire time, then WRONGTYPE (only with GET).
absl::Status Set(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3) {
    reply.Error(WrongArityError("set"));
    return absl::OkStatus();
  }
  std::optional<StringOptions> o = ParseStringOptions(argv.subspan(3), /*for_set=*/true);
  if (!o.has_value()) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  int64_t expire_at = 0;
  if (o->has_expire()) {
    std::string error;
    std::optional<int64_t> at =
        ParseStringExpireTime(o->expire_arg, o->unit(), o->relative(), ctx.now_ms, "set", &error);
    if (!at.has_value()) {
      reply.Error(error);
      return absl::OkStatus();
    }
    expire_at = *at;
  }
  absl::StatusOr<std::optional<Metadata>> old = LoadMetadata(ctx, argv[1]);
  if (!old.ok()) return old.status();
  if (o->get && RepliedWrongType(*old, reply)) return absl::OkStatus();
  const bool found = old->has_value();
  if ((o->nx && found) || (o->xx && !found)) {
    if (o->get) {
      BulkOrNull(*old, reply);
    } else {
      reply.Null();
    }
    return absl::OkStatus();
  }
  uint64_t expire_at_ms = static_cast<uint64_t>(expire_at);
  if (o->keepttl && found) expire_at_ms = (*old)->expire_at_ms;
  // GET replies the value being replaced, so keep it before the write.
  std::optional<std::string> previous;
  if (o->get && found) previous = (*old)->payload;
  if (absl::Status s = StoreString(ctx, argv[1], *old, std::string(argv[2]), expire_at_ms);
      !s.ok()) {
    return s;
  }
  if (!o->get) {
    reply.Ok();
  } else if (previous.has_value()) {
    reply.Bulk(*previous);
  } else {
    reply.Null();
  }
  return absl::OkStatus();
}

absl::Status SetNx(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) {
    reply.Error(WrongArityError("setnx"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> old = LoadMetadata(ctx, argv[1]);
  if (!old.ok()) return old.status();
  if (old->has_value()) {
    reply.Integer(0);
    return absl::OkStatus();
  }
  if (absl::Status s = StoreString(ctx, argv[1], *old, std::string(argv[2]), 0); !s.ok()) return s;
  reply.Integer(1);
  return absl::OkStatus();
}

// SETEX key seconds value / PSETEX key ms value: SET key value EX|PX t, any old type replaced.
absl::Status SetWithExpire(ExecContext& ctx, Args argv, Reply& reply, TimeUnit unit,
                           std::string_view command) {
  if (argv.size() != 4) {
    reply.Error(WrongArityError(command));
    return absl::OkStatus();
  }
  std::string error;
  std::optional<int64_t> at =
      ParseStringExpireTime(argv[2], unit, /*relative=*/true, ctx.now_ms, command, &error);
  if (!at.has_value()) {
    reply.Error(error);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> old = LoadMetadata(ctx, argv[1]);
  if (!old.ok()) return old.status();
  if (absl::Status s =
          StoreString(ctx, argv[1], *old, std::string(argv[3]), static_cast<uint64_t>(*at));
      !s.ok()) {
    return s;
  }
  reply.Ok();
  return absl::OkStatus();
}

absl::Status SetEx(ExecContext& ctx, Args argv, Reply& reply) {
  return SetWithExpire(ctx, argv, reply, TimeUnit::kSeconds, "setex");
}

absl::Status PSetEx(ExecContext& ctx, Args argv, Reply& reply) {
  return SetWithExpire(ctx, argv, reply, TimeUnit::kMilliseconds, "psetex");
}

absl::Status GetSet(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) {
    reply.Error(WrongArityError("getset"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> old = LoadMetadata(ctx, argv[1]);
  if (!old.ok()) return old.status();
  if (RepliedWrongType(*old, reply)) return absl::OkStatus();
  std::optional<std::string> previous;
  if (old->has_value()) previous = (*old)->payload;
  if (absl::Status s = StoreString(ctx, argv[1], *old, std::string(argv[2]), 0); !s.ok()) return s;
  if (previous.has_value()) {
    reply.Bulk(*previous);
  } else {
    reply.Null();
  }
  return absl::OkStatus();
}

absl::Status GetDel(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) {
    reply.Error(WrongArityError("getdel"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (RepliedWrongType(*m, reply)) return absl::OkStatus();
  if (m->has_value()) {
    if (absl::Status s = DeleteKey(ctx, argv[1], **m); !s.ok()) return s;
  }
  BulkOrNull(*m, reply);
  return absl::OkStatus();
}

// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]. A missing key answers nil before the expire
// time is even checked, as in Redis.
absl::Status GetEx(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 2) {
    reply.Error(WrongArityError("getex"));
    return absl::OkStatus();
  }
  std::optional<StringOptions> o = ParseStringOptions(argv.subspan(2), /*for_set=*/false);
  if (!o.has_value()) {
    reply.Error(kSyntaxError);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (!m->has_value()) {
    reply.Null();
    return absl::OkStatus();
  }
  if (RepliedWrongType(*m, reply)) return absl::OkStatus();
  Metadata& value = **m;
  if (o->has_expire()) {
    std::string error;
    std::optional<int64_t> at =
        ParseStringExpireTime(o->expire_arg, o->unit(), o->relative(), ctx.now_ms, "getex", &error);
    if (!at.has_value()) {
      reply.Error(error);
      return absl::OkStatus();
    }
    if (absl::Status s = StoreString(ctx, argv[1], *m, value.payload, static_cast<uint64_t>(*at));
        !s.ok()) {
      return s;
    }
  } else if (o->persist && value.expire_at_ms != 0) {
    value.expire_at_ms = 0;
    StoreMetadata(ctx, argv[1], value);
  }
  reply.Bulk(value.payload);
  return absl::OkStatus();
}

// Non-strings read as nil, never WRONGTYPE.
absl::Status MGet(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 2) {
    reply.Error(WrongArityError("mget"));
    return absl::OkStatus();
  }
  std::vector<std::optional<std::string>> values;
  values.reserve(argv.size() - 1);
  for (std::string_view key : argv.subspan(1)) {
    absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, key);
    if (!m.ok()) return m.status();
    if (m->has_value() && (*m)->type == KeyType::kString) {
      values.emplace_back(std::move((*m)->payload));
    } else {
      values.emplace_back(std::nullopt);
    }
  }
  reply.ArrayHeader(values.size());
  for (const std::optional<std::string>& v : values) {
    if (v.has_value()) {
      reply.Bulk(*v);
    } else {
      reply.Null();
    }
  }
  return absl::OkStatus();
}

absl::Status MSetPairs(ExecContext& ctx, Args pairs) {
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
    absl::StatusOr<std::optional<Metadata>> old = LoadMetadata(ctx, pairs[i]);
    if (!old.ok()) return old.status();
    if (absl::Status s = StoreString(ctx, pairs[i], *old, std::string(pairs[i + 1]), 0); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status MSet(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3 || argv.size() % 2 == 0) {
    reply.Error(WrongArityError("mset"));
    return absl::OkStatus();
  }
  if (absl::Status s = MSetPairs(ctx, argv.subspan(1)); !s.ok()) return s;
  reply.Ok();
  return absl::OkStatus();
}

// Sets nothing when any key exists (of any type).
absl::Status MSetNx(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() < 3 || argv.size() % 2 == 0) {
    reply.Error(WrongArityError("msetnx"));
    return absl::OkStatus();
  }
  for (size_t i = 1; i < argv.size(); i += 2) {
    absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[i]);
    if (!m.ok()) return m.status();
    if (m->has_value()) {
      reply.Integer(0);
      return absl::OkStatus();
    }
  }
  if (absl::Status s = MSetPairs(ctx, argv.subspan(1)); !s.ok()) return s;
  reply.Integer(1);
  return absl::OkStatus();
}

// Keeps the TTL; creates the key even for an empty suffix.
absl::Status Append(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) {
    reply.Error(WrongArityError("append"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (RepliedWrongType(*m, reply)) return absl::OkStatus();
  Metadata value;
  if (m->has_value()) {
    value = std::move(**m);
    if (static_cast<int64_t>(value.payload.size() + argv[2].size()) > kMaxStringBytes) {
      reply.Error(kStringTooLongError);
      return absl::OkStatus();
    }
  }
  value.payload.append(argv[2]);
  StoreMetadata(ctx, argv[1], value);
  reply.Integer(static_cast<int64_t>(value.payload.size()));
  return absl::OkStatus();
}

absl::Status StrLen(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) {
    reply.Error(WrongArityError("strlen"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (RepliedWrongType(*m, reply)) return absl::OkStatus();
  reply.Integer(m->has_value() ? static_cast<int64_t>((*m)->payload.size()) : 0);
  return absl::OkStatus();
}

// incrDecrCommand: a missing key counts as 0; the TTL is kept.
absl::Status IncrementBy(ExecContext& ctx, std::string_view key, int64_t delta, Reply& reply) {
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, key);
  if (!m.ok()) return m.status();
  if (RepliedWrongType(*m, reply)) return absl::OkStatus();
  Metadata value;
  int64_t current = 0;
  if (m->has_value()) {
    value = std::move(**m);
    std::optional<int64_t> parsed = ParseInt64(value.payload);
    if (!parsed.has_value()) {
      reply.Error(kNotIntegerError);
      return absl::OkStatus();
    }
    current = *parsed;
  }
  int64_t result = 0;
  if (__builtin_add_overflow(current, delta, &result)) {
    reply.Error("ERR increment or decrement would overflow");
    return absl::OkStatus();
  }
  value.payload = std::to_string(result);
  StoreMetadata(ctx, key, value);
  reply.Integer(result);
  return absl::OkStatus();
}

absl::Status Incr(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) {
    reply.Error(WrongArityError("incr"));
    return absl::OkStatus();
  }
  return IncrementBy(ctx, argv[1], 1, reply);
}

absl::Status Decr(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) {
    reply.Error(WrongArityError("decr"));
    return absl::OkStatus();
  }
  return IncrementBy(ctx, argv[1], -1, reply);
}

// The increment is parsed before the key is looked at, so a bad one wins over WRONGTYPE.
absl::Status IncrBy(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) {
    reply.Error(WrongArityError("incrby"));
    return absl::OkStatus();
  }
  std::optional<int64_t> delta = ParseInt64(argv[2]);
  if (!delta.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  return IncrementBy(ctx, argv[1], *delta, reply);
}

absl::Status DecrBy(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) {
    reply.Error(WrongArityError("decrby"));
    return absl::OkStatus();
  }
  std::optional<int64_t> delta = ParseInt64(argv[2]);
  if (!delta.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  if (*delta == std::numeric_limits<int64_t>::min()) {
    reply.Error("ERR decrement would overflow");  // Redis 7.0's own text: -LLONG_MIN overflows
    return absl::OkStatus();
  }
  return IncrementBy(ctx, argv[1], -*delta, reply);
}

// WRONGTYPE first, then the stored value's parse, then the increment's (Redis's order).
absl::Status IncrByFloat(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 3) {
    reply.Error(WrongArityError("incrbyfloat"));
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (RepliedWrongType(*m, reply)) return absl::OkStatus();
  Metadata value;
  long double current = 0;
  if (m->has_value()) {
    value = std::move(**m);
    std::optional<long double> parsed = ParseLongDouble(value.payload);
    if (!parsed.has_value()) {
      reply.Error(kNotFloatError);
      return absl::OkStatus();
    }
    current = *parsed;
  }
  std::optional<long double> increment = ParseLongDouble(argv[2]);
  if (!increment.has_value()) {
    reply.Error(kNotFloatError);
    return absl::OkStatus();
  }
  const long double result = current + *increment;
  if (std::isnan(result) || std::isinf(result)) {
    reply.Error("ERR increment would produce NaN or Infinity");
    return absl::OkStatus();
  }
  value.payload = FormatLongDouble(result);
  StoreMetadata(ctx, argv[1], value);
  reply.Bulk(value.payload);
  return absl::OkStatus();
}

// GETRANGE key start end, inclusive, negative indexes from the end. Redis 7.0's quirk is kept:
// two negative indexes that clamp to 0 still select the first byte ("GETRANGE k -100 -100").
absl::Status GetRange(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 4) {
    reply.Error(WrongArityError("getrange"));
    return absl::OkStatus();
  }
  std::optional<int64_t> start = ParseInt64(argv[2]);
  std::optional<int64_t> end = ParseInt64(argv[3]);
  if (!start.has_value() || !end.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (!m->has_value()) {
    reply.Bulk("");
    return absl::OkStatus();
  }
  if (RepliedWrongType(*m, reply)) return absl::OkStatus();
  const std::string& s = (*m)->payload;
  const auto len = static_cast<int64_t>(s.size());
  int64_t from = *start;
  int64_t to = *end;
  if (from < 0 && to < 0 && from > to) {
    reply.Bulk("");
    return absl::OkStatus();
  }
  if (from < 0) from += len;
  if (to < 0) to += len;
  if (from < 0) from = 0;
  if (to < 0) to = 0;
  if (to >= len) to = len - 1;
  if (len == 0 || from > to) {
    reply.Bulk("");
    return absl::OkStatus();
  }
  reply.Bulk(
      std::string_view(s).substr(static_cast<size_t>(from), static_cast<size_t>(to - from + 1)));
  return absl::OkStatus();
}

// SETRANGE key offset value: zero-pads up to offset; an empty value changes nothing (and creates
// no key); the TTL is kept.
absl::Status SetRange(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 4) {
    reply.Error(WrongArityError("setrange"));
    return absl::OkStatus();
  }
  std::optional<int64_t> offset = ParseInt64(argv[2]);
  if (!offset.has_value()) {
    reply.Error(kNotIntegerError);
    return absl::OkStatus();
  }
  if (*offset < 0) {
    reply.Error("ERR offset is out of range");
    return absl::OkStatus();
  }
  const std::string_view patch = argv[3];
  absl::StatusOr<std::optional<Metadata>> m = LoadMetadata(ctx, argv[1]);
  if (!m.ok()) return m.status();
  if (RepliedWrongType(*m, reply)) return absl::OkStatus();
  if (patch.empty()) {
    reply.Integer(m->has_value() ? static_cast<int64_t>((*m)->payload.size()) : 0);
    return absl::OkStatus();
  }
  if (*offset > kMaxStringBytes - static_cast<int64_t>(patch.size())) {
    reply.Error(kStringTooLongError);
    return absl::OkStatus();
  }
  Metadata value;
  if (m->has_value()) value = std::move(**m);
  const auto at = static_cast<size_t>(*offset);
  if (value.payload.size() < at + patch.size()) value.payload.resize(at + patch.size(), '\0');
  value.payload.replace(at, patch.size(), patch);
  StoreMetadata(ctx, argv[1], value);
  reply.Integer(static_cast<int64_t>(value.payload.size()));
  return absl::OkStatus();
}

constexpr DataCommand kStringCommands[] = {
    {"get", &Get, false},           {"set", &Set, true},
    {"setnx", &SetNx, true},        {"setex", &SetEx, true},
    {"psetex", &PSetEx, true},      {"getset", &GetSet, true},
    {"getdel", &GetDel, true},      {"getex", &GetEx, true},
    {"mget", &MGet, false},         {"mset", &MSet, true},
    {"msetnx", &MSetNx, true},      {"append", &Append, true},
    {"strlen", &StrLen, false},     {"incr", &Incr, true},
    {"incrby", &IncrBy, true},      {"decr", &Decr, true},
    {"decrby", &DecrBy, true},      {"incrbyfloat", &IncrByFloat, true},
    {"getrange", &GetRange, false}, {"setrange", &SetRange, true},
};

}  // namespace

std::span<const DataCommand> StringCommands() { return kStringCommands; }

}  // namespace tessera::shard::data
