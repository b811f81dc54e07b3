// The gateway's picture of the cluster, built from one topology snapshot: routing table, the
// cluster's groups, and each group's leader translated to its Redis address. Immutable; the
// refresher publishes a new one for every snapshot it receives.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/topology.pb.h"
#include "routing/routing_table.h"

namespace tessera::gateway {

using routing::GroupId;

struct GroupView {
  GroupId id = 0;
  uint64_t term = 0;
  uint64_t leader = 0;           // raft node id; 0 when no leader is known
  std::string leader_redis;      // empty when no leader or its Redis address is unknown
  bool leader_unmapped = false;  // a leader is known but has no Redis address
};

class ClusterView {
 public:
  // The leader's Redis address comes from `redis_map` (--raftRedisMap, keyed by raft
  // listener) first and from the snapshot's advertised address otherwise.
  static absl::StatusOr<std::shared_ptr<const ClusterView>> FromSnapshot(
      const topology::v1::TopologySnapshot& snapshot,
      const std::map<std::string, std::string>& redis_map);

  const routing::RoutingTable& table() const { return table_; }
  uint64_t version() const { return table_.version(); }
  const std::vector<GroupId>& groups() const { return group_ids_; }  // ascending
  // nullptr for a group the snapshot does not list.
  const GroupView* group(GroupId id) const;
  GroupId default_group() const { return default_group_; }
  // Every member's raft listener (each also serves Topology): where to watch next.
  const std::vector<std::string>& raft_addresses() const { return raft_addresses_; }
  const std::string& served_by() const { return served_by_; }
  bool authoritative() const { return authoritative_; }

 private:
  routing::RoutingTable table_;
  std::vector<GroupId> group_ids_;
  std::map<GroupId, GroupView> groups_;
  GroupId default_group_ = 0;
  std::vector<std::string> raft_addresses_;
  std::string served_by_;
  bool authoritative_ = false;
};

}  // namespace tessera::gateway
