// Errc names and the mapping between RaftErrc and absl::Status.
#include "raft/errors.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tessera::raft {
namespace {
// Debian builds abseil with its own string_view type, distinct from std::string_view.
constexpr absl::string_view kPayloadUrl = "tessera.raft/errc";

absl::StatusCode CanonicalCode(RaftErrc errc) {
  switch (errc) {
    case RaftErrc::kCompacted:
      return absl::StatusCode::kOutOfRange;
    case RaftErrc::kUnavailable:
    case RaftErrc::kSnapshotTemporarilyUnavailable:
      return absl::StatusCode::kUnavailable;
    case RaftErrc::kInvalidArgument:
      return absl::StatusCode::kInvalidArgument;
    case RaftErrc::kTooLarge:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kFailedPrecondition;
  }
}
}  // namespace

std::string_view RaftErrcName(RaftErrc errc) {
  switch (errc) {
    case RaftErrc::kOk:
      return "kOk";
    case RaftErrc::kCompacted:
      return "kCompacted";
    case RaftErrc::kUnavailable:
      return "kUnavailable";
    case RaftErrc::kSnapshotTemporarilyUnavailable:
      return "kSnapshotTemporarilyUnavailable";
    case RaftErrc::kSnapOutOfDate:
      return "kSnapOutOfDate";
    case RaftErrc::kNotLeader:
      return "kNotLeader";
    case RaftErrc::kProposalDropped:
      return "kProposalDropped";
    case RaftErrc::kTooLarge:
      return "kTooLarge";
    case RaftErrc::kInvalidArgument:
      return "kInvalidArgument";
    case RaftErrc::kConfChangePending:
      return "kConfChangePending";
    case RaftErrc::kAlreadyMember:
      return "kAlreadyMember";
    case RaftErrc::kLearnerIsVoter:
      return "kLearnerIsVoter";
    case RaftErrc::kAddVoterIsLearner:
      return "kAddVoterIsLearner";
    case RaftErrc::kUnknownServer:
      return "kUnknownServer";
    case RaftErrc::kLastVoter:
      return "kLastVoter";
    case RaftErrc::kPromoteLearnerNotLearner:
      return "kPromoteLearnerNotLearner";
    case RaftErrc::kPromoteLearnerNoProgress:
      return "kPromoteLearnerNoProgress";
    case RaftErrc::kPromoteLearnerNotCaughtUp:
      return "kPromoteLearnerNotCaughtUp";
    case RaftErrc::kPromoteLearnerMinAppliedZero:
      return "kPromoteLearnerMinAppliedZero";
    case RaftErrc::kTransferTargetNotVoter:
      return "kTransferTargetNotVoter";
    case RaftErrc::kTargetNotCaughtUp:
      return "kTargetNotCaughtUp";
    case RaftErrc::kTransferInProgress:
      return "kTransferInProgress";
  }
  return "kUnknownRaftErrc";
}

absl::Status RaftError(RaftErrc errc, std::string_view detail) {
  if (errc == RaftErrc::kOk) return absl::OkStatus();
  std::string message(RaftErrcName(errc));
  if (!detail.empty()) {
    message += ": ";
    message.append(detail.data(), detail.size());
  }
  absl::Status status(CanonicalCode(errc), message);
  status.SetPayload(kPayloadUrl, absl::Cord(absl::StrCat(static_cast<int>(errc))));
  return status;
}

RaftErrc RaftErrcOf(const absl::Status& status) {
  if (status.ok()) return RaftErrc::kOk;
  auto payload = status.GetPayload(kPayloadUrl);
  int value = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &value)) return RaftErrc::kOk;
  return static_cast<RaftErrc>(value);
}

}  // namespace tessera::raft
