// The slot function against Redis Cluster's published vectors (cluster-spec and
// CLUSTER KEYSLOT answers of redis-server).
#include "routing/slot.h"

#include "gtest/gtest.h"

namespace tessera::routing {
namespace {

TEST(SlotTest, Crc16CheckValue) {
  EXPECT_EQ(Crc16("123456789"), 0x31C3);
  EXPECT_EQ(Crc16(""), 0);
}

TEST(SlotTest, PlainKeys) {
  EXPECT_EQ(SlotForKey("foo"), 12182);
  EXPECT_EQ(SlotForKey("bar"), 5061);
  EXPECT_EQ(SlotForKey(""), 0);
}

TEST(SlotTest, HashTagsColocateKeys) {
  EXPECT_EQ(SlotForKey("{user1000}.following"), SlotForKey("{user1000}.followers"));
  EXPECT_EQ(SlotForKey("{user1000}.following"), SlotForKey("user1000"));
  EXPECT_EQ(SlotForKey("x{foo}y"), 12182);
}

TEST(SlotTest, HashTagEdgeCases) {
  // Empty first tag: the whole key is hashed.
  EXPECT_EQ(SlotForKey("foo{}{bar}"), Crc16("foo{}{bar}") % kSlotCount);
  EXPECT_NE(SlotForKey("foo{}{bar}"), SlotForKey("bar"));
  // The tag runs from the first '{' to the first '}' after it.
  EXPECT_EQ(SlotForKey("foo{{bar}}zap"), SlotForKey("{bar"));
  EXPECT_EQ(SlotForKey("foo{{bar}}zap"), Crc16("{bar") % kSlotCount);
  EXPECT_EQ(SlotForKey("foo{bar}{zap}"), SlotForKey("bar"));
  // No closing brace: whole key.
  EXPECT_EQ(SlotForKey("foo{bar"), Crc16("foo{bar") % kSlotCount);
  EXPECT_EQ(SlotForKey("}foo{"), Crc16("}foo{") % kSlotCount);
}

TEST(SlotTest, BinaryKeysAndRange) {
  const std::string key("a\0b\xff", 4);
  EXPECT_LT(SlotForKey(key), kSlotCount);
  EXPECT_EQ(SlotForKey(key), Crc16(key) % kSlotCount);
}

}  // namespace
}  // namespace tessera::routing
