// ConfigFlagsTest (spec/membership.md §11): the grammar of §1.2, each validation rule of
// §1.3 in order, the Redis map rules of §6 and the per-group resolution of §2.
#include "shard/config/membership_flags.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "shard/config/config_errc.h"

namespace tessera::shard {
namespace {

constexpr char kPeers[] =
    "1=n1@10.0.0.1:5051,n2@10.0.0.2:5051,n3@10.0.0.3:5051;"
    "2=n1@10.0.0.1:5052,n2@10.0.0.2:5052,n3@10.0.0.3:5052";
constexpr char kRedisMap[] =
    "10.0.0.1:5051=10.0.0.1:6379,10.0.0.1:5052=10.0.0.1:6379,"
    "10.0.0.2:5051=10.0.0.2:6379,10.0.0.2:5052=10.0.0.2:6379,"
    "10.0.0.3:5051=10.0.0.3:6379,10.0.0.3:5052=10.0.0.3:6379";

// n1 of the spec's 3 nodes x 2 groups example.
MembershipFlags ThreeByTwo(std::string raft_id = "n1") {
  const std::string host = "10.0.0." + raft_id.substr(1);
  MembershipFlags f;
  f.raft_id = raft_id;
  f.raft_groups = "1=" + host + ":5051,2=" + host + ":5052";
  f.raft_group_peers = kPeers;
  f.raft_redis_map = kRedisMap;
  f.redis_address = host + ":6379";
  return f;
}

// A single node hosting groups 1 and 2, no lists.
MembershipFlags Lone() {
  MembershipFlags f;
  f.raft_id = "n1";
  f.raft_groups = "1=10.0.0.1:5051,2=10.0.0.1:5052";
  f.redis_address = "10.0.0.1:6379";
  return f;
}

Server S(const std::string& raft_id, const std::string& address) {
  return Server{DeriveNodeId(raft_id), raft_id, address, true};
}

std::vector<Server> SortedServers(std::vector<Server> servers) {
  std::sort(servers.begin(), servers.end(),
            [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  return servers;
}

// Asserts `flags` fails with `errc` and that the message contains every `needle`.
void ExpectRejected(const MembershipFlags& flags, ConfigErrc errc,
                    std::initializer_list<std::string_view> needles) {
  absl::StatusOr<MembershipConfig> config = ResolveMembership(flags);
  ASSERT_FALSE(config.ok()) << "expected " << ConfigErrcName(errc);
  EXPECT_EQ(GetConfigErrc(config.status()), errc) << config.status();
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string prefix = std::string(ConfigErrcName(errc)) + ":";
  EXPECT_EQ(config.status().message().substr(0, prefix.size()), prefix) << config.status();
  for (std::string_view needle : needles) {
    EXPECT_NE(config.status().message().find(absl::string_view(needle.data(), needle.size())),
              absl::string_view::npos)
        << "missing \"" << needle << "\" in " << config.status();
  }
}

MembershipConfig ExpectAccepted(const MembershipFlags& flags) {
  absl::StatusOr<MembershipConfig> config = ResolveMembership(flags);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *std::move(config) : MembershipConfig{};
}

TEST(ConfigFlagsTest, ConfigErrcStatus) {
  const absl::Status s = ConfigError(ConfigErrc::kTooFewVoters, "group 1 declares 1 voter(s)");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "kTooFewVoters: group 1 declares 1 voter(s)");
  EXPECT_EQ(GetConfigErrc(s), ConfigErrc::kTooFewVoters);
  EXPECT_EQ(GetConfigErrc(absl::OkStatus()), ConfigErrc::kOk);
  EXPECT_EQ(GetConfigErrc(absl::InvalidArgumentError("kTooFewVoters: forged")), ConfigErrc::kOk);
  for (int i = 1; i <= static_cast<int>(ConfigErrc::kUnlistedGroupState); ++i) {
    const auto errc = static_cast<ConfigErrc>(i);
    EXPECT_EQ(GetConfigErrc(ConfigError(errc, "x")), errc);
    EXPECT_EQ(ConfigErrcName(errc).substr(0, 1), "k");
  }
}

TEST(ConfigFlagsTest, GrammarAcceptsCanonicalForms) {
  absl::StatusOr<std::vector<GroupAddress>> groups = ParseRaftGroups(
      "1=10.0.0.1:5051,2=shard-a.example.com:5052,3=[::1]:5053,"
      "18446744073709551614=[2001:db8::7]:65535,10=localhost:1,4=my_host.local:80");
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(*groups, (std::vector<GroupAddress>{{1, "10.0.0.1:5051"},
                                                {2, "shard-a.example.com:5052"},
                                                {3, "[::1]:5053"},
                                                {18446744073709551614ULL, "[2001:db8::7]:65535"},
                                                {10, "localhost:1"},
                                                {4, "my_host.local:80"}}));

  absl::StatusOr<std::vector<GroupMembers>> peers = ParseRaftGroupPeers(
      "1=n1@10.0.0.1:5051,node-2.a_b@host2:5051,N3@[fe80::1]:5051;7=n1@10.0.0.1:5052");
  ASSERT_TRUE(peers.ok()) << peers.status();
  EXPECT_EQ(
      *peers,
      (std::vector<GroupMembers>{
          {1, {{"n1", "10.0.0.1:5051"}, {"node-2.a_b", "host2:5051"}, {"N3", "[fe80::1]:5051"}}},
          {7, {{"n1", "10.0.0.1:5052"}}}}));

  absl::StatusOr<std::vector<Member>> members =
      ParseRaftBootstrapMembers("n1=10.0.0.1:5051,n2=[::ffff:10.0.0.2]:5051,n3=db3:5051");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(*members,
            (std::vector<Member>{
                {"n1", "10.0.0.1:5051"}, {"n2", "[::ffff:10.0.0.2]:5051"}, {"n3", "db3:5051"}}));

  absl::StatusOr<std::vector<RedisMapEntry>> redis =
      ParseRaftRedisMap("10.0.0.1:5051=10.0.0.1:6379,[::1]:5052=localhost:6380");
  ASSERT_TRUE(redis.ok()) << redis.status();
  EXPECT_EQ(*redis, (std::vector<RedisMapEntry>{{"10.0.0.1:5051", "10.0.0.1:6379"},
                                                {"[::1]:5052", "localhost:6380"}}));

  EXPECT_TRUE(ParseRaftId(std::string(64, 'x')).ok());
  EXPECT_TRUE(ParseRaftId("A.b_c-9").ok());

  // The same forms end to end, bracketed IPv6 included.
  MembershipFlags f;
  f.raft_id = "n1";
  f.raft_groups = "1=[::1]:5051,2=[::1]:5052";
  f.raft_group_peers = "1=n1@[::1]:5051,n2@h2.example:5051;2=n1@[::1]:5052,n2@h2.example:5052";
  f.raft_redis_map = "h2.example:5051=h2.example:6379,h2.example:5052=h2.example:6379";
  f.redis_address = "[::1]:6379";
  MembershipConfig config = ExpectAccepted(f);
  EXPECT_EQ(config.groups, (std::map<GroupId, std::string>{{1, "[::1]:5051"}, {2, "[::1]:5052"}}));
  EXPECT_EQ(config.redis_map.at("[::1]:5052"), "[::1]:6379");
}

struct SyntaxCase {
  const char* name;
  std::function<void(MembershipFlags*)> edit;
  const char* token;  // quoted in the message
  size_t position;
};

TEST(ConfigFlagsTest, GrammarRejects) {
  const std::vector<SyntaxCase> cases = {
      {"empty raftGroups", [](auto* f) { f->raft_groups = ""; }, "", 0},
      {"empty entry", [](auto* f) { f->raft_groups = "1=10.0.0.1:5051,,2=10.0.0.1:5052"; }, "", 16},
      {"trailing comma", [](auto* f) { f->raft_groups = "1=10.0.0.1:5051,"; }, "", 16},
      {"missing =", [](auto* f) { f->raft_groups = "1=10.0.0.1:5051,210.0.0.1:5052"; },
       "210.0.0.1:5052", 16},
      {"missing :", [](auto* f) { f->raft_groups = "1=10.0.0.1"; }, "10.0.0.1", 2},
      {"empty host", [](auto* f) { f->raft_groups = "1=:5051"; }, ":5051", 2},
      {"bad host char", [](auto* f) { f->raft_groups = "1=h/x:5051"; }, "h/x", 2},
      {"non-numeric group", [](auto* f) { f->raft_groups = "x=10.0.0.1:5051"; }, "x", 0},
      {"empty group id", [](auto* f) { f->raft_groups = "=10.0.0.1:5051"; }, "", 0},
      {"group id 0", [](auto* f) { f->raft_groups = "0=10.0.0.1:5051"; }, "0", 0},
      {"group id 2^64-1", [](auto* f) { f->raft_groups = "18446744073709551615=10.0.0.1:5051"; },
       "18446744073709551615", 0},
      {"group id overflow", [](auto* f) { f->raft_groups = "99999999999999999999=10.0.0.1:5051"; },
       "99999999999999999999", 0},
      {"group id leading zero", [](auto* f) { f->raft_groups = "01=10.0.0.1:5051"; }, "01", 0},
      {"group id sign", [](auto* f) { f->raft_groups = "+1=10.0.0.1:5051"; }, "+1", 0},
      {"group id negative", [](auto* f) { f->raft_groups = "-1=10.0.0.1:5051"; }, "-1", 0},
      {"port 0", [](auto* f) { f->raft_groups = "1=10.0.0.1:0"; }, "0", 11},
      {"port 65536", [](auto* f) { f->raft_groups = "1=10.0.0.1:65536"; }, "65536", 11},
      {"port empty", [](auto* f) { f->raft_groups = "1=10.0.0.1:"; }, "", 11},
      {"port non-numeric", [](auto* f) { f->raft_groups = "1=10.0.0.1:50x1"; }, "50x1", 11},
      {"port leading zero", [](auto* f) { f->raft_groups = "1=10.0.0.1:05051"; }, "05051", 11},
      {"unbracketed IPv6", [](auto* f) { f->raft_groups = "1=::1:5051"; }, "::1:5051", 2},
      {"bad IPv6", [](auto* f) { f->raft_groups = "1=[::zz]:5051"; }, "::zz", 3},
      {"missing ]", [](auto* f) { f->raft_groups = "1=[::1:5051"; }, "[::1:5051", 2},
      {"missing : after ]", [](auto* f) { f->raft_groups = "1=[::1]5051"; }, "[::1]5051", 2},
      {"space", [](auto* f) { f->raft_groups = "1=10.0.0.1:5051, 2=10.0.0.1:5052"; }, " 2", 16},
      {"tab", [](auto* f) { f->raft_groups = "1=10.0.0.1:5051\t"; }, "10.0.0.1:5051\t", 2},
      {"newline in peers", [](auto* f) { f->raft_group_peers = std::string(kPeers) + "\n"; },
       "10.0.0.3:5052\n", 92},
      {"empty peers entry", [](auto* f) { f->raft_group_peers = std::string(kPeers) + ";"; }, "",
       106},
      {"peers missing =", [](auto* f) { f->raft_group_peers = "1n1@10.0.0.1:5051"; },
       "1n1@10.0.0.1:5051", 0},
      {"empty member",
       [](auto* f) { f->raft_group_peers = "1=n1@10.0.0.1:5051,,n2@10.0.0.2:5051"; }, "", 19},
      {"no members", [](auto* f) { f->raft_group_peers = "1="; }, "", 2},
      {"missing @", [](auto* f) { f->raft_group_peers = "1=n1@10.0.0.1:5051,n210.0.0.2:5051"; },
       "n210.0.0.2:5051", 19},
      {"empty raft id in member",
       [](auto* f) { f->raft_group_peers = "1=n1@10.0.0.1:5051,@10.0.0.2:5051"; }, "", 19},
      {"invalid raft id char",
       [](auto* f) { f->raft_group_peers = "1=n1@10.0.0.1:5051,n!2@10.0.0.2:5051"; }, "n!2", 19},
      {"raft id too long",
       [](auto* f) {
         f->raft_group_peers = "1=n1@10.0.0.1:5051," + std::string(65, 'a') + "@10.0.0.2:5051";
       },
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 19},
      {"member bad port",
       [](auto* f) { f->raft_group_peers = "1=n1@10.0.0.1:5051,n2@10.0.0.2:99999"; }, "99999", 31},
      {"peers group id", [](auto* f) { f->raft_group_peers = "1=n1@10.0.0.1:5051;g2=n1@h:1"; },
       "g2", 19},
      {"bootstrap members missing =",
       [](auto* f) {
         f->raft_group_peers = "";
         f->raft_bootstrap_members = "n1=10.0.0.1:5051,n2@10.0.0.2:5051";
       },
       "n2@10.0.0.2:5051", 17},
      {"bootstrap members empty member",
       [](auto* f) {
         f->raft_group_peers = "";
         f->raft_bootstrap_members = ",n1=10.0.0.1:5051";
       },
       "", 0},
      {"raftId empty", [](auto* f) { f->raft_id = ""; }, "", 0},
      {"raftId invalid char", [](auto* f) { f->raft_id = "n/1"; }, "n/1", 0},
      {"raftId whitespace", [](auto* f) { f->raft_id = "n1 "; }, "n1 ", 0},
      {"redisAddress", [](auto* f) { f->redis_address = "10.0.0.1"; }, "10.0.0.1", 0},
  };
  for (const SyntaxCase& c : cases) {
    SCOPED_TRACE(c.name);
    MembershipFlags f = ThreeByTwo();
    c.edit(&f);
    absl::StatusOr<MembershipConfig> config = ResolveMembership(f);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(GetConfigErrc(config.status()), ConfigErrc::kSyntax) << config.status();
    const std::string where = "at byte " + std::to_string(c.position) + ": \"" + c.token + "\"";
    EXPECT_NE(config.status().message().find(where), absl::string_view::npos)
        << "want `" << where << "` in " << config.status();
  }
}

TEST(ConfigFlagsTest, RejectsGroupPeersWithBootstrapMembers) {
  MembershipFlags f = ThreeByTwo();
  f.raft_bootstrap_members = "n1=10.0.0.1:5051,n2=10.0.0.2:5051";
  ExpectRejected(f, ConfigErrc::kGroupPeersExclusive,
                 {"--raftGroupPeers", "--raftBootstrapMembers"});
}

TEST(ConfigFlagsTest, BootstrapMembersRequiresSingleGroup) {
  MembershipFlags f = Lone();
  f.raft_bootstrap_members = "n1=10.0.0.1:5051,n2=10.0.0.2:5051";
  ExpectRejected(f, ConfigErrc::kBootstrapMembersMultiGroup, {"exactly 1 group", "got 2"});

  f.raft_groups = "1=10.0.0.1:5051";
  f.raft_redis_map = "10.0.0.2:5051=10.0.0.2:6379";
  MembershipConfig config = ExpectAccepted(f);
  ASSERT_EQ(config.bootstrap_lists.size(), 1u);
  EXPECT_EQ(config.bootstrap_lists.at(1),
            SortedServers({S("n1", "10.0.0.1:5051"), S("n2", "10.0.0.2:5051")}));
}

TEST(ConfigFlagsTest, RejectsUnknownGroup) {
  MembershipFlags f = ThreeByTwo();
  f.raft_groups = "1=10.0.0.1:5051";
  ExpectRejected(f, ConfigErrc::kUnknownGroup, {"group 2", "not in --raftGroups"});
}

TEST(ConfigFlagsTest, RejectsMissingGroup) {
  MembershipFlags f = ThreeByTwo();
  f.raft_groups = "1=10.0.0.1:5051,2=10.0.0.1:5052,3=10.0.0.1:5053";
  ExpectRejected(f, ConfigErrc::kMissingGroup, {"group 3", "not in --raftGroupPeers"});
}

TEST(ConfigFlagsTest, RejectsDuplicateGroup) {
  MembershipFlags f = ThreeByTwo();
  f.raft_groups = "1=10.0.0.1:5051,2=10.0.0.1:5052,1=10.0.0.1:5053";
  ExpectRejected(f, ConfigErrc::kDuplicateGroup, {"group 1", "--raftGroups"});

  f = ThreeByTwo();
  f.raft_group_peers = std::string(kPeers) + ";2=n1@10.0.0.1:5052,n2@10.0.0.2:5052";
  ExpectRejected(f, ConfigErrc::kDuplicateGroup, {"group 2", "--raftGroupPeers"});
}

TEST(ConfigFlagsTest, RejectsDuplicateIdAndAddress) {
  MembershipFlags f = ThreeByTwo();
  f.raft_group_peers =
      "1=n1@10.0.0.1:5051,n2@10.0.0.2:5051,n3@10.0.0.3:5051;"
      "2=n1@10.0.0.1:5052,n2@10.0.0.2:5052,n2@10.0.0.3:5052";
  ExpectRejected(f, ConfigErrc::kDuplicateId, {"group 2", "n2"});

  f.raft_group_peers =
      "1=n1@10.0.0.1:5051,n2@10.0.0.2:5051,n3@10.0.0.2:5051;"
      "2=n1@10.0.0.1:5052,n2@10.0.0.2:5052,n3@10.0.0.3:5052";
  ExpectRejected(f, ConfigErrc::kDuplicateAddress, {"group 1", "n2", "n3", "10.0.0.2:5051"});

  f = Lone();
  f.raft_groups = "1=10.0.0.1:5051";
  f.raft_bootstrap_members = "n1=10.0.0.1:5051,n2=10.0.0.2:5051,n1=10.0.0.3:5051";
  ExpectRejected(f, ConfigErrc::kDuplicateId, {"group 1", "--raftBootstrapMembers", "n1"});
  f.raft_bootstrap_members = "n1=10.0.0.1:5051,n2=10.0.0.1:5051";
  ExpectRejected(f, ConfigErrc::kDuplicateAddress, {"group 1", "10.0.0.1:5051"});
}

TEST(ConfigFlagsTest, RejectsLocalMissing) {
  MembershipFlags f = ThreeByTwo("n4");
  f.raft_groups = "1=10.0.0.4:5051,2=10.0.0.4:5052";
  ExpectRejected(f, ConfigErrc::kLocalMissing, {"group 1", "n4"});

  f = Lone();
  f.raft_groups = "1=10.0.0.1:5051";
  f.raft_bootstrap_members = "n2=10.0.0.2:5051,n3=10.0.0.3:5051";
  ExpectRejected(f, ConfigErrc::kLocalMissing, {"group 1", "n1", "--raftBootstrapMembers"});
}

TEST(ConfigFlagsTest, RejectsLocalAddrMismatch) {
  MembershipFlags f = ThreeByTwo();
  f.raft_groups = "1=10.0.0.1:5051,2=10.0.0.1:6052";
  ExpectRejected(f, ConfigErrc::kLocalAddrMismatch,
                 {"group 2", "n1", "10.0.0.1:5052", "10.0.0.1:6052"});

  f = Lone();
  f.raft_groups = "1=10.0.0.1:5051";
  f.raft_bootstrap_members = "n1=10.0.0.1:6051,n2=10.0.0.2:5051";
  ExpectRejected(f, ConfigErrc::kLocalAddrMismatch,
                 {"group 1", "--raftBootstrapMembers", "n1", "10.0.0.1:6051"});
}

TEST(ConfigFlagsTest, RejectsListenerReuse) {
  MembershipFlags f = Lone();
  f.raft_groups = "1=10.0.0.1:5051,2=10.0.0.1:5051";
  ExpectRejected(f, ConfigErrc::kListenerReuse, {"groups 1 and 2", "10.0.0.1:5051"});

  // A remote node using one address for two groups.
  f = ThreeByTwo();
  f.raft_group_peers =
      "1=n1@10.0.0.1:5051,n2@10.0.0.2:5051,n3@10.0.0.3:5051;"
      "2=n1@10.0.0.1:5052,n2@10.0.0.2:5051,n3@10.0.0.3:5052";
  ExpectRejected(f, ConfigErrc::kListenerReuse, {"n2", "10.0.0.2:5051", "groups 1 and 2"});

  // Two nodes claiming one address in different groups.
  f.raft_group_peers =
      "1=n1@10.0.0.1:5051,n2@10.0.0.2:5051,n3@10.0.0.3:5051;"
      "2=n1@10.0.0.1:5052,n2@10.0.0.2:5052,n3@10.0.0.2:5051";
  ExpectRejected(f, ConfigErrc::kListenerReuse, {"n2", "n3", "10.0.0.2:5051"});
}

// FNV-1a 64 collisions are impractical to find, so the derivation is injected.
NodeId N3CollidesWithN2(std::string_view raft_id) {
  return DeriveNodeId(raft_id == "n3" ? std::string_view("n2") : raft_id);
}
NodeId N3MapsToZero(std::string_view raft_id) {
  return raft_id == "n3" ? raft::kNoNode : DeriveNodeId(raft_id);
}

TEST(ConfigFlagsTest, RejectsNodeIdCollision) {
  absl::StatusOr<MembershipConfig> config =
      membership_internal::ResolveMembershipWith(ThreeByTwo(), &N3CollidesWithN2);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(GetConfigErrc(config.status()), ConfigErrc::kNodeIdCollision) << config.status();
  EXPECT_NE(config.status().message().find("n2 and n3"), absl::string_view::npos)
      << config.status();
  EXPECT_NE(config.status().message().find("0x08b37e07b558d9d9"), absl::string_view::npos)
      << config.status();

  config = membership_internal::ResolveMembershipWith(ThreeByTwo(), &N3MapsToZero);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(GetConfigErrc(config.status()), ConfigErrc::kNodeIdCollision) << config.status();
  EXPECT_NE(config.status().message().find("n3 maps to NodeId 0"), absl::string_view::npos)
      << config.status();

  // The local id is checked even without lists.
  MembershipFlags lone = Lone();
  lone.raft_id = "n3";
  lone.raft_bootstrap = true;
  config = membership_internal::ResolveMembershipWith(lone, &N3MapsToZero);
  EXPECT_EQ(GetConfigErrc(config.status()), ConfigErrc::kNodeIdCollision) << config.status();

  ExpectAccepted(ThreeByTwo());
}

TEST(ConfigFlagsTest, RejectsJoinAsLearnerWithBootstrap) {
  MembershipFlags f = Lone();
  f.raft_join_as_learner = true;
  f.raft_bootstrap = true;
  ExpectRejected(f, ConfigErrc::kJoinAsLearnerBootstrap, {"--raftBootstrap"});

  f = ThreeByTwo();
  f.raft_join_as_learner = true;
  ExpectRejected(f, ConfigErrc::kJoinAsLearnerBootstrap, {"--raftGroupPeers"});

  f = Lone();
  f.raft_groups = "1=10.0.0.1:5051";
  f.raft_bootstrap_members = "n1=10.0.0.1:5051,n2=10.0.0.2:5051";
  f.raft_join_as_learner = true;
  ExpectRejected(f, ConfigErrc::kJoinAsLearnerBootstrap, {"--raftBootstrapMembers"});

  // A learner joiner with no bootstrap flag: accepted, bootstraps nothing.
  f = Lone();
  f.raft_join_as_learner = true;
  MembershipConfig config = ExpectAccepted(f);
  EXPECT_TRUE(config.join_as_learner);
  EXPECT_TRUE(config.bootstrap_lists.empty());
}

TEST(ConfigFlagsTest, HeterogeneousNamesFirstDivergentGroup) {
  MembershipFlags f;
  f.raft_id = "n1";
  f.raft_groups = "1=10.0.0.1:5051,2=10.0.0.1:5052,3=10.0.0.1:5053";
  f.raft_group_peers =
      "3=n1@10.0.0.1:5053,n5@10.0.0.5:5053,n3@10.0.0.3:5053;"
      "1=n1@10.0.0.1:5051,n2@10.0.0.2:5051,n3@10.0.0.3:5051;"
      "2=n1@10.0.0.1:5052,n2@10.0.0.2:5052,n4@10.0.0.4:5052";
  f.redis_address = "10.0.0.1:6379";
  ExpectRejected(f, ConfigErrc::kHeterogeneous, {"group 2", "group 1", "{n3,n4}"});
  absl::StatusOr<MembershipConfig> config = ResolveMembership(f);
  EXPECT_EQ(config.status().message().find("group 3"), absl::string_view::npos) << config.status();
}

TEST(ConfigFlagsTest, RejectsSingleVoterPerGroup) {
  MembershipFlags f;
  f.raft_id = "n1";
  f.raft_groups = "1=a:1,2=b:1";
  f.raft_group_peers = "1=n1@a:1;2=n1@b:1";
  f.redis_address = "a:6379";
  ExpectRejected(f, ConfigErrc::kTooFewVoters, {"group 1", "1 voter"});

  f.raft_groups = "1=a:1";
  f.raft_group_peers = "";
  f.raft_bootstrap_members = "n1=a:1";
  ExpectRejected(f, ConfigErrc::kTooFewVoters, {"group 1", "--raftBootstrapMembers"});

  // --raftBootstrap does not rescue a single-voter list.
  f.raft_bootstrap = true;
  ExpectRejected(f, ConfigErrc::kTooFewVoters, {"group 1"});
}

TEST(ConfigFlagsTest, RedisMapMustBeFullAndPerNode) {
  // Missing member address: listed.
  MembershipFlags f = ThreeByTwo();
  f.raft_redis_map =
      "10.0.0.1:5051=10.0.0.1:6379,10.0.0.1:5052=10.0.0.1:6379,"
      "10.0.0.2:5051=10.0.0.2:6379,10.0.0.2:5052=10.0.0.2:6379,"
      "10.0.0.3:5051=10.0.0.3:6379";
  ExpectRejected(f, ConfigErrc::kRedisMapIncomplete, {"10.0.0.3:5052", "n3"});
  f.raft_redis_map = "";
  ExpectRejected(f, ConfigErrc::kRedisMapIncomplete,
                 {"10.0.0.2:5051", "10.0.0.2:5052", "10.0.0.3:5051", "10.0.0.3:5052"});

  // One node's two groups mapped to different Redis addresses.
  f = ThreeByTwo();
  f.raft_redis_map =
      "10.0.0.1:5051=10.0.0.1:6379,10.0.0.1:5052=10.0.0.1:6379,"
      "10.0.0.2:5051=10.0.0.2:6379,10.0.0.2:5052=10.0.0.2:6380,"
      "10.0.0.3:5051=10.0.0.3:6379,10.0.0.3:5052=10.0.0.3:6379";
  ExpectRejected(f, ConfigErrc::kRedisMapSplitNode, {"n2", "10.0.0.2:6379", "10.0.0.2:6380"});
  // Two nodes sharing one Redis address.
  f.raft_redis_map =
      "10.0.0.1:5051=10.0.0.1:6379,10.0.0.1:5052=10.0.0.1:6379,"
      "10.0.0.2:5051=10.0.0.2:6379,10.0.0.2:5052=10.0.0.2:6379,"
      "10.0.0.3:5051=10.0.0.2:6379,10.0.0.3:5052=10.0.0.2:6379";
  ExpectRejected(f, ConfigErrc::kRedisMapSplitNode, {"n2", "n3", "10.0.0.2:6379"});

  // Local entry != --redisAddress.
  f = ThreeByTwo();
  f.redis_address = "10.0.0.1:7000";
  ExpectRejected(f, ConfigErrc::kRedisMapLocalMismatch,
                 {"group 1", "10.0.0.1:5051", "10.0.0.1:6379", "10.0.0.1:7000"});

  // Missing local entries are filled in from --redisAddress.
  f = ThreeByTwo();
  f.raft_redis_map =
      "10.0.0.2:5051=10.0.0.2:6379,10.0.0.2:5052=10.0.0.2:6379,"
      "10.0.0.3:5051=10.0.0.3:6379,10.0.0.3:5052=10.0.0.3:6379";
  MembershipConfig config = ExpectAccepted(f);
  EXPECT_EQ(config.redis_map.size(), 6u);
  EXPECT_EQ(config.redis_map.at("10.0.0.1:5051"), "10.0.0.1:6379");
  EXPECT_EQ(config.redis_map.at("10.0.0.1:5052"), "10.0.0.1:6379");
  EXPECT_EQ(config.redis_map.at("10.0.0.3:5052"), "10.0.0.3:6379");

  // Syntax and duplicate keys of the map itself.
  f = ThreeByTwo();
  f.raft_redis_map = std::string(kRedisMap) + ",10.0.0.4:5051";
  ExpectRejected(f, ConfigErrc::kRedisMapSyntax, {"--raftRedisMap", "10.0.0.4:5051", "at byte"});
  f.raft_redis_map = std::string(kRedisMap) + ",10.0.0.4:5051=10.0.0.4:99999";
  ExpectRejected(f, ConfigErrc::kRedisMapSyntax, {"99999"});
  f.raft_redis_map = std::string(kRedisMap) + ",10.0.0.2:5052=10.0.0.2:6379";
  ExpectRejected(f, ConfigErrc::kRedisMapDuplicateKey, {"10.0.0.2:5052"});

  // Entries for nodes outside the lists (e.g. a learner about to join) are kept.
  f = ThreeByTwo();
  f.raft_redis_map = std::string(kRedisMap) + ",10.0.0.4:5051=10.0.0.4:6379";
  config = ExpectAccepted(f);
  EXPECT_EQ(config.redis_map.at("10.0.0.4:5051"), "10.0.0.4:6379");
}

TEST(ConfigFlagsTest, FirstFailureWinsInRuleOrder) {
  // Duplicate group (rule 4) beats a broken Redis map (rule 13) and too few voters (10).
  MembershipFlags f = ThreeByTwo();
  f.raft_groups = "1=10.0.0.1:5051,2=10.0.0.1:5052,2=10.0.0.1:5053";
  f.raft_redis_map = "garbage";
  ExpectRejected(f, ConfigErrc::kDuplicateGroup, {"group 2"});
  // kUnknownGroup is reported before kMissingGroup.
  f = ThreeByTwo();
  f.raft_groups = "1=10.0.0.1:5051,3=10.0.0.1:5053";
  ExpectRejected(f, ConfigErrc::kUnknownGroup, {"group 2"});
  // kSyntax beats kGroupPeersExclusive.
  f = ThreeByTwo();
  f.raft_bootstrap_members = "n1=10.0.0.1:5051,n2=bad";
  ExpectRejected(f, ConfigErrc::kSyntax, {"--raftBootstrapMembers"});
}

TEST(ConfigFlagsTest, PerGroupListsLandOnTheRightGroup) {
  for (const std::string node : {"n1", "n2", "n3"}) {
    SCOPED_TRACE(node);
    MembershipConfig config = ExpectAccepted(ThreeByTwo(node));
    EXPECT_EQ(config.raft_id, node);
    EXPECT_EQ(config.node_id, DeriveNodeId(node));
    EXPECT_EQ(config.default_group(), 1u);
    const std::string host = "10.0.0." + node.substr(1);
    EXPECT_EQ(config.groups,
              (std::map<GroupId, std::string>{{1, host + ":5051"}, {2, host + ":5052"}}));
    ASSERT_EQ(config.bootstrap_lists.size(), 2u);
    EXPECT_EQ(config.bootstrap_lists.at(1),
              SortedServers(
                  {S("n1", "10.0.0.1:5051"), S("n2", "10.0.0.2:5051"), S("n3", "10.0.0.3:5051")}));
    EXPECT_EQ(config.bootstrap_lists.at(2),
              SortedServers(
                  {S("n1", "10.0.0.1:5052"), S("n2", "10.0.0.2:5052"), S("n3", "10.0.0.3:5052")}));
    for (const Server& s : config.bootstrap_lists.at(2)) {
      EXPECT_TRUE(s.address.ends_with(":5052")) << s.address;
      EXPECT_TRUE(s.voter);
    }
    EXPECT_FALSE(config.single_node_bootstrap);
    EXPECT_TRUE(config.warnings.empty());
  }
  // Declaration order does not matter: the lists are normalized.
  MembershipFlags f = ThreeByTwo();
  f.raft_group_peers =
      "2=n3@10.0.0.3:5052,n1@10.0.0.1:5052,n2@10.0.0.2:5052;"
      "1=n2@10.0.0.2:5051,n3@10.0.0.3:5051,n1@10.0.0.1:5051";
  EXPECT_EQ(ExpectAccepted(f).bootstrap_lists, ExpectAccepted(ThreeByTwo()).bootstrap_lists);
}

TEST(ConfigFlagsTest, BootstrapDecisionIsPerGroup) {
  // No bootstrap source: no group bootstraps; all open empty and wait for a leader.
  MembershipConfig config = ExpectAccepted(Lone());
  EXPECT_EQ(config.groups.size(), 2u);
  EXPECT_TRUE(config.bootstrap_lists.empty());
  EXPECT_FALSE(config.single_node_bootstrap);

  // --raftGroupPeers: every listed group, each with its own list.
  config = ExpectAccepted(ThreeByTwo());
  EXPECT_TRUE(config.bootstrap_lists.contains(1));
  EXPECT_TRUE(config.bootstrap_lists.contains(2));
  EXPECT_NE(config.bootstrap_lists.at(1), config.bootstrap_lists.at(2));

  // --raftBootstrap with --raftGroupPeers is redundant: the declared lists win.
  MembershipFlags f = ThreeByTwo();
  f.raft_bootstrap = true;
  MembershipConfig redundant = ExpectAccepted(f);
  EXPECT_EQ(redundant.bootstrap_lists, config.bootstrap_lists);
  EXPECT_FALSE(redundant.single_node_bootstrap);

  // --raftBootstrapMembers: only its single group.
  f = Lone();
  f.raft_groups = "7=10.0.0.1:5057";
  f.raft_bootstrap_members = "n2=10.0.0.2:5057,n1=10.0.0.1:5057";
  f.raft_redis_map = "10.0.0.2:5057=10.0.0.2:6379";
  config = ExpectAccepted(f);
  ASSERT_EQ(config.bootstrap_lists.size(), 1u);
  EXPECT_EQ(config.bootstrap_lists.at(7),
            SortedServers({S("n1", "10.0.0.1:5057"), S("n2", "10.0.0.2:5057")}));
  EXPECT_EQ(config.default_group(), 7u);
}

TEST(ConfigFlagsTest, SingleNodeModeBootstrapsEachGroupAlone) {
  MembershipFlags f = Lone();
  f.raft_groups = "2=10.0.0.1:5052,1=10.0.0.1:5051,9=10.0.0.1:5059";
  f.raft_bootstrap = true;
  MembershipConfig config = ExpectAccepted(f);
  EXPECT_TRUE(config.single_node_bootstrap);
  ASSERT_EQ(config.bootstrap_lists.size(), 3u);
  EXPECT_EQ(config.bootstrap_lists.at(1), std::vector<Server>{S("n1", "10.0.0.1:5051")});
  EXPECT_EQ(config.bootstrap_lists.at(2), std::vector<Server>{S("n1", "10.0.0.1:5052")});
  EXPECT_EQ(config.bootstrap_lists.at(9), std::vector<Server>{S("n1", "10.0.0.1:5059")});
  ASSERT_EQ(config.warnings.size(), 1u);
  EXPECT_NE(config.warnings[0].find("single-node"), std::string::npos) << config.warnings[0];
  EXPECT_EQ(config.default_group(), 1u);
  // The local entries of the Redis map are filled in.
  EXPECT_EQ(config.redis_map,
            (std::map<std::string, std::string>{{"10.0.0.1:5051", "10.0.0.1:6379"},
                                                {"10.0.0.1:5052", "10.0.0.1:6379"},
                                                {"10.0.0.1:5059", "10.0.0.1:6379"}}));
}

}  // namespace
}  // namespace tessera::shard
