// EncryptionAdminTest: the step order and status behaviour of the mutators
// (spec/encryption.md §11) with a fake node whose proposals apply through a real applier.
#include "shard/encryption/admin_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/testing.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard::encryption {
namespace {

namespace v1 = tessera::encryption::v1;
constexpr GroupId kDefault = 1;

class FakeNode : public EncryptionNode {
 public:
  FakeNode(StorageEngine* engine, EncryptionApplier* applier)
      : engine_(engine), applier_(applier) {}

  absl::Status CheckLeader(GroupId) const override {
    if (leader) return absl::OkStatus();
    return absl::FailedPreconditionError("not leader; leader=n2@127.0.0.1:7002");
  }
  absl::Status ProposeAndWait(GroupId gid, std::string command, const CallContext&) override {
    ++proposals;
    if (before_propose) before_propose();
    absl::StatusOr<std::vector<std::string_view>> argv = DecodeCommand(command);
    if (!argv.ok()) return argv.status();
    return ApplyOp(gid, (*argv)[1]);
  }
  absl::Status ApplyOp(GroupId gid, std::string_view op) {
    rocksdb::WriteBatchWithIndex batch;
    if (absl::Status s = applier_->Apply(batch, gid, ++index, op); !s.ok()) return s;
    return engine_->Write(*batch.GetWriteBatch(), true);
  }
  absl::Status ReadBarrier(GroupId, const CallContext&) override {
    ++barriers;
    return absl::OkStatus();
  }
  absl::StatusOr<ClusterConfiguration> Configuration(GroupId) const override {
    if (!config_error.ok()) return config_error;
    ClusterConfiguration c;
    c.servers = {Server{11, "n1", "a:1", true}, Server{13, "n3", "c:1", false}};
    return c;
  }
  std::vector<GroupId> Groups() const override { return {kDefault}; }
  uint64_t AppliedIndex(GroupId) const override { return index; }
  bool Drained(GroupId) const override { return drained.load(); }
  std::atomic<bool> drained{true};

  bool leader = true;
  absl::Status config_error;
  std::atomic<int> proposals{0};
  std::atomic<int> barriers{0};
  uint64_t index = 0;
  std::function<void()> before_propose;

 private:
  StorageEngine* engine_;
  EncryptionApplier* applier_;
};

v1::CapabilityReport Report(uint64_t node_id, const KekFingerprint& fp, bool capable = true) {
  v1::CapabilityReport r;
  r.set_encryption_capable(capable);
  r.set_node_id(node_id);
  r.add_envelope_versions(1);
  r.add_snapshot_header_versions(2);
  r.set_kek_fingerprint(std::string(reinterpret_cast<const char*>(fp.data()), fp.size()));
  return r;
}

class EncryptionAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = StorageEngine::Open(dir_.path() + "/db", EngineOptions{});
    ASSERT_TRUE(engine.ok());
    engine_ = *std::move(engine);
    runtime_.kek = testing::TestKey(100);
    runtime_.sidecar_path = dir_.path() + "/encryption/keys.json";
    applier_ = std::make_unique<EncryptionApplier>(engine_.get(), kDefault, runtime_, Sidecar{});
    node_ = std::make_unique<FakeNode>(engine_.get(), applier_.get());
    options_.listener_group = kDefault;
    options_.default_group = kDefault;
    options_.node_id = 11;
    options_.mutators_enabled = true;
    options_.sidecar_path = runtime_.sidecar_path;
    options_.fingerprint = Fingerprint(*runtime_.kek);
    options_.applier = applier_.get();
    options_.node = node_.get();
    options_.dialer = Dialer();
    SetMembers(/*learner_capable=*/true);
  }
  void SetMembers(bool learner_capable, bool learner_reachable = true) {
    const KekFingerprint fp = *options_.fingerprint;
    auto calls = fanout_calls_;
    options_.dialer = [fp, learner_capable, learner_reachable,
                       calls](const std::string& address) -> absl::StatusOr<CapabilityProbe> {
      ++*calls;
      if (address == "c:1" && !learner_reachable) return absl::UnavailableError("refused");
      const uint64_t id = address == "a:1" ? 11 : 13;
      const bool capable = address == "a:1" || learner_capable;
      return CapabilityProbe(
          [=](CallContext::Clock::time_point) { return Report(id, fp, capable); });
    };
  }
  EncryptionAdminCore Core() { return EncryptionAdminCore(options_); }
  CallContext Ctx() { return CallContext::WithTimeout(std::chrono::seconds(5)); }
  void Bootstrap() {
    auto r = Core().BootstrapEncryption(Ctx());
    ASSERT_TRUE(r.ok()) << r.status();
  }

  storage_testing::TempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
  EncryptionRuntime runtime_;
  std::unique_ptr<EncryptionApplier> applier_;
  std::unique_ptr<FakeNode> node_;
  EncryptionAdminOptions options_;
  std::shared_ptr<std::atomic<int>> fanout_calls_ = std::make_shared<std::atomic<int>>(0);
};

TEST_F(EncryptionAdminTest, FullRolloutStorage) {
  auto boot = Core().BootstrapEncryption(Ctx());
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_FALSE(boot->was_already_bootstrapped());
  EXPECT_NE(boot->storage_key_id(), 0u);
  EXPECT_EQ(boot->capability_summary_size(), 2);
  auto again = Core().BootstrapEncryption(Ctx());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->was_already_bootstrapped());
  EXPECT_EQ(again->storage_key_id(), boot->storage_key_id());
  auto enable = Core().EnableStorageEnvelope(Ctx());
  ASSERT_TRUE(enable.ok()) << enable.status();
  EXPECT_FALSE(enable->was_already_active());
  EXPECT_GT(enable->applied_index(), 0u);
  EXPECT_TRUE(runtime_.state->storage_envelope_active());
  auto state = Core().GetSidecarState();
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->storage_envelope_active());
  EXPECT_EQ(state->wrapped_deks_by_id_size(), 2);
  v1::RotateDEKRequest rot;
  rot.set_purpose(v1::STORAGE);
  auto rotated = Core().RotateDEK(rot, Ctx());
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(runtime_.state->active_storage_id(), rotated->new_key_id());
  EXPECT_EQ(Core().GetSidecarState()->wrapped_deks_by_id_size(), 3);  // old keys kept
}

TEST_F(EncryptionAdminTest, NotLeaderHasHint) {
  node_->leader = false;
  const absl::Status s = Core().EnableStorageEnvelope(Ctx()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(s.message()).find("leader=n2@127.0.0.1:7002"), std::string::npos);
}

TEST_F(EncryptionAdminTest, WrongListenerRejected) {
  options_.listener_group = 2;
  const absl::Status s = Core().BootstrapEncryption(Ctx()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(s.message()).find("must be sent to the default group"), std::string::npos);
}

TEST_F(EncryptionAdminTest, MutatorsDisabled) {
  options_.mutators_enabled = false;
  options_.applier = nullptr;
  const absl::Status s = Core().BootstrapEncryption(Ctx()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(s.message()).find("proposer is not configured"), std::string::npos);
  EXPECT_FALSE(Core().GetCapability().mutators_enabled());
}

TEST_F(EncryptionAdminTest, SidecarMissing) {
  const absl::Status s = Core().EnableStorageEnvelope(Ctx()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Core().GetSidecarState().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(EncryptionAdminTest, SidecarUnreadableIsInternal) {
  ASSERT_TRUE(WriteSidecar(runtime_.sidecar_path, Sidecar{}).ok());
  std::FILE* f = std::fopen(runtime_.sidecar_path.c_str(), "w");
  std::fputs("{", f);
  std::fclose(f);
  EXPECT_EQ(Core().EnableStorageEnvelope(Ctx()).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Core().GetSidecarState().status().code(), absl::StatusCode::kInternal);
}

TEST_F(EncryptionAdminTest, NotBootstrapped) {
  ASSERT_TRUE(WriteSidecar(runtime_.sidecar_path, Sidecar{}).ok());
  const absl::Status s = Core().EnableStorageEnvelope(Ctx()).status();
  EXPECT_EQ(GetEncryptionErrc(s), EncryptionErrc::kEncryptionNotBootstrapped);
  EXPECT_NE(std::string(s.message()).find("call BootstrapEncryption first"), std::string::npos);
  EXPECT_EQ(node_->proposals.load(), 0);
}

TEST_F(EncryptionAdminTest, AlreadyActiveIsOkWithoutFanout) {
  Bootstrap();
  ASSERT_TRUE(Core().EnableStorageEnvelope(Ctx()).ok());
  const int calls = fanout_calls_->load();
  const int proposals = node_->proposals.load();
  auto r = Core().EnableStorageEnvelope(Ctx());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->was_already_active());
  EXPECT_EQ(r->applied_index(), applier_->sidecar().storage_envelope_cutover_index);
  EXPECT_EQ(r->capability_summary_size(), 0);
  EXPECT_EQ(fanout_calls_->load(), calls);
  EXPECT_EQ(node_->proposals.load(), proposals);
}

TEST_F(EncryptionAdminTest, AlreadyActiveCutoverUnknown) {
  Bootstrap();
  Sidecar s = applier_->sidecar();
  s.storage_envelope_active = true;
  s.storage_envelope_cutover_index = 0;  // hand-edited
  ASSERT_TRUE(WriteSidecar(runtime_.sidecar_path, s).ok());
  auto r = Core().EnableStorageEnvelope(Ctx());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cutover_index_unknown());
  EXPECT_EQ(r->applied_index(), s.raft_applied_index);
}

TEST_F(EncryptionAdminTest, FanoutNotConfigured) {
  Bootstrap();
  options_.dialer = Dialer();
  const absl::Status s = Core().EnableStorageEnvelope(Ctx()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(s.message()).find("capability fan-out is not configured"),
            std::string::npos);
}

TEST_F(EncryptionAdminTest, FanoutErrorMapping) {
  Bootstrap();
  node_->config_error = absl::UnavailableError("engine closed");  // fails closed
  const absl::Status s = Core().EnableStorageEnvelope(Ctx()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(s.message()).find("capability fan-out failed: configuration for group 1"),
            std::string::npos)
      << s;
  EXPECT_FALSE(runtime_.state->storage_envelope_active());
}

TEST_F(EncryptionAdminTest, RefusalNamesNodes) {
  Bootstrap();
  SetMembers(/*learner_capable=*/true, /*learner_reachable=*/false);
  const absl::Status s = Core().EnableStorageEnvelope(Ctx()).status();
  EXPECT_EQ(GetEncryptionErrc(s), EncryptionErrc::kCapabilityCheckFailed);
  EXPECT_NE(std::string(s.message()).find("node 13@c:1: unreachable"), std::string::npos) << s;
  SetMembers(/*learner_capable=*/false);
  const absl::Status t = Core().EnableStorageEnvelope(Ctx()).status();
  EXPECT_NE(std::string(t.message()).find("node 13@c:1: not capable"), std::string::npos) << t;
  EXPECT_FALSE(runtime_.state->storage_envelope_active());
}

TEST_F(EncryptionAdminTest, RefusalWithEndedContextMapsContext) {
  Bootstrap();
  SetMembers(/*learner_capable=*/false);
  CallContext ctx = Ctx();
  std::atomic<int> polls{0};
  ctx.cancelled = [&polls] { return ++polls > 3; };  // ends while the fan-out runs
  const absl::Status s = Core().EnableStorageEnvelope(ctx).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
}

TEST_F(EncryptionAdminTest, StaleKeyIdPostcheck) {
  Bootstrap();
  // A RotateDEK commits between this node's proposal and its entry.
  node_->before_propose = [this] {
    node_->before_propose = nullptr;
    ASSERT_TRUE(
        node_
            ->ApplyOp(
                kDefault,
                EncodeEncryptionOp(RotateDekOp{
                    DekPurpose::kStorage, 4242,
                    WrapDek(*runtime_.kek, DekPurpose::kStorage, 4242, *testing::TestKey(9)), 1}))
            .ok());
  };
  const absl::Status s = Core().EnableStorageEnvelope(Ctx()).status();
  EXPECT_EQ(GetEncryptionErrc(s), EncryptionErrc::kCutoverKeyIdStale);
  EXPECT_NE(std::string(s.message()).find("raced a RotateDEK; retry"), std::string::npos);
  // The retry goes through against the new key.
  ASSERT_TRUE(Core().EnableStorageEnvelope(Ctx()).ok());
  EXPECT_TRUE(runtime_.state->storage_envelope_active());
}

TEST_F(EncryptionAdminTest, ApplyHaltIsInternal) {
  Bootstrap();
  // The node's sidecar write fails at apply: the op halts, the RPC answers INTERNAL.
  SidecarIo io = RealSidecarIo();
  io.fsync_file = [](int) {
    errno = EIO;
    return -1;
  };
  applier_ = std::make_unique<EncryptionApplier>(engine_.get(), kDefault, runtime_,
                                                 applier_->sidecar(), io);
  node_ = std::make_unique<FakeNode>(engine_.get(), applier_.get());
  node_->index = 10;
  options_.applier = applier_.get();
  options_.node = node_.get();
  const absl::Status s = Core().EnableStorageEnvelope(Ctx()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_FALSE(runtime_.state->storage_envelope_active());
}

TEST_F(EncryptionAdminTest, SemaphoreSerializesSecondCallerIdempotent) {
  Bootstrap();
  std::promise<void> entered;
  std::promise<void> release;
  auto release_future = release.get_future().share();
  node_->before_propose = [&entered, release_future] {
    entered.set_value();
    release_future.wait();
  };
  EncryptionAdminCore first(options_);
  std::future<absl::StatusOr<v1::EnableStorageEnvelopeResponse>> a =
      std::async(std::launch::async, [&] { return first.EnableStorageEnvelope(Ctx()); });
  entered.get_future().wait();
  node_->before_propose = nullptr;
  EncryptionAdminCore second(options_);
  std::future<absl::StatusOr<v1::EnableStorageEnvelopeResponse>> b =
      std::async(std::launch::async, [&] { return second.EnableStorageEnvelope(Ctx()); });
  EXPECT_EQ(b.wait_for(std::chrono::milliseconds(100)),
            std::future_status::timeout);  // on the slot
  release.set_value();
  ASSERT_TRUE(a.get().ok());
  auto rb = b.get();
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_TRUE(rb->was_already_active());
}

TEST_F(EncryptionAdminTest, CancelledWhileWaitingForSlot) {
  ASSERT_TRUE(options_.slot->Acquire(Ctx()).ok());
  CallContext ctx = Ctx();
  std::atomic<bool> cancel{false};
  ctx.cancelled = [&cancel] { return cancel.load(); };
  auto f = std::async(std::launch::async, [&] { return Core().BootstrapEncryption(ctx).status(); });
  EXPECT_EQ(f.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  cancel = true;
  EXPECT_EQ(f.get().code(), absl::StatusCode::kCancelled);
  options_.slot->Release();
  CallContext expired;
  expired.deadline = CallContext::Clock::now() - std::chrono::seconds(1);
  EXPECT_EQ(Core().BootstrapEncryption(expired).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(node_->proposals.load(), 0);
}

TEST_F(EncryptionAdminTest, RotateDekUnspecifiedPurposeInvalid) {
  v1::RotateDEKRequest req;
  EXPECT_EQ(Core().RotateDEK(req, Ctx()).status().code(), absl::StatusCode::kInvalidArgument);
  req.set_purpose(static_cast<v1::Purpose>(7));
  EXPECT_EQ(Core().RotateDEK(req, Ctx()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EncryptionAdminTest, EnableRaftEnvelopeRequiresStorageActive) {
  Bootstrap();
  v1::EnableRaftEnvelopeRequest req;
  const absl::Status s = Core().EnableRaftEnvelope(req, Ctx()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(s.message()).find("run enable-storage-envelope first"), std::string::npos);
  req.set_group_id(5);
  EXPECT_EQ(Core().EnableRaftEnvelope(req, Ctx()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EncryptionAdminTest, RaftCutoverWithBarrier) {
  Bootstrap();
  ASSERT_TRUE(Core().EnableStorageEnvelope(Ctx()).ok());
  node_->drained = false;
  std::atomic<bool> blocked_seen{false};
  node_->before_propose = [this, &blocked_seen] {
    blocked_seen = runtime_.state->intake_blocked(kDefault);
  };
  auto f = std::async(std::launch::async, [&] {
    return Core().EnableRaftEnvelope(v1::EnableRaftEnvelopeRequest(), Ctx());
  });
  // Intake is blocked while in-flight proposals drain; nothing is proposed yet.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!runtime_.state->intake_blocked(kDefault) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(runtime_.state->intake_blocked(kDefault));
  const int proposals = node_->proposals.load();
  node_->drained = true;
  auto r = f.get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(node_->proposals.load(), proposals + 1);
  EXPECT_TRUE(blocked_seen.load());  // the cutover was proposed behind the barrier
  EXPECT_FALSE(runtime_.state->intake_blocked(kDefault));  // released after the apply
  EXPECT_EQ(r->applied_index(), runtime_.state->raft_cutover(kDefault));
  auto again = Core().EnableRaftEnvelope(v1::EnableRaftEnvelopeRequest(), Ctx());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->was_already_active());
}

TEST_F(EncryptionAdminTest, BarrierDrainMissesDeadlineReleasesWithoutProposing) {
  Bootstrap();
  ASSERT_TRUE(Core().EnableStorageEnvelope(Ctx()).ok());
  node_->drained = false;
  const int proposals = node_->proposals.load();
  const absl::Status s =
      Core()
          .EnableRaftEnvelope(v1::EnableRaftEnvelopeRequest(),
                              CallContext::WithTimeout(std::chrono::milliseconds(200)))
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(node_->proposals.load(), proposals);
  EXPECT_FALSE(runtime_.state->intake_blocked(kDefault));
  EXPECT_EQ(runtime_.state->raft_cutover(kDefault), 0u);
}

TEST_F(EncryptionAdminTest, ResyncRejectsNonMember) {
  Bootstrap();
  v1::ResyncSidecarRequest req;
  EXPECT_EQ(Core().ResyncSidecar(req, Ctx()).status().code(), absl::StatusCode::kInvalidArgument);
  req.set_caller_node_id(99);
  const absl::Status s = Core().ResyncSidecar(req, Ctx()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(s.message()).find("caller is not a cluster member"), std::string::npos);
}

TEST_F(EncryptionAdminTest, ResyncWaitsForReadIndex) {
  Bootstrap();
  v1::ResyncSidecarRequest req;
  req.set_caller_node_id(13);  // the learner
  auto r = Core().ResyncSidecar(req, Ctx());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(node_->barriers.load(), 1);
  EXPECT_EQ(r->wrapped_deks_by_id_size(), 2);
  EXPECT_EQ(r->key_meta().at(r->active_storage_id()).purpose(), "storage");
  EXPECT_GE(r->leader_applied_index(), r->sidecar_raft_applied_index());
}

TEST_F(EncryptionAdminTest, CapabilityReport) {
  const v1::CapabilityReport r = Core().GetCapability();
  EXPECT_TRUE(r.encryption_capable());
  EXPECT_EQ(r.node_id(), 11u);
  EXPECT_EQ(r.kek_fingerprint().size(), kKekFingerprintSize);
  EXPECT_TRUE(r.mutators_enabled());
}

}  // namespace
}  // namespace tessera::shard::encryption
