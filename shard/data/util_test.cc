// Redis's argument rules: string2ll integers, string2d/string2ld floats, ld2string's human format
// (StringsParseTest), stringmatchlen globs (KeysGlobMatchTest) and expire arguments
// (KeysExpireArgumentsTest). Expected values were checked against redis-server 7.0.15.
#include "shard/data/util.h"

#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tessera::shard::data {
namespace {

using std::string_literals::operator""s;

TEST(StringsParseTest, Int64FollowsString2ll) {
  EXPECT_EQ(ParseInt64("0"), 0);
  EXPECT_EQ(ParseInt64("123"), 123);
  EXPECT_EQ(ParseInt64("-123"), -123);
  EXPECT_EQ(ParseInt64("9223372036854775807"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ParseInt64("-9223372036854775808"), std::numeric_limits<int64_t>::min());
  for (const std::string& bad : {""s, "-"s, "-0"s, "01"s, "+1"s, " 1"s, "1 "s, "1a"s, "1.5"s,
                                 "0x10"s, "00"s, "9223372036854775808"s, "-9223372036854775809"s,
                                 "18446744073709551616"s, "99999999999999999999999"s, "1\0"s}) {
    EXPECT_EQ(ParseInt64(bad), std::nullopt) << bad;
  }
}

TEST(StringsParseTest, DoubleFollowsString2d) {
  EXPECT_EQ(ParseDouble("1.5"), 1.5);
  EXPECT_EQ(ParseDouble("-2e3"), -2000.0);
  EXPECT_EQ(ParseDouble("0x10"), 16.0);
  EXPECT_EQ(ParseDouble("inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(ParseDouble("-inf"), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(ParseDouble("1e-310").has_value());  // subnormal, not zero: kept
  for (const std::string& bad :
       {""s, "nan"s, " 1"s, "1 "s, "abc"s, "1e400"s, "-1e400"s, "1e-400"s, "1\0"s}) {
    EXPECT_EQ(ParseDouble(bad), std::nullopt) << bad;
  }
}

TEST(StringsParseTest, LongDoubleFollowsString2ld) {
  EXPECT_EQ(ParseLongDouble("10.5"), 10.5L);
  EXPECT_TRUE(ParseLongDouble("1e400").has_value());  // x87 long double range
  EXPECT_EQ(ParseLongDouble("inf"), std::numeric_limits<long double>::infinity());
  // Redis 7.0.15 (checked against redis-server): an embedded NUL makes the value invalid.
  EXPECT_EQ(ParseLongDouble("1\0abc"s), std::nullopt);
  EXPECT_EQ(ParseLongDouble("\0\0"s), std::nullopt);
  for (const std::string& bad :
       {""s, "nan"s, " 1"s, "1 "s, "abc"s, "1e5000"s, "1e-5000"s, "1." + std::string(5118, '0')}) {
    EXPECT_EQ(ParseLongDouble(bad), std::nullopt) << bad.substr(0, 20);
  }
  EXPECT_EQ(ParseLongDouble("1." + std::string(5117, '0')), 1.0L);  // 5119 bytes fit
}

TEST(StringsParseTest, FormatLongDoubleIsLd2stringHuman) {
  EXPECT_EQ(FormatLongDouble(3.0L), "3");
  EXPECT_EQ(FormatLongDouble(0.5L), "0.5");
  EXPECT_EQ(FormatLongDouble(-2.5L), "-2.5");
  EXPECT_EQ(FormatLongDouble(-0.0L), "0");
  EXPECT_EQ(FormatLongDouble(-1e-20L), "0");  // "-0.00000000000000000" trimmed to "-0"
  EXPECT_EQ(FormatLongDouble(1e20L), "100000000000000000000");
  EXPECT_EQ(FormatLongDouble(10.5L + 0.1L), "10.6");
  EXPECT_EQ(FormatLongDouble(std::numeric_limits<long double>::infinity()), "inf");
  EXPECT_EQ(FormatLongDouble(-std::numeric_limits<long double>::infinity()), "-inf");
  EXPECT_EQ(FormatLongDouble(std::numeric_limits<long double>::max()).size(), 4933u);
}

struct GlobCase {
  std::string pattern;
  std::string text;
  bool match;
};

TEST(KeysGlobMatchTest, MatchesLikeStringmatchlen) {
  const std::vector<GlobCase> cases = {
      {"", "", true},
      {"", "a", false},
      {"*", "", false},  // Redis's loop never runs on an empty text
      {"*", "abc", true},
      {"**", "abc", true},
      {"a*", "a", true},
      {"a*", "abc", true},
      {"*c", "abc", true},
      {"*b", "abc", false},
      {"a*b*c", "axxbyyc", true},
      {"a*b*c", "axxbyy", false},
      {"a?c", "abc", true},
      {"a?c", "ac", false},
      {"?", "", false},
      {"[abc]", "b", true},
      {"[abc]", "d", false},
      {"[^a]", "b", true},
      {"[^a]", "a", false},
      {"[a-c]", "b", true},
      {"[c-a]", "b", true},  // reversed bounds are swapped
      {"[a-c]", "d", false},
      {"[a-]]", "a]", false},  // the class is [a-]] ... then nothing is left for ']'
      {"[\\]]", "]", true},
      {"[\\-]", "-", true},
      {"[a\\-c]", "b", false},
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"\\?x", "?x", true},
      {"x\\", "x", false},
      {"x\\", "x\\", true},
      {"[", "a", false},
      {"[^", "a", true},  // an unclosed negated empty class matches any byte
      {"[abc", "b", true},
      {"[abc", "bc", false},
      {"h[ae]llo", "hello", true},
      {"h[^e]llo", "hello", false},
      {"h*llo", "hllo", true},
      {"\xe9", "\xe9", true},
      {"[\xe0-\xf0]", "\xe9", true},
      {"[a-\xff]", "\xe9", false},     // bytes compare as signed chars: [-1, 'a']
      {"[\x01-\xff]", "\xe9", false},  // [-1, 1]
      {"[\x01-\xff]", "\x01", true},
      {"a\0b"s, "a\0b"s, true},
      {"a?b", "a\0b"s, true},
  };
  for (const GlobCase& c : cases) {
    EXPECT_EQ(GlobMatch(c.pattern, c.text), c.match)
        << "pattern '" << c.pattern << "' text '" << c.text << "'";
  }
}

TEST(KeysGlobMatchTest, NoCase) {
  EXPECT_TRUE(GlobMatch("A*", "abc", true));
  EXPECT_FALSE(GlobMatch("A*", "abc", false));
  EXPECT_TRUE(GlobMatch("[A-C]x", "bX", true));
  EXPECT_TRUE(GlobMatch("[abc]", "B", true));
}

TEST(KeysGlobMatchTest, NestingLimitAndBacktrackingBound) {
  const std::string text(3000, 'a');
  std::string pattern;
  for (int i = 0; i < 1000; ++i) pattern += "*a";
  EXPECT_TRUE(GlobMatch(pattern, text));
  EXPECT_FALSE(GlobMatch(pattern + "*a", text));  // 1001 nested '*': Redis gives up
  EXPECT_TRUE(GlobMatch(pattern + "*", text));    // a final '*' does not nest
  // Exponential without the early exit after a failed suffix.
  EXPECT_FALSE(GlobMatch("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", std::string(200, 'a')));
}

TEST(KeysGlobMatchTest, EqualsIgnoreCase) {
  EXPECT_TRUE(EqualsIgnoreCase("KeepTTL", "keepttl"));
  EXPECT_FALSE(EqualsIgnoreCase("keepttl", "keepttlx"));
  EXPECT_FALSE(EqualsIgnoreCase("ex", "ep"));
}

TEST(KeysExpireArgumentsTest, StringExpireTime) {
  std::string error;
  EXPECT_EQ(ParseStringExpireTime("10", TimeUnit::kSeconds, true, 1000, "set", &error), 11000);
  EXPECT_EQ(ParseStringExpireTime("10", TimeUnit::kMilliseconds, true, 1000, "set", &error), 1010);
  EXPECT_EQ(ParseStringExpireTime("10", TimeUnit::kSeconds, false, 1000, "set", &error), 10000);
  EXPECT_EQ(ParseStringExpireTime("9223372036854775807", TimeUnit::kMilliseconds, false, 1000,
                                  "set", &error),
            std::numeric_limits<int64_t>::max());
  struct Bad {
    std::string arg;
    TimeUnit unit;
    bool relative;
    std::string error;
  };
  const std::vector<Bad> bad = {
      {"0", TimeUnit::kSeconds, true, "ERR invalid expire time in 'set' command"},
      {"-1", TimeUnit::kMilliseconds, false, "ERR invalid expire time in 'set' command"},
      {"abc", TimeUnit::kSeconds, true, "ERR value is not an integer or out of range"},
      {"9223372036854776", TimeUnit::kSeconds, false, "ERR invalid expire time in 'set' command"},
      {"9223372036854775", TimeUnit::kSeconds, true, "ERR invalid expire time in 'set' command"},
      {"9223372036854775807", TimeUnit::kMilliseconds, true,
       "ERR invalid expire time in 'set' command"},
  };
  for (const Bad& b : bad) {
    error.clear();
    EXPECT_EQ(ParseStringExpireTime(b.arg, b.unit, b.relative, 1'000'000, "set", &error),
              std::nullopt)
        << b.arg;
    EXPECT_EQ(error, b.error) << b.arg;
  }
}

TEST(KeysExpireArgumentsTest, KeyExpireTime) {
  std::string error;
  EXPECT_EQ(ParseKeyExpireTime("-5", TimeUnit::kSeconds, 1000, "expire", &error), -4000);
  EXPECT_EQ(ParseKeyExpireTime("9223372036854775", TimeUnit::kSeconds, 0, "expireat", &error),
            9223372036854775000);
  EXPECT_EQ(
      ParseKeyExpireTime("-9223372036854775808", TimeUnit::kMilliseconds, 0, "pexpireat", &error),
      std::numeric_limits<int64_t>::min());
  EXPECT_EQ(ParseKeyExpireTime("9223372036854776", TimeUnit::kSeconds, 0, "expire", &error),
            std::nullopt);
  EXPECT_EQ(error, "ERR invalid expire time in 'expire' command");
  EXPECT_EQ(ParseKeyExpireTime("-9223372036854776", TimeUnit::kSeconds, 0, "expire", &error),
            std::nullopt);
  EXPECT_EQ(ParseKeyExpireTime("9223372036854775", TimeUnit::kSeconds, 1'000'000, "expire", &error),
            std::nullopt);
  EXPECT_EQ(
      ParseKeyExpireTime("9223372036854775807", TimeUnit::kMilliseconds, 1, "pexpire", &error),
      std::nullopt);
  EXPECT_EQ(error, "ERR invalid expire time in 'pexpire' command");
  EXPECT_EQ(ParseKeyExpireTime("1.5", TimeUnit::kSeconds, 0, "expire", &error), std::nullopt);
  EXPECT_EQ(error, "ERR value is not an integer or out of range");
}

TEST(KeysExpireArgumentsTest, Conditions) {
  std::string error;
  auto parse = [&](std::vector<std::string_view> options) {
    error.clear();
    return ParseExpireConditions(options, &error);
  };
  EXPECT_TRUE(parse({}).has_value());
  EXPECT_TRUE(parse({"nx"}).has_value());
  EXPECT_TRUE(parse({"XX", "gt"}).has_value());
  EXPECT_TRUE(parse({"xx", "LT"}).has_value());
  EXPECT_TRUE(parse({"gt", "gt"}).has_value());
  EXPECT_FALSE(parse({"nx", "xx"}).has_value());
  EXPECT_EQ(error, "ERR NX and XX, GT or LT options at the same time are not compatible");
  EXPECT_FALSE(parse({"nx", "gt"}).has_value());
  EXPECT_EQ(error, "ERR NX and XX, GT or LT options at the same time are not compatible");
  EXPECT_FALSE(parse({"gt", "lt"}).has_value());
  EXPECT_EQ(error, "ERR GT and LT options at the same time are not compatible");
  EXPECT_FALSE(parse({"nx", "foo"}).has_value());
  EXPECT_EQ(error, "ERR Unsupported option foo");
  EXPECT_FALSE(parse({"a\r\nb"}).has_value());
  EXPECT_EQ(error, "ERR Unsupported option a  b");

  ExpireConditions none;
  EXPECT_TRUE(none.Allow(0, 5));
  EXPECT_TRUE(none.Allow(9, 5));
  ExpireConditions nx{.nx = true};
  EXPECT_TRUE(nx.Allow(0, 5));
  EXPECT_FALSE(nx.Allow(9, 5));
  ExpireConditions xx{.xx = true};
  EXPECT_FALSE(xx.Allow(0, 5));
  EXPECT_TRUE(xx.Allow(9, 5));
  ExpireConditions gt{.gt = true};
  EXPECT_FALSE(gt.Allow(0, 5));  // no TTL counts as infinite
  EXPECT_FALSE(gt.Allow(9, 9));
  EXPECT_TRUE(gt.Allow(9, 10));
  ExpireConditions lt{.lt = true};
  EXPECT_TRUE(lt.Allow(0, 5));
  EXPECT_FALSE(lt.Allow(9, 9));
  EXPECT_TRUE(lt.Allow(9, 8));
}

}  // namespace
}  // namespace tessera::shard::data
