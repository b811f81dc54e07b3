// Redis's argument rules shared by every data type's commands: integers like string2ll, floats
// like string2d/string2ld, ld2string's human format, stringmatchlen globs and expire arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/glob.h"
#include "shard/data/reply.h"

namespace tessera::shard::data {

// Redis's default proto-max-bulk-len: no string value may grow past it (APPEND, SETRANGE). A
// constant, not a setting, so that every replica applies the same limit.
inline constexpr int64_t kMaxStringBytes = int64_t{512} * 1024 * 1024;
inline constexpr std::string_view kStringTooLongError =
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

// string2ll: an optional '-', then digits with no leading zero ("0" alone is fine); no '+',
// no spaces, no empty text; nullopt when out of int64's range.
std::optional<int64_t> ParseInt64(std::string_view s);

// string2d (getDoubleFromObject): strtod over the whole text, no leading space, no NaN, no
// overflow; "inf" and "-inf" are accepted.
std::optional<double> ParseDouble(std::string_view s);

// string2ld (getLongDoubleFromObject): strtold as Redis calls it: up to 5119 bytes, parsing stops
// at an embedded NUL, no leading space, no NaN, no overflow; infinities are accepted.
std::optional<long double> ParseLongDouble(std::string_view s);

// ld2string's human mode (INCRBYFLOAT): "%.17Lf" without trailing zeros or a trailing dot,
// "-0" as "0", infinities as "inf"/"-inf". Long double is x87 80-bit on x86-64: replicas of
// one group must share the architecture to agree on INCRBYFLOAT. Float parsing and printing
// assume the C locale (the process never calls setlocale).
std::string FormatLongDouble(long double v);

// Redis's glob (common/glob.h).
using common::GlobMatch;

// strcasecmp(a, b) == 0 over ASCII.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// "ERR wrong number of arguments for '<command>' command".
std::string WrongArityError(std::string_view command);
// Answers WrongArityError(command) and returns OK: a handler's own argument-count guard.
absl::Status ReplyArity(Reply& reply, std::string_view command);
// "ERR invalid expire time in '<command>' command".
std::string InvalidExpireTimeError(std::string_view command);

enum class TimeUnit { kSeconds, kMilliseconds };

// getExpireMillisecondsOrReply (SET EX/PX/EXAT/PXAT, SETEX, PSETEX, GETEX): the absolute expire
// time in ms, which is > 0; a relative time (EX/PX) is added to now_ms. On failure `*error`
// holds the reply: not an integer, or invalid expire time (<= 0, or overflow) naming `command`.
std::optional<int64_t> ParseStringExpireTime(std::string_view arg, TimeUnit unit, bool relative,
                                             uint64_t now_ms, std::string_view command,
                                             std::string* error);

// EXPIRE/PEXPIRE (base_ms = now) and EXPIREAT/PEXPIREAT (base_ms = 0): the absolute expire time
// in ms, possibly <= now or negative (the key is deleted). On overflow `*error` is the invalid
// expire time error naming `command`.
std::optional<int64_t> ParseKeyExpireTime(std::string_view arg, TimeUnit unit, int64_t base_ms,
                                          std::string_view command, std::string* error);

// EXPIRE's NX | XX | GT | LT options (parseExtendedExpireArgumentsOrReply).
struct ExpireConditions {
  bool nx = false;  // only when the key has no TTL
  bool xx = false;  // only when it has one
  bool gt = false;  // only to a later time (no TTL counts as infinite)
  bool lt = false;  // only to an earlier time

  // Whether a key whose expire time is `current_ms` (0 = none) may take `when_ms`.
  bool Allow(uint64_t current_ms, int64_t when_ms) const;
};
// Parses the options after EXPIRE's time argument; on failure `*error` holds the reply
// ("ERR Unsupported option x", or one of the two incompatibility errors).
std::optional<ExpireConditions> ParseExpireConditions(std::span<const std::string_view> options,
                                                      std::string* error);

// The SCAN/HSCAN/SSCAN cursor scheme: a cursor c < 2^56 names the position just before the
// first name (key, field or member) whose first kScanCursorBytes bytes, zero-padded and read
// big-endian, are >= c; 0 starts and ends a scan. Padding keeps the order: a <= b implies
// ScanCursorOf(a) <= ScanCursorOf(b). The top byte stays free (a gateway may name a group).
inline constexpr size_t kScanCursorBytes = 7;
uint64_t ScanCursorOf(std::string_view name);
// The smallest name whose cursor is `cursor`: its bytes without trailing zeros.
std::string ScanSeekOf(uint64_t cursor);
// A decimal cursor argument; nullopt for anything else or a cursor of 2^56 or more.
std::optional<uint64_t> ParseScanCursor(std::string_view arg);

}  // namespace tessera::shard::data
