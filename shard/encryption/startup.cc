// The §13 startup guards, in order: sodium, KEK source, KEK, sidecar path, flag/sidecar
// consistency, filesystem probe, sidecar parse and permissions, unwrap, raft-log witness, keys.
#include "shard/encryption/startup.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "shard/encryption/encryption_errc.h"
#include "spdlog/spdlog.h"

namespace tessera::shard::encryption {
namespace {

absl::StatusOr<uint64_t> MetaU64(StorageEngine* engine, GroupId gid, std::string_view name) {
  std::string v;
  rocksdb::Status s =
      engine->db()->Get(rocksdb::ReadOptions(), engine->meta(), MetaKey(gid, name), &v);
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return FromRocksStatus(s, "meta read");
  return v.size() == 8 ? DecodeU64BE(v) : 0;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::lstat(path.c_str(), &st) == 0;
}

// The §13 repair: the leader's answer, verified, replaces the local sidecar (crash-durably) and
// the runtime is loaded from it. Keys only ever get added, so nothing the old file held is lost
// as long as the leader's covers it, which its raft_applied_index >= ours guarantees.
absl::Status ResyncSidecarAtStartup(const EncryptionStartupOptions& o, uint64_t last_op,
                                    EncryptionStartup& out) {
  if (!o.fetch_resync) {
    return EncryptionError(EncryptionErrc::kSidecarMissing,
                           "--encryption-resync-sidecar: no way to reach the default-group leader");
  }
  absl::StatusOr<tessera::encryption::v1::ResyncSidecarResponse> answer = o.fetch_resync();
  if (!answer.ok()) {
    return EncryptionError(
        out.sidecar_present ? EncryptionErrc::kSidecarBehindRaftLog
                            : EncryptionErrc::kSidecarMissing,
        absl::StrCat("--encryption-resync-sidecar: ", answer.status().message()));
  }
  absl::StatusOr<Sidecar> fresh = SidecarFromResync(*answer, *out.runtime.kek);
  if (!fresh.ok()) return fresh.status();
  if (fresh->raft_applied_index < last_op) {
    return EncryptionError(
        EncryptionErrc::kSidecarBehindRaftLog,
        absl::StrCat("--encryption-resync-sidecar: the leader's sidecar reflects "
                     "index ",
                     fresh->raft_applied_index, " but this node applied encryption ops up to ",
                     last_op));
  }
  for (const auto& [id, key] : out.sidecar.keys) {
    if (!fresh->keys.contains(id)) {
      return EncryptionError(EncryptionErrc::kSidecarCorrupt,
                             absl::StrCat("--encryption-resync-sidecar: the leader's answer lacks "
                                          "key ",
                                          id, " held locally"));
    }
  }
  if (absl::Status s = WriteSidecar(o.sidecar_path, *fresh, o.io); !s.ok()) return s;
  if (absl::Status s = LoadSidecarIntoRuntime(*fresh, out.runtime); !s.ok()) return s;
  spdlog::warn(
      "encryption: sidecar {} rebuilt from the default-group leader ({} key(s), reflects index "
      "{}; local enc_last_op_index {})",
      o.sidecar_path, fresh->keys.size(), fresh->raft_applied_index, last_op);
  out.sidecar = *std::move(fresh);
  out.sidecar_present = true;
  out.sidecar_resynced = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EncryptionStartup> StartEncryption(const EncryptionStartupOptions& o,
                                                  StorageEngine* engine) {
  EncryptionStartup out;
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  const bool env_set = o.kek_env != nullptr && o.kek_env[0] != '\0';
  if (!o.kek_file.empty() && env_set) {
    return EncryptionError(EncryptionErrc::kKekSourceConflict,
                           absl::StrCat("both --kekFile and ", kKekEnvVariable, " are set"));
  }
  if (o.enabled && o.kek_file.empty() && !env_set) {
    return EncryptionError(
        EncryptionErrc::kKekRequiredWithFlag,
        absl::StrCat("--encryption-enabled needs --kekFile (or ", kKekEnvVariable, " in tests)"));
  }
  if (!o.enabled) {
    if (!o.kek_file.empty() || env_set) {
      spdlog::warn("encryption: a KEK is configured without --encryption-enabled; ignored");
    }
  } else {
    absl::StatusOr<std::optional<SecretBytes>> kek = LoadKek(o.kek_file, o.kek_env, o.data_dir);
    if (!kek.ok()) return kek.status();
    out.runtime.kek = std::make_shared<const SecretBytes>(**std::move(kek));
    out.fingerprint = Fingerprint(*out.runtime.kek);
    if (o.sidecar_path.empty()) {
      return EncryptionError(EncryptionErrc::kSidecarPathRequired,
                             "--encryption-enabled needs --encryptionSidecarPath (DEKs could not "
                             "be persisted)");
    }
  }
  absl::StatusOr<uint64_t> last_op = MetaU64(engine, o.default_group, meta::kEncLastOpIndex);
  if (!last_op.ok()) return last_op.status();
  if (!o.enabled) {
    if (Exists(o.sidecar_path) || *last_op > 0) {
      return EncryptionError(EncryptionErrc::kSidecarPresentWithoutFlag,
                             "this node holds encryption state (a sidecar or applied encryption "
                             "ops) but --encryption-enabled is off; there is no way back to "
                             "cleartext");
    }
    return out;  // encryption off: no cipher, mutators refuse
  }
  out.runtime.sidecar_path = o.sidecar_path;
  out.mutators_enabled = true;
  if (absl::Status s = ProbeSidecarDir(o.sidecar_path, o.io); !s.ok()) return s;
  absl::StatusOr<std::optional<Sidecar>> sidecar = ReadSidecar(o.sidecar_path);
  if (!sidecar.ok()) return sidecar.status();
  if (sidecar->has_value()) {
    out.sidecar = **sidecar;
    out.sidecar_present = true;
    // Every wrapped DEK must unwrap under its AAD, else this is another cluster's KEK.
    if (absl::Status s = LoadSidecarIntoRuntime(out.sidecar, out.runtime); !s.ok()) return s;
  }
  const bool missing = *last_op > 0 && !out.sidecar_present;
  const bool behind = out.sidecar_present && out.sidecar.raft_applied_index < *last_op;
  if ((missing || behind) && o.resync_sidecar) {
    if (absl::Status s = ResyncSidecarAtStartup(o, *last_op, out); !s.ok()) return s;
  } else if (missing) {
    return EncryptionError(
        EncryptionErrc::kSidecarMissing,
        absl::StrCat("encryption ops applied up to index ", *last_op, " but no sidecar at ",
                     o.sidecar_path, "; restart with --encryption-resync-sidecar"));
  } else if (behind) {
    return EncryptionError(EncryptionErrc::kSidecarBehindRaftLog,
                           absl::StrCat("sidecar reflects index ", out.sidecar.raft_applied_index,
                                        " but the raft log applied encryption ops up to ", *last_op,
                                        "; restart with --encryption-resync-sidecar"));
  } else if (o.resync_sidecar) {
    spdlog::info("encryption: --encryption-resync-sidecar: the sidecar is current; nothing to do");
  }
  if (out.sidecar.storage_envelope_active && !out.runtime.keys->Has(out.sidecar.active_storage)) {
    return EncryptionError(EncryptionErrc::kKeyUnavailable,
                           "storage envelope active without its key");
  }
  for (GroupId gid : o.groups) {
    absl::StatusOr<uint64_t> cutover = MetaU64(engine, gid, meta::kRaftEnvelopeCutoverIndex);
    if (!cutover.ok()) return cutover.status();
    if (*cutover == 0) continue;
    if (out.sidecar.active_raft == 0) {
      return EncryptionError(EncryptionErrc::kKeyUnavailable,
                             absl::StrCat("group ", gid, " is cut over to the raft envelope at ",
                                          *cutover, " but this node holds no raft DEK"));
    }
    out.runtime.state->set_raft_cutover(gid, *cutover);
  }
  return out;
}

}  // namespace tessera::shard::encryption
