// On-disk membership records of the `meta` column family (spec/membership.md §3): the
// `peers` record (address cache, never a suffrage authority) and the `bootstrap` record.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "shard/membership/server.h"

namespace tessera::shard {

// peers: magic ‖ version u16 ‖ index u64 ‖ count u32 ‖ peer* ‖ crc32c u32, integers BE.
// peer:  node_id u64 ‖ suffrage u8 (0 voter, 1 learner) ‖ raft_id_len u16 ‖ raft_id ‖
//        addr_len u16 ‖ addr. Peers sorted by node_id. CRC32C over all preceding bytes.
inline constexpr std::string_view kPeersRecordMagic = "TSRPEERS";
inline constexpr uint16_t kPeersRecordVersion = 1;  // the only version readers know
inline constexpr uint32_t kMaxPeers = 1024;
inline constexpr size_t kMaxRaftIdLength = 64;
inline constexpr size_t kMaxAddressLength = 255;
inline constexpr uint8_t kSuffrageVoter = 0;
inline constexpr uint8_t kSuffrageLearner = 1;

// bootstrap: magic ‖ bootstrap_index u64 ‖ list_hash[16] ‖ peer* (voters) ‖ crc32c u32.
// No count: the peers run up to the CRC.
inline constexpr std::string_view kBootstrapRecordMagic = "TSRBOOT1";
inline constexpr size_t kListHashSize = 16;

using ListHashBytes = std::array<uint8_t, kListHashSize>;

struct PeersRecord {
  uint64_t index = 0;         // applied index of the conf change / bootstrap / snapshot
  std::vector<Server> peers;  // sorted by node_id

  bool operator==(const PeersRecord&) const = default;
};

struct BootstrapRecord {
  uint64_t bootstrap_index = 0;
  std::vector<Server> voters;  // the normalized declared list, sorted by node_id
  // Filled by DecodeBootstrapRecord (and verified against `voters`); the encoder always
  // computes it from `voters`.
  ListHashBytes list_hash{};

  bool operator==(const BootstrapRecord&) const = default;
};

// Always the current version, peers sorted by node_id. The record must be encodable: at
// most kMaxPeers peers, raft ids of 1..64 bytes, addresses of 1..255 bytes, distinct
// node ids equal to DeriveNodeId(raft_id); a violation aborts (it would persist a record
// no reader accepts).
std::string EncodePeersRecord(const PeersRecord& record);

// kPeersRecordCorrupt on wrong magic, unknown version, count > 1024, suffrage byte not 0/1,
// bad lengths, length overrun, trailing bytes, bad CRC, node ids not strictly ascending,
// or node_id != DeriveNodeId(raft_id).
absl::StatusOr<PeersRecord> DecodePeersRecord(std::string_view bytes);

// BLAKE2b-128 over the canonical encoding of `servers` sorted by node_id: the
// concatenated per-peer encodings, i.e. exactly the peer bytes of the bootstrap record.
// Order of the input does not matter.
ListHashBytes ListHash(const std::vector<Server>& servers);

// Lowercase hex of a list hash, as logged and exposed in Status (bootstrap_list_hash).
std::string ListHashHex(const ListHashBytes& hash);

// Same preconditions as EncodePeersRecord, and every member a voter.
std::string EncodeBootstrapRecord(const BootstrapRecord& record);

// kPeersRecordCorrupt (message prefixed "bootstrap record") on any codec failure,
// a learner entry, or a list_hash that does not match the list.
absl::StatusOr<BootstrapRecord> DecodeBootstrapRecord(std::string_view bytes);

}  // namespace tessera::shard
