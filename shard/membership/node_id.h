// The numeric Raft id of a node, derived from its --raftId (spec/membership.md §0).
// Every node and every tool MUST derive it the same way: FNV-1a 64 of the raft id bytes.
#pragma once

#include <string_view>

#include "raft/types.h"

namespace tessera::shard {

using NodeId = raft::NodeId;

// FNV-1a 64-bit hash of `raft_id` (offset 0xcbf29ce484222325, prime 0x100000001b3).
// A result of 0 (raft::kNoNode) is invalid; config validation rejects such ids.
NodeId DeriveNodeId(std::string_view raft_id);

}  // namespace tessera::shard
