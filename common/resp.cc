// RESP codec: the request parser follows Redis 7.0's processMultibulkBuffer/processInlineBuffer
// and sdssplitargs, the writer its addReply* functions; docs/resp.md lists every difference.
#include "common/resp.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::common::resp {
namespace {

constexpr char kCrlf[] = "\r\n";

// Redis's string2ll: optional '-', digits without a leading zero (except "0"), at most 20
// bytes, no '+', no spaces, no overflow.
bool ParseRedisInt64(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  if (s[0] == '-' && (s.size() == 1 || s[1] == '0')) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// isspace() in the C locale, which Redis's ctype calls use.
bool IsCSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

char UnescapeChar(char c) {
  switch (c) {
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'b':
      return '\b';
    case 'a':
      return '\a';
    default:
      return c;
  }
}

// Redis maps CR and LF in formatted error texts to spaces so a reply stays one line.
std::string OneLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return text;
}

void AppendDecimal(std::string* out, uint64_t value, bool negative) {
  char buf[24];
  char* end = std::to_chars(buf, buf + sizeof(buf), value).ptr;
  if (negative) out->push_back('-');
  out->append(buf, end);
}

}  // namespace

absl::Status CheckQueryBufferLimit(size_t unconsumed_bytes, const Limits& limits) {
  if (unconsumed_bytes <= limits.max_query_buffer_length) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("closing client that reached max query buffer length (", unconsumed_bytes,
                   " bytes > client-query-buffer-limit ", limits.max_query_buffer_length, ")"));
}

// ---------------------------------------------------------------------------------------------
// RequestParser

RequestParser::Status RequestParser::Fail(std::string error) {
  state_ = State::kFailed;
  error_ = OneLine(std::move(error));
  argv_.clear();
  return Status::kError;
}

void RequestParser::StartElement(State state, size_t pos) {
  state_ = state;
  pos_ = pos;
  scan_ = pos;
  line_blocked_ = false;
}

// Redis finds a line end with strchr on its NUL-terminated query buffer, so a NUL before the
// line end hides it. Redis reports a too long line when, with no line end found, more than
// PROTO_INLINE_MAX_SIZE bytes are buffered; whether a long line reaches that check depends on
// how its bytes arrived. Here a line is too long exactly when more than max_inline_length bytes
// precede its line end (what Redis does when bytes arrive one at a time), so the outcome never
// depends on read sizes, and no more than max_inline_length + 1 bytes are ever searched.
RequestParser::LineScan RequestParser::ScanLine(std::string_view command, char terminator,
                                                size_t* end) {
  const size_t max_line =
      std::min(limits_.max_inline_length, std::numeric_limits<size_t>::max() / 4);
  const size_t stop = std::min(command.size(), pos_ + max_line + 1);
  if (!line_blocked_ && scan_ < stop) {
    const char* base = command.data();
    const void* t = std::memchr(base + scan_, terminator, stop - scan_);
    const size_t t_pos =
        t != nullptr ? static_cast<size_t>(static_cast<const char*>(t) - base) : stop;
    const void* z = std::memchr(base + scan_, '\0', t_pos - scan_);
    if (z != nullptr) {
      line_blocked_ = true;
      scan_ = static_cast<size_t>(static_cast<const char*>(z) - base);
    } else if (t != nullptr) {
      scan_ = t_pos;  // a later call that still needs the byte after it finds it again at once
      *end = t_pos;
      return LineScan::kFound;
    } else {
      scan_ = stop;
    }
  }
  return command.size() - pos_ > max_line ? LineScan::kTooLong : LineScan::kNeedMore;
}

RequestParser::Status RequestParser::Parse(std::span<char> input) {
  consumed_ = 0;
  argv_.clear();
  raw_command_ = {};
  bulk_bytes_missing_ = 0;
  if (state_ == State::kFailed) return Status::kError;
  for (;;) {
    const std::span<char> command = input.subspan(consumed_);
    if (state_ != State::kIdle && command.size() < std::max(pos_, scan_)) {
      // The caller broke the contract (the input lost bytes already parsed): stop before
      // reading outside it.
      return Fail("ERR Protocol error: input shorter than what was parsed");
    }
    if (state_ == State::kIdle) {
      if (command.empty()) return Status::kNeedMore;
      inline_command_ = command[0] != '*';
      if (spans_.capacity() > 4096) std::vector<Span>().swap(spans_);
      if (argv_.capacity() > 4096) std::vector<std::string_view>().swap(argv_);
      StartElement(inline_command_ ? State::kInline : State::kMultibulkCount, 0);
    }
    const Status status = inline_command_ ? ParseInline(command) : ParseMultibulk(command);
    if (status != Status::kCommand) return status;
    // state_ is kIdle again and pos_ is the command's length.
    consumed_ += pos_;
    if (!argv_.empty()) {
      raw_command_ = std::string_view(command.data(), pos_);
      return Status::kCommand;
    }
    // An empty command (`*0`, `*-1`, a blank line): Redis resets the client and goes on.
  }
}

// processInlineBuffer: a line ends at '\n' with an optional '\r' before it.
RequestParser::Status RequestParser::ParseInline(std::span<char> command) {
  const std::string_view view(command.data(), command.size());
  size_t newline = 0;
  switch (ScanLine(view, '\n', &newline)) {
    case LineScan::kNeedMore:
      return Status::kNeedMore;
    case LineScan::kTooLong:
      return Fail("ERR Protocol error: too big inline request");
    case LineScan::kFound:
      break;
  }
  size_t line_end = newline;
  if (line_end > 0 && command[line_end - 1] == '\r') --line_end;
  argv_.clear();
  if (!SplitInlineArgs(command.first(line_end), &argv_)) {
    return Fail("ERR Protocol error: unbalanced quotes in request");
  }
  state_ = State::kIdle;
  pos_ = newline + 1;
  return Status::kCommand;
}

// processMultibulkBuffer. Like Redis, the byte after a header's '\r' and the two bytes after
// a payload are skipped without being checked.
RequestParser::Status RequestParser::ParseMultibulk(std::span<char> command) {
  const std::string_view view(command.data(), command.size());
  for (;;) {
    switch (state_) {
      case State::kMultibulkCount: {
        size_t cr = 0;
        switch (ScanLine(view, '\r', &cr)) {
          case LineScan::kNeedMore:
            return Status::kNeedMore;
          case LineScan::kTooLong:
            return Fail("ERR Protocol error: too big mbulk count string");
          case LineScan::kFound:
            break;
        }
        if (cr + 1 >= view.size()) return Status::kNeedMore;
        int64_t count = 0;
        if (!ParseRedisInt64(view.substr(1, cr - 1), &count) ||
            (count > 0 && static_cast<uint64_t>(count) > limits_.max_multibulk_length)) {
          return Fail("ERR Protocol error: invalid multibulk length");
        }
        if (count <= 0) {
          argv_.clear();
          state_ = State::kIdle;
          pos_ = cr + 2;
          return Status::kCommand;
        }
        args_remaining_ = static_cast<size_t>(count);
        spans_.clear();
        StartElement(State::kBulkCount, cr + 2);
        break;
      }
      case State::kBulkCount: {
        size_t cr = 0;
        switch (ScanLine(view, '\r', &cr)) {
          case LineScan::kNeedMore:
            return Status::kNeedMore;
          case LineScan::kTooLong:
            return Fail("ERR Protocol error: too big bulk count string");
          case LineScan::kFound:
            break;
        }
        if (cr + 1 >= view.size()) return Status::kNeedMore;
        if (view[pos_] != '$') {
          return Fail(absl::StrCat("ERR Protocol error: expected '$', got '",
                                   std::string(1, view[pos_]), "'"));
        }
        int64_t length = 0;
        if (!ParseRedisInt64(view.substr(pos_ + 1, cr - pos_ - 1), &length) || length < 0 ||
            static_cast<uint64_t>(length) > limits_.max_bulk_length) {
          return Fail("ERR Protocol error: invalid bulk length");
        }
        bulk_length_ = static_cast<size_t>(length);
        pos_ = cr + 2;
        state_ = State::kBulkPayload;
        break;
      }
      case State::kBulkPayload: {
        const size_t available = view.size() - pos_;
        if (available < bulk_length_ + 2) {
          bulk_bytes_missing_ = bulk_length_ + 2 - available;
          return Status::kNeedMore;
        }
        spans_.push_back({pos_, bulk_length_});
        const size_t next = pos_ + bulk_length_ + 2;
        if (--args_remaining_ > 0) {
          StartElement(State::kBulkCount, next);
          break;
        }
        argv_.clear();
        argv_.reserve(spans_.size());
        for (const Span& span : spans_)
          argv_.emplace_back(command.data() + span.offset, span.length);
        spans_.clear();
        state_ = State::kIdle;
        pos_ = next;
        return Status::kCommand;
      }
      default:
        return Fail("ERR Protocol error: parser state");  // unreachable
    }
  }
}

// sdssplitargs over a line that sdssplitargs would see as a C string: the end of `line` plays
// the role of its terminating NUL.
bool SplitInlineArgs(std::span<char> line, std::vector<std::string_view>* argv) {
  char* const data = line.data();
  const size_t n = line.size();
  auto at = [data, n](size_t i) { return i < n ? data[i] : '\0'; };
  size_t r = 0;  // read position
  for (;;) {
    while (r < n && IsCSpace(data[r])) ++r;
    if (r == n) return true;
    // Each argument is written where it starts and is never longer than its source, so the
    // write position never passes the read position, and an argument without quotes is left
    // as it was.
    const size_t start = r;
    size_t w = r;
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      const char c = at(r);
      if (in_double) {
        if (c == '\\' && at(r + 1) == 'x' && IsHexDigit(at(r + 2)) && IsHexDigit(at(r + 3))) {
          data[w++] = static_cast<char>(HexValue(at(r + 2)) * 16 + HexValue(at(r + 3)));
          r += 3;
        } else if (c == '\\' && r + 1 < n) {
          ++r;
          data[w++] = UnescapeChar(data[r]);
        } else if (c == '"') {
          // The closing quote must be followed by a space or the end of the line.
          if (r + 1 < n && !IsCSpace(data[r + 1])) return false;
          done = true;
        } else if (r == n) {
          return false;
        } else {
          data[w++] = c;
        }
      } else if (in_single) {
        if (c == '\\' && at(r + 1) == '\'') {
          ++r;
          data[w++] = '\'';
        } else if (c == '\'') {
          if (r + 1 < n && !IsCSpace(data[r + 1])) return false;
          done = true;
        } else if (r == n) {
          return false;
        } else {
          data[w++] = c;
        }
      } else {
        switch (c) {
          // Only these end an unquoted argument; '\v' and '\f' do not, as in Redis.
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
            data[w++] = c;
            break;
        }
      }
      if (r < n) ++r;
    }
    argv->emplace_back(data + start, w - start);
  }
}

// ---------------------------------------------------------------------------------------------
// ReplyWriter

void ReplyWriter::Line(char type, std::string_view text) {
  out_->push_back(type);
  const size_t start = out_->size();
  out_->append(text);
  std::replace_if(
      out_->begin() + static_cast<std::ptrdiff_t>(start), out_->end(),
      [](char c) { return c == '\r' || c == '\n'; }, ' ');
  out_->append(kCrlf);
}

void ReplyWriter::Header(char type, size_t count) {
  out_->push_back(type);
  AppendDecimal(out_, count, false);
  out_->append(kCrlf);
}

void ReplyWriter::SimpleString(std::string_view text) { Line('+', text); }

void ReplyWriter::Error(std::string_view text) {
  // Like addReplyErrorFormat: trailing CR/LF trimmed, the others become spaces.
  while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
  Line('-', text);
}

void ReplyWriter::Integer(int64_t value) {
  out_->push_back(':');
  const uint64_t magnitude =
      value < 0 ? uint64_t{0} - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  AppendDecimal(out_, magnitude, value < 0);
  out_->append(kCrlf);
}

void ReplyWriter::Bulk(std::string_view data) {
  Header('$', data.size());
  out_->append(data);
  out_->append(kCrlf);
}

void ReplyWriter::Null() { out_->append(protocol_ == Protocol::kResp2 ? "$-1\r\n" : "_\r\n"); }

void ReplyWriter::NullArray() { out_->append(protocol_ == Protocol::kResp2 ? "*-1\r\n" : "_\r\n"); }

void ReplyWriter::ArrayHeader(size_t count) { Header('*', count); }

void ReplyWriter::MapHeader(size_t pairs) {
  if (protocol_ == Protocol::kResp2) {
    Header('*', pairs * 2);
  } else {
    Header('%', pairs);
  }
}

void ReplyWriter::SetHeader(size_t count) {
  Header(protocol_ == Protocol::kResp2 ? '*' : '~', count);
}

void ReplyWriter::PushHeader(size_t count) {
  Header(protocol_ == Protocol::kResp2 ? '*' : '>', count);
}

void ReplyWriter::Double(double value) {
  const std::string text = FormatDouble(value);
  if (protocol_ == Protocol::kResp2) {
    Bulk(text);
  } else {
    Line(',', text);
  }
}

void ReplyWriter::HumanLongDouble(long double value) {
  const std::string text = FormatHumanLongDouble(value);
  if (protocol_ == Protocol::kResp2) {
    Bulk(text);
  } else {
    Line(',', text);
  }
}

void ReplyWriter::Bool(bool value) {
  if (protocol_ == Protocol::kResp2) {
    out_->append(value ? ":1\r\n" : ":0\r\n");
  } else {
    out_->append(value ? "#t\r\n" : "#f\r\n");
  }
}

void ReplyWriter::BigNumber(std::string_view digits) {
  if (protocol_ == Protocol::kResp2) {
    Bulk(digits);
  } else {
    Line('(', digits);
  }
}

void ReplyWriter::Verbatim(std::string_view text, std::string_view format) {
  if (protocol_ == Protocol::kResp2) {
    Bulk(text);
    return;
  }
  Header('=', text.size() + 4);
  for (size_t i = 0; i < 3; ++i) out_->push_back(i < format.size() ? format[i] : ' ');
  out_->push_back(':');
  out_->append(text);
  out_->append(kCrlf);
}

std::string FormatDouble(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  const int n = std::snprintf(buf, sizeof(buf), "%.17g", value);
  return std::string(buf, static_cast<size_t>(n));
}

std::string FormatHumanLongDouble(long double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // "%.17Lf" of the largest 80-bit long double takes 4952 bytes (Redis: a 5 KiB buffer).
  char buf[8192];
  const int n = std::snprintf(buf, sizeof(buf), "%.17Lf", value);
  std::string text(buf, static_cast<size_t>(std::clamp(n, 0, static_cast<int>(sizeof(buf)) - 1)));
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
  }
  if (text == "-0") text = "0";
  return text;
}

// ---------------------------------------------------------------------------------------------
// Value, ReadReply, WriteValue

Value Value::String(Type type, std::string_view str) {
  Value v;
  v.type = type;
  v.str = std::string(str);
  return v;
}

Value Value::Integer(int64_t value) {
  Value v;
  v.type = Type::kInteger;
  v.integer = value;
  return v;
}

Value Value::Double(double value) {
  Value v;
  v.type = Type::kDouble;
  v.number = value;
  v.str = FormatDouble(value);
  return v;
}

Value Value::Bool(bool value) {
  Value v;
  v.type = Type::kBool;
  v.boolean = value;
  return v;
}

Value Value::Aggregate(Type type, std::vector<Value> elements) {
  Value v;
  v.type = type;
  v.elements = std::move(elements);
  return v;
}

Value Value::Verbatim(std::string_view text, std::string_view format) {
  Value v;
  v.type = Type::kVerbatim;
  v.format = std::string(format);
  v.str = std::string(text);
  return v;
}

bool operator==(const Value& a, const Value& b) {
  return a.type == b.type && a.str == b.str && a.integer == b.integer && a.boolean == b.boolean &&
         a.format == b.format && a.elements == b.elements;
}

namespace {

void AppendQuoted(std::string* out, std::string_view s) {
  out->push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\n':
        out->append("\\n");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
          char buf[5];
          std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
          out->append(buf);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void Describe(const Value& v, std::string* out) {
  using T = Value::Type;
  auto elements = [&](char open, char close) {
    out->push_back(open);
    for (size_t i = 0; i < v.elements.size(); ++i) {
      if (i > 0) out->append(v.type == T::kMap && i % 2 == 1 ? ": " : ", ");
      Describe(v.elements[i], out);
    }
    out->push_back(close);
  };
  switch (v.type) {
    case T::kSimpleString:
      out->push_back('+');
      AppendQuoted(out, v.str);
      break;
    case T::kError:
      out->push_back('-');
      AppendQuoted(out, v.str);
      break;
    case T::kInteger:
      absl::StrAppend(out, ":", v.integer);
      break;
    case T::kBulk:
      out->push_back('$');
      AppendQuoted(out, v.str);
      break;
    case T::kNullBulk:
      out->append("$-1");
      break;
    case T::kArray:
      out->push_back('*');
      elements('[', ']');
      break;
    case T::kNullArray:
      out->append("*-1");
      break;
    case T::kNull:
      out->push_back('_');
      break;
    case T::kDouble:
      out->push_back(',');
      out->append(v.str);
      break;
    case T::kBool:
      out->append(v.boolean ? "#t" : "#f");
      break;
    case T::kBigNumber:
      out->push_back('(');
      out->append(v.str);
      break;
    case T::kVerbatim:
      out->push_back('=');
      AppendQuoted(out, absl::StrCat(v.format, ":", v.str));
      break;
    case T::kBlobError:
      out->push_back('!');
      AppendQuoted(out, v.str);
      break;
    case T::kMap:
      out->push_back('%');
      elements('{', '}');
      break;
    case T::kSet:
      out->push_back('~');
      elements('[', ']');
      break;
    case T::kPush:
      out->push_back('>');
      elements('[', ']');
      break;
  }
}

// A stateless recursive-descent reader; `false` from Read means "need more bytes".
class ReplyReader {
 public:
  ReplyReader(std::string_view input, const ReaderLimits& limits) : in_(input), limits_(limits) {}

  size_t pos() const { return pos_; }

  absl::StatusOr<bool> Read(Value* v, size_t depth) {
    using T = Value::Type;
    if (pos_ >= in_.size()) return false;
    const char type = in_[pos_++];
    if (std::string_view("+-(:_#,$!=*%~>").find(type) == std::string_view::npos) {
      return Invalid(absl::StrCat("unknown reply type byte ", static_cast<int>(type & 0xff)));
    }
    std::string_view line;
    absl::StatusOr<bool> got = ReadLine(&line);
    if (!got.ok() || !*got) return got;
    *v = Value();
    switch (type) {
      case '+':
        return String(T::kSimpleString, line, v);
      case '-':
        return String(T::kError, line, v);
      case '(':
        if (!IsBigNumber(line)) return Invalid("bad big number");
        return String(T::kBigNumber, line, v);
      case ':':
        v->type = T::kInteger;
        if (!ParseRedisInt64(line, &v->integer)) return Invalid("bad integer");
        return true;
      case '_':
        if (!line.empty()) return Invalid("bad null");
        v->type = T::kNull;
        return true;
      case '#':
        if (line != "t" && line != "f") return Invalid("bad boolean");
        v->type = T::kBool;
        v->boolean = line == "t";
        return true;
      case ',': {
        v->type = T::kDouble;
        v->str = std::string(line);
        auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), v->number);
        if (line.empty() || ec != std::errc() || ptr != line.data() + line.size()) {
          return Invalid("bad double");
        }
        return true;
      }
      case '$':
        return Blob(T::kBulk, line, v);
      case '!':
        return Blob(T::kBlobError, line, v);
      case '=':
        return Blob(T::kVerbatim, line, v);
      case '*':
        return Elements(T::kArray, line, depth, v);
      case '%':
        return Elements(T::kMap, line, depth, v);
      case '~':
        return Elements(T::kSet, line, depth, v);
      case '>':
        return Elements(T::kPush, line, depth, v);
      default:
        return Invalid("unreachable");
    }
  }

 private:
  static absl::Status Invalid(const std::string& what) {
    return absl::InvalidArgumentError("RESP reply: " + what);
  }

  static bool IsBigNumber(std::string_view s) {
    if (!s.empty() && s[0] == '-') s.remove_prefix(1);
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  }

  absl::StatusOr<bool> ReadLine(std::string_view* line) {
    const size_t cr = in_.find('\r', pos_);
    if (cr == std::string_view::npos || cr + 1 >= in_.size()) return false;
    if (in_[cr + 1] != '\n') return Invalid("line not ended by CRLF");
    *line = in_.substr(pos_, cr - pos_);
    pos_ = cr + 2;
    return true;
  }

  static absl::StatusOr<bool> String(Value::Type type, std::string_view line, Value* v) {
    if (line.find('\n') != std::string_view::npos) return Invalid("LF inside a line");
    v->type = type;
    v->str = std::string(line);
    return true;
  }

  absl::StatusOr<bool> Blob(Value::Type type, std::string_view line, Value* v) {
    int64_t length = 0;
    if (!ParseRedisInt64(line, &length)) return Invalid("bad length");
    if (length == -1 && type == Value::Type::kBulk) {
      v->type = Value::Type::kNullBulk;
      return true;
    }
    if (length < 0 || static_cast<uint64_t>(length) > limits_.max_bulk_length) {
      return Invalid("bad length");
    }
    const size_t n = static_cast<size_t>(length);
    if (in_.size() - pos_ < n + 2) return false;
    if (in_[pos_ + n] != '\r' || in_[pos_ + n + 1] != '\n')
      return Invalid("payload not ended by CRLF");
    std::string_view payload = in_.substr(pos_, n);
    pos_ += n + 2;
    v->type = type;
    if (type == Value::Type::kVerbatim) {
      if (payload.size() < 4 || payload[3] != ':') return Invalid("bad verbatim string");
      v->format = std::string(payload.substr(0, 3));
      payload.remove_prefix(4);
    }
    v->str = std::string(payload);
    return true;
  }

  absl::StatusOr<bool> Elements(Value::Type type, std::string_view line, size_t depth, Value* v) {
    int64_t count = 0;
    if (!ParseRedisInt64(line, &count)) return Invalid("bad aggregate length");
    if (count == -1 && type == Value::Type::kArray) {
      v->type = Value::Type::kNullArray;
      return true;
    }
    if (count < 0 || static_cast<uint64_t>(count) > limits_.max_aggregate_length) {
      return Invalid("bad aggregate length");
    }
    if (depth >= limits_.max_depth) return Invalid("aggregates nested too deep");
    v->type = type;
    const size_t n = static_cast<size_t>(count) * (type == Value::Type::kMap ? 2 : 1);
    // Every element takes at least three bytes; never reserve for bytes that are not there.
    v->elements.reserve(std::min(n, (in_.size() - pos_) / 3));
    for (size_t i = 0; i < n; ++i) {
      Value element;
      absl::StatusOr<bool> got = Read(&element, depth + 1);
      if (!got.ok() || !*got) return got;
      v->elements.push_back(std::move(element));
    }
    return true;
  }

  const std::string_view in_;
  const ReaderLimits& limits_;
  size_t pos_ = 0;
};

}  // namespace

std::string DescribeValue(const Value& value) {
  std::string out;
  Describe(value, &out);
  return out;
}

absl::StatusOr<size_t> ReadReply(std::string_view input, Value* value, const ReaderLimits& limits) {
  ReplyReader reader(input, limits);
  absl::StatusOr<bool> got = reader.Read(value, 0);
  if (!got.ok()) return got.status();
  return *got ? reader.pos() : 0;
}

void WriteValue(const Value& value, ReplyWriter* writer) {
  using T = Value::Type;
  switch (value.type) {
    case T::kSimpleString:
      writer->SimpleString(value.str);
      return;
    case T::kError:
    case T::kBlobError:
      writer->Error(value.str);
      return;
    case T::kInteger:
      writer->Integer(value.integer);
      return;
    case T::kBulk:
      writer->Bulk(value.str);
      return;
    case T::kNullBulk:
    case T::kNull:
      writer->Null();
      return;
    case T::kNullArray:
      writer->NullArray();
      return;
    case T::kDouble:
      writer->Double(value.number);
      return;
    case T::kBool:
      writer->Bool(value.boolean);
      return;
    case T::kBigNumber:
      writer->BigNumber(value.str);
      return;
    case T::kVerbatim:
      writer->Verbatim(value.str, value.format);
      return;
    case T::kArray:
      writer->ArrayHeader(value.elements.size());
      break;
    case T::kMap:
      writer->MapHeader(value.elements.size() / 2);
      break;
    case T::kSet:
      writer->SetHeader(value.elements.size());
      break;
    case T::kPush:
      writer->PushHeader(value.elements.size());
      break;
  }
  // A map with an odd element count drops its last element: a key without a value.
  const size_t n = value.type == T::kMap ? value.elements.size() / 2 * 2 : value.elements.size();
  for (size_t i = 0; i < n; ++i) WriteValue(value.elements[i], writer);
}

}  // namespace tessera::common::resp
