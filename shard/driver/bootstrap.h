// Per-group durable membership at open: the one synced bootstrap batch of membership.md §2,
// the `meta:conf_state` record, and the conf-change context encoding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/types.h"
#include "shard/membership/server.h"
#include "shard/storage/engine.h"
#include "shard/storage/group_log.h"

namespace tessera::shard {

// meta:conf_state = index u64 BE ‖ protobuf tessera.raft.v1.ConfState (membership.md §3).
struct ConfStateRecord {
  uint64_t index = 0;
  raft::ConfState conf_state;
  // The stored protobuf carried fields this version does not know, such as etcd's
  // voters_outgoing (3), learners_next (4) or auto_leave (5) of a joint configuration: never
  // silently dropped, validate-on-open refuses the group (spec/membership.md §4 step 2).
  bool unknown_fields = false;

  bool operator==(const ConfStateRecord&) const = default;
};
std::string EncodeConfStateRecord(const ConfStateRecord& record);
// DATA_LOSS on a short record or a protobuf that does not parse.
absl::StatusOr<ConfStateRecord> DecodeConfStateRecord(std::string_view bytes);
// The group's record, nullopt when absent.
absl::StatusOr<std::optional<ConfStateRecord>> ReadConfStateRecord(StorageEngine* engine,
                                                                   GroupId gid);

// Conf-change context: node_id u64 BE ‖ raft_id_len u16 BE ‖ raft_id ‖ addr_len u16 BE ‖ addr.
// NodeId, raft id and address only, never suffrage (membership.md §0); deterministic, so every
// node writes byte-identical bootstrap entries.
std::string EncodeConfChangeContext(const Server& server);
// INVALID_ARGUMENT on a malformed context. The result is a voter: suffrage is not carried.
absl::StatusOr<Server> DecodeConfChangeContext(std::string_view bytes);

// The bootstrap log of a normalized voter list: one ConfChangeAddNode per voter in NodeId
// order, term 1, indices 1..n.
std::vector<raft::Entry> BootstrapEntries(const std::vector<Server>& voters);

enum class BootstrapOutcome { kBootstrapped, kAlreadyInitialized, kNoListJoiner };

// Decides and performs the bootstrap of one group (membership.md §2, §4): an initialized group
// is never bootstrapped again; an uninitialized one with a list gets, in ONE synced batch, the
// bootstrap entries, hard state {term 1, commit n}, conf_state, peers, bootstrap record,
// bootstrap_era=1, initialized=1 and applied_index=n. Raft state without `initialized` is
// kCorruptGroupState (DATA_LOSS). `voters` null = no bootstrap list for the group.
absl::StatusOr<BootstrapOutcome> BootstrapGroupIfNeeded(StorageEngine* engine, GroupLog* log,
                                                        GroupId gid,
                                                        const std::vector<Server>* voters);

}  // namespace tessera::shard
