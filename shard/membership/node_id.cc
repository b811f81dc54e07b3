// DeriveNodeId: FNV-1a 64 over the raft id bytes, the one mapping from --raftId to the
// consensus core's numeric node id.
#include "shard/membership/node_id.h"

#include <cstdint>

namespace tessera::shard {
namespace {
constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
}  // namespace

NodeId DeriveNodeId(std::string_view raft_id) {
  uint64_t hash = kFnvOffsetBasis;
  for (char c : raft_id) {
    hash ^= static_cast<uint8_t>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

}  // namespace tessera::shard
