// The RESP codec shared by gateway and shard: a zero-copy incremental request parser with
// Redis 7.0's limits and error texts, a RESP2/RESP3 reply writer, and a small reply reader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// The byte format and every place it follows or departs from Redis: docs/resp.md.
namespace tessera::common::resp {

// Request limits. The names in parentheses are Redis's.
struct Limits {
  size_t max_bulk_length = size_t{512} << 20;  // (proto-max-bulk-len)
  // Redis 7.0 allows INT_MAX arguments (6.2 and the issue: 1 MiB); Tessera keeps the bound.
  size_t max_multibulk_length = size_t{1} << 20;
  // (PROTO_INLINE_MAX_SIZE) An inline line, and a `*`/`$` header line, may hold at most this
  // many bytes before its line end.
  size_t max_inline_length = size_t{64} << 10;
  size_t max_query_buffer_length = size_t{1} << 30;  // (client-query-buffer-limit)
};

// Redis's client-query-buffer-limit, checked by the caller after every read with the number
// of bytes it holds from the parser's first unconsumed byte on. A non-OK status (its message
// is for the log) means: close the connection without a reply, as Redis does. Unlike Redis,
// which copies finished arguments out of its query buffer, a zero-copy parser keeps a whole
// unfinished command buffered, so the count includes its finished arguments.
absl::Status CheckQueryBufferLimit(size_t unconsumed_bytes, const Limits& limits = {});

// Parses client requests (multibulk `*N\r\n$L\r\n...` and inline lines) in place.
//
// Contract: the caller owns a growing buffer. Each Parse call gets the buffer from the first
// byte not yet consumed (earlier calls' consumed() bytes dropped or skipped) to its end; the
// bytes seen by earlier calls must be unchanged but may have moved. argv() views point into
// that buffer and stay valid while the caller keeps those bytes, so a caller may parse several
// pipelined commands (input.subspan(consumed())) before dropping any.
//
// Each input byte is examined a bounded number of times however small the reads: the parser
// remembers how far it got in the unfinished command, and a bulk payload is only counted.
// A quoted argument of an inline request is unescaped over its own bytes in the caller's
// buffer, which is why the input is mutable; nothing else is ever written. Passing an input
// shorter than what earlier calls parsed is a caller bug; the parser then fails.
//
// After kError the parser stays failed: send the error() reply, then close the connection
// (Redis sets CLIENT_CLOSE_AFTER_REPLY). Commands returned before the error stay valid.
class RequestParser {
 public:
  enum class Status {
    kCommand,   // argv() is one command with at least one argument
    kNeedMore,  // every complete part was taken; read more and call again
    kError,     // error() is the reply; close the connection after sending it
  };

  explicit RequestParser(const Limits& limits = {}) : limits_(limits) {}

  Status Parse(std::span<char> input);

  // Valid after kCommand until the caller drops or changes the command's bytes.
  std::span<const std::string_view> argv() const { return argv_; }
  // Bytes at the front of the last input that the caller may now drop: the returned command
  // and any empty commands (`*0`, `*-1`, blank inline lines) before it. Set by every call.
  size_t consumed() const { return consumed_; }
  // After kCommand: the command's bytes as received (no skipped empty commands), and whether
  // it was an inline line (an inline line with quotes was rewritten by unescaping, and a
  // shard expects multibulk anyway: only a multibulk command is forwarded as it is).
  std::string_view raw_command() const { return raw_command_; }
  bool inline_command() const { return inline_command_; }
  // After kNeedMore inside a bulk payload: how many more bytes (payload and its CRLF) must
  // arrive before the parser can move on, so the caller can reserve; otherwise 0.
  size_t bulk_bytes_missing() const { return bulk_bytes_missing_; }
  // The reply text without '-' and CRLF, e.g. "ERR Protocol error: invalid bulk length".
  const std::string& error() const { return error_; }
  bool failed() const { return state_ == State::kFailed; }

 private:
  enum class State { kIdle, kInline, kMultibulkCount, kBulkCount, kBulkPayload, kFailed };
  enum class LineScan { kFound, kNeedMore, kTooLong };
  struct Span {
    size_t offset;  // from the command's first byte
    size_t length;
  };

  // Looks for `terminator` in the line that starts at pos_ of `command`, resuming at scan_.
  LineScan ScanLine(std::string_view command, char terminator, size_t* end);
  Status ParseInline(std::span<char> command);
  Status ParseMultibulk(std::span<char> command);
  Status Fail(std::string error);
  void StartElement(State state, size_t pos);

  const Limits limits_;
  State state_ = State::kIdle;
  size_t pos_ = 0;             // offset, from the command's first byte, of the unparsed part
  size_t scan_ = 0;            // the line-end search has looked at [pos_, scan_)
  bool line_blocked_ = false;  // a NUL came before the line end (see docs/resp.md)
  size_t args_remaining_ = 0;
  size_t bulk_length_ = 0;
  std::vector<Span> spans_;  // finished arguments of the unfinished command
  std::vector<std::string_view> argv_;
  size_t consumed_ = 0;
  std::string_view raw_command_;
  bool inline_command_ = false;
  size_t bulk_bytes_missing_ = 0;
  std::string error_;
};

// Splits an inline request line like Redis's sdssplitargs, in place: each argument is written
// over its own bytes (unescaping only shortens it; an unquoted argument stays as it is) and
// `argv` receives views of them. False (line contents then unspecified) on unbalanced quotes
// or a closing quote not followed by a space. `line` holds no line end and no NUL
// (RequestParser guarantees both).
bool SplitInlineArgs(std::span<char> line, std::vector<std::string_view>* argv);

enum class Protocol { kResp2 = 2, kResp3 = 3 };

// Appends replies to a string in the connection's protocol (HELLO 2|3 switches it), byte
// for byte as Redis 7.0's addReply* functions do.
class ReplyWriter {
 public:
  explicit ReplyWriter(std::string* out, Protocol protocol = Protocol::kResp2)
      : out_(out), protocol_(protocol) {}

  Protocol protocol() const { return protocol_; }
  void set_protocol(Protocol protocol) { protocol_ = protocol; }

  // CR and LF in the text become spaces (an error's trailing ones are trimmed first, as
  // addReplyErrorFormat does). An error's text starts with its code, without '-': "ERR ...".
  void SimpleString(std::string_view text);
  void Error(std::string_view text);
  void Integer(int64_t value);
  void Bulk(std::string_view data);
  void Null();       // RESP2 `$-1`, RESP3 `_`
  void NullArray();  // RESP2 `*-1`, RESP3 `_`
  void ArrayHeader(size_t count);
  void MapHeader(size_t pairs);   // RESP2: an array of 2 * pairs
  void SetHeader(size_t count);   // RESP2: an array
  void PushHeader(size_t count);  // RESP2: an array (pub/sub messages)
  void Double(double value);      // RESP2: a bulk string of FormatDouble
  // INCRBYFLOAT-style (addReplyHumanLongDouble): FormatHumanLongDouble as a RESP2 bulk string
  // or a RESP3 double.
  void HumanLongDouble(long double value);
  void Bool(bool value);  // RESP2 `:1` / `:0`
  void BigNumber(std::string_view digits);
  // RESP3 `=`: `format` is cut or space-padded to three bytes; RESP2: a bulk string of text.
  void Verbatim(std::string_view text, std::string_view format = "txt");

 private:
  void Line(char type, std::string_view text);
  void Header(char type, size_t count);

  std::string* out_;
  Protocol protocol_;
};

// Redis 7.0's addReplyDouble text: "inf", "-inf", else printf "%.17g" (glibc: "nan", "-nan").
std::string FormatDouble(double value);
// Redis's ld2string(LD_STR_HUMAN), the INCRBYFLOAT/HINCRBYFLOAT value: "%.17Lf" without
// trailing zeros and without a trailing '.', "-0" becomes "0", "inf" and "-inf".
std::string FormatHumanLongDouble(long double value);

// A reply as a tree, for tests and the differential harness.
struct Value {
  enum class Type {
    kSimpleString,  // +
    kError,         // -
    kInteger,       // :
    kBulk,          // $
    kNullBulk,      // $-1 (RESP2 null)
    kArray,         // *
    kNullArray,     // *-1 (RESP2 null array)
    kNull,          // _
    kDouble,        // ,
    kBool,          // #
    kBigNumber,     // (
    kVerbatim,      // =
    kBlobError,     // !
    kMap,           // %
    kSet,           // ~
    kPush,          // >
  };

  static Value String(Type type, std::string_view str);  // also the nulls, with ""
  static Value Integer(int64_t value);
  static Value Double(double value);  // str is FormatDouble(value)
  static Value Bool(bool value);
  static Value Aggregate(Type type, std::vector<Value> elements);
  static Value Verbatim(std::string_view text, std::string_view format = "txt");

  Type type = Type::kNull;
  // Strings, errors, big numbers, verbatim payloads, and doubles as sent.
  std::string str;
  int64_t integer = 0;
  double number = 0;  // kDouble, parsed from str
  bool boolean = false;
  std::string format;           // kVerbatim: three bytes, e.g. "txt"
  std::vector<Value> elements;  // aggregates; a map alternates key, value

  // Compares the type and the bytes a value was sent as (a double by its text).
  friend bool operator==(const Value& a, const Value& b);
};

// A one-line rendering for test failures and harness diffs, e.g. `*[$"a", :1, _]`.
std::string DescribeValue(const Value& value);

struct ReaderLimits {
  size_t max_depth = 64;  // nested aggregates
  size_t max_bulk_length = size_t{512} << 20;
  size_t max_aggregate_length = (size_t{1} << 31) - 1;
};

// Reads one complete reply from the front of `input`. Returns the number of bytes it took,
// or 0 when `input` is only a prefix of a reply (read more and call again; the reader keeps
// no state, so the work is redone), or InvalidArgument for bytes that are not RESP2/RESP3.
// Attributes (`|`) and streamed types (`$?`, `*?`) are not supported: Redis 7.0 sends none.
absl::StatusOr<size_t> ReadReply(std::string_view input, Value* value,
                                 const ReaderLimits& limits = {});

// Writes `value` with `writer`: the inverse of ReadReply for what Redis sends. A double is
// written from its number, a blob error as a simple error.
void WriteValue(const Value& value, ReplyWriter* writer);

}  // namespace tessera::common::resp
