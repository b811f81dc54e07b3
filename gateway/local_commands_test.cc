// The gateway's connection commands: HELLO in both protocols, AUTH, SELECT, CLIENT, QUIT,
// RESET, and what goes to a shard instead.
#include "gateway/local_commands.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tessera::gateway {
namespace {

class LocalCommandsTest : public ::testing::Test {
 protected:
  LocalOutcome Run(const std::vector<std::string>& argv, std::string* out) {
    absl::StatusOr<const routing::CommandSpec*> spec = routing::ResolveCommand(argv);
    EXPECT_TRUE(spec.ok()) << spec.status();
    out->clear();
    return RunLocalCommand(**spec, argv, ctx_, &session_, out);
  }
  std::string Reply(const std::vector<std::string>& argv) {
    std::string out;
    Run(argv, &out);
    return out;
  }

  void SetUp() override {
    ctx_.id = 7;
    ctx_.peer = "127.0.0.1:5000";
  }

  LocalContext ctx_;
  Session session_;
};

TEST_F(LocalCommandsTest, PingEchoSelect) {
  EXPECT_EQ(Reply({"PING"}), "+PONG\r\n");
  EXPECT_EQ(Reply({"PING", "x"}), "$1\r\nx\r\n");
  EXPECT_EQ(Reply({"ECHO", "hi"}), "$2\r\nhi\r\n");
  EXPECT_EQ(Reply({"SELECT", "0"}), "+OK\r\n");
  EXPECT_EQ(Reply({"SELECT", "1"}), "-ERR DB index is out of range\r\n");
}

TEST_F(LocalCommandsTest, HelloSwitchesTheProtocol) {
  const std::string r3 = Reply({"HELLO", "3", "SETNAME", "app"});
  EXPECT_TRUE(r3.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")) << r3;
  EXPECT_NE(r3.find("$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n"), std::string::npos);
  EXPECT_EQ(session_.protocol, common::resp::Protocol::kResp3);
  EXPECT_EQ(session_.name, "app");
  EXPECT_EQ(Reply({"CLIENT", "GETNAME"}), "$3\r\napp\r\n");
  EXPECT_TRUE(Reply({"HELLO", "2"}).starts_with("*14\r\n"));
  EXPECT_EQ(Reply({"HELLO", "4"}), "-NOPROTO unsupported protocol version\r\n");
  EXPECT_EQ(Reply({"CLIENT", "ID"}), ":7\r\n");
}

TEST_F(LocalCommandsTest, AuthAgainstRequirepass) {
  EXPECT_TRUE(Reply({"AUTH", "x"}).starts_with("-ERR AUTH <password> called without"));
  ctx_.requirepass = "secret";
  EXPECT_EQ(Reply({"AUTH", "bad"}),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  EXPECT_FALSE(session_.authenticated);
  EXPECT_TRUE(Reply({"HELLO", "3"}).starts_with("-NOAUTH"));
  EXPECT_EQ(Reply({"AUTH", "default", "secret"}), "+OK\r\n");
  EXPECT_TRUE(session_.authenticated);
  EXPECT_EQ(Reply({"RESET"}), "+RESET\r\n");
  EXPECT_FALSE(session_.authenticated);
}

TEST_F(LocalCommandsTest, QuitClosesAndServerCommandsGoToAShard) {
  std::string out;
  EXPECT_EQ(Run({"QUIT"}, &out), LocalOutcome::kClose);
  EXPECT_EQ(out, "+OK\r\n");
  EXPECT_EQ(Run({"TIME"}, &out), LocalOutcome::kForward);
  EXPECT_EQ(Run({"COMMAND", "COUNT"}, &out), LocalOutcome::kForward);
  EXPECT_EQ(Run({"CONFIG", "GET", "x"}, &out), LocalOutcome::kForward);
}

TEST_F(LocalCommandsTest, PubSubIsRefusedNotForwardedOverSharedConnections) {
  EXPECT_EQ(Reply({"SUBSCRIBE", "ch"}),
            "-ERR 'subscribe' is not served through the gateway yet; use a shard's Redis "
            "listener\r\n");
  std::string out;
  EXPECT_EQ(Run({"PUBLISH", "ch", "m"}, &out), LocalOutcome::kForward);
  EXPECT_TRUE(Reply({"PUBSUB", "NUMPAT"}).starts_with("-ERR 'pubsub|numpat' is not served"));
}

TEST_F(LocalCommandsTest, ClientNamesAndKill) {
  EXPECT_EQ(Reply({"CLIENT", "SETNAME", "bad name"}),
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
  EXPECT_EQ(Reply({"CLIENT", "GETNAME"}), "$-1\r\n");
  int killed_calls = 0;
  ctx_.kill = [&](std::string_view field, std::string_view value) {
    ++killed_calls;
    return field == "id" && value == "9" ? 1 : 0;
  };
  EXPECT_EQ(Reply({"CLIENT", "KILL", "ID", "9"}), ":1\r\n");
  EXPECT_EQ(Reply({"CLIENT", "KILL", "1.2.3.4:5"}), "-ERR No such client\r\n");
  EXPECT_EQ(killed_calls, 2);
  const std::string info = Reply({"CLIENT", "INFO"});
  EXPECT_NE(info.find("id=7 addr=127.0.0.1:5000"), std::string::npos) << info;
}

}  // namespace
}  // namespace tessera::gateway
