// ParseShardFlags: defaults, the --config TOML file and its override rule, and every way a
// flag set can be wrong, all reported as statuses (the parser never exits).
#include "shard/config/shard_flags.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

namespace tessera::shard {
namespace {

class ShardFlagsTest : public ::testing::Test {
 protected:
  absl::StatusOr<ShardFlags> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "tessera-shard");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return ParseShardFlags(static_cast<int>(args.size()), argv.data(), &help_);
  }

  std::string WriteConfig(const std::string& contents) {
    const std::string path = ::testing::TempDir() + "/shard_flags_test_" +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name() +
                             std::to_string(files_++) + ".toml";
    std::ofstream(path) << contents;
    return path;
  }

  static std::vector<std::string> Required() {
    return {"--raftId",  "n1",     "--raftGroups",   "1=10.0.0.1:5051",
            "--dataDir", "/tmp/d", "--redisAddress", "10.0.0.1:6379"};
  }

  static void ExpectError(const absl::StatusOr<ShardFlags>& flags,
                          std::initializer_list<std::string_view> needles) {
    ASSERT_FALSE(flags.ok());
    EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument);
    for (std::string_view needle : needles) {
      EXPECT_NE(flags.status().message().find(absl::string_view(needle.data(), needle.size())),
                absl::string_view::npos)
          << "missing \"" << needle << "\" in " << flags.status();
    }
  }

  std::string help_;
  int files_ = 0;
};

TEST_F(ShardFlagsTest, DefaultsWithRequiredFlagsOnly) {
  absl::StatusOr<ShardFlags> flags = Parse(Required());
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_FALSE(flags->help_requested);
  EXPECT_EQ(flags->raft_id, "n1");
  EXPECT_EQ(flags->raft_groups, "1=10.0.0.1:5051");
  EXPECT_EQ(flags->data_dir, "/tmp/d");
  EXPECT_EQ(flags->redis_address, "10.0.0.1:6379");
  EXPECT_EQ(flags->raft_group_peers, "");
  EXPECT_FALSE(flags->raft_bootstrap);
  EXPECT_FALSE(flags->raft_join_as_learner);
  EXPECT_EQ(flags->raft_snapshot_count, 10000u);
  EXPECT_EQ(flags->raft_log_retain_entries, 5000u);
  EXPECT_EQ(flags->raft_max_snapshot_bytes, 16ULL * 1024 * 1024 * 1024);
  EXPECT_EQ(flags->fsm_sync_mode, FsmSyncMode::kSync);
  EXPECT_EQ(flags->tick_ms, 100u);
  EXPECT_EQ(flags->election_tick_ms, 1000u);
  EXPECT_EQ(flags->election_ticks(), 10u);
  EXPECT_EQ(flags->metrics_address, "");
}

TEST_F(ShardFlagsTest, EveryFlagOnTheCommandLine) {
  std::vector<std::string> args = Required();
  for (const char* a :
       {"--raftGroupPeers=1=n1@10.0.0.1:5051,n2@10.0.0.2:5051", "--raftRedisMap",
        "10.0.0.2:5051=10.0.0.2:6379", "--raftBootstrap", "--metricsAddress", "0.0.0.0:9121",
        "--raftSnapshotCount", "123", "--raftLogRetainEntries", "0", "--raftMaxSnapshotBytes",
        "1048576", "--fsmSyncMode", "nosync", "--tickMs", "50", "--electionTickMs", "500"}) {
    args.push_back(a);
  }
  absl::StatusOr<ShardFlags> flags = Parse(args);
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->raft_group_peers, "1=n1@10.0.0.1:5051,n2@10.0.0.2:5051");
  EXPECT_EQ(flags->raft_redis_map, "10.0.0.2:5051=10.0.0.2:6379");
  EXPECT_TRUE(flags->raft_bootstrap);
  EXPECT_EQ(flags->metrics_address, "0.0.0.0:9121");
  EXPECT_EQ(flags->raft_snapshot_count, 123u);
  EXPECT_EQ(flags->raft_log_retain_entries, 0u);
  EXPECT_EQ(flags->raft_max_snapshot_bytes, 1048576u);
  EXPECT_EQ(flags->fsm_sync_mode, FsmSyncMode::kNoSync);
  EXPECT_EQ(flags->election_ticks(), 10u);

  // The membership subset resolves.
  absl::StatusOr<MembershipConfig> config = ResolveMembership(flags->membership());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bootstrap_lists.at(1).size(), 2u);

  args = Required();
  args.push_back("--raftBootstrapMembers=n1=10.0.0.1:5051,n2=10.0.0.2:5051");
  args.push_back("--raftJoinAsLearner");
  flags = Parse(args);
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->raft_bootstrap_members, "n1=10.0.0.1:5051,n2=10.0.0.2:5051");
  EXPECT_TRUE(flags->raft_join_as_learner);
  EXPECT_TRUE(flags->membership().raft_join_as_learner);
}

TEST_F(ShardFlagsTest, ExplicitlyEmptyValueDoesNotSwallowTheNextFlag) {
  std::vector<std::string> args = Required();
  args.insert(args.end(), {"--raftGroupPeers=", "--metricsAddress", "h:9121"});
  absl::StatusOr<ShardFlags> flags = Parse(args);
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->raft_group_peers, "");
  EXPECT_EQ(flags->metrics_address, "h:9121");
  // An empty flag still overrides the file.
  args = Required();
  args.insert(args.end(),
              {"--config", WriteConfig("metricsAddress = \"h:1\"\n"), "--metricsAddress="});
  flags = Parse(args);
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->metrics_address, "");
}

TEST_F(ShardFlagsTest, TomlFileWithFlagOverride) {
  const std::string path = WriteConfig(R"(
# every flag, same names without dashes
raftId = "n2"
raftGroups = "1=10.0.0.2:5051,2=10.0.0.2:5052"
raftGroupPeers = "1=n1@10.0.0.1:5051,n2@10.0.0.2:5051;2=n1@10.0.0.1:5052,n2@10.0.0.2:5052"
dataDir = "/var/lib/tessera"
redisAddress = "10.0.0.2:6379"
raftRedisMap = "10.0.0.1:5051=10.0.0.1:6379,10.0.0.1:5052=10.0.0.1:6379"
metricsAddress = "10.0.0.2:9121"
raftBootstrap = true
raftSnapshotCount = 500
raftLogRetainEntries = 100
raftMaxSnapshotBytes = 1073741824
fsmSyncMode = "nosync"
tickMs = 20
electionTickMs = 400
)");
  absl::StatusOr<ShardFlags> flags = Parse({"--config", path});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->config_path, path);
  EXPECT_EQ(flags->raft_id, "n2");
  EXPECT_EQ(flags->raft_groups, "1=10.0.0.2:5051,2=10.0.0.2:5052");
  EXPECT_EQ(flags->data_dir, "/var/lib/tessera");
  EXPECT_EQ(flags->metrics_address, "10.0.0.2:9121");
  EXPECT_TRUE(flags->raft_bootstrap);
  EXPECT_EQ(flags->raft_snapshot_count, 500u);
  EXPECT_EQ(flags->raft_log_retain_entries, 100u);
  EXPECT_EQ(flags->raft_max_snapshot_bytes, 1073741824u);
  EXPECT_EQ(flags->fsm_sync_mode, FsmSyncMode::kNoSync);
  EXPECT_EQ(flags->tick_ms, 20u);
  EXPECT_EQ(flags->election_ticks(), 20u);
  ASSERT_TRUE(ResolveMembership(flags->membership()).ok());

  // Flags override the file, in either position relative to --config.
  flags = Parse({"--raftSnapshotCount", "700", "--config", path, "--fsmSyncMode=sync",
                 "--raftBootstrap=false", "--dataDir", "/other"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->raft_snapshot_count, 700u);
  EXPECT_EQ(flags->fsm_sync_mode, FsmSyncMode::kSync);
  EXPECT_FALSE(flags->raft_bootstrap);
  EXPECT_EQ(flags->data_dir, "/other");
  EXPECT_EQ(flags->raft_id, "n2");                  // from the file
  EXPECT_EQ(flags->raft_log_retain_entries, 100u);  // from the file
}

TEST_F(ShardFlagsTest, UnknownTomlKeyRejected) {
  const std::string path = WriteConfig("raftId = \"n1\"\nraftGroup = \"1=h:1\"\n");
  ExpectError(Parse({"--config", path}), {"unknown key", "raftGroup\"", path});
  ExpectError(Parse({"--config", WriteConfig("[raft]\nraftId = \"n1\"\n")}),
              {"unknown key", "\"raft\""});
  ExpectError(Parse({"--config", WriteConfig("config = \"x.toml\"\n")}),
              {"unknown key", "\"config\""});
}

TEST_F(ShardFlagsTest, TomlTypeAndSyntaxErrors) {
  ExpectError(Parse({"--config", WriteConfig("raftSnapshotCount = \"10\"\n")}),
              {"raftSnapshotCount", "non-negative integer"});
  ExpectError(Parse({"--config", WriteConfig("raftSnapshotCount = -5\n")}),
              {"raftSnapshotCount", "non-negative integer"});
  ExpectError(Parse({"--config", WriteConfig("raftBootstrap = \"yes\"\n")}),
              {"raftBootstrap", "boolean"});
  ExpectError(Parse({"--config", WriteConfig("raftId = 7\n")}), {"raftId", "string"});
  ExpectError(Parse({"--config", WriteConfig("raftId = \n")}), {"--config", "line 1"});
  ExpectError(Parse({"--config", ::testing::TempDir() + "/does-not-exist.toml"}),
              {"does-not-exist.toml"});
}

TEST_F(ShardFlagsTest, MissingRequiredRejected) {
  ExpectError(Parse({}),
              {"missing required", "--raftId", "--raftGroups", "--dataDir", "--redisAddress"});
  absl::StatusOr<ShardFlags> flags =
      Parse({"--raftId", "n1", "--raftGroups", "1=h:1", "--redisAddress", "h:6379"});
  ExpectError(flags, {"--dataDir"});
  EXPECT_EQ(flags.status().message().find("--raftId"), absl::string_view::npos);
  // Empty counts as missing; the file can supply a required flag.
  ExpectError(
      Parse({"--raftId=", "--raftGroups", "1=h:1", "--redisAddress", "h:6379", "--dataDir", "/d"}),
      {"--raftId"});
  const std::string path = WriteConfig("dataDir = \"/from/file\"\n");
  flags = Parse(
      {"--config", path, "--raftId", "n1", "--raftGroups", "1=h:1", "--redisAddress", "h:6379"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->data_dir, "/from/file");
}

TEST_F(ShardFlagsTest, BadFsmSyncModeRejected) {
  std::vector<std::string> args = Required();
  args.push_back("--fsmSyncMode=fsync");
  ExpectError(Parse(args), {"--fsmSyncMode", "sync or nosync", "fsync"});
  args = Required();
  args.insert(args.end(), {"--config", WriteConfig("fsmSyncMode = \"SYNC\"\n")});
  ExpectError(Parse(args), {"--fsmSyncMode", "SYNC"});
}

TEST_F(ShardFlagsTest, BadNumbersAndTicksRejected) {
  auto with = [](std::initializer_list<const char*> extra) {
    std::vector<std::string> args = Required();
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  ExpectError(Parse(with({"--raftSnapshotCount", "-1"})), {"--raftSnapshotCount"});
  ExpectError(Parse(with({"--raftSnapshotCount", "12x"})), {"--raftSnapshotCount", "12x"});
  ExpectError(Parse(with({"--raftMaxSnapshotBytes", "99999999999999999999"})),
              {"--raftMaxSnapshotBytes"});
  ExpectError(Parse(with({"--raftSnapshotCount", "0"})), {"--raftSnapshotCount"});
  ExpectError(Parse(with({"--tickMs", "0"})), {"--tickMs"});
  ExpectError(Parse(with({"--electionTickMs", "150"})), {"--electionTickMs", "multiple"});
  ExpectError(Parse(with({"--electionTickMs", "100"})), {"--electionTickMs", "2 ticks"});
}

TEST_F(ShardFlagsTest, UnknownOrRepeatedFlagRejected) {
  std::vector<std::string> args = Required();
  args.push_back("--raftGroup=1=h:1");
  ExpectError(Parse(args), {"raftGroup"});
  args = Required();
  args.push_back("stray");
  ExpectError(Parse(args), {"stray"});
  args = Required();
  args.insert(args.end(), {"--raftId", "n2"});
  EXPECT_FALSE(Parse(args).ok());
}

TEST_F(ShardFlagsTest, HelpExplainsEveryFlag) {
  for (const char* flag : {"--help", "-h"}) {
    absl::StatusOr<ShardFlags> flags = Parse({flag});
    ASSERT_TRUE(flags.ok()) << flags.status();
    EXPECT_TRUE(flags->help_requested);
  }
  // Help wins over otherwise invalid input.
  absl::StatusOr<ShardFlags> flags = Parse({"--fsmSyncMode", "bogus", "--help"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_TRUE(flags->help_requested);

  for (const char* name :
       {"--config", "--raftId", "--raftGroups", "--raftGroupPeers", "--raftBootstrapMembers",
        "--raftBootstrap", "--raftJoinAsLearner", "--dataDir", "--redisAddress", "--raftRedisMap",
        "--metricsAddress", "--raftSnapshotCount", "--raftLogRetainEntries",
        "--raftMaxSnapshotBytes", "--fsmSyncMode", "--tickMs", "--electionTickMs"}) {
    // Each flag has one line that names it and says something about it.
    const size_t at = help_.find(std::string(name) + " ");
    ASSERT_NE(at, std::string::npos) << name << " not in:\n" << help_;
    const size_t eol = help_.find('\n', at);
    EXPECT_GT(eol - at, std::string(name).size() + 20) << name;
  }
  EXPECT_NE(help_.find("default 10000"), std::string::npos);
  EXPECT_NE(help_.find("sync|nosync"), std::string::npos);
}

}  // namespace
}  // namespace tessera::shard

namespace tessera::shard {
namespace {

TEST(ShardAdminFlagsTest, AdminTokenFileAndInsecure) {
  std::vector<std::string> args = {"tessera-shard",    "--raftId",       "n1",
                                   "--raftGroups",     "1=127.0.0.1:1",  "--dataDir",
                                   "/tmp/x",           "--redisAddress", "127.0.0.1:2",
                                   "--adminTokenFile", "/etc/token",     "--adminInsecure"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  absl::StatusOr<ShardFlags> flags =
      ParseShardFlags(static_cast<int>(argv.size()), argv.data(), nullptr);
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->admin_token_file, "/etc/token");
  EXPECT_TRUE(flags->admin_insecure);
}

}  // namespace
}  // namespace tessera::shard
