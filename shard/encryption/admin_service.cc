// EncryptionAdmin: the exact step order and status behaviour of spec/encryption.md §11.
#include "shard/encryption/admin_service.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/ops.h"
#include "shard/kv/kv_state_machine.h"

namespace tessera::shard::encryption {
namespace {

namespace v1 = tessera::encryption::v1;
using Clock = CallContext::Clock;

absl::Status ContextEnded(const CallContext& ctx) {
  if (ctx.IsCancelled()) return absl::CancelledError("the caller cancelled");
  if (Clock::now() >= ctx.deadline)
    return absl::DeadlineExceededError("the call's deadline passed");
  return absl::OkStatus();
}

void FillSummary(const std::vector<Verdict>& verdicts,
                 google::protobuf::RepeatedPtrField<v1::CapabilityVerdict>* out) {
  for (const Verdict& v : verdicts) {
    v1::CapabilityVerdict* c = out->Add();
    c->set_node_id(v.node_id);
    c->set_address(v.address);
    c->set_reachable(v.reachable);
    c->set_encryption_capable(v.reachable && v.report.encryption_capable());
    c->set_build_sha(v.report.build_sha());
    c->set_sidecar_present(v.report.sidecar_present());
    c->set_error(v.error);
  }
}

// Holds the slot for the scope of a mutator.
class SlotHold {
 public:
  explicit SlotHold(CutoverSlot* slot) : slot_(slot) {}
  ~SlotHold() {
    if (slot_ != nullptr) slot_->Release();
  }
  SlotHold(const SlotHold&) = delete;
  SlotHold& operator=(const SlotHold&) = delete;

 private:
  CutoverSlot* slot_;
};

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

CallContext ContextOf(grpc::ServerContext* context) {
  CallContext ctx;
  const auto now_system = std::chrono::system_clock::now();
  const auto deadline = context->deadline();
  if (deadline < now_system + std::chrono::hours(24 * 365)) {
    ctx.deadline = Clock::now() + (deadline - now_system);
  }
  ctx.cancelled = [context] { return context->IsCancelled(); };
  return ctx;
}

}  // namespace

absl::Status CutoverSlot::Acquire(const CallContext& ctx) {
  if (absl::Status s = ContextEnded(ctx); !s.ok()) return s;
  std::unique_lock lock(mu_);
  while (busy_) {
    cv_.wait_until(lock, std::min(ctx.deadline, Clock::now() + std::chrono::milliseconds(20)));
    if (absl::Status s = ContextEnded(ctx); !s.ok()) return s;
  }
  if (absl::Status s = ContextEnded(ctx); !s.ok()) return s;
  busy_ = true;
  return absl::OkStatus();
}

void CutoverSlot::Release() {
  std::lock_guard lock(mu_);
  busy_ = false;
  cv_.notify_one();
}

v1::CapabilityReport EncryptionAdminCore::GetCapability() const {
  v1::CapabilityReport r;
  r.set_encryption_capable(o_.mutators_enabled && o_.fingerprint.has_value());
  r.set_build_sha(o_.build_sha);
  r.set_sidecar_present(o_.applier != nullptr && o_.applier->sidecar().raft_applied_index > 0);
  r.set_node_id(o_.node_id);
  r.add_envelope_versions(1);
  r.add_snapshot_header_versions(1);
  r.add_snapshot_header_versions(2);
  if (o_.fingerprint.has_value()) {
    r.set_kek_fingerprint(
        std::string(reinterpret_cast<const char*>(o_.fingerprint->data()), o_.fingerprint->size()));
  }
  r.set_mutators_enabled(o_.mutators_enabled);
  return r;
}

absl::StatusOr<v1::GetSidecarStateResponse> EncryptionAdminCore::GetSidecarState() const {
  if (o_.sidecar_path.empty()) return absl::FailedPreconditionError("no sidecar path configured");
  absl::StatusOr<std::optional<Sidecar>> sc = ReadSidecar(o_.sidecar_path);
  if (!sc.ok()) return absl::InternalError(sc.status().message());
  if (!sc->has_value()) return absl::FailedPreconditionError("sidecar not present");
  const Sidecar& s = **sc;
  v1::GetSidecarStateResponse r;
  for (const auto& [id, key] : s.keys) (*r.mutable_wrapped_deks_by_id())[id] = key.wrapped;
  r.set_active_storage_id(s.active_storage);
  r.set_active_raft_id(s.active_raft);
  r.set_storage_envelope_active(s.storage_envelope_active);
  r.set_storage_envelope_cutover_index(s.storage_envelope_cutover_index);
  r.set_raft_applied_index(s.raft_applied_index);
  r.set_bootstrap_index(s.bootstrap_index);
  if (o_.applier != nullptr && o_.node != nullptr) {
    for (GroupId gid : o_.node->Groups()) {
      (*r.mutable_raft_envelope_cutover_by_group())[gid] =
          o_.applier->runtime().state->raft_cutover(gid);
    }
  }
  return r;
}

absl::StatusOr<std::optional<Sidecar>> EncryptionAdminCore::Precheck(GroupId group,
                                                                     bool missing_ok) const {
  if (o_.listener_group != group) {
    return absl::FailedPreconditionError(
        absl::StrCat("must be sent to the default group (", group, ") leader"));
  }
  if (o_.node == nullptr) return absl::FailedPreconditionError("proposer is not configured");
  if (absl::Status s = o_.node->CheckLeader(group); !s.ok()) return s;
  if (!o_.mutators_enabled || o_.applier == nullptr) {
    return absl::FailedPreconditionError("proposer is not configured");
  }
  if (o_.sidecar_path.empty()) return absl::FailedPreconditionError("no sidecar path configured");
  absl::StatusOr<std::optional<Sidecar>> sc = ReadSidecar(o_.sidecar_path);
  if (!sc.ok())
    return absl::InternalError(absl::StrCat("sidecar unreadable: ", sc.status().message()));
  if (!sc->has_value() && !missing_ok) return absl::FailedPreconditionError("sidecar not present");
  return *sc;
}

absl::StatusOr<std::vector<Verdict>> EncryptionAdminCore::Fanout(const CallContext& ctx) const {
  if (!o_.dialer || !o_.fingerprint.has_value()) {
    return absl::FailedPreconditionError("capability fan-out is not configured on this node");
  }
  std::vector<GroupId> groups = o_.node->Groups();
  absl::StatusOr<RouteSnapshot> routes =
      BuildRouteSnapshot(groups, [this](uint64_t gid) { return o_.node->Configuration(gid); });
  absl::StatusOr<CapabilityFanoutResult> result;
  if (routes.ok()) {
    result = CapabilityFanout(*routes, o_.dialer, o_.fanout_timeout, ctx, *o_.fingerprint);
  } else {
    result = routes.status();
  }
  if (!result.ok()) {
    if (absl::Status s = ContextEnded(ctx); !s.ok()) return s;
    return absl::FailedPreconditionError(
        absl::StrCat("capability fan-out failed: ", result.status().message()));
  }
  if (!result->ok) {
    if (absl::Status s = ContextEnded(ctx); !s.ok()) return s;
    return EncryptionError(
        EncryptionErrc::kCapabilityCheckFailed,
        absl::StrCat("capability check refused cutover (", DescribeRefusal(*result), ")"));
  }
  return result->verdicts;
}

absl::Status EncryptionAdminCore::Propose(GroupId group, const EncryptionOp& op,
                                          const CallContext& ctx) {
  absl::Status s = o_.node->ProposeAndWait(group, EncodeEncryptionCommand(op), ctx);
  if (s.ok()) return s;
  if (absl::Status c = ContextEnded(ctx); !c.ok()) return c;
  if (s.code() == absl::StatusCode::kFailedPrecondition) return s;  // leadership lost
  return absl::InternalError(absl::StrCat("encryption op did not apply: ", s.message()));
}

absl::StatusOr<v1::BootstrapEncryptionResponse> EncryptionAdminCore::BootstrapEncryption(
    const CallContext& ctx) {
  if (absl::Status s = o_.slot->Acquire(ctx); !s.ok()) return s;
  SlotHold hold(o_.slot.get());
  absl::StatusOr<std::optional<Sidecar>> sc = Precheck(o_.default_group, /*missing_ok=*/true);
  if (!sc.ok()) return sc.status();
  v1::BootstrapEncryptionResponse r;
  auto already = [&r](const Sidecar& s) {
    r.set_was_already_bootstrapped(true);
    r.set_storage_key_id(s.active_storage);
    r.set_raft_key_id(s.active_raft);
    r.set_applied_index(s.bootstrap_index);
  };
  if (sc->has_value() && (*sc)->active_storage != 0) {
    already(**sc);
    return r;
  }
  absl::StatusOr<std::vector<Verdict>> verdicts = Fanout(ctx);
  if (!verdicts.ok()) return verdicts.status();
  const SecretBytes& kek = *o_.applier->runtime().kek;
  const uint32_t sid = DrawKeyId({}, o_.key_id_rng);
  const uint32_t rid = DrawKeyId([sid](uint32_t id) { return id == sid; }, o_.key_id_rng);
  absl::StatusOr<SecretBytes> sdek = SecretBytes::Generate();
  absl::StatusOr<SecretBytes> rdek = SecretBytes::Generate();
  if (!sdek.ok() || !rdek.ok()) return absl::InternalError("key generation failed");
  BootstrapOp op{sid, WrapDek(kek, DekPurpose::kStorage, sid, *sdek), rid,
                 WrapDek(kek, DekPurpose::kRaft, rid, *rdek), WallClockMs()};
  if (absl::Status s = Propose(o_.default_group, op, ctx); !s.ok()) return s;
  const Sidecar after = o_.applier->sidecar();
  if (after.active_storage != sid) {
    already(after);  // another leader's bootstrap won
  } else {
    r.set_applied_index(after.bootstrap_index);
    r.set_storage_key_id(sid);
    r.set_raft_key_id(rid);
  }
  FillSummary(*verdicts, r.mutable_capability_summary());
  return r;
}

absl::StatusOr<v1::RotateDEKResponse> EncryptionAdminCore::RotateDEK(
    const v1::RotateDEKRequest& req, const CallContext& ctx) {
  if (req.purpose() != v1::STORAGE && req.purpose() != v1::RAFT) {
    return absl::InvalidArgumentError("purpose must be STORAGE or RAFT");
  }
  const DekPurpose purpose =
      req.purpose() == v1::STORAGE ? DekPurpose::kStorage : DekPurpose::kRaft;
  if (absl::Status s = o_.slot->Acquire(ctx); !s.ok()) return s;
  SlotHold hold(o_.slot.get());
  absl::StatusOr<std::optional<Sidecar>> sc = Precheck(o_.default_group, /*missing_ok=*/false);
  if (!sc.ok()) return sc.status();
  if ((*sc)->active_storage == 0) {
    return EncryptionError(EncryptionErrc::kEncryptionNotBootstrapped,
                           "cluster not bootstrapped — call BootstrapEncryption first");
  }
  absl::StatusOr<std::vector<Verdict>> verdicts = Fanout(ctx);
  if (!verdicts.ok()) return verdicts.status();
  const Sidecar& before = **sc;
  const uint32_t id =
      DrawKeyId([&before](uint32_t k) { return before.keys.contains(k); }, o_.key_id_rng);
  absl::StatusOr<SecretBytes> dek = SecretBytes::Generate();
  if (!dek.ok()) return absl::InternalError("key generation failed");
  RotateDekOp op{purpose, id, WrapDek(*o_.applier->runtime().kek, purpose, id, *dek),
                 WallClockMs()};
  if (absl::Status s = Propose(o_.default_group, op, ctx); !s.ok()) return s;
  const Sidecar after = o_.applier->sidecar();
  if ((purpose == DekPurpose::kStorage ? after.active_storage : after.active_raft) != id) {
    return absl::FailedPreconditionError("raced another rotation; retry");
  }
  v1::RotateDEKResponse r;
  r.set_applied_index(after.raft_applied_index);
  r.set_new_key_id(id);
  FillSummary(*verdicts, r.mutable_capability_summary());
  return r;
}

absl::StatusOr<v1::EnableStorageEnvelopeResponse> EncryptionAdminCore::EnableStorageEnvelope(
    const CallContext& ctx) {
  // (0) The slot, context checked before and after waiting.
  if (absl::Status s = o_.slot->Acquire(ctx); !s.ok()) return s;
  SlotHold hold(o_.slot.get());
  // (1)-(5)
  absl::StatusOr<std::optional<Sidecar>> sc = Precheck(o_.default_group, /*missing_ok=*/false);
  if (!sc.ok()) return sc.status();
  const Sidecar& s = **sc;
  // (6) No implicit bootstrap.
  if (s.active_storage == 0) {
    return EncryptionError(EncryptionErrc::kEncryptionNotBootstrapped,
                           "cluster not bootstrapped — call BootstrapEncryption first");
  }
  v1::EnableStorageEnvelopeResponse r;
  // (7) Already active: OK without fan-out or proposal.
  if (s.storage_envelope_active) {
    r.set_was_already_active(true);
    if (s.storage_envelope_cutover_index == 0) {
      r.set_applied_index(s.raft_applied_index);
      r.set_cutover_index_unknown(true);
    } else {
      r.set_applied_index(s.storage_envelope_cutover_index);
    }
    return r;
  }
  // (8)
  absl::StatusOr<std::vector<Verdict>> verdicts = Fanout(ctx);
  if (!verdicts.ok()) return verdicts.status();
  // (9)
  if (absl::Status p =
          Propose(o_.default_group, EnableStorageEnvelopeOp{1, s.active_storage, ""}, ctx);
      !p.ok()) {
    return p;
  }
  // (10) Postcheck.
  absl::StatusOr<std::optional<Sidecar>> post = ReadSidecar(o_.sidecar_path);
  if (!post.ok()) return absl::InternalError(post.status().message());
  if (!post->has_value() || !(*post)->storage_envelope_active) {
    return EncryptionError(EncryptionErrc::kCutoverKeyIdStale,
                           "raced a RotateDEK; retry against the new active DEK");
  }
  r.set_applied_index((*post)->storage_envelope_cutover_index);
  FillSummary(*verdicts, r.mutable_capability_summary());
  return r;
}

absl::StatusOr<v1::EnableRaftEnvelopeResponse> EncryptionAdminCore::EnableRaftEnvelope(
    const v1::EnableRaftEnvelopeRequest& req, const CallContext& ctx) {
  const GroupId group = req.group_id() == 0 ? o_.listener_group : req.group_id();
  if (group != o_.listener_group) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group_id ", req.group_id(), " is not this listener's group ", o_.listener_group));
  }
  if (absl::Status s = o_.slot->Acquire(ctx); !s.ok()) return s;
  SlotHold hold(o_.slot.get());
  absl::StatusOr<std::optional<Sidecar>> sc = Precheck(group, /*missing_ok=*/false);
  if (!sc.ok()) return sc.status();
  if (!(*sc)->storage_envelope_active) {
    return absl::FailedPreconditionError("run enable-storage-envelope first");
  }
  if ((*sc)->active_raft == 0) {
    return EncryptionError(EncryptionErrc::kEncryptionNotBootstrapped,
                           "cluster not bootstrapped — call BootstrapEncryption first");
  }
  v1::EnableRaftEnvelopeResponse r;
  if (const uint64_t c = o_.applier->runtime().state->raft_cutover(group); c != 0) {
    r.set_was_already_active(true);
    r.set_applied_index(c);
    return r;
  }
  absl::StatusOr<std::vector<Verdict>> verdicts = Fanout(ctx);
  if (!verdicts.ok()) return verdicts.status();
  // The proposal-quiescence barrier (§9): (1) block intake, (2) drain, (3) propose the cutover,
  // (4) wait for its local apply (proposals then wrap from the applied C_G), (6) unblock.
  EncryptionStateCache& state = *o_.applier->runtime().state;
  state.set_intake_blocked(group, true);
  while (!o_.node->Drained(group)) {
    absl::Status ended = ContextEnded(ctx);
    if (ended.ok()) ended = o_.node->CheckLeader(group);
    if (!ended.ok()) {
      state.set_intake_blocked(group, false);  // nothing proposed: safe to release
      return ended;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const absl::Status proposed = o_.node->ProposeAndWait(
      group, EncodeEncryptionCommand(EnableRaftEnvelopeOp{group, (*sc)->active_raft}), ctx);
  // Once proposed, intake stays blocked until the cutover applies here or leadership is lost,
  // whatever the RPC deadline: a cleartext entry above C_G would halt every replica.
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (state.raft_cutover(group) == 0 && o_.node->CheckLeader(group).ok() &&
         Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  state.set_intake_blocked(group, false);
  if (const uint64_t c = state.raft_cutover(group); c != 0) {
    r.set_applied_index(c);
    FillSummary(*verdicts, r.mutable_capability_summary());
    return r;
  }
  if (absl::Status c = ContextEnded(ctx); !c.ok()) return c;
  if (!proposed.ok()) return proposed;
  return absl::FailedPreconditionError("the cutover did not apply before leadership changed");
}

absl::StatusOr<v1::ResyncSidecarResponse> EncryptionAdminCore::ResyncSidecar(
    const v1::ResyncSidecarRequest& req, const CallContext& ctx) {
  if (req.caller_node_id() == 0) return absl::InvalidArgumentError("caller_node_id is 0");
  if (o_.node == nullptr) return absl::FailedPreconditionError("proposer is not configured");
  bool member = false;
  for (GroupId gid : o_.node->Groups()) {
    absl::StatusOr<ClusterConfiguration> config = o_.node->Configuration(gid);
    if (!config.ok()) return absl::UnavailableError(config.status().message());
    for (const Server& s : config->servers) member = member || s.node_id == req.caller_node_id();
  }
  if (!member) return absl::PermissionDeniedError("caller is not a cluster member");
  if (o_.listener_group != o_.default_group) {
    return absl::FailedPreconditionError(
        absl::StrCat("must be sent to the default group (", o_.default_group, ") leader"));
  }
  if (absl::Status s = o_.node->CheckLeader(o_.default_group); !s.ok()) return s;
  if (o_.sidecar_path.empty()) return absl::FailedPreconditionError("no sidecar path configured");
  if (absl::Status s = o_.node->ReadBarrier(o_.default_group, ctx); !s.ok()) {
    if (absl::Status c = ContextEnded(ctx); !c.ok()) return c;
    return s;
  }
  absl::StatusOr<std::optional<Sidecar>> sc = ReadSidecar(o_.sidecar_path);
  if (!sc.ok()) return absl::InternalError(sc.status().message());
  if (!sc->has_value()) return absl::FailedPreconditionError("sidecar not present");
  const Sidecar& s = **sc;
  v1::ResyncSidecarResponse r;
  for (const auto& [id, key] : s.keys) {
    (*r.mutable_wrapped_deks_by_id())[id] = key.wrapped;
    v1::KeyMeta& meta = (*r.mutable_key_meta())[id];
    meta.set_purpose(std::string(DekPurposeName(key.purpose)));
    meta.set_created(key.created);
    meta.set_created_index(key.created_index);
  }
  r.set_active_storage_id(s.active_storage);
  r.set_active_raft_id(s.active_raft);
  r.set_storage_envelope_active(s.storage_envelope_active);
  r.set_storage_envelope_cutover_index(s.storage_envelope_cutover_index);
  r.set_sidecar_raft_applied_index(s.raft_applied_index);
  r.set_leader_applied_index(o_.node->AppliedIndex(o_.default_group));
  r.set_bootstrap_index(s.bootstrap_index);
  return r;
}

#define TESSERA_ENC_RPC(Method, Req, Resp, call)                                                   \
  grpc::Status EncryptionAdminService::Method(grpc::ServerContext* context, Req req, Resp* resp) { \
    (void)req;                                                                                     \
    const CallContext ctx = ContextOf(context);                                                    \
    (void)ctx;                                                                                     \
    auto result = call;                                                                            \
    if (!result.ok()) return ToGrpc(result.status());                                              \
    *resp = *std::move(result);                                                                    \
    return grpc::Status::OK;                                                                       \
  }

grpc::Status EncryptionAdminService::GetCapability(grpc::ServerContext*,
                                                   const v1::GetCapabilityRequest*,
                                                   v1::CapabilityReport* resp) {
  *resp = core_.GetCapability();
  return grpc::Status::OK;
}
TESSERA_ENC_RPC(GetSidecarState, const v1::GetSidecarStateRequest*, v1::GetSidecarStateResponse,
                core_.GetSidecarState())
TESSERA_ENC_RPC(BootstrapEncryption, const v1::BootstrapEncryptionRequest*,
                v1::BootstrapEncryptionResponse, core_.BootstrapEncryption(ctx))
TESSERA_ENC_RPC(RotateDEK, const v1::RotateDEKRequest*, v1::RotateDEKResponse,
                core_.RotateDEK(*req, ctx))
TESSERA_ENC_RPC(EnableStorageEnvelope, const v1::EnableStorageEnvelopeRequest*,
                v1::EnableStorageEnvelopeResponse, core_.EnableStorageEnvelope(ctx))
TESSERA_ENC_RPC(EnableRaftEnvelope, const v1::EnableRaftEnvelopeRequest*,
                v1::EnableRaftEnvelopeResponse, core_.EnableRaftEnvelope(*req, ctx))
TESSERA_ENC_RPC(ResyncSidecar, const v1::ResyncSidecarRequest*, v1::ResyncSidecarResponse,
                core_.ResyncSidecar(*req, ctx))
#undef TESSERA_ENC_RPC

Dialer GrpcCapabilityDialer() {
  struct Cache {
    std::mutex mu;
    std::map<std::string, std::shared_ptr<grpc::Channel>> channels;  // guarded by mu
  };
  auto cache = std::make_shared<Cache>();
  return [cache](const std::string& address) -> absl::StatusOr<CapabilityProbe> {
    std::shared_ptr<grpc::Channel> channel;
    {
      std::lock_guard lock(cache->mu);
      auto& slot = cache->channels[address];
      if (slot == nullptr) slot = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      channel = slot;
    }
    return CapabilityProbe(
        [channel](Clock::time_point deadline) -> absl::StatusOr<v1::CapabilityReport> {
          auto stub = v1::EncryptionAdmin::NewStub(channel);
          grpc::ClientContext cc;
          cc.set_deadline(std::chrono::system_clock::now() + (deadline - Clock::now()));
          v1::GetCapabilityRequest req;
          v1::CapabilityReport report;
          grpc::Status s = stub->GetCapability(&cc, req, &report);
          if (!s.ok()) {
            return absl::UnavailableError(
                absl::StrCat(static_cast<int>(s.error_code()), ": ", s.error_message()));
          }
          return report;
        });
  };
}

}  // namespace tessera::shard::encryption
