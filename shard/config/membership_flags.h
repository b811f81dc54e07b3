// The membership flags of tessera-shard (spec/membership.md §1, §2, §6): their grammar,
// the ordered validation rules, and the resolved per-group bootstrap lists.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "shard/membership/node_id.h"
#include "shard/membership/server.h"

namespace tessera::shard {

using GroupId = uint64_t;
inline constexpr GroupId kMinGroupId = 1;
inline constexpr GroupId kMaxGroupId = UINT64_MAX - 1;  // UINT64_MAX reserved: gid+1 bounds ranges

// The raw flag values; an empty string means the flag is unset.
struct MembershipFlags {
  std::string raft_id;                 // --raftId
  std::string raft_groups;             // --raftGroups
  std::string raft_group_peers;        // --raftGroupPeers
  std::string raft_bootstrap_members;  // --raftBootstrapMembers
  bool raft_bootstrap = false;         // --raftBootstrap
  bool raft_join_as_learner = false;   // --raftJoinAsLearner
  std::string raft_redis_map;          // --raftRedisMap
  std::string redis_address;           // --redisAddress
};

// Grammar-level values (§1.2) in flag order; duplicates are kept for validation to report.
struct GroupAddress {
  GroupId group = 0;
  std::string address;
  bool operator==(const GroupAddress&) const = default;
};
struct Member {
  std::string raft_id;
  std::string address;
  bool operator==(const Member&) const = default;
};
struct GroupMembers {
  GroupId group = 0;
  std::vector<Member> members;
  bool operator==(const GroupMembers&) const = default;
};
struct RedisMapEntry {
  std::string raft_address;
  std::string redis_address;
  bool operator==(const RedisMapEntry&) const = default;
};

// Each fails with kSyntax (kRedisMapSyntax for the Redis map) naming the flag, what is
// wrong, the offending token and its byte position in the flag value.
absl::Status ParseRaftId(std::string_view value);
absl::Status ParseAddress(std::string_view flag, std::string_view value);
absl::StatusOr<std::vector<GroupAddress>> ParseRaftGroups(std::string_view value);
absl::StatusOr<std::vector<GroupMembers>> ParseRaftGroupPeers(std::string_view value);
absl::StatusOr<std::vector<Member>> ParseRaftBootstrapMembers(std::string_view value);
absl::StatusOr<std::vector<RedisMapEntry>> ParseRaftRedisMap(std::string_view value);

// The validated, resolved membership configuration of this node. Static for the life of
// the process.
struct MembershipConfig {
  std::string raft_id;
  NodeId node_id = raft::kNoNode;
  std::map<GroupId, std::string> groups;  // group -> this node's raft listener
  // Groups this node bootstraps, each with its full initial voter list (sorted by
  // node_id). A group absent here never bootstraps (§2: bootstrap(g) = contains(g)).
  absl::flat_hash_map<GroupId, std::vector<Server>> bootstrap_lists;
  std::map<std::string, std::string> redis_map;  // raft listener -> Redis address, full
  bool join_as_learner = false;
  bool single_node_bootstrap = false;  // --raftBootstrap alone
  std::vector<std::string> warnings;   // to be logged at WARN by the caller

  // The lowest group id: hosts encryption metadata and admin discovery.
  GroupId default_group() const { return groups.empty() ? 0 : groups.begin()->first; }
};

// Validates the rules of §1.3 in order (first failure wins; the status carries the
// ConfigErrc) and resolves §2. Does no I/O.
absl::StatusOr<MembershipConfig> ResolveMembership(const MembershipFlags& flags);

namespace membership_internal {
// ResolveMembership with the NodeId derivation injected, so tests can provoke
// kNodeIdCollision (FNV-1a 64 collisions are impractical to find). Production code uses
// ResolveMembership.
using NodeIdFunction = NodeId (*)(std::string_view raft_id);
absl::StatusOr<MembershipConfig> ResolveMembershipWith(const MembershipFlags& flags,
                                                       NodeIdFunction derive_node_id);
}  // namespace membership_internal

}  // namespace tessera::shard
