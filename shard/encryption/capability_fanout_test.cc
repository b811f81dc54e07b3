// CapabilityFanoutTest / CapabilityWiringTest: the fan-out's fail-closed rules
// (spec/encryption.md §12) with scripted dialers.
#include "shard/encryption/capability_fanout.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "shard/encryption/testing.h"

namespace tessera::shard::encryption {
namespace {

namespace v1 = tessera::encryption::v1;
using Clock = CallContext::Clock;

KekFingerprint Fp(uint8_t seed) { return Fingerprint(*testing::TestKey(seed)); }

v1::CapabilityReport Capable(uint64_t node_id, uint8_t kek_seed = 1) {
  v1::CapabilityReport r;
  r.set_encryption_capable(true);
  r.set_node_id(node_id);
  r.add_envelope_versions(1);
  r.add_snapshot_header_versions(1);
  r.add_snapshot_header_versions(2);
  const KekFingerprint fp = Fp(kek_seed);
  r.set_kek_fingerprint(std::string(reinterpret_cast<const char*>(fp.data()), fp.size()));
  return r;
}

// Scripted members by address: a report, an error, a hang, or a null probe.
struct Script {
  std::map<std::string, absl::StatusOr<v1::CapabilityReport>> answers;
  std::set<std::string> hang, null_probe, dial_error;
  std::shared_ptr<std::atomic<int>> dials = std::make_shared<std::atomic<int>>(0);

  Dialer dialer() const {
    return [s = *this](const std::string& address) -> absl::StatusOr<CapabilityProbe> {
      ++*s.dials;
      if (s.dial_error.contains(address)) return absl::UnavailableError("connection refused");
      if (s.null_probe.contains(address)) return CapabilityProbe();
      const bool hang = s.hang.contains(address);
      auto it = s.answers.find(address);
      absl::StatusOr<v1::CapabilityReport> answer =
          it == s.answers.end() ? absl::UnavailableError("no such member") : it->second;
      return CapabilityProbe(
          [hang, answer](Clock::time_point) -> absl::StatusOr<v1::CapabilityReport> {
            if (hang) std::this_thread::sleep_for(std::chrono::seconds(3));  // ignores its deadline
            return answer;
          });
    };
  }
};

RouteSnapshot TwoGroups() {
  return {RouteGroup{1, {{11, "a:1"}, {12, "b:1"}}, {{13, "c:1"}}},
          RouteGroup{2, {{11, "a:2"}, {12, "b:2"}}, {}}};
}

CallContext Ctx(std::chrono::milliseconds t = std::chrono::milliseconds(2000)) {
  return CallContext::WithTimeout(t);
}

Script AllCapable() {
  Script s;
  s.answers = {{"a:1", Capable(11)}, {"b:1", Capable(12)}, {"c:1", Capable(13)}};
  return s;
}

TEST(CapabilityFanoutTest, EmptySnapshotNotOk) {
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout({}, AllCapable().dialer(), std::chrono::seconds(1), Ctx(), Fp(1));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_TRUE(r->verdicts.empty());
}

TEST(CapabilityFanoutTest, NullDialerOrBadTimeoutIsInputError) {
  EXPECT_EQ(CapabilityFanout(TwoGroups(), Dialer(), std::chrono::seconds(1), Ctx(), Fp(1))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CapabilityFanout(TwoGroups(), AllCapable().dialer(), std::chrono::milliseconds(0),
                             Ctx(), Fp(1))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CapabilityFanoutTest, AllCapableIsOkAndDedupsAcrossGroups) {
  Script s = AllCapable();
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout(TwoGroups(), s.dialer(), std::chrono::seconds(1), Ctx(), Fp(1));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << DescribeRefusal(*r);
  EXPECT_EQ(r->verdicts.size(), 3u);  // nodes 11 and 12 are in both groups: probed once
  EXPECT_EQ(s.dials->load(), 3);
}

TEST(CapabilityFanoutTest, DedupByIdThenAddressThenSynthetic) {
  Script s = AllCapable();
  s.answers["x:1"] = Capable(0);
  RouteSnapshot routes = {
      RouteGroup{1, {{11, "a:1"}, {11, "a:9"}, {0, "x:1"}, {0, "x:1"}, {0, ""}, {0, ""}}, {}}};
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout(routes, s.dialer(), std::chrono::seconds(1), Ctx(), Fp(1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdicts.size(), 4u);  // id:11, addr:x:1, two synthetic
  EXPECT_FALSE(r->ok);
}

TEST(CapabilityFanoutTest, MalformedMemberKept) {
  RouteSnapshot routes = {RouteGroup{1, {{11, "a:1"}, {12, ""}}, {}}};
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout(routes, AllCapable().dialer(), std::chrono::seconds(1), Ctx(), Fp(1));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_NE(DescribeRefusal(*r).find("node 12@?: unreachable (kMalformedMember)"),
            std::string::npos)
      << DescribeRefusal(*r);
}

TEST(CapabilityFanoutTest, NilStubIsBadDialer) {
  Script s = AllCapable();
  s.null_probe.insert("b:1");
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout(TwoGroups(), s.dialer(), std::chrono::seconds(1), Ctx(), Fp(1));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_NE(DescribeRefusal(*r).find("kBadDialer"), std::string::npos);
}

TEST(CapabilityFanoutTest, MismatchedResponderUnreachable) {
  Script s = AllCapable();
  s.answers["c:1"] = Capable(99);  // stale routing: another node answers on c:1
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout(TwoGroups(), s.dialer(), std::chrono::seconds(1), Ctx(), Fp(1));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  for (const Verdict& v : r->verdicts) {
    if (v.node_id == 13) {
      EXPECT_FALSE(v.reachable);
      EXPECT_NE(v.error.find("kMismatchedResponder"), std::string::npos);
    }
  }
}

TEST(CapabilityFanoutTest, ReturnsAtDeadlineWithHungDialer) {
  Script s = AllCapable();
  s.hang.insert("c:1");
  const auto start = Clock::now();
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout(TwoGroups(), s.dialer(), std::chrono::milliseconds(300), Ctx(), Fp(1));
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2000));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_NE(DescribeRefusal(*r).find("node 13@c:1: unreachable (kProbeTimeout)"), std::string::npos)
      << DescribeRefusal(*r);
}

TEST(CapabilityFanoutTest, LearnerUnreachableRefuses) {
  Script s = AllCapable();
  s.dial_error.insert("c:1");  // the learner of group 1
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout(TwoGroups(), s.dialer(), std::chrono::seconds(1), Ctx(), Fp(1));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_NE(DescribeRefusal(*r).find("node 13@c:1: unreachable"), std::string::npos);
}

TEST(CapabilityFanoutTest, NotCapableRefuses) {
  Script s = AllCapable();
  v1::CapabilityReport off = Capable(12);
  off.set_encryption_capable(false);
  s.answers["b:1"] = off;
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout(TwoGroups(), s.dialer(), std::chrono::seconds(1), Ctx(), Fp(1));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_NE(DescribeRefusal(*r).find("node 12@b:1: not capable"), std::string::npos);
}

TEST(CapabilityFanoutTest, KekFingerprintMismatchRefuses) {
  Script s = AllCapable();
  s.answers["a:1"] = Capable(11, /*kek_seed=*/2);
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout(TwoGroups(), s.dialer(), std::chrono::seconds(1), Ctx(), Fp(1));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_NE(DescribeRefusal(*r).find("another KEK"), std::string::npos);
}

TEST(CapabilityFanoutTest, NoCachingBetweenCalls) {
  Script s = AllCapable();
  ASSERT_TRUE(CapabilityFanout(TwoGroups(), s.dialer(), std::chrono::seconds(1), Ctx(), Fp(1))->ok);
  ASSERT_TRUE(CapabilityFanout(TwoGroups(), s.dialer(), std::chrono::seconds(1), Ctx(), Fp(1))->ok);
  EXPECT_EQ(s.dials->load(), 6);
}

TEST(CapabilityFanoutTest, ManyMembersProbedByABoundedSetOfWorkers) {
  RouteGroup g{1, {}, {}};
  Script s;
  for (uint64_t id = 1; id <= 100; ++id) {
    const std::string address = absl::StrCat("m", id, ":1");
    g.voters.push_back({id, address});
    s.answers[address] = Capable(id);
  }
  auto in_flight = std::make_shared<std::atomic<int>>(0);
  auto peak = std::make_shared<std::atomic<int>>(0);
  Dialer inner = s.dialer();
  Dialer counting = [inner, in_flight,
                     peak](const std::string& a) -> absl::StatusOr<CapabilityProbe> {
    const int now = ++*in_flight;
    int seen = peak->load();
    while (now > seen && !peak->compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // overlap the probes
    --*in_flight;
    return inner(a);
  };
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout({g}, counting, std::chrono::seconds(5), Ctx(std::chrono::seconds(5)), Fp(1));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok) << DescribeRefusal(*r);
  EXPECT_EQ(r->verdicts.size(), 100u);
  EXPECT_EQ(s.dials->load(), 100);
  EXPECT_LE(peak->load(), 16);
  EXPECT_GE(peak->load(), 2);  // concurrent, not one by one
}

TEST(CapabilityFanoutTest, CancelledCallerGetsCancelled) {
  Script s = AllCapable();
  s.hang.insert("a:1");
  CallContext ctx = Ctx();
  ctx.cancelled = [] { return true; };
  EXPECT_EQ(CapabilityFanout(TwoGroups(), s.dialer(), std::chrono::seconds(1), ctx, Fp(1))
                .status()
                .code(),
            absl::StatusCode::kCancelled);
}

TEST(CapabilityWiringTest, RouteGroupSplitsVotersAndLearners) {
  auto config = [](uint64_t gid) -> absl::StatusOr<ClusterConfiguration> {
    ClusterConfiguration c;
    c.servers = {Server{DeriveNodeId("n1"), "n1", "h1:1", true},
                 Server{DeriveNodeId("n2"), "n2", "h2:1", false}};
    (void)gid;
    return c;
  };
  absl::StatusOr<RouteSnapshot> routes = BuildRouteSnapshot({1, 2}, config);
  ASSERT_TRUE(routes.ok());
  ASSERT_EQ(routes->size(), 2u);
  EXPECT_EQ((*routes)[0].voters.size(), 1u);
  EXPECT_EQ((*routes)[0].voters[0].node_id, DeriveNodeId("n1"));
  EXPECT_EQ((*routes)[0].learners[0].address, "h2:1");
}

TEST(CapabilityWiringTest, ConfigurationErrorFailsClosed) {
  auto config = [](uint64_t gid) -> absl::StatusOr<ClusterConfiguration> {
    if (gid == 2) return absl::UnavailableError("engine closed");
    return ClusterConfiguration{};
  };
  absl::StatusOr<RouteSnapshot> routes = BuildRouteSnapshot({1, 2}, config);
  ASSERT_FALSE(routes.ok());
  EXPECT_NE(std::string(routes.status().message()).find("configuration for group 2"),
            std::string::npos);
}

TEST(CapabilityWiringTest, EmptyConfigurationIsNotOk) {
  absl::StatusOr<RouteSnapshot> routes = BuildRouteSnapshot(
      {1}, [](uint64_t) -> absl::StatusOr<ClusterConfiguration> { return ClusterConfiguration{}; });
  ASSERT_TRUE(routes.ok());
  absl::StatusOr<CapabilityFanoutResult> r =
      CapabilityFanout(*routes, AllCapable().dialer(), std::chrono::seconds(1), Ctx(), Fp(1));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
}

}  // namespace
}  // namespace tessera::shard::encryption
