// Conversion between the core's raft::Message and its wire form (proto/raft.proto), with
// the limits and shape checks that keep garbage from the network out of the core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/raft.pb.h"
#include "raft/types.h"

namespace tessera::shard {

struct RaftCodecLimits {
  size_t max_entries = 65'536;               // entries in one message
  uint64_t max_entry_bytes = 64ull << 20;    // one entry's payload
  uint64_t max_message_bytes = 64ull << 20;  // all entry payloads of one message
  size_t max_context_bytes = 4096;           // read-index ids, campaign kinds
  size_t max_members = 1024;                 // voters + learners in a snapshot ConfState
  size_t max_snapshot_data_bytes = 64;       // a snapshot token, never a body
};

void EncodeRaftMessage(const raft::Message& m, tessera::raft::v1::Message* out);

// Rejects (INVALID_ARGUMENT, naming the field) unknown or local-only message types,
// unknown entry types, and anything over a limit. Semantic checks (contiguous entries,
// terms) are the core's, in RawNode::Step.
absl::StatusOr<raft::Message> DecodeRaftMessage(const tessera::raft::v1::Message& in,
                                                const RaftCodecLimits& limits = {});

// Parses serialized bytes first: garbage is an error, never a crash.
absl::StatusOr<raft::Message> DecodeRaftMessageBytes(std::string_view bytes,
                                                     const RaftCodecLimits& limits = {});

}  // namespace tessera::shard
