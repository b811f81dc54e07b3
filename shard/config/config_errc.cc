// ConfigErrc names and the mapping between ConfigErrc and absl::Status.
#include "shard/config/config_errc.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tessera::shard {
namespace {
// Debian builds abseil with its own string_view type, distinct from std::string_view.
constexpr absl::string_view kPayloadUrl = "tessera.shard/config_errc";
}  // namespace

std::string_view ConfigErrcName(ConfigErrc errc) {
  switch (errc) {
    case ConfigErrc::kOk:
      return "kOk";
    case ConfigErrc::kSyntax:
      return "kSyntax";
    case ConfigErrc::kGroupPeersExclusive:
      return "kGroupPeersExclusive";
    case ConfigErrc::kBootstrapMembersMultiGroup:
      return "kBootstrapMembersMultiGroup";
    case ConfigErrc::kDuplicateGroup:
      return "kDuplicateGroup";
    case ConfigErrc::kUnknownGroup:
      return "kUnknownGroup";
    case ConfigErrc::kMissingGroup:
      return "kMissingGroup";
    case ConfigErrc::kDuplicateId:
      return "kDuplicateId";
    case ConfigErrc::kDuplicateAddress:
      return "kDuplicateAddress";
    case ConfigErrc::kLocalMissing:
      return "kLocalMissing";
    case ConfigErrc::kLocalAddrMismatch:
      return "kLocalAddrMismatch";
    case ConfigErrc::kListenerReuse:
      return "kListenerReuse";
    case ConfigErrc::kHeterogeneous:
      return "kHeterogeneous";
    case ConfigErrc::kTooFewVoters:
      return "kTooFewVoters";
    case ConfigErrc::kNodeIdCollision:
      return "kNodeIdCollision";
    case ConfigErrc::kJoinAsLearnerBootstrap:
      return "kJoinAsLearnerBootstrap";
    case ConfigErrc::kRedisMapSyntax:
      return "kRedisMapSyntax";
    case ConfigErrc::kRedisMapDuplicateKey:
      return "kRedisMapDuplicateKey";
    case ConfigErrc::kRedisMapIncomplete:
      return "kRedisMapIncomplete";
    case ConfigErrc::kRedisMapSplitNode:
      return "kRedisMapSplitNode";
    case ConfigErrc::kRedisMapLocalMismatch:
      return "kRedisMapLocalMismatch";
    case ConfigErrc::kPeersRecordCorrupt:
      return "kPeersRecordCorrupt";
    case ConfigErrc::kClusterMismatch:
      return "kClusterMismatch";
    case ConfigErrc::kCorruptGroupState:
      return "kCorruptGroupState";
    case ConfigErrc::kUnlistedGroupState:
      return "kUnlistedGroupState";
  }
  return "kUnknownConfigErrc";
}

absl::Status ConfigError(ConfigErrc errc, std::string_view detail) {
  if (errc == ConfigErrc::kOk) return absl::OkStatus();
  std::string message(ConfigErrcName(errc));
  if (!detail.empty()) {
    message += ": ";
    message.append(detail.data(), detail.size());
  }
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kPayloadUrl, absl::Cord(absl::StrCat(static_cast<int>(errc))));
  return status;
}

ConfigErrc GetConfigErrc(const absl::Status& status) {
  if (status.ok()) return ConfigErrc::kOk;
  auto payload = status.GetPayload(kPayloadUrl);
  int value = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &value)) return ConfigErrc::kOk;
  if (value <= 0 || value > static_cast<int>(ConfigErrc::kUnlistedGroupState)) {
    return ConfigErrc::kOk;
  }
  return static_cast<ConfigErrc>(value);
}

}  // namespace tessera::shard
