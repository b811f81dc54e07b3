// The RESP codec: request parsing (pipelining, every read size, zero copy, Redis's limits and
// error texts, inline quoting), golden reply bytes in RESP2 and RESP3, and reader round trips.
#include "common/resp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace tessera::common::resp {
namespace {

using Argv = std::vector<std::string>;
using Status = RequestParser::Status;
using T = Value::Type;

struct Fed {
  std::vector<Argv> commands;
  std::string error;  // the protocol error, if any
  std::string left;   // bytes not consumed at the end
};

// Feeds `input` in pieces of `chunk` bytes the way a connection does: append, parse until
// need-more, drop what was consumed.
Fed Feed(std::string_view input, size_t chunk, const Limits& limits = {}) {
  RequestParser parser(limits);
  Fed fed;
  std::string buffer;
  for (size_t off = 0; off < input.size(); off += chunk) {
    buffer.append(input.substr(off, chunk));
    for (;;) {
      const Status status = parser.Parse(buffer);
      if (status == Status::kError) {
        fed.error = parser.error();
        return fed;
      }
      EXPECT_LE(parser.consumed(), buffer.size());
      if (status == Status::kCommand) {
        fed.commands.emplace_back(parser.argv().begin(), parser.argv().end());
      }
      buffer.erase(0, parser.consumed());
      if (status == Status::kNeedMore) break;
    }
  }
  fed.left = buffer;
  return fed;
}

std::string ErrorOf(std::string_view input, const Limits& limits = {}) {
  return Feed(input, std::max<size_t>(input.size(), 1), limits).error;
}

// Parses `input` as one buffer and returns the status of the first call that is not kCommand.
Status FinalStatus(std::string input, const Limits& limits = {}) {
  RequestParser parser(limits);
  std::span<char> rest(input);
  for (;;) {
    const Status status = parser.Parse(rest);
    if (status != Status::kCommand) return status;
    rest = rest.subspan(parser.consumed());
  }
}

bool Inside(std::string_view part, const std::string& buffer) {
  return part.data() >= buffer.data() && part.data() + part.size() <= buffer.data() + buffer.size();
}

// ---------------------------------------------------------------------------------------------
// Request parser

TEST(RespRequestParserTest, MultibulkCommand) {
  const Fed fed = Feed("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n", 1000);
  EXPECT_EQ(fed.commands, (std::vector<Argv>{{"SET", "k", "va\r\nl"}}));
  EXPECT_EQ(fed.error, "");
  EXPECT_EQ(fed.left, "");
}

TEST(RespRequestParserTest, BinarySafeBulk) {
  const std::string payload("\r\n\0$*\r\0\n", 9);
  const std::string input = "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$9\r\n" + payload + "\r\n";
  for (size_t chunk = 1; chunk <= input.size(); ++chunk) {
    EXPECT_EQ(Feed(input, chunk).commands, (std::vector<Argv>{{"SET", "", payload}}))
        << "chunk " << chunk;
  }
}

TEST(RespRequestParserTest, PipelineOfMixedCommandsAtEveryChunkSize) {
  const std::string input =
      "*1\r\n$4\r\nPING\r\n"
      "PING hello\r\n"
      "*0\r\n"
      "\r\n"
      "*-1\r\n"
      "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"
      "set \"a b\" 'c d'\n"
      "   \t \r\n"
      "\n"
      "*2\r\n$4\r\nECHO\r\n$10\r\n0123456789\r\n";
  const std::vector<Argv> expected = {
      {"PING"}, {"PING", "hello"}, {"GET", "foo"}, {"set", "a b", "c d"}, {"ECHO", "0123456789"}};
  for (size_t chunk = 1; chunk <= input.size(); ++chunk) {
    const Fed fed = Feed(input, chunk);
    EXPECT_EQ(fed.commands, expected) << "chunk " << chunk;
    EXPECT_EQ(fed.error, "");
    EXPECT_EQ(fed.left, "");
  }
}

TEST(RespRequestParserTest, ByteAtATimeGivesTheSameArgv) {
  const std::string input =
      "*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$5\r\nfield\r\n$12\r\nhello\r\nworld\r\n";
  RequestParser parser;
  std::string buffer;
  std::vector<Argv> commands;
  for (const char c : input) {
    buffer.push_back(c);
    const Status status = parser.Parse(buffer);
    ASSERT_NE(status, Status::kError);
    EXPECT_EQ(parser.consumed(), status == Status::kCommand ? buffer.size() : 0u);
    if (status == Status::kCommand)
      commands.emplace_back(parser.argv().begin(), parser.argv().end());
  }
  EXPECT_EQ(commands, (std::vector<Argv>{{"HSET", "h", "field", "hello\r\nworld"}}));
}

TEST(RespRequestParserTest, PipelinedCommandsStayValidUntilDropped) {
  std::string buffer =
      "*2\r\n$3\r\nGET\r\n$1\r\na\r\n"
      "GET \"b\\x41\"\r\n"
      "*2\r\n$3\r\nGET\r\n$1\r\nc\r\n"
      "*1\r\n$4\r\nPI";
  RequestParser parser;
  std::vector<std::vector<std::string_view>> views;
  std::vector<std::string_view> raws;
  std::span<char> rest(buffer);
  size_t offset = 0;
  for (;;) {
    const Status status = parser.Parse(rest);
    if (status != Status::kCommand) {
      EXPECT_EQ(status, Status::kNeedMore);
      break;
    }
    views.emplace_back(parser.argv().begin(), parser.argv().end());
    raws.push_back(parser.raw_command());
    rest = rest.subspan(parser.consumed());
    offset += parser.consumed();
  }
  EXPECT_EQ(offset, buffer.size() - 10);  // the unfinished "*1\r\n$4\r\nPI"
  ASSERT_EQ(views.size(), 3u);
  // Every view points into the buffer, including the inline one unescaped in place.
  for (const auto& argv : views) {
    for (const std::string_view arg : argv) EXPECT_TRUE(Inside(arg, buffer)) << arg;
  }
  EXPECT_EQ(views[0], (std::vector<std::string_view>{"GET", "a"}));
  EXPECT_EQ(views[1], (std::vector<std::string_view>{"GET", "bA"}));
  EXPECT_EQ(views[2], (std::vector<std::string_view>{"GET", "c"}));
  EXPECT_EQ(raws[0], "*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
  EXPECT_EQ(raws[2], "*2\r\n$3\r\nGET\r\n$1\r\nc\r\n");
}

TEST(RespRequestParserTest, ZeroCopyBulkArguments) {
  std::string buffer = "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n";
  RequestParser parser;
  ASSERT_EQ(parser.Parse(buffer), Status::kCommand);
  ASSERT_EQ(parser.argv().size(), 2u);
  EXPECT_EQ(parser.argv()[0].data(), buffer.data() + 8);
  EXPECT_EQ(parser.argv()[1].data(), buffer.data() + 18);
  EXPECT_FALSE(parser.inline_command());
  EXPECT_EQ(parser.raw_command().data(), buffer.data());
  EXPECT_EQ(parser.raw_command().size(), buffer.size());
}

TEST(RespRequestParserTest, ResumesAfterTheBufferMoved) {
  // The caller's buffer may reallocate between calls; the parser keeps offsets, not pointers.
  RequestParser parser;
  std::string first = "*2\r\n$3\r\nGET\r\n$3\r\nf";
  EXPECT_EQ(parser.Parse(first), Status::kNeedMore);
  EXPECT_EQ(parser.consumed(), 0u);
  EXPECT_EQ(parser.bulk_bytes_missing(), 4u);  // "oo\r\n"
  std::string moved = first + "oo\r\n";
  ASSERT_EQ(parser.Parse(moved), Status::kCommand);
  EXPECT_EQ(std::vector<std::string_view>(parser.argv().begin(), parser.argv().end()),
            (std::vector<std::string_view>{"GET", "foo"}));
  EXPECT_TRUE(Inside(parser.argv()[1], moved));
}

TEST(RespRequestParserTest, InputShorterThanParsedFailsInsteadOfReadingOutsideIt) {
  RequestParser parser;
  std::string buffer = "*2\r\n$3\r\nGET\r\n$3\r\nfo";
  EXPECT_EQ(parser.Parse(buffer), Status::kNeedMore);
  std::string shorter = "*2\r\n";
  EXPECT_EQ(parser.Parse(shorter), Status::kError);
}

TEST(RespRequestParserTest, EmptyCommandsAreConsumedAndSkipped) {
  RequestParser parser;
  std::string buffer = "*0\r\n*-1\r\n*-7\r\n\r\n\n  \t\r\n";
  EXPECT_EQ(parser.Parse(buffer), Status::kNeedMore);
  EXPECT_EQ(parser.consumed(), buffer.size());
  buffer = "\r\n*1\r\n$4\r\nPING\r\n";
  ASSERT_EQ(parser.Parse(buffer), Status::kCommand);
  EXPECT_EQ(parser.consumed(), buffer.size());
  EXPECT_EQ(parser.raw_command(), "*1\r\n$4\r\nPING\r\n");
}

TEST(RespRequestParserTest, LikeRedisSkipsUncheckedBytesAfterHeadersAndPayloads) {
  // Redis never checks the byte after a header's '\r' nor the two bytes after a payload.
  const Fed fed = Feed("*1\rX$3\rXabcYZ*1\r\n$1\r\nx\r\n", 1);
  EXPECT_EQ(fed.commands, (std::vector<Argv>{{"abc"}, {"x"}}));
  EXPECT_EQ(fed.error, "");
}

TEST(RespRequestParserTest, ProtocolErrorsUseRedisTexts) {
  EXPECT_EQ(ErrorOf("*abc\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*+1\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*01\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*-0\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("* 1\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*99999999999999999999\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*1\r\nx3\r\n"), "ERR Protocol error: expected '$', got 'x'");
  EXPECT_EQ(ErrorOf("*1\r\n:3\r\n"), "ERR Protocol error: expected '$', got ':'");
  // Redis maps CR/LF in an error text to spaces.
  EXPECT_EQ(ErrorOf("*1\r\n\r\n"), "ERR Protocol error: expected '$', got ' '");
  EXPECT_EQ(ErrorOf("*1\r\n\n\r\n"), "ERR Protocol error: expected '$', got ' '");
  EXPECT_EQ(ErrorOf("*1\r\n$-1\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("*1\r\n$x\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("*1\r\n$\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("*1\r\n$03\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(ErrorOf("set \"a b\n"), "ERR Protocol error: unbalanced quotes in request");
  EXPECT_EQ(ErrorOf("set \"a\"b\n"), "ERR Protocol error: unbalanced quotes in request");
  EXPECT_EQ(ErrorOf("set 'a\n"), "ERR Protocol error: unbalanced quotes in request");
  EXPECT_EQ(ErrorOf("set 'a'b\r\n"), "ERR Protocol error: unbalanced quotes in request");
  EXPECT_EQ(ErrorOf("set \"abc\\\n"), "ERR Protocol error: unbalanced quotes in request");
  EXPECT_EQ(ErrorOf(std::string(65537, 'a')), "ERR Protocol error: too big inline request");
  EXPECT_EQ(ErrorOf("*" + std::string(65536, '1')),
            "ERR Protocol error: too big mbulk count string");
  EXPECT_EQ(ErrorOf("*1\r\n$" + std::string(65536, '1')),
            "ERR Protocol error: too big bulk count string");
}

TEST(RespRequestParserTest, ErrorIsStickyAndCommandsBeforeItSurvive) {
  const Fed fed = Feed("PING\r\n*1\r\n?\r\nPING\r\n", 1);
  EXPECT_EQ(fed.commands, (std::vector<Argv>{{"PING"}}));
  EXPECT_EQ(fed.error, "ERR Protocol error: expected '$', got '?'");

  RequestParser parser;
  std::string bad = "*x\r\n";
  EXPECT_EQ(parser.Parse(bad), Status::kError);
  EXPECT_TRUE(parser.failed());
  std::string good = "*1\r\n$4\r\nPING\r\n";
  EXPECT_EQ(parser.Parse(good), Status::kError);
  EXPECT_EQ(parser.consumed(), 0u);
  EXPECT_TRUE(parser.argv().empty());
  EXPECT_EQ(parser.error(), "ERR Protocol error: invalid multibulk length");
}

TEST(RespRequestParserTest, BulkLengthLimitAtAndOverLimit) {
  Limits limits;
  limits.max_bulk_length = 4;
  EXPECT_EQ(Feed("*1\r\n$4\r\nPING\r\n", 3, limits).commands, (std::vector<Argv>{{"PING"}}));
  EXPECT_EQ(ErrorOf("*1\r\n$5\r\nhello\r\n", limits), "ERR Protocol error: invalid bulk length");
  // The defaults: 512 MiB is announced fine, one byte more is refused.
  EXPECT_EQ(FinalStatus("*1\r\n$536870912\r\n"), Status::kNeedMore);
  EXPECT_EQ(ErrorOf("*1\r\n$536870913\r\n"), "ERR Protocol error: invalid bulk length");
}

TEST(RespRequestParserTest, MultibulkLengthLimitAtAndOverLimit) {
  Limits limits;
  limits.max_multibulk_length = 3;
  EXPECT_EQ(Feed("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", 2, limits).commands,
            (std::vector<Argv>{{"a", "b", "c"}}));
  EXPECT_EQ(ErrorOf("*4\r\n", limits), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(FinalStatus("*1048576\r\n"), Status::kNeedMore);
  EXPECT_EQ(ErrorOf("*1048577\r\n"), "ERR Protocol error: invalid multibulk length");
}

TEST(RespRequestParserTest, InlineLengthLimitAtAndOverLimit) {
  // At most max_inline_length bytes (a '\r' included) may precede the '\n'.
  const std::string at_limit(65536, 'a');
  EXPECT_EQ(Feed(at_limit + "\n", 4096).commands, (std::vector<Argv>{{at_limit}}));
  EXPECT_EQ(Feed(std::string(65535, 'a') + "\r\n", 4096).commands,
            (std::vector<Argv>{{std::string(65535, 'a')}}));
  EXPECT_EQ(ErrorOf(at_limit + "a\n"), "ERR Protocol error: too big inline request");
  EXPECT_EQ(ErrorOf(at_limit + "\r\n"), "ERR Protocol error: too big inline request");
  // Without a line end: need more up to the limit, an error past it.
  EXPECT_EQ(FinalStatus(at_limit), Status::kNeedMore);
  EXPECT_EQ(FinalStatus(at_limit + "a"), Status::kError);

  Limits limits;
  limits.max_inline_length = 8;
  EXPECT_EQ(Feed("GET abcd\n", 1, limits).commands, (std::vector<Argv>{{"GET", "abcd"}}));
  EXPECT_EQ(Feed("GET abcde\n", 1, limits).error, "ERR Protocol error: too big inline request");
  EXPECT_EQ(Feed("GET abc\r\n", 1, limits).commands, (std::vector<Argv>{{"GET", "abc"}}));
  EXPECT_EQ(Feed("GET abcd\r\n", 1, limits).error, "ERR Protocol error: too big inline request");
}

TEST(RespRequestParserTest, HeaderLineLimitAtAndOverLimit) {
  Limits limits;
  limits.max_inline_length = 8;
  // "*" and seven digits precede the '\r': at the limit, then a (too long) number.
  EXPECT_EQ(Feed("*0000001\r\n", 1, limits).error, "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(Feed("*00000001\r\n", 1, limits).error,
            "ERR Protocol error: too big mbulk count string");
  EXPECT_EQ(Feed("*1\r\n$0000001\r\n", 1, limits).error, "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(Feed("*1\r\n$00000001\r\n", 1, limits).error,
            "ERR Protocol error: too big bulk count string");
  // The outcome does not depend on how the bytes arrive.
  EXPECT_EQ(Feed("*00000001\r\n", 64, limits).error,
            "ERR Protocol error: too big mbulk count string");
  // Defaults: 65536 bytes before the '\r' are a line, 65537 are too many.
  EXPECT_EQ(ErrorOf("*" + std::string(65535, '1') + "\r\n"),
            "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ErrorOf("*" + std::string(65536, '1') + "\r\n"),
            "ERR Protocol error: too big mbulk count string");
}

TEST(RespRequestParserTest, NulHidesTheLineEndLikeRedisStrchr) {
  // Redis looks for line ends with strchr, which stops at a NUL: such a line never completes
  // and the client gets the too-big error once more than 64 KiB are buffered.
  const std::string header("*1\0\r\n", 5);
  EXPECT_EQ(FinalStatus(header), Status::kNeedMore);
  EXPECT_EQ(FinalStatus(header + std::string(65531, 'x')), Status::kNeedMore);
  EXPECT_EQ(ErrorOf(header + std::string(65532, 'x')),
            "ERR Protocol error: too big mbulk count string");
  const std::string inline_line("GET a\0b\r\n", 9);
  EXPECT_EQ(FinalStatus(inline_line), Status::kNeedMore);
  EXPECT_EQ(ErrorOf(inline_line + std::string(65536, 'x')),
            "ERR Protocol error: too big inline request");
  EXPECT_EQ(ErrorOf(std::string("*1\r\n$\0", 6) + std::string(65536, 'x')),
            "ERR Protocol error: too big bulk count string");
}

TEST(RespRequestParserTest, HugeBulkIsCountedNotRescanned) {
  // A 512 MiB bulk announced in the header, 8 MiB of it arriving in 64-byte reads. Payload
  // bytes that look like protocol must not matter, and each read must cost O(1): rescanning
  // the buffer would take minutes (131072 reads over megabytes each).
  constexpr size_t kAnnounced = size_t{512} << 20;
  constexpr size_t kArrived = size_t{8} << 20;
  RequestParser parser;
  std::string buffer = "*2\r\n$3\r\nSET\r\n$" + std::to_string(kAnnounced) + "\r\n";
  const size_t header = buffer.size();
  ASSERT_EQ(parser.Parse(buffer), Status::kNeedMore);
  EXPECT_EQ(parser.bulk_bytes_missing(), kAnnounced + 2);
  buffer.reserve(header + kArrived);
  const std::string piece = std::string("\r\n*1\r\n$", 7) + std::string(57, '\0');
  ASSERT_EQ(piece.size(), 64u);
  const auto start = std::chrono::steady_clock::now();
  while (buffer.size() - header < kArrived) {
    buffer.append(piece);
    ASSERT_EQ(parser.Parse(buffer), Status::kNeedMore);
    ASSERT_EQ(parser.consumed(), 0u);
    ASSERT_EQ(parser.bulk_bytes_missing(), kAnnounced + 2 - (buffer.size() - header));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(CheckQueryBufferLimit(buffer.size()).ok());
}

TEST(RespRequestParserTest, LongInlineLineArrivingByteByByteIsScannedOnce) {
  RequestParser parser;
  std::string buffer;
  buffer.reserve(65537);
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < 65535; ++i) {
    buffer.push_back(i % 7 == 0 ? ' ' : 'k');
    ASSERT_EQ(parser.Parse(buffer), Status::kNeedMore);
  }
  buffer.append("\r\n");
  ASSERT_EQ(parser.Parse(buffer), Status::kCommand);
  EXPECT_EQ(parser.argv().size(), 65535u / 7);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(RespRequestParserTest, QueryBufferLimitAtAndOverLimit) {
  EXPECT_TRUE(CheckQueryBufferLimit(size_t{1} << 30).ok());
  const absl::Status over = CheckQueryBufferLimit((size_t{1} << 30) + 1);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(over.message().find("max query buffer length"), std::string_view::npos);
  Limits limits;
  limits.max_query_buffer_length = 100;
  EXPECT_TRUE(CheckQueryBufferLimit(100, limits).ok());
  EXPECT_FALSE(CheckQueryBufferLimit(101, limits).ok());
}

// ---------------------------------------------------------------------------------------------
// Inline splitting (sdssplitargs)

Argv Split(std::string line, bool* ok = nullptr) {
  std::vector<std::string_view> views;
  const bool split = SplitInlineArgs(line, &views);
  if (ok != nullptr) *ok = split;
  return Argv(views.begin(), views.end());
}

TEST(RespInlineSplitTest, QuotesAndEscapes) {
  EXPECT_EQ(Split(R"(  set "k\x41\n" 'it\'s'  "" x )"), (Argv{"set", "kA\n", "it's", "", "x"}));
  EXPECT_EQ(Split(R"("\x41\x6a\x6A\x00")"), (Argv{"Ajj" + std::string(1, '\0')}));
  EXPECT_EQ(Split(R"("\x4")"), (Argv{"x4"}));    // not two hex digits: "\x" is 'x'
  EXPECT_EQ(Split(R"("\xZZ")"), (Argv{"xZZ"}));  // likewise
  EXPECT_EQ(Split(R"("\n\r\t\b\a\\\"\q")"), (Argv{"\n\r\t\b\a\\\"q"}));
  EXPECT_EQ(Split(R"('a\nb' 'x\\y')"), (Argv{"a\\nb", "x\\\\y"}));  // single quotes: only \'
  EXPECT_EQ(Split(R"(a"b c" d)"), (Argv{"ab c", "d"}));             // quotes may open mid-argument
  EXPECT_EQ(Split("\"a\"\t'b'\v\"c\""), (Argv{"a", "b", "c"}));     // any isspace ends a quote
  EXPECT_EQ(Split("a\vb\fc"), (Argv{"a\vb\fc"}));  // but only " \t\r\n" end a plain argument
  EXPECT_EQ(Split("a\rb"), (Argv{"a", "b"}));
  EXPECT_EQ(Split(""), Argv{});
  EXPECT_EQ(Split(" \t\v\f "), Argv{});
  EXPECT_EQ(Split("''"), (Argv{""}));
}

TEST(RespInlineSplitTest, UnbalancedQuotes) {
  for (const char* line : {"\"abc", "'abc", "\"a\"b", "'a'b", "\"abc\\", "\"abc\\\"", "x \"y"}) {
    bool ok = true;
    Split(line, &ok);
    EXPECT_FALSE(ok) << line;
  }
}

TEST(RespInlineSplitTest, UnescapesInPlace) {
  std::string line = R"(SET "k\x41" 'v w')";
  std::vector<std::string_view> views;
  ASSERT_TRUE(SplitInlineArgs(line, &views));
  ASSERT_EQ(views.size(), 3u);
  for (const std::string_view arg : views) EXPECT_TRUE(Inside(arg, line));
  EXPECT_EQ(views[1], "kA");
  EXPECT_EQ(views[2], "v w");
}

TEST(RespRequestParserTest, InlineCommandsThroughTheParser) {
  const Fed fed = Feed(
      "\r\n\n   \n"
      "SET k \"v\\x41\"\n"
      "get   k\r\n"
      "ECHO 'a b'\r\n",
      3);
  EXPECT_EQ(fed.commands, (std::vector<Argv>{{"SET", "k", "vA"}, {"get", "k"}, {"ECHO", "a b"}}));
  EXPECT_EQ(fed.left, "");

  std::string buffer = "PING x\r\n";
  RequestParser parser;
  ASSERT_EQ(parser.Parse(buffer), Status::kCommand);
  EXPECT_TRUE(parser.inline_command());
  EXPECT_EQ(parser.raw_command(), "PING x\r\n");
}

// ---------------------------------------------------------------------------------------------
// Reply writer: golden bytes

std::string WriteAll(Protocol protocol) {
  std::string out;
  ReplyWriter w(&out, protocol);
  w.SimpleString("OK");
  w.SimpleString("a\r\nb");
  w.Error("ERR bad\r\nthing\r\n");
  w.Integer(0);
  w.Integer(-42);
  w.Integer(std::numeric_limits<int64_t>::min());
  w.Bulk(std::string("a\0\r\n", 4));
  w.Bulk("");
  w.Null();
  w.NullArray();
  w.ArrayHeader(0);
  w.ArrayHeader(3);
  w.MapHeader(2);
  w.SetHeader(5);
  w.PushHeader(3);
  w.Double(1.5);
  w.Double(0.1);
  w.Double(-0.0);
  w.Double(3);
  w.Double(1e300);
  w.Double(std::numeric_limits<double>::infinity());
  w.Double(-std::numeric_limits<double>::infinity());
  w.Double(std::nan(""));
  w.HumanLongDouble(10.5L + 0.1L);
  w.Bool(true);
  w.Bool(false);
  w.BigNumber("3492890328409238509324850943850943825024385");
  w.Verbatim("Some string");
  w.Verbatim("# x", "md");
  w.Verbatim("", "markdown");
  return out;
}

TEST(RespReplyWriterTest, GoldenBytesResp2) {
  constexpr char kGolden[] =
      "+OK\r\n"
      "+a  b\r\n"
      "-ERR bad  thing\r\n"
      ":0\r\n"
      ":-42\r\n"
      ":-9223372036854775808\r\n"
      "$4\r\na\0\r\n\r\n"
      "$0\r\n\r\n"
      "$-1\r\n"
      "*-1\r\n"
      "*0\r\n"
      "*3\r\n"
      "*4\r\n"
      "*5\r\n"
      "*3\r\n"
      "$3\r\n1.5\r\n"
      "$19\r\n0.10000000000000001\r\n"
      "$2\r\n-0\r\n"
      "$1\r\n3\r\n"
      "$23\r\n1.0000000000000001e+300\r\n"
      "$3\r\ninf\r\n"
      "$4\r\n-inf\r\n"
      "$3\r\nnan\r\n"
      "$4\r\n10.6\r\n"
      ":1\r\n"
      ":0\r\n"
      "$43\r\n3492890328409238509324850943850943825024385\r\n"
      "$11\r\nSome string\r\n"
      "$3\r\n# x\r\n"
      "$0\r\n\r\n";
  EXPECT_EQ(WriteAll(Protocol::kResp2), std::string(kGolden, sizeof(kGolden) - 1));
}

TEST(RespReplyWriterTest, GoldenBytesResp3) {
  constexpr char kGolden[] =
      "+OK\r\n"
      "+a  b\r\n"
      "-ERR bad  thing\r\n"
      ":0\r\n"
      ":-42\r\n"
      ":-9223372036854775808\r\n"
      "$4\r\na\0\r\n\r\n"
      "$0\r\n\r\n"
      "_\r\n"
      "_\r\n"
      "*0\r\n"
      "*3\r\n"
      "%2\r\n"
      "~5\r\n"
      ">3\r\n"
      ",1.5\r\n"
      ",0.10000000000000001\r\n"
      ",-0\r\n"
      ",3\r\n"
      ",1.0000000000000001e+300\r\n"
      ",inf\r\n"
      ",-inf\r\n"
      ",nan\r\n"
      ",10.6\r\n"
      "#t\r\n"
      "#f\r\n"
      "(3492890328409238509324850943850943825024385\r\n"
      "=15\r\ntxt:Some string\r\n"
      "=7\r\nmd :# x\r\n"
      "=4\r\nmar:\r\n";
  EXPECT_EQ(WriteAll(Protocol::kResp3), std::string(kGolden, sizeof(kGolden) - 1));
}

TEST(RespReplyWriterTest, ProtocolCanSwitch) {
  std::string out;
  ReplyWriter w(&out);
  EXPECT_EQ(w.protocol(), Protocol::kResp2);
  w.Null();
  w.set_protocol(Protocol::kResp3);
  w.Null();
  EXPECT_EQ(out, "$-1\r\n_\r\n");
}

TEST(RespFormatTest, DoubleLikeRedis70) {
  EXPECT_EQ(FormatDouble(1.1), "1.1000000000000001");
  EXPECT_EQ(FormatDouble(100), "100");
  EXPECT_EQ(FormatDouble(1e17), "1e+17");
  EXPECT_EQ(FormatDouble(-2.5e-8), "-2.4999999999999999e-08");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(RespFormatTest, HumanLongDoubleLikeIncrByFloat) {
  EXPECT_EQ(FormatHumanLongDouble(10.5L + 0.1L), "10.6");  // the INCRBYFLOAT docs' examples
  EXPECT_EQ(FormatHumanLongDouble(5.0e3L + 2.0e2L), "5200");
  EXPECT_EQ(FormatHumanLongDouble(0.1L), "0.1");
  EXPECT_EQ(FormatHumanLongDouble(3.0L), "3");
  EXPECT_EQ(FormatHumanLongDouble(-1.25L), "-1.25");
  EXPECT_EQ(FormatHumanLongDouble(-0.0L), "0");
  EXPECT_EQ(FormatHumanLongDouble(-1e-30L), "0");  // "-0.00000000000000000" → "-0" → "0"
  EXPECT_EQ(FormatHumanLongDouble(1e20L), "100000000000000000000");
  EXPECT_EQ(FormatHumanLongDouble(static_cast<long double>(0.1)), "0.10000000000000001");
  EXPECT_EQ(FormatHumanLongDouble(std::numeric_limits<long double>::infinity()), "inf");
  EXPECT_EQ(FormatHumanLongDouble(-std::numeric_limits<long double>::infinity()), "-inf");
  EXPECT_GT(FormatHumanLongDouble(std::numeric_limits<long double>::max()).size(), 4000u);
}

// ---------------------------------------------------------------------------------------------
// Reply reader

// What a client of `protocol` receives when a server writes `v`.
Value AsSent(const Value& v, Protocol protocol) {
  Value out = v;
  for (Value& e : out.elements) e = AsSent(e, protocol);
  if (protocol == Protocol::kResp3) {
    if (v.type == T::kNullBulk || v.type == T::kNullArray) return Value::String(T::kNull, "");
    return out;
  }
  switch (v.type) {
    case T::kNull:
      return Value::String(T::kNullBulk, "");
    case T::kDouble:
    case T::kBigNumber:
    case T::kVerbatim:
      return Value::String(T::kBulk, v.str);
    case T::kBool:
      return Value::Integer(v.boolean ? 1 : 0);
    case T::kMap:
    case T::kSet:
    case T::kPush:
      out.type = T::kArray;
      return out;
    default:
      return out;
  }
}

Value Sample() {
  return Value::Aggregate(
      T::kArray,
      {Value::String(T::kSimpleString, "OK"), Value::String(T::kError, "WRONGTYPE x"),
       Value::Integer(-7), Value::String(T::kBulk, std::string("\0\r\n", 3)),
       Value::String(T::kBulk, ""), Value::String(T::kNullBulk, ""),
       Value::String(T::kNullArray, ""), Value::String(T::kNull, ""), Value::Double(2.5),
       Value::Double(-std::numeric_limits<double>::infinity()), Value::Bool(true),
       Value::String(T::kBigNumber, "-12345678901234567890"), Value::Verbatim("hi\r\n", "txt"),
       Value::Aggregate(
           T::kMap, {Value::String(T::kBulk, "k"), Value::Integer(1), Value::String(T::kBulk, "n"),
                     Value::Aggregate(T::kSet, {Value::Integer(2)})}),
       Value::Aggregate(T::kPush, {Value::String(T::kBulk, "message")}),
       Value::Aggregate(T::kArray, {})});
}

TEST(RespReplyReaderTest, RoundTripsWriterOutputInBothProtocols) {
  for (const Protocol protocol : {Protocol::kResp2, Protocol::kResp3}) {
    std::string bytes;
    ReplyWriter writer(&bytes, protocol);
    WriteValue(Sample(), &writer);
    Value read;
    const absl::StatusOr<size_t> taken = ReadReply(bytes, &read);
    ASSERT_TRUE(taken.ok()) << taken.status();
    EXPECT_EQ(*taken, bytes.size());
    const Value expected = AsSent(Sample(), protocol);
    EXPECT_EQ(read, expected) << DescribeValue(read) << "\n" << DescribeValue(expected);
    // Every proper prefix is incomplete, never an error.
    for (size_t n = 0; n < bytes.size(); ++n) {
      const absl::StatusOr<size_t> partial = ReadReply(bytes.substr(0, n), &read);
      ASSERT_TRUE(partial.ok()) << n << ": " << partial.status();
      EXPECT_EQ(*partial, 0u) << n;
    }
  }
}

TEST(RespReplyReaderTest, ReadsEveryGoldenReply) {
  for (const Protocol protocol : {Protocol::kResp2, Protocol::kResp3}) {
    const std::string bytes = WriteAll(protocol);
    std::string_view rest = bytes;
    size_t count = 0;
    while (!rest.empty()) {
      Value v;
      const absl::StatusOr<size_t> taken = ReadReply(rest, &v);
      ASSERT_TRUE(taken.ok()) << taken.status() << " at " << bytes.size() - rest.size();
      ASSERT_GT(*taken, 0u);
      rest.remove_prefix(*taken);
      ++count;
    }
    EXPECT_EQ(count, 15u);  // headers take the values after them as elements
  }
  Value v;
  ASSERT_TRUE(ReadReply(",1.1000000000000001\r\n", &v).ok());
  EXPECT_EQ(v.number, 1.1);
  ASSERT_TRUE(ReadReply(",-inf\r\n", &v).ok());
  EXPECT_EQ(v.number, -std::numeric_limits<double>::infinity());
  ASSERT_TRUE(ReadReply("=9\r\nmkd:# t\r\n\r\n", &v).ok());
  EXPECT_EQ(v, Value::Verbatim("# t\r\n", "mkd"));
  EXPECT_EQ(DescribeValue(v), "=\"mkd:# t\\r\\n\"");
  ASSERT_TRUE(ReadReply("!5\r\nERR x\r\n", &v).ok());
  EXPECT_EQ(v, Value::String(T::kBlobError, "ERR x"));
}

TEST(RespReplyReaderTest, DescribesValues) {
  EXPECT_EQ(DescribeValue(Value::Aggregate(
                T::kMap,
                {Value::String(T::kBulk, "a\n"),
                 Value::Aggregate(T::kArray, {Value::Integer(1), Value::String(T::kNull, "")})})),
            "%{$\"a\\n\": *[:1, _]}");
}

TEST(RespReplyReaderTest, RejectsMalformedReplies) {
  for (const char* bad : {"?x\r\n", ":12a\r\n", ":\r\n", "$3\r\nabcd\r\n", "$-2\r\n", "*-2\r\n",
                          "%-1\r\n", "#x\r\n", ",\r\n", ",1.5x\r\n", "_x\r\n", "(12a\r\n",
                          "=3\r\ntxt\r\n", "=5\r\ntxt-x\r\n", "+a\rb\r\n", "+a\nb\r\n"}) {
    Value v;
    EXPECT_FALSE(ReadReply(bad, &v).ok()) << bad;
  }
}

TEST(RespReplyReaderTest, DepthAndLengthLimits) {
  ReaderLimits limits;
  limits.max_depth = 3;
  Value v;
  EXPECT_TRUE(ReadReply("*1\r\n*1\r\n*1\r\n:1\r\n", &v, limits).ok());
  EXPECT_FALSE(ReadReply("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", &v, limits).ok());
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "*1\r\n";
  EXPECT_FALSE(ReadReply(deep, &v).ok());  // the default depth limit, not a stack overflow
  limits.max_bulk_length = 2;
  EXPECT_TRUE(ReadReply("$2\r\nab\r\n", &v, limits).ok());
  EXPECT_FALSE(ReadReply("$3\r\nabc\r\n", &v, limits).ok());
  limits.max_aggregate_length = 1;
  EXPECT_TRUE(ReadReply("%1\r\n:1\r\n:2\r\n", &v, limits).ok());
  EXPECT_FALSE(ReadReply("*2\r\n:1\r\n:2\r\n", &v, limits).ok());
  // A huge announced aggregate is only incomplete, and reserves nothing it has no bytes for.
  const absl::StatusOr<size_t> taken = ReadReply("*2147483647\r\n:1\r\n", &v);
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(*taken, 0u);
}

}  // namespace
}  // namespace tessera::common::resp
