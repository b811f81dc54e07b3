// The engine-side membership API of one Raft group (spec/membership.md §7.1, §8): status,
// configuration, single-step membership changes and leadership transfer, with typed errors.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/progress.h"
#include "raft/types.h"
#include "shard/membership/server.h"

namespace tessera::shard {

// Deadline and cancellation of one admin call (a gRPC call, a CLI run, a test).
struct CallContext {
  using Clock = std::chrono::steady_clock;
  Clock::time_point deadline = Clock::time_point::max();
  // Polled while the call waits; null = never cancelled. Must be thread-safe.
  std::function<bool()> cancelled;

  static CallContext WithTimeout(std::chrono::milliseconds timeout) {
    CallContext ctx;
    ctx.deadline = Clock::now() + timeout;
    return ctx;
  }
  bool IsCancelled() const { return cancelled && cancelled(); }
};

// Errors of the admin surface that the consensus core does not know. Statuses carry the errc
// as a payload (AdminErrcOf) and the message starts with its name, like raft::RaftError.
enum class AdminErrc {
  kOk = 0,
  kConfigIndexMismatch,      // previous_index != the current configuration index
  kMembershipChangePending,  // another membership change has not applied yet
  kAddressMismatch,          // a transfer target's address differs from the configuration
  kTransferTimedOut,         // leadership did not move within an election timeout
  kMembershipChangeLost,     // the proposed entry was replaced by another leader's entry
  kCanceled,                 // the caller gave up (CANCELLED); the change may still commit
  kDeadlineExceeded,         // the deadline passed (DEADLINE_EXCEEDED); it may still commit
  kInvalidArgument,          // malformed request (INVALID_ARGUMENT)
};
std::string_view AdminErrcName(AdminErrc errc);
absl::Status AdminError(AdminErrc errc, std::string_view detail);
AdminErrc AdminErrcOf(const absl::Status& status);

// An engine's NOT_LEADER (raft::RaftErrc::kNotLeader) may carry the leader's raft listener.
void SetNotLeaderAddress(absl::Status* status, std::string_view address);
// Empty when the status carries none.
std::string NotLeaderAddress(const absl::Status& status);

enum class AdminRole { kLeader, kFollower, kCandidate, kLearner };
std::string_view AdminRoleName(AdminRole role);  // "LEADER", ...

// The leader's replication view of one member.
struct PeerProgress {
  raft::NodeId node_id = raft::kNoNode;
  std::string raft_id;
  std::string address;
  bool voter = true;
  uint64_t match = 0;
  uint64_t next = 0;
  raft::ProgressState state = raft::ProgressState::kProbe;
  bool recent_active = false;
  uint64_t pending_snapshot_index = 0;
  uint64_t inflight = 0;
};

struct AdminStatus {
  AdminRole role = AdminRole::kFollower;
  raft::NodeId leader_id = raft::kNoNode;
  std::string leader_raft_id;  // empty when unknown
  std::string leader_address;  // the leader's raft listener, empty when unknown
  uint64_t term = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t last_log_index = 0;
  uint64_t last_snapshot_index = 0;
  uint64_t fsm_pending = 0;  // committed but not yet applied
  uint64_t voter_count = 0;
  uint64_t learner_count = 0;
  uint64_t last_contact_nanos = 0;  // since the last message from the leader (0 on the leader)
  uint64_t configuration_index = 0;
  uint64_t pending_conf_change = 0;  // index of an unapplied conf change, 0 = none
  raft::NodeId lead_transferee = raft::kNoNode;
  bool bootstrap_era = false;
  std::string bootstrap_list_hash;  // hex, empty when the group was not bootstrapped here
  std::vector<PeerProgress> peers;  // leader only, sorted by node id
};

// Members of the group at `index` (the applied index of the last conf change, bootstrap or
// snapshot restore). Suffrage comes from the ConfState, addresses from the peers record.
struct ClusterConfiguration {
  uint64_t index = 0;
  std::vector<Server> servers;  // voters first, then learners, each by node id
};

struct TransferTarget {
  std::string raft_id;
  std::string address;  // empty = not checked
};
struct TransferRequest {
  TransferTarget target;                   // raft_id empty = none
  std::vector<TransferTarget> candidates;  // tried in order when no target
  bool gated = false;
  uint64_t max_lag = 1024;
};

// Every engine and test fake implements all of it (a missing method is a compile error).
// Change calls return the applied index of their conf change; they wait until it applies or
// the context ends (kCanceled / kDeadlineExceeded: the change may still commit).
class RaftAdmin {
 public:
  virtual ~RaftAdmin() = default;

  virtual absl::StatusOr<AdminStatus> Status(const CallContext& ctx) = 0;
  virtual absl::StatusOr<ClusterConfiguration> Configuration(const CallContext& ctx) = 0;
  virtual absl::StatusOr<uint64_t> AddVoter(const CallContext& ctx, std::string_view raft_id,
                                            std::string_view address, uint64_t previous_index) = 0;
  virtual absl::StatusOr<uint64_t> AddLearner(const CallContext& ctx, std::string_view raft_id,
                                              std::string_view address,
                                              uint64_t previous_index) = 0;
  virtual absl::StatusOr<uint64_t> PromoteLearner(const CallContext& ctx, std::string_view raft_id,
                                                  uint64_t previous_index,
                                                  uint64_t min_applied_index,
                                                  bool skip_min_applied_check) = 0;
  virtual absl::StatusOr<uint64_t> RemoveServer(const CallContext& ctx, std::string_view raft_id,
                                                uint64_t previous_index) = 0;
  // The raft id of the node that leads afterwards.
  virtual absl::StatusOr<std::string> TransferLeadership(const CallContext& ctx,
                                                         const TransferRequest& request) = 0;
};

}  // namespace tessera::shard
