// String commands against a real StorageEngine: normal paths, Redis 7.0's error texts and order,
// TTL handling with explicit now_ms values, and WRONGTYPE against a hash metadata row. Expected
// replies were checked against redis-server 7.0.15.
#include <limits>
#include <string>

#include "gtest/gtest.h"
#include "shard/data/data_testing.h"

namespace tessera::shard::data {
namespace {

using data_testing::Bulk;
using data_testing::Bulks;
using data_testing::Err;
using data_testing::Int;
using data_testing::kNil;
using data_testing::kOk;
using std::string_literals::operator""s;

const std::string kWrongType = Err(kWrongTypeError);
const std::string kSyntax = Err("ERR syntax error");
const std::string kNotInteger = Err("ERR value is not an integer or out of range");
const std::string kNotFloat = Err("ERR value is not a valid float");

class StringsTest : public data_testing::DataTest {};

TEST_F(StringsTest, GetAndSet) {
  EXPECT_EQ(Run({"GET", "k"}), kNil);
  EXPECT_EQ(Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(Run({"get", "k"}), Bulk("v"));
  EXPECT_EQ(Run({"SET", "k", "a\0b\r\n"s}), kOk);
  EXPECT_EQ(Run({"GET", "k"}), Bulk("a\0b\r\n"s));
  EXPECT_EQ(Run({"SET", "", ""}), kOk);
  EXPECT_EQ(Run({"GET", ""}), Bulk(""));
}

TEST_F(StringsTest, WrongTypeAgainstAHash) {
  PutHash("h");
  EXPECT_EQ(Run({"GET", "h"}), kWrongType);
  EXPECT_EQ(Run({"GETSET", "h", "v"}), kWrongType);
  EXPECT_EQ(Run({"GETDEL", "h"}), kWrongType);
  EXPECT_EQ(Run({"GETEX", "h"}), kWrongType);
  EXPECT_EQ(Run({"APPEND", "h", "x"}), kWrongType);
  EXPECT_EQ(Run({"STRLEN", "h"}), kWrongType);
  EXPECT_EQ(Run({"INCR", "h"}), kWrongType);
  EXPECT_EQ(Run({"INCRBY", "h", "1"}), kWrongType);
  EXPECT_EQ(Run({"DECR", "h"}), kWrongType);
  EXPECT_EQ(Run({"DECRBY", "h", "1"}), kWrongType);
  EXPECT_EQ(Run({"INCRBYFLOAT", "h", "1"}), kWrongType);
  EXPECT_EQ(Run({"GETRANGE", "h", "0", "1"}), kWrongType);
  EXPECT_EQ(Run({"SETRANGE", "h", "0", "x"}), kWrongType);
  EXPECT_EQ(Run({"SET", "h", "v", "GET"}), kWrongType);
  EXPECT_EQ(Run({"SET", "h", "v", "NX", "GET"}), kWrongType);
  EXPECT_EQ(RawMetadata("h")->type, KeyType::kHash);  // untouched
}

TEST_F(StringsTest, SetReplacesAnyTypeAndDropsTheTtl) {
  PutHash("h", /*expire_at_ms=*/now_ms_ + 5000);
  EXPECT_EQ(Run({"SET", "h", "v"}), kOk);
  EXPECT_EQ(Run({"GET", "h"}), Bulk("v"));
  EXPECT_EQ(RawMetadata("h")->expire_at_ms, 0u);
  EXPECT_EQ(Run({"SET", "k", "v", "EX", "100"}), kOk);
  EXPECT_EQ(Run({"SET", "k", "w"}), kOk);
  EXPECT_EQ(Run({"PTTL", "k"}), Int(-1));
}

TEST_F(StringsTest, SetNxXx) {
  EXPECT_EQ(Run({"SET", "k", "v", "XX"}), kNil);
  EXPECT_EQ(Run({"EXISTS", "k"}), Int(0));
  EXPECT_EQ(Run({"SET", "k", "v", "nx"}), kOk);
  EXPECT_EQ(Run({"SET", "k", "w", "NX"}), kNil);
  EXPECT_EQ(Run({"GET", "k"}), Bulk("v"));
  EXPECT_EQ(Run({"SET", "k", "w", "XX"}), kOk);
  EXPECT_EQ(Run({"GET", "k"}), Bulk("w"));
  EXPECT_EQ(Run({"SET", "k", "x", "NX", "NX"}), kNil);  // repeats are fine
  PutHash("h");
  EXPECT_EQ(Run({"SET", "h", "v", "NX"}), kNil);  // any type exists
}

TEST_F(StringsTest, SetGet) {
  EXPECT_EQ(Run({"SET", "k", "v", "GET"}), kNil);
  EXPECT_EQ(Run({"SET", "k", "w", "GET"}), Bulk("v"));
  EXPECT_EQ(Run({"GET", "k"}), Bulk("w"));
  // NX with GET (allowed since 7.0): the old value, and nothing set.
  EXPECT_EQ(Run({"SET", "k", "x", "NX", "GET"}), Bulk("w"));
  EXPECT_EQ(Run({"GET", "k"}), Bulk("w"));
  EXPECT_EQ(Run({"SET", "n", "x", "GET", "NX"}), kNil);
  EXPECT_EQ(Run({"GET", "n"}), Bulk("x"));
  EXPECT_EQ(Run({"SET", "m", "x", "XX", "GET"}), kNil);
  EXPECT_EQ(Run({"EXISTS", "m"}), Int(0));
  EXPECT_EQ(Run({"SET", "k", "y", "XX", "GET", "EX", "10"}), Bulk("w"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(10000));
}

TEST_F(StringsTest, SetExpireOptions) {
  EXPECT_EQ(Run({"SET", "k", "v", "EX", "10"}), kOk);
  EXPECT_EQ(RawMetadata("k")->expire_at_ms, now_ms_ + 10000);
  EXPECT_EQ(Run({"SET", "k", "v", "px", "1500"}), kOk);
  EXPECT_EQ(Run({"PTTL", "k"}), Int(1500));
  EXPECT_EQ(Run({"TTL", "k"}), Int(2));  // rounded to nearest
  EXPECT_EQ(Run({"SET", "k", "v", "EXAT", std::to_string(now_ms_ / 1000 + 5)}), kOk);
  EXPECT_EQ(Run({"PTTL", "k"}), Int(5000));
  EXPECT_EQ(Run({"SET", "k", "v", "PXAT", std::to_string(now_ms_ + 1)}), kOk);
  EXPECT_EQ(Run({"PTTL", "k"}), Int(1));
  EXPECT_EQ(Run({"SET", "k", "v", "EX", "10", "EX", "20"}), kOk);  // the last wins
  EXPECT_EQ(Run({"PTTL", "k"}), Int(20000));
  EXPECT_EQ(Run({"SET", "k", "w", "KEEPTTL"}), kOk);
  EXPECT_EQ(Run({"PTTL", "k"}), Int(20000));
  EXPECT_EQ(Run({"GET", "k"}), Bulk("w"));
  EXPECT_EQ(Run({"SET", "new", "w", "KEEPTTL"}), kOk);
  EXPECT_EQ(Run({"PTTL", "new"}), Int(-1));
  EXPECT_EQ(Run({"SET", "k", "v", "PXAT", "9223372036854775807"}), kOk);
  EXPECT_EQ(RawMetadata("k")->expire_at_ms, uint64_t{9223372036854775807});
}

TEST_F(StringsTest, SetSyntaxErrors) {
  for (const auto& options : std::vector<std::vector<std::string>>{
           {"EX"},
           {"EX", "10", "PX", "100"},
           {"PX", "100", "EXAT", "1"},
           {"EXAT", "1", "PXAT", "1"},
           {"NX", "XX"},
           {"XX", "NX"},
           {"KEEPTTL", "EX", "1"},
           {"EX", "1", "KEEPTTL"},
           {"PERSIST"},
           {"FOO"},
           {"NX", "GET", "BAR"},
           {"EX", "0", "FOO"},  // syntax is checked before the expire time
       }) {
    std::vector<std::string> argv = {"SET", "k", "v"};
    argv.insert(argv.end(), options.begin(), options.end());
    EXPECT_EQ(Run(argv), kSyntax) << options[0];
  }
  EXPECT_EQ(Run({"EXISTS", "k"}), Int(0));
}

TEST_F(StringsTest, SetExpireTimeErrors) {
  const std::string invalid = Err("ERR invalid expire time in 'set' command");
  EXPECT_EQ(Run({"SET", "k", "v", "EX", "0"}), invalid);
  EXPECT_EQ(Run({"SET", "k", "v", "EX", "-1"}), invalid);
  EXPECT_EQ(Run({"SET", "k", "v", "PXAT", "0"}), invalid);
  EXPECT_EQ(Run({"SET", "k", "v", "EX", "abc"}), kNotInteger);
  EXPECT_EQ(Run({"SET", "k", "v", "EX", "9223372036854776"}), invalid);  // * 1000 overflows
  EXPECT_EQ(Run({"SET", "k", "v", "EX", "9223372036854775"}), invalid);  // + now overflows
  EXPECT_EQ(Run({"SET", "k", "v", "PX", "9223372036854775807"}), invalid);
  EXPECT_EQ(Run({"SET", "k", "v", "EXAT", "9223372036854776"}), invalid);
  PutHash("h");
  EXPECT_EQ(Run({"SET", "h", "v", "EX", "0", "GET"}), invalid);  // before WRONGTYPE
  EXPECT_EQ(Run({"EXISTS", "k"}), Int(0));
}

TEST_F(StringsTest, SetWithAnExpireTimeInThePastDeletesTheKey) {
  EXPECT_EQ(Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(Run({"SET", "k", "w", "EXAT", "1"}), kOk);
  EXPECT_EQ(Run({"GET", "k"}), kNil);
  EXPECT_FALSE(RawMetadata("k").has_value());
  EXPECT_EQ(Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(Run({"SET", "k", "w", "PXAT", std::to_string(now_ms_), "GET"}), Bulk("v"));
  EXPECT_FALSE(RawMetadata("k").has_value());  // expiring at exactly now is expired
  PutHash("h");
  EXPECT_EQ(Run({"SET", "h", "w", "EXAT", "1"}), kOk);
  EXPECT_FALSE(RawMetadata("h").has_value());
  EXPECT_EQ(Run({"SET", "absent", "w", "PXAT", "1"}), kOk);
  EXPECT_FALSE(RawMetadata("absent").has_value());
}

TEST_F(StringsTest, ExpiryIsJudgedAtNow) {
  EXPECT_EQ(Run({"SET", "k", "v", "PX", "100"}), kOk);
  now_ms_ += 99;
  EXPECT_EQ(Run({"GET", "k"}), Bulk("v"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(1));
  now_ms_ += 1;
  EXPECT_EQ(Run({"GET", "k"}), kNil);
  EXPECT_TRUE(RawMetadata("k").has_value());    // reads never delete
  EXPECT_EQ(Run({"SETNX", "k", "w"}), Int(1));  // a write sees it absent, and replaces it
  EXPECT_EQ(Run({"GET", "k"}), Bulk("w"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(-1));
}

TEST_F(StringsTest, SetNx) {
  EXPECT_EQ(Run({"SETNX", "k", "v"}), Int(1));
  EXPECT_EQ(Run({"SETNX", "k", "w"}), Int(0));
  EXPECT_EQ(Run({"GET", "k"}), Bulk("v"));
  PutHash("h");
  EXPECT_EQ(Run({"SETNX", "h", "w"}), Int(0));
}

TEST_F(StringsTest, SetExAndPSetEx) {
  EXPECT_EQ(Run({"SETEX", "k", "10", "v"}), kOk);
  EXPECT_EQ(Run({"GET", "k"}), Bulk("v"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(10000));
  EXPECT_EQ(Run({"PSETEX", "k", "1500", "w"}), kOk);
  EXPECT_EQ(Run({"GET", "k"}), Bulk("w"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(1500));
  EXPECT_EQ(Run({"SETEX", "k", "0", "v"}), Err("ERR invalid expire time in 'setex' command"));
  EXPECT_EQ(Run({"PSETEX", "k", "-1", "v"}), Err("ERR invalid expire time in 'psetex' command"));
  EXPECT_EQ(Run({"SETEX", "k", "9223372036854776", "v"}),
            Err("ERR invalid expire time in 'setex' command"));
  EXPECT_EQ(Run({"SETEX", "k", "abc", "v"}), kNotInteger);
  EXPECT_EQ(Run({"GET", "k"}), Bulk("w"));
  PutHash("h");
  EXPECT_EQ(Run({"SETEX", "h", "10", "v"}), kOk);
  EXPECT_EQ(Run({"GET", "h"}), Bulk("v"));
}

TEST_F(StringsTest, GetSet) {
  EXPECT_EQ(Run({"GETSET", "k", "v"}), kNil);
  EXPECT_EQ(Run({"SET", "k", "v", "EX", "100"}), kOk);
  EXPECT_EQ(Run({"GETSET", "k", "w"}), Bulk("v"));
  EXPECT_EQ(Run({"GET", "k"}), Bulk("w"));
  EXPECT_EQ(Run({"TTL", "k"}), Int(-1));
}

TEST_F(StringsTest, GetDel) {
  EXPECT_EQ(Run({"GETDEL", "k"}), kNil);
  EXPECT_EQ(Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(Run({"GETDEL", "k"}), Bulk("v"));
  EXPECT_FALSE(RawMetadata("k").has_value());
  PutHash("h");
  EXPECT_EQ(Run({"GETDEL", "h"}), kWrongType);
  EXPECT_TRUE(RawMetadata("h").has_value());
}

TEST_F(StringsTest, GetEx) {
  EXPECT_EQ(Run({"GETEX", "k"}), kNil);
  EXPECT_EQ(Run({"GETEX", "k", "EX", "0"}), kNil);  // a missing key answers before the time
  EXPECT_EQ(Run({"GETEX", "k", "EX", "abc"}), kNil);
  EXPECT_EQ(Run({"SET", "k", "v", "PX", "5000"}), kOk);
  EXPECT_EQ(Run({"GETEX", "k"}), Bulk("v"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(5000));
  EXPECT_EQ(Run({"GETEX", "k", "EX", "10"}), Bulk("v"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(10000));
  EXPECT_EQ(Run({"GETEX", "k", "px", "20"}), Bulk("v"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(20));
  EXPECT_EQ(Run({"GETEX", "k", "PXAT", std::to_string(now_ms_ + 30)}), Bulk("v"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(30));
  EXPECT_EQ(Run({"GETEX", "k", "EXAT", std::to_string(now_ms_ / 1000 + 40)}), Bulk("v"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(40000));
  EXPECT_EQ(Run({"GETEX", "k", "PERSIST"}), Bulk("v"));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(-1));
  EXPECT_EQ(Run({"GETEX", "k", "PERSIST"}), Bulk("v"));
  EXPECT_EQ(Run({"GETEX", "k", "EX", "0"}), Err("ERR invalid expire time in 'getex' command"));
  EXPECT_EQ(Run({"GETEX", "k", "EX", "abc"}), kNotInteger);
  for (const auto& options : std::vector<std::vector<std::string>>{{"GET"},
                                                                   {"KEEPTTL"},
                                                                   {"NX"},
                                                                   {"PERSIST", "EX", "1"},
                                                                   {"EX", "1", "PERSIST"},
                                                                   {"EX", "1", "PX", "1"},
                                                                   {"EX"},
                                                                   {"FOO"}}) {
    std::vector<std::string> argv = {"GETEX", "k"};
    argv.insert(argv.end(), options.begin(), options.end());
    EXPECT_EQ(Run(argv), kSyntax) << options[0];
  }
  // An absolute time in the past deletes the key after answering its value.
  EXPECT_EQ(Run({"GETEX", "k", "EXAT", "1"}), Bulk("v"));
  EXPECT_FALSE(RawMetadata("k").has_value());
  PutHash("h");
  EXPECT_EQ(Run({"GETEX", "h", "EX", "0"}), kWrongType);  // WRONGTYPE before the time
}

TEST_F(StringsTest, MGetAnswersNilForMissingAndOtherTypes) {
  EXPECT_EQ(Run({"MSET", "a", "1", "b", "2"}), kOk);
  PutHash("h");
  EXPECT_EQ(Run({"MGET", "a", "missing", "h", "b", "a"}),
            "*5\r\n" + Bulk("1") + kNil + kNil + Bulk("2") + Bulk("1"));
}

TEST_F(StringsTest, MSetAndMSetNx) {
  EXPECT_EQ(Run({"MSET", "a", "1", "b"}), Err("ERR wrong number of arguments for 'mset' command"));
  EXPECT_EQ(Run({"MSETNX", "a", "1", "b"}),
            Err("ERR wrong number of arguments for 'msetnx' command"));
  EXPECT_EQ(Run({"SET", "a", "0", "EX", "100"}), kOk);
  PutHash("h");
  EXPECT_EQ(Run({"MSET", "a", "1", "h", "2", "a", "3"}), kOk);  // the last of a repeated key wins
  EXPECT_EQ(Run({"MGET", "a", "h"}), Bulks({"3", "2"}));
  EXPECT_EQ(Run({"TTL", "a"}), Int(-1));
  EXPECT_EQ(Run({"MSETNX", "x", "1", "a", "2"}), Int(0));
  EXPECT_EQ(Run({"EXISTS", "x"}), Int(0));
  EXPECT_EQ(Run({"MSETNX", "x", "1", "y", "2", "x", "3"}), Int(1));
  EXPECT_EQ(Run({"MGET", "x", "y"}), Bulks({"3", "2"}));
  PutHash("h2");
  EXPECT_EQ(Run({"MSETNX", "z", "1", "h2", "2"}), Int(0));
}

TEST_F(StringsTest, AppendAndStrLen) {
  EXPECT_EQ(Run({"STRLEN", "k"}), Int(0));
  EXPECT_EQ(Run({"APPEND", "e", ""}), Int(0));
  EXPECT_EQ(Run({"EXISTS", "e"}), Int(1));  // created even when empty
  EXPECT_EQ(Run({"APPEND", "k", "ab"}), Int(2));
  EXPECT_EQ(Run({"PEXPIRE", "k", "5000"}), Int(1));
  EXPECT_EQ(Run({"APPEND", "k", "c\0"s}), Int(4));
  EXPECT_EQ(Run({"GET", "k"}), Bulk("abc\0"s));
  EXPECT_EQ(Run({"STRLEN", "k"}), Int(4));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(5000));
}

TEST_F(StringsTest, IncrDecr) {
  EXPECT_EQ(Run({"INCR", "n"}), Int(1));
  EXPECT_EQ(Run({"INCRBY", "n", "10"}), Int(11));
  EXPECT_EQ(Run({"DECR", "n"}), Int(10));
  EXPECT_EQ(Run({"DECRBY", "n", "-5"}), Int(15));
  EXPECT_EQ(Run({"GET", "n"}), Bulk("15"));
  EXPECT_EQ(Run({"DECRBY", "m", "3"}), Int(-3));
  EXPECT_EQ(Run({"PEXPIRE", "n", "5000"}), Int(1));
  EXPECT_EQ(Run({"INCR", "n"}), Int(16));
  EXPECT_EQ(Run({"PTTL", "n"}), Int(5000));  // kept
}

TEST_F(StringsTest, IncrDecrErrors) {
  for (const std::string& bad :
       {"abc"s, " 1"s, "1 "s, "+1"s, "01"s, "-0"s, ""s, "1.5"s, "9223372036854775808"s}) {
    EXPECT_EQ(Run({"SET", "n", bad}), kOk);
    EXPECT_EQ(Run({"INCR", "n"}), kNotInteger) << bad;
  }
  EXPECT_EQ(Run({"INCRBY", "n", "abc"}), kNotInteger);
  PutHash("h");
  EXPECT_EQ(Run({"INCRBY", "h", "abc"}), kNotInteger);  // the increment is checked first
  EXPECT_EQ(Run({"DECRBY", "h", "abc"}), kNotInteger);
  const std::string overflow = Err("ERR increment or decrement would overflow");
  EXPECT_EQ(Run({"SET", "n", "9223372036854775807"}), kOk);
  EXPECT_EQ(Run({"INCR", "n"}), overflow);
  EXPECT_EQ(Run({"DECRBY", "n", "-1"}), overflow);
  EXPECT_EQ(Run({"SET", "n", "-9223372036854775808"}), kOk);
  EXPECT_EQ(Run({"DECR", "n"}), overflow);
  EXPECT_EQ(Run({"INCRBY", "n", "-1"}), overflow);
  EXPECT_EQ(Run({"GET", "n"}), Bulk("-9223372036854775808"));
  EXPECT_EQ(Run({"DECRBY", "n", "-9223372036854775808"}), Err("ERR decrement would overflow"));
  EXPECT_EQ(Run({"SET", "n", "-1"}), kOk);
  EXPECT_EQ(Run({"DECRBY", "n", "9223372036854775807"}), Int(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(Run({"INCRBY", "z", "-9223372036854775808"}), Int(std::numeric_limits<int64_t>::min()));
}

TEST_F(StringsTest, IncrByFloatFormatsLikeRedis) {
  EXPECT_EQ(Run({"SET", "f", "10.5"}), kOk);
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "0.1"}), Bulk("10.6"));
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "5.0e3"}), Bulk("5010.60000000000000009"));
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "-5010.6"}), Bulk("0"));
  EXPECT_EQ(Run({"GET", "f"}), Bulk("0"));
  EXPECT_EQ(Run({"INCRBYFLOAT", "g", "3"}), Bulk("3"));
  EXPECT_EQ(Run({"INCRBYFLOAT", "g", "1.23456789012345678901"}), Bulk("4.23456789012345679"));
  EXPECT_EQ(Run({"SET", "g", "1e3"}), kOk);
  EXPECT_EQ(Run({"INCRBYFLOAT", "g", "0"}), Bulk("1000"));
  EXPECT_EQ(Run({"SET", "g", "-0.0000000000000000001"}), kOk);
  EXPECT_EQ(Run({"INCRBYFLOAT", "g", "0"}), Bulk("0"));
  EXPECT_EQ(Run({"INCRBYFLOAT", "h", "0x10"}), Bulk("16"));
  // x87 long double, printed in full like Redis on x86-64.
  EXPECT_EQ(Run({"INCRBYFLOAT", "big", "1e308"}),
            Bulk("9999999999999999999668587965584564566056009984741556720779704799492173486883806"
                 "1872100126921888539320446747225054013223152134749593960583597420814430196418767"
                 "9591000196031907786631096045071066679391533957889389145605435630612683649016186"
                 "30217086589253444881623791300855757318142424510452728255046343928578048"));
  EXPECT_EQ(Run({"INCRBYFLOAT", "big", "1e308"}),
            Bulk("1999999999999999999933717593116912913211201996948311344155940959898434697376761"
                 "2374420025384377707864089349445010802644630426949918792116719484162886039283753"
                 "5918200039206381557326219209014213335878306791577877829121087126122536729803237"
                 "260434173178506889763247582601711514636284849020905456510092687857156096"));
}

TEST_F(StringsTest, IncrByFloatErrorsAndTtl) {
  EXPECT_EQ(Run({"SET", "f", "1"}), kOk);
  for (const std::string& bad : {"abc"s, "nan"s, " 1"s, "1 "s, ""s, "1e5000"s}) {
    EXPECT_EQ(Run({"INCRBYFLOAT", "f", bad}), kNotFloat) << bad;
  }
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "inf"}), Err("ERR increment would produce NaN or Infinity"));
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "-inf"}), Err("ERR increment would produce NaN or Infinity"));
  EXPECT_EQ(Run({"GET", "f"}), Bulk("1"));
  EXPECT_EQ(Run({"SET", "s", "abc"}), kOk);
  EXPECT_EQ(Run({"INCRBYFLOAT", "s", "1"}), kNotFloat);
  PutHash("h");
  EXPECT_EQ(Run({"INCRBYFLOAT", "h", "abc"}), kWrongType);  // WRONGTYPE before parsing
  EXPECT_EQ(Run({"PEXPIRE", "f", "5000"}), Int(1));
  EXPECT_EQ(Run({"INCRBYFLOAT", "f", "1.5"}), Bulk("2.5"));
  EXPECT_EQ(Run({"PTTL", "f"}), Int(5000));
}

TEST_F(StringsTest, GetRange) {
  EXPECT_EQ(Run({"GETRANGE", "missing", "0", "-1"}), Bulk(""));
  EXPECT_EQ(Run({"SET", "s", "abc"}), kOk);
  EXPECT_EQ(Run({"GETRANGE", "s", "0", "-1"}), Bulk("abc"));
  EXPECT_EQ(Run({"GETRANGE", "s", "1", "1"}), Bulk("b"));
  EXPECT_EQ(Run({"GETRANGE", "s", "-2", "-1"}), Bulk("bc"));
  EXPECT_EQ(Run({"GETRANGE", "s", "-100", "-100"}), Bulk("a"));  // Redis 7.0's clamp quirk
  EXPECT_EQ(Run({"GETRANGE", "s", "-1", "-2"}), Bulk(""));
  EXPECT_EQ(Run({"GETRANGE", "s", "1", "0"}), Bulk(""));
  EXPECT_EQ(Run({"GETRANGE", "s", "5", "10"}), Bulk(""));
  EXPECT_EQ(Run({"GETRANGE", "s", "1", "100"}), Bulk("bc"));
  EXPECT_EQ(Run({"GETRANGE", "s", "-9223372036854775808", "9223372036854775807"}), Bulk("abc"));
  EXPECT_EQ(Run({"GETRANGE", "s", "a", "1"}), kNotInteger);
  EXPECT_EQ(Run({"GETRANGE", "s", "0", "1.0"}), kNotInteger);
  EXPECT_EQ(Run({"SET", "e", ""}), kOk);
  EXPECT_EQ(Run({"GETRANGE", "e", "0", "-1"}), Bulk(""));
  PutHash("h");
  EXPECT_EQ(Run({"GETRANGE", "h", "x", "1"}), kNotInteger);  // indexes before the key
}

TEST_F(StringsTest, SetRange) {
  EXPECT_EQ(Run({"SETRANGE", "k", "3", "ab"}), Int(5));
  EXPECT_EQ(Run({"GET", "k"}), Bulk("\0\0\0ab"s));
  EXPECT_EQ(Run({"SETRANGE", "k", "1", "xy"}), Int(5));
  EXPECT_EQ(Run({"GET", "k"}), Bulk("\0xyab"s));
  EXPECT_EQ(Run({"SETRANGE", "k", "4", "XYZ"}), Int(7));
  EXPECT_EQ(Run({"GET", "k"}), Bulk("\0xyaXYZ"s));
  EXPECT_EQ(Run({"SETRANGE", "k", "100", ""}), Int(7));  // nothing to write
  EXPECT_EQ(Run({"SETRANGE", "missing", "5", ""}), Int(0));
  EXPECT_EQ(Run({"SETRANGE", "missing", "536870912", ""}), Int(0));
  EXPECT_EQ(Run({"EXISTS", "missing"}), Int(0));
  EXPECT_EQ(Run({"SETRANGE", "k", "-1", "x"}), Err("ERR offset is out of range"));
  EXPECT_EQ(Run({"SETRANGE", "k", "x", "x"}), kNotInteger);
  EXPECT_EQ(Run({"SETRANGE", "k", "536870912", "x"}),
            Err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
  EXPECT_EQ(Run({"SETRANGE", "k", "536870911", "xy"}),
            Err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
  EXPECT_EQ(Run({"SETRANGE", "k", "9223372036854775807", "x"}),
            Err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
  EXPECT_EQ(Run({"PEXPIRE", "k", "5000"}), Int(1));
  EXPECT_EQ(Run({"SETRANGE", "k", "0", "Q"}), Int(7));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(5000));
}

TEST_F(StringsTest, WritesOfOneBatchSeeEachOther) {
  const std::vector<std::string> out = RunBatch({{"SET", "k", "1"},
                                                 {"INCR", "k"},
                                                 {"APPEND", "k", "0"},
                                                 {"GET", "k"},
                                                 {"GETDEL", "k"},
                                                 {"GET", "k"}});
  EXPECT_EQ(out, (std::vector<std::string>{kOk, Int(2), Int(2), Bulk("20"), Bulk("20"), kNil}));
}

}  // namespace
}  // namespace tessera::shard::data
