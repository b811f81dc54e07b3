// AdminErrc names and statuses, and the role names the admin surface prints.
// Canonical codes follow the gRPC mapping of spec/membership.md §8.
#include "shard/admin/raft_admin.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tessera::shard {
namespace {

constexpr absl::string_view kPayloadUrl = "tessera.shard/admin_errc";
constexpr absl::string_view kLeaderAddressPayloadUrl = "tessera.shard/leader_address";

absl::StatusCode CanonicalCode(AdminErrc errc) {
  switch (errc) {
    case AdminErrc::kCanceled:
      return absl::StatusCode::kCancelled;
    case AdminErrc::kDeadlineExceeded:
      return absl::StatusCode::kDeadlineExceeded;
    case AdminErrc::kInvalidArgument:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kFailedPrecondition;
  }
}

}  // namespace

std::string_view AdminErrcName(AdminErrc errc) {
  switch (errc) {
    case AdminErrc::kOk:
      return "kOk";
    case AdminErrc::kConfigIndexMismatch:
      return "kConfigIndexMismatch";
    case AdminErrc::kMembershipChangePending:
      return "kMembershipChangePending";
    case AdminErrc::kAddressMismatch:
      return "kAddressMismatch";
    case AdminErrc::kTransferTimedOut:
      return "kTransferTimedOut";
    case AdminErrc::kMembershipChangeLost:
      return "kMembershipChangeLost";
    case AdminErrc::kCanceled:
      return "kCanceled";
    case AdminErrc::kDeadlineExceeded:
      return "kDeadlineExceeded";
    case AdminErrc::kInvalidArgument:
      return "kInvalidArgument";
  }
  return "kUnknownAdminErrc";
}

absl::Status AdminError(AdminErrc errc, std::string_view detail) {
  if (errc == AdminErrc::kOk) return absl::OkStatus();
  std::string message(AdminErrcName(errc));
  if (!detail.empty()) {
    message += ": ";
    message.append(detail.data(), detail.size());
  }
  absl::Status status(CanonicalCode(errc), message);
  status.SetPayload(kPayloadUrl, absl::Cord(absl::StrCat(static_cast<int>(errc))));
  return status;
}

AdminErrc AdminErrcOf(const absl::Status& status) {
  if (status.ok()) return AdminErrc::kOk;
  auto payload = status.GetPayload(kPayloadUrl);
  int value = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &value)) return AdminErrc::kOk;
  return static_cast<AdminErrc>(value);
}

void SetNotLeaderAddress(absl::Status* status, std::string_view address) {
  status->SetPayload(kLeaderAddressPayloadUrl,
                     absl::Cord(absl::string_view(address.data(), address.size())));
}

std::string NotLeaderAddress(const absl::Status& status) {
  auto payload = status.GetPayload(kLeaderAddressPayloadUrl);
  return payload.has_value() ? std::string(*payload) : std::string();
}

std::string_view AdminRoleName(AdminRole role) {
  switch (role) {
    case AdminRole::kLeader:
      return "LEADER";
    case AdminRole::kFollower:
      return "FOLLOWER";
    case AdminRole::kCandidate:
      return "CANDIDATE";
    case AdminRole::kLearner:
      return "LEARNER";
  }
  return "UNKNOWN";
}

}  // namespace tessera::shard
