// Gateway flag parsing: defaults, every flag, and clear refusals of bad values.
#include "gateway/options.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace tessera::gateway {
namespace {

absl::StatusOr<GatewayOptions> Parse(std::vector<std::string> args, std::string* help = nullptr) {
  args.insert(args.begin(), "tessera-gateway");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return ParseGatewayFlags(static_cast<int>(argv.size()), argv.data(), help);
}

TEST(GatewayOptionsTest, DefaultsAndEveryFlag) {
  auto o = Parse({"--shards", "127.0.0.1:5051"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->listen, "127.0.0.1:6380");
  EXPECT_GE(o->threads, 1u);
  EXPECT_EQ(o->pool_size, 2u);
  o = Parse({"--listen",           "0.0.0.0:7000",
             "--shards",           "a:1,b:2",
             "--raftRedisMap",     "a:1=a:6379,b:2=b:6379",
             "--threads",          "3",
             "--requirepass",      "pw",
             "--maxclients",       "5",
             "--timeout",          "30",
             "--metricsAddress",   "127.0.0.1:9000",
             "--maxQueryBuffer",   "1000",
             "--maxOutputBuffer",  "2000",
             "--poolSize",         "4",
             "--requestTimeoutMs", "700",
             "--retryBudgetMs",    "300",
             "--retryBackoffMs",   "5",
             "--proxyProtocol"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->listen, "0.0.0.0:7000");
  EXPECT_EQ(o->shards, std::vector<std::string>({"a:1", "b:2"}));
  EXPECT_EQ(o->raft_redis_map.at("b:2"), "b:6379");
  EXPECT_EQ(o->threads, 3u);
  EXPECT_EQ(o->requirepass, "pw");
  EXPECT_EQ(o->max_clients, 5u);
  EXPECT_EQ(o->idle_timeout.count(), 30);
  EXPECT_EQ(o->max_query_buffer, 1000u);
  EXPECT_EQ(o->max_output_buffer, 2000u);
  EXPECT_EQ(o->pool_size, 4u);
  EXPECT_EQ(o->request_timeout.count(), 700);
  EXPECT_EQ(o->retry_budget.count(), 300);
  EXPECT_EQ(o->backoff_initial.count(), 5);
  EXPECT_TRUE(o->proxy_protocol);
}

TEST(GatewayOptionsTest, HelpDocumentsEveryFlag) {
  std::string help;
  auto o = Parse({"--help"}, &help);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->help_requested);
  for (const char* flag :
       {"--listen", "--shards", "--raftRedisMap", "--threads", "--requirepass", "--maxclients",
        "--timeout", "--metricsAddress", "--maxQueryBuffer", "--maxOutputBuffer", "--poolSize",
        "--requestTimeoutMs", "--retryBudgetMs", "--proxyProtocol", "--config"}) {
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

TEST(GatewayOptionsTest, RefusesBadValues) {
  EXPECT_FALSE(Parse({}).ok());  // --shards is required
  EXPECT_FALSE(Parse({"--shards", "nohost"}).ok());
  EXPECT_FALSE(Parse({"--shards", "a:1", "--raftRedisMap", "a:1"}).ok());
  EXPECT_FALSE(Parse({"--shards", "a:1", "--raftRedisMap", "a:1=b:2,a:1=c:3"}).ok());
  EXPECT_FALSE(Parse({"--shards", "a:1", "--poolSize", "0"}).ok());
  EXPECT_FALSE(Parse({"--shards", "a:1", "--listen", "x"}).ok());
  EXPECT_FALSE(Parse({"--shards", "a:1", "--bogus"}).ok());
}

TEST(GatewayOptionsTest, ConfigFileSetsFlagsAndCommandLineWins) {
  char dir[] = "/tmp/tessera-gw-config-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/gateway.toml";
  std::ofstream(path) << "listen = \"127.0.0.1:7001\"\n"
                         "shards = \"127.0.0.1:5051,127.0.0.1:5052\"\n"
                         "threads = 3\n"
                         "retryBudgetMs = 900\n";
  auto o = Parse({"--config", path, "--threads", "2"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->listen, "127.0.0.1:7001");
  EXPECT_EQ(o->shards, std::vector<std::string>({"127.0.0.1:5051", "127.0.0.1:5052"}));
  EXPECT_EQ(o->threads, 2u);
  EXPECT_EQ(o->retry_budget.count(), 900);
  // The file's values pass the same checks as the command line's.
  std::ofstream(path) << "shards = \"nohost\"\n";
  EXPECT_FALSE(Parse({"--config", path}).ok());
  std::ofstream(path) << "shards = \"a:1\"\nlistn = \"x:1\"\n";
  auto bad = Parse({"--config", path});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown key \"listn\""), absl::string_view::npos);
  std::remove(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace tessera::gateway
