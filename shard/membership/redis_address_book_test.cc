// RedisAddressBook: configured entries win, announcements fill gaps and replace older ones,
// malformed announcements are ignored and learning is bounded.
#include "shard/membership/redis_address_book.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace tessera::shard {
namespace {

TEST(RedisAddressBookTest, ConfiguredWinsAndLearnedFillsGaps) {
  RedisAddressBook book(std::map<std::string, std::string>{{"10.0.0.1:5051", "10.0.0.1:6379"}});
  EXPECT_EQ(book.Lookup("10.0.0.1:5051"), "10.0.0.1:6379");
  EXPECT_EQ(book.Lookup("10.0.0.4:5051"), "");
  EXPECT_EQ(book.Learn({"10.0.0.4:5051", "10.0.0.4:5052"}, "10.0.0.4:6379"), 2u);
  EXPECT_EQ(book.Lookup("10.0.0.4:5052"), "10.0.0.4:6379");
  // An announcement never overrides the operator's map.
  book.Learn({"10.0.0.1:5051"}, "10.9.9.9:1");
  EXPECT_EQ(book.Lookup("10.0.0.1:5051"), "10.0.0.1:6379");
  // The same announcement again changes nothing; a new Redis address replaces the old one.
  EXPECT_EQ(book.Learn({"10.0.0.4:5051"}, "10.0.0.4:6379"), 0u);
  EXPECT_EQ(book.Learn({"10.0.0.4:5051"}, "10.0.0.4:7000"), 1u);
  EXPECT_EQ(book.Lookup("10.0.0.4:5051"), "10.0.0.4:7000");
  book.SetConfigured({});
  EXPECT_EQ(book.Lookup("10.0.0.1:5051"), "10.9.9.9:1");
  EXPECT_EQ(book.Entries().size(), 3u);
}

TEST(RedisAddressBookTest, MalformedAnnouncementsAreIgnored) {
  RedisAddressBook book;
  for (const char* bad : {"", "host", ":6379", "host:", "host:0", "host:65536", "host:12a", "a b:1",
                          "a,b:1", "a=b:1"}) {
    EXPECT_EQ(book.Learn({"10.0.0.4:5051"}, bad), 0u) << bad;
    EXPECT_EQ(book.Learn({bad}, "10.0.0.4:6379"), 0u) << bad;
  }
  EXPECT_EQ(book.Learn({"10.0.0.4:5051"}, std::string(300, 'a') + ":1"), 0u);
  EXPECT_EQ(book.Learn({"[::1]:5051"}, "[::1]:6379"), 1u);
  EXPECT_EQ(book.Lookup("[::1]:5051"), "[::1]:6379");
}

TEST(RedisAddressBookTest, LearningIsBounded) {
  RedisAddressBook book;
  for (size_t i = 0; i < RedisAddressBook::kMaxLearned + 10; ++i) {
    book.Learn({"h" + std::to_string(i) + ":5051"}, "10.0.0.1:6379");
  }
  EXPECT_EQ(book.Entries().size(), RedisAddressBook::kMaxLearned);
  // Updating a known entry still works when full.
  EXPECT_EQ(book.Learn({"h0:5051"}, "10.0.0.2:6379"), 1u);
  EXPECT_EQ(book.Lookup("h0:5051"), "10.0.0.2:6379");
}

}  // namespace
}  // namespace tessera::shard
