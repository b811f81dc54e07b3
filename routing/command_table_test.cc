// The command table: lookups, Redis's error texts, key extraction and gateway policies; then
// every row against a real redis-server 7.0 (COMMAND INFO, COMMAND DOCS, COMMAND GETKEYS, arity
// and unknown-command errors), started by the test on 127.0.0.1.
#include "routing/command_table.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

extern char** environ;

namespace tessera::routing {
namespace {

using Argv = std::vector<std::string>;
using Views = std::vector<std::string_view>;

// The issue's command list, in the table's order.
const std::vector<std::string_view> kIssueCommands = {
    // Strings.
    "get", "set", "setnx", "setex", "psetex", "getset", "getdel", "getex", "mget", "mset", "msetnx",
    "append", "strlen", "incr", "incrby", "incrbyfloat", "decr", "decrby", "getrange", "setrange",
    // Keys.
    "del", "unlink", "exists", "type", "rename", "renamenx", "expire", "pexpire", "expireat",
    "pexpireat", "expiretime", "pexpiretime", "ttl", "pttl", "persist", "touch", "keys", "scan",
    "randomkey", "dbsize", "flushdb", "flushall",
    // Hashes.
    "hset", "hsetnx", "hget", "hmget", "hmset", "hdel", "hexists", "hlen", "hstrlen", "hkeys",
    "hvals", "hgetall", "hincrby", "hincrbyfloat", "hscan", "hrandfield",
    // Lists.
    "lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "llen", "lrange", "lindex", "lset",
    "lrem", "ltrim", "linsert", "lpos", "lmove", "rpoplpush", "blpop", "brpop", "blmove",
    // Sets.
    "sadd", "srem", "smembers", "sismember", "smismember", "scard", "spop", "srandmember", "smove",
    "sinter", "sunion", "sdiff", "sinterstore", "sunionstore", "sdiffstore", "sintercard", "sscan",
    // Sorted sets.
    "zadd", "zrem", "zcard", "zscore", "zmscore", "zincrby", "zrank", "zrevrank", "zcount",
    "zlexcount", "zrange", "zrangebyscore", "zrevrangebyscore", "zrangebylex", "zrevrangebylex",
    "zrevrange", "zremrangebyrank", "zremrangebyscore", "zremrangebylex", "zpopmin", "zpopmax",
    "bzpopmin", "bzpopmax", "zrandmember", "zunionstore", "zinterstore", "zscan",
    // Transactions.
    "multi", "exec", "discard", "watch", "unwatch",
    // Pub/Sub.
    "publish", "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "pubsub",
    // Connection and server.
    "ping", "echo", "hello", "auth", "select", "quit", "reset", "client", "info", "time", "config",
    "command"};

// Every row, subcommands after their container.
std::vector<const CommandSpec*> AllRows() {
  std::vector<const CommandSpec*> rows;
  for (const CommandSpec& spec : AllCommands()) {
    rows.push_back(&spec);
    for (const CommandSpec& sub : spec.subcommands) rows.push_back(&sub);
  }
  return rows;
}

std::string KeysOf(const absl::StatusOr<std::vector<size_t>>& keys) {
  if (!keys.ok()) return std::string(keys.status().message());
  return absl::StrJoin(*keys, ",");
}

// ---------------------------------------------------------------------------------------------
// The table on its own.

TEST(CommandTableTest, CoversTheIssueCommandsInOrder) {
  std::vector<std::string_view> names;
  for (const CommandSpec& spec : AllCommands()) names.push_back(spec.name);
  EXPECT_EQ(names, kIssueCommands);
  EXPECT_EQ(AllCommands().size(), 144u);

  std::map<std::string_view, std::vector<std::string_view>> subcommands;
  size_t count = 0;
  for (const CommandSpec& spec : AllCommands()) {
    for (const CommandSpec& sub : spec.subcommands) {
      subcommands[spec.name].push_back(sub.name);
      ++count;
    }
  }
  const std::map<std::string_view, std::vector<std::string_view>> expected = {
      {"client", {"id", "setname", "getname", "list", "info", "kill", "help"}},
      {"config", {"get", "help"}},
      {"command", {"count", "info", "docs", "getkeys", "help"}},
      {"pubsub", {"channels", "numsub", "numpat", "help"}}};
  EXPECT_EQ(subcommands, expected);
  EXPECT_EQ(count, 18u);
}

TEST(CommandTableTest, RowsAreWellFormed) {
  std::set<std::string> full_names;
  for (const CommandSpec* spec : AllRows()) {
    SCOPED_TRACE(spec->full_name);
    EXPECT_FALSE(spec->name.empty());
    EXPECT_EQ(std::string(spec->name), absl::AsciiStrToLower(std::string(spec->name)));
    EXPECT_TRUE(full_names.insert(spec->full_name).second) << "duplicate row";
    EXPECT_NE(spec->arity, 0);
    EXPECT_FALSE(spec->docs.summary.empty());
    EXPECT_FALSE(spec->docs.since.empty());
    EXPECT_FALSE(spec->docs.group.empty());
    EXPECT_FALSE(spec->docs.complexity.empty());
    EXPECT_EQ(spec->docs.deprecated_since.empty(), spec->docs.replaced_by.empty());
    if (spec->container != nullptr) {
      EXPECT_EQ(spec->full_name,
                std::string(spec->container->name) + "|" + std::string(spec->name));
      EXPECT_TRUE(spec->arity >= 2 || spec->arity <= -2) << "the subcommand name counts";
      EXPECT_TRUE(spec->subcommands.empty());
      EXPECT_EQ(spec->policy, MultiKeyPolicy::kLocal);
    } else {
      EXPECT_EQ(spec->full_name, spec->name);
    }
    EXPECT_TRUE(spec->flags.Has(CommandFlag::kFast) != spec->categories.Has(AclCategory::kSlow));
    for (const KeySpec& k : spec->key_specs) {
      EXPECT_GE(k.begin_index, 1);
      EXPECT_GE(k.key_step, 1);
      EXPECT_FALSE(k.flags.empty());
    }
    // The gateway's policy must agree with the keys.
    switch (spec->policy) {
      case MultiKeyPolicy::kLocal:
      case MultiKeyPolicy::kAllGroupsConcat:
      case MultiKeyPolicy::kAllGroupsSum:
      case MultiKeyPolicy::kAllGroupsAllOk:
      case MultiKeyPolicy::kAllGroupsAnyKey:
      case MultiKeyPolicy::kAllGroupsScan:
        EXPECT_FALSE(spec->has_keys());
        break;
      case MultiKeyPolicy::kSingleKey:
        ASSERT_EQ(spec->key_specs.size(), 1u);
        EXPECT_EQ(spec->key_specs[0].find, KeySpec::Find::kRange);
        EXPECT_EQ(spec->key_specs[0].last_key, 0);
        EXPECT_EQ(spec->first_key, spec->last_key);
        EXPECT_FALSE(spec->flags.Has(CommandFlag::kBlocking));
        break;
      case MultiKeyPolicy::kSameGroup:
        EXPECT_TRUE(spec->has_keys());
        EXPECT_TRUE(spec->movablekeys() || spec->last_key != spec->first_key);
        break;
      case MultiKeyPolicy::kSplitConcat:
      case MultiKeyPolicy::kSplitSum:
      case MultiKeyPolicy::kSplitAllOk:
        // Splitting takes every key (with its value for MSET) to the end of argv.
        ASSERT_EQ(spec->key_specs.size(), 1u);
        EXPECT_EQ(spec->key_specs[0].find, KeySpec::Find::kRange);
        EXPECT_EQ(spec->key_specs[0].last_key, -1);
        EXPECT_EQ(spec->key_specs[0].key_step, spec->policy == MultiKeyPolicy::kSplitAllOk ? 2 : 1);
        break;
      case MultiKeyPolicy::kTransaction:
        EXPECT_EQ(spec->docs.group, "transactions");
        break;
    }
    if (spec->flags.Has(CommandFlag::kBlocking)) {
      EXPECT_EQ(spec->policy, MultiKeyPolicy::kSameGroup) << "blocking commands stay in a group";
    }
  }
}

TEST(CommandTableTest, FindCommandIgnoresCase) {
  const CommandSpec* get = FindCommand("get");
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(get->name, "get");
  EXPECT_EQ(FindCommand("GET"), get);
  EXPECT_EQ(FindCommand("gEt"), get);
  EXPECT_EQ(FindCommand("ZREVRANGEBYSCORE"), FindCommand("zrevrangebyscore"));
  EXPECT_EQ(FindCommand("nosuch"), nullptr);
  EXPECT_EQ(FindCommand(""), nullptr);
  EXPECT_EQ(FindCommand(std::string(1000, 'g')), nullptr);
  EXPECT_EQ(FindCommand(std::string_view("get\0", 4)), nullptr);
  EXPECT_EQ(FindCommand("client|id"), nullptr);  // not a dispatchable name

  const CommandSpec* client = FindCommand("Client");
  ASSERT_NE(client, nullptr);
  const CommandSpec* id = FindSubcommand(*client, "ID");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->full_name, "client|id");
  EXPECT_EQ(id->container, client);
  EXPECT_EQ(FindSubcommand(*client, "nosuch"), nullptr);
  EXPECT_EQ(FindSubcommand(*get, "x"), nullptr);

  EXPECT_EQ(FindCommandByFullName("CLIENT|SetName"), FindSubcommand(*client, "setname"));
  EXPECT_EQ(FindCommandByFullName("get"), get);
  EXPECT_EQ(FindCommandByFullName("client|"), nullptr);
  EXPECT_EQ(FindCommandByFullName("get|x"), nullptr);
  EXPECT_EQ(FindCommandByFullName("nosuch|id"), nullptr);
}

TEST(CommandTableTest, DerivedKeyTriplesFlagsAndCategories) {
  struct Case {
    std::string_view name;
    int first, last, step;
    bool movable;
  };
  for (const Case& c : std::vector<Case>{{"get", 1, 1, 1, false},
                                         {"mget", 1, -1, 1, false},
                                         {"mset", 1, -1, 2, false},
                                         {"rename", 1, 2, 1, false},
                                         {"sinterstore", 1, -1, 1, false},
                                         {"blpop", 1, -2, 1, false},
                                         {"blmove", 1, 2, 1, false},
                                         {"zunionstore", 1, 1, 1, true},
                                         {"zinterstore", 1, 1, 1, true},
                                         {"sintercard", 0, 0, 0, true},
                                         {"ping", 0, 0, 0, false},
                                         {"publish", 0, 0, 0, false},
                                         {"subscribe", 0, 0, 0, false},
                                         {"client|id", 0, 0, 0, false}}) {
    SCOPED_TRACE(c.name);
    const CommandSpec* spec = FindCommandByFullName(c.name);
    ASSERT_NE(spec, nullptr);
    EXPECT_EQ(spec->first_key, c.first);
    EXPECT_EQ(spec->last_key, c.last);
    EXPECT_EQ(spec->key_step, c.step);
    EXPECT_EQ(spec->movablekeys(), c.movable);
  }
  const auto categories = [](std::string_view name) {
    std::vector<std::string> out;
    const CommandSpec* spec = FindCommandByFullName(name);
    for (int i = 0; i < kAclCategoryCount; ++i) {
      if (spec->categories.Has(static_cast<AclCategory>(i))) {
        out.push_back(std::string(AclCategoryName(static_cast<AclCategory>(i))));
      }
    }
    return absl::StrJoin(out, " ");
  };
  EXPECT_EQ(categories("get"), "@read @string @fast");
  EXPECT_EQ(categories("del"), "@keyspace @write @slow");
  EXPECT_EQ(categories("blpop"), "@write @list @slow @blocking");
  EXPECT_EQ(categories("client|list"), "@admin @slow @dangerous @connection");
  EXPECT_EQ(categories("client"), "@slow");
  EXPECT_EQ(categories("multi"), "@fast @transaction");
  EXPECT_EQ(categories("publish"), "@pubsub @fast");
  EXPECT_EQ(categories("subscribe"), "@pubsub @slow");
  EXPECT_EQ(categories("pubsub|numsub"), "@pubsub @slow");
}

TEST(CommandTableTest, FlagAndCategoryNames) {
  std::set<std::string_view> names;
  for (int i = 0; i < kCommandFlagCount; ++i) {
    names.insert(CommandFlagName(static_cast<CommandFlag>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kCommandFlagCount));
  EXPECT_EQ(CommandFlagName(CommandFlag::kWrite), "write");
  EXPECT_EQ(CommandFlagName(CommandFlag::kNoAuth), "no_auth");
  EXPECT_EQ(CommandFlagName(CommandFlag::kAllowBusy), "allow_busy");
  EXPECT_EQ(AclCategoryName(AclCategory::kSortedSet), "@sortedset");
  EXPECT_EQ(AclCategoryName(AclCategory::kScripting), "@scripting");
  EXPECT_EQ(KeySpecFlagName(KeySpecFlag::kRO), "RO");
  EXPECT_EQ(KeySpecFlagName(KeySpecFlag::kVariableFlags), "variable_flags");
  EXPECT_EQ(MultiKeyPolicyName(MultiKeyPolicy::kSplitSum), "split-sum");
}

TEST(CommandTableTest, ResolveCommandAndArityErrors) {
  const auto resolve = [](const Views& argv) -> std::string {
    absl::StatusOr<const CommandSpec*> spec = ResolveCommand(argv);
    return spec.ok() ? (*spec)->full_name : std::string(spec.status().message());
  };
  EXPECT_EQ(resolve({"GET", "k"}), "get");
  EXPECT_EQ(resolve({"get"}), "ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(resolve({"Get", "a", "b"}), "ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(resolve({"set", "k"}), "ERR wrong number of arguments for 'set' command");
  EXPECT_EQ(resolve({"set", "k", "v", "ex", "10"}), "set");
  EXPECT_EQ(resolve({"client", "setname"}),
            "ERR wrong number of arguments for 'client|setname' command");
  EXPECT_EQ(resolve({"CLIENT", "SETNAME", "x"}), "client|setname");
  EXPECT_EQ(resolve({"client", "id", "x"}),
            "ERR wrong number of arguments for 'client|id' command");
  EXPECT_EQ(resolve({"client"}), "ERR wrong number of arguments for 'client' command");
  EXPECT_EQ(resolve({"config"}), "ERR wrong number of arguments for 'config' command");
  EXPECT_EQ(resolve({"command"}), "command");  // COMMAND alone lists every command
  EXPECT_EQ(resolve({"exec", "x"}),
            "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' "
            "command");
  EXPECT_EQ(resolve({"client", "x"}), "ERR unknown subcommand 'x'. Try CLIENT HELP.");
  EXPECT_EQ(resolve({"Config", "SET", "a", "b"}), "ERR unknown subcommand 'SET'. Try CONFIG HELP.");
  EXPECT_EQ(resolve({"foo", "a", "b"}),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' ");

  EXPECT_EQ(ResolveCommand(Views{"nosuch"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ResolveCommand(Views{"client", "x"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ResolveCommand(Views{"get"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckArity(*FindCommand("mset"), 3).ok());
  EXPECT_FALSE(CheckArity(*FindCommand("mset"), 2).ok());
  EXPECT_TRUE(CheckArity(*FindCommand("mset"), 100).ok());
}

TEST(CommandTableTest, UnknownCommandMessagesFollowRedisTruncation) {
  EXPECT_EQ(UnknownCommandMessage(Views{"foo"}),
            "ERR unknown command 'foo', with args beginning with: ");
  EXPECT_EQ(UnknownCommandMessage(Views{"foo", ""}),
            "ERR unknown command 'foo', with args beginning with: '' ");
  // Arguments are quoted until 128 bytes of quoted text are used; the one crossing the limit is
  // cut to what is left.
  const std::string x200(200, 'x');
  EXPECT_EQ(
      UnknownCommandMessage(Views{"foo", x200, "b"}),
      "ERR unknown command 'foo', with args beginning with: '" + std::string(128, 'x') + "' ");
  EXPECT_EQ(
      UnknownCommandMessage(Views{"foo", "a", x200, "b"}),
      "ERR unknown command 'foo', with args beginning with: 'a' '" + std::string(124, 'x') + "' ");
  EXPECT_EQ(UnknownCommandMessage(Views{x200, "a"}),
            "ERR unknown command '" + std::string(128, 'x') + "', with args beginning with: 'a' ");
  // C string printing stops at NUL; CR and LF become spaces.
  EXPECT_EQ(UnknownCommandMessage(Views{std::string_view("fo\0o", 4), std::string_view("x\0y", 3)}),
            "ERR unknown command 'fo', with args beginning with: 'x' ");
  EXPECT_EQ(UnknownCommandMessage(Views{"foo", "a\r\nb"}),
            "ERR unknown command 'foo', with args beginning with: 'a  b' ");

  EXPECT_EQ(UnknownSubcommandMessage(Views{"client", "x"}),
            "ERR unknown subcommand 'x'. Try CLIENT HELP.");
  EXPECT_EQ(UnknownSubcommandMessage(Views{"cOnFiG", "a'b"}),
            "ERR unknown subcommand 'a'b'. Try CONFIG HELP.");
  EXPECT_EQ(UnknownSubcommandMessage(Views{"command", x200}),
            "ERR unknown subcommand '" + std::string(128, 'x') + "'. Try COMMAND HELP.");
  EXPECT_EQ(UnknownSubcommandMessage(Views{"client", "x\ny"}),
            "ERR unknown subcommand 'x y'. Try CLIENT HELP.");
}

TEST(CommandTableTest, GetKeysOfMovableKeysCommands) {
  const auto keys = [](const Views& argv) { return KeysOf(GetKeys(*FindCommand(argv[0]), argv)); };
  const std::string invalid = "ERR Invalid arguments specified for command";
  for (std::string_view name : {"zunionstore", "zinterstore"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(keys({name, "d", "2", "a", "b"}), "1,3,4");
    EXPECT_EQ(keys({name, "d", "2", "a", "b", "WEIGHTS", "1", "2"}), "1,3,4");
    EXPECT_EQ(keys({name, "d", "1", "a", "AGGREGATE", "MAX"}), "1,3");
    EXPECT_EQ(keys({name, "d", "3", "a", "b"}), invalid);  // more keys than arguments
    EXPECT_EQ(keys({name, "d", "0", "a"}), invalid);
    EXPECT_EQ(keys({name, "d", "-1", "a"}), invalid);
    EXPECT_EQ(keys({name, "d", "x", "a"}), invalid);
    EXPECT_EQ(keys({name, "d", "9223372036854775807", "a"}), invalid);
    EXPECT_EQ(keys({name, "d", "99999999999999999999", "a"}), invalid);
    // Redis's own parser rejects these numkeys too; Tessera does not mimic COMMAND GETKEYS's
    // lenient atoi fallback.
    EXPECT_EQ(keys({name, "d", "01", "a"}), invalid);
    EXPECT_EQ(keys({name, "d", "+1", "a"}), invalid);
    EXPECT_EQ(keys({name, "d", " 1", "a"}), invalid);
  }
  EXPECT_EQ(keys({"sintercard", "2", "a", "b"}), "2,3");
  EXPECT_EQ(keys({"sintercard", "1", "a", "LIMIT", "5"}), "2");
  EXPECT_EQ(keys({"sintercard", "3", "a", "b"}), invalid);
  EXPECT_EQ(keys({"sintercard", "0", "a"}), invalid);
  EXPECT_EQ(keys({"sintercard", "-1", "a"}), invalid);
  EXPECT_EQ(keys({"sintercard", "2147483648", "a"}), invalid);
}

TEST(CommandTableTest, GetKeysOfRangeCommands) {
  const auto keys = [](const Views& argv) { return KeysOf(GetKeys(*FindCommand(argv[0]), argv)); };
  // The timeout closes the blocking pops.
  EXPECT_EQ(keys({"blpop", "a", "0"}), "1");
  EXPECT_EQ(keys({"blpop", "a", "b", "c", "0"}), "1,2,3");
  EXPECT_EQ(keys({"brpop", "a", "b", "1.5"}), "1,2");
  EXPECT_EQ(keys({"bzpopmin", "a", "b", "0"}), "1,2");
  EXPECT_EQ(keys({"bzpopmax", "a", "0"}), "1");
  // Source and destination.
  EXPECT_EQ(keys({"blmove", "s", "d", "LEFT", "RIGHT", "0"}), "1,2");
  EXPECT_EQ(keys({"lmove", "s", "d", "LEFT", "RIGHT"}), "1,2");
  EXPECT_EQ(keys({"rpoplpush", "s", "d"}), "1,2");
  EXPECT_EQ(keys({"smove", "s", "d", "m"}), "1,2");
  EXPECT_EQ(keys({"rename", "s", "d"}), "1,2");
  EXPECT_EQ(keys({"sinterstore", "d", "a", "b"}), "1,2,3");
  // Every key, or every other argument.
  EXPECT_EQ(keys({"mget", "a", "b", "c"}), "1,2,3");
  EXPECT_EQ(keys({"del", "a"}), "1");
  EXPECT_EQ(keys({"mset", "a", "1", "b", "2"}), "1,3");
  EXPECT_EQ(keys({"mset", "a", "1", "b"}), "1,3");  // the command itself rejects the odd count
  EXPECT_EQ(keys({"watch", "a", "b"}), "1,2");
  EXPECT_EQ(keys({"set", "k", "v", "GET"}), "1");
  EXPECT_EQ(keys({"hset", "h", "f", "v"}), "1");
  EXPECT_EQ(keys({"ping"}), "");
  EXPECT_EQ(keys({"keys", "*"}), "");
}

TEST(CommandTableTest, CommandGetKeysChecksInRedisOrder) {
  const auto getkeys = [](const Views& target) { return KeysOf(CommandGetKeys(target)); };
  EXPECT_EQ(getkeys({"GET", "a"}), "1");
  EXPECT_EQ(getkeys({"nosuch", "a"}), "ERR Invalid command specified");
  EXPECT_EQ(getkeys({"client", "nosuch"}), "ERR Invalid command specified");
  EXPECT_EQ(getkeys({"client", "list"}), "ERR The command has no key arguments");
  EXPECT_EQ(getkeys({"ping", "a", "b"}), "ERR The command has no key arguments");
  EXPECT_EQ(getkeys({"get", "a", "b"}), "ERR Invalid number of arguments specified for command");
  EXPECT_EQ(getkeys({"zunionstore", "d", "1"}),
            "ERR Invalid number of arguments specified for command");
  EXPECT_EQ(getkeys({"zunionstore", "d", "5", "a", "b"}),
            "ERR Invalid arguments specified for command");
  EXPECT_EQ(getkeys({"zunionstore", "d", "2", "a", "b"}), "1,3,4");
}

TEST(CommandTableTest, MultiKeyPolicies) {
  using enum MultiKeyPolicy;
  const std::map<std::string_view, MultiKeyPolicy> expected = {
      {"mget", kSplitConcat},
      {"del", kSplitSum},
      {"unlink", kSplitSum},
      {"exists", kSplitSum},
      {"touch", kSplitSum},
      {"mset", kSplitAllOk},
      {"msetnx", kSameGroup},
      {"rename", kSameGroup},
      {"renamenx", kSameGroup},
      {"lmove", kSameGroup},
      {"rpoplpush", kSameGroup},
      {"blpop", kSameGroup},
      {"brpop", kSameGroup},
      {"blmove", kSameGroup},
      {"smove", kSameGroup},
      {"sinter", kSameGroup},
      {"sunion", kSameGroup},
      {"sdiff", kSameGroup},
      {"sinterstore", kSameGroup},
      {"sunionstore", kSameGroup},
      {"sdiffstore", kSameGroup},
      {"sintercard", kSameGroup},
      {"bzpopmin", kSameGroup},
      {"bzpopmax", kSameGroup},
      {"zunionstore", kSameGroup},
      {"zinterstore", kSameGroup},
      {"keys", kAllGroupsConcat},
      {"scan", kAllGroupsScan},
      {"randomkey", kAllGroupsAnyKey},
      {"dbsize", kAllGroupsSum},
      {"flushdb", kAllGroupsAllOk},
      {"flushall", kAllGroupsAllOk},
      {"multi", kTransaction},
      {"exec", kTransaction},
      {"discard", kTransaction},
      {"watch", kTransaction},
      {"unwatch", kTransaction},
      // Channels are not keys: the shard routes them itself, the gateway does not serve them.
      {"publish", kLocal},
      {"subscribe", kLocal},
      {"unsubscribe", kLocal},
      {"psubscribe", kLocal},
      {"punsubscribe", kLocal},
      {"pubsub", kLocal},
      {"ping", kLocal},
      {"echo", kLocal},
      {"hello", kLocal},
      {"auth", kLocal},
      {"select", kLocal},
      {"quit", kLocal},
      {"reset", kLocal},
      {"client", kLocal},
      {"info", kLocal},
      {"time", kLocal},
      {"config", kLocal},
      {"command", kLocal},
  };
  for (const CommandSpec& spec : AllCommands()) {
    const auto it = expected.find(spec.name);
    EXPECT_EQ(MultiKeyPolicyName(spec.policy),
              MultiKeyPolicyName(it == expected.end() ? kSingleKey : it->second))
        << spec.name;
  }
}

TEST(CommandTableTest, ArgvRefViewsEveryContainer) {
  const std::vector<std::string> strings = {"zunionstore", "d", "1", "a"};
  const std::vector<std::string_view> views = {"zunionstore", "d", "1", "a"};
  const CommandSpec& spec = *FindCommand("zunionstore");
  EXPECT_EQ(KeysOf(GetKeys(spec, strings)), "1,3");
  EXPECT_EQ(KeysOf(GetKeys(spec, views)), "1,3");
  EXPECT_EQ(KeysOf(GetKeys(spec, absl::MakeConstSpan(strings))), "1,3");
  const std::vector<std::string> getkeys = {"command", "getkeys", "get", "k"};
  const ArgvRef target = ArgvRef(getkeys).Skip(2);
  ASSERT_EQ(target.size(), 2u);
  EXPECT_EQ(target[0], "get");
  EXPECT_EQ(KeysOf(CommandGetKeys(target)), "1");
  EXPECT_EQ(ArgvRef(getkeys).Skip(9).size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Against a real redis-server.

constexpr std::chrono::seconds kStartDeadline{10};
constexpr std::chrono::seconds kStopDeadline{5};
constexpr timeval kIoTimeout{5, 0};

bool OnPath(std::string_view program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    if (dir.empty()) continue;
    if (access((std::string(dir) + "/" + std::string(program)).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// A port the kernel just handed out, released for redis-server to take.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// One RESP2 reply.
struct Reply {
  enum class Type { kSimple, kError, kInteger, kBulk, kNil, kArray };
  Type type = Type::kNil;
  std::string str;
  int64_t integer = 0;
  std::vector<Reply> elements;
};

enum class ParseResult { kDone, kMore, kBad };

// Parses one reply at in[*pos...]; on kDone *pos is just past it.
ParseResult ParseReply(std::string_view in, size_t* pos, Reply* out) {
  const size_t eol = in.find("\r\n", *pos);
  if (eol == std::string_view::npos) return ParseResult::kMore;
  if (eol == *pos) return ParseResult::kBad;
  const char type = in[*pos];
  const std::string line(in.substr(*pos + 1, eol - *pos - 1));
  size_t next = eol + 2;
  switch (type) {
    case '+':
    case '-':
      out->type = type == '+' ? Reply::Type::kSimple : Reply::Type::kError;
      out->str = line;
      break;
    case ':':
      out->type = Reply::Type::kInteger;
      out->integer = std::strtoll(line.c_str(), nullptr, 10);
      break;
    case '$': {
      const long long len = std::strtoll(line.c_str(), nullptr, 10);
      if (len < 0) {
        out->type = Reply::Type::kNil;
        break;
      }
      if (in.size() < next + static_cast<size_t>(len) + 2) return ParseResult::kMore;
      out->type = Reply::Type::kBulk;
      out->str = std::string(in.substr(next, static_cast<size_t>(len)));
      next += static_cast<size_t>(len) + 2;
      break;
    }
    case '*': {
      const long long count = std::strtoll(line.c_str(), nullptr, 10);
      if (count < 0) {
        out->type = Reply::Type::kNil;
        break;
      }
      out->type = Reply::Type::kArray;
      out->elements.resize(static_cast<size_t>(count));
      for (Reply& element : out->elements) {
        if (ParseResult r = ParseReply(in, &next, &element); r != ParseResult::kDone) return r;
      }
      break;
    }
    default:
      return ParseResult::kBad;
  }
  *pos = next;
  return ParseResult::kDone;
}

// A blocking RESP2 client whose every send and receive is bounded by kIoTimeout. (hiredis 0.14
// cannot read COMMAND DOCS of a container: its replies nest deeper than 7 levels.)
class RedisClient {
 public:
  static std::unique_ptr<RedisClient> Connect(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return nullptr;
    auto client = std::make_unique<RedisClient>(fd);
    timeval tv = kIoTimeout;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return nullptr;
    }
    return client;
  }

  explicit RedisClient(int fd) : fd_(fd) {}
  ~RedisClient() { close(fd_); }
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // nullopt, with error() set, on a socket error, a timeout or a reply that is not RESP2.
  std::optional<Reply> Call(const Argv& argv) {
    std::string request = "*" + std::to_string(argv.size()) + "\r\n";
    for (const std::string& a : argv) {
      request += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    }
    for (size_t sent = 0; sent < request.size();) {
      const ssize_t n = send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return Fail(std::string("send: ") + strerror(errno));
      sent += static_cast<size_t>(n);
    }
    std::string input;
    char buf[16384];
    while (true) {
      Reply reply;
      size_t pos = 0;
      const ParseResult r = ParseReply(input, &pos, &reply);
      if (r == ParseResult::kDone) return reply;
      if (r == ParseResult::kBad) return Fail("protocol error");
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) return Fail("connection closed");
      if (n < 0) return Fail(std::string("recv: ") + strerror(errno));
      input.append(buf, static_cast<size_t>(n));
    }
  }

  const std::string& error() const { return error_; }

 private:
  std::optional<Reply> Fail(std::string error) {
    error_ = std::move(error);
    return std::nullopt;
  }

  const int fd_;
  std::string error_;
};

// A redis-server child on 127.0.0.1, stopped (SIGTERM, then SIGKILL) when destroyed.
class RedisProcess {
 public:
  static std::unique_ptr<RedisProcess> Start(std::string* error) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto p = std::make_unique<RedisProcess>();
      if (p->Spawn(error) && p->WaitReady(error)) return p;
    }
    return nullptr;
  }

  RedisProcess() = default;
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  ~RedisProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kStopDeadline;
    while (waitpid(pid_, nullptr, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (ready_) unlink(log_.c_str());  // kept for diagnosis when the server never came up
  }

  int port() const { return port_; }

 private:
  bool Spawn(std::string* error) {
    port_ = FreePort();
    if (port_ <= 0) {
      *error = "no free port";
      return false;
    }
    log_ = absl::StrCat(testing::TempDir(), "command_table_test_redis_", port_, ".log");
    const Argv args = {"redis-server",
                       "--port",
                       std::to_string(port_),
                       "--bind",
                       "127.0.0.1",
                       "--save",
                       "",
                       "--appendonly",
                       "no",
                       "--dir",
                       testing::TempDir(),
                       "--logfile",
                       log_};
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    const int rc = posix_spawnp(&pid_, "redis-server", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = 0;
      *error = absl::StrCat("posix_spawnp redis-server: ", strerror(rc));
      return false;
    }
    return true;
  }

  bool WaitReady(std::string* error) {
    const auto deadline = std::chrono::steady_clock::now() + kStartDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = 0;
        *error = absl::StrCat("redis-server exited early; see ", log_);
        return false;
      }
      if (std::unique_ptr<RedisClient> c = RedisClient::Connect(port_)) {
        std::optional<Reply> r = c->Call({"PING"});
        if (r.has_value() && r->type == Reply::Type::kSimple && r->str == "PONG") {
          ready_ = true;
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    *error = absl::StrCat("redis-server did not answer PING within ", kStartDeadline.count(),
                          "s; see ", log_);
    return false;
  }

  pid_t pid_ = 0;
  int port_ = 0;
  bool ready_ = false;
  std::string log_;
};

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// A reply as one line: strings quoted, errors as error:"...", arrays in brackets.
std::string Render(const Reply& r) {
  switch (r.type) {
    case Reply::Type::kSimple:
    case Reply::Type::kBulk:
      return Quote(r.str);
    case Reply::Type::kError:
      return "error:" + Quote(r.str);
    case Reply::Type::kInteger:
      return std::to_string(r.integer);
    case Reply::Type::kNil:
      return "nil";
    case Reply::Type::kArray: {
      std::vector<std::string> items;
      for (const Reply& e : r.elements) items.push_back(Render(e));
      return "[" + absl::StrJoin(items, ",") + "]";
    }
  }
  return "unknown reply type";
}

std::string List(const std::vector<std::string>& items) {
  return "[" + absl::StrJoin(items, ",") + "]";
}

template <typename E, typename NameFn>
std::string Names(EnumSet<E> set, int count, NameFn name) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    if (set.Has(static_cast<E>(i))) out.push_back(Quote(name(static_cast<E>(i))));
  }
  return List(out);
}

std::string RenderKeySpec(const KeySpec& k) {
  std::vector<std::string> fields;
  if (!k.notes.empty()) fields = {Quote("notes"), Quote(k.notes)};
  fields.push_back(Quote("flags"));
  fields.push_back(Names(k.flags, kKeySpecFlagCount, KeySpecFlagName));
  fields.push_back(Quote("begin_search"));
  fields.push_back(absl::StrCat("[\"type\",\"index\",\"spec\",[\"index\",", k.begin_index, "]]"));
  fields.push_back(Quote("find_keys"));
  if (k.find == KeySpec::Find::kRange) {
    fields.push_back(absl::StrCat("[\"type\",\"range\",\"spec\",[\"lastkey\",", k.last_key,
                                  ",\"keystep\",", k.key_step, ",\"limit\",", k.limit, "]]"));
  } else {
    fields.push_back(absl::StrCat("[\"type\",\"keynum\",\"spec\",[\"keynumidx\",", k.keynum_index,
                                  ",\"firstkey\",", k.first_key, ",\"keystep\",", k.key_step,
                                  "]]"));
  }
  return List(fields);
}

// COMMAND INFO's entry for `spec` without its last element (the subcommands), in RESP2 form.
std::string ExpectedInfoHead(const CommandSpec& spec) {
  std::vector<std::string> tips;
  for (std::string_view t : spec.tips) tips.push_back(Quote(t));
  std::vector<std::string> key_specs;
  for (const KeySpec& k : spec.key_specs) key_specs.push_back(RenderKeySpec(k));
  return List(
      {Quote(spec.full_name), std::to_string(spec.arity),
       Names(spec.flags, kCommandFlagCount, CommandFlagName), std::to_string(spec.first_key),
       std::to_string(spec.last_key), std::to_string(spec.key_step),
       Names(spec.categories, kAclCategoryCount, AclCategoryName), List(tips), List(key_specs)});
}

std::string InfoHead(const Reply& entry) {
  if (entry.type != Reply::Type::kArray || entry.elements.size() != 10) {
    return "unexpected: " + Render(entry);
  }
  std::vector<std::string> items;
  for (size_t i = 0; i < 9; ++i) items.push_back(Render(entry.elements[i]));
  return List(items);
}

// COMMAND DOCS fields Tessera keeps, in Redis's order.
std::string ExpectedDocs(const CommandSpec& spec) {
  const CommandDocs& d = spec.docs;
  std::vector<std::string> out = {Quote("summary"),    Quote(d.summary),   Quote("since"),
                                  Quote(d.since),      Quote("group"),     Quote(d.group),
                                  Quote("complexity"), Quote(d.complexity)};
  if (!d.deprecated_since.empty()) {
    out.insert(out.end(),
               {Quote("doc_flags"), List({Quote("deprecated")}), Quote("deprecated_since"),
                Quote(d.deprecated_since), Quote("replaced_by"), Quote(d.replaced_by)});
  }
  return List(out);
}

// Redis's COMMAND DOCS map for one command, without what Tessera leaves out.
std::string Docs(const Reply& map) {
  if (map.type != Reply::Type::kArray) return "unexpected: " + Render(map);
  std::vector<std::string> out;
  for (size_t i = 0; i + 1 < map.elements.size(); i += 2) {
    const std::string& key = map.elements[i].str;
    if (key == "history" || key == "arguments" || key == "subcommands") continue;
    out.push_back(Quote(key));
    out.push_back(Render(map.elements[i + 1]));
  }
  return List(out);
}

// Our answer to `argv` for the rows' dispatch-time checks and COMMAND GETKEYS, in Render's form.
std::string OurReply(const Argv& argv) {
  absl::StatusOr<const CommandSpec*> spec = ResolveCommand(argv);
  if (!spec.ok()) return "error:" + Quote(std::string(spec.status().message()));
  if ((*spec)->full_name != "command|getkeys") return "ok";
  absl::StatusOr<std::vector<size_t>> keys = CommandGetKeys(ArgvRef(argv).Skip(2));
  if (!keys.ok()) return "error:" + Quote(std::string(keys.status().message()));
  std::vector<std::string> names;
  for (size_t i : *keys) names.push_back(Quote(argv[2 + i]));
  return List(names);
}

// argv for `spec` with `argc` arguments in all, the ones after the name(s) a1, a2, ...
std::optional<Argv> ArgvWithArgc(const CommandSpec& spec, int argc) {
  Argv argv;
  if (spec.container != nullptr) argv.push_back(std::string(spec.container->name));
  argv.push_back(std::string(spec.name));
  if (argc < static_cast<int>(argv.size())) return std::nullopt;
  while (static_cast<int>(argv.size()) < argc) argv.push_back(absl::StrCat("a", argv.size()));
  return argv;
}

class RedisComparisonTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!OnPath("redis-server")) return;
    server_ = RedisProcess::Start(&start_error_);
  }

  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    if (!OnPath("redis-server")) {
      GTEST_SKIP() << "redis-server is not on PATH: the comparison with Redis 7.0 needs it "
                      "(Debian package redis-server)";
    }
    ASSERT_NE(server_, nullptr) << "could not start redis-server: " << start_error_;
    redis_ = RedisClient::Connect(server_->port());
    ASSERT_NE(redis_, nullptr) << "cannot connect to redis-server on port " << server_->port();
    std::optional<Reply> info = Redis({"INFO", "server"});
    ASSERT_TRUE(info.has_value());
    ASSERT_NE(info->str.find("redis_version:7.0."), std::string::npos)
        << "the table pins Redis 7.0's facts; this redis-server is another version";
  }

  // nullopt (and a test failure) when redis-server did not answer in time.
  std::optional<Reply> Redis(const Argv& argv) {
    std::optional<Reply> r = redis_->Call(argv);
    EXPECT_TRUE(r.has_value()) << "no reply to " << absl::StrJoin(argv, " ") << ": "
                               << redis_->error();
    return r;
  }

  static inline std::unique_ptr<RedisProcess> server_;
  static inline std::string start_error_;
  std::unique_ptr<RedisClient> redis_;
};

TEST_F(RedisComparisonTest, CommandInfoMatchesEveryRow) {
  for (const CommandSpec* spec : AllRows()) {
    SCOPED_TRACE(spec->full_name);
    std::optional<Reply> r = Redis({"COMMAND", "INFO", spec->full_name});
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->type, Reply::Type::kArray);
    ASSERT_EQ(r->elements.size(), 1u);
    const Reply& entry = r->elements[0];
    EXPECT_EQ(ExpectedInfoHead(*spec), InfoHead(entry));
    if (entry.type != Reply::Type::kArray || entry.elements.size() != 10) continue;
    // Redis's containers have more subcommands than Tessera serves; each of ours must be there.
    std::set<std::string> redis_subs;
    for (const Reply& sub : entry.elements[9].elements) {
      if (!sub.elements.empty()) redis_subs.insert(sub.elements[0].str);
    }
    for (const CommandSpec& sub : spec->subcommands) {
      EXPECT_TRUE(redis_subs.contains(sub.full_name)) << sub.full_name;
    }
    EXPECT_EQ(redis_subs.empty(), spec->subcommands.empty());
  }
}

TEST_F(RedisComparisonTest, CommandDocsMatchEveryRow) {
  for (const CommandSpec* spec : AllRows()) {
    SCOPED_TRACE(spec->full_name);
    std::optional<Reply> r = Redis({"COMMAND", "DOCS", spec->full_name});
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->type, Reply::Type::kArray);
    ASSERT_EQ(r->elements.size(), 2u) << Render(*r);
    EXPECT_EQ(Render(r->elements[0]), Quote(spec->full_name));
    EXPECT_EQ(ExpectedDocs(*spec), Docs(r->elements[1]));
  }
}

TEST_F(RedisComparisonTest, CommandGetKeysMatchesForEveryRow) {
  std::vector<Argv> targets;
  for (const CommandSpec* spec : AllRows()) {
    // Too few, exact and a few more arguments than the arity asks for.
    const int base = spec->arity > 0 ? spec->arity : -spec->arity;
    for (int argc = base - 1; argc <= base + (spec->arity > 0 ? 1 : 4); ++argc) {
      if (std::optional<Argv> argv = ArgvWithArgc(*spec, argc)) targets.push_back(*argv);
    }
  }
  // Arguments the generated ones do not reach: key counts, options after the keys, timeouts.
  const std::vector<Argv> representative = {
      {"zunionstore", "d", "2", "a", "b"},
      {"zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2", "AGGREGATE", "SUM"},
      {"zunionstore", "d", "3", "a", "b"},
      {"zunionstore", "d", "0", "a"},
      {"zunionstore", "d", "-1", "a"},
      {"zunionstore", "d", "x", "a"},
      {"zunionstore", "d", "2147483647", "a"},
      {"zinterstore", "d", "1", "a"},
      {"zinterstore", "d", "3", "a", "b", "c", "WEIGHTS", "1", "2", "3"},
      {"zinterstore", "d", "2", "a"},
      {"sintercard", "2", "a", "b"},
      {"sintercard", "1", "a", "LIMIT", "5"},
      {"sintercard", "3", "a", "b"},
      {"sintercard", "0", "a"},
      {"sintercard", "-1", "a"},
      {"sintercard", "2147483648", "a"},
      {"blpop", "a", "b", "c", "0"},
      {"brpop", "a", "1.5"},
      {"bzpopmin", "a", "b", "0"},
      {"bzpopmax", "a", "b", "c", "d", "0"},
      {"blmove", "s", "d", "LEFT", "RIGHT", "0"},
      {"lmove", "s", "d", "RIGHT", "LEFT"},
      {"mset", "a", "1", "b", "2", "c", "3"},
      {"msetnx", "a", "1", "b", "2"},
      {"mget", "a", "b", "c", "d"},
      {"del", "a", "b", "c"},
      {"set", "k", "v", "NX", "GET", "EX", "10"},
      {"getex", "k", "PERSIST"},
      {"sinterstore", "d", "a", "b", "c"},
      {"watch", "a", "b", "c"},
      {"GET", "k"},
      {"client", "nosuch"},
      {"nosuch", "a"},
      {"client", "setname", "x"},
      {"command", "getkeys", "get", "k"},
  };
  targets.insert(targets.end(), representative.begin(), representative.end());
  for (const Argv& target : targets) {
    Argv argv = {"COMMAND", "GETKEYS"};
    argv.insert(argv.end(), target.begin(), target.end());
    SCOPED_TRACE(absl::StrJoin(argv, " "));
    std::optional<Reply> r = Redis(argv);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(OurReply(argv), Render(*r));
  }
}

TEST_F(RedisComparisonTest, ArityErrorsMatchEveryRow) {
  int compared = 0;
  for (const CommandSpec* spec : AllRows()) {
    // Only argument counts the arity refuses: Redis rejects those before running anything.
    const int base = spec->arity > 0 ? spec->arity : -spec->arity;
    std::vector<int> wrong = {base - 1};
    if (spec->arity > 0) wrong.push_back(base + 1);
    for (int argc : wrong) {
      std::optional<Argv> argv = ArgvWithArgc(*spec, argc);
      if (!argv.has_value() || argv->empty()) continue;
      SCOPED_TRACE(absl::StrJoin(*argv, " "));
      const std::string ours = OurReply(*argv);
      ASSERT_NE(ours, "ok") << "the table accepts an argument count it should refuse";
      std::optional<Reply> r = Redis(*argv);
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(ours, Render(*r));
      ++compared;
    }
  }
  EXPECT_GT(compared, 150);
}

TEST_F(RedisComparisonTest, UnknownCommandAndSubcommandErrorsMatch) {
  const std::string x200(200, 'x');
  std::vector<Argv> cases = {
      {"foo"},
      {"foo", "a", "b"},
      {"foo", ""},
      {"FOO", x200, "b"},
      {"foo", "a", x200, "b"},
      {x200, "a"},
      {"foo", "a\r\nb", "c"},
      {std::string("fo\0o", 4), std::string("x\0y", 3)},
      {"client|id"},
      {"get|x", "a"},
      {"client", "foo"},
      {"CLIENT", "FOO", "bar"},
      {"Config", "nosuch"},
      {"command", "foo"},
      {"client", x200},
      {"client", "a'b"},
      {"client", "x\ny"},
      {"client", std::string("a\0b", 3)},
  };
  // Many short arguments: the limit falls inside one of them.
  Argv many = {"nosuch"};
  for (int i = 0; i < 30; ++i) many.push_back(absl::StrCat("argument", i));
  cases.push_back(many);
  for (const Argv& argv : cases) {
    SCOPED_TRACE(Quote(absl::StrJoin(argv, " ")));
    std::optional<Reply> r = Redis(argv);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(OurReply(argv), Render(*r));
  }
}

}  // namespace
}  // namespace tessera::routing
