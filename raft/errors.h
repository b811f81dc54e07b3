// Typed error codes of the consensus core, carried inside absl::Status so callers can
// switch on the code (RaftErrcOf) while logs still read well (the message starts with it).
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace tessera::raft {

enum class RaftErrc {
  kOk = 0,
  // Storage.
  kCompacted,    // requested index is below the first available index
  kUnavailable,  // requested index is above the last index
  kSnapshotTemporarilyUnavailable,
  kSnapOutOfDate,  // snapshot older than what storage already has
  // Proposals and reads.
  kNotLeader,        // only the leader may do this (no leader known, or forwarding disabled)
  kProposalDropped,  // e.g. a leadership transfer is in progress
  kTooLarge,         // proposal over the uncommitted-size limit
  kInvalidArgument,
  // Membership.
  kConfChangePending,  // one membership change at a time
  kAlreadyMember,
  kLearnerIsVoter,     // AddLearner on a voter: no demotion
  kAddVoterIsLearner,  // AddNode on a learner must go through PromoteLearner
  kUnknownServer,
  kLastVoter,
  kPromoteLearnerNotLearner,
  kPromoteLearnerNoProgress,
  kPromoteLearnerNotCaughtUp,
  kPromoteLearnerMinAppliedZero,
  // Leadership transfer.
  kTransferTargetNotVoter,
  kTargetNotCaughtUp,
  kTransferInProgress,
};

std::string_view RaftErrcName(RaftErrc errc);

// A FAILED_PRECONDITION (or the fitting canonical code) status whose message starts with
// the errc name and whose payload carries the errc.
absl::Status RaftError(RaftErrc errc, std::string_view detail = {});

// kOk for an OK status or one not made by RaftError.
RaftErrc RaftErrcOf(const absl::Status& status);

}  // namespace tessera::raft
