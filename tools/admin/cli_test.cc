// tessera-admin run in-process against a RaftAdmin server on 127.0.0.1 with a fake engine:
// outputs, argument shapes, skip-flag spellings, usage and exit codes.
#include "tools/admin/cli.h"
#include "tools/admin/slots.h"

#include <sstream>

#include "gtest/gtest.h"
#include "raft/errors.h"
#include "shard/admin/admin_testing.h"
#include "shard/admin/fake_raft_admin.h"

namespace tessera::tools {
namespace {

using shard::admin_testing::FakeRaftAdmin;
using shard::admin_testing::TestAdminServer;

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun Cli(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int code = RunAdminCli(args, out, err);
  return CliRun{code, out.str(), err.str()};
}

class RaftCliTest : public ::testing::Test {
 protected:
  FakeRaftAdmin fake_;
  TestAdminServer server_{&fake_};
  std::vector<std::string> Raft(std::vector<std::string> rest) {
    std::vector<std::string> args = {"--timeout-ms=5000", "raft", server_.address()};
    args.insert(args.end(), rest.begin(), rest.end());
    return args;
  }
};

TEST_F(RaftCliTest, AddLearnerPrintsIndex) {
  CliRun r = Cli(Raft({"add_learner", "n4", "10.0.0.4:5051", "17"}));
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "index: 42\n");
  auto calls = fake_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "AddLearner");
  EXPECT_EQ(calls[0].address, "10.0.0.4:5051");
  EXPECT_EQ(calls[0].previous_index, 17u);
  r = Cli({"--json", "raft", server_.address(), "add_voter", "n5", "10.0.0.5:5051"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "{\"index\":42}\n");
}

TEST_F(RaftCliTest, PromoteLearnerPrintsIndex) {
  CliRun r = Cli(Raft({"promote_learner", "n4", "0", "1234"}));
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "index: 42\n");
  ASSERT_EQ(fake_.calls().size(), 1u);
  EXPECT_EQ(fake_.calls()[0].min_applied_index, 1234u);
  EXPECT_FALSE(fake_.calls()[0].skip);
  // Without min_applied_index and without the skip flag: refused before any call.
  r = Cli(Raft({"promote_learner", "n4"}));
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("min_applied_index is required unless skip_min_applied_check=true"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(fake_.calls().size(), 1u);
}

TEST_F(RaftCliTest, SkipFlagParsing) {
  for (const char* yes : {"true", "1", "yes"}) {
    bool v = false;
    EXPECT_TRUE(ParseSkipFlag(yes, &v));
    EXPECT_TRUE(v) << yes;
  }
  for (const char* no : {"false", "0", "no", ""}) {
    bool v = true;
    EXPECT_TRUE(ParseSkipFlag(no, &v));
    EXPECT_FALSE(v) << no;
  }
  bool v = false;
  EXPECT_FALSE(ParseSkipFlag("maybe", &v));
  for (const char* spelling : {"true", "false", "1", "0", "yes", "no"}) {
    CliRun r = Cli(Raft({"promote_learner", "n4", "0", "10", spelling}));
    EXPECT_EQ(r.code, kExitOk) << spelling << ": " << r.err;
  }
  CliRun r = Cli(Raft({"promote_learner", "n4", "0", "10", "maybe"}));
  EXPECT_EQ(r.code, kExitUsage);
  r = Cli(Raft({"promote_learner", "n4", "0", "0", "yes"}));  // skip without min: allowed
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(fake_.calls().back().skip);
}

TEST_F(RaftCliTest, UsageListsAllSubcommands) {
  CliRun r = Cli({"raft", server_.address()});
  EXPECT_EQ(r.code, kExitUsage);
  for (const char* sub :
       {"status", "leader", "config", "overview", "add_voter", "add_learner", "promote_learner",
        "remove_server", "transfer_leadership", "wipe-group"}) {
    EXPECT_NE(r.err.find(sub), std::string::npos) << sub;
  }
  EXPECT_EQ(Cli({}).code, kExitUsage);
  EXPECT_EQ(Cli(Raft({"frobnicate"})).code, kExitUsage);
  EXPECT_EQ(Cli(Raft({"add_voter", "n4"})).code, kExitUsage);            // address missing
  EXPECT_EQ(Cli(Raft({"remove_server", "n4", "x1"})).code, kExitUsage);  // bad index
  EXPECT_EQ(Cli({"--help"}).code, kExitOk);
}

TEST_F(RaftCliTest, HelpExplainsEveryCommandOptionAndExitCode) {
  CliRun r = Cli({"--help"});
  ASSERT_EQ(r.code, kExitOk);
  for (const char* text :
       {"  status\n      ", "  promote_learner <id>", "\n      make a caught-up learner",
        "  slots <listener-addr> assign", "  encryption --addr=", "  --token-file=FILE  ",
        "  --timeout-ms=N  ", "  --max-lag=N  ", "exit status: 0 done",
        "3 the listener is "
        "unreachable",
        "docs/raft_learner_operations.md"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text;
  }
}

TEST_F(RaftCliTest, ErrorsAndExitCodes) {
  fake_.next_error = raft::RaftError(raft::RaftErrc::kPromoteLearnerNotCaughtUp, "match 3 < 10");
  CliRun r = Cli(Raft({"promote_learner", "n4", "0", "10"}));
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_EQ(r.err, "error: FAILED_PRECONDITION: kPromoteLearnerNotCaughtUp: match 3 < 10\n");
  fake_.next_error = absl::OkStatus();
  // Nobody listening: unreachable.
  r = Cli({"--timeout-ms=300", "raft", "127.0.0.1:1", "status"});
  EXPECT_EQ(r.code, kExitUnreachable) << r.err;
}

TEST_F(RaftCliTest, StatusConfigLeaderOverviewTransfer) {
  fake_.status.role = shard::AdminRole::kLeader;
  fake_.status.leader_id = shard::DeriveNodeId("n1");
  fake_.status.leader_raft_id = "n1";
  fake_.status.leader_address = "127.0.0.1:5051";
  fake_.status.term = 3;
  fake_.status.commit_index = 99;
  shard::PeerProgress p;
  p.node_id = shard::DeriveNodeId("n4");
  p.raft_id = "n4";
  p.voter = false;
  p.match = 97;
  fake_.status.peers.push_back(p);
  fake_.configuration.index = 12;
  fake_.configuration.servers = {
      shard::Server{shard::DeriveNodeId("n1"), "n1", "127.0.0.1:5051", true},
      shard::Server{shard::DeriveNodeId("n4"), "n4", "127.0.0.1:5451", false}};

  CliRun r = Cli(Raft({"status"}));
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("LEADER"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("n4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("97"), std::string::npos) << r.out;
  r = Cli({"--json", "raft", server_.address(), "status"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_NE(r.out.find("\"commit_index\": \"99\""), std::string::npos) << r.out;

  r = Cli(Raft({"config"}));
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_NE(r.out.find("configuration_index: 12"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("learner"), std::string::npos) << r.out;

  r = Cli(Raft({"leader"}));
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "leader: n1 127.0.0.1:5051 (term 3)\n");

  r = Cli(Raft({"overview"}));
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("NODE"), std::string::npos) << r.out;

  r = Cli(Raft({"transfer_leadership", "--to=n4@127.0.0.1:5451", "--gated", "--max-lag=7"}));
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "transferee: n4\n");
  const auto t = fake_.calls().back().transfer;
  EXPECT_EQ(t.target.raft_id, "n4");
  EXPECT_EQ(t.target.address, "127.0.0.1:5451");
  EXPECT_TRUE(t.gated);
  EXPECT_EQ(t.max_lag, 7u);
  r = Cli(Raft({"transfer_leadership", "--candidates=n2,n3"}));
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(fake_.calls().back().transfer.candidates.size(), 2u);
  r = Cli(Raft({"remove_server", "n4", "12"}));
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "index: 42\n");
}

TEST(RaftCliWipeGroupTest, WipesAStoppedBootstrapEraGroupOnce) {
  shard::admin_testing::AdminCluster cluster(1, 0);
  cluster.StartAll();
  ASSERT_EQ(cluster.Leader(1), 0);
  const std::string dir = cluster.node(0).dir->path();
  cluster.Stop(0);
  CliRun r = Cli({"raft", "wipe-group", "--data-dir=" + dir, "--group=1"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "wiped group 1 in " + dir + ": 0 client entries, 0 snapshot files\n");
  r = Cli({"raft", "wipe-group", "--data-dir=" + dir, "--group=1"});
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos) << r.err;
  EXPECT_EQ(Cli({"raft", "wipe-group", "--group=1"}).code, kExitUsage);
}

}  // namespace
}  // namespace tessera::tools

namespace tessera::tools {
namespace {

TEST(SlotsCliTest, RecognisedAfterGlobalOptionsAndArgumentsChecked) {
  EXPECT_TRUE(IsSlotsCommand({"slots", "127.0.0.1:1", "show"}));
  EXPECT_TRUE(IsSlotsCommand({"--json", "--timeout-ms", "5", "slots", "a", "show"}));
  EXPECT_TRUE(IsSlotsCommand({"--token-file=/t", "slots", "a", "show"}));
  EXPECT_FALSE(IsSlotsCommand({"raft", "a", "status"}));
  EXPECT_FALSE(IsSlotsCommand({}));
  CliRun r = Cli({"slots", "127.0.0.1:1", "assign", "10", "5", "2"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("first must not exceed last"), std::string::npos) << r.err;
  r = Cli({"slots", "127.0.0.1:1", "assign", "10", "16384", "2"});
  EXPECT_EQ(r.code, kExitUsage) << r.err;
  r = Cli({"slots", "127.0.0.1:1"});
  EXPECT_EQ(r.code, kExitUsage) << r.err;
  // Nothing listens there: no answer at all.
  r = Cli({"--timeout-ms=300", "slots", "127.0.0.1:1", "show"});
  EXPECT_EQ(r.code, kExitUnreachable) << r.err;
}

}  // namespace
}  // namespace tessera::tools
