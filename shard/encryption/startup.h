// Encryption startup (spec/encryption.md §13): every guard, in the spec's order, before the
// shard serves; on success the node's runtime (KEK, keystore, state cache) and its sidecar.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "shard/encryption/applier.h"
#include "shard/encryption/kek.h"
#include "shard/encryption/resync.h"
#include "shard/encryption/sidecar.h"
#include "shard/storage/engine.h"

namespace tessera::shard::encryption {

struct EncryptionStartupOptions {
  bool enabled = false;  // --encryption-enabled
  std::string kek_file;
  const char* kek_env = nullptr;  // TESSERA_KEK_BASE64's value, null when unset
  std::string sidecar_path;
  std::string data_dir;
  GroupId default_group = 0;
  std::vector<GroupId> groups;  // hosted groups (for the raft-cutover key check)
  SidecarIo io = RealSidecarIo();
  // --encryption-resync-sidecar (§13 repair): a missing or behind sidecar is rebuilt from the
  // default-group leader's answer (verified under the local KEK, at least as far as the local
  // enc_last_op_index) instead of refusing to start. `fetch_resync` asks the leader.
  bool resync_sidecar = false;
  std::function<absl::StatusOr<tessera::encryption::v1::ResyncSidecarResponse>()> fetch_resync;
};

struct EncryptionStartup {
  // EncryptionMutatorsEnabled(): flag && KEK && sidecar path, evaluated once here.
  bool mutators_enabled = false;
  EncryptionRuntime runtime;
  Sidecar sidecar;  // as loaded (empty when none yet)
  bool sidecar_present = false;
  std::optional<KekFingerprint> fingerprint;
  bool sidecar_resynced = false;  // rebuilt from the leader by --encryption-resync-sidecar
};

// Runs the guards against the opened engine (the default group's meta:enc_last_op_index and
// each group's meta:raft_envelope_cutover_index). Every failure refuses to start.
absl::StatusOr<EncryptionStartup> StartEncryption(const EncryptionStartupOptions& options,
                                                  StorageEngine* engine);

}  // namespace tessera::shard::encryption
