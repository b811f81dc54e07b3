// EncryptionCliTest: tessera-admin encryption against an in-process EncryptionAdmin server on
// 127.0.0.1 (exit codes, output lines, refused subcommands).
#include "tools/admin/encryption_cli.h"

#include <grpcpp/grpcpp.h>

#include <sstream>

#include "gtest/gtest.h"
#include "shard/encryption/admin_service.h"

namespace tessera::tools {
namespace {

class EncryptionCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shard::encryption::EncryptionAdminOptions o;
    o.listener_group = 1;
    o.default_group = 1;
    o.node_id = 42;
    service_ = std::make_unique<shard::encryption::EncryptionAdminService>(std::move(o));
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override { server_->Shutdown(); }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return RunEncryptionCli(args, out_, err_);
  }
  std::string Addr() const { return "--addr=127.0.0.1:" + std::to_string(port_); }

  std::unique_ptr<shard::encryption::EncryptionAdminService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::ostringstream out_, err_;
};

TEST_F(EncryptionCliTest, StatusOfADisabledNode) {
  EXPECT_EQ(Run({Addr(), "status"}), 0) << err_.str();
  EXPECT_NE(out_.str().find("node_id: 42"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("encryption_capable: false"), std::string::npos);
  EXPECT_NE(out_.str().find("mutators_enabled: false"), std::string::npos);
}

TEST_F(EncryptionCliTest, MutatorRefusedIsExitOneWithCode) {
  EXPECT_EQ(Run({Addr(), "enable-storage-envelope"}), 1);
  EXPECT_EQ(err_.str(), "error: FAILED_PRECONDITION: proposer is not configured\n");
  EXPECT_EQ(Run({Addr(), "rotate-dek", "--purpose=storage"}), 1);
}

TEST_F(EncryptionCliTest, UsageErrorsAreExitTwo) {
  EXPECT_EQ(Run({"status"}), 2);                             // no --addr
  EXPECT_EQ(Run({Addr()}), 2);                               // no subcommand
  EXPECT_EQ(Run({Addr(), "rotate-dek"}), 2);                 // no --purpose
  EXPECT_EQ(Run({Addr(), "rotate-dek", "--purpose=x"}), 2);  // bad purpose
  EXPECT_EQ(Run({Addr(), "resync-sidecar"}), 2);             // no --caller-node-id
  EXPECT_EQ(Run({Addr(), "capability"}), 2);                 // a preview is always --all
  EXPECT_EQ(Run({Addr(), "enable-raft-envelope", "--group=1", "--all-groups"}), 2);
}

TEST_F(EncryptionCliTest, AllNeedsTheClusterOverview) {
  // This listener serves EncryptionAdmin only: the overview's RPC error is exit 1, not a crash.
  EXPECT_EQ(Run({Addr(), "status", "--all"}), 1);
  EXPECT_EQ(err_.str().rfind("error: UNIMPLEMENTED", 0), 0u) << err_.str();
  EXPECT_EQ(Run({Addr(), "enable-raft-envelope", "--all-groups"}), 1);
  EXPECT_EQ(Run({Addr(), "capability", "--all"}), 1);
}

TEST_F(EncryptionCliTest, NoWayBackSubcommandsRefuse) {
  for (const char* sub : {"disable", "rewrap-deks", "retire-dek"}) {
    EXPECT_EQ(Run({Addr(), sub}), 1) << sub;
    EXPECT_NE(err_.str().find("error: FAILED_PRECONDITION"), std::string::npos);
  }
}

TEST_F(EncryptionCliTest, UnreachableIsAnRpcError) {
  EXPECT_EQ(Run({"--addr=127.0.0.1:1", "--timeout-ms=500", "bootstrap"}), 1);
  EXPECT_EQ(err_.str().rfind("error: ", 0), 0u) << err_.str();
}

}  // namespace
}  // namespace tessera::tools
