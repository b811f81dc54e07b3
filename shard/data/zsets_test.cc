// Sorted set commands against a real StorageEngine: normal paths, Redis 7.0's error texts, score
// order (negatives, infinities, ties by member), ZADD's option combinations, range forms, and
// deletion of emptied sets. Replies rendered as RESP2; the error texts and the marked replies
// were checked against redis-server 7.0.15.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "shard/data/data_testing.h"
#include "shard/data/resp_reply.h"

namespace tessera::shard::data {
namespace {

using data_testing::Bulk;
using data_testing::Bulks;
using data_testing::Err;
using data_testing::Int;
using data_testing::kNil;

const std::string kWrongType = Err(kWrongTypeError);
const std::string kSyntax = Err("ERR syntax error");
const std::string kNotInteger = Err("ERR value is not an integer or out of range");
const std::string kNotFloat = Err("ERR value is not a valid float");
const std::string kEmpty = "*0\r\n";

class ZSetTest : public data_testing::DataTest {
 protected:
  // Each command is its own raft entry: a fresh seed (entry index), so that collections created
  // by different commands get different versions, as in production.
  std::string Run(std::vector<std::string> args) {
    ++seed_;
    return DataTest::Run(std::move(args));
  }

  void Fill() { ASSERT_EQ(Run({"ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"}), Int(4)); }
};

TEST_F(ZSetTest, AddScoreCardRem) {
  EXPECT_EQ(Run({"ZCARD", "z"}), Int(0));
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), kNil);
  EXPECT_EQ(Run({"ZADD", "z", "1", "a", "2.5", "b"}), Int(2));
  EXPECT_EQ(Run({"ZADD", "z", "5", "a", "1", "c"}), Int(1));  // a updated, c added
  EXPECT_EQ(Run({"ZCARD", "z"}), Int(3));
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), Bulk("5"));
  EXPECT_EQ(Run({"ZSCORE", "z", "b"}), Bulk("2.5"));
  EXPECT_EQ(Run({"ZSCORE", "z", "x"}), kNil);
  EXPECT_EQ(Run({"ZMSCORE", "z", "a", "x", "c"}), "*3\r\n" + Bulk("5") + kNil + Bulk("1"));
  EXPECT_EQ(Run({"ZMSCORE", "nokey", "a"}), "*1\r\n" + kNil);
  EXPECT_EQ(Run({"ZREM", "z", "a", "x", "a"}), Int(1));
  EXPECT_EQ(Run({"ZREM", "nokey", "a"}), Int(0));
  EXPECT_EQ(Run({"ZCARD", "z"}), Int(2));
  EXPECT_EQ(Run({"ZREM", "z", "b", "c"}), Int(2));
  EXPECT_FALSE(RawMetadata("z").has_value());  // emptied sets are deleted
  EXPECT_EQ(Run({"ZCARD", "z"}), Int(0));
}

TEST_F(ZSetTest, DuplicateMembersInOneAdd) {
  EXPECT_EQ(Run({"ZADD", "z", "1", "a", "2", "a"}), Int(1));
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), Bulk("2"));
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1", "WITHSCORES"}), Bulks({"a", "2"}));
}

TEST_F(ZSetTest, OrderWithNegativesInfinitiesAndTies) {
  EXPECT_EQ(Run({"ZADD", "z", "0", "zero", "-1.5", "neg",   "+inf",  "top", "-inf",    "bottom",
                 "2",    "b", "2", "a",    "-0",   "mzero", "1e300", "big", "-1e-300", "tiny"}),
            Int(9));
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}),
            Bulks({"bottom", "neg", "tiny", "mzero", "zero", "a", "b", "big", "top"}));
  EXPECT_EQ(Run({"ZSCORE", "z", "mzero"}), Bulk("0"));  // stored as 0, like a listpack
  EXPECT_EQ(Run({"ZSCORE", "z", "top"}), Bulk("inf"));
  EXPECT_EQ(Run({"ZSCORE", "z", "bottom"}), Bulk("-inf"));
  EXPECT_EQ(Run({"ZRANK", "z", "a"}), Int(5));
  EXPECT_EQ(Run({"ZREVRANK", "z", "a"}), Int(3));
  EXPECT_EQ(Run({"ZRANK", "z", "bottom"}), Int(0));
  EXPECT_EQ(Run({"ZREVRANK", "z", "top"}), Int(0));
  EXPECT_EQ(Run({"ZRANK", "z", "nope"}), kNil);
  EXPECT_EQ(Run({"ZRANK", "nokey", "a"}), kNil);
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "2", "REV", "WITHSCORES"}),
            Bulks({"top", "inf", "big", "1.0000000000000001e+300", "b", "2"}));
  EXPECT_EQ(Run({"ZCOUNT", "z", "-inf", "+inf"}), Int(9));
  EXPECT_EQ(Run({"ZCOUNT", "z", "-0", "0"}), Int(2));
  EXPECT_EQ(Run({"ZCOUNT", "z", "(-inf", "(inf"}), Int(7));
}

TEST_F(ZSetTest, AddOptionErrors) {
  EXPECT_EQ(Run({"ZADD", "z", "NX", "XX", "1", "a"}),
            Err("ERR XX and NX options at the same time are not compatible"));
  EXPECT_EQ(Run({"ZADD", "z", "GT", "NX", "1", "a"}),
            Err("ERR GT, LT, and/or NX options at the same time are not compatible"));
  EXPECT_EQ(Run({"ZADD", "z", "GT", "LT", "1", "a"}),
            Err("ERR GT, LT, and/or NX options at the same time are not compatible"));
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "1", "a", "2", "b"}),
            Err("ERR INCR option supports a single increment-element pair"));
  EXPECT_EQ(Run({"ZADD", "z", "x", "a"}), kNotFloat);
  EXPECT_EQ(Run({"ZADD", "z", "nan", "a"}), kNotFloat);
  EXPECT_EQ(Run({"ZADD", "z", "1", "a", "2"}), kSyntax);
  EXPECT_EQ(Run({"ZADD", "z", "NX", "1"}), kSyntax);
  EXPECT_EQ(Run({"ZADD", "z", "CH"}), kSyntax);
  EXPECT_FALSE(RawMetadata("z").has_value());
}

TEST_F(ZSetTest, AddNxXxGtLtCh) {
  EXPECT_EQ(Run({"ZADD", "z", "XX", "1", "a"}), Int(0));  // no key created
  EXPECT_FALSE(RawMetadata("z").has_value());
  EXPECT_EQ(Run({"ZADD", "z", "1", "a", "5", "b"}), Int(2));
  EXPECT_EQ(Run({"ZADD", "z", "NX", "9", "a", "3", "c"}), Int(1));
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), Bulk("1"));
  EXPECT_EQ(Run({"ZADD", "z", "XX", "2", "a", "7", "d"}), Int(0));
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), Bulk("2"));
  EXPECT_EQ(Run({"ZSCORE", "z", "d"}), kNil);
  EXPECT_EQ(Run({"ZADD", "z", "XX", "CH", "3", "a", "7", "d"}), Int(1));
  EXPECT_EQ(Run({"ZADD", "z", "GT", "CH", "1", "a", "6", "b", "1", "e"}), Int(2));  // b, e
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), Bulk("3"));
  EXPECT_EQ(Run({"ZSCORE", "z", "b"}), Bulk("6"));
  EXPECT_EQ(Run({"ZADD", "z", "LT", "CH", "1", "a", "9", "b"}), Int(1));
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), Bulk("1"));
  EXPECT_EQ(Run({"ZSCORE", "z", "b"}), Bulk("6"));
  EXPECT_EQ(Run({"ZADD", "z", "CH", "1", "a", "6", "b"}), Int(0));  // unchanged scores
  EXPECT_EQ(Run({"ZADD", "z", "XX", "GT", "CH", "2", "a", "1", "zz"}), Int(1));
  EXPECT_EQ(Run({"ZCARD", "z"}), Int(4));
}

TEST_F(ZSetTest, AddIncrAndIncrBy) {
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "1.5", "a"}), Bulk("1.5"));
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "1", "a"}), Bulk("2.5"));
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "NX", "1", "a"}), kNil);
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "XX", "1", "b"}), kNil);
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "GT", "-1", "a"}), kNil);
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "LT", "-1", "a"}), Bulk("1.5"));
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "0", "a"}), Bulk("1.5"));
  EXPECT_EQ(Run({"ZINCRBY", "z", "2", "a"}), Bulk("3.5"));
  EXPECT_EQ(Run({"ZINCRBY", "z", "-1", "new"}), Bulk("-1"));
  EXPECT_EQ(Run({"ZINCRBY", "z", "x", "a"}), kNotFloat);
  EXPECT_EQ(Run({"ZINCRBY", "z", "+inf", "a"}), Bulk("inf"));
  EXPECT_EQ(Run({"ZINCRBY", "z", "-inf", "a"}), Err("ERR resulting score is not a number (NaN)"));
  EXPECT_EQ(Run({"ZADD", "z", "INCR", "-inf", "a"}),
            Err("ERR resulting score is not a number (NaN)"));
  EXPECT_EQ(Run({"ZSCORE", "z", "a"}), Bulk("inf"));
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}), Bulks({"new", "a"}));
  EXPECT_EQ(Run({"ZADD", "x", "XX", "INCR", "1", "a"}), kNil);
}

TEST_F(ZSetTest, RangeByRank) {
  Fill();
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}), Bulks({"a", "b", "c", "d"}));
  EXPECT_EQ(Run({"ZRANGE", "z", "1", "2", "WITHSCORES"}), Bulks({"b", "2", "c", "3"}));
  EXPECT_EQ(Run({"ZRANGE", "z", "-2", "100"}), Bulks({"c", "d"}));
  EXPECT_EQ(Run({"ZRANGE", "z", "-100", "0"}), Bulks({"a"}));
  EXPECT_EQ(Run({"ZRANGE", "z", "3", "1"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGE", "z", "4", "10"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "1", "REV"}), Bulks({"d", "c"}));
  EXPECT_EQ(Run({"ZREVRANGE", "z", "0", "-1", "WITHSCORES"}),
            Bulks({"d", "4", "c", "3", "b", "2", "a", "1"}));
  EXPECT_EQ(Run({"ZRANGE", "nokey", "0", "-1"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGE", "z", "x", "1"}), kNotInteger);
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "1", "REV", "REV"}), kSyntax);
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "1", "BOGUS"}), kSyntax);
  EXPECT_EQ(Run({"ZREVRANGE", "z", "0", "1", "REV"}), kSyntax);
  // Redis checks the count only: LIMIT x -1 passes by rank.
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1", "LIMIT", "0", "-1"}), Bulks({"a", "b", "c", "d"}));
  EXPECT_EQ(
      Run({"ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"}),
      Err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
  EXPECT_EQ(
      Run({"ZREVRANGE", "z", "0", "1", "LIMIT", "0", "1"}),
      Err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
}

TEST_F(ZSetTest, RangeByScore) {
  Fill();
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "2", "3"}), Bulks({"b", "c"}));
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "(2", "3"}), Bulks({"c"}));
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "2", "(3"}), Bulks({"b"}));
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "(2", "(3"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "(2", "(2"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "3", "2"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES"}),
            Bulks({"a", "1", "b", "2", "c", "3", "d", "4"}));
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "", "2"}), Bulks({"a", "b"}));  // strtod("") is 0
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "2"}), Bulks({"b", "c"}));
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "-5"}),
            Bulks({"b", "c", "d"}));
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "4", "2"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "0"}), kEmpty);
  EXPECT_EQ(Run({"ZREVRANGEBYSCORE", "z", "3", "(1"}), Bulks({"c", "b"}));
  EXPECT_EQ(Run({"ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "1", "2", "WITHSCORES"}),
            Bulks({"c", "3", "b", "2"}));
  EXPECT_EQ(Run({"ZRANGE", "z", "(1", "3", "BYSCORE"}), Bulks({"b", "c"}));
  EXPECT_EQ(Run({"ZRANGE", "z", "3", "(1", "BYSCORE", "REV", "LIMIT", "0", "1"}), Bulks({"c"}));
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "x", "1"}), Err("ERR min or max is not a float"));
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "1", "nan"}), Err("ERR min or max is not a float"));
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "x", "1"}), kNotInteger);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "1"}), kSyntax);
  EXPECT_EQ(Run({"ZRANGEBYSCORE", "z", "1", "2", "BYLEX"}), kSyntax);
  EXPECT_EQ(Run({"ZCOUNT", "z", "(1", "3"}), Int(2));
  EXPECT_EQ(Run({"ZCOUNT", "z", "x", "3"}), Err("ERR min or max is not a float"));
  EXPECT_EQ(Run({"ZCOUNT", "nokey", "0", "3"}), Int(0));
}

TEST_F(ZSetTest, RangeByLex) {
  ASSERT_EQ(Run({"ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e"}), Int(5));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "-", "+"}), Bulks({"a", "b", "c", "d", "e"}));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "[b", "(d"}), Bulks({"b", "c"}));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "(b", "[d"}), Bulks({"c", "d"}));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "[bb", "+"}), Bulks({"c", "d", "e"}));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "-", "+", "LIMIT", "1", "2"}), Bulks({"b", "c"}));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "+", "-"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "-", "-"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "[c", "[c"}), Bulks({"c"}));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "(c", "[c"}), kEmpty);
  EXPECT_EQ(Run({"ZRANGE", "z", "[d", "(b", "BYLEX", "REV"}), Bulks({"d", "c"}));
  EXPECT_EQ(Run({"ZRANGE", "z", "+", "[c", "BYLEX", "REV", "LIMIT", "1", "5"}), Bulks({"d", "c"}));
  EXPECT_EQ(Run({"ZRANGE", "z", "(d", "-", "BYLEX", "REV"}), Bulks({"c", "b", "a"}));
  EXPECT_EQ(Run({"ZLEXCOUNT", "z", "[b", "+"}), Int(4));
  EXPECT_EQ(Run({"ZLEXCOUNT", "z", "-", "(b"}), Int(1));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "b", "+"}), Err("ERR min or max not valid string range item"));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "-x", "+"}),
            Err("ERR min or max not valid string range item"));
  EXPECT_EQ(Run({"ZLEXCOUNT", "z", "[a", ""}), Err("ERR min or max not valid string range item"));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"}),
            Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
  EXPECT_EQ(Run({"ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"}),
            Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
}

// Lex ranges over unequal scores are unspecified in Redis; these follow its listpack walk
// (checked against redis-server 7.0.15).
TEST_F(ZSetTest, RangeByLexWithMixedScores) {
  ASSERT_EQ(Run({"ZADD", "m", "1", "d", "2", "a", "3", "c", "4", "b", "0", "x"}), Int(5));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "m", "[b", "+"}), Bulks({"x", "d", "a", "c", "b"}));
  EXPECT_EQ(Run({"ZRANGEBYLEX", "m", "-", "[b"}), kEmpty);  // the first member is above max
  EXPECT_EQ(Run({"ZRANGE", "m", "+", "-", "BYLEX", "REV"}), Bulks({"b", "c", "a", "d", "x"}));
  EXPECT_EQ(Run({"ZRANGE", "m", "[c", "-", "BYLEX", "REV"}), kEmpty);
  EXPECT_EQ(Run({"ZLEXCOUNT", "m", "[a", "[c"}), Int(0));
}

TEST_F(ZSetTest, RemRanges) {
  Fill();
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "z", "1", "2"}), Int(2));
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}), Bulks({"a", "d"}));
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "z", "5", "9"}), Int(0));
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "z", "x", "9"}), kNotInteger);
  EXPECT_EQ(Run({"ZREMRANGEBYSCORE", "z", "(1", "+inf"}), Int(1));
  EXPECT_EQ(Run({"ZREMRANGEBYSCORE", "z", "x", "1"}), Err("ERR min or max is not a float"));
  EXPECT_EQ(Run({"ZREMRANGEBYSCORE", "z", "-inf", "1"}), Int(1));
  EXPECT_FALSE(RawMetadata("z").has_value());
  ASSERT_EQ(Run({"ZADD", "l", "0", "a", "0", "b", "0", "c"}), Int(3));
  EXPECT_EQ(Run({"ZREMRANGEBYLEX", "l", "(a", "+"}), Int(2));
  EXPECT_EQ(Run({"ZREMRANGEBYLEX", "l", "a", "+"}),
            Err("ERR min or max not valid string range item"));
  EXPECT_EQ(Run({"ZREMRANGEBYLEX", "l", "-", "+"}), Int(1));
  EXPECT_FALSE(RawMetadata("l").has_value());
  EXPECT_EQ(Run({"ZREMRANGEBYRANK", "nokey", "0", "-1"}), Int(0));
}

TEST_F(ZSetTest, Pops) {
  Fill();
  EXPECT_EQ(Run({"ZPOPMIN", "z"}), Bulks({"a", "1"}));
  EXPECT_EQ(Run({"ZPOPMAX", "z", "2"}), Bulks({"d", "4", "c", "3"}));
  EXPECT_EQ(Run({"ZPOPMIN", "z", "0"}), kEmpty);
  EXPECT_EQ(Run({"ZPOPMIN", "z", "-1"}), Err("ERR value is out of range, must be positive"));
  EXPECT_EQ(Run({"ZPOPMIN", "z", "x"}), kNotInteger);
  EXPECT_EQ(Run({"ZPOPMIN", "z", "1", "2"}), kSyntax);
  EXPECT_EQ(Run({"ZPOPMAX", "z", "10"}), Bulks({"b", "2"}));
  EXPECT_FALSE(RawMetadata("z").has_value());
  EXPECT_EQ(Run({"ZPOPMIN", "z"}), kEmpty);
  EXPECT_EQ(Run({"ZPOPMIN", "z", "3"}), kEmpty);
}

TEST_F(ZSetTest, BlockingPopsDoNotBlock) {
  ASSERT_EQ(Run({"ZADD", "z2", "1", "a", "2", "b"}), Int(2));
  EXPECT_EQ(Run({"BZPOPMIN", "z1", "z2", "0"}), Bulks({"z2", "a", "1"}));
  EXPECT_EQ(Run({"BZPOPMAX", "z1", "z2", "0.5"}), Bulks({"z2", "b", "2"}));
  EXPECT_FALSE(RawMetadata("z2").has_value());
  EXPECT_EQ(Run({"BZPOPMIN", "z1", "z2", "0"}), "*-1\r\n");
  EXPECT_EQ(Run({"BZPOPMIN", "z1", "x"}), Err("ERR timeout is not a float or out of range"));
  EXPECT_EQ(Run({"BZPOPMIN", "z1", "-1"}), Err("ERR timeout is negative"));
  PutHash("h");
  EXPECT_EQ(Run({"BZPOPMIN", "h", "0"}), kWrongType);
}

TEST_F(ZSetTest, RandMember) {
  EXPECT_EQ(Run({"ZRANDMEMBER", "z"}), kNil);
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "3"}), kEmpty);
  Fill();
  seed_ = 50;
  const std::string one = Run({"ZRANDMEMBER", "z"});
  seed_ = 50;
  EXPECT_EQ(Run({"ZRANDMEMBER", "z"}), one);  // same seed, same answer
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "0"}), kEmpty);
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "10", "WITHSCORES"}),
            Bulks({"a", "1", "b", "2", "c", "3", "d", "4"}));
  seed_ = 60;
  const std::string two = Run({"ZRANDMEMBER", "z", "2"});
  EXPECT_EQ(two.substr(0, 4), "*2\r\n");
  seed_ = 60;
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "2"}), two);
  const std::string many = Run({"ZRANDMEMBER", "z", "-7"});
  EXPECT_EQ(many.substr(0, 4), "*7\r\n");
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "-3", "WITHSCORES"}).substr(0, 4), "*6\r\n");
  std::vector<std::string> answers;
  for (int i = 0; i < 8; ++i) {
    seed_ = static_cast<uint64_t>(100 + i);
    answers.push_back(Run({"ZRANDMEMBER", "z"}));
  }
  std::sort(answers.begin(), answers.end());
  EXPECT_GT(std::unique(answers.begin(), answers.end()) - answers.begin(), 1);
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "x"}), kNotInteger);
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "1", "WITHSCORES", "x"}), kSyntax);
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "1", "x"}), kSyntax);
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "-9223372036854775808"}),
            Err("ERR value is out of range, value must between -9223372036854775807 and "
                "9223372036854775807"));
  EXPECT_EQ(Run({"ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"}),
            Err("ERR value is out of range"));
}

TEST_F(ZSetTest, UnionAndInterStore) {
  ASSERT_EQ(Run({"ZADD", "a", "1", "x", "2", "y", "3", "z"}), Int(3));
  ASSERT_EQ(Run({"ZADD", "b", "10", "y", "20", "z", "30", "w"}), Int(3));
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "2", "a", "b"}), Int(4));
  EXPECT_EQ(Run({"ZRANGE", "d", "0", "-1", "WITHSCORES"}),
            Bulks({"x", "1", "y", "12", "z", "23", "w", "30"}));
  EXPECT_EQ(Run({"ZINTERSTORE", "d", "2", "a", "b", "WEIGHTS", "2", "0.5", "AGGREGATE", "MAX"}),
            Int(2));
  EXPECT_EQ(Run({"ZRANGE", "d", "0", "-1", "WITHSCORES"}), Bulks({"y", "5", "z", "10"}));
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "3", "a", "nokey", "b", "AGGREGATE", "min"}), Int(4));
  EXPECT_EQ(Run({"ZRANGE", "d", "0", "-1", "WITHSCORES"}),
            Bulks({"x", "1", "y", "2", "z", "3", "w", "30"}));
  // The destination may be a source; an empty result deletes it.
  EXPECT_EQ(Run({"ZINTERSTORE", "a", "2", "a", "b"}), Int(2));
  EXPECT_EQ(Run({"ZRANGE", "a", "0", "-1", "WITHSCORES"}), Bulks({"y", "12", "z", "23"}));
  EXPECT_EQ(Run({"ZINTERSTORE", "d", "2", "a", "nokey"}), Int(0));
  EXPECT_FALSE(RawMetadata("d").has_value());
  // inf * 0 is NaN and counts as 0; inf + -inf sums to 0.
  ASSERT_EQ(Run({"ZADD", "i", "inf", "m"}), Int(1));
  ASSERT_EQ(Run({"ZADD", "j", "-inf", "m"}), Int(1));
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "2", "i", "j"}), Int(1));
  EXPECT_EQ(Run({"ZSCORE", "d", "m"}), Bulk("0"));
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "i", "WEIGHTS", "0"}), Int(1));
  EXPECT_EQ(Run({"ZSCORE", "d", "m"}), Bulk("0"));
  // Overwrites a destination of another type.
  PutHash("h");
  EXPECT_EQ(Run({"ZUNIONSTORE", "h", "1", "i"}), Int(1));
  EXPECT_EQ(RawMetadata("h")->type, KeyType::kZSet);
  EXPECT_EQ(Run({"ZSCORE", "h", "m"}), Bulk("inf"));

  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "0", "a"}),
            Err("ERR at least 1 input key is needed for 'zunionstore' command"));
  EXPECT_EQ(Run({"ZINTERSTORE", "d", "0", "a"}),
            Err("ERR at least 1 input key is needed for 'zinterstore' command"));
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "x", "a"}), kNotInteger);
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "2", "a"}), kSyntax);
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "a", "WEIGHTS", "x"}),
            Err("ERR weight value is not a float"));
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "a", "WEIGHTS", "1", "2"}), kSyntax);
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "a", "AGGREGATE", "avg"}), kSyntax);
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "1", "a", "AGGREGATE"}), kSyntax);
  PutHash("h2");
  EXPECT_EQ(Run({"ZUNIONSTORE", "d", "2", "a", "h2"}), kWrongType);
}

TEST_F(ZSetTest, Scan) {
  EXPECT_EQ(Run({"ZSCAN", "z", "0"}), "*2\r\n" + Bulk("0") + kEmpty);
  EXPECT_EQ(Run({"ZSCAN", "z", "x"}), Err("ERR invalid cursor"));
  ASSERT_EQ(Run({"ZADD", "z", "1", "b", "2.5", "a", "3", "ab"}), Int(3));
  EXPECT_EQ(Run({"ZSCAN", "z", "0"}),
            "*2\r\n" + Bulk("0") + Bulks({"b", "1", "a", "2.5", "ab", "3"}));
  EXPECT_EQ(Run({"ZSCAN", "z", "0", "MATCH", "a*", "COUNT", "1"}),
            "*2\r\n" + Bulk("0") + Bulks({"a", "2.5", "ab", "3"}));
  EXPECT_EQ(Run({"ZSCAN", "z", "0", "COUNT", "0"}), kSyntax);
  EXPECT_EQ(Run({"ZSCAN", "z", "0", "COUNT"}), kSyntax);
  EXPECT_EQ(Run({"ZSCAN", "z", "0", "TYPE", "zset"}), kSyntax);
  // A large set is scanned in pages.
  std::vector<std::string> add = {"ZADD", "big"};
  for (int i = 0; i < 300; ++i) {
    add.push_back(std::to_string(i));
    add.push_back("m" + std::to_string(1000 + i));
  }
  ASSERT_EQ(Run(add), Int(300));
  std::string cursor = "0";
  int pages = 0;
  size_t seen = 0;
  do {
    const std::string out = Run({"ZSCAN", "big", cursor, "COUNT", "100"});
    const size_t first = out.find("\r\n", 4);
    const size_t len_end = out.find("\r\n", first + 2);
    ASSERT_NE(len_end, std::string::npos);
    // *2 $n cursor *2k ...
    const size_t cstart = out.find("\r\n", 4) + 2;
    cursor = out.substr(cstart, out.find("\r\n", cstart) - cstart);
    const size_t arr = out.find('*', cstart);
    seen += std::stoul(out.substr(arr + 1)) / 2;
    ++pages;
  } while (cursor != "0" && pages < 10);
  EXPECT_EQ(seen, 300u);
  EXPECT_EQ(pages, 3);
}

TEST_F(ZSetTest, WrongType) {
  PutHash("h");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"ZADD", "h", "1", "a"},
           {"ZINCRBY", "h", "1", "a"},
           {"ZREM", "h", "a"},
           {"ZCARD", "h"},
           {"ZSCORE", "h", "a"},
           {"ZMSCORE", "h", "a"},
           {"ZRANK", "h", "a"},
           {"ZREVRANK", "h", "a"},
           {"ZCOUNT", "h", "0", "1"},
           {"ZLEXCOUNT", "h", "-", "+"},
           {"ZRANGE", "h", "0", "-1"},
           {"ZRANGEBYSCORE", "h", "0", "1"},
           {"ZREVRANGEBYSCORE", "h", "1", "0"},
           {"ZRANGEBYLEX", "h", "-", "+"},
           {"ZREVRANGE", "h", "0", "-1"},
           {"ZREMRANGEBYRANK", "h", "0", "-1"},
           {"ZREMRANGEBYSCORE", "h", "0", "1"},
           {"ZREMRANGEBYLEX", "h", "-", "+"},
           {"ZPOPMIN", "h"},
           {"ZPOPMAX", "h", "0"},
           {"ZRANDMEMBER", "h"},
           {"ZRANDMEMBER", "h", "0"},
           {"ZSCAN", "h", "0"},
       }) {
    EXPECT_EQ(Run(args), kWrongType) << args[0];
  }
  // Argument errors come before the type check, as in Redis.
  EXPECT_EQ(Run({"ZADD", "h", "x", "a"}), kNotFloat);
  EXPECT_EQ(Run({"ZCOUNT", "h", "x", "1"}), Err("ERR min or max is not a float"));
  EXPECT_EQ(Run({"ZSCAN", "h", "x"}), Err("ERR invalid cursor"));
  EXPECT_EQ(RawMetadata("h")->type, KeyType::kHash);
}

TEST_F(ZSetTest, ExpiredKeyReadsAsAbsent) {
  ASSERT_EQ(Run({"ZADD", "z", "1", "a"}), Int(1));
  Metadata m = *RawMetadata("z");
  m.expire_at_ms = now_ms_ + 10;
  PutMetadata("z", m);
  EXPECT_EQ(Run({"ZCARD", "z"}), Int(1));
  now_ms_ += 10;
  EXPECT_EQ(Run({"ZCARD", "z"}), Int(0));
  EXPECT_EQ(Run({"ZADD", "z", "2", "b"}), Int(1));
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1"}), Bulks({"b"}));
}

TEST_F(ZSetTest, CommandsInOneBatchSeeEachOther) {
  std::vector<std::string> out = RunBatch({{"ZADD", "z", "1", "a", "2", "b"},
                                           {"ZINCRBY", "z", "5", "a"},
                                           {"ZRANGE", "z", "0", "-1"},
                                           {"ZPOPMIN", "z"},
                                           {"ZRANK", "z", "a"}});
  EXPECT_EQ(out[0], Int(2));
  EXPECT_EQ(out[1], Bulk("6"));
  EXPECT_EQ(out[2], Bulks({"b", "a"}));
  EXPECT_EQ(out[3], Bulks({"b", "2"}));
  EXPECT_EQ(out[4], Int(0));
  EXPECT_EQ(Run({"ZRANGE", "z", "0", "-1", "WITHSCORES"}), Bulks({"a", "6"}));
}

}  // namespace
}  // namespace tessera::shard::data

namespace tessera::shard::data {
namespace {

// Redis 7.0's RESP3 shapes for pairs: WITHSCORES nests [member, score]; RESP2 stays flat.
class Resp3PairsTest : public data_testing::DataTest {
 protected:
  std::string Read(int protocol, std::vector<std::string> args) {
    std::vector<std::string_view> argv(args.begin(), args.end());
    ExecContext ctx = Context(nullptr);
    std::string out;
    RespReply reply(protocol, &out);
    const DataCommand* command = FindDataCommand(absl::AsciiStrToLower(args[0]));
    EXPECT_NE(command, nullptr);
    EXPECT_TRUE(command->handler(ctx, argv, reply).ok());
    return out;
  }
};

TEST_F(Resp3PairsTest, WithScoresAndWithValuesNestPairsOnlyForResp3) {
  Run({"ZADD", "z", "1", "a", "2.5", "b"});
  EXPECT_EQ(Read(3, {"ZRANGE", "z", "0", "-1", "WITHSCORES"}),
            "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n");
  EXPECT_EQ(Read(2, {"ZRANGE", "z", "0", "-1", "WITHSCORES"}),
            "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n");
  Run({"HSET", "h", "f", "v"});
  EXPECT_EQ(Read(3, {"HRANDFIELD", "h", "1", "WITHVALUES"}), "*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
  EXPECT_EQ(Read(2, {"HRANDFIELD", "h", "1", "WITHVALUES"}), "*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
}

}  // namespace
}  // namespace tessera::shard::data
