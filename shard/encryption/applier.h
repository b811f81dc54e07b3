// Apply of the encryption state-machine ops (spec/encryption.md §8) on every replica: unwrap
// under the local KEK, persist the sidecar crash-durably first, stage meta in the apply batch,
// then update the keystore and the state cache. Called by KvStateMachine for "tessera.enc".
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "shard/encryption/keystore.h"
#include "shard/encryption/ops.h"
#include "shard/encryption/secret.h"
#include "shard/encryption/sidecar.h"
#include "shard/encryption/state_cache.h"
#include "shard/storage/engine.h"

namespace tessera::shard::encryption {

// This node's encryption material, shared by the applier, the storage cipher and the admin
// service.
struct EncryptionRuntime {
  std::shared_ptr<const SecretBytes> kek;  // null: this node holds no KEK (not capable)
  std::string sidecar_path;
  std::shared_ptr<Keystore> keys = std::make_shared<Keystore>();
  std::shared_ptr<EncryptionStateCache> state = std::make_shared<EncryptionStateCache>();
};

// Driver thread for Apply; sidecar() from any thread.
class EncryptionApplier {
 public:
  // `loaded` is the sidecar read at startup (empty when none). The engine outlives this.
  EncryptionApplier(StorageEngine* engine, GroupId default_group, EncryptionRuntime runtime,
                    Sidecar loaded, SidecarIo io = RealSidecarIo());

  // Applies the op of entry `index` of group `gid`. A non-OK status halts the group's apply
  // (kEncryptionApply for a malformed/reserved op or an op in the wrong group, kKekMismatch for a
  // key this node cannot unwrap, kIo for a failed sidecar write); benign no-ops return OK.
  absl::Status Apply(rocksdb::WriteBatchWithIndex& batch, GroupId gid, uint64_t index,
                     std::string_view op);

  // Loads the group's meta:raft_envelope_cutover_index into the state cache: after a snapshot
  // restore assigned it from the header, and at open.
  absl::Status RefreshRaftCutover(GroupId gid);

  Sidecar sidecar() const;
  const EncryptionRuntime& runtime() const { return runtime_; }
  GroupId default_group() const { return default_group_; }

 private:
  absl::Status ApplyBootstrap(Sidecar& next, uint64_t index, const BootstrapOp& op);
  absl::Status ApplyRotate(Sidecar& next, uint64_t index, const RotateDekOp& op);
  absl::Status ApplyEnableStorage(Sidecar& next, uint64_t index, const EnableStorageEnvelopeOp& op);
  absl::Status ApplyEnableRaft(rocksdb::WriteBatchWithIndex& batch, GroupId gid, uint64_t index,
                               const EnableRaftEnvelopeOp& op);
  absl::StatusOr<std::shared_ptr<const SecretBytes>> Unwrap(DekPurpose purpose, uint32_t id,
                                                            std::string_view wrapped) const;

  StorageEngine* const engine_;
  const GroupId default_group_;
  const EncryptionRuntime runtime_;
  const SidecarIo io_;
  mutable std::mutex mu_;
  Sidecar sidecar_;  // guarded by mu_; written by the driver thread only
};

// Installs every key of `sidecar` (unwrapped under `runtime.kek`) and its active state into the
// runtime's keystore and state cache: the startup load. kKekMismatch when one does not unwrap.
absl::Status LoadSidecarIntoRuntime(const Sidecar& sidecar, const EncryptionRuntime& runtime);

}  // namespace tessera::shard::encryption
