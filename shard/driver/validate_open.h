// Checks the durable membership state the driver reads at open before any raft loop runs
// (membership.md §4 "Validate-on-open", §2 kUnlistedGroupState). Read-only: nothing is written.
#pragma once

#include <set>
#include <string_view>

#include "absl/status/status.h"
#include "raft/types.h"
#include "shard/storage/engine.h"
#include "shard/storage/keys.h"

namespace tessera::shard {

// Steps 1-5 of membership.md §4 "Validate-on-open" for one group; errors carry a ConfigErrc
// (GetConfigErrc) and a message naming the group and the first difference:
//  - neither meta:peers nor meta:conf_state present (a joiner that applied nothing): OK;
//  - exactly one present, or conf_state undecodable: kCorruptGroupState;
//  - peers undecodable: kPeersRecordCorrupt;
//  - differing indices, voters (element-wise, NodeId order), learners (as sets), or a member
//    without an address in peers: kClusterMismatch;
//  - the local node is a member whose peers address != `local_address`: kLocalAddrMismatch.
// RocksDB read errors are returned as FromRocksStatus gives them.
// Call it after the group's bootstrap decision and cold start (which may finish a restore
// that rewrites both records), before its RawNode is built.
absl::Status ValidateGroupOnOpen(StorageEngine* engine, GroupId gid, raft::NodeId local_node,
                                 std::string_view local_address);

// kUnlistedGroupState if the raftlog, meta or data column family holds any row of a group not
// in `hosted` (the --raftGroups ids); kCorruptGroupState for a key shorter than the 8-byte group
// prefix (the tree writes none). Costs O(groups) seeks per column family, not O(rows).
absl::Status CheckNoUnlistedGroupState(StorageEngine* engine, const std::set<GroupId>& hosted);

}  // namespace tessera::shard
