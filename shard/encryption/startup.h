// Encryption startup (spec/encryption.md §13): every guard, in the spec's order, before the
// shard serves; on success the node's runtime (KEK, keystore, state cache) and its sidecar.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "shard/encryption/applier.h"
#include "shard/encryption/kek.h"
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
};

struct EncryptionStartup {
  // EncryptionMutatorsEnabled(): flag && KEK && sidecar path, evaluated once here.
  bool mutators_enabled = false;
  EncryptionRuntime runtime;
  Sidecar sidecar;  // as loaded (empty when none yet)
  bool sidecar_present = false;
  std::optional<KekFingerprint> fingerprint;
};

// Runs the guards against the opened engine (the default group's meta:enc_last_op_index and
// each group's meta:raft_envelope_cutover_index). Every failure refuses to start.
absl::StatusOr<EncryptionStartup> StartEncryption(const EncryptionStartupOptions& options,
                                                  StorageEngine* engine);

}  // namespace tessera::shard::encryption
