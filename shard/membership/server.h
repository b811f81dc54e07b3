// One member of a Raft group as configuration and membership records see it: numeric id,
// raft id, raft listener address and suffrage (spec/membership.md §2, §3).
#pragma once

#include <string>

#include "shard/membership/node_id.h"

namespace tessera::shard {

struct Server {
  NodeId node_id = raft::kNoNode;  // DeriveNodeId(raft_id)
  std::string raft_id;
  std::string address;  // this member's raft listener for the group, host:port
  bool voter = true;    // false = learner

  bool operator==(const Server&) const = default;
};

}  // namespace tessera::shard
