// ClusterView from a TopologySnapshot: validates the table's ranges and resolves each leader's
// Redis address through the gateway's --raftRedisMap before the shard's advertised one.
#include "gateway/cluster_view.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace tessera::gateway {

absl::StatusOr<std::shared_ptr<const ClusterView>> ClusterView::FromSnapshot(
    const topology::v1::TopologySnapshot& snapshot,
    const std::map<std::string, std::string>& redis_map) {
  auto view = std::shared_ptr<ClusterView>(new ClusterView());
  std::vector<routing::SlotRange> ranges;
  for (const topology::v1::SlotRange& r : snapshot.routing().ranges()) {
    if (r.first() >= static_cast<uint32_t>(routing::kSlotCount) ||
        r.last() >= static_cast<uint32_t>(routing::kSlotCount)) {
      return absl::InvalidArgumentError(
          absl::StrCat("topology: slot range ", r.first(), "-", r.last(), " out of bounds"));
    }
    ranges.push_back({static_cast<int>(r.first()), static_cast<int>(r.last()), r.group_id()});
  }
  absl::StatusOr<routing::RoutingTable> table =
      routing::RoutingTable::FromRanges(ranges, snapshot.routing().version());
  if (!table.ok()) return table.status();
  view->table_ = *table;
  std::set<GroupId> in_table;
  for (const routing::SlotRange& r : ranges) in_table.insert(r.group);
  std::set<std::string> addresses;
  for (const topology::v1::GroupTopology& g : snapshot.groups()) {
    GroupView gv;
    gv.id = g.group_id();
    gv.term = g.term();
    gv.leader = g.leader_id();
    if (gv.leader != 0) {
      if (auto it = redis_map.find(g.leader_raft_address()); it != redis_map.end()) {
        gv.leader_redis = it->second;
      } else {
        gv.leader_redis = g.leader_redis_address();
      }
      gv.leader_unmapped = gv.leader_redis.empty();
    }
    for (const topology::v1::GroupMember& m : g.members()) {
      if (!m.raft_address().empty()) addresses.insert(m.raft_address());
    }
    view->groups_[gv.id] = gv;
  }
  for (GroupId g : in_table) {
    if (!view->groups_.contains(g)) {
      return absl::InvalidArgumentError(
          absl::StrCat("topology: the routing table names group ", g, " but no group lists it"));
    }
  }
  for (const auto& [id, gv] : view->groups_) view->group_ids_.push_back(id);
  view->default_group_ = snapshot.default_group() != 0
                             ? snapshot.default_group()
                             : (view->group_ids_.empty() ? 0 : view->group_ids_.front());
  view->raft_addresses_.assign(addresses.begin(), addresses.end());
  view->served_by_ = snapshot.served_by();
  view->authoritative_ = snapshot.authoritative();
  return std::shared_ptr<const ClusterView>(std::move(view));
}

const GroupView* ClusterView::group(GroupId id) const {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : &it->second;
}

}  // namespace tessera::gateway
