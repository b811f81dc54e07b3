// The shard's Topology gRPC service: the routing table, every group's members, leader and
// term, and each node's Redis address, for gateways (GetTopology, WatchTopology).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "proto/topology.grpc.pb.h"
#include "routing/routing_table.h"
#include "shard/config/membership_flags.h"
#include "shard/driver/driver.h"
#include "shard/membership/server.h"

namespace tessera::shard {

struct TopologyOptions {
  std::string raft_id;  // this node's --raftId
  NodeId node_id = raft::kNoNode;
  // Every group of the cluster (v1: every node hosts every group), ascending; the lowest is
  // the default group.
  std::vector<GroupId> groups;
  // Known members per group (node id, raft id, raft address); suffrage comes from the live
  // ConfState, and a member the ConfState has but this list lacks is served without address.
  absl::flat_hash_map<GroupId, std::vector<Server>> members;
  std::map<std::string, std::string> redis_map;  // raft listener -> Redis address (§6)
  // How often a watch looks for changes, and how many watches may be open at once (each
  // holds one gRPC server thread).
  std::chrono::milliseconds watch_poll{50};
  size_t max_watchers = 64;
};

// Groups, members and the Redis map from the resolved membership flags.
TopologyOptions TopologyOptionsFromMembership(const MembershipConfig& config);

// The one place the shard decides its routing table. Until the table is stored in the default
// group it is the even spread over the cluster's groups at version 1, the same function the
// shard's Redis listener routes with.
routing::RoutingTable CurrentRoutingTable(const std::vector<GroupId>& groups);

using GroupStatusSource = std::function<absl::StatusOr<GroupStatus>(GroupId)>;

// What this node knows now. A group whose status is unavailable is listed with its known
// members, no leader and term 0.
topology::v1::TopologySnapshot BuildTopology(const TopologyOptions& options,
                                             const GroupStatusSource& status);

class TopologyService final : public topology::v1::Topology::Service {
 public:
  explicit TopologyService(TopologyOptions options);
  ~TopologyService() override;  // Stops.

  // Set once the driver is open, before the gRPC server starts; until then every call is
  // UNAVAILABLE.
  void SetStatusSource(GroupStatusSource status);
  // Ends every open watch (before the gRPC server shuts down) and refuses new ones.
  void Stop();

  grpc::Status GetTopology(grpc::ServerContext* context,
                           const topology::v1::GetTopologyRequest* request,
                           topology::v1::TopologySnapshot* response) override;
  grpc::Status WatchTopology(grpc::ServerContext* context,
                             const topology::v1::WatchTopologyRequest* request,
                             grpc::ServerWriter<topology::v1::TopologySnapshot>* writer) override;

 private:
  absl::StatusOr<topology::v1::TopologySnapshot> Snapshot() const;

  const TopologyOptions options_;
  mutable std::mutex mu_;  // guards status_ and stopped_
  std::condition_variable stop_cv_;
  GroupStatusSource status_;
  bool stopped_ = false;
  std::atomic<size_t> watchers_{0};
};

}  // namespace tessera::shard
