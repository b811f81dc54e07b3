// RedisServer over real sockets with hiredis: commands and their Redis texts, pipelining order,
// protocol errors closing only the offending client, limits, CROSSSLOT on a single node hosting
// two groups, and MOVED/TRYAGAIN from a follower of a three-node in-process cluster.
#include "shard/redis/redis_server.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "routing/command_table.h"
#include "shard/driver/loopback_transport.h"
#include "shard/membership/node_id.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

using std::chrono::milliseconds;
using storage_testing::TempDir;

constexpr milliseconds kWait{10'000};
constexpr GroupId kGroups[] = {1, 2};
// Slots 0..8191 belong to group 1 and 8192..16383 to group 2.
constexpr char kKeyInGroup1[] = "bar";  // slot 5061
constexpr char kKeyInGroup2[] = "foo";  // slot 12182

// Bounded poll: true as soon as `pred` holds, false at the deadline.
bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

Context Connect(int port) {
  timeval tv{10, 0};
  Context c(redisConnectWithTimeout("127.0.0.1", port, tv));
  EXPECT_TRUE(c != nullptr && c->err == 0) << (c ? c->errstr : "null context");
  if (c) redisSetTimeout(c.get(), tv);
  return c;
}

Reply Command(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data())));
}

// "status:OK", "error:...", "int:3", "str:v", "nil", "array:0".
std::string Describe(const Reply& r) {
  if (!r) return "no reply";
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      return absl::StrCat("status:", std::string(r->str, r->len));
    case REDIS_REPLY_ERROR:
      return absl::StrCat("error:", std::string(r->str, r->len));
    case REDIS_REPLY_INTEGER:
      return absl::StrCat("int:", r->integer);
    case REDIS_REPLY_STRING:
      return absl::StrCat("str:", std::string(r->str, r->len));
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_ARRAY:
      return absl::StrCat("array:", r->elements);
    default:
      return absl::StrCat("type:", r->type);
  }
}

std::string Exec(redisContext* c, const std::vector<std::string>& argv) {
  return Describe(Command(c, argv));
}

// A plain TCP client for bytes hiredis would never send.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  ~RawClient() { close(fd_); }

  void Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may already have closed
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Reads until the server closes the connection or the deadline; returns what arrived.
  std::string ReadUntilClosed(bool* closed, milliseconds timeout = kWait) {
    std::string out;
    *closed = false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        *closed = true;
        return out;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  // Reads until `expected` bytes arrived or the deadline.
  std::string ReadBytes(size_t expected, milliseconds timeout = kWait) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
};

// One shard process: RocksDB, a loopback transport, a driver over `lists`, a Redis listener.
struct Shard {
  Shard(LoopbackHub* hub, NodeId id, std::map<GroupId, std::string> groups,
        absl::flat_hash_map<GroupId, std::vector<Server>> lists, RedisServerOptions redis) {
    auto opened = StorageEngine::Open(dir.path(), EngineOptions{});
    EXPECT_TRUE(opened.ok()) << opened.status();
    engine = *std::move(opened);
    transport = std::make_unique<LoopbackTransport>(hub, id);
    DriverOptions o;
    o.node_id = id;
    o.groups = std::move(groups);
    o.bootstrap_lists = lists;
    o.tick_interval = milliseconds(10);
    auto d = Driver::Open(engine.get(), transport.get(), o);
    EXPECT_TRUE(d.ok()) << d.status();
    driver = *std::move(d);
    EXPECT_TRUE(driver->Start().ok());
    redis.address = "127.0.0.1:0";
    for (const auto& [g, address] : o.groups) redis.groups.push_back(g);
    redis.members = std::move(lists);
    server = std::make_unique<RedisServer>(driver.get(), std::move(redis));
    const absl::Status started = server->Start();
    EXPECT_TRUE(started.ok()) << started;
  }
  ~Shard() {
    server->Stop();
    driver->Stop();
    server.reset();
    driver.reset();
    transport.reset();
    EXPECT_TRUE(engine->Close().ok());
  }

  bool Leads(GroupId g) const {
    auto st = driver->Status(g);
    return st.ok() && st->role == raft::Role::kLeader;
  }

  TempDir dir;
  std::unique_ptr<StorageEngine> engine;
  std::unique_ptr<LoopbackTransport> transport;
  std::unique_ptr<Driver> driver;
  std::unique_ptr<RedisServer> server;
};

std::unique_ptr<Shard> SingleNode(LoopbackHub* hub, RedisServerOptions redis = {}) {
  const NodeId id = DeriveNodeId("n1");
  std::map<GroupId, std::string> groups;
  absl::flat_hash_map<GroupId, std::vector<Server>> lists;
  for (GroupId g : kGroups) {
    groups[g] = absl::StrCat("10.0.0.1:505", g);
    lists[g] = {Server{id, "n1", groups[g], true}};
  }
  auto shard = std::make_unique<Shard>(hub, id, groups, lists, std::move(redis));
  for (GroupId g : kGroups) {
    EXPECT_TRUE(WaitFor([&] { return shard->Leads(g); })) << "group " << g;
  }
  return shard;
}

class SingleNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shard_ = SingleNode(&hub_);
    ctx_ = Connect(shard_->server->port());
    ASSERT_TRUE(ctx_ != nullptr);
  }
  void TearDown() override {
    ctx_.reset();
    shard_.reset();
  }
  int port() const { return shard_->server->port(); }

  LoopbackHub hub_;
  std::unique_ptr<Shard> shard_;
  Context ctx_;
};

TEST_F(SingleNodeTest, PingEchoCommandHello) {
  EXPECT_EQ(Exec(ctx_.get(), {"PING"}), "status:PONG");
  EXPECT_EQ(Exec(ctx_.get(), {"ping", "hi there"}), "str:hi there");
  EXPECT_EQ(Exec(ctx_.get(), {"ECHO", std::string("a\0\r\nb", 5)}),
            "str:" + std::string("a\0\r\nb", 5));
  EXPECT_EQ(Exec(ctx_.get(), {"COMMAND"}), absl::StrCat("array:", routing::AllCommands().size()));
  EXPECT_EQ(Exec(ctx_.get(), {"COMMAND", "COUNT"}),
            absl::StrCat("int:", routing::AllCommands().size()));
  EXPECT_EQ(Exec(ctx_.get(), {"COMMAND", "INFO", "get", "nosuch"}), "array:2");
  EXPECT_EQ(Exec(ctx_.get(), {"COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"}), "array:2");
  EXPECT_EQ(Exec(ctx_.get(), {"COMMAND", "GETKEYS", "PING", "x"}),
            "error:ERR The command has no key arguments");
  EXPECT_EQ(Exec(ctx_.get(), {"HELLO", "4"}), "error:NOPROTO unsupported protocol version");
  EXPECT_EQ(Exec(ctx_.get(), {"HELLO", "x"}), "error:NOPROTO unsupported protocol version");
  // RESP2 HELLO: the map as a flat array of 7 pairs.
  EXPECT_EQ(Exec(ctx_.get(), {"HELLO", "2"}), "array:14");
}

TEST_F(SingleNodeTest, ConnectionAndServerCommands) {
  EXPECT_EQ(Exec(ctx_.get(), {"SELECT", "0"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"SELECT", "1"}), "error:ERR DB index is out of range");
  EXPECT_EQ(Exec(ctx_.get(), {"SELECT", "x"}), "error:ERR value is not an integer or out of range");
  EXPECT_EQ(Exec(ctx_.get(), {"TIME"}), "array:2");
  EXPECT_EQ(Exec(ctx_.get(), {"CLIENT", "GETNAME"}), "nil");
  EXPECT_EQ(Exec(ctx_.get(), {"CLIENT", "SETNAME", "worker-1"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"CLIENT", "GETNAME"}), "str:worker-1");
  EXPECT_EQ(Exec(ctx_.get(), {"CLIENT", "SETNAME", "a b"}),
            "error:ERR Client names cannot contain spaces, newlines or special characters.");
  EXPECT_EQ(Exec(ctx_.get(), {"CLIENT", "NOSUCH"}),
            "error:ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.");
  EXPECT_EQ(Exec(ctx_.get(), {"AUTH", "pw"}),
            "error:ERR AUTH <password> called without any password configured for the default "
            "user. Are you sure your configuration is correct?");
  EXPECT_EQ(Exec(ctx_.get(), {"CONFIG", "GET", "databases"}), "array:2");
  EXPECT_EQ(Exec(ctx_.get(), {"RESET"}), "status:RESET");
  EXPECT_EQ(Exec(ctx_.get(), {"CLIENT", "GETNAME"}), "nil");
}

TEST(RedisServerTest, RequirePassGatesCommandsUntilAuth) {
  LoopbackHub hub;
  RedisServerOptions options;
  options.requirepass = "s3cret";
  auto shard = SingleNode(&hub, options);
  Context c = Connect(shard->server->port());
  EXPECT_EQ(Exec(c.get(), {"GET", "k"}), "error:NOAUTH Authentication required.");
  EXPECT_EQ(Exec(c.get(), {"AUTH", "wrong"}),
            "error:WRONGPASS invalid username-password pair or user is disabled.");
  EXPECT_EQ(Exec(c.get(), {"AUTH", "s3cret"}), "status:OK");
  EXPECT_EQ(Exec(c.get(), {"SET", "k", "v"}), "status:OK");
  EXPECT_EQ(Exec(c.get(), {"GET", "k"}), "str:v");
}

TEST_F(SingleNodeTest, MultiExecRunsQueuedCommandsAsOneEntry) {
  const std::string k = kKeyInGroup1;
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "error:ERR EXEC without MULTI");
  EXPECT_EQ(Exec(ctx_.get(), {"DISCARD"}), "error:ERR DISCARD without MULTI");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "error:ERR MULTI calls can not be nested");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", k, "1"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"INCR", k}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", k}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"HSET", k, "f", "v"}), "status:QUEUED");
  Reply r = Command(ctx_.get(), {"EXEC"});
  ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 4) << Describe(r);
  EXPECT_EQ(r->element[0]->type, REDIS_REPLY_STATUS);
  EXPECT_EQ(r->element[1]->integer, 2);
  EXPECT_EQ(std::string(r->element[2]->str, r->element[2]->len), "2");  // sees the INCR
  EXPECT_EQ(r->element[3]->type, REDIS_REPLY_ERROR);  // WRONGTYPE in place, others applied
  EXPECT_EQ(Exec(ctx_.get(), {"GET", k}), "str:2");
  // Queued errors abort; DISCARD drops; keys of two groups are refused.
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", k}), "error:ERR wrong number of arguments for 'set' command");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}),
            "error:EXECABORT Transaction discarded because of previous errors.");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", k, "x"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"DISCARD"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", k}), "str:2");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", kKeyInGroup1, "a"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", kKeyInGroup2, "b"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}),
            "error:CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", k}), "str:2");
}

TEST_F(SingleNodeTest, WatchAbortsExecAfterAnotherClientsWrite) {
  const std::string k = kKeyInGroup1;
  Context other = Connect(port());
  EXPECT_EQ(Exec(ctx_.get(), {"WATCH", k}), "status:OK");
  EXPECT_EQ(Exec(other.get(), {"SET", k, "theirs"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", k, "mine"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "nil");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", k}), "str:theirs");
  // Untouched: the transaction runs; EXEC ended the watch, so a later write does not matter.
  EXPECT_EQ(Exec(ctx_.get(), {"WATCH", k, "x{bar}"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"APPEND", k, "!"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "array:1");
  EXPECT_EQ(Exec(other.get(), {"SET", k, "later"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", k}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "array:1");
  // UNWATCH and DISCARD end the watch too; an empty watched EXEC still checks.
  EXPECT_EQ(Exec(ctx_.get(), {"WATCH", k}), "status:OK");
  EXPECT_EQ(Exec(other.get(), {"DEL", k}), "int:1");
  EXPECT_EQ(Exec(ctx_.get(), {"UNWATCH"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "array:0");
  EXPECT_EQ(Exec(ctx_.get(), {"WATCH", k}), "status:OK");
  EXPECT_EQ(Exec(other.get(), {"SET", k, "x"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "nil");
  EXPECT_EQ(Exec(ctx_.get(), {"WATCH", k}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"DISCARD"}), "status:OK");
  EXPECT_EQ(Exec(other.get(), {"SET", k, "y"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", k, "z"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "array:1");
  // Refusals: inside MULTI, and keys of two groups.
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"WATCH", k}), "error:ERR WATCH inside MULTI is not allowed");
  EXPECT_EQ(Exec(ctx_.get(), {"DISCARD"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"WATCH", kKeyInGroup1, kKeyInGroup2}),
            "error:CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(Exec(ctx_.get(), {"WATCH", kKeyInGroup1}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"WATCH", kKeyInGroup2}),
            "error:CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", kKeyInGroup2, "v"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}),
            "error:CROSSSLOT Keys in request don't hash to the same slot");
}

TEST_F(SingleNodeTest, SharedConnectionWatchIsAnIndexThenPairsBeforeMulti) {
  const std::string k = kKeyInGroup1;
  Context other = Connect(port());
  // TESSERA.WATCHINDEX answers the watch entry's index and keeps nothing on the connection.
  Reply r = Command(ctx_.get(), {"TESSERA.WATCHINDEX", k});
  ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER) << Exec(ctx_.get(), {"PING"});
  const std::string index = std::to_string(r->integer);
  EXPECT_GT(r->integer, 0);
  EXPECT_EQ(Exec(other.get(), {"SET", k, "theirs"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", k, "unwatched"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "array:1");  // no watch was left behind
  // The pairs, given back right before MULTI, make EXEC check the write after the index.
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.WATCHED", k, index}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", k, "mine"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "nil");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", k}), "str:unwatched");
  // A fresh index with no write after it: the transaction runs, and EXEC clears the pairs.
  r = Command(ctx_.get(), {"TESSERA.WATCHINDEX", k, "x{bar}"});
  ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER);
  const std::string fresh = std::to_string(r->integer);
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.WATCHED", k, fresh, "x{bar}", fresh}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", k, "mine"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "array:1");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", k}), "str:mine");
  // Refusals.
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.WATCHINDEX", kKeyInGroup1, kKeyInGroup2}),
            "error:CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.WATCHED", kKeyInGroup1, "5", kKeyInGroup2, "5"}),
            "error:CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.WATCHED", k, "x"}),
            "error:ERR TESSERA.WATCHED: a watch index is a positive integer");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.WATCHED", k}),
            "error:ERR wrong number of arguments for 'tessera.watched' command");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.WATCHINDEX"}),
            "error:ERR wrong number of arguments for 'tessera.watchindex' command");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.WATCHED", k, index}),
            "error:ERR TESSERA.WATCHED inside MULTI is not allowed");
  EXPECT_EQ(Exec(ctx_.get(), {"DISCARD"}), "status:OK");
}

// INFO's blocked_clients, for tests that must act once a command is parked.
int BlockedClients(redisContext* c) {
  Reply r = Command(c, {"INFO"});
  if (!r || r->type != REDIS_REPLY_STRING) return -1;
  const std::string info(r->str, r->len);
  const size_t at = info.find("blocked_clients:");
  return at == std::string::npos ? -1 : std::atoi(info.c_str() + at + 16);
}

// Sends a command without waiting for its reply (hiredis only buffers an appended command).
void Append(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  ASSERT_EQ(redisAppendCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data()),
            REDIS_OK);
  int done = 0;
  while (!done) ASSERT_EQ(redisBufferWrite(c, &done), REDIS_OK);
}

Reply NextReply(redisContext* c) {
  void* r = nullptr;
  if (redisGetReply(c, &r) != REDIS_OK) return nullptr;
  return Reply(static_cast<redisReply*>(r));
}

std::string Element(const Reply& r, size_t i) {
  if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements) return "?";
  return std::string(r->element[i]->str, r->element[i]->len);
}

TEST_F(SingleNodeTest, BlockingPopWaitsForAPushAndLaterCommandsWaitBehindIt) {
  const std::string list = kKeyInGroup1;
  Context blocked = Connect(port());
  Append(blocked.get(), {"BLPOP", "nothing{bar}", list, "10"});
  Append(blocked.get(), {"PING"});
  ASSERT_TRUE(WaitFor([&] { return BlockedClients(ctx_.get()) == 1; }));
  EXPECT_EQ(Exec(ctx_.get(), {"RPUSH", list, "a", "b"}), "int:2");
  Reply r = NextReply(blocked.get());
  EXPECT_EQ(Describe(r), "array:2");
  EXPECT_EQ(Element(r, 0), list);
  EXPECT_EQ(Element(r, 1), "a");
  EXPECT_EQ(Describe(NextReply(blocked.get())), "status:PONG");
  EXPECT_EQ(Exec(ctx_.get(), {"LRANGE", list, "0", "-1"}), "array:1");
  EXPECT_EQ(BlockedClients(ctx_.get()), 0);
}

TEST_F(SingleNodeTest, BlockedClientsAreServedInTheOrderTheyBlocked) {
  const std::string list = kKeyInGroup1;
  Context first = Connect(port());
  Context second = Connect(port());
  Append(first.get(), {"BRPOP", list, "0"});
  ASSERT_TRUE(WaitFor([&] { return BlockedClients(ctx_.get()) == 1; }));
  Append(second.get(), {"BRPOP", list, "0"});
  ASSERT_TRUE(WaitFor([&] { return BlockedClients(ctx_.get()) == 2; }));
  EXPECT_EQ(Exec(ctx_.get(), {"LPUSH", list, "x"}), "int:1");
  EXPECT_EQ(Element(NextReply(first.get()), 1), "x");
  EXPECT_EQ(BlockedClients(ctx_.get()), 1);
  EXPECT_EQ(Exec(ctx_.get(), {"LPUSH", list, "y"}), "int:1");
  EXPECT_EQ(Element(NextReply(second.get()), 1), "y");
}

TEST_F(SingleNodeTest, BlockingCommandsOfEveryTypeWakeAndTimeOut) {
  const std::string z = kKeyInGroup1;
  Context blocked = Connect(port());
  Append(blocked.get(), {"BZPOPMIN", z, "10"});
  ASSERT_TRUE(WaitFor([&] { return BlockedClients(ctx_.get()) == 1; }));
  EXPECT_EQ(Exec(ctx_.get(), {"ZADD", z, "2", "m"}), "int:1");
  Reply r = NextReply(blocked.get());
  EXPECT_EQ(Describe(r), "array:3");
  EXPECT_EQ(Element(r, 1), "m");
  EXPECT_EQ(Element(r, 2), "2");
  // BLMOVE wakes on its source and answers the element it moved.
  const std::string src = "src{bar}", dst = "dst{bar}";
  Append(blocked.get(), {"BLMOVE", src, dst, "LEFT", "RIGHT", "10"});
  ASSERT_TRUE(WaitFor([&] { return BlockedClients(ctx_.get()) == 1; }));
  EXPECT_EQ(Exec(ctx_.get(), {"RPUSH", src, "e"}), "int:1");
  EXPECT_EQ(Describe(NextReply(blocked.get())), "str:e");
  EXPECT_EQ(Exec(ctx_.get(), {"LINDEX", dst, "0"}), "str:e");
  // A push inside a transaction wakes too.
  Append(blocked.get(), {"BLPOP", src, "10"});
  ASSERT_TRUE(WaitFor([&] { return BlockedClients(ctx_.get()) == 1; }));
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"RPUSH", src, "t"}), "status:QUEUED");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}), "array:1");
  EXPECT_EQ(Element(NextReply(blocked.get()), 1), "t");
  // The timeout answers a nil array, not before it elapsed.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Exec(blocked.get(), {"BLPOP", src, "0.3"}), "nil");
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(290));
  EXPECT_EQ(Exec(blocked.get(), {"BZPOPMAX", z, "0.05"}), "nil");
  // Inside MULTI a blocking command does not block.
  EXPECT_EQ(Exec(blocked.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(blocked.get(), {"BLPOP", src, "0"}), "status:QUEUED");
  EXPECT_EQ(Exec(blocked.get(), {"EXEC"}), "array:1");
  EXPECT_EQ(BlockedClients(ctx_.get()), 0);
}

TEST_F(SingleNodeTest, ClosedBlockedClientTakesNothing) {
  const std::string list = kKeyInGroup1;
  {
    Context blocked = Connect(port());
    Append(blocked.get(), {"BLPOP", list, "0"});
    ASSERT_TRUE(WaitFor([&] { return BlockedClients(ctx_.get()) == 1; }));
  }
  ASSERT_TRUE(WaitFor([&] { return BlockedClients(ctx_.get()) == 0; }));
  EXPECT_EQ(Exec(ctx_.get(), {"RPUSH", list, "kept"}), "int:1");
  EXPECT_EQ(Exec(ctx_.get(), {"LLEN", list}), "int:1");
}

TEST_F(SingleNodeTest, SetGetDelExists) {
  const std::string g1 = kKeyInGroup1;
  const std::string g2 = kKeyInGroup2;
  EXPECT_EQ(Exec(ctx_.get(), {"GET", g1}), "nil");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", g1, "v1"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"set", g2, std::string("x\0y", 3)}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", g1}), "str:v1");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", g2}), "str:" + std::string("x\0y", 3));
  EXPECT_EQ(Exec(ctx_.get(), {"SET", g1, "v2"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", g1}), "str:v2");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", "{bar}.a", "1"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"EXISTS", g1, "{bar}.a", "{bar}.b", g1}), "int:3");
  EXPECT_EQ(Exec(ctx_.get(), {"DEL", g1, "{bar}.a", "{bar}.b", g1}), "int:2");
  EXPECT_EQ(Exec(ctx_.get(), {"EXISTS", g1, "{bar}.a"}), "int:0");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", g1}), "nil");
  EXPECT_EQ(Exec(ctx_.get(), {"DEL", g1}), "int:0");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", g2}), "str:" + std::string("x\0y", 3));
}

TEST_F(SingleNodeTest, MultiKeyCommandsSplitOverGroupsThisNodeLeads) {
  const std::string g1 = kKeyInGroup1, g2 = kKeyInGroup2, g1b = "x{bar}";
  EXPECT_EQ(Exec(ctx_.get(), {"MSET", g1, "a", g2, "b", g1b, "c"}), "status:OK");
  Reply r = Command(ctx_.get(), {"MGET", g2, "nosuch", g1, g1b, g2});
  ASSERT_EQ(Describe(r), "array:5");
  EXPECT_EQ(Element(r, 0), "b");
  EXPECT_EQ(r->element[1]->type, REDIS_REPLY_NIL);
  EXPECT_EQ(Element(r, 2), "a");
  EXPECT_EQ(Element(r, 3), "c");
  EXPECT_EQ(Element(r, 4), "b");
  EXPECT_EQ(Exec(ctx_.get(), {"EXISTS", g1, g2, g1, "nosuch"}), "int:3");
  EXPECT_EQ(Exec(ctx_.get(), {"TOUCH", g1, g2}), "int:2");
  EXPECT_EQ(Exec(ctx_.get(), {"DEL", g1, g2, "nosuch"}), "int:2");
  EXPECT_EQ(Exec(ctx_.get(), {"UNLINK", g1b, g2}), "int:1");
  EXPECT_EQ(Exec(ctx_.get(), {"EXISTS", g1, g2, g1b}), "int:0");
  // Pipelined, each part orders behind the client's earlier commands of its group.
  Append(ctx_.get(), {"SET", g1, "1"});
  Append(ctx_.get(), {"MSET", g1, "2", g2, "2"});
  Append(ctx_.get(), {"MGET", g1, g2});
  Append(ctx_.get(), {"DEL", g2, g1});
  Append(ctx_.get(), {"MGET", g2, g1});
  EXPECT_EQ(Describe(NextReply(ctx_.get())), "status:OK");
  EXPECT_EQ(Describe(NextReply(ctx_.get())), "status:OK");
  r = NextReply(ctx_.get());
  EXPECT_EQ(Element(r, 0) + Element(r, 1), "22");
  EXPECT_EQ(Describe(NextReply(ctx_.get())), "int:2");
  r = NextReply(ctx_.get());
  ASSERT_EQ(Describe(r), "array:2");
  EXPECT_EQ(r->element[0]->type, REDIS_REPLY_NIL);
  // Keyless commands over every group this node leads; SCAN's cursor cannot walk them here.
  EXPECT_EQ(Exec(ctx_.get(), {"MSET", g1, "1", g2, "2", g1b, "3"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"DBSIZE"}), "int:3");
  EXPECT_EQ(Exec(ctx_.get(), {"KEYS", "*"}), "array:3");
  EXPECT_EQ(Exec(ctx_.get(), {"KEYS", "f*"}), "array:1");
  const std::string random = Describe(Command(ctx_.get(), {"RANDOMKEY"}));
  EXPECT_TRUE(random == "str:" + g1 || random == "str:" + g2 || random == "str:" + g1b) << random;
  EXPECT_EQ(Exec(ctx_.get(), {"SCAN", "0"}),
            "error:ERR 'scan' covers every group of the cluster; send it through a gateway");
  EXPECT_EQ(Exec(ctx_.get(), {"FLUSHDB"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"DBSIZE"}), "int:0");
  EXPECT_EQ(Exec(ctx_.get(), {"RANDOMKEY"}), "nil");
  // Commands whose keys must share a group still refuse, as Redis Cluster does.
  EXPECT_EQ(Exec(ctx_.get(), {"SET", g1, "1"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"RENAME", g1, g2}),
            "error:CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(Exec(ctx_.get(), {"SUNION", g1, g2}),
            "error:CROSSSLOT Keys in request don't hash to the same slot");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", g1}), "str:1");
}

TEST_F(SingleNodeTest, InGroupRunsAKeylessCommandOnOneGroup) {
  const std::string g1 = kKeyInGroup1, g2 = kKeyInGroup2, g1b = "x{bar}";
  EXPECT_EQ(Exec(ctx_.get(), {"MSET", g1, "a", g2, "b", g1b, "c"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "1", "DBSIZE"}), "int:2");
  EXPECT_EQ(Exec(ctx_.get(), {"tessera.ingroup", "2", "dbsize"}), "int:1");
  Reply r = Command(ctx_.get(), {"TESSERA.INGROUP", "2", "KEYS", "*"});
  ASSERT_EQ(Describe(r), "array:1");
  EXPECT_EQ(Element(r, 0), g2);
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "2", "RANDOMKEY"}), "str:" + g2);
  // SCAN walks one group with that group's cursor, to 0.
  std::vector<std::string> seen;
  std::string cursor = "0";
  for (int i = 0; i < 10; ++i) {
    r = Command(ctx_.get(), {"TESSERA.INGROUP", "1", "SCAN", cursor, "COUNT", "1"});
    ASSERT_EQ(Describe(r), "array:2");
    cursor = Element(r, 0);
    for (size_t k = 0; k < r->element[1]->elements; ++k) {
      seen.emplace_back(r->element[1]->element[k]->str, r->element[1]->element[k]->len);
    }
    if (cursor == "0") break;
  }
  EXPECT_EQ(cursor, "0");
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{g1, g1b}));
  // FLUSHDB of one group leaves the other.
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "1", "FLUSHDB"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"EXISTS", g1, g2, g1b}), "int:1");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "1", "RANDOMKEY"}), "nil");
  // Refused: keyed or non-data commands, unknown groups, short forms, MULTI.
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "1", "GET", g1}),
            "error:ERR TESSERA.INGROUP runs keyless data commands only (KEYS, SCAN, DBSIZE, "
            "RANDOMKEY, FLUSHDB, FLUSHALL), not 'get'");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "1", "PING"}),
            "error:ERR TESSERA.INGROUP runs keyless data commands only, not 'ping'");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "3", "DBSIZE"}),
            "error:ERR TESSERA.INGROUP: group '3' is not hosted by this shard");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "x", "DBSIZE"}),
            "error:ERR TESSERA.INGROUP: group 'x' is not hosted by this shard");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "1"}),
            "error:ERR wrong number of arguments for 'tessera.ingroup' command");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "1", "NOSUCH"}),
            "error:ERR unknown command 'NOSUCH', with args beginning with: ");
  EXPECT_EQ(Exec(ctx_.get(), {"MULTI"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"TESSERA.INGROUP", "1", "DBSIZE"}),
            "error:ERR TESSERA.INGROUP inside MULTI is not allowed");
  EXPECT_EQ(Exec(ctx_.get(), {"EXEC"}),
            "error:EXECABORT Transaction discarded because of previous errors.");
  // Not a public command.
  r = Command(ctx_.get(), {"COMMAND", "INFO", "tessera.ingroup"});
  ASSERT_EQ(Describe(r), "array:1");
  EXPECT_EQ(r->element[0]->type, REDIS_REPLY_NIL);
}

TEST_F(SingleNodeTest, ErrorTexts) {
  EXPECT_EQ(Exec(ctx_.get(), {"NOSUCH", "a", "b"}),
            "error:ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' ");
  EXPECT_EQ(Exec(ctx_.get(), {"nosuch"}),
            "error:ERR unknown command 'nosuch', with args beginning with: ");
  EXPECT_EQ(Exec(ctx_.get(), {"GET"}), "error:ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", "a", "b"}),
            "error:ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", "k"}),
            "error:ERR wrong number of arguments for 'set' command");
  EXPECT_EQ(Exec(ctx_.get(), {"DEL"}), "error:ERR wrong number of arguments for 'del' command");
  EXPECT_EQ(Exec(ctx_.get(), {"PING", "a", "b"}),
            "error:ERR wrong number of arguments for 'ping' command");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", "k", "v", "EX", "0"}),
            "error:ERR invalid expire time in 'set' command");
  EXPECT_EQ(Exec(ctx_.get(), {"SET", "k", "v", "NX", "XX"}), "error:ERR syntax error");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", "k"}), "nil");  // the refused SETs wrote nothing
  EXPECT_EQ(Exec(ctx_.get(), {"SET", "k", "v", "EX", "10"}), "status:OK");
}

TEST_F(SingleNodeTest, InfoHasAReplicationSectionPerGroup) {
  Reply r = Command(ctx_.get(), {"INFO"});
  ASSERT_TRUE(r && r->type == REDIS_REPLY_STRING) << Describe(r);
  const std::string info(r->str, r->len);
  for (GroupId g : kGroups) {
    EXPECT_NE(info.find(absl::StrCat("# Replication group ", g, "\r\ngroup_id:", g, "\r\n")),
              std::string::npos)
        << info;
  }
  EXPECT_NE(info.find("role:leader\r\n"), std::string::npos) << info;
  EXPECT_NE(info.find(absl::StrCat("leader_node_id:", DeriveNodeId("n1"), "\r\n")),
            std::string::npos)
      << info;
  for (const char* field : {"term:", "commit_index:", "applied_index:"}) {
    EXPECT_NE(info.find(field), std::string::npos) << field;
  }
}

TEST_F(SingleNodeTest, ThousandPipelinedSetGetReplyInOrder) {
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) {
    // Alternate the groups so replies from both complete out of order underneath.
    const std::string key = absl::StrCat("key", i);
    ASSERT_EQ(
        redisAppendCommand(ctx_.get(), "SET %b %b", key.data(), key.size(), key.data(), key.size()),
        REDIS_OK);
    ASSERT_EQ(redisAppendCommand(ctx_.get(), "GET %b", key.data(), key.size()), REDIS_OK);
  }
  for (int i = 0; i < kCount; ++i) {
    void* raw = nullptr;
    ASSERT_EQ(redisGetReply(ctx_.get(), &raw), REDIS_OK) << ctx_->errstr;
    EXPECT_EQ(Describe(Reply(static_cast<redisReply*>(raw))), "status:OK") << i;
    ASSERT_EQ(redisGetReply(ctx_.get(), &raw), REDIS_OK) << ctx_->errstr;
    EXPECT_EQ(Describe(Reply(static_cast<redisReply*>(raw))), absl::StrCat("str:key", i)) << i;
  }
}

TEST_F(SingleNodeTest, PipelinedReadsSeeEarlierWritesAndNoLaterOnes) {
  RawClient raw(port());
  std::string request;
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    absl::StrAppend(&request, "SET same v", i, "\r\nGET same\r\nEXISTS same\r\n");
    absl::StrAppend(&expected, "+OK\r\n$", absl::StrCat("v", i).size(), "\r\nv", i, "\r\n:1\r\n");
  }
  request += "DEL same same\r\nGET same\r\nEXISTS same\r\nDEL same\r\n";
  expected += ":1\r\n$-1\r\n:0\r\n:0\r\n";
  raw.Send(request);
  EXPECT_EQ(raw.ReadBytes(expected.size()), expected);
}

// An integer field of INFO `section`, or -1.
int64_t InfoField(redisContext* c, const std::string& section, const std::string& field) {
  Reply r = Command(c, {"INFO", section});
  if (!r || r->type != REDIS_REPLY_STRING) return -1;
  const std::string info(r->str, r->len);
  const size_t at = info.find("\r\n" + field + ":");
  return at == std::string::npos ? -1 : std::atoll(info.c_str() + at + 3 + field.size());
}

TEST_F(SingleNodeTest, ReadsUnderTheLeaseRunOnTheListenerAndSeeEveryEarlierWrite) {
  // A single voter always holds its lease: reads need no driver round trip.
  ASSERT_EQ(Describe(Command(ctx_.get(), {"SET", "k", "v0"})), "status:OK");
  const int64_t lease_before = InfoField(ctx_.get(), "stats", "lease_read_batches");
  const int64_t index_before = InfoField(ctx_.get(), "stats", "read_index_batches");
  ASSERT_GE(lease_before, 0);
  ASSERT_GE(index_before, 0);
  for (int i = 1; i <= 20; ++i) {
    const std::string value = absl::StrCat("v", i);
    ASSERT_EQ(Describe(Command(ctx_.get(), {"SET", "k", value})), "status:OK");
    EXPECT_EQ(Describe(Command(ctx_.get(), {"GET", "k"})), "str:" + value);
  }
  EXPECT_GE(InfoField(ctx_.get(), "stats", "lease_read_batches"), lease_before + 20);
  EXPECT_EQ(InfoField(ctx_.get(), "stats", "read_index_batches"), index_before);
}

TEST_F(SingleNodeTest, QuitRepliesOkThenCloses) {
  RawClient raw(port());
  raw.Send("PING\r\nQUIT\r\nPING\r\n");
  bool closed = false;
  EXPECT_EQ(raw.ReadUntilClosed(&closed), "+PONG\r\n+OK\r\n");
  EXPECT_TRUE(closed);
}

TEST_F(SingleNodeTest, InlineCommands) {
  RawClient raw(port());
  raw.Send("SET \"inline key\" 'a b'\r\nGET \"inline key\"\r\n\r\nEXISTS \"inline key\"\n");
  const std::string expected = "+OK\r\n$3\r\na b\r\n:1\r\n";
  EXPECT_EQ(raw.ReadBytes(expected.size()), expected);
}

TEST_F(SingleNodeTest, MalformedRequestClosesOnlyThatClient) {
  RawClient raw(port());
  raw.Send("PING\r\n*1\r\nx3\r\nPING\r\n");
  bool closed = false;
  EXPECT_EQ(raw.ReadUntilClosed(&closed),
            "+PONG\r\n-ERR Protocol error: expected '$', got 'x'\r\n");
  EXPECT_TRUE(closed);
  EXPECT_EQ(Exec(ctx_.get(), {"SET", "still", "works"}), "status:OK");
  EXPECT_EQ(Exec(ctx_.get(), {"GET", "still"}), "str:works");
}

TEST_F(SingleNodeTest, ProtocolLimits) {
  struct Case {
    std::string input;
    std::string reply;
  };
  const Case cases[] = {
      {"*1\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*2000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {std::string(70 * 1024, 'a'), "-ERR Protocol error: too big inline request\r\n"},
      {"GET \"k\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
  };
  for (const Case& c : cases) {
    RawClient raw(port());
    raw.Send(c.input);
    bool closed = false;
    EXPECT_EQ(raw.ReadUntilClosed(&closed), c.reply);
    EXPECT_TRUE(closed) << c.reply;
  }
  EXPECT_EQ(Exec(ctx_.get(), {"PING"}), "status:PONG");
}

TEST(RedisServerTest, QueryBufferLimit) {
  LoopbackHub hub;
  RedisServerOptions options;
  options.limits.max_query_buffer_length = 64 * 1024;
  auto shard = SingleNode(&hub, options);
  RawClient raw(shard->server->port());
  // A legal 1 MiB bulk that would have to sit in the buffer whole.
  raw.Send("*2\r\n$4\r\nECHO\r\n$1048576\r\n" + std::string(200 * 1024, 'x'));
  bool closed = false;
  // Like Redis: closed without a reply (the server logs why).
  EXPECT_EQ(raw.ReadUntilClosed(&closed), "");
  EXPECT_TRUE(closed);
  Context ok = Connect(shard->server->port());
  EXPECT_EQ(Exec(ok.get(), {"ECHO", std::string(1000, 'y')}), "str:" + std::string(1000, 'y'));
}

// ---------------------------------------------------------------------------------------------
// Pub/Sub.

// A Pub/Sub array as "a|b|c" (integers as digits, nil as "nil").
std::string Flat(const Reply& r) {
  if (!r || r->type != REDIS_REPLY_ARRAY) return Describe(r);
  std::vector<std::string> parts;
  for (size_t i = 0; i < r->elements; ++i) {
    const redisReply* e = r->element[i];
    if (e->type == REDIS_REPLY_INTEGER) {
      parts.push_back(absl::StrCat(e->integer));
    } else if (e->type == REDIS_REPLY_NIL) {
      parts.push_back("nil");
    } else {
      parts.push_back(std::string(e->str, e->len));
    }
  }
  return absl::StrJoin(parts, "|");
}

TEST_F(SingleNodeTest, PublishReachesASubscriberOnAnotherConnection) {
  Context sub = Connect(port());
  EXPECT_EQ(Flat(Command(sub.get(), {"SUBSCRIBE", "bar", "foo"})), "subscribe|bar|1");
  EXPECT_EQ(Flat(NextReply(sub.get())), "subscribe|foo|2");
  EXPECT_EQ(Exec(ctx_.get(), {"PUBLISH", "bar", "hello"}), "int:1");
  EXPECT_EQ(Flat(NextReply(sub.get())), "message|bar|hello");
  EXPECT_EQ(Exec(ctx_.get(), {"PUBLISH", "nobody", "x"}), "int:0");
  EXPECT_EQ(Exec(ctx_.get(), {"PUBLISH", "foo", std::string("a\0b", 3)}), "int:1");
  EXPECT_EQ(Flat(NextReply(sub.get())), std::string("message|foo|a\0b", 15));
  EXPECT_EQ(Flat(Command(ctx_.get(), {"PUBSUB", "NUMSUB", "bar", "zz"})), "bar|1|zz|0");
  EXPECT_EQ(Flat(Command(ctx_.get(), {"PUBSUB", "CHANNELS"})), "bar|foo");
  EXPECT_EQ(Flat(Command(ctx_.get(), {"PUBSUB", "CHANNELS", "f*"})), "foo");
  EXPECT_EQ(Exec(ctx_.get(), {"PUBSUB", "NUMPAT"}), "int:0");
  EXPECT_TRUE(absl::StrContains(Exec(ctx_.get(), {"INFO", "stats"}),
                                "pubsub_channels:2\r\npubsub_patterns:0\r\n"));
  EXPECT_EQ(Exec(ctx_.get(), {"PUBSUB", "channels", "a", "b"}),
            "error:ERR unknown subcommand or wrong number of arguments for 'channels'. Try PUBSUB "
            "HELP.");
  EXPECT_EQ(Exec(ctx_.get(), {"PUBSUB", "HELP"}), "array:10");
  // UNSUBSCRIBE without channels drops them all, one confirmation each.
  EXPECT_EQ(Flat(Command(sub.get(), {"UNSUBSCRIBE"})), "unsubscribe|bar|1");
  EXPECT_EQ(Flat(NextReply(sub.get())), "unsubscribe|foo|0");
  EXPECT_EQ(Flat(Command(sub.get(), {"UNSUBSCRIBE"})), "unsubscribe|nil|0");
  EXPECT_EQ(Exec(sub.get(), {"GET", "bar"}), "nil");  // out of subscribed mode
  EXPECT_EQ(Exec(ctx_.get(), {"PUBLISH", "bar", "hello"}), "int:0");
}

TEST_F(SingleNodeTest, PatternSubscribersHearMatchingChannelsByteForByte) {
  RawClient sub(port());
  sub.Send("*2\r\n$10\r\nPSUBSCRIBE\r\n$5\r\nne?s*\r\n*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n");
  const std::string confirmations =
      "*3\r\n$10\r\npsubscribe\r\n$5\r\nne?s*\r\n:1\r\n"
      "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:2\r\n";
  EXPECT_EQ(sub.ReadBytes(confirmations.size()), confirmations);
  EXPECT_EQ(Exec(ctx_.get(), {"PUBSUB", "NUMPAT"}), "int:1");
  // Both subscriptions receive it: PUBLISH counts two receivers.
  EXPECT_EQ(Exec(ctx_.get(), {"PUBLISH", "news", "hi"}), "int:2");
  const std::string messages =
      "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
      "*4\r\n$8\r\npmessage\r\n$5\r\nne?s*\r\n$4\r\nnews\r\n$2\r\nhi\r\n";
  EXPECT_EQ(sub.ReadBytes(messages.size()), messages);
  EXPECT_EQ(Exec(ctx_.get(), {"PUBLISH", "nets.x", "y"}), "int:1");
  const std::string pmessage = "*4\r\n$8\r\npmessage\r\n$5\r\nne?s*\r\n$6\r\nnets.x\r\n$1\r\ny\r\n";
  EXPECT_EQ(sub.ReadBytes(pmessage.size()), pmessage);
  sub.Send("PUNSUBSCRIBE\r\n");
  const std::string dropped = "*3\r\n$12\r\npunsubscribe\r\n$5\r\nne?s*\r\n:1\r\n";
  EXPECT_EQ(sub.ReadBytes(dropped.size()), dropped);
  EXPECT_EQ(Exec(ctx_.get(), {"PUBSUB", "NUMPAT"}), "int:0");
}

TEST_F(SingleNodeTest, SubscribedResp2ClientMayOnlyRunPubSubCommands) {
  RawClient sub(port());
  sub.Send("SUBSCRIBE bar\r\nGET bar\r\nPUBLISH bar x\r\nHELLO 3\r\nPING\r\nPING hi\r\n");
  const std::string expected =
      "*3\r\n$9\r\nsubscribe\r\n$3\r\nbar\r\n:1\r\n"
      "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
      "are allowed in this context\r\n"
      "-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
      "RESET are allowed in this context\r\n"
      "-ERR Can't execute 'hello': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
      "are allowed in this context\r\n"
      "*2\r\n$4\r\npong\r\n$0\r\n\r\n"
      "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n";
  EXPECT_EQ(sub.ReadBytes(expected.size()), expected);
  // RESET leaves subscribed mode and drops the subscriptions.
  sub.Send("RESET\r\nPING\r\n");
  EXPECT_EQ(sub.ReadBytes(15), "+RESET\r\n+PONG\r\n");
  EXPECT_EQ(Exec(ctx_.get(), {"PUBLISH", "bar", "x"}), "int:0");
}

TEST_F(SingleNodeTest, Resp3SubscribersGetPushesAndMayRunAnyCommand) {
  RawClient sub(port());
  sub.Send("HELLO 3\r\n");
  // HELLO's map ends with the modules array: wait for it, whatever the fields before.
  std::string hello;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!hello.ends_with("$7\r\nmodules\r\n*0\r\n") &&
         std::chrono::steady_clock::now() < deadline) {
    hello += sub.ReadBytes(1, milliseconds(100));
  }
  ASSERT_TRUE(hello.ends_with("$7\r\nmodules\r\n*0\r\n")) << hello;
  sub.Send("SUBSCRIBE bar\r\nGET nothing\r\n");
  const std::string expected = ">3\r\n$9\r\nsubscribe\r\n$3\r\nbar\r\n:1\r\n_\r\n";
  EXPECT_EQ(sub.ReadBytes(expected.size()), expected);
  EXPECT_EQ(Exec(ctx_.get(), {"PUBLISH", "bar", "m"}), "int:1");
  const std::string push = ">3\r\n$7\r\nmessage\r\n$3\r\nbar\r\n$1\r\nm\r\n";
  EXPECT_EQ(sub.ReadBytes(push.size()), push);
  // Its own PUBLISH: the push comes before the reply, as in Redis.
  sub.Send("PUBLISH bar me\r\n");
  const std::string own = ">3\r\n$7\r\nmessage\r\n$3\r\nbar\r\n$2\r\nme\r\n:1\r\n";
  EXPECT_EQ(sub.ReadBytes(own.size()), own);
  sub.Send("UNSUBSCRIBE\r\nUNSUBSCRIBE\r\n");
  const std::string gone =
      ">3\r\n$11\r\nunsubscribe\r\n$3\r\nbar\r\n:0\r\n>3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n";
  EXPECT_EQ(sub.ReadBytes(gone.size()), gone);
}

TEST(RedisServerTest, SubscriberThatDoesNotReadIsCutOff) {
  LoopbackHub hub;
  RedisServerOptions o;
  o.max_pubsub_output = size_t{1} << 20;
  o.max_subscriptions = 2;
  auto shard = SingleNode(&hub, o);
  const int port = shard->server->port();
  Context pub = Connect(port);
  RawClient sub(port);
  sub.Send("SUBSCRIBE bar\r\n");
  EXPECT_TRUE(WaitFor([&] {
    return Exec(pub.get(), {"PUBSUB", "NUMSUB", "bar"}) == "array:2" &&
           Flat(Command(pub.get(), {"PUBSUB", "NUMSUB", "bar"})) == "bar|1";
  }));
  // Limits on subscriptions per client.
  Context many = Connect(port);
  EXPECT_EQ(Exec(many.get(), {"SUBSCRIBE", "a", "b", "c"}),
            "error:ERR max number of subscriptions per client (2) reached");
  // The subscriber never reads: once socket buffers are full, its backlog passes the limit.
  const std::string payload(64 * 1024, 'x');
  bool cut = false;
  for (int i = 0; i < 2000 && !cut; ++i) {
    const std::string got = Exec(pub.get(), {"PUBLISH", "bar", payload});
    ASSERT_TRUE(got == "int:1" || got == "int:0") << got;
    cut = got == "int:0";
  }
  EXPECT_TRUE(cut);
  EXPECT_TRUE(WaitFor([&] {
    return Flat(Command(pub.get(), {"PUBSUB", "NUMSUB", "bar"})) == "bar|0";
  }));
  EXPECT_EQ(Exec(pub.get(), {"PING"}), "status:PONG");
}

TEST(RedisServerTest, StopIsIdempotentAndClosesClients) {
  LoopbackHub hub;
  auto shard = SingleNode(&hub);
  RawClient raw(shard->server->port());
  raw.Send("PING\r\n");
  EXPECT_EQ(raw.ReadBytes(7), "+PONG\r\n");
  shard->server->Stop();
  bool closed = false;
  raw.ReadUntilClosed(&closed);
  EXPECT_TRUE(closed);
  shard->server->Stop();
}

TEST(RedisServerTest, BadAddressIsAnError) {
  LoopbackHub hub;
  auto shard = SingleNode(&hub);
  RedisServerOptions o;
  o.address = "nonsense";
  o.groups = {1, 2};
  RedisServer bad(shard->driver.get(), o);
  EXPECT_FALSE(bad.Start().ok());
  // The port the shard already listens on is taken.
  o.address = absl::StrCat("127.0.0.1:", shard->server->port());
  RedisServer taken(shard->driver.get(), o);
  EXPECT_FALSE(taken.Start().ok());
}

TEST(RedisServerTest, OptionsFromMembership) {
  MembershipConfig config;
  config.groups = {{1, "10.0.0.1:5051"}, {2, "10.0.0.1:5052"}};
  config.bootstrap_lists[1] = {Server{7, "n1", "10.0.0.1:5051", true}};
  config.redis_map = {{"10.0.0.1:5051", "10.0.0.1:6379"}, {"10.0.0.1:5052", "10.0.0.1:6379"}};
  const RedisServerOptions o = RedisServerOptionsFromMembership(config, "0.0.0.0:6379");
  EXPECT_EQ(o.address, "0.0.0.0:6379");
  EXPECT_EQ(o.groups, (std::vector<GroupId>{1, 2}));
  EXPECT_EQ(o.members.at(1), config.bootstrap_lists.at(1));
  ASSERT_NE(o.redis_addresses, nullptr);
  EXPECT_EQ(o.redis_addresses->Entries(), config.redis_map);
}

// Three shards × two groups; each shard's Redis map covers every raft address (§6).
class ClusterTest : public ::testing::Test {
 protected:
  static std::string RaftAddress(int i, GroupId g) {
    return absl::StrCat("10.0.0.", i + 1, ":505", g);
  }

  void SetUp() override {
    absl::flat_hash_map<GroupId, std::vector<Server>> lists;
    for (int i = 0; i < 3; ++i) {
      const std::string raft_id = absl::StrCat("n", i + 1);
      for (GroupId g : kGroups) {
        lists[g].push_back(Server{DeriveNodeId(raft_id), raft_id, RaftAddress(i, g), true});
      }
    }
    for (auto& [g, list] : lists) {
      std::sort(list.begin(), list.end(),
                [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
    }
    for (int i = 0; i < 3; ++i) {
      std::map<GroupId, std::string> groups;
      for (GroupId g : kGroups) groups[g] = RaftAddress(i, g);
      shards_.push_back(std::make_unique<Shard>(&hub_, DeriveNodeId(absl::StrCat("n", i + 1)),
                                                groups, lists, RedisServerOptions{}));
    }
    // Ports are known only after every listener is bound.
    for (int i = 0; i < 3; ++i) {
      for (GroupId g : kGroups) redis_map_[RaftAddress(i, g)] = RedisAddress(i);
    }
    for (auto& s : shards_) s->server->SetRedisMap(redis_map_);
  }

  void TearDown() override { shards_.clear(); }

  std::string RedisAddress(int i) const {
    return absl::StrCat("127.0.0.1:", shards_[static_cast<size_t>(i)]->server->port());
  }

  // The index of the leader of `g` once every shard agrees on it.
  int AgreedLeader(GroupId g) {
    int leader = -1;
    WaitFor([&] {
      NodeId agreed = 0;
      leader = -1;
      for (int i = 0; i < 3; ++i) {
        auto st = shards_[static_cast<size_t>(i)]->driver->Status(g);
        if (!st.ok() || st->leader == 0 || (agreed != 0 && st->leader != agreed)) return false;
        agreed = st->leader;
        if (st->role == raft::Role::kLeader) leader = i;
      }
      return leader >= 0;
    });
    return leader;
  }

  LoopbackHub hub_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::map<std::string, std::string> redis_map_;
};

TEST_F(ClusterTest, SplitCommandNeedsTheLeadOfEveryGroup) {
  const int leader = AgreedLeader(1);
  ASSERT_GE(leader, 0);
  ASSERT_GE(AgreedLeader(2), 0);
  Context f = Connect(shards_[static_cast<size_t>((leader + 1) % 3)]->server->port());
  EXPECT_EQ(Exec(f.get(), {"MGET", kKeyInGroup1, kKeyInGroup2}),
            "error:CROSSSLOT Keys in request don't hash to the same slot (its keys are in groups "
            "this node does not all lead: send it through a gateway)");
}

TEST_F(ClusterTest, FollowerRepliesMovedToTheLeaderWhichAcceptsTheWrite) {
  const int leader = AgreedLeader(1);
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % 3;
  Context f = Connect(shards_[static_cast<size_t>(follower)]->server->port());
  const std::string moved = absl::StrCat("error:MOVED 5061 ", RedisAddress(leader));
  EXPECT_EQ(Exec(f.get(), {"SET", kKeyInGroup1, "v"}), moved);
  EXPECT_EQ(Exec(f.get(), {"GET", kKeyInGroup1}), moved);
  EXPECT_EQ(Exec(f.get(), {"DEL", kKeyInGroup1}), moved);

  // Follow the redirect as a cluster client would.
  Reply r = Command(f.get(), {"SET", kKeyInGroup1, "v"});
  ASSERT_TRUE(r && r->type == REDIS_REPLY_ERROR);
  const std::string target = std::string(r->str, r->len).substr(std::string("MOVED 5061 ").size());
  const int port = std::stoi(target.substr(target.rfind(':') + 1));
  Context l = Connect(port);
  EXPECT_EQ(Exec(l.get(), {"SET", kKeyInGroup1, "v"}), "status:OK");
  EXPECT_EQ(Exec(l.get(), {"GET", kKeyInGroup1}), "str:v");
  EXPECT_EQ(Exec(l.get(), {"DEL", kKeyInGroup1}), "int:1");
}

TEST_F(ClusterTest, InGroupOnAFollowerIsMovedToThatGroupsLeader) {
  const int leader = AgreedLeader(2);
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % 3;
  Context f = Connect(shards_[static_cast<size_t>(follower)]->server->port());
  const std::string moved = absl::StrCat("error:MOVED 0 ", RedisAddress(leader));
  EXPECT_EQ(Exec(f.get(), {"TESSERA.INGROUP", "2", "DBSIZE"}), moved);
  EXPECT_EQ(Exec(f.get(), {"TESSERA.INGROUP", "2", "FLUSHDB"}), moved);
  Context l = Connect(shards_[static_cast<size_t>(leader)]->server->port());
  EXPECT_EQ(Exec(l.get(), {"SET", kKeyInGroup2, "v"}), "status:OK");
  EXPECT_EQ(Exec(l.get(), {"TESSERA.INGROUP", "2", "DBSIZE"}), "int:1");
  EXPECT_EQ(Exec(l.get(), {"TESSERA.INGROUP", "2", "SCAN", "0"}), "array:2");
}

TEST_F(ClusterTest, UnmappedLeaderIsTryAgain) {
  const int leader = AgreedLeader(1);
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % 3;
  shards_[static_cast<size_t>(follower)]->server->SetRedisMap({});
  Context f = Connect(shards_[static_cast<size_t>(follower)]->server->port());
  EXPECT_EQ(Exec(f.get(), {"SET", kKeyInGroup1, "v"}),
            "error:TRYAGAIN leader redis address unknown");
}

TEST_F(ClusterTest, LeaderAddedAtRuntimeIsNamedInMoved) {
  // n4 is in no bootstrap list: it joins as a learner, is promoted and takes group 1's lead.
  // The others must name it from their live configuration and the address book (filled here
  // as a rolling reload would; the raft transport's handshake fills it in a real process).
  const int leader = AgreedLeader(1);
  ASSERT_GE(leader, 0);
  const NodeId n4 = DeriveNodeId("n4");
  std::map<GroupId, std::string> groups;
  for (GroupId g : kGroups) groups[g] = RaftAddress(3, g);
  auto joiner = std::make_unique<Shard>(
      &hub_, n4, groups, absl::flat_hash_map<GroupId, std::vector<Server>>{}, RedisServerOptions{});
  for (GroupId g : kGroups) {
    redis_map_[RaftAddress(3, g)] = absl::StrCat("127.0.0.1:", joiner->server->port());
  }
  for (auto& s : shards_) s->server->SetRedisMap(redis_map_);
  joiner->server->SetRedisMap(redis_map_);

  RaftAdmin* admin = shards_[static_cast<size_t>(leader)]->driver->Admin(1);
  ASSERT_NE(admin, nullptr);
  const auto ctx = [] { return CallContext::WithTimeout(std::chrono::seconds(10)); };
  ASSERT_TRUE(admin->AddLearner(ctx(), "n4", RaftAddress(3, 1), 0).ok());
  absl::StatusOr<uint64_t> promoted = admin->PromoteLearner(ctx(), "n4", 0, 0, true);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  TransferRequest to_n4;
  to_n4.target.raft_id = "n4";
  absl::StatusOr<std::string> moved_to = absl::UnknownError("not tried");
  ASSERT_TRUE(WaitFor([&] {
    moved_to = admin->TransferLeadership(ctx(), to_n4);
    return moved_to.ok();
  })) << moved_to.status();
  ASSERT_TRUE(WaitFor([&] { return joiner->Leads(1); }));

  const std::string moved = absl::StrCat("error:MOVED 5061 127.0.0.1:", joiner->server->port());
  for (int i = 0; i < 3; ++i) {
    Context c = Connect(shards_[static_cast<size_t>(i)]->server->port());
    std::string last;
    EXPECT_TRUE(WaitFor([&] {
      last = Exec(c.get(), {"SET", kKeyInGroup1, "v"});
      return last == moved;
    })) << "n"
        << i + 1 << ": " << last;
  }
  Context l = Connect(joiner->server->port());
  EXPECT_TRUE(WaitFor([&] { return Exec(l.get(), {"SET", kKeyInGroup1, "v4"}) == "status:OK"; }));
  EXPECT_EQ(Exec(l.get(), {"GET", kKeyInGroup1}), "str:v4");
  joiner.reset();
}

TEST_F(ClusterTest, NoLeaderIsTryAgain) {
  const int leader = AgreedLeader(1);
  ASSERT_GE(leader, 0);
  // Cut every link: once the isolated followers' elections start, no leader is known to them.
  const int follower = (leader + 1) % 3;
  const NodeId follower_id = DeriveNodeId(absl::StrCat("n", follower + 1));
  hub_.Isolate(follower_id);
  Context f = Connect(shards_[static_cast<size_t>(follower)]->server->port());
  std::string last;
  EXPECT_TRUE(WaitFor([&] {
    last = Exec(f.get(), {"GET", kKeyInGroup1});
    return last == "error:TRYAGAIN no leader for the group yet";
  })) << last;
  hub_.HealAll();
}

TEST_F(ClusterTest, ChannelsAreServedByTheirGroupsLeader) {
  const int leader = AgreedLeader(1);
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % 3;
  Context f = Connect(shards_[static_cast<size_t>(follower)]->server->port());
  const std::string moved = absl::StrCat("error:MOVED 5061 ", RedisAddress(leader));
  EXPECT_EQ(Exec(f.get(), {"PUBLISH", kKeyInGroup1, "m"}), moved);
  EXPECT_EQ(Exec(f.get(), {"SUBSCRIBE", kKeyInGroup1}), moved);
  // The refused SUBSCRIBE left the connection out of subscribed mode.
  EXPECT_EQ(Exec(f.get(), {"PING"}), "status:PONG");
  // Patterns need no leader: they hear what this node's leaders publish.
  EXPECT_EQ(Flat(Command(f.get(), {"PSUBSCRIBE", "*"})), "psubscribe|*|1");

  RawClient sub(shards_[static_cast<size_t>(leader)]->server->port());
  sub.Send("SUBSCRIBE bar\r\n");
  const std::string confirmation = "*3\r\n$9\r\nsubscribe\r\n$3\r\nbar\r\n:1\r\n";
  EXPECT_EQ(sub.ReadBytes(confirmation.size()), confirmation);
  Context l = Connect(shards_[static_cast<size_t>(leader)]->server->port());
  EXPECT_EQ(Exec(l.get(), {"PUBLISH", kKeyInGroup1, "m"}), "int:1");
  const std::string message = "*3\r\n$7\r\nmessage\r\n$3\r\nbar\r\n$1\r\nm\r\n";
  EXPECT_EQ(sub.ReadBytes(message.size()), message);

  // The leader loses its group: its channel subscribers are closed to resubscribe elsewhere.
  hub_.Isolate(DeriveNodeId(absl::StrCat("n", leader + 1)));
  bool closed = false;
  sub.ReadUntilClosed(&closed, milliseconds(20'000));
  EXPECT_TRUE(closed);
  hub_.HealAll();
}

}  // namespace
}  // namespace tessera::shard
