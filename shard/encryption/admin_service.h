// The EncryptionAdmin service (proto/encryption_admin.proto, spec/encryption.md §11): the
// decision logic (EncryptionAdminCore, callable from tests with fakes) and a thin gRPC wrapper
// registered on every group listener.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/encryption_admin.grpc.pb.h"
#include "shard/admin/raft_admin.h"
#include "shard/encryption/applier.h"
#include "shard/encryption/capability_fanout.h"

namespace tessera::shard::encryption {

// What the service needs from the node: a Driver in production (DriverEncryptionNode), fakes
// in tests. Thread-safe.
class EncryptionNode {
 public:
  virtual ~EncryptionNode() = default;
  // OK when this node leads `gid`; else FAILED_PRECONDITION "not leader; leader=<raft_id>@<addr>"
  // or "not leader; no known leader".
  virtual absl::Status CheckLeader(GroupId gid) const = 0;
  // Proposes `command` in `gid` and waits for its local apply or the context's end.
  virtual absl::Status ProposeAndWait(GroupId gid, std::string command, const CallContext& ctx) = 0;
  // Waits until this leader's applied index covers a fresh ReadIndex.
  virtual absl::Status ReadBarrier(GroupId gid, const CallContext& ctx) = 0;
  virtual absl::StatusOr<ClusterConfiguration> Configuration(GroupId gid) const = 0;
  virtual std::vector<GroupId> Groups() const = 0;
  virtual uint64_t AppliedIndex(GroupId gid) const = 0;
  // Every proposal this leader accepted in `gid` is applied (or failed): applied >= last index.
  virtual bool Drained(GroupId gid) const = 0;
};

// The node's capacity-1 mutator slot, shared by every listener's service: one mutator at a
// time, from precheck to postcheck.
class CutoverSlot {
 public:
  // The context is checked before waiting and again after acquiring: a cancelled caller never
  // proceeds. CANCELLED / DEADLINE_EXCEEDED when it ended.
  absl::Status Acquire(const CallContext& ctx);
  void Release();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool busy_ = false;  // guarded by mu_
};

struct EncryptionAdminOptions {
  GroupId listener_group = 0;
  GroupId default_group = 0;
  uint64_t node_id = 0;
  std::string build_sha;
  bool mutators_enabled = false;  // EncryptionMutatorsEnabled(), evaluated at startup
  std::string sidecar_path;
  std::optional<KekFingerprint> fingerprint;
  EncryptionApplier* applier = nullptr;  // null when mutators are off ("proposer not configured")
  EncryptionNode* node = nullptr;
  Dialer dialer;  // null: "capability fan-out is not configured on this node"
  std::chrono::milliseconds fanout_timeout = kCapabilityFanoutTimeout;
  std::shared_ptr<CutoverSlot> slot = std::make_shared<CutoverSlot>();
  // Test hook: draws key ids (randombytes_random when empty).
  std::function<uint32_t()> key_id_rng;
};

class EncryptionAdminCore {
 public:
  explicit EncryptionAdminCore(EncryptionAdminOptions options) : o_(std::move(options)) {}

  tessera::encryption::v1::CapabilityReport GetCapability() const;
  absl::StatusOr<tessera::encryption::v1::GetSidecarStateResponse> GetSidecarState() const;
  absl::StatusOr<tessera::encryption::v1::BootstrapEncryptionResponse> BootstrapEncryption(
      const CallContext& ctx);
  absl::StatusOr<tessera::encryption::v1::RotateDEKResponse> RotateDEK(
      const tessera::encryption::v1::RotateDEKRequest& req, const CallContext& ctx);
  absl::StatusOr<tessera::encryption::v1::EnableStorageEnvelopeResponse> EnableStorageEnvelope(
      const CallContext& ctx);
  absl::StatusOr<tessera::encryption::v1::EnableRaftEnvelopeResponse> EnableRaftEnvelope(
      const tessera::encryption::v1::EnableRaftEnvelopeRequest& req, const CallContext& ctx);
  absl::StatusOr<tessera::encryption::v1::ResyncSidecarResponse> ResyncSidecar(
      const tessera::encryption::v1::ResyncSidecarRequest& req, const CallContext& ctx);

  const EncryptionAdminOptions& options() const { return o_; }

 private:
  // Steps 1-5 of §11 (listener, leader, proposer, sidecar path, sidecar readable); the sidecar
  // (nullopt when missing and `missing_ok`).
  absl::StatusOr<std::optional<Sidecar>> Precheck(GroupId group, bool missing_ok) const;
  // Step 8: the fan-out, mapped to statuses; the verdicts on success.
  absl::StatusOr<std::vector<Verdict>> Fanout(const CallContext& ctx) const;
  absl::Status Propose(GroupId group, const EncryptionOp& op, const CallContext& ctx);

  const EncryptionAdminOptions o_;
};

// The gRPC face of EncryptionAdminCore: status mapping only.
class EncryptionAdminService final : public tessera::encryption::v1::EncryptionAdmin::Service {
 public:
  explicit EncryptionAdminService(EncryptionAdminOptions options) : core_(std::move(options)) {}

  grpc::Status GetCapability(grpc::ServerContext*,
                             const tessera::encryption::v1::GetCapabilityRequest*,
                             tessera::encryption::v1::CapabilityReport* resp) override;
  grpc::Status GetSidecarState(grpc::ServerContext*,
                               const tessera::encryption::v1::GetSidecarStateRequest*,
                               tessera::encryption::v1::GetSidecarStateResponse* resp) override;
  grpc::Status BootstrapEncryption(
      grpc::ServerContext* context, const tessera::encryption::v1::BootstrapEncryptionRequest*,
      tessera::encryption::v1::BootstrapEncryptionResponse* resp) override;
  grpc::Status RotateDEK(grpc::ServerContext* context,
                         const tessera::encryption::v1::RotateDEKRequest* req,
                         tessera::encryption::v1::RotateDEKResponse* resp) override;
  grpc::Status EnableStorageEnvelope(
      grpc::ServerContext* context, const tessera::encryption::v1::EnableStorageEnvelopeRequest*,
      tessera::encryption::v1::EnableStorageEnvelopeResponse* resp) override;
  grpc::Status EnableRaftEnvelope(
      grpc::ServerContext* context, const tessera::encryption::v1::EnableRaftEnvelopeRequest* req,
      tessera::encryption::v1::EnableRaftEnvelopeResponse* resp) override;
  grpc::Status ResyncSidecar(grpc::ServerContext* context,
                             const tessera::encryption::v1::ResyncSidecarRequest* req,
                             tessera::encryption::v1::ResyncSidecarResponse* resp) override;

 private:
  EncryptionAdminCore core_;
};

// A Dialer over pooled gRPC channels (one per address, never closed per probe), dedicated to
// the fan-out.
Dialer GrpcCapabilityDialer();

}  // namespace tessera::shard::encryption
