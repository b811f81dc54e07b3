// NextPeersAfterConfChange: one pure function shared by every replica's conf-change apply, so
// all of them persist the same peers record for the same entry.
#include "shard/driver/membership_change.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "shard/driver/bootstrap.h"
#include "shard/membership/node_id.h"

namespace tessera::shard {

PeersRecord NextPeersAfterConfChange(const PeersRecord& current, const raft::ConfChange& cc,
                                     const raft::ConfState& conf, uint64_t index,
                                     std::string* problem) {
  PeersRecord next = current;
  next.index = index;
  auto& peers = next.peers;
  auto existing = std::find_if(peers.begin(), peers.end(),
                               [&](const Server& s) { return s.node_id == cc.node_id; });
  if (cc.type == raft::ConfChangeType::kRemoveNode) {
    if (existing != peers.end()) peers.erase(existing);
  } else if (!cc.context.empty()) {
    absl::StatusOr<Server> server = DecodeConfChangeContext(cc.context);
    if (server.ok() && server->node_id == cc.node_id &&
        DeriveNodeId(server->raft_id) == cc.node_id && !server->raft_id.empty() &&
        server->raft_id.size() <= kMaxRaftIdLength && !server->address.empty() &&
        server->address.size() <= kMaxAddressLength) {
      if (existing != peers.end()) peers.erase(existing);
      peers.push_back(*std::move(server));
    } else if (existing == peers.end()) {
      *problem = absl::StrCat("conf change context of node ", absl::Hex(cc.node_id),
                              " is unusable; it has no address");
    }
  } else if (existing == peers.end()) {
    *problem =
        absl::StrCat("conf change for node ", absl::Hex(cc.node_id), " without context or address");
  }
  for (Server& s : peers) {
    if (conf.IsVoter(s.node_id)) {
      s.voter = true;
    } else if (conf.IsLearner(s.node_id)) {
      s.voter = false;
    }
  }
  std::sort(peers.begin(), peers.end(),
            [](const Server& x, const Server& y) { return x.node_id < y.node_id; });
  return next;
}

}  // namespace tessera::shard
