// Redis's argument rules (util.c, t_string.c, expire.c in Redis 7.0), written for string_view
// arguments that are not NUL-terminated.
#include "shard/data/util.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace tessera::shard::data {
namespace {

// Redis's MAX_LONG_DOUBLE_CHARS: string2ld refuses text that does not fit its buffer.
constexpr size_t kMaxLongDoubleChars = 5 * 1024;

bool IsCSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// tolower() in the C locale, on the signed char values stringmatchlen works with.
int LowerAscii(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

}  // namespace

std::optional<int64_t> ParseInt64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s == "0") return 0;
  size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative && ++i == s.size()) return std::nullopt;
  if (s[i] < '1' || s[i] > '9') return std::nullopt;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  constexpr uint64_t kMaxPositive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (negative) {
    if (v > kMaxPositive + 1) return std::nullopt;
    return static_cast<int64_t>(~v + 1);  // two's complement negation, defined for INT64_MIN
  }
  if (v > kMaxPositive) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<double> ParseDouble(std::string_view s) {
  if (s.empty() || IsCSpace(s[0])) return std::nullopt;
  const std::string buf(s);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size()) return std::nullopt;
  if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || std::fpclassify(v) == FP_ZERO)) {
    return std::nullopt;
  }
  if (std::isnan(v)) return std::nullopt;
  return v;
}

std::optional<long double> ParseLongDouble(std::string_view s) {
  if (s.empty() || s.size() >= kMaxLongDoubleChars || IsCSpace(s[0])) return std::nullopt;
  const std::string buf(s);
  char* end = nullptr;
  errno = 0;
  const long double v = std::strtold(buf.c_str(), &end);
  // Redis 7.0's string2ld: the whole value must parse (an embedded NUL ends it early).
  if (*end != '\0' || static_cast<size_t>(end - buf.c_str()) != s.size()) return std::nullopt;
  if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || std::fpclassify(v) == FP_ZERO)) {
    return std::nullopt;
  }
  if (std::isnan(v)) return std::nullopt;
  return v;
}

std::string FormatLongDouble(long double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // The largest finite long double takes 4952 characters: Redis's buffer always fits.
  char buf[kMaxLongDoubleChars];
  const int len = std::snprintf(buf, sizeof(buf), "%.17Lf", v);
  std::string out(buf, static_cast<size_t>(std::clamp(len, 0, int{sizeof(buf)} - 1)));
  if (out.find('.') != std::string::npos) {
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
  }
  if (out == "-0") out = "0";
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(static_cast<unsigned char>(a[i])) !=
        LowerAscii(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string WrongArityError(std::string_view command) {
  std::string out = "ERR wrong number of arguments for '";
  out.append(command);
  out.append("' command");
  return out;
}

std::string InvalidExpireTimeError(std::string_view command) {
  std::string out = "ERR invalid expire time in '";
  out.append(command);
  out.append("' command");
  return out;
}

std::optional<int64_t> ParseStringExpireTime(std::string_view arg, TimeUnit unit, bool relative,
                                             uint64_t now_ms, std::string_view command,
                                             std::string* error) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  std::optional<int64_t> v = ParseInt64(arg);
  if (!v.has_value()) {
    *error = "ERR value is not an integer or out of range";
    return std::nullopt;
  }
  int64_t ms = *v;
  if (ms <= 0 || (unit == TimeUnit::kSeconds && ms > kMax / 1000)) {
    *error = InvalidExpireTimeError(command);
    return std::nullopt;
  }
  if (unit == TimeUnit::kSeconds) ms *= 1000;
  if (relative) {
    // Redis detects the overflow of ms + now after the fact (a negative sum); same outcome.
    if (now_ms > static_cast<uint64_t>(kMax) || ms > kMax - static_cast<int64_t>(now_ms)) {
      *error = InvalidExpireTimeError(command);
      return std::nullopt;
    }
    ms += static_cast<int64_t>(now_ms);
  }
  return ms;
}

std::optional<int64_t> ParseKeyExpireTime(std::string_view arg, TimeUnit unit, int64_t base_ms,
                                          std::string_view command, std::string* error) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  std::optional<int64_t> v = ParseInt64(arg);
  if (!v.has_value()) {
    *error = "ERR value is not an integer or out of range";
    return std::nullopt;
  }
  int64_t when = *v;
  if (unit == TimeUnit::kSeconds) {
    if (when > kMax / 1000 || when < kMin / 1000) {
      *error = InvalidExpireTimeError(command);
      return std::nullopt;
    }
    when *= 1000;
  }
  if (when > kMax - base_ms) {
    *error = InvalidExpireTimeError(command);
    return std::nullopt;
  }
  return when + base_ms;
}

bool ExpireConditions::Allow(uint64_t current_ms, int64_t when_ms) const {
  const bool has_ttl = current_ms != 0;
  const auto current = static_cast<int64_t>(current_ms);
  if (nx && has_ttl) return false;
  if (xx && !has_ttl) return false;
  if (gt && (!has_ttl || when_ms <= current)) return false;
  if (lt && has_ttl && when_ms >= current) return false;
  return true;
}

std::optional<ExpireConditions> ParseExpireConditions(std::span<const std::string_view> options,
                                                      std::string* error) {
  ExpireConditions c;
  for (std::string_view opt : options) {
    if (EqualsIgnoreCase(opt, "nx")) {
      c.nx = true;
    } else if (EqualsIgnoreCase(opt, "xx")) {
      c.xx = true;
    } else if (EqualsIgnoreCase(opt, "gt")) {
      c.gt = true;
    } else if (EqualsIgnoreCase(opt, "lt")) {
      c.lt = true;
    } else {
      // Redis formats the option with %s and keeps the error on one line.
      *error = "ERR Unsupported option ";
      for (char ch : opt.substr(0, opt.find('\0'))) {
        error->push_back(ch == '\r' || ch == '\n' ? ' ' : ch);
      }
      return std::nullopt;
    }
  }
  if (c.nx && (c.xx || c.gt || c.lt)) {
    *error = "ERR NX and XX, GT or LT options at the same time are not compatible";
    return std::nullopt;
  }
  if (c.gt && c.lt) {
    *error = "ERR GT and LT options at the same time are not compatible";
    return std::nullopt;
  }
  return c;
}

uint64_t ScanCursorOf(std::string_view name) {
  uint64_t cursor = 0;
  for (size_t i = 0; i < kScanCursorBytes; ++i) {
    cursor = (cursor << 8) | (i < name.size() ? static_cast<uint8_t>(name[i]) : 0);
  }
  return cursor;
}

std::string ScanSeekOf(uint64_t cursor) {
  std::string name(kScanCursorBytes, '\0');
  for (size_t i = kScanCursorBytes; i-- > 0; cursor >>= 8) name[i] = static_cast<char>(cursor);
  while (!name.empty() && name.back() == '\0') name.pop_back();
  return name;
}

std::optional<uint64_t> ParseScanCursor(std::string_view arg) {
  if (arg.empty() || arg.size() > 20) return std::nullopt;
  uint64_t cursor = 0;
  for (char c : arg) {
    if (c < '0' || c > '9' || cursor > (UINT64_MAX - static_cast<uint64_t>(c - '0')) / 10) {
      return std::nullopt;
    }
    cursor = cursor * 10 + static_cast<uint64_t>(c - '0');
  }
  if (cursor >> (8 * kScanCursorBytes) != 0) return std::nullopt;
  return cursor;
}

absl::Status ReplyArity(Reply& reply, std::string_view command) {
  reply.Error(WrongArityError(command));
  return absl::OkStatus();
}

}  // namespace tessera::shard::data
