// Hash commands against a real StorageEngine: normal paths, Redis 7.0's error texts and their
// order, RESP3 shapes, WRONGTYPE, deletion of emptied hashes and deterministic HRANDFIELD.
// Expected replies were checked against redis-server 7.0.15.
#include <algorithm>
#include <cctype>
#include <set>
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
using std::string_literals::operator""s;

const std::string kWrongType = Err(kWrongTypeError);
const std::string kSyntax = Err("ERR syntax error");
const std::string kNotInteger = Err("ERR value is not an integer or out of range");
const std::string kNotFloat = Err("ERR value is not a valid float");

// Records a reply's shape in RESP3 terms: "%n" maps, "~n" sets, "*n" arrays, bulks as text.
class ShapeReply final : public Reply {
 public:
  void SimpleString(std::string_view s) override { Add("+" + std::string(s)); }
  void Error(std::string_view text) override { Add("-" + std::string(text)); }
  void Integer(int64_t v) override { Add(":" + std::to_string(v)); }
  void Bulk(std::string_view s) override { Add(std::string(s)); }
  void Null() override { Add("_"); }
  void NullArray() override { Add("_"); }
  void ArrayHeader(size_t n) override { Add("*" + std::to_string(n)); }
  void MapHeader(size_t n) override { Add("%" + std::to_string(n)); }
  void SetHeader(size_t n) override { Add("~" + std::to_string(n)); }
  void Double(double v) override { Add("," + std::to_string(v)); }
  std::string text;

 private:
  void Add(const std::string& s) { text += text.empty() ? s : " " + s; }
};

class HashTest : public data_testing::DataTest {
 protected:
  // Each write gets its own seed, as each log entry has its own index: collections created by
  // different commands get different versions.
  std::string Cmd(std::vector<std::string> args) {
    ++seed_;
    return Run(std::move(args));
  }
  // Runs a read-only command and returns its RESP3 shape.
  std::string Shape(std::vector<std::string> args) {
    std::string name = args[0];
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const DataCommand* command = FindDataCommand(name);
    EXPECT_NE(command, nullptr);
    if (command == nullptr) return "";
    std::vector<std::string_view> argv(args.begin(), args.end());
    ExecContext ctx = Context(nullptr);
    ShapeReply reply;
    EXPECT_TRUE(command->handler(ctx, argv, reply).ok());
    return reply.text;
  }
};

TEST_F(HashTest, HSetHGet) {
  EXPECT_EQ(Cmd({"HGET", "h", "a"}), kNil);
  EXPECT_EQ(Cmd({"HSET", "h", "a", "1", "b", "2"}), Int(2));
  EXPECT_EQ(Cmd({"HSET", "h", "a", "x", "c", "3", "c", "4"}), Int(1));
  EXPECT_EQ(Cmd({"HGET", "h", "a"}), Bulk("x"));
  EXPECT_EQ(Cmd({"HGET", "h", "c"}), Bulk("4"));
  EXPECT_EQ(Cmd({"HGET", "h", "zz"}), kNil);
  EXPECT_EQ(Cmd({"HLEN", "h"}), Int(3));
  EXPECT_EQ(Cmd({"HSET", "h", "bin\0\xff"s, "v\r\n"}), Int(1));
  EXPECT_EQ(Cmd({"HGET", "h", "bin\0\xff"s}), Bulk("v\r\n"));
  EXPECT_EQ(Cmd({"TYPE", "h"}), "+hash\r\n");
  EXPECT_EQ(Cmd({"HSET", "h", "a"}), Err("ERR wrong number of arguments for 'hset' command"));
  EXPECT_EQ(Cmd({"HMSET", "h", "a"}), Err("ERR wrong number of arguments for 'hmset' command"));
  EXPECT_EQ(Cmd({"HMSET", "h", "a", "1", "d", "5"}), kOk);
  EXPECT_EQ(Cmd({"HLEN", "h"}), Int(5));
  EXPECT_EQ(Cmd({"HLEN", "nokey"}), Int(0));
}

TEST_F(HashTest, HSetKeepsTtl) {
  EXPECT_EQ(Cmd({"HSET", "h", "a", "1"}), Int(1));
  EXPECT_EQ(Cmd({"PEXPIRE", "h", "5000"}), Int(1));
  EXPECT_EQ(Cmd({"HSET", "h", "b", "2"}), Int(1));
  EXPECT_EQ(Cmd({"PTTL", "h"}), Int(5000));
  now_ms_ += 5000;
  EXPECT_EQ(Cmd({"HGET", "h", "a"}), kNil);
  EXPECT_EQ(Cmd({"HSET", "h", "c", "3"}), Int(1));
  EXPECT_EQ(Cmd({"HGETALL", "h"}), Bulks({"c", "3"}));
}

TEST_F(HashTest, HSetNx) {
  EXPECT_EQ(Cmd({"HSETNX", "h", "n", "1"}), Int(1));
  EXPECT_EQ(Cmd({"HSETNX", "h", "n", "2"}), Int(0));
  EXPECT_EQ(Cmd({"HGET", "h", "n"}), Bulk("1"));
  EXPECT_EQ(Cmd({"HLEN", "h"}), Int(1));
}

TEST_F(HashTest, HMGetHExistsHStrLen) {
  Cmd({"HSET", "h", "a", "hello", "b", ""});
  EXPECT_EQ(Cmd({"HMGET", "h", "a", "zz", "b"}), "*3\r\n" + Bulk("hello") + kNil + Bulk(""));
  EXPECT_EQ(Cmd({"HMGET", "nokey", "a"}), "*1\r\n" + kNil);
  EXPECT_EQ(Cmd({"HEXISTS", "h", "a"}), Int(1));
  EXPECT_EQ(Cmd({"HEXISTS", "h", "zz"}), Int(0));
  EXPECT_EQ(Cmd({"HEXISTS", "nokey", "a"}), Int(0));
  EXPECT_EQ(Cmd({"HSTRLEN", "h", "a"}), Int(5));
  EXPECT_EQ(Cmd({"HSTRLEN", "h", "zz"}), Int(0));
  EXPECT_EQ(Cmd({"HSTRLEN", "nokey", "a"}), Int(0));
}

TEST_F(HashTest, HDelDeletesTheEmptiedKey) {
  Cmd({"HSET", "h", "a", "1", "b", "2"});
  EXPECT_EQ(Cmd({"HDEL", "h", "a", "a", "zz"}), Int(1));
  EXPECT_EQ(Cmd({"HLEN", "h"}), Int(1));
  EXPECT_TRUE(RawMetadata("h").has_value());
  EXPECT_EQ(Cmd({"HDEL", "h", "b"}), Int(1));
  EXPECT_FALSE(RawMetadata("h").has_value());
  EXPECT_EQ(Cmd({"EXISTS", "h"}), Int(0));
  EXPECT_EQ(Cmd({"HDEL", "h", "b"}), Int(0));
  // Recreated under a new version: the old fields do not come back.
  EXPECT_EQ(Cmd({"HSET", "h", "c", "3"}), Int(1));
  EXPECT_EQ(Cmd({"HGETALL", "h"}), Bulks({"c", "3"}));
}

TEST_F(HashTest, DelThenRecreateHidesOldFields) {
  Cmd({"HSET", "h", "a", "1", "b", "2"});
  EXPECT_EQ(Cmd({"DEL", "h"}), Int(1));
  EXPECT_EQ(Cmd({"HSET", "h", "c", "3"}), Int(1));
  EXPECT_EQ(Cmd({"HKEYS", "h"}), Bulks({"c"}));
  EXPECT_EQ(Cmd({"HLEN", "h"}), Int(1));
}

TEST_F(HashTest, HKeysHValsHGetAllInByteOrder) {
  Cmd({"HSET", "h", "b", "2", "a", "1", "c", "3"});
  EXPECT_EQ(Cmd({"HKEYS", "h"}), Bulks({"a", "b", "c"}));
  EXPECT_EQ(Cmd({"HVALS", "h"}), Bulks({"1", "2", "3"}));
  EXPECT_EQ(Cmd({"HGETALL", "h"}), Bulks({"a", "1", "b", "2", "c", "3"}));
  EXPECT_EQ(Cmd({"HGETALL", "nokey"}), "*0\r\n");
  EXPECT_EQ(Cmd({"HKEYS", "nokey"}), "*0\r\n");
}

TEST_F(HashTest, HGetAllIsAMapInResp3) {
  Cmd({"HSET", "h", "a", "1", "b", "2"});
  EXPECT_EQ(Shape({"HGETALL", "h"}), "%2 a 1 b 2");
  EXPECT_EQ(Shape({"HGETALL", "nokey"}), "%0");
  EXPECT_EQ(Shape({"HKEYS", "h"}), "*2 a b");
}

TEST_F(HashTest, SeesEarlierCommandsOfTheSameBatch) {
  std::vector<std::string> out = RunBatch({{"HSET", "h", "a", "1"},
                                           {"HSET", "h", "a", "2", "b", "3"},
                                           {"HDEL", "h", "a"},
                                           {"HGETALL", "h"}});
  EXPECT_EQ(out[0], Int(1));
  EXPECT_EQ(out[1], Int(1));
  EXPECT_EQ(out[2], Int(1));
  EXPECT_EQ(out[3], Bulks({"b", "3"}));
  EXPECT_EQ(Cmd({"HLEN", "h"}), Int(1));
}

TEST_F(HashTest, HIncrBy) {
  EXPECT_EQ(Cmd({"HINCRBY", "h", "n", "5"}), Int(5));
  EXPECT_EQ(Cmd({"HINCRBY", "h", "n", "-7"}), Int(-2));
  EXPECT_EQ(Cmd({"HGET", "h", "n"}), Bulk("-2"));
  EXPECT_EQ(Cmd({"HINCRBY", "h", "n", "x"}), kNotInteger);
  EXPECT_EQ(Cmd({"HSET", "h", "s", "abc", "f", "1.5", "big", "9223372036854775807"}), Int(3));
  EXPECT_EQ(Cmd({"HINCRBY", "h", "s", "1"}), Err("ERR hash value is not an integer"));
  EXPECT_EQ(Cmd({"HINCRBY", "h", "f", "1"}), Err("ERR hash value is not an integer"));
  EXPECT_EQ(Cmd({"HINCRBY", "h", "big", "1"}), Err("ERR increment or decrement would overflow"));
  EXPECT_EQ(Cmd({"HINCRBY", "h", "big", "-1"}), Int(9223372036854775806));
  EXPECT_EQ(Cmd({"HLEN", "h"}), Int(4));
}

TEST_F(HashTest, HIncrByFloat) {
  EXPECT_EQ(Cmd({"HINCRBYFLOAT", "h", "f", "10.5"}), Bulk("10.5"));
  EXPECT_EQ(Cmd({"HINCRBYFLOAT", "h", "f", "0.1"}), Bulk("10.6"));
  EXPECT_EQ(Cmd({"HINCRBYFLOAT", "h", "f", "-10.6"}), Bulk("0"));
  EXPECT_EQ(Cmd({"HINCRBYFLOAT", "h", "f", "5.0e3"}), Bulk("5000"));
  EXPECT_EQ(Cmd({"HINCRBYFLOAT", "h", "f", "x"}), kNotFloat);
  EXPECT_EQ(Cmd({"HINCRBYFLOAT", "h", "f", "inf"}), Err("ERR value is NaN or Infinity"));
  EXPECT_EQ(Cmd({"HSET", "h", "s", "abc", "i", "3"}), Int(2));
  EXPECT_EQ(Cmd({"HINCRBYFLOAT", "h", "s", "1"}), Err("ERR hash value is not a float"));
  EXPECT_EQ(Cmd({"HINCRBYFLOAT", "h", "i", "1.5"}), Bulk("4.5"));
  EXPECT_EQ(Cmd({"HSET", "h", "max", "1e4932"}), Int(1));
  EXPECT_EQ(Cmd({"HINCRBYFLOAT", "h", "max", "1e4932"}),
            Err("ERR increment would produce NaN or Infinity"));
  EXPECT_EQ(Cmd({"HGET", "h", "max"}), Bulk("1e4932"));
}

TEST_F(HashTest, WrongType) {
  EXPECT_EQ(Cmd({"SET", "str", "v"}), kOk);
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"HSET", "str", "a", "1"},
           {"HMSET", "str", "a", "1"},
           {"HSETNX", "str", "a", "1"},
           {"HGET", "str", "a"},
           {"HMGET", "str", "a"},
           {"HDEL", "str", "a"},
           {"HEXISTS", "str", "a"},
           {"HLEN", "str"},
           {"HSTRLEN", "str", "a"},
           {"HKEYS", "str"},
           {"HVALS", "str"},
           {"HGETALL", "str"},
           {"HINCRBY", "str", "a", "1"},
           {"HINCRBYFLOAT", "str", "a", "1"},
           {"HSCAN", "str", "0"},
           {"HSCAN", "str", "0", "COUNT", "0"},  // the key is checked before the options
           {"HRANDFIELD", "str"},
           {"HRANDFIELD", "str", "2"},
       }) {
    EXPECT_EQ(Cmd(args), kWrongType) << args[0];
  }
  // Arguments are checked before the key.
  EXPECT_EQ(Cmd({"HINCRBY", "str", "a", "x"}), kNotInteger);
  EXPECT_EQ(Cmd({"HINCRBYFLOAT", "str", "a", "x"}), kNotFloat);
  EXPECT_EQ(Cmd({"HRANDFIELD", "str", "x"}), kNotInteger);
  EXPECT_EQ(Cmd({"HSCAN", "str", "x"}), Err("ERR invalid cursor"));
  EXPECT_EQ(Cmd({"GET", "str"}), Bulk("v"));
}

TEST_F(HashTest, HScanWalksEveryFieldOnce) {
  std::set<std::string> expected;
  for (int i = 0; i < 57; ++i) {
    const std::string field = "field:" + std::to_string(i);
    Cmd({"HSET", "h", field, "v" + std::to_string(i)});
    expected.insert(field);
  }
  std::set<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    std::string shape = Shape({"HSCAN", "h", cursor, "COUNT", "5"});
    // "*2 <cursor> *2n f v f v ..."
    std::vector<std::string> parts;
    size_t at = 0;
    while (at <= shape.size()) {
      size_t space = shape.find(' ', at);
      if (space == std::string::npos) space = shape.size();
      parts.push_back(shape.substr(at, space - at));
      at = space + 1;
    }
    ASSERT_GE(parts.size(), 3u);
    cursor = parts[1];
    for (size_t i = 3; i + 1 < parts.size(); i += 2) {
      EXPECT_TRUE(seen.insert(parts[i]).second) << parts[i];
      EXPECT_EQ("v" + parts[i].substr(6), parts[i + 1]);
    }
    ASSERT_LT(++calls, 100);
  } while (cursor != "0");
  EXPECT_EQ(seen, expected);
}

TEST_F(HashTest, HScanOptions) {
  Cmd({"HSET", "h", "a1", "1", "a2", "2", "b1", "3"});
  EXPECT_EQ(Cmd({"HSCAN", "h", "0"}),
            "*2\r\n" + Bulk("0") + Bulks({"a1", "1", "a2", "2", "b1", "3"}));
  EXPECT_EQ(Cmd({"HSCAN", "h", "0", "MATCH", "a*"}),
            "*2\r\n" + Bulk("0") + Bulks({"a1", "1", "a2", "2"}));
  EXPECT_EQ(Cmd({"HSCAN", "nokey", "0"}), "*2\r\n" + Bulk("0") + "*0\r\n");
  EXPECT_EQ(Cmd({"HSCAN", "h", "x"}), Err("ERR invalid cursor"));
  EXPECT_EQ(Cmd({"HSCAN", "h", "0", "COUNT", "0"}), kSyntax);
  EXPECT_EQ(Cmd({"HSCAN", "h", "0", "COUNT", "x"}), kNotInteger);
  EXPECT_EQ(Cmd({"HSCAN", "h", "0", "MATCH"}), kSyntax);
  EXPECT_EQ(Cmd({"HSCAN", "h", "0", "NOVALUES"}), kSyntax);  // Redis 7.4, not 7.0
}

TEST_F(HashTest, HRandField) {
  EXPECT_EQ(Cmd({"HRANDFIELD", "nokey"}), kNil);
  EXPECT_EQ(Cmd({"HRANDFIELD", "nokey", "3"}), "*0\r\n");
  Cmd({"HSET", "h", "a", "1", "b", "2", "c", "3"});
  const std::set<std::string> fields = {Bulk("a"), Bulk("b"), Bulk("c")};
  EXPECT_TRUE(fields.contains(Cmd({"HRANDFIELD", "h"})));
  EXPECT_EQ(Cmd({"HRANDFIELD", "h", "0"}), "*0\r\n");
  EXPECT_EQ(Cmd({"HRANDFIELD", "h", "5"}), Bulks({"a", "b", "c"}));
  EXPECT_EQ(Cmd({"HRANDFIELD", "h", "3", "WITHVALUES"}), Bulks({"a", "1", "b", "2", "c", "3"}));
  EXPECT_EQ(Cmd({"HRANDFIELD", "h", "1", "foo"}), kSyntax);
  EXPECT_EQ(Cmd({"HRANDFIELD", "h", "1", "withvalues", "foo"}), kSyntax);
  EXPECT_EQ(Cmd({"HRANDFIELD", "h", "x"}), kNotInteger);
  EXPECT_EQ(Cmd({"HRANDFIELD", "h", "-9223372036854775808"}),
            Err("ERR value is out of range, value must between -9223372036854775807 and "
                "9223372036854775807"));
  EXPECT_EQ(Cmd({"HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"}),
            Err("ERR value is out of range"));

  // Distinct fields for a positive count smaller than the hash.
  std::string two = Cmd({"HRANDFIELD", "h", "2"});
  ASSERT_EQ(two.substr(0, 4), "*2\r\n");
  const std::string first = two.substr(4, 7);
  const std::string second = two.substr(11, 7);
  EXPECT_TRUE(fields.contains(first));
  EXPECT_TRUE(fields.contains(second));
  EXPECT_NE(first, second);

  // A negative count repeats: every element is a field, values follow their fields.
  const std::string many = Cmd({"HRANDFIELD", "h", "-20", "WITHVALUES"});
  ASSERT_EQ(many.substr(0, 5), "*40\r\n");
  for (size_t at = 5; at < many.size(); at += 14) {
    const std::string field = many.substr(at, 7);
    EXPECT_TRUE(fields.contains(field));
    EXPECT_EQ(many.substr(at + 7, 7),
              Bulk(std::string(1, static_cast<char>(field[4] - 'a' + '1'))));
  }
}

TEST_F(HashTest, HRandFieldIsDeterministicForASeed) {
  std::vector<std::string> args = {"HSET", "h"};
  for (int i = 0; i < 50; ++i) {
    args.push_back("f" + std::to_string(i));
    args.push_back(std::to_string(i));
  }
  Cmd(args);
  seed_ = 12345;
  const std::string a = Run({"HRANDFIELD", "h", "-10"});
  const std::string b = Run({"HRANDFIELD", "h", "7", "WITHVALUES"});
  EXPECT_EQ(Run({"HRANDFIELD", "h", "-10"}), a);
  EXPECT_EQ(Run({"HRANDFIELD", "h", "7", "WITHVALUES"}), b);
  // Another seed or time draws differently (with overwhelming probability).
  seed_ = 777;
  now_ms_ += 1;
  EXPECT_NE(Run({"HRANDFIELD", "h", "-10"}), a);
}

}  // namespace
}  // namespace tessera::shard::data
