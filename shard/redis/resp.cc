// RequestParser: Redis's processMultibulkBuffer/processInlineBuffer rules, stricter in one place:
// a bulk payload must be followed by CRLF (Redis skips two bytes unchecked).
#include "shard/redis/resp.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::shard {
namespace {

// Redis's string2ll: optional '-', digits, no '+', no spaces, no leading zeros.
bool ParseStrictInt64(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  if (s[0] == '-' && (s.size() == 1 || s[1] == '0')) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == '\0';
}

void AppendLine(std::string* out, char type, std::string_view s) {
  out->push_back(type);
  const size_t start = out->size();
  out->append(s);
  std::replace_if(
      out->begin() + static_cast<std::ptrdiff_t>(start), out->end(),
      [](char c) { return c == '\r' || c == '\n'; }, ' ');
  out->append("\r\n");
}

}  // namespace

RequestParser::Result RequestParser::Fail(std::string error) {
  error_ = std::move(error);
  return Result::kError;
}

RequestParser::Result RequestParser::Parse(std::string_view in, size_t* consumed,
                                           std::vector<std::string>* argv) {
  size_t pos = 0;
  *consumed = 0;
  if (!error_.empty()) return Result::kError;
  for (;;) {
    if (!in_multibulk_) {
      if (pos == in.size()) break;
      if (in[pos] != '*') {
        const Result r = ParseInline(in, &pos, argv);
        *consumed = pos;
        if (r == Result::kCommand && argv->empty()) continue;  // empty line
        return r;
      }
      const size_t cr = in.find('\r', pos);
      if (cr == std::string_view::npos || cr + 1 >= in.size()) {
        if (in.size() - pos > limits_.max_inline_size) {
          return Fail("ERR Protocol error: too big mbulk count string");
        }
        break;
      }
      int64_t count = 0;
      if (in[cr + 1] != '\n' || !ParseStrictInt64(in.substr(pos + 1, cr - pos - 1), &count) ||
          count > limits_.max_multibulk_count) {
        return Fail("ERR Protocol error: invalid multibulk length");
      }
      pos = cr + 2;
      *consumed = pos;
      if (count <= 0) continue;  // an empty command: nothing to run
      in_multibulk_ = true;
      multibulk_remaining_ = count;
      bulk_length_ = -1;
      args_.clear();
      args_.reserve(static_cast<size_t>(std::min<int64_t>(count, 1024)));
    }
    while (multibulk_remaining_ > 0) {
      if (bulk_length_ < 0) {
        if (pos == in.size()) break;
        if (in[pos] != '$') {
          return Fail(std::string("ERR Protocol error: expected '$', got '") + in[pos] + "'");
        }
        const size_t cr = in.find('\r', pos);
        if (cr == std::string_view::npos || cr + 1 >= in.size()) {
          if (in.size() - pos > limits_.max_inline_size) {
            return Fail("ERR Protocol error: too big bulk count string");
          }
          break;
        }
        int64_t length = 0;
        if (in[cr + 1] != '\n' || !ParseStrictInt64(in.substr(pos + 1, cr - pos - 1), &length) ||
            length < 0 || static_cast<uint64_t>(length) > limits_.max_bulk_length) {
          return Fail("ERR Protocol error: invalid bulk length");
        }
        bulk_length_ = length;
        pos = cr + 2;
        *consumed = pos;
      }
      const size_t length = static_cast<size_t>(bulk_length_);
      if (in.size() - pos < length + 2) break;
      if (in[pos + length] != '\r' || in[pos + length + 1] != '\n') {
        return Fail("ERR Protocol error: bulk payload not followed by CRLF");
      }
      args_.emplace_back(in.substr(pos, length));
      pos += length + 2;
      *consumed = pos;
      bulk_length_ = -1;
      --multibulk_remaining_;
    }
    if (multibulk_remaining_ > 0) break;
    in_multibulk_ = false;
    *argv = std::move(args_);
    args_.clear();
    return Result::kCommand;
  }
  return Result::kNeedMore;
}

RequestParser::Result RequestParser::ParseInline(std::string_view in, size_t* pos,
                                                 std::vector<std::string>* argv) {
  const size_t nl = in.find('\n', *pos);
  if (nl == std::string_view::npos) {
    if (in.size() - *pos > limits_.max_inline_size) {
      return Fail("ERR Protocol error: too big inline request");
    }
    return Result::kNeedMore;
  }
  if (nl - *pos > limits_.max_inline_size) {
    return Fail("ERR Protocol error: too big inline request");
  }
  std::string_view line = in.substr(*pos, nl - *pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  argv->clear();
  if (!SplitInlineArgs(line, argv)) {
    return Fail("ERR Protocol error: unbalanced quotes in request");
  }
  *pos = nl + 1;
  return Result::kCommand;
}

bool SplitInlineArgs(std::string_view line, std::vector<std::string>* argv) {
  size_t p = 0;
  const size_t n = line.size();
  for (;;) {
    while (p < n && IsSpace(line[p])) ++p;
    if (p == n) return true;
    std::string current;
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      if (in_double) {
        if (p == n) return false;
        if (line[p] == '\\' && p + 3 < n && line[p + 1] == 'x' && IsHexDigit(line[p + 2]) &&
            IsHexDigit(line[p + 3])) {
          current.push_back(static_cast<char>(HexValue(line[p + 2]) * 16 + HexValue(line[p + 3])));
          p += 3;
        } else if (line[p] == '\\' && p + 1 < n) {
          ++p;
          switch (line[p]) {
            case 'n':
              current.push_back('\n');
              break;
            case 'r':
              current.push_back('\r');
              break;
            case 't':
              current.push_back('\t');
              break;
            case 'b':
              current.push_back('\b');
              break;
            case 'a':
              current.push_back('\a');
              break;
            default:
              current.push_back(line[p]);
              break;
          }
        } else if (line[p] == '"') {
          // The closing quote must end the argument.
          if (p + 1 < n && !IsSpace(line[p + 1])) return false;
          done = true;
        } else {
          current.push_back(line[p]);
        }
      } else if (in_single) {
        if (p == n) return false;
        if (line[p] == '\\' && p + 1 < n && line[p + 1] == '\'') {
          ++p;
          current.push_back('\'');
        } else if (line[p] == '\'') {
          if (p + 1 < n && !IsSpace(line[p + 1])) return false;
          done = true;
        } else {
          current.push_back(line[p]);
        }
      } else {
        if (p == n) break;
        switch (line[p]) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
          case '\0':
            done = true;
            break;
          case '"':
            in_double = true;
            break;
          case '\'':
            in_single = true;
            break;
          default:
            current.push_back(line[p]);
            break;
        }
      }
      if (p < n) ++p;
    }
    argv->push_back(std::move(current));
  }
}

void AppendSimpleString(std::string* out, std::string_view s) { AppendLine(out, '+', s); }

void AppendError(std::string* out, std::string_view s) { AppendLine(out, '-', s); }

void AppendInteger(std::string* out, int64_t v) { absl::StrAppend(out, ":", v, "\r\n"); }

void AppendBulk(std::string* out, std::string_view s) {
  absl::StrAppend(out, "$", s.size(), "\r\n");
  out->append(s);
  out->append("\r\n");
}

void AppendNullBulk(std::string* out) { out->append("$-1\r\n"); }

void AppendArrayHeader(std::string* out, size_t count) { absl::StrAppend(out, "*", count, "\r\n"); }

}  // namespace tessera::shard
