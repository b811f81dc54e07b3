// Admin token file loading, the loopback rule and the startup refusal.
#include "shard/admin/admin_auth.h"

#include <fstream>

#include "gtest/gtest.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

TEST(AdminAuthTest, LoopbackAddresses) {
  for (const char* a : {"127.0.0.1:5051", "127.1.2.3:1", "localhost:80", "[::1]:5051"}) {
    EXPECT_TRUE(IsLoopbackAddress(a)) << a;
  }
  for (const char* a : {"0.0.0.0:5051", "10.0.0.1:5051", "[::]:5051", "127.0.0.1.evil:1", "host:1",
                        "[fe80::1]:5"}) {
    EXPECT_FALSE(IsLoopbackAddress(a)) << a;
  }
}

TEST(AdminAuthTest, RefusesNonLoopbackWithoutTokenUnlessInsecure) {
  std::map<uint64_t, std::string> listeners = {{1, "127.0.0.1:5051"}, {2, "10.0.0.1:5052"}};
  absl::Status s = CheckAdminExposure(listeners, false, false);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("10.0.0.1:5052"), absl::string_view::npos) << s;
  EXPECT_TRUE(CheckAdminExposure(listeners, true, false).ok());
  EXPECT_TRUE(CheckAdminExposure(listeners, false, true).ok());
  EXPECT_TRUE(CheckAdminExposure({{1, "127.0.0.1:5051"}}, false, false).ok());
}

TEST(AdminAuthTest, LoadsAndChecksTheToken) {
  storage_testing::TempDir dir;
  const std::string path = dir.path() + "/token";
  std::ofstream(path) << "s3cret\n";
  absl::StatusOr<std::string> token = LoadAdminToken(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "s3cret");
  EXPECT_TRUE(AdminTokenMatches("Bearer s3cret", *token));
  EXPECT_FALSE(AdminTokenMatches("Bearer s3cre", *token));
  EXPECT_FALSE(AdminTokenMatches("s3cret", *token));
  std::ofstream(path) << "\n";
  EXPECT_FALSE(LoadAdminToken(path).ok());
  std::ofstream(path) << "two words\n";
  EXPECT_FALSE(LoadAdminToken(path).ok());
  EXPECT_FALSE(LoadAdminToken(dir.path() + "/missing").ok());
}

}  // namespace
}  // namespace tessera::shard
