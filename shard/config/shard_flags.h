// Command-line and TOML configuration of tessera-shard: every flag, its default, and the
// merge rule (a flag on the command line overrides the same key in the --config file).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "shard/config/membership_flags.h"

namespace tessera::shard {

enum class FsmSyncMode { kSync, kNoSync };

struct ShardFlags {
  // --help was given: `help_out` holds the text, nothing else was checked.
  bool help_requested = false;
  std::string config_path;  // --config, empty if none

  // Membership (spec/membership.md §1.1); validated by ResolveMembership.
  std::string raft_id;
  std::string raft_groups;
  std::string raft_group_peers;
  std::string raft_bootstrap_members;
  bool raft_bootstrap = false;
  bool raft_join_as_learner = false;
  std::string raft_redis_map;

  std::string data_dir;
  std::string redis_address;
  std::string metrics_address;   // empty: no /metrics listener
  std::string requirepass;       // empty: no AUTH required
  std::string admin_token_file;  // --adminTokenFile, empty: no admin token
  bool admin_insecure = false;   // --adminInsecure: non-loopback admin without a token
  // Encryption at rest (spec/encryption.md §1).
  bool encryption_enabled = false;         // --encryption-enabled
  std::string kek_file;                    // --kekFile
  std::string encryption_sidecar_path;     // --encryptionSidecarPath
  bool encryption_resync_sidecar = false;  // --encryption-resync-sidecar

  uint64_t raft_snapshot_count = 10000;  // applied entries between snapshots
  uint64_t raft_log_retain_entries = 5000;
  uint64_t raft_max_snapshot_bytes = uint64_t{16} << 30;
  uint64_t read_cache_bytes = uint64_t{64} << 20;  // the read cache of data rows; 0 = off
  FsmSyncMode fsm_sync_mode = FsmSyncMode::kSync;
  bool snapshot_verify_regenerate = false;  // --snapshotVerifyFailure=regenerate
  uint64_t tick_ms = 100;
  uint64_t election_tick_ms = 1000;  // 10 ticks

  uint64_t election_ticks() const { return election_tick_ms / tick_ms; }
  MembershipFlags membership() const;
};

// Parses argv and the optional --config TOML file (keys are the flag names without
// dashes). Never exits the process and never throws: errors come back as
// InvalidArgument, a help request as help_requested. If `help_out` is non-null it always
// receives the help text, so the caller can print it after an error too.
absl::StatusOr<ShardFlags> ParseShardFlags(int argc, char** argv, std::string* help_out);

}  // namespace tessera::shard
