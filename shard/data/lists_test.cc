// The list commands on a real engine; expected replies were checked against redis-server 7.0.15.
#include <string>
#include <vector>

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

const std::string kNilArray = "*-1\r\n";
const std::string kEmpty = "*0\r\n";
const std::string kWrongType = Err(kWrongTypeError);

class ListTest : public data_testing::DataTest {
 protected:
  std::string Range(const std::string& key) { return Run({"lrange", key, "0", "-1"}); }
};

TEST_F(ListTest, PushBothEndsGrowPastEachOther) {
  EXPECT_EQ(Run({"rpush", "l", "a", "b"}), Int(2));
  EXPECT_EQ(Run({"lpush", "l", "x", "y"}), Int(4));
  EXPECT_EQ(Range("l"), Bulks({"y", "x", "a", "b"}));
  // Pop from the left past the original middle, push on the right, and the other way.
  EXPECT_EQ(Run({"lpop", "l", "3"}), Bulks({"y", "x", "a"}));
  EXPECT_EQ(Run({"rpush", "l", "c"}), Int(2));
  EXPECT_EQ(Run({"rpop", "l", "2"}), Bulks({"c", "b"}));
  EXPECT_FALSE(RawMetadata("l").has_value());
  EXPECT_EQ(Run({"lpush", "l", "1", "2", "3"}), Int(3));
  EXPECT_EQ(Run({"rpop", "l"}), Bulk("1"));
  EXPECT_EQ(Run({"rpush", "l", "z"}), Int(3));
  EXPECT_EQ(Range("l"), Bulks({"3", "2", "z"}));
  EXPECT_EQ(Run({"llen", "l"}), Int(3));
  EXPECT_EQ(Run({"lindex", "l", "0"}), Bulk("3"));
  EXPECT_EQ(Run({"lindex", "l", "-1"}), Bulk("z"));
  EXPECT_EQ(Run({"lindex", "l", "-100"}), kNil);
  EXPECT_EQ(Run({"lindex", "l", "3"}), kNil);
  EXPECT_EQ(Run({"lindex", "l", "x"}), Err(kNotIntegerError));
  EXPECT_EQ(Run({"lindex", "none", "x"}), kNil);
}

TEST_F(ListTest, PushX) {
  EXPECT_EQ(Run({"lpushx", "l", "a"}), Int(0));
  EXPECT_EQ(Run({"rpushx", "l", "a"}), Int(0));
  EXPECT_FALSE(RawMetadata("l").has_value());
  Run({"rpush", "l", "a"});
  EXPECT_EQ(Run({"rpushx", "l", "x", "y"}), Int(3));
  EXPECT_EQ(Run({"lpushx", "l", "w"}), Int(4));
  EXPECT_EQ(Range("l"), Bulks({"w", "a", "x", "y"}));
}

TEST_F(ListTest, PopCountRules) {
  EXPECT_EQ(Run({"lpop", "none"}), kNil);
  EXPECT_EQ(Run({"lpop", "none", "0"}), kNilArray);
  EXPECT_EQ(Run({"rpop", "none", "2"}), kNilArray);
  Run({"rpush", "l", "a", "b", "c"});
  EXPECT_EQ(Run({"lpop", "l", "0"}), kEmpty);
  EXPECT_EQ(Run({"lpop", "l", "-1"}), Err("ERR value is out of range, must be positive"));
  EXPECT_EQ(Run({"lpop", "l", "abc"}), Err("ERR value is out of range, must be positive"));
  EXPECT_EQ(Run({"lpop", "l", "1", "2"}), Err("ERR wrong number of arguments for 'lpop' command"));
  EXPECT_EQ(Run({"rpop", "l", "5"}), Bulks({"c", "b", "a"}));
  EXPECT_FALSE(RawMetadata("l").has_value());
  EXPECT_EQ(Run({"lpop", "l"}), kNil);
}

TEST_F(ListTest, LRangeAndLTrim) {
  Run({"rpush", "l", "a", "b", "c", "d", "e"});
  EXPECT_EQ(Run({"lrange", "l", "1", "2"}), Bulks({"b", "c"}));
  EXPECT_EQ(Run({"lrange", "l", "-100", "100"}), Bulks({"a", "b", "c", "d", "e"}));
  EXPECT_EQ(Run({"lrange", "l", "5", "1"}), kEmpty);
  EXPECT_EQ(Run({"lrange", "l", "-2", "-1"}), Bulks({"d", "e"}));
  EXPECT_EQ(Run({"lrange", "l", "a", "1"}), Err(kNotIntegerError));
  EXPECT_EQ(Run({"lrange", "none", "0", "-1"}), kEmpty);
  EXPECT_EQ(Run({"ltrim", "l", "1", "-2"}), kOk);
  EXPECT_EQ(Range("l"), Bulks({"b", "c", "d"}));
  EXPECT_EQ(Run({"llen", "l"}), Int(3));
  EXPECT_EQ(Run({"ltrim", "l", "1", "100"}), kOk);
  EXPECT_EQ(Range("l"), Bulks({"c", "d"}));
  EXPECT_EQ(Run({"rpush", "l", "e"}), Int(3));
  EXPECT_EQ(Run({"lpush", "l", "b"}), Int(4));
  EXPECT_EQ(Range("l"), Bulks({"b", "c", "d", "e"}));
  EXPECT_EQ(Run({"ltrim", "none", "0", "1"}), kOk);
  EXPECT_EQ(Run({"ltrim", "l", "x", "1"}), Err(kNotIntegerError));
  EXPECT_EQ(Run({"ltrim", "l", "5", "10"}), kOk);
  EXPECT_FALSE(RawMetadata("l").has_value());
}

TEST_F(ListTest, LSet) {
  EXPECT_EQ(Run({"lset", "none", "0", "x"}), Err("ERR no such key"));
  Run({"rpush", "l", "a", "b", "c"});
  EXPECT_EQ(Run({"lset", "l", "1", "B"}), kOk);
  EXPECT_EQ(Run({"lset", "l", "-1", "C"}), kOk);
  EXPECT_EQ(Run({"lset", "l", "3", "x"}), Err("ERR index out of range"));
  EXPECT_EQ(Run({"lset", "l", "-4", "x"}), Err("ERR index out of range"));
  EXPECT_EQ(Run({"lset", "l", "x", "x"}), Err(kNotIntegerError));
  EXPECT_EQ(Range("l"), Bulks({"a", "B", "C"}));
}

TEST_F(ListTest, LRem) {
  Run({"rpush", "l", "a", "b", "a", "c", "a", "b"});
  EXPECT_EQ(Run({"lrem", "l", "1", "a"}), Int(1));
  EXPECT_EQ(Range("l"), Bulks({"b", "a", "c", "a", "b"}));
  EXPECT_EQ(Run({"lrem", "l", "-1", "b"}), Int(1));
  EXPECT_EQ(Range("l"), Bulks({"b", "a", "c", "a"}));
  EXPECT_EQ(Run({"lrem", "l", "0", "a"}), Int(2));
  EXPECT_EQ(Range("l"), Bulks({"b", "c"}));
  EXPECT_EQ(Run({"lrem", "l", "0", "zz"}), Int(0));
  EXPECT_EQ(Run({"lrem", "l", "x", "a"}), Err(kNotIntegerError));
  EXPECT_EQ(Run({"lrem", "none", "0", "a"}), Int(0));
  EXPECT_EQ(Run({"rpush", "l", "d"}), Int(3));
  EXPECT_EQ(Range("l"), Bulks({"b", "c", "d"}));
  EXPECT_EQ(Run({"lrem", "l", "0", "b"}), Int(1));
  EXPECT_EQ(Run({"lrem", "l", "0", "c"}), Int(1));
  EXPECT_EQ(Run({"lrem", "l", "0", "d"}), Int(1));
  EXPECT_FALSE(RawMetadata("l").has_value());
}

TEST_F(ListTest, LInsert) {
  EXPECT_EQ(Run({"linsert", "none", "before", "a", "x"}), Int(0));
  Run({"rpush", "l", "a", "b", "c", "d", "e"});
  EXPECT_EQ(Run({"linsert", "l", "middle", "a", "x"}), Err(kSyntaxError));
  EXPECT_EQ(Run({"linsert", "l", "before", "zz", "x"}), Int(-1));
  EXPECT_EQ(Run({"linsert", "l", "BEFORE", "b", "1"}), Int(6));  // moves the head side
  EXPECT_EQ(Run({"linsert", "l", "after", "d", "2"}), Int(7));   // moves the tail side
  EXPECT_EQ(Run({"linsert", "l", "after", "e", "3"}), Int(8));
  EXPECT_EQ(Run({"linsert", "l", "before", "a", "0"}), Int(9));
  EXPECT_EQ(Range("l"), Bulks({"0", "a", "1", "b", "c", "d", "2", "e", "3"}));
  EXPECT_EQ(Run({"lpop", "l"}), Bulk("0"));
  EXPECT_EQ(Run({"rpop", "l"}), Bulk("3"));
  EXPECT_EQ(Run({"lindex", "l", "5"}), Bulk("2"));
}

TEST_F(ListTest, LPos) {
  Run({"rpush", "m", "a", "b", "a", "c", "a"});
  EXPECT_EQ(Run({"lpos", "m", "a"}), Int(0));
  EXPECT_EQ(Run({"lpos", "m", "zz"}), kNil);
  EXPECT_EQ(Run({"lpos", "m", "a", "rank", "2"}), Int(2));
  EXPECT_EQ(Run({"lpos", "m", "a", "rank", "-1"}), Int(4));
  EXPECT_EQ(Run({"lpos", "m", "a", "rank", "-1", "count", "2"}), "*2\r\n:4\r\n:2\r\n");
  EXPECT_EQ(Run({"lpos", "m", "a", "count", "0"}), "*3\r\n:0\r\n:2\r\n:4\r\n");
  EXPECT_EQ(Run({"lpos", "m", "a", "rank", "2", "maxlen", "3"}), Int(2));
  EXPECT_EQ(Run({"lpos", "m", "a", "rank", "-1", "maxlen", "2"}), Int(4));
  EXPECT_EQ(Run({"lpos", "m", "c", "maxlen", "1"}), kNil);
  EXPECT_EQ(Run({"lpos", "m", "zz", "count", "0"}), kEmpty);
  EXPECT_EQ(Run({"lpos", "m", "a", "rank", "-9223372036854775808", "count", "0"}),
            "*3\r\n:4\r\n:2\r\n:0\r\n");
  EXPECT_EQ(Run({"lpos", "none", "a"}), kNil);
  EXPECT_EQ(Run({"lpos", "none", "a", "count", "0"}), kEmpty);
  EXPECT_EQ(Run({"lpos", "m", "a", "rank", "0"}),
            Err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second "
                "... or use negative to start from the end of the list"));
  EXPECT_EQ(Run({"lpos", "m", "a", "count", "-1"}), Err("ERR COUNT can't be negative"));
  EXPECT_EQ(Run({"lpos", "m", "a", "maxlen", "-1"}), Err("ERR MAXLEN can't be negative"));
  EXPECT_EQ(Run({"lpos", "m", "a", "rank"}), Err(kSyntaxError));
  EXPECT_EQ(Run({"lpos", "m", "a", "foo", "1"}), Err(kSyntaxError));
  EXPECT_EQ(Run({"lpos", "m", "a", "rank", "x"}), Err(kNotIntegerError));
  EXPECT_EQ(Run({"lpos", "m", "a", "count", "x"}), Err("ERR COUNT can't be negative"));
  EXPECT_EQ(Run({"lpos", "m", "a", "maxlen", "x"}), Err("ERR MAXLEN can't be negative"));
}

TEST_F(ListTest, LMoveBetweenListsAndOntoItself) {
  Run({"rpush", "l", "a", "b", "c"});
  EXPECT_EQ(Run({"rpoplpush", "l", "l"}), Bulk("c"));
  EXPECT_EQ(Range("l"), Bulks({"c", "a", "b"}));
  EXPECT_EQ(Run({"lmove", "l", "l", "left", "left"}), Bulk("c"));
  EXPECT_EQ(Run({"lmove", "l", "l", "left", "right"}), Bulk("c"));
  EXPECT_EQ(Range("l"), Bulks({"a", "b", "c"}));
  EXPECT_EQ(Run({"lmove", "l", "d", "right", "left"}), Bulk("c"));
  EXPECT_EQ(Run({"lmove", "l", "d", "LEFT", "RIGHT"}), Bulk("a"));
  EXPECT_EQ(Range("l"), Bulks({"b"}));
  EXPECT_EQ(Range("d"), Bulks({"c", "a"}));
  EXPECT_EQ(Run({"lmove", "l", "d", "up", "left"}), Err(kSyntaxError));
  EXPECT_EQ(Run({"rpoplpush", "l", "d"}), Bulk("b"));
  EXPECT_FALSE(RawMetadata("l").has_value());
  EXPECT_EQ(Range("d"), Bulks({"b", "c", "a"}));
  EXPECT_EQ(Run({"lmove", "l", "d", "left", "left"}), kNil);
  // A one-element list moved onto itself stays.
  Run({"rpush", "one", "x"});
  EXPECT_EQ(Run({"lmove", "one", "one", "left", "right"}), Bulk("x"));
  EXPECT_EQ(Range("one"), Bulks({"x"}));
}

TEST_F(ListTest, WrongType) {
  Run({"set", "s", "v"});
  PutHash("h");
  Run({"rpush", "l", "a"});
  for (const std::string& key : {std::string("s"), std::string("h")}) {
    EXPECT_EQ(Run({"lpush", key, "a"}), kWrongType);
    EXPECT_EQ(Run({"rpushx", key, "a"}), kWrongType);
    EXPECT_EQ(Run({"lpop", key}), kWrongType);
    EXPECT_EQ(Run({"rpop", key, "0"}), kWrongType);
    EXPECT_EQ(Run({"llen", key}), kWrongType);
    EXPECT_EQ(Run({"lrange", key, "0", "1"}), kWrongType);
    EXPECT_EQ(Run({"lindex", key, "0"}), kWrongType);
    EXPECT_EQ(Run({"lset", key, "0", "x"}), kWrongType);
    EXPECT_EQ(Run({"lrem", key, "0", "x"}), kWrongType);
    EXPECT_EQ(Run({"ltrim", key, "0", "1"}), kWrongType);
    EXPECT_EQ(Run({"linsert", key, "before", "a", "x"}), kWrongType);
    EXPECT_EQ(Run({"lpos", key, "a"}), kWrongType);
    EXPECT_EQ(Run({"lmove", key, "l", "left", "left"}), kWrongType);
    EXPECT_EQ(Run({"lmove", "l", key, "left", "left"}), kWrongType);
    EXPECT_EQ(Run({"blpop", key, "l", "0"}), kWrongType);
  }
  EXPECT_EQ(Range("l"), Bulks({"a"}));  // the failed moves took nothing
  EXPECT_EQ(Run({"lmove", "none", "s", "left", "left"}), kNil);
  EXPECT_EQ(Run({"get", "s"}), Bulk("v"));
}

TEST_F(ListTest, BlockingCommandsWithoutWaiting) {
  Run({"rpush", "l", "a", "b", "c"});
  EXPECT_EQ(Run({"blpop", "none", "l", "0"}), Bulks({"l", "a"}));
  EXPECT_EQ(Run({"brpop", "none", "l", "0.5"}), Bulks({"l", "c"}));
  EXPECT_EQ(Run({"blpop", "none", "0.001"}), kNilArray);
  EXPECT_EQ(Run({"blpop", "l", "-0.0001"}), Bulks({"l", "b"}));  // truncates to 0
  EXPECT_FALSE(RawMetadata("l").has_value());
  EXPECT_EQ(Run({"blpop", "l", "abc"}), Err("ERR timeout is not a float or out of range"));
  EXPECT_EQ(Run({"blpop", "l", "nan"}), Err("ERR timeout is not a float or out of range"));
  EXPECT_EQ(Run({"blpop", "l", " 1"}), Err("ERR timeout is not a float or out of range"));
  EXPECT_EQ(Run({"blpop", "l", "-1"}), Err("ERR timeout is negative"));
  EXPECT_EQ(Run({"brpop", "l", "inf"}), Err("ERR timeout is negative"));
  EXPECT_EQ(Run({"brpop", "l", "1e300"}), Err("ERR timeout is negative"));
  EXPECT_EQ(Run({"brpop", "l", "0x10"}), kNilArray);
  Run({"rpush", "l", "a", "b"});
  EXPECT_EQ(Run({"blmove", "l", "d", "left", "right", "0"}), Bulk("a"));
  EXPECT_EQ(Run({"blmove", "none", "d", "left", "right", "0"}), kNilArray);
  EXPECT_EQ(Run({"blmove", "l", "d", "up", "right", "0"}), Err(kSyntaxError));
  EXPECT_EQ(Run({"blmove", "l", "d", "left", "right", "-1"}), Err("ERR timeout is negative"));
  EXPECT_EQ(Run({"blmove", "l", "d", "left", "right", "x"}),
            Err("ERR timeout is not a float or out of range"));
  EXPECT_EQ(Range("l"), Bulks({"b"}));
  EXPECT_EQ(Range("d"), Bulks({"a"}));
}

TEST_F(ListTest, CommandsInOneBatchSeeEachOther) {
  std::vector<std::string> out = RunBatch({{"rpush", "l", "a", "b"},
                                           {"lpush", "l", "z"},
                                           {"lmove", "l", "d", "right", "left"},
                                           {"lrange", "l", "0", "-1"},
                                           {"rpop", "l", "5"},
                                           {"llen", "l"}});
  EXPECT_EQ(out[0], Int(2));
  EXPECT_EQ(out[1], Int(3));
  EXPECT_EQ(out[2], Bulk("b"));
  EXPECT_EQ(out[3], Bulks({"z", "a"}));
  EXPECT_EQ(out[4], Bulks({"a", "z"}));
  EXPECT_EQ(out[5], Int(0));
  EXPECT_FALSE(RawMetadata("l").has_value());
  EXPECT_EQ(Range("d"), Bulks({"b"}));
}

TEST_F(ListTest, ExpiredListReadsAsAbsentAndIsReplaced) {
  Run({"rpush", "l", "old1", "old2"});
  std::optional<Metadata> m = RawMetadata("l");
  ASSERT_TRUE(m.has_value());
  m->expire_at_ms = now_ms_ - 1;
  PutMetadata("l", *m);
  EXPECT_EQ(Run({"llen", "l"}), Int(0));
  ++seed_;  // a later entry issues a new version
  EXPECT_EQ(Run({"rpush", "l", "new"}), Int(1));
  EXPECT_EQ(Range("l"), Bulks({"new"}));
}

}  // namespace
}  // namespace tessera::shard::data
