// Key encoding shared by every column family of the shard's one RocksDB: the 8-byte big-endian
// group prefix, u64 big-endian fields, and the names of the per-group `meta` rows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::shard {

// Group ids live in [1, 2^64-2] (membership.md §0; kMinGroupId/kMaxGroupId in
// shard/config/membership_flags.h): UINT64_MAX is reserved so that gid+1 bounds a key range.
using GroupId = uint64_t;

inline void PutU64BE(std::string* out, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  out->append(buf, sizeof(buf));
}

inline std::string EncodeU64BE(uint64_t v) {
  std::string out;
  PutU64BE(&out, v);
  return out;
}

// Reads the first 8 bytes of `in`; the caller checks in.size() >= 8.
inline uint64_t DecodeU64BE(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

// gid (8 bytes BE) ‖ suffix: the key of every row that belongs to a group, in any column family.
// Big-endian so that one group's rows are contiguous and groups sort numerically.
inline std::string GroupKey(GroupId gid, std::string_view suffix) {
  std::string key;
  key.reserve(8 + suffix.size());
  PutU64BE(&key, gid);
  key.append(suffix);
  return key;
}

// Exclusive upper bound of every key of `gid`: the next group's prefix.
inline std::string GroupKeyEnd(GroupId gid) { return GroupKey(gid + 1, {}); }

// Names of the per-group rows of the `meta` column family (key = gid ‖ ascii name).
namespace meta {
// snapshots-and-cold-start.md §3.
inline constexpr std::string_view kAppliedIndex = "applied_index";                 // u64 BE
inline constexpr std::string_view kClockCeilingMs = "clock_ceiling_ms";            // u64 BE
inline constexpr std::string_view kRestoreMarker = "restore_marker";               // u64 BE
inline constexpr std::string_view kSnapshotHeaderLatch = "snapshot_header_latch";  // u64 BE
inline constexpr std::string_view kRaftEnvelopeCutoverIndex = "raft_envelope_cutover_index";
// Default group: index of the last applied encryption op (u64 BE), the sidecar's durable
// witness for the startup guards (spec/encryption.md §4, §13).
inline constexpr std::string_view kEncLastOpIndex = "enc_last_op_index";
// membership.md §3.
inline constexpr std::string_view kInitialized = "initialized";
inline constexpr std::string_view kConfState = "conf_state";
inline constexpr std::string_view kPeers = "peers";
inline constexpr std::string_view kBootstrap = "bootstrap";
inline constexpr std::string_view kBootstrapEra = "bootstrap_era";
}  // namespace meta

inline std::string MetaKey(GroupId gid, std::string_view name) { return GroupKey(gid, name); }

}  // namespace tessera::shard
