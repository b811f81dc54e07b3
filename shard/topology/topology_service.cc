// Topology snapshots from the membership declaration, the driver's published group status and
// the Redis map; watches poll them and send a snapshot whenever it differs from the last one.
#include "shard/topology/topology_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::shard {

namespace tv1 = topology::v1;

TopologyOptions TopologyOptionsFromMembership(const MembershipConfig& config) {
  TopologyOptions o;
  o.raft_id = config.raft_id;
  o.node_id = config.node_id;
  for (const auto& [gid, address] : config.groups) o.groups.push_back(gid);
  o.members = config.bootstrap_lists;
  o.redis_map = config.redis_map;
  return o;
}

routing::RoutingTable CurrentRoutingTable(const std::vector<GroupId>& groups) {
  return routing::RoutingTable::EvenSpread(groups, /*version=*/1);
}

tv1::TopologySnapshot BuildTopology(const TopologyOptions& options,
                                    const GroupStatusSource& status) {
  tv1::TopologySnapshot out;
  const routing::RoutingTable table = CurrentRoutingTable(options.groups);
  tv1::RoutingTable* routing = out.mutable_routing();
  routing->set_version(table.version());
  for (const routing::SlotRange& r : table.Ranges()) {
    tv1::SlotRange* range = routing->add_ranges();
    range->set_first(static_cast<uint32_t>(r.first));
    range->set_last(static_cast<uint32_t>(r.last));
    range->set_group_id(r.group);
  }
  auto redis_of = [&](const std::string& raft_address) -> std::string {
    auto it = options.redis_map.find(raft_address);
    return it == options.redis_map.end() ? std::string() : it->second;
  };
  // node id -> (raft id, Redis address), over every group.
  std::map<NodeId, std::pair<std::string, std::string>> nodes;
  const GroupId default_group = options.groups.empty() ? 0 : options.groups.front();
  out.set_default_group(default_group);
  out.set_served_by(options.raft_id);
  for (GroupId gid : options.groups) {
    tv1::GroupTopology* group = out.add_groups();
    group->set_group_id(gid);
    std::map<NodeId, const Server*> known;
    if (auto it = options.members.find(gid); it != options.members.end()) {
      for (const Server& s : it->second) known[s.node_id] = &s;
    }
    // The ConfState is the only authority for who is a member and with which suffrage; the
    // declaration only names them when the status is not there yet.
    std::map<NodeId, bool> voters;  // node -> voter
    absl::StatusOr<GroupStatus> st = status ? status(gid) : absl::UnavailableError("no status");
    if (st.ok() && !(st->conf_state.voters.empty() && st->conf_state.learners.empty())) {
      for (NodeId id : st->conf_state.voters) voters[id] = true;
      for (NodeId id : st->conf_state.learners) voters[id] = false;
    } else {
      for (const auto& [id, s] : known) voters[id] = s->voter;
    }
    for (const auto& [id, voter] : voters) {
      tv1::GroupMember* m = group->add_members();
      m->set_node_id(id);
      m->set_suffrage(voter ? tv1::SUFFRAGE_VOTER : tv1::SUFFRAGE_LEARNER);
      if (auto k = known.find(id); k != known.end()) {
        m->set_raft_id(k->second->raft_id);
        m->set_raft_address(k->second->address);
        m->set_redis_address(redis_of(k->second->address));
        auto& node = nodes[id];
        node.first = k->second->raft_id;
        if (node.second.empty()) node.second = m->redis_address();
      }
    }
    if (!st.ok()) continue;
    group->set_term(st->term);
    group->set_leader_id(st->leader);
    if (st->leader != raft::kNoNode) {
      if (auto k = known.find(st->leader); k != known.end()) {
        group->set_leader_raft_address(k->second->address);
        group->set_leader_redis_address(redis_of(k->second->address));
      }
    }
    if (gid == default_group) {
      out.set_authoritative(st->role == raft::Role::kLeader && st->leader == options.node_id);
    }
  }
  for (const auto& [id, node] : nodes) {
    tv1::NodeTopology* n = out.add_nodes();
    n->set_node_id(id);
    n->set_raft_id(node.first);
    n->set_redis_address(node.second);
  }
  return out;
}

TopologyService::TopologyService(TopologyOptions options) : options_(std::move(options)) {}

TopologyService::~TopologyService() { Stop(); }

void TopologyService::SetStatusSource(GroupStatusSource status) {
  std::lock_guard<std::mutex> lk(mu_);
  status_ = std::move(status);
}

void TopologyService::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopped_ = true;
  }
  stop_cv_.notify_all();
}

absl::StatusOr<tv1::TopologySnapshot> TopologyService::Snapshot() const {
  GroupStatusSource status;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopped_) return absl::UnavailableError("topology: shutting down");
    if (!status_) return absl::UnavailableError("topology: raft groups not open yet");
    status = status_;
  }
  return BuildTopology(options_, status);
}

grpc::Status TopologyService::GetTopology(grpc::ServerContext*, const tv1::GetTopologyRequest*,
                                          tv1::TopologySnapshot* response) {
  absl::StatusOr<tv1::TopologySnapshot> snap = Snapshot();
  if (!snap.ok())
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(snap.status().message()));
  *response = std::move(*snap);
  return grpc::Status::OK;
}

grpc::Status TopologyService::WatchTopology(grpc::ServerContext* context,
                                            const tv1::WatchTopologyRequest* request,
                                            grpc::ServerWriter<tv1::TopologySnapshot>* writer) {
  // Each watch holds a server thread for its lifetime: bound them.
  if (watchers_.fetch_add(1) >= options_.max_watchers) {
    watchers_.fetch_sub(1);
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("topology: more than ", options_.max_watchers, " watches open"));
  }
  std::string last_sent;
  bool sent_any = false;
  grpc::Status result = grpc::Status::OK;
  while (!context->IsCancelled()) {
    absl::StatusOr<tv1::TopologySnapshot> snap = Snapshot();
    if (!snap.ok()) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(snap.status().message()));
      break;
    }
    if (sent_any || snap->routing().version() > request->after_version()) {
      std::string bytes = snap->SerializeAsString();
      if (!sent_any || bytes != last_sent) {
        if (!writer->Write(*snap)) break;  // the client went away
        sent_any = true;
        last_sent = std::move(bytes);
      }
    }
    std::unique_lock<std::mutex> lk(mu_);
    if (stop_cv_.wait_for(lk, options_.watch_poll, [this] { return stopped_; })) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "topology: shutting down");
      break;
    }
  }
  watchers_.fetch_sub(1);
  return result;
}

}  // namespace tessera::shard
