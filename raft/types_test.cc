// The conf-change entry payload is replicated and persisted: pin its bytes.
#include "raft/types.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/escaping.h"

namespace tessera::raft {
namespace {

std::string Hex(const std::string& s) { return absl::BytesToHexString(s); }

TEST(ConfChangeEncodingTest, GoldenBytes) {
  ConfChange cc{ConfChangeType::kAddLearnerNode, 0x08b37b07b558d4c0, "10.0.0.1:5051"};
  // type u8 ‖ node_id u64 little-endian ‖ context bytes.
  EXPECT_EQ(Hex(EncodeConfChange(cc)), "02c0d458b5077bb308" + Hex("10.0.0.1:5051"));
  ConfChange back;
  ASSERT_TRUE(DecodeConfChange(EncodeConfChange(cc), &back));
  EXPECT_EQ(back, cc);
}

TEST(ConfChangeEncodingTest, RejectsShortOrUnknownType) {
  ConfChange cc;
  EXPECT_FALSE(DecodeConfChange(std::string(8, '\0'), &cc));
  std::string bad = EncodeConfChange(ConfChange{ConfChangeType::kRemoveNode, 7, {}});
  bad[0] = 3;
  EXPECT_FALSE(DecodeConfChange(bad, &cc));
}

}  // namespace
}  // namespace tessera::raft
