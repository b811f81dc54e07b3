// The capability fan-out (spec/encryption.md §12): before any mutator, every voter and learner
// of every group is probed under one shared deadline; one unreachable or incapable member
// refuses. Fresh on every call: no caching, no partial success.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/encryption_admin.pb.h"
#include "shard/admin/raft_admin.h"
#include "shard/encryption/kek.h"

namespace tessera::shard::encryption {

inline constexpr std::chrono::seconds kCapabilityFanoutTimeout{5};

struct RouteMember {
  uint64_t node_id = 0;  // DeriveNodeId(raft_id); 0 = unknown
  std::string address;
};
struct RouteGroup {
  uint64_t group_id = 0;
  std::vector<RouteMember> voters;
  std::vector<RouteMember> learners;
};
using RouteSnapshot = std::vector<RouteGroup>;

// Builds the route snapshot from each group's configuration: learners → learners, any other
// suffrage → voters. A configuration error fails the whole snapshot (never a partial view).
absl::StatusOr<RouteSnapshot> BuildRouteSnapshot(
    const std::vector<uint64_t>& groups,
    const std::function<absl::StatusOr<ClusterConfiguration>(uint64_t group)>& configuration);

// One probe: GetCapability on a member, bounded by `deadline`.
using CapabilityProbe = std::function<absl::StatusOr<tessera::encryption::v1::CapabilityReport>(
    CallContext::Clock::time_point deadline)>;
// Connects to an address; a null probe with OK is a broken dialer (kBadDialer).
using Dialer = std::function<absl::StatusOr<CapabilityProbe>(const std::string& address)>;

struct Verdict {
  uint64_t node_id = 0;
  std::string address;
  bool reachable = false;
  bool capable = false;
  tessera::encryption::v1::CapabilityReport report;
  std::string error;
};
struct CapabilityFanoutResult {
  std::vector<Verdict> verdicts;
  bool ok = false;  // non-empty, every member reachable and capable
};

// Capable = encryption_capable && kek_fingerprint == `leader_fingerprint` && envelope v1 and
// snapshot header v2 supported. INVALID_ARGUMENT for a null dialer or timeout <= 0. Returns at
// min(parent deadline, now + timeout) even if a probe hangs (late results are dropped).
absl::StatusOr<CapabilityFanoutResult> CapabilityFanout(const RouteSnapshot& routes,
                                                        const Dialer& dialer,
                                                        std::chrono::milliseconds timeout,
                                                        const CallContext& parent,
                                                        const KekFingerprint& leader_fingerprint);

// "n1@host:port: unreachable (why); n2@...: not capable (why)" for a refusal message.
std::string DescribeRefusal(const CapabilityFanoutResult& result);

}  // namespace tessera::shard::encryption
