// DeriveNodeId pins: FNV-1a 64 of the raft id, identical on every node and tool.
#include "shard/membership/node_id.h"

#include <gtest/gtest.h>

namespace tessera::shard {
namespace {

TEST(NodeIdTest, SpecExamples) {
  EXPECT_EQ(DeriveNodeId("n1"), 0x08b37b07b558d4c0ULL);
  EXPECT_EQ(DeriveNodeId("n2"), 0x08b37e07b558d9d9ULL);
}

TEST(NodeIdTest, EmptyIsOffsetBasis) { EXPECT_EQ(DeriveNodeId(""), 0xcbf29ce484222325ULL); }

TEST(NodeIdTest, ReferenceVectors) {
  // Published FNV-1a 64 test vectors.
  EXPECT_EQ(DeriveNodeId("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(DeriveNodeId("foobar"), 0x85944171f73967e8ULL);
}

}  // namespace
}  // namespace tessera::shard
