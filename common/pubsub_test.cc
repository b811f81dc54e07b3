// PubSubRegistry: confirmations byte for byte (RESP2 and RESP3), counts, unsubscribe-all,
// pattern matching with Redis globs, and the PUBSUB views.
#include "common/pubsub.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tessera::common {
namespace {

using Names = std::vector<std::string>;

TEST(PubSubRegistryTest, SubscribeConfirmsEachChannelWithTheRunningCount) {
  PubSubRegistry r;
  std::string out;
  r.Subscribe(1, Names{"a", "bb", "a"}, 2, &out);
  EXPECT_EQ(out,
            "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
            "*3\r\n$9\r\nsubscribe\r\n$2\r\nbb\r\n:2\r\n"
            "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n");
  out.clear();
  r.PSubscribe(1, Names{"n*"}, 3, &out);
  EXPECT_EQ(out, ">3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n");
  EXPECT_EQ(r.SubscriptionCount(1), 3u);
  EXPECT_EQ(r.SubscriptionCount(2), 0u);
}

TEST(PubSubRegistryTest, UnsubscribeWithoutNamesDropsEveryChannelInNameOrder) {
  PubSubRegistry r;
  std::string out;
  r.Subscribe(1, Names{"z", "a"}, 2, &out);
  r.PSubscribe(1, Names{"p*"}, 2, &out);
  out.clear();
  r.Unsubscribe(1, {}, 2, &out);
  EXPECT_EQ(out,
            "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n"
            "*3\r\n$11\r\nunsubscribe\r\n$1\r\nz\r\n:1\r\n");
  out.clear();
  // Nothing left to drop: one confirmation with a nil name and the remaining count.
  r.Unsubscribe(1, {}, 2, &out);
  EXPECT_EQ(out, "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n");
  out.clear();
  r.PUnsubscribe(1, {}, 3, &out);
  EXPECT_EQ(out, ">3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n");
  out.clear();
  r.PUnsubscribe(1, {}, 3, &out);
  EXPECT_EQ(out, ">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n");
  EXPECT_EQ(r.SubscriptionCount(1), 0u);
  EXPECT_TRUE(r.channels().empty());
  EXPECT_EQ(r.NumPat(), 0u);
}

TEST(PubSubRegistryTest, UnsubscribeFromAChannelNeverSubscribedStillConfirms) {
  PubSubRegistry r;
  std::string out;
  r.Unsubscribe(7, Names{"x"}, 2, &out);
  EXPECT_EQ(out, "*3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:0\r\n");
}

TEST(PubSubRegistryTest, ReceiversAreChannelSubscribersThenMatchingPatterns) {
  PubSubRegistry r;
  std::string out;
  r.Subscribe(1, Names{"news.art"}, 2, &out);
  r.Subscribe(2, Names{"news.art", "other"}, 2, &out);
  r.PSubscribe(1, Names{"news.*"}, 2, &out);
  r.PSubscribe(3, Names{"n?ws.[a-c]rt", "sport*"}, 2, &out);
  const std::vector<PubSubRegistry::Receiver> got = r.Receivers("news.art");
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].client, 1u);
  EXPECT_EQ(got[0].pattern, nullptr);
  EXPECT_EQ(got[1].client, 2u);
  ASSERT_NE(got[2].pattern, nullptr);
  EXPECT_EQ(*got[2].pattern, "n?ws.[a-c]rt");
  EXPECT_EQ(got[2].client, 3u);
  EXPECT_EQ(*got[3].pattern, "news.*");
  EXPECT_EQ(got[3].client, 1u);
  EXPECT_TRUE(r.Receivers("weather").empty());
  EXPECT_EQ(r.Receivers("sports").size(), 1u);
}

TEST(PubSubRegistryTest, PubSubViewsCountActiveChannelsAndDistinctPatterns) {
  PubSubRegistry r;
  std::string out;
  r.Subscribe(1, Names{"a1", "b1"}, 2, &out);
  r.Subscribe(2, Names{"a1"}, 2, &out);
  r.PSubscribe(1, Names{"x*"}, 2, &out);
  r.PSubscribe(2, Names{"x*", "y*"}, 2, &out);
  EXPECT_EQ(r.ActiveChannels(nullptr), (Names{"a1", "b1"}));
  const std::string pattern = "a*";
  EXPECT_EQ(r.ActiveChannels(&pattern), (Names{"a1"}));
  EXPECT_EQ(r.NumSub("a1"), 2u);
  EXPECT_EQ(r.NumSub("zz"), 0u);
  EXPECT_EQ(r.NumPat(), 2u);
  r.RemoveClient(2);
  EXPECT_EQ(r.NumSub("a1"), 1u);
  EXPECT_EQ(r.NumPat(), 1u);
  r.RemoveClient(1);
  EXPECT_TRUE(r.ActiveChannels(nullptr).empty());
  EXPECT_EQ(r.NumPat(), 0u);
  EXPECT_EQ(r.SubscriptionCount(1), 0u);
}

TEST(PubSubRegistryTest, MessagesMatchRedisBytes) {
  const std::string pattern = "n*";
  EXPECT_EQ(PubSubMessage(2, nullptr, "ch", "hi"),
            "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
  EXPECT_EQ(PubSubMessage(3, &pattern, "news", ""),
            ">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$0\r\n\r\n");
}

}  // namespace
}  // namespace tessera::common
