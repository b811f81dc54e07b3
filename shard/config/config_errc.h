// Typed error codes of shard configuration and membership-state validation
// (spec/membership.md §1.3, §3, §4). A status's message starts with the errc name.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace tessera::shard {

enum class ConfigErrc {
  kOk = 0,  // an OK status, or one not made by ConfigError
  // §1.3 flag validation, in rule order.
  kSyntax,
  kGroupPeersExclusive,
  kBootstrapMembersMultiGroup,
  kDuplicateGroup,
  kUnknownGroup,
  kMissingGroup,
  kDuplicateId,
  kDuplicateAddress,
  kLocalMissing,
  kLocalAddrMismatch,  // also at Open (§4) when the local listener moved
  kListenerReuse,
  kHeterogeneous,
  kTooFewVoters,
  kNodeIdCollision,
  kJoinAsLearnerBootstrap,
  kRedisMapSyntax,
  kRedisMapDuplicateKey,
  kRedisMapIncomplete,
  kRedisMapSplitNode,
  kRedisMapLocalMismatch,
  // §3/§4 durable membership state.
  kPeersRecordCorrupt,
  kClusterMismatch,
  kCorruptGroupState,
  kUnlistedGroupState,
};

std::string_view ConfigErrcName(ConfigErrc errc);

// An InvalidArgument status whose message is "<errc name>: <detail>" and whose payload
// carries the errc.
absl::Status ConfigError(ConfigErrc errc, std::string_view detail);

// kOk for an OK status or one not made by ConfigError.
ConfigErrc GetConfigErrc(const absl::Status& status);

}  // namespace tessera::shard
