// Set commands against a real StorageEngine: normal paths, Redis 7.0's error texts and their
// order, RESP3 shapes, WRONGTYPE, deletion of emptied sets and deterministic SPOP/SRANDMEMBER.
// Expected replies were checked against redis-server 7.0.15 (member order aside: ours is the
// members' byte order).
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

const std::string kWrongType = Err(kWrongTypeError);
const std::string kSyntax = Err("ERR syntax error");
const std::string kNotInteger = Err("ERR value is not an integer or out of range");
const std::string kPositive = Err("ERR value is out of range, must be positive");

// Records a reply's shape in RESP3 terms: "~n" sets, "*n" arrays, bulks as text.
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

class SetTest : public data_testing::DataTest {
 protected:
  // Each command gets its own seed, as each log entry has its own index.
  std::string Cmd(std::vector<std::string> args) {
    ++seed_;
    return Run(std::move(args));
  }
  // Runs a command on its own batch and returns its RESP3 shape.
  std::string Shape(std::vector<std::string> args) {
    ++seed_;
    std::string name = args[0];
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const DataCommand* command = FindDataCommand(name);
    EXPECT_NE(command, nullptr);
    if (command == nullptr) return "";
    std::vector<std::string_view> argv(args.begin(), args.end());
    rocksdb::WriteBatchWithIndex batch;
    ExecContext ctx = Context(command->write ? &batch : nullptr);
    ShapeReply reply;
    EXPECT_TRUE(command->handler(ctx, argv, reply).ok());
    EXPECT_TRUE(engine_->Write(*batch.GetWriteBatch(), false).ok());
    return reply.text;
  }
};

TEST_F(SetTest, SAddSRemSCard) {
  EXPECT_EQ(Cmd({"SADD", "s", "b", "a", "b", "c"}), Int(3));
  EXPECT_EQ(Cmd({"SADD", "s", "a", "d"}), Int(1));
  EXPECT_EQ(Cmd({"SCARD", "s"}), Int(4));
  EXPECT_EQ(Cmd({"SCARD", "nokey"}), Int(0));
  EXPECT_EQ(Cmd({"TYPE", "s"}), "+set\r\n");
  EXPECT_EQ(Cmd({"SMEMBERS", "s"}), Bulks({"a", "b", "c", "d"}));
  EXPECT_EQ(Cmd({"SREM", "s", "a", "a", "zz"}), Int(1));
  EXPECT_EQ(Cmd({"SREM", "nokey", "a"}), Int(0));
  EXPECT_EQ(Cmd({"SCARD", "s"}), Int(3));
  EXPECT_EQ(Cmd({"SREM", "s", "b", "c", "d"}), Int(3));
  EXPECT_FALSE(RawMetadata("s").has_value());
  EXPECT_EQ(Cmd({"SMEMBERS", "s"}), "*0\r\n");
  EXPECT_EQ(Cmd({"SADD", "s", "x"}), Int(1));
  EXPECT_EQ(Cmd({"SMEMBERS", "s"}), Bulks({"x"}));
}

TEST_F(SetTest, SIsMemberSMIsMember) {
  Cmd({"SADD", "s", "a", ""});
  EXPECT_EQ(Cmd({"SISMEMBER", "s", "a"}), Int(1));
  EXPECT_EQ(Cmd({"SISMEMBER", "s", ""}), Int(1));
  EXPECT_EQ(Cmd({"SISMEMBER", "s", "zz"}), Int(0));
  EXPECT_EQ(Cmd({"SISMEMBER", "nokey", "a"}), Int(0));
  EXPECT_EQ(Cmd({"SMISMEMBER", "s", "a", "zz"}), "*2\r\n" + Int(1) + Int(0));
  EXPECT_EQ(Cmd({"SMISMEMBER", "nokey", "a"}), "*1\r\n" + Int(0));
}

TEST_F(SetTest, Resp3Shapes) {
  Cmd({"SADD", "s", "b", "a"});
  Cmd({"SADD", "t", "a", "c"});
  EXPECT_EQ(Shape({"SMEMBERS", "s"}), "~2 a b");
  EXPECT_EQ(Shape({"SMEMBERS", "nokey"}), "~0");
  EXPECT_EQ(Shape({"SINTER", "s", "t"}), "~1 a");
  EXPECT_EQ(Shape({"SUNION", "s", "t"}), "~3 a b c");
  EXPECT_EQ(Shape({"SDIFF", "s", "t"}), "~1 b");
  EXPECT_EQ(Shape({"SRANDMEMBER", "s", "5"}), "*2 a b");
  EXPECT_EQ(Shape({"SRANDMEMBER", "nokey", "-2"}), "*0");
  EXPECT_EQ(Shape({"SPOP", "nokey", "2"}), "~0");
  EXPECT_EQ(Shape({"SPOP", "s", "0"}), "~0");
  EXPECT_EQ(Shape({"SPOP", "s", "5"}), "~2 a b");
  EXPECT_EQ(Shape({"EXISTS", "s"}), ":0");
}

TEST_F(SetTest, WrongType) {
  EXPECT_EQ(Cmd({"SET", "str", "v"}), kOk);
  Cmd({"SADD", "s", "a"});
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"SADD", "str", "a"},
           {"SREM", "str", "a"},
           {"SMEMBERS", "str"},
           {"SISMEMBER", "str", "a"},
           {"SMISMEMBER", "str", "a"},
           {"SCARD", "str"},
           {"SPOP", "str"},
           {"SPOP", "str", "1"},
           {"SRANDMEMBER", "str"},
           {"SRANDMEMBER", "str", "1"},
           {"SMOVE", "str", "s", "a"},
           {"SMOVE", "s", "str", "a"},
           {"SMOVE", "s", "str", "zz"},
           {"SINTER", "nokey", "str"},  // every key is checked, even after an empty one
           {"SINTER", "s", "str"},
           {"SUNION", "s", "nokey", "str"},
           {"SDIFF", "nokey", "str"},
           {"SINTERSTORE", "dst", "s", "str"},
           {"SUNIONSTORE", "dst", "s", "str"},
           {"SDIFFSTORE", "dst", "s", "str"},
           {"SINTERCARD", "2", "nokey", "str"},
           {"SSCAN", "str", "0"},
       }) {
    EXPECT_EQ(Cmd(args), kWrongType) << args[0] << " " << args[1];
  }
  // Arguments are checked before the key; a missing source wins over a wrong destination.
  EXPECT_EQ(Cmd({"SPOP", "str", "x"}), kPositive);
  EXPECT_EQ(Cmd({"SRANDMEMBER", "str", "x"}), kNotInteger);
  EXPECT_EQ(Cmd({"SSCAN", "str", "x"}), Err("ERR invalid cursor"));
  EXPECT_EQ(Cmd({"SMOVE", "nokey", "str", "a"}), Int(0));
  EXPECT_EQ(Cmd({"GET", "str"}), Bulk("v"));
  EXPECT_FALSE(RawMetadata("dst").has_value());
}

TEST_F(SetTest, SPop) {
  EXPECT_EQ(Cmd({"SPOP", "nokey"}), kNil);
  EXPECT_EQ(Cmd({"SPOP", "nokey", "2"}), "*0\r\n");
  EXPECT_EQ(Cmd({"SPOP", "s", "-1"}), kPositive);
  EXPECT_EQ(Cmd({"SPOP", "s", "x"}), kPositive);
  EXPECT_EQ(Cmd({"SPOP", "s", "1", "2"}), kSyntax);
  Cmd({"SADD", "s", "a", "b", "c", "d", "e"});
  const std::string one = Cmd({"SPOP", "s"});
  EXPECT_EQ(one.size(), 7u);
  EXPECT_EQ(Cmd({"SCARD", "s"}), Int(4));
  EXPECT_EQ(Cmd({"SISMEMBER", "s", one.substr(4, 1)}), Int(0));
  const std::string two = Cmd({"SPOP", "s", "2"});
  ASSERT_EQ(two.substr(0, 4), "*2\r\n");
  EXPECT_NE(two.substr(4, 7), two.substr(11, 7));
  EXPECT_EQ(Cmd({"SISMEMBER", "s", two.substr(8, 1)}), Int(0));
  EXPECT_EQ(Cmd({"SISMEMBER", "s", two.substr(15, 1)}), Int(0));
  EXPECT_EQ(Cmd({"SCARD", "s"}), Int(2));
  EXPECT_EQ(Cmd({"SPOP", "s", "0"}), "*0\r\n");
  const std::string rest = Cmd({"SPOP", "s", "10"});
  EXPECT_EQ(rest.substr(0, 4), "*2\r\n");
  EXPECT_FALSE(RawMetadata("s").has_value());
}

TEST_F(SetTest, SPopIsDeterministicForASeed) {
  std::vector<std::string> args = {"SADD", "s"};
  for (int i = 0; i < 100; ++i) args.push_back("m" + std::to_string(i));
  Cmd(args);
  Cmd({"SUNIONSTORE", "copy", "s"});
  // The same command at the same seed and time on the same state pops the same members.
  seed_ = 4242;
  const std::string a = Run({"SPOP", "s", "10"});
  const std::string b = Run({"SPOP", "copy", "10"});
  EXPECT_EQ(a, b);
  EXPECT_EQ(Cmd({"SMEMBERS", "s"}), Cmd({"SMEMBERS", "copy"}));
  // Another seed pops others (with overwhelming probability).
  seed_ = 5000;
  const std::string c = Run({"SPOP", "s", "10"});
  seed_ = 6000;
  EXPECT_NE(Run({"SPOP", "copy", "10"}), c);
}

TEST_F(SetTest, SRandMember) {
  EXPECT_EQ(Cmd({"SRANDMEMBER", "nokey"}), kNil);
  EXPECT_EQ(Cmd({"SRANDMEMBER", "nokey", "-2"}), "*0\r\n");
  EXPECT_EQ(Cmd({"SRANDMEMBER", "s", "x"}), kNotInteger);
  EXPECT_EQ(Cmd({"SRANDMEMBER", "s", "-9223372036854775808"}),
            Err("ERR value is out of range, value must between -9223372036854775807 and "
                "9223372036854775807"));
  EXPECT_EQ(Cmd({"SRANDMEMBER", "s", "1", "2"}), kSyntax);
  Cmd({"SADD", "s", "a", "b", "c"});
  const std::set<std::string> members = {Bulk("a"), Bulk("b"), Bulk("c")};
  EXPECT_TRUE(members.contains(Cmd({"SRANDMEMBER", "s"})));
  EXPECT_EQ(Cmd({"SRANDMEMBER", "s", "0"}), "*0\r\n");
  EXPECT_EQ(Cmd({"SRANDMEMBER", "s", "3"}), Bulks({"a", "b", "c"}));
  const std::string two = Cmd({"SRANDMEMBER", "s", "2"});
  ASSERT_EQ(two.substr(0, 4), "*2\r\n");
  EXPECT_NE(two.substr(4, 7), two.substr(11, 7));
  const std::string many = Cmd({"SRANDMEMBER", "s", "-30"});
  ASSERT_EQ(many.substr(0, 5), "*30\r\n");
  for (size_t at = 5; at < many.size(); at += 7) EXPECT_TRUE(members.contains(many.substr(at, 7)));
  EXPECT_EQ(Cmd({"SCARD", "s"}), Int(3));

  // Deterministic for a seed and time.
  seed_ = 7;
  const std::string r = Run({"SRANDMEMBER", "s", "-10"});
  EXPECT_EQ(Run({"SRANDMEMBER", "s", "-10"}), r);
  seed_ = 8;
  EXPECT_NE(Run({"SRANDMEMBER", "s", "-10"}), r);
}

TEST_F(SetTest, SMove) {
  Cmd({"SADD", "src", "a", "b"});
  Cmd({"SADD", "dst", "b"});
  EXPECT_EQ(Cmd({"SMOVE", "src", "dst", "zz"}), Int(0));
  EXPECT_EQ(Cmd({"SMOVE", "nokey", "dst", "a"}), Int(0));
  EXPECT_EQ(Cmd({"SMOVE", "src", "src", "a"}), Int(1));
  EXPECT_EQ(Cmd({"SMOVE", "src", "src", "zz"}), Int(0));
  EXPECT_EQ(Cmd({"SMOVE", "src", "dst", "b"}), Int(1));  // already in dst
  EXPECT_EQ(Cmd({"SMEMBERS", "src"}), Bulks({"a"}));
  EXPECT_EQ(Cmd({"SMEMBERS", "dst"}), Bulks({"b"}));
  EXPECT_EQ(Cmd({"SMOVE", "src", "new", "a"}), Int(1));
  EXPECT_FALSE(RawMetadata("src").has_value());
  EXPECT_EQ(Cmd({"SMEMBERS", "new"}), Bulks({"a"}));
  EXPECT_EQ(Cmd({"SCARD", "new"}), Int(1));
  EXPECT_EQ(Cmd({"SCARD", "dst"}), Int(1));
}

TEST_F(SetTest, SInterSUnionSDiff) {
  Cmd({"SADD", "s1", "a", "b", "c", "d"});
  Cmd({"SADD", "s2", "c", "d", "e"});
  Cmd({"SADD", "s3", "d", "a"});
  EXPECT_EQ(Cmd({"SINTER", "s1", "s2"}), Bulks({"c", "d"}));
  EXPECT_EQ(Cmd({"SINTER", "s1", "s2", "s3"}), Bulks({"d"}));
  EXPECT_EQ(Cmd({"SINTER", "s1", "nokey"}), "*0\r\n");
  EXPECT_EQ(Cmd({"SUNION", "s1", "s2", "nokey"}), Bulks({"a", "b", "c", "d", "e"}));
  EXPECT_EQ(Cmd({"SUNION", "nokey"}), "*0\r\n");
  EXPECT_EQ(Cmd({"SDIFF", "s1", "s2"}), Bulks({"a", "b"}));
  EXPECT_EQ(Cmd({"SDIFF", "s1", "s2", "s3"}), Bulks({"b"}));
  EXPECT_EQ(Cmd({"SDIFF", "nokey", "s1"}), "*0\r\n");
  EXPECT_EQ(Cmd({"SDIFF", "s1"}), Bulks({"a", "b", "c", "d"}));
}

TEST_F(SetTest, StoreForms) {
  Cmd({"SADD", "s1", "a", "b", "c"});
  Cmd({"SADD", "s2", "b", "c", "d"});
  EXPECT_EQ(Cmd({"SET", "dst", "string"}), kOk);
  EXPECT_EQ(Cmd({"PEXPIRE", "dst", "100000"}), Int(1));
  EXPECT_EQ(Cmd({"SINTERSTORE", "dst", "s1", "s2"}), Int(2));
  EXPECT_EQ(Cmd({"SMEMBERS", "dst"}), Bulks({"b", "c"}));
  EXPECT_EQ(Cmd({"PTTL", "dst"}), Int(-1));
  EXPECT_EQ(Cmd({"SUNIONSTORE", "dst", "s1", "s2"}), Int(4));
  EXPECT_EQ(Cmd({"SMEMBERS", "dst"}), Bulks({"a", "b", "c", "d"}));
  EXPECT_EQ(Cmd({"SCARD", "dst"}), Int(4));
  EXPECT_EQ(Cmd({"SDIFFSTORE", "dst", "s1", "s2"}), Int(1));
  EXPECT_EQ(Cmd({"SMEMBERS", "dst"}), Bulks({"a"}));
  // The destination may be a source.
  EXPECT_EQ(Cmd({"SUNIONSTORE", "s1", "s1", "s2"}), Int(4));
  EXPECT_EQ(Cmd({"SMEMBERS", "s1"}), Bulks({"a", "b", "c", "d"}));
  // An empty result deletes the destination, whatever it held.
  EXPECT_EQ(Cmd({"SET", "str", "v"}), kOk);
  EXPECT_EQ(Cmd({"SINTERSTORE", "str", "nokey"}), Int(0));
  EXPECT_EQ(Cmd({"EXISTS", "str"}), Int(0));
  EXPECT_EQ(Cmd({"SDIFFSTORE", "dst", "s2", "s1"}), Int(0));
  EXPECT_FALSE(RawMetadata("dst").has_value());
}

TEST_F(SetTest, SInterCard) {
  Cmd({"SADD", "s1", "a", "b", "c"});
  Cmd({"SADD", "s2", "b", "c", "d"});
  EXPECT_EQ(Cmd({"SINTERCARD", "2", "s1", "s2"}), Int(2));
  EXPECT_EQ(Cmd({"SINTERCARD", "1", "s1"}), Int(3));
  EXPECT_EQ(Cmd({"SINTERCARD", "1", "s1", "LIMIT", "1"}), Int(1));
  EXPECT_EQ(Cmd({"SINTERCARD", "1", "s1", "LIMIT", "0"}), Int(3));
  EXPECT_EQ(Cmd({"SINTERCARD", "1", "s1", "limit", "1", "LIMIT", "2"}), Int(2));
  EXPECT_EQ(Cmd({"SINTERCARD", "2", "s1", "nokey"}), Int(0));
  EXPECT_EQ(Cmd({"SINTERCARD", "0", "s1"}), Err("ERR numkeys should be greater than 0"));
  EXPECT_EQ(Cmd({"SINTERCARD", "x", "s1"}), Err("ERR numkeys should be greater than 0"));
  EXPECT_EQ(Cmd({"SINTERCARD", "3", "s1"}),
            Err("ERR Number of keys can't be greater than number of args"));
  EXPECT_EQ(Cmd({"SINTERCARD", "1", "s1", "LIMIT", "-1"}), Err("ERR LIMIT can't be negative"));
  EXPECT_EQ(Cmd({"SINTERCARD", "1", "s1", "LIMIT", "x"}), Err("ERR LIMIT can't be negative"));
  EXPECT_EQ(Cmd({"SINTERCARD", "1", "s1", "LIMIT"}), kSyntax);
  EXPECT_EQ(Cmd({"SINTERCARD", "1", "s1", "foo", "1"}), kSyntax);
}

TEST_F(SetTest, SScan) {
  std::set<std::string> expected;
  std::vector<std::string> args = {"SADD", "s"};
  for (int i = 0; i < 45; ++i) {
    args.push_back("member-" + std::to_string(i));
    expected.insert(args.back());
  }
  Cmd(args);
  std::set<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    const std::string shape = Shape({"SSCAN", "s", cursor, "COUNT", "4"});
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
    for (size_t i = 3; i < parts.size(); ++i) EXPECT_TRUE(seen.insert(parts[i]).second);
    ASSERT_LT(++calls, 100);
  } while (cursor != "0");
  EXPECT_EQ(seen, expected);

  Cmd({"SADD", "t", "a1", "a2", "b1"});
  EXPECT_EQ(Cmd({"SSCAN", "t", "0", "MATCH", "a*"}), "*2\r\n" + Bulk("0") + Bulks({"a1", "a2"}));
  EXPECT_EQ(Cmd({"SSCAN", "nokey", "0"}), "*2\r\n" + Bulk("0") + "*0\r\n");
  EXPECT_EQ(Cmd({"SSCAN", "t", "0", "COUNT", "0"}), kSyntax);
  EXPECT_EQ(Cmd({"SSCAN", "t", "0", "COUNT", "x"}), kNotInteger);
  EXPECT_EQ(Cmd({"SSCAN", "t", "0", "foo"}), kSyntax);
}

}  // namespace
}  // namespace tessera::shard::data
