// RESP2 shard replies rendered for RESP3 clients: nulls, maps, sets, doubles, score pairs;
// RESP2 clients get the bytes unchanged.
#include "gateway/resp3.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tessera::gateway {
namespace {

using common::resp::Protocol;

std::string Render(const std::vector<std::string>& argv, const std::string& resp2,
                   Protocol protocol = Protocol::kResp3) {
  absl::StatusOr<const routing::CommandSpec*> spec = routing::ResolveCommand(argv);
  EXPECT_TRUE(spec.ok());
  std::string out;
  RenderReply(resp2, protocol, ShapeFor(**spec, argv), &out);
  return out;
}

TEST(Resp3Test, Resp2ClientsGetTheShardBytes) {
  EXPECT_EQ(Render({"HGETALL", "h"}, "*2\r\n$1\r\nf\r\n$1\r\nv\r\n", Protocol::kResp2),
            "*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
  EXPECT_EQ(Render({"GET", "k"}, "$-1\r\n", Protocol::kResp2), "$-1\r\n");
}

TEST(Resp3Test, NullsBecomeUnderscore) {
  EXPECT_EQ(Render({"GET", "k"}, "$-1\r\n"), "_\r\n");
  EXPECT_EQ(Render({"MGET", "a", "b"}, "*2\r\n$-1\r\n$1\r\nx\r\n"), "*2\r\n_\r\n$1\r\nx\r\n");
  EXPECT_EQ(Render({"GET", "k"}, "$1\r\nv\r\n"), "$1\r\nv\r\n");
  EXPECT_EQ(Render({"SET", "k", "v"}, "+OK\r\n"), "+OK\r\n");
}

TEST(Resp3Test, MapsSetsAndDoubles) {
  EXPECT_EQ(Render({"HGETALL", "h"}, "*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
            "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
  EXPECT_EQ(Render({"SMEMBERS", "s"}, "*1\r\n$1\r\nx\r\n"), "~1\r\n$1\r\nx\r\n");
  EXPECT_EQ(Render({"SPOP", "s", "2"}, "*1\r\n$1\r\nx\r\n"), "~1\r\n$1\r\nx\r\n");
  EXPECT_EQ(Render({"SPOP", "s"}, "$1\r\nx\r\n"), "$1\r\nx\r\n");
  EXPECT_EQ(Render({"ZSCORE", "z", "m"}, "$3\r\n1.5\r\n"), ",1.5\r\n");
  EXPECT_EQ(Render({"ZSCORE", "z", "m"}, "$-1\r\n"), "_\r\n");
  EXPECT_EQ(Render({"ZMSCORE", "z", "a", "b"}, "*2\r\n$1\r\n2\r\n$-1\r\n"), "*2\r\n,2\r\n_\r\n");
  EXPECT_EQ(Render({"ZADD", "z", "INCR", "1", "m"}, "$1\r\n3\r\n"), ",3\r\n");
  EXPECT_EQ(Render({"ZADD", "z", "1", "m"}, ":1\r\n"), ":1\r\n");
}

TEST(Resp3Test, WithScoresBecomePairs) {
  EXPECT_EQ(Render({"ZRANGE", "z", "0", "-1", "WITHSCORES"},
                   "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n"),
            "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n");
  EXPECT_EQ(Render({"ZRANGE", "z", "0", "-1"}, "*1\r\n$1\r\na\r\n"), "*1\r\n$1\r\na\r\n");
  EXPECT_EQ(Render({"ZPOPMIN", "z"}, "*2\r\n$1\r\na\r\n$1\r\n1\r\n"), "*2\r\n$1\r\na\r\n,1\r\n");
  EXPECT_EQ(Render({"HRANDFIELD", "h", "2", "WITHVALUES"}, "*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
            "*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
}

}  // namespace
}  // namespace tessera::gateway
