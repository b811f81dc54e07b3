// RequestParser: multibulk, inline, pipelining, every-byte splits, Redis's limits and error
// texts; the reply encoders' exact bytes.
#include "shard/redis/resp.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tessera::shard {
namespace {

using Argv = std::vector<std::string>;

// Feeds `input` in chunks of `chunk` bytes the way a connection does (buffer, parse, drop
// consumed) and collects the commands; `error` receives the protocol error if any.
std::vector<Argv> FeedChunks(std::string_view input, size_t chunk, std::string* error = nullptr,
                             RequestLimits limits = {}) {
  RequestParser parser(limits);
  std::vector<Argv> commands;
  std::string buffer;
  for (size_t off = 0; off < input.size(); off += chunk) {
    buffer.append(input.substr(off, chunk));
    for (;;) {
      size_t consumed = 0;
      Argv argv;
      auto r = parser.Parse(buffer, &consumed, &argv);
      buffer.erase(0, consumed);
      if (r == RequestParser::Result::kCommand) {
        commands.push_back(argv);
        continue;
      }
      if (r == RequestParser::Result::kError) {
        if (error != nullptr) *error = parser.error();
        return commands;
      }
      break;
    }
  }
  EXPECT_TRUE(buffer.empty() || error != nullptr) << "left over: " << buffer;
  return commands;
}

std::string ParseError(std::string_view input, RequestLimits limits = {}) {
  std::string error;
  FeedChunks(input, input.size(), &error, limits);
  return error;
}

TEST(RespParserTest, MultibulkCommand) {
  auto cmds = FeedChunks("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n", 1000);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0], (Argv{"SET", "k", "va\r\nl"}));
}

TEST(RespParserTest, BinaryAndEmptyArguments) {
  constexpr char kInput[] = "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$3\r\na\0b\r\n";
  const std::string input(kInput, sizeof(kInput) - 1);
  auto cmds = FeedChunks(input, 1000);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0], (Argv{"SET", "", std::string("a\0b", 3)}));
}

TEST(RespParserTest, PipelineOfMixedCommandsAtEveryChunkSize) {
  const std::string input =
      "*1\r\n$4\r\nPING\r\n"
      "PING hello\r\n"
      "*0\r\n"
      "\r\n"
      "*-1\r\n"
      "*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n"
      "set \"a b\" 'c d'\n"
      "*2\r\n$4\r\nECHO\r\n$10\r\n0123456789\r\n";
  const std::vector<Argv> expected = {
      {"PING"}, {"PING", "hello"}, {"GET", "foo"}, {"set", "a b", "c d"}, {"ECHO", "0123456789"}};
  for (size_t chunk = 1; chunk <= input.size(); ++chunk) {
    EXPECT_EQ(FeedChunks(input, chunk), expected) << "chunk " << chunk;
  }
}

TEST(RespParserTest, NeedMoreConsumesOnlyCompleteParts) {
  RequestParser parser;
  Argv argv;
  size_t consumed = 0;
  EXPECT_EQ(parser.Parse("*2\r\n$3\r\nGET\r\n$3\r\nfo", &consumed, &argv),
            RequestParser::Result::kNeedMore);
  EXPECT_EQ(consumed, 17u);  // header, "$3", "GET" and the "$3" line of the second bulk
  EXPECT_EQ(parser.Parse("fo", &consumed, &argv), RequestParser::Result::kNeedMore);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.Parse("foo\r\n", &consumed, &argv), RequestParser::Result::kCommand);
  EXPECT_EQ(consumed, 5u);
  EXPECT_EQ(argv, (Argv{"GET", "foo"}));
}

TEST(RespParserTest, ProtocolErrorsUseRedisTexts) {
  EXPECT_EQ(ParseError("*abc\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ParseError("*1048577\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ParseError("*+1\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(ParseError("*1\r\nx3\r\n"), "ERR Protocol error: expected '$', got 'x'");
  EXPECT_EQ(ParseError("*1\r\n$-1\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(ParseError("*1\r\n$x\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(ParseError("*1\r\n$536870913\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(ParseError("*1\r\n$3\r\nabcd\r\n"),
            "ERR Protocol error: bulk payload not followed by CRLF");
  EXPECT_EQ(ParseError("set \"a b\n"), "ERR Protocol error: unbalanced quotes in request");
  EXPECT_EQ(ParseError("set \"a\"b\n"), "ERR Protocol error: unbalanced quotes in request");
  EXPECT_EQ(ParseError("set 'a\n"), "ERR Protocol error: unbalanced quotes in request");
  EXPECT_EQ(ParseError(std::string(65 * 1024, 'a')), "ERR Protocol error: too big inline request");
  EXPECT_EQ(ParseError("*" + std::string(65 * 1024, '1')),
            "ERR Protocol error: too big mbulk count string");
  EXPECT_EQ(ParseError("*1\r\n$" + std::string(65 * 1024, '1')),
            "ERR Protocol error: too big bulk count string");
}

TEST(RespParserTest, ConfigurableBulkLimit) {
  RequestLimits limits;
  limits.max_bulk_length = 4;
  EXPECT_EQ(ParseError("*1\r\n$5\r\nhello\r\n", limits), "ERR Protocol error: invalid bulk length");
  std::string error;
  auto cmds = FeedChunks("*1\r\n$4\r\nPING\r\n", 3, &error, limits);
  EXPECT_TRUE(error.empty());
  EXPECT_EQ(cmds, (std::vector<Argv>{{"PING"}}));
}

TEST(RespParserTest, ErrorIsStickyAndCommandsBeforeItSurvive) {
  std::string error;
  auto cmds = FeedChunks("PING\r\n*1\r\n?\r\nPING\r\n", 1, &error);
  EXPECT_EQ(cmds, (std::vector<Argv>{{"PING"}}));
  EXPECT_EQ(error, "ERR Protocol error: expected '$', got '?'");
}

TEST(RespParserTest, InlineQuotesAndEscapes) {
  Argv argv;
  ASSERT_TRUE(SplitInlineArgs(R"(  set "k\x41\n" 'it\'s'  "" x )", &argv));
  EXPECT_EQ(argv, (Argv{"set", "kA\n", "it's", "", "x"}));
  argv.clear();
  ASSERT_TRUE(SplitInlineArgs("", &argv));
  EXPECT_TRUE(argv.empty());
}

TEST(RespEncoderTest, GoldenBytes) {
  std::string out;
  AppendSimpleString(&out, "OK");
  AppendError(&out, "ERR bad\r\nthing");
  AppendInteger(&out, -42);
  AppendBulk(&out, std::string("a\0b", 3));
  AppendNullBulk(&out);
  AppendArrayHeader(&out, 0);
  constexpr char kGolden[] = "+OK\r\n-ERR bad  thing\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*0\r\n";
  EXPECT_EQ(out, std::string(kGolden, sizeof(kGolden) - 1));
}

}  // namespace
}  // namespace tessera::shard
