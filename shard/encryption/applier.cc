// EncryptionApplier: sidecar-first apply of bootstrap, rotation and the two cutovers.
#include "shard/encryption/applier.h"

#include "absl/strings/str_cat.h"
#include "shard/encryption/encryption_errc.h"
#include "spdlog/spdlog.h"

namespace tessera::shard::encryption {
namespace {

absl::Status Halt(std::string_view why) {
  return EncryptionError(EncryptionErrc::kEncryptionApply, why);
}

}  // namespace

EncryptionApplier::EncryptionApplier(StorageEngine* engine, GroupId default_group,
                                     EncryptionRuntime runtime, Sidecar loaded, SidecarIo io)
    : engine_(engine),
      default_group_(default_group),
      runtime_(std::move(runtime)),
      io_(std::move(io)),
      sidecar_(std::move(loaded)) {}

Sidecar EncryptionApplier::sidecar() const {
  std::lock_guard lock(mu_);
  return sidecar_;
}

absl::StatusOr<std::shared_ptr<const SecretBytes>> EncryptionApplier::Unwrap(
    DekPurpose purpose, uint32_t id, std::string_view wrapped) const {
  if (runtime_.kek == nullptr) {
    return EncryptionError(EncryptionErrc::kKekMismatch, "this node holds no KEK");
  }
  absl::StatusOr<SecretBytes> dek = UnwrapDek(*runtime_.kek, purpose, id, wrapped);
  if (!dek.ok()) return dek.status();
  return std::make_shared<const SecretBytes>(*std::move(dek));
}

absl::Status EncryptionApplier::Apply(rocksdb::WriteBatchWithIndex& batch, GroupId gid,
                                      uint64_t index, std::string_view op_bytes) {
  absl::StatusOr<EncryptionOp> op = DecodeEncryptionOp(op_bytes);
  if (!op.ok()) return op.status();
  if (const auto* raft = std::get_if<EnableRaftEnvelopeOp>(&*op)) {
    return ApplyEnableRaft(batch, gid, index, *raft);
  }
  if (gid != default_group_) {
    return Halt(
        absl::StrCat("key ops belong to the default group ", default_group_, ", not group ", gid));
  }
  Sidecar next = sidecar();
  // Re-delivery after a crash between the sidecar write and the batch: the sidecar already
  // reflects this entry, so only the batch is written again.
  const bool redelivered = next.raft_applied_index >= index;
  if (!redelivered) {
    absl::Status s;
    if (const auto* b = std::get_if<BootstrapOp>(&*op)) {
      s = ApplyBootstrap(next, index, *b);
    } else if (const auto* r = std::get_if<RotateDekOp>(&*op)) {
      s = ApplyRotate(next, index, *r);
    } else if (const auto* e = std::get_if<EnableStorageEnvelopeOp>(&*op)) {
      s = ApplyEnableStorage(next, index, *e);
    }
    if (!s.ok()) return s;
    next.raft_applied_index = index;
    if (absl::Status w = WriteSidecar(runtime_.sidecar_path, next, io_); !w.ok()) {
      spdlog::error("encryption: sidecar write for entry {} failed: {}", index, w.ToString());
      return w;
    }
  }
  batch.Put(engine_->meta(), MetaKey(gid, meta::kEncLastOpIndex), EncodeU64BE(index));
  {
    std::lock_guard lock(mu_);
    sidecar_ = next;
  }
  // The state cache last, once the sidecar is durable: writers see keys before they are active.
  runtime_.state->set_active_storage_id(next.active_storage);
  runtime_.state->set_active_raft_id(next.active_raft);
  if (next.storage_envelope_active) runtime_.state->ActivateStorageEnvelope();
  return absl::OkStatus();
}

absl::Status EncryptionApplier::ApplyBootstrap(Sidecar& next, uint64_t index,
                                               const BootstrapOp& op) {
  if (next.active_storage != 0) return absl::OkStatus();  // already bootstrapped: benign
  if (op.storage_id == 0 || op.raft_id == 0 || op.storage_id == op.raft_id) {
    return Halt("bootstrap with a zero or shared key id");
  }
  // Never record a key this node cannot unwrap.
  absl::StatusOr<std::shared_ptr<const SecretBytes>> storage =
      Unwrap(DekPurpose::kStorage, op.storage_id, op.wrapped_storage);
  if (!storage.ok()) return storage.status();
  absl::StatusOr<std::shared_ptr<const SecretBytes>> raft =
      Unwrap(DekPurpose::kRaft, op.raft_id, op.wrapped_raft);
  if (!raft.ok()) return raft.status();
  const std::string created = Rfc3339FromUnixMs(op.created_unix_ms);
  next.keys[op.storage_id] = SidecarKey{DekPurpose::kStorage, op.wrapped_storage, created, index};
  next.keys[op.raft_id] = SidecarKey{DekPurpose::kRaft, op.wrapped_raft, created, index};
  next.active_storage = op.storage_id;
  next.active_raft = op.raft_id;
  next.bootstrap_index = index;
  runtime_.keys->Install(op.storage_id, DekPurpose::kStorage, *std::move(storage));
  runtime_.keys->Install(op.raft_id, DekPurpose::kRaft, *std::move(raft));
  return absl::OkStatus();
}

absl::Status EncryptionApplier::ApplyRotate(Sidecar& next, uint64_t index, const RotateDekOp& op) {
  if (op.key_id == 0) return Halt("RotateDek with key id 0");
  if (next.keys.contains(op.key_id)) return absl::OkStatus();  // id collision: benign
  if (next.active_storage == 0) return absl::OkStatus();  // not bootstrapped: nothing to rotate
  absl::StatusOr<std::shared_ptr<const SecretBytes>> dek =
      Unwrap(op.purpose, op.key_id, op.wrapped);
  if (!dek.ok()) return dek.status();
  next.keys[op.key_id] =
      SidecarKey{op.purpose, op.wrapped, Rfc3339FromUnixMs(op.created_unix_ms), index};
  (op.purpose == DekPurpose::kStorage ? next.active_storage : next.active_raft) = op.key_id;
  runtime_.keys->Install(op.key_id, op.purpose, *std::move(dek));
  return absl::OkStatus();
}

absl::Status EncryptionApplier::ApplyEnableStorage(Sidecar& next, uint64_t index,
                                                   const EnableStorageEnvelopeOp& op) {
  if (op.purpose != static_cast<uint8_t>(DekPurpose::kStorage)) {
    return Halt(absl::StrCat("EnableStorageEnvelope with purpose ", op.purpose));
  }
  if (op.wrapped.size() != 0) return Halt("EnableStorageEnvelope carries a wrapped key");
  if (next.storage_envelope_active) return absl::OkStatus();  // the first K is kept
  // A RotateDEK committed between the proposal and this entry: benign, the caller retries.
  if (op.key_id != next.active_storage || next.active_storage == 0) return absl::OkStatus();
  if (!runtime_.keys->Has(next.active_storage)) {
    return EncryptionError(EncryptionErrc::kKeyUnavailable,
                           absl::StrCat("active storage DEK ", next.active_storage, " not loaded"));
  }
  next.storage_envelope_active = true;
  next.storage_envelope_cutover_index = index;
  return absl::OkStatus();
}

absl::Status EncryptionApplier::ApplyEnableRaft(rocksdb::WriteBatchWithIndex& batch, GroupId gid,
                                                uint64_t index, const EnableRaftEnvelopeOp& op) {
  if (op.group_id != gid) {
    return Halt(
        absl::StrCat("EnableRaftEnvelope for group ", op.group_id, " applied in group ", gid));
  }
  // Only this group's own state decides (never the default group's, whose progress differs
  // between replicas).
  std::string current;
  rocksdb::Status s =
      batch.GetFromBatchAndDB(engine_->db(), rocksdb::ReadOptions(), engine_->meta(),
                              MetaKey(gid, meta::kRaftEnvelopeCutoverIndex), &current);
  if (!s.ok() && !s.IsNotFound()) return FromRocksStatus(s, "cutover read");
  if (s.ok() && current.size() == 8 && DecodeU64BE(current) != 0) return absl::OkStatus();
  batch.Put(engine_->meta(), MetaKey(gid, meta::kRaftEnvelopeCutoverIndex), EncodeU64BE(index));
  runtime_.state->set_raft_cutover(gid, index);
  return absl::OkStatus();
}

absl::Status EncryptionApplier::RefreshRaftCutover(GroupId gid) {
  std::string v;
  rocksdb::Status s = engine_->db()->Get(rocksdb::ReadOptions(), engine_->meta(),
                                         MetaKey(gid, meta::kRaftEnvelopeCutoverIndex), &v);
  if (!s.ok() && !s.IsNotFound()) return FromRocksStatus(s, "cutover read");
  runtime_.state->set_raft_cutover(gid, s.ok() && v.size() == 8 ? DecodeU64BE(v) : 0);
  return absl::OkStatus();
}

absl::Status LoadSidecarIntoRuntime(const Sidecar& sidecar, const EncryptionRuntime& runtime) {
  for (const auto& [id, key] : sidecar.keys) {
    if (runtime.kek == nullptr)
      return EncryptionError(EncryptionErrc::kKekMismatch, "no KEK loaded");
    absl::StatusOr<SecretBytes> dek = UnwrapDek(*runtime.kek, key.purpose, id, key.wrapped);
    if (!dek.ok()) return dek.status();
    runtime.keys->Install(id, key.purpose, std::make_shared<const SecretBytes>(*std::move(dek)));
  }
  runtime.state->set_active_storage_id(sidecar.active_storage);
  runtime.state->set_active_raft_id(sidecar.active_raft);
  if (sidecar.storage_envelope_active) runtime.state->ActivateStorageEnvelope();
  return absl::OkStatus();
}

}  // namespace tessera::shard::encryption
