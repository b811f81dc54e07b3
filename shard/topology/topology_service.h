// The shard's Topology gRPC service: the routing table, every group's members, leader and
// term, and each node's Redis address, for gateways (GetTopology, WatchTopology).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "proto/topology.grpc.pb.h"
#include "routing/routing_table.h"
#include "shard/config/membership_flags.h"
#include "shard/driver/driver.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/membership/redis_address_book.h"
#include "shard/membership/server.h"

namespace tessera::shard {

struct TopologyOptions {
  std::string raft_id;  // this node's --raftId
  NodeId node_id = raft::kNoNode;
  // Every group of the cluster (v1: every node hosts every group), ascending; the lowest is
  // the default group.
  std::vector<GroupId> groups;
  // Declared members per group (node id, raft id, raft address): used only until the group's
  // live configuration is published. The live configuration (the peers record: members added
  // at runtime included) names members and addresses; suffrage comes from the ConfState, and a
  // member neither names is served without address.
  absl::flat_hash_map<GroupId, std::vector<Server>> members;
  // Raft listener -> Redis address: --raftRedisMap, then what nodes announced (§6). Null: none.
  std::shared_ptr<const RedisAddressBook> redis_addresses;
  // How often a watch looks for changes, and how many watches may be open at once (each
  // holds one gRPC server thread).
  std::chrono::milliseconds watch_poll{50};
  size_t max_watchers = 64;
  // --adminTokenFile's token: AssignSlots and CountSlotKeys require it on a non-loopback
  // listener (as RaftAdmin does). Empty: not required.
  std::string admin_token;
  bool loopback_listener = true;  // whether this service's listener is loopback only
  // How long AssignSlots and CountSlotKeys wait for a read barrier, a proposal or a peer.
  std::chrono::milliseconds admin_timeout{10'000};
};

// Groups, members and the Redis map from the resolved membership flags.
TopologyOptions TopologyOptionsFromMembership(const MembershipConfig& config);

// The table the default group has stored (shard/data/routing_rows.h), as this replica applied
// it; nullopt when none is stored yet (or the row cannot be read, which is logged).
std::optional<routing::RoutingTable> StoredRoutingTable(const KvStateMachine& kv,
                                                        GroupId default_group);

// The one place the shard decides its routing table: the stored one when there is one, else
// the even spread over the cluster's groups at version 1 (what bootstrap stores), so the shard's
// Redis listener and the Topology service route the same way before and after it is stored.
routing::RoutingTable CurrentRoutingTable(const std::vector<GroupId>& groups,
                                          const std::optional<routing::RoutingTable>& stored);

using GroupStatusSource = std::function<absl::StatusOr<GroupStatus>(GroupId)>;
using RoutingTableSource = std::function<std::optional<routing::RoutingTable>()>;

// What this node knows now. A group whose status is unavailable is listed with its known
// members, no leader and term 0. Without a routing source the table is the even spread.
topology::v1::TopologySnapshot BuildTopology(const TopologyOptions& options,
                                             const GroupStatusSource& status,
                                             const RoutingTableSource& routing = nullptr);

class TopologyService final : public topology::v1::Topology::Service {
 public:
  explicit TopologyService(TopologyOptions options);
  ~TopologyService() override;  // Stops.

  // Set once the driver is open, before the gRPC server starts; until then every call is
  // UNAVAILABLE.
  void SetStatusSource(GroupStatusSource status);
  // Status, the stored table and the admin calls through the driver (which must outlive the
  // service's calls: Stop first).
  void SetDriver(Driver* driver);
  // Ends every open watch (before the gRPC server shuts down) and refuses new ones.
  void Stop();

  grpc::Status GetTopology(grpc::ServerContext* context,
                           const topology::v1::GetTopologyRequest* request,
                           topology::v1::TopologySnapshot* response) override;
  grpc::Status WatchTopology(grpc::ServerContext* context,
                             const topology::v1::WatchTopologyRequest* request,
                             grpc::ServerWriter<topology::v1::TopologySnapshot>* writer) override;
  grpc::Status AssignSlots(grpc::ServerContext* context,
                           const topology::v1::AssignSlotsRequest* request,
                           topology::v1::AssignSlotsResponse* response) override;
  grpc::Status CountSlotKeys(grpc::ServerContext* context,
                             const topology::v1::CountSlotKeysRequest* request,
                             topology::v1::CountSlotKeysResponse* response) override;

 private:
  // The admin token check, then the driver; an error status when either is missing.
  grpc::Status Admit(grpc::ServerContext* context, Driver** driver) const;
  // OK when this node leads `gid`; otherwise FAILED_PRECONDITION naming the leader's raft
  // listener for `gid` in the x-tessera-leader-address trailer.
  grpc::Status RequireLeader(grpc::ServerContext* context, Driver* driver, GroupId gid) const;
  // Keys of `gid` in slots [first, last]: here when this node leads `gid`, else on its leader;
  // with `op` RELEASE or ACQUIRE also fences or unfences them (proto/topology.proto).
  using SlotFenceOp = topology::v1::CountSlotKeysRequest::Fence;
  absl::StatusOr<uint64_t> CountKeys(grpc::ServerContext* context, Driver* driver, GroupId gid,
                                     uint32_t first, uint32_t last, SlotFenceOp op) const;
  absl::StatusOr<topology::v1::TopologySnapshot> Snapshot() const;

  const TopologyOptions options_;
  mutable std::mutex mu_;  // guards status_, routing_, driver_ and stopped_
  std::condition_variable stop_cv_;
  GroupStatusSource status_;
  RoutingTableSource routing_;
  Driver* driver_ = nullptr;
  bool stopped_ = false;
  std::atomic<size_t> watchers_{0};
};

}  // namespace tessera::shard
