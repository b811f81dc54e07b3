// The driver loop: tick, step, propose, one synced group-commit batch for every group's Ready
// with the committed entries' effects in it, send, complete waiters, Advance. Only the driver
// thread touches a RawNode, a GroupLog or a Group's waiters.
#include "shard/driver/driver.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <random>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "raft/errors.h"
#include "shard/data/expire.h"
#include "shard/data/gc.h"
#include "shard/data/resp_reply.h"
#include "shard/driver/bootstrap.h"
#include "shard/driver/membership_change.h"
#include "shard/driver/restore.h"
#include "shard/driver/validate_open.h"
#include "shard/encryption/applier.h"
#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/raft_payload.h"
#include "shard/membership/node_id.h"
#include "shard/membership/peers_record.h"
#include "shard/snapshot/snapshot_dir.h"
#include "shard/snapshot/snapshot_token.h"
#include "shard/storage/keys.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {

// How logs name a member: its raft id when the group's configuration knows it ("n2"), else
// the 16-hex-digit node id (a removed member, a message from a stranger).
std::string MemberName(const std::vector<Server>& peers, raft::NodeId id) {
  if (id == raft::kNoNode) return "none";
  for (const Server& s : peers) {
    if (s.node_id == id && !s.raft_id.empty()) return s.raft_id;
  }
  return absl::StrCat(absl::Hex(id, absl::kZeroPad16));
}

constexpr absl::string_view kNotLeaderPayloadUrl = "tessera.shard/not_leader";
// How long the driver keeps an admin call's waiter when the caller set no deadline.
constexpr std::chrono::minutes kMaxAdminWait{5};

// --raftJoinAsLearner alarms of every driver in the process (JoinRoleViolationCount).
std::atomic<uint64_t> g_join_role_violations{0};
constexpr std::chrono::milliseconds kSweepInterval{10};
// After a failed snapshot write the group waits this long before trying again.
constexpr std::chrono::seconds kSnapshotRetryDelay{10};

// GroupLog as the core's Storage, with the ConfState taken from the durable meta:conf_state
// (the authority after conf-change applies) instead of the snapshot record's.
class ConfOverlayStorage final : public raft::Storage {
 public:
  ConfOverlayStorage(const GroupLog* log, std::optional<raft::ConfState> conf_state)
      : log_(log), conf_state_(std::move(conf_state)) {}

  absl::StatusOr<raft::InitialState> GetInitialState() const override {
    absl::StatusOr<raft::InitialState> state = log_->GetInitialState();
    if (state.ok() && conf_state_.has_value()) state->conf_state = *conf_state_;
    return state;
  }
  absl::StatusOr<std::vector<raft::Entry>> Entries(uint64_t lo, uint64_t hi,
                                                   uint64_t max_size) const override {
    return log_->Entries(lo, hi, max_size);
  }
  absl::StatusOr<uint64_t> Term(uint64_t i) const override { return log_->Term(i); }
  uint64_t FirstIndex() const override { return log_->FirstIndex(); }
  uint64_t LastIndex() const override { return log_->LastIndex(); }
  absl::StatusOr<raft::Snapshot> GetSnapshot() const override { return log_->GetSnapshot(); }

 private:
  const GroupLog* log_;
  std::optional<raft::ConfState> conf_state_;
};

// An apply waiting for an encryption key retries this often (spec/encryption.md §9), logs an
// ERROR once after kKeyWaitErrorAfter, and asks for a resync at most every kKeyResyncInterval.
constexpr std::chrono::milliseconds kKeyRetryInterval{100};
constexpr std::chrono::seconds kKeyWaitErrorAfter{30};
constexpr std::chrono::seconds kKeyResyncInterval{5};
// Entries re-read from the log per retry of a key wait (the rest follow next iteration).
constexpr uint64_t kKeyWaitSliceBytes = uint64_t{8} << 20;

// A broken invariant of the durable state: continuing could diverge replicas.
[[noreturn]] void Fatal(const std::string& what) {
  spdlog::critical("driver: {}", what);
  spdlog::default_logger()->flush();
  std::abort();
}

uint64_t RandomU64() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// The driver's families in the process-wide registry, registered once.
struct DriverMetrics {
  common::Family<common::Gauge>* term;
  common::Family<common::Gauge>* commit_index;
  common::Family<common::Gauge>* applied_index;
  common::Family<common::Gauge>* is_leader;
  common::Family<common::Gauge>* leader;
  common::Family<common::Gauge>* state;
  common::Family<common::Histogram>* proposal_seconds;
  common::Family<common::Counter>* snapshots_created;
  common::Family<common::Counter>* snapshots_installed;
  common::Family<common::Gauge>* snapshot_index;
  common::Family<common::Counter>* join_role_violation;
  common::Family<common::Gauge>* voters;
  common::Family<common::Gauge>* learners;
  common::Family<common::Gauge>* is_learner;
  common::Counter* expired_keys_proposed;
  common::Histogram* log_fsync_seconds;
  common::Histogram* log_batch_entries;
  common::Histogram* apply_seconds;
  common::Family<common::Gauge>* key_wait_seconds;
};

const DriverMetrics& Metrics() {
  static const DriverMetrics metrics = [] {
    common::Registry& r = common::DefaultRegistry();
    const std::vector<std::string> group = {"group"};
    const std::vector<double> fast_seconds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,  0.05,    0.1,    0.25,  0.5,    1};
    const std::vector<double> slow_seconds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    return DriverMetrics{
        &r.AddGauge("tessera_raft_term", "Current Raft term of the local replica.", group),
        &r.AddGauge("tessera_raft_commit_index", "Highest log index known committed.", group),
        &r.AddGauge("tessera_raft_applied_index", "Highest log index applied locally.", group),
        &r.AddGauge("tessera_raft_is_leader", "1 if the local replica leads the group.", group),
        // The id as a label: a 64-bit node id does not fit a double's 53-bit mantissa.
        &r.AddGauge("tessera_raft_leader",
                    "1 for the node id (16 hex digits) this replica knows as the group's leader, "
                    "0 for leaders it knew before.",
                    {"group", "leader_id"}),
        &r.AddGauge("tessera_raft_state",
                    "Local role: 0 follower, 1 candidate, 2 leader, 3 pre-candidate.", group),
        &r.AddHistogram("tessera_raft_proposal_seconds",
                        "Time from Propose to the local apply completing it.", group, slow_seconds),
        &r.AddCounter("tessera_raft_snapshots_created_total",
                      "Snapshots this node wrote and recorded.", group),
        &r.AddCounter("tessera_raft_snapshots_installed_total",
                      "Snapshots received from a leader and restored.", group),
        &r.AddGauge("tessera_raft_snapshot_index",
                    "Index of the group's recorded snapshot (0 if none).", group),
        &r.AddCounter("tessera_raft_join_role_violation_total",
                      "Times a node started with --raftJoinAsLearner found itself a voter.", group),
        &r.AddGauge("tessera_raft_voters", "Voters in the group's configuration.", group),
        &r.AddGauge("tessera_raft_learners", "Learners in the group's configuration.", group),
        &r.AddGauge("tessera_raft_is_learner",
                    "1 if the local replica is a learner (no vote, not counted in quorums).",
                    group),
        r.AddCounter("tessera_fsm_active_expire_keys_total",
                     "Expired keys the active expirer proposed for deletion (leader only).")
            .Get(),
        r.AddHistogram("tessera_raft_log_fsync_seconds",
                       "Duration of the synced raft log WriteBatch (all groups).", {}, fast_seconds)
            .Get(),
        r.AddHistogram("tessera_raft_log_batch_entries",
                       "Log entries in each synced raft log WriteBatch.", {},
                       {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096})
            .Get(),
        r.AddHistogram("tessera_raft_apply_seconds",
                       "Time from staging one iteration's committed entries (all groups) to their "
                       "durable write.",
                       {}, fast_seconds)
            .Get(),
        &r.AddGauge("tessera_raft_unwrap_key_wait_seconds",
                    "How long the group's apply has been waiting for a raft DEK it met in a "
                    "sealed log entry (0 when not waiting).",
                    group),
    };
  }();
  return metrics;
}

// tessera_raft_state's documented encoding, independent of the enum's order.
double RaftStateValue(raft::Role role) {
  switch (role) {
    case raft::Role::kFollower:
      return 0;
    case raft::Role::kCandidate:
      return 1;
    case raft::Role::kLeader:
      return 2;
    case raft::Role::kPreCandidate:
      return 3;
  }
  return 0;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

struct Driver::Group {
  GroupId gid = 0;
  std::unique_ptr<GroupLog> log;
  std::unique_ptr<ConfOverlayStorage> storage;
  std::unique_ptr<raft::RawNode> node;
  PeersRecord peers;  // the durable peers record, rewritten at every conf-change apply
  absl::flat_hash_map<uint64_t, Waiter> proposals;                // request id -> waiter
  absl::flat_hash_map<std::string, Waiter> reads_awaiting_index;  // read ctx -> waiter
  std::vector<std::pair<uint64_t, Waiter>> reads_awaiting_apply;  // read index, waiter
  // This group's children in the metrics registry, set by Open.
  common::Gauge* term_gauge = nullptr;
  common::Gauge* commit_gauge = nullptr;
  common::Gauge* applied_gauge = nullptr;
  common::Gauge* is_leader_gauge = nullptr;
  common::Gauge* leader_gauge = nullptr;  // the child of the current leader; null if unknown
  raft::NodeId leader_gauge_id = raft::kNoNode;
  common::Gauge* state_gauge = nullptr;
  common::Histogram* proposal_seconds = nullptr;
  common::Counter* snapshots_created = nullptr;
  common::Counter* snapshots_installed = nullptr;
  common::Gauge* snapshot_index_gauge = nullptr;

  // Snapshots. snapshot_index mirrors the log's record; recorded_snapshot is its copy for
  // transport threads (the stale check of inbound snapshots).
  uint64_t snapshot_index = 0;
  std::atomic<uint64_t> recorded_snapshot{0};
  bool snapshot_in_progress = false;
  std::shared_ptr<const void> snapshot_job_hold;  // the file being written is never pruned
  Clock::time_point next_snapshot_attempt{};
  bool latch_error_logged = false;
  // The peers record a leader sent with its snapshot, by snapshot index (the latest only).
  std::optional<std::pair<uint64_t, std::string>> carried_peers;
  std::optional<ColdStartDecision> cold_start;
  std::string expire_cursor;  // where the active expirer continues (a metadata key)
  std::string gc_cursor;      // at or before the head of the garbage queue (data/gc.h)

  // Membership administration (§7, §8).
  struct PendingChange {
    uint64_t index;  // of the proposed conf-change entry
    uint64_t term;   // it was proposed in
    Clock::time_point deadline;
    std::function<void(absl::StatusOr<uint64_t>)> done;
  };
  struct PendingTransfer {
    raft::NodeId target;
    Clock::time_point deadline;
    std::function<void(absl::StatusOr<raft::NodeId>)> done;
  };
  std::optional<PendingChange> pending_change;
  std::optional<PendingTransfer> pending_transfer;
  Clock::time_point last_leader_contact{};
  bool bootstrap_era = false;
  std::string bootstrap_list_hash;
  std::shared_ptr<const ClusterConfiguration> configuration;
  bool join_alarm_fired = false;  // the §7.6 latch: at most one alarm per Open
  bool self_learner = false;      // this node was a learner at the last alarm hook
  bool initialized = false;       // meta:initialized is durable (or staged in this iteration)
  // A peer needs a snapshot newer than the recorded one (it joined after it was taken).
  bool snapshot_wanted = false;
  common::Counter* join_role_violation = nullptr;
  common::Gauge* voters_gauge = nullptr;
  common::Gauge* learners_gauge = nullptr;
  common::Gauge* is_learner_gauge = nullptr;

  // Encryption (spec/encryption.md §9). Committed entries [apply_wait_lo, apply_wait_hi] held
  // back because the first is sealed under a raft key this node does not hold yet (0 = none):
  // retried every kKeyRetryInterval, never skipped, re-read from the core's log so the wait
  // holds no entries in memory.
  uint64_t apply_wait_lo = 0;
  uint64_t apply_wait_hi = 0;
  Clock::time_point key_wait_since{};
  Clock::time_point next_key_retry{};
  Clock::time_point next_key_resync{};
  bool key_wait_error_logged = false;
  common::Gauge* key_wait_gauge = nullptr;
  // Client proposals that may not enter the log yet (ProposalHold), in arrival order; at most
  // request_queue_capacity.
  std::deque<Request> held;
  // The first index of this node's current leader term (its empty entry), for leader_term.
  uint64_t leader_term = 0;
  uint64_t term_start_index = 0;
};

class Driver::FileRefs : public std::enable_shared_from_this<FileRefs> {
 public:
  // Keeps <gid>/<index>.fsm from being pruned until the returned handle is dropped.
  std::shared_ptr<const void> Acquire(GroupId gid, uint64_t index) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_[{gid, index}];
    }
    std::shared_ptr<FileRefs> self = shared_from_this();
    return std::shared_ptr<const void>(self.get(), [self, gid, index](const void*) {
      std::lock_guard<std::mutex> lock(self->mu_);
      auto it = self->counts_.find({gid, index});
      if (it != self->counts_.end() && --it->second == 0) self->counts_.erase(it);
    });
  }
  std::vector<uint64_t> InFlight(GroupId gid) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<uint64_t> out;
    for (auto it = counts_.lower_bound({gid, 0}); it != counts_.end() && it->first.first == gid;
         ++it) {
      out.push_back(it->first.second);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::pair<GroupId, uint64_t>, int> counts_;
};

namespace {

// One admin call's result, set once by the driver thread (or a refusal), awaited by the caller
// within its context. The driver may finish after the caller gave up; the result is dropped.
template <typename T>
class AdminCall {
 public:
  void Set(absl::StatusOr<T> result) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (result_.has_value()) return;
      result_.emplace(std::move(result));
    }
    cv_.notify_all();
  }
  absl::StatusOr<T> Wait(const CallContext& ctx) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!result_.has_value()) {
      const auto now = std::chrono::steady_clock::now();
      if (ctx.IsCancelled()) return AdminError(AdminErrc::kCanceled, "the caller cancelled");
      if (now >= ctx.deadline) {
        return AdminError(AdminErrc::kDeadlineExceeded,
                          "deadline passed; a change may still commit: re-read Configuration");
      }
      // Short slices: cancellation is polled, not signalled.
      cv_.wait_until(lock, std::min(ctx.deadline, now + std::chrono::milliseconds(20)));
    }
    return *result_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<absl::StatusOr<T>> result_;
};

absl::Status ValidateServerArgs(std::string_view raft_id, std::string_view address,
                                bool need_address) {
  if (raft_id.empty()) return AdminError(AdminErrc::kInvalidArgument, "empty server id");
  if (absl::Status s = ParseRaftId(raft_id); !s.ok()) {
    return AdminError(AdminErrc::kInvalidArgument, std::string(s.message()));
  }
  if (need_address) {
    if (address.empty()) return AdminError(AdminErrc::kInvalidArgument, "empty server address");
    if (absl::Status s = ParseAddress("address", address); !s.ok()) {
      return AdminError(AdminErrc::kInvalidArgument, std::string(s.message()));
    }
  }
  return absl::OkStatus();
}

// The core says "conf change pending"; the admin surface says membership change (§7.1).
absl::Status ChangeError(const absl::Status& s) {
  if (raft::RaftErrcOf(s) == raft::RaftErrc::kConfChangePending) {
    return AdminError(AdminErrc::kMembershipChangePending, std::string(s.message()));
  }
  return s;
}

}  // namespace

class Driver::GroupAdmin final : public RaftAdmin {
 public:
  GroupAdmin(Driver* driver, GroupId gid) : driver_(driver), gid_(gid) {}

  absl::StatusOr<AdminStatus> Status(const CallContext& ctx) override {
    auto call = std::make_shared<AdminCall<AdminStatus>>();
    driver_->EnqueueAdmin(
        AdminRequest{gid_, [this, call](Group& g) { call->Set(driver_->AdminStatusOf(g)); },
                     [call](absl::Status s) { call->Set(std::move(s)); }});
    return call->Wait(ctx);
  }

  absl::StatusOr<ClusterConfiguration> Configuration(const CallContext&) override {
    return driver_->Configuration(gid_);
  }

  absl::StatusOr<uint64_t> AddVoter(const CallContext& ctx, std::string_view raft_id,
                                    std::string_view address, uint64_t previous_index) override {
    if (absl::Status s = ValidateServerArgs(raft_id, address, true); !s.ok()) return s;
    return Change(ctx, ChangeRequest{ChangeKind::kAddVoter, MakeServer(raft_id, address, true),
                                     previous_index});
  }

  absl::StatusOr<uint64_t> AddLearner(const CallContext& ctx, std::string_view raft_id,
                                      std::string_view address, uint64_t previous_index) override {
    if (absl::Status s = ValidateServerArgs(raft_id, address, true); !s.ok()) return s;
    return Change(ctx, ChangeRequest{ChangeKind::kAddLearner, MakeServer(raft_id, address, false),
                                     previous_index});
  }

  absl::StatusOr<uint64_t> PromoteLearner(const CallContext& ctx, std::string_view raft_id,
                                          uint64_t previous_index, uint64_t min_applied_index,
                                          bool skip_min_applied_check) override {
    // §7.2 step 1, on whichever node was asked.
    if (raft_id.empty()) return AdminError(AdminErrc::kInvalidArgument, "empty server id");
    if (min_applied_index == 0 && !skip_min_applied_check) {
      return raft::RaftError(raft::RaftErrc::kPromoteLearnerMinAppliedZero,
                             "min_applied_index is required unless skip_min_applied_check=true");
    }
    if (absl::Status s = ValidateServerArgs(raft_id, {}, false); !s.ok()) return s;
    return Change(ctx, ChangeRequest{ChangeKind::kPromote, MakeServer(raft_id, {}, true),
                                     previous_index, min_applied_index, skip_min_applied_check});
  }

  absl::StatusOr<uint64_t> RemoveServer(const CallContext& ctx, std::string_view raft_id,
                                        uint64_t previous_index) override {
    if (absl::Status s = ValidateServerArgs(raft_id, {}, false); !s.ok()) return s;
    return Change(
        ctx, ChangeRequest{ChangeKind::kRemove, MakeServer(raft_id, {}, true), previous_index});
  }

  absl::StatusOr<std::string> TransferLeadership(const CallContext& ctx,
                                                 const TransferRequest& request) override {
    if (!request.target.raft_id.empty()) {
      if (absl::Status s = ValidateServerArgs(request.target.raft_id, {}, false); !s.ok()) return s;
    }
    for (const TransferTarget& t : request.candidates) {
      if (absl::Status s = ValidateServerArgs(t.raft_id, {}, false); !s.ok()) return s;
    }
    auto call = std::make_shared<AdminCall<raft::NodeId>>();
    const Clock::time_point deadline = DriverDeadline(ctx);
    driver_->EnqueueAdmin(AdminRequest{
        gid_,
        [this, call, request, deadline](Group& g) {
          driver_->StartTransfer(g, request, deadline, [call](absl::StatusOr<raft::NodeId> r) {
            call->Set(std::move(r));
          });
        },
        [call](absl::Status s) { call->Set(std::move(s)); }});
    absl::StatusOr<raft::NodeId> id = call->Wait(ctx);
    if (!id.ok()) return id.status();
    absl::StatusOr<ClusterConfiguration> conf = driver_->Configuration(gid_);
    if (conf.ok()) {
      for (const Server& s : conf->servers) {
        if (s.node_id == *id) return s.raft_id;
      }
    }
    return absl::StrCat(absl::Hex(*id, absl::kZeroPad16));
  }

 private:
  static Server MakeServer(std::string_view raft_id, std::string_view address, bool voter) {
    return Server{DeriveNodeId(raft_id), std::string(raft_id), std::string(address), voter};
  }
  static Clock::time_point DriverDeadline(const CallContext& ctx) {
    return std::min(ctx.deadline, Clock::now() + kMaxAdminWait);
  }

  absl::StatusOr<uint64_t> Change(const CallContext& ctx, ChangeRequest change) {
    auto call = std::make_shared<AdminCall<uint64_t>>();
    const Clock::time_point deadline = DriverDeadline(ctx);
    driver_->EnqueueAdmin(AdminRequest{
        gid_,
        [this, call, change, deadline](Group& g) {
          driver_->StartMembershipChange(
              g, change, deadline, [call](absl::StatusOr<uint64_t> r) { call->Set(std::move(r)); });
        },
        [call](absl::Status s) { call->Set(std::move(s)); }});
    return call->Wait(ctx);
  }

  Driver* const driver_;
  const GroupId gid_;
};

absl::Status NotLeaderError(GroupId gid, raft::NodeId leader) {
  absl::Status s =
      raft::RaftError(raft::RaftErrc::kNotLeader,
                      absl::StrCat("group ", gid, " leader ",
                                   leader == raft::kNoNode ? std::string("unknown")
                                                           : absl::StrCat(absl::Hex(leader))));
  s.SetPayload(kNotLeaderPayloadUrl, absl::Cord(EncodeU64BE(leader)));
  return s;
}

bool IsNotLeader(const absl::Status& status) {
  return raft::RaftErrcOf(status) == raft::RaftErrc::kNotLeader;
}

raft::NodeId NotLeaderHint(const absl::Status& status) {
  auto payload = status.GetPayload(kNotLeaderPayloadUrl);
  if (!payload.has_value()) return raft::kNoNode;
  const std::string bytes(*payload);
  return bytes.size() == 8 ? DecodeU64BE(bytes) : raft::kNoNode;
}

DriverOptions DriverOptionsFromMembership(const MembershipConfig& config) {
  DriverOptions options;
  options.node_id = config.node_id;
  options.groups = config.groups;
  options.bootstrap_lists = config.bootstrap_lists;
  options.join_as_learner = config.join_as_learner;
  return options;
}

Driver::Driver(StorageEngine* engine, Transport* transport, DriverOptions options)
    : engine_(engine),
      transport_(transport),
      options_(std::move(options)),
      next_request_id_(RandomU64()) {}

Driver::~Driver() { Stop(); }

absl::StatusOr<std::unique_ptr<Driver>> Driver::Open(StorageEngine* engine, Transport* transport,
                                                     DriverOptions options) {
  if (options.node_id == raft::kNoNode) return absl::InvalidArgumentError("driver: node id 0");
  if (options.groups.empty()) return absl::InvalidArgumentError("driver: no groups");
  std::unique_ptr<Driver> d(new Driver(engine, transport, std::move(options)));
  const DriverOptions& opts = d->options_;

  // membership.md §2: state of a group this node does not host means a wrong data directory
  // or a wrong --raftGroups; refuse before writing anything.
  {
    std::set<GroupId> hosted;
    for (const auto& [gid, address] : opts.groups) hosted.insert(gid);
    if (absl::Status s = CheckNoUnlistedGroupState(engine, hosted); !s.ok()) return s;
  }
  std::vector<GroupId> gids;
  for (const auto& [gid, address] : opts.groups) {
    gids.push_back(gid);
    auto g = std::make_unique<Group>();
    g->gid = gid;
    const std::vector<std::string> labels = {absl::StrCat(gid)};
    const DriverMetrics& m = Metrics();
    g->term_gauge = m.term->WithLabels(labels);
    g->commit_gauge = m.commit_index->WithLabels(labels);
    g->applied_gauge = m.applied_index->WithLabels(labels);
    g->is_leader_gauge = m.is_leader->WithLabels(labels);
    g->state_gauge = m.state->WithLabels(labels);
    g->proposal_seconds = m.proposal_seconds->WithLabels(labels);
    g->snapshots_created = m.snapshots_created->WithLabels(labels);
    g->snapshots_installed = m.snapshots_installed->WithLabels(labels);
    g->snapshot_index_gauge = m.snapshot_index->WithLabels(labels);
    g->join_role_violation = m.join_role_violation->WithLabels(labels);
    g->voters_gauge = m.voters->WithLabels(labels);
    g->learners_gauge = m.learners->WithLabels(labels);
    g->is_learner_gauge = m.is_learner->WithLabels(labels);
    g->key_wait_gauge = m.key_wait_seconds->WithLabels(labels);
    g->key_wait_gauge->Set(0);
    absl::StatusOr<std::unique_ptr<GroupLog>> log = GroupLog::Load(engine, gid);
    if (!log.ok()) return log.status();
    g->log = *std::move(log);
    auto list = opts.bootstrap_lists.find(gid);
    absl::StatusOr<BootstrapOutcome> outcome = BootstrapGroupIfNeeded(
        engine, g->log.get(), gid, list == opts.bootstrap_lists.end() ? nullptr : &list->second);
    if (!outcome.ok()) return outcome.status();
    if (*outcome == BootstrapOutcome::kBootstrapped) d->bootstrapped_.push_back(gid);
    d->groups_.emplace(gid, std::move(g));
    d->read_leases_.emplace(gid, std::make_unique<std::atomic<int64_t>>(0));
  }

  // Cold start of every group (snapshots-and-cold-start.md §7) before any RawNode exists.
  d->file_refs_ = std::make_shared<FileRefs>();
  d->fsm_ = std::make_unique<ShardStateMachine>(engine);
  std::map<GroupId, uint64_t> initial_applied;
  for (auto& [gid, g] : d->groups_) {
    absl::StatusOr<uint64_t> effective = d->ColdStart(*g);
    if (!effective.ok()) {
      // Keep the typed-error payload (GetSnapshotErrc) and name the group.
      absl::Status annotated(
          effective.status().code(),
          absl::StrCat("group ", gid, ": cold start: ", effective.status().message()));
      effective.status().ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
        annotated.SetPayload(url, payload);
      });
      return annotated;
    }
    // The regenerate path may have rewritten the snapshot record.
    absl::StatusOr<std::unique_ptr<GroupLog>> log = GroupLog::Load(engine, gid);
    if (!log.ok()) return log.status();
    g->log = *std::move(log);
    g->snapshot_index = g->log->GetSnapshot()->metadata.index;
    g->recorded_snapshot.store(g->snapshot_index);
    g->snapshot_index_gauge->Set(static_cast<double>(g->snapshot_index));
    initial_applied[gid] = std::max(g->snapshot_index, *effective);
  }

  absl::StatusOr<std::unique_ptr<KvStateMachine>> kv = KvStateMachine::Open(engine, gids);
  if (!kv.ok()) return kv.status();
  (*kv)->set_encryption_applier(opts.encryption_applier);  // spec/encryption.md §8
  d->kv_ = *std::move(kv);

  for (auto& [gid, g] : d->groups_) {
    // membership.md §4 validate-on-open, after bootstrap and cold start wrote their records.
    if (absl::Status s = ValidateGroupOnOpen(engine, gid, opts.node_id, opts.groups.at(gid));
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::optional<ConfStateRecord>> cs = ReadConfStateRecord(engine, gid);
    if (!cs.ok()) return cs.status();
    std::string peers_bytes;
    rocksdb::Status rs = engine->db()->Get(rocksdb::ReadOptions(), engine->meta(),
                                           MetaKey(gid, meta::kPeers), &peers_bytes);
    if (rs.ok()) {
      absl::StatusOr<PeersRecord> peers = DecodePeersRecord(peers_bytes);
      if (!peers.ok()) return peers.status();
      g->peers = *std::move(peers);
    } else if (!rs.IsNotFound()) {
      return FromRocksStatus(rs, "peers read");
    }
    for (const Server& s : g->peers.peers) transport->SetPeerAddress(gid, s.node_id, s.address);
    if (auto list = opts.bootstrap_lists.find(gid); list != opts.bootstrap_lists.end()) {
      for (const Server& s : list->second) {
        if (g->peers.peers.empty()) transport->SetPeerAddress(gid, s.node_id, s.address);
      }
    }

    // §7.3: both counters primed to max(snapshot index, effective applied).
    const uint64_t applied = initial_applied[gid];
    d->kv_->AdvanceApplied(gid, applied);
    // A skipped or restored snapshot header may carry a higher ceiling than meta had.
    d->kv_->AdvanceClockCeiling(gid, d->fsm_->clock_ceiling_ms(gid));
    std::optional<raft::ConfState> conf;
    if (cs->has_value()) conf = (*cs)->conf_state;
    g->storage = std::make_unique<ConfOverlayStorage>(g->log.get(), std::move(conf));

    raft::Config c;
    c.id = opts.node_id;
    c.election_tick = opts.election_ticks;
    c.heartbeat_tick = opts.heartbeat_ticks;
    c.storage = g->storage.get();
    c.applied = applied;
    c.check_quorum = true;
    c.pre_vote = true;
    c.read_only_option =
        opts.lease_reads ? raft::ReadOnlyOption::kLeaseBased : raft::ReadOnlyOption::kSafe;
    // A follower answers NOT_LEADER with a hint; the caller goes to the leader itself.
    c.disable_proposal_forwarding = true;
    c.seed = opts.seed ^ (gid * 0x9e3779b97f4a7c15ULL) ^ RandomU64();
    if (absl::Status s = c.Validate(); !s.ok()) return s;
    g->node = std::make_unique<raft::RawNode>(c);

    // Status's bootstrap_era and bootstrap_list_hash (§4): the record's hash, else the
    // declared list's.
    std::string era;
    rs = engine->db()->Get(rocksdb::ReadOptions(), engine->meta(),
                           MetaKey(gid, meta::kBootstrapEra), &era);
    g->bootstrap_era = rs.ok() && era == std::string(1, '\x01');
    std::string boot;
    rs = engine->db()->Get(rocksdb::ReadOptions(), engine->meta(), MetaKey(gid, meta::kBootstrap),
                           &boot);
    if (rs.ok()) {
      absl::StatusOr<BootstrapRecord> record = DecodeBootstrapRecord(boot);
      if (record.ok()) g->bootstrap_list_hash = ListHashHex(record->list_hash);
    } else if (auto list = opts.bootstrap_lists.find(gid); list != opts.bootstrap_lists.end()) {
      g->bootstrap_list_hash = ListHashHex(ListHash(list->second));
    }
    transport->SetBootstrapState(gid, g->bootstrap_era, g->bootstrap_list_hash);
    std::string initialized;
    g->initialized = engine->db()
                         ->Get(rocksdb::ReadOptions(), engine->meta(),
                               MetaKey(gid, meta::kInitialized), &initialized)
                         .ok();
    d->RefreshConfiguration(*g);
    d->admins_.emplace(gid, std::make_unique<GroupAdmin>(d.get(), gid));
  }

  Driver* self = d.get();
  transport->SetHandlers(
      [self](GroupId gid, raft::Message m) {
        bool log_drop = false;
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          if (self->inbound_.size() >= self->options_.inbound_queue_capacity) {
            log_drop = self->inbound_dropped_++ % 1000 == 0;
          } else {
            self->inbound_.push_back(GroupMessage{gid, std::move(m)});
          }
        }
        if (log_drop) spdlog::warn("driver: inbound queue full, dropping peer messages");
        self->wake_.notify_one();
      },
      [self](GroupId gid, raft::NodeId node) {
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          if (self->unreachable_.size() < self->options_.inbound_queue_capacity) {
            self->unreachable_.emplace_back(gid, node);
          }
        }
        self->wake_.notify_one();
      });
  transport->SetSnapshotHandlers(SnapshotHandlers{
      .on_snapshot =
          [self](InboundSnapshot snap) {
            {
              std::lock_guard<std::mutex> lock(self->mu_);
              if (self->inbound_snapshots_.size() >= 64) self->inbound_snapshots_.pop_front();
              self->inbound_snapshots_.push_back(std::move(snap));
            }
            self->wake_.notify_one();
          },
      .on_status =
          [self](GroupId gid, raft::NodeId to, bool ok) {
            {
              std::lock_guard<std::mutex> lock(self->mu_);
              self->snapshot_status_.push_back(SnapshotStatus{gid, to, ok});
            }
            self->wake_.notify_one();
          },
      .installed_index = [self](GroupId gid) -> uint64_t {
        auto it = self->groups_.find(gid);  // the map is fixed after Open
        return it == self->groups_.end() ? 0 : it->second->recorded_snapshot.load();
      },
  });
  d->PublishStatus();
  // §7.6 hook at Open: a mis-joined node that restarts has nothing left to replay.
  for (auto& [gid, g] : d->groups_) {
    d->AlarmIfJoinedAsVoter(*g, g->node->raft().tracker().conf_state(), g->peers.index);
  }
  return d;
}

absl::StatusOr<uint64_t> Driver::ColdStart(Group& g) {
  const GroupId gid = g.gid;
  absl::StatusOr<raft::Snapshot> snap = g.log->GetSnapshot();
  if (!snap.ok()) return snap.status();
  if (!options_.data_dir.empty()) {
    absl::StatusOr<std::vector<std::string>> removed =
        CleanupSnapshotDir(GroupSnapshotDir(options_.data_dir, gid), snap->metadata.index, {});
    if (!removed.ok()) return removed.status();
    for (const std::string& path : *removed) {
      spdlog::info("group {}: removed leftover snapshot file {}", gid, path);
    }
  }
  std::string marker;
  rocksdb::Status rs = engine_->db()->Get(rocksdb::ReadOptions(), engine_->meta(),
                                          MetaKey(gid, meta::kRestoreMarker), &marker);
  if (!rs.ok() && !rs.IsNotFound()) return FromRocksStatus(rs, "restore marker read");

  ColdStartInput in;
  in.gid = gid;
  in.hard_state = g.log->hard_state();
  in.snapshot = *snap;
  in.restore_marker_present = rs.ok();
  in.data_dir = options_.data_dir;
  in.max_bytes = options_.max_snapshot_bytes;
  in.verify_failure = options_.snapshot_verify_failure;
  in.regenerate = [this, &g](GroupId, uint64_t have) { return RegenerateSnapshot(g, have); };
  absl::StatusOr<ColdStartResult> result = RunColdStart(*fsm_, in, options_.cold_start_observer);
  if (!result.ok()) return result.status();
  g.cold_start = result->decision;
  return result->effective_applied;
}

absl::Status Driver::RegenerateSnapshot(Group& g, uint64_t have) {
  const rocksdb::Snapshot* view = engine_->db()->GetSnapshot();
  absl::StatusOr<WrittenSnapshot> w = WriteGroupSnapshot(engine_, options_.data_dir, g.gid, have,
                                                         view, options_.max_snapshot_bytes);
  engine_->db()->ReleaseSnapshot(view);
  if (!w.ok()) return w.status();
  const std::string token = EncodeSnapshotToken(SnapshotToken{w->index, w->crc});
  absl::StatusOr<raft::Snapshot> current = g.log->GetSnapshot();
  if (!current.ok()) return current.status();
  rocksdb::WriteBatch batch;
  if (have > current->metadata.index) {
    absl::StatusOr<raft::Snapshot> rec =
        g.log->StageCreateSnapshot(batch, have, &w->conf_state, token);
    if (!rec.ok()) return rec.status();
  } else {
    // Same index as the quarantined file: same metadata, the new file's token.
    raft::Snapshot rec = *current;
    rec.data = token;
    batch.Put(engine_->raftlog(), SnapshotRecordKey(g.gid), EncodeSnapshotRecord(rec));
  }
  return engine_->Write(batch, /*sync=*/true);
}

absl::Status Driver::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_ || stopped_) return absl::FailedPreconditionError("driver already started");
  if (absl::Status s = transport_->Start(); !s.ok()) return s;
  started_ = true;
  snapshot_thread_ = std::thread([this] { SnapshotLoop(); });
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Driver::Stop() {
  {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (stopped_) return;
    stopped_ = true;
    {
      std::lock_guard<std::mutex> q(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    {
      std::lock_guard<std::mutex> q(snap_mu_);
      snap_stop_ = true;
    }
    snap_cv_.notify_all();
    if (snapshot_thread_.joinable()) snapshot_thread_.join();
    for (SnapshotJob& job : snap_jobs_) engine_->db()->ReleaseSnapshot(job.view);
    snap_jobs_.clear();
    if (started_) transport_->Stop();
  }
  FailAll(absl::UnavailableError("driver stopped"));
}

void Driver::Propose(GroupId gid, std::string command, Callback done) {
  Enqueue(Request{Request::Kind::kPropose, gid, std::move(command),
                  Waiter{std::move(done), nullptr, 2, Clock::now() + options_.request_timeout}});
}

void Driver::ProposeCommand(GroupId gid, std::string command, int protocol, ReplyCallback done) {
  Waiter w;
  w.reply_done = std::move(done);
  w.protocol = protocol;
  w.deadline = Clock::now() + options_.request_timeout;
  Enqueue(Request{Request::Kind::kPropose, gid, std::move(command), std::move(w)});
}

bool Driver::LeaseReadable(GroupId gid) const {
  auto it = read_leases_.find(gid);
  if (it == read_leases_.end()) return false;
  const int64_t deadline = it->second->load(std::memory_order_acquire);
  return deadline != 0 && Clock::now().time_since_epoch().count() < deadline;
}

std::optional<std::chrono::steady_clock::time_point> LeaseReadDeadline(
    std::chrono::steady_clock::time_point next_tick, std::chrono::steady_clock::duration interval,
    uint64_t ticks, uint64_t expiry_tick) {
  // The lease holds while the core's tick count is below expiry_tick. Tick number ticks + j is
  // due at next_tick + (j - 1) intervals and is never delivered before it is due, so the lease
  // ends no earlier than next_tick + (expiry_tick - ticks - 1) intervals. One interval less is
  // the deadline: a margin for the reader's own clock read and the work after it.
  if (expiry_tick <= ticks + 2) return std::nullopt;
  return next_tick + interval * static_cast<int64_t>(expiry_tick - ticks - 2);
}

void Driver::PublishReadLeases() {
  for (auto& [gid, g] : groups_) {
    int64_t deadline = 0;
    const raft::Raft& raft = g->node->raft();
    // Every entry committed now is applied: a read sees whatever an earlier leader
    // acknowledged, as a ReadIndex read waits for.
    if (kv_->applied_index(gid) >= raft.log().committed()) {
      if (std::optional<Clock::time_point> until = LeaseReadDeadline(
              next_tick_, options_.tick_interval, raft.ticks(), raft.LeaseExpiryTick())) {
        deadline = until->time_since_epoch().count();
      }
    }
    read_leases_.at(gid)->store(deadline, std::memory_order_release);
  }
}

void Driver::Read(GroupId gid, Callback done) {
  Enqueue(Request{Request::Kind::kRead, gid, std::string(),
                  Waiter{std::move(done), nullptr, 2, Clock::now() + options_.request_timeout}});
}

void Driver::Enqueue(Request r) {
  absl::Status refusal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      refusal = absl::UnavailableError("driver stopped");
    } else if (requests_.size() >= options_.request_queue_capacity) {
      refusal = absl::ResourceExhaustedError("BUSY: driver request queue full");
    } else {
      requests_.push_back(std::move(r));
    }
  }
  if (!refusal.ok()) {
    r.waiter.Complete(refusal, {});
    return;
  }
  wake_.notify_one();
}

absl::StatusOr<GroupStatus> Driver::Status(GroupId gid) const {
  std::lock_guard<std::mutex> lock(status_mu_);
  auto it = status_.find(gid);
  if (it == status_.end()) return absl::NotFoundError(absl::StrCat("group ", gid, " not hosted"));
  return it->second;
}

DriverCounters Driver::counters() const {
  return DriverCounters{log_syncs_.load(),         entries_persisted_.load(),
                        apply_batches_.load(),     entries_applied_.load(),
                        snapshots_created_.load(), snapshots_installed_.load()};
}

void Driver::Run() {
  const auto interval = options_.tick_interval;
  Clock::time_point next_tick = Clock::now() + interval;
  next_tick_ = next_tick;
  Clock::time_point next_sweep = Clock::now();
  Clock::time_point next_expire = Clock::now() + options_.expire_interval;
  Clock::time_point next_gc = Clock::now() + options_.gc_interval;
  bool more_ready = false;
  while (true) {
    std::deque<GroupMessage> inbound;
    std::vector<std::pair<GroupId, raft::NodeId>> unreachable;
    std::deque<Request> requests;
    std::deque<InboundSnapshot> snapshots;
    std::vector<SnapshotStatus> statuses;
    std::deque<SnapshotDone> done;
    std::deque<AdminRequest> admin;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!more_ready) {
        wake_.wait_until(lock, next_tick, [this] {
          return stop_ || !inbound_.empty() || !requests_.empty() || !unreachable_.empty() ||
                 !inbound_snapshots_.empty() || !snapshot_status_.empty() ||
                 !snapshots_done_.empty() || !admin_requests_.empty();
        });
      }
      if (stop_) break;
      inbound.swap(inbound_);
      unreachable.swap(unreachable_);
      requests.swap(requests_);
      snapshots.swap(inbound_snapshots_);
      statuses.swap(snapshot_status_);
      done.swap(snapshots_done_);
      admin.swap(admin_requests_);
    }
    for (const SnapshotStatus& st : statuses) {
      if (auto it = groups_.find(st.gid); it != groups_.end()) {
        it->second->node->ReportSnapshot(st.to, /*failed=*/!st.ok);
      }
    }
    for (SnapshotDone& d : done) RecordSnapshot(d);
    for (InboundSnapshot& snap : snapshots) {
      auto it = groups_.find(snap.group);
      if (it == groups_.end()) continue;
      it->second->carried_peers.emplace(snap.message.snapshot.metadata.index,
                                        std::move(snap.peers_record));
      inbound.push_back(GroupMessage{snap.group, std::move(snap.message)});
    }
    // (a) One tick per whole interval elapsed on the monotonic clock: catch up after a stall,
    // never faster (the lease assumes tick rates that agree).
    const Clock::time_point now = Clock::now();
    while (now >= next_tick) {
      for (auto& [gid, g] : groups_) g->node->Tick();
      next_tick += interval;
    }
    next_tick_ = next_tick;
    // (b) peer messages, (c) client requests.
    StepInbound(inbound, unreachable);
    for (Request& r : requests) HandleRequest(r);
    for (AdminRequest& r : admin) {
      auto it = groups_.find(r.gid);
      if (it == groups_.end()) {
        r.fail(absl::NotFoundError(absl::StrCat("group ", r.gid, " not hosted")));
      } else {
        r.run(*it->second);
      }
    }
    // (d)-(g), then proposals held for a new leader's first apply or the cutover barrier.
    ProcessReady();
    PublishReadLeases();  // with this round's applies and lease acks
    ReleaseHeld();
    MaybeScheduleSnapshots(now);
    if (options_.expire_interval.count() > 0 && now >= next_expire) {
      ActiveExpire();
      next_expire = now + options_.expire_interval;
    }
    if (options_.gc_interval.count() > 0 && now >= next_gc) {
      CollectGarbage();
      next_gc = now + options_.gc_interval;
    }
    if (now >= next_sweep) {
      ExpireWaiters(now);
      next_sweep = now + kSweepInterval;
    }
    CheckTransfers(Clock::now());
    PublishStatus();
    // After the publish: a caller whose change completed reads it in Configuration().
    std::vector<std::function<void()>> admin_done;
    admin_done.swap(admin_done_);
    for (auto& finish : admin_done) finish();
    more_ready = std::any_of(groups_.begin(), groups_.end(),
                             [](const auto& kv) { return kv.second->node->HasReady(); });
  }
}

void Driver::StepInbound(std::deque<GroupMessage>& inbound,
                         std::vector<std::pair<GroupId, raft::NodeId>>& unreachable) {
  for (GroupMessage& gm : inbound) {
    auto it = groups_.find(gm.group);
    if (it == groups_.end()) {
      spdlog::error("driver: message for unhosted group {} from {:016x}", gm.group,
                    gm.message.from);
      continue;
    }
    const raft::MessageType type = gm.message.type;
    const raft::NodeId from = gm.message.from;
    if (absl::Status s = it->second->node->Step(std::move(gm.message)); !s.ok()) {
      spdlog::error("group {}: step {} from {}: {}", gm.group, raft::MessageTypeName(type),
                    MemberName(it->second->peers.peers, from), s.ToString());
    }
    if (from == it->second->node->raft().lead()) it->second->last_leader_contact = Clock::now();
  }
  for (const auto& [gid, node] : unreachable) {
    if (auto it = groups_.find(gid); it != groups_.end()) it->second->node->ReportUnreachable(node);
  }
}

absl::Status Driver::ProposalHold(Group& g, std::string_view command) {
  const raft::Raft& raft = g.node->raft();
  if (raft.role() == raft::Role::kLeader) {
    if (g.leader_term != raft.term()) {
      // Every entry of the current term was appended by this leader, from its empty entry on.
      uint64_t first = raft.log().LastIndex();
      while (first > 1 && raft.log().TermOrZero(first - 1) == raft.term()) --first;
      g.leader_term = raft.term();
      g.term_start_index = first;
    }
    // §9: a committed raft-envelope cutover is always applied before this leader builds entries.
    if (kv_->applied_index(g.gid) < g.term_start_index) {
      return absl::UnavailableError(absl::StrCat("group ", g.gid,
                                                 ": the new leader has not applied its term's "
                                                 "first entry yet; retry"));
    }
  }
  if (const encryption::EncryptionApplier* enc = options_.encryption_applier; enc != nullptr) {
    if (enc->runtime().state->intake_blocked(g.gid) && !encryption::IsEncryptionCommand(command)) {
      return absl::UnavailableError(
          absl::StrCat("group ", g.gid, ": raft-envelope cutover in progress; retry"));
    }
  }
  return absl::OkStatus();
}

void Driver::ReleaseHeld() {
  const Clock::time_point now = Clock::now();
  for (auto& [gid, g] : groups_) {
    if (g->held.empty()) continue;
    std::deque<Request> held;
    held.swap(g->held);
    for (Request& r : held) {
      if (now >= r.waiter.deadline) {
        // §9: a held caller waits until its deadline, then gets a retryable UNAVAILABLE.
        absl::Status why = ProposalHold(*g, r.command);
        r.waiter.Complete(absl::UnavailableError(
                              absl::StrCat(why.ok() ? "proposal intake was held" : why.message(),
                                           " (held until the request deadline)")),
                          {});
        continue;
      }
      HandleRequest(r);  // proposes, fails (no longer leader), or holds it again in order
    }
  }
}

absl::Status Driver::ProposeEntry(Group& g, ProposalId id, uint64_t timestamp_ms,
                                  std::string_view command) {
  // Encryption (spec/encryption.md §9): the proposal-quiescence barrier of a raft-envelope
  // cutover, then the envelope itself once the group's applied cutover is set.
  if (absl::Status hold = ProposalHold(g, command); !hold.ok()) return hold;
  if (const encryption::EncryptionApplier* enc = options_.encryption_applier; enc != nullptr) {
    const encryption::EncryptionRuntime& rt = enc->runtime();
    absl::StatusOr<std::string> wrapped = encryption::WrapProposalCommand(rt, g.gid, command);
    if (!wrapped.ok()) return wrapped.status();
    return g.node->Propose(EncodeEntryPayload(id, timestamp_ms, *wrapped));
  }
  return g.node->Propose(EncodeEntryPayload(id, timestamp_ms, command));
}

void Driver::HandleRequest(Request& r) {
  auto it = groups_.find(r.gid);
  if (it == groups_.end()) {
    r.waiter.Complete(absl::NotFoundError(absl::StrCat("group ", r.gid, " not hosted")), {});
    return;
  }
  Group& g = *it->second;
  if (Clock::now() >= r.waiter.deadline) {
    r.waiter.Complete(absl::DeadlineExceededError("request expired in the driver queue"), {});
    return;
  }
  const raft::Raft& raft = g.node->raft();
  if (raft.role() != raft::Role::kLeader) {
    r.waiter.Complete(NotLeaderError(g.gid, raft.lead()), {});
    return;
  }
  if (r.kind == Request::Kind::kPropose) {
    if (absl::Status hold = ProposalHold(g, r.command); !hold.ok()) {
      if (g.held.size() >= options_.request_queue_capacity) {
        r.waiter.Complete(absl::ResourceExhaustedError(absl::StrCat("BUSY: ", hold.message())), {});
      } else {
        g.held.push_back(std::move(r));
      }
      return;
    }
  }
  uint64_t id = next_request_id_++;
  if (id == 0) id = next_request_id_++;  // 0 marks the driver's own proposals
  absl::Status s;
  if (r.kind == Request::Kind::kPropose) {
    s = ProposeEntry(g, ProposalId{options_.node_id, id}, WallClockMs(), r.command);
    if (s.ok()) g.proposals.emplace(id, std::move(r.waiter));
  } else {
    std::string ctx = EncodeU64BE(id);
    s = g.node->ReadIndex(ctx);
    if (s.ok()) g.reads_awaiting_index.emplace(std::move(ctx), std::move(r.waiter));
  }
  if (!s.ok()) {
    if (g.pending_transfer.has_value() && raft::RaftErrcOf(s) == raft::RaftErrc::kProposalDropped) {
      // §8: during a transfer client proposals get NOT_LEADER, hinting the transferee.
      r.waiter.Complete(NotLeaderError(g.gid, g.pending_transfer->target), {});
      return;
    }
    r.waiter.Complete(IsNotLeader(s) ? NotLeaderError(g.gid, g.node->raft().lead()) : s, {});
  }
}

void Driver::ProcessReady() {
  struct Round {
    Group* g;
    raft::Ready rd;
  };
  std::vector<Round> rounds;
  // (d) every group's entries and hard state in one batch, one fsync.
  rocksdb::WriteBatch log_batch;
  uint64_t entries = 0;
  for (auto& [gid, g] : groups_) {
    if (!g->node->HasReady()) continue;
    raft::Ready rd = g->node->GetReady();
    if (!rd.snapshot.IsEmpty()) {
      // The record (and for a joiner, `initialized`) rides in the synced log batch; the
      // restore runs once it is durable (§5).
      if (absl::Status s = g->log->StageSnapshot(log_batch, rd.snapshot); !s.ok()) {
        Fatal(absl::StrCat("group ", gid, ": stage snapshot: ", s.ToString()));
      }
      log_batch.Put(engine_->meta(), MetaKey(gid, meta::kInitialized), std::string(1, '\x01'));
      // The leader's addresses become durable with the record: a crash before the restore's
      // final batch leaves a fallback restore that can still reach every member.
      const uint64_t index = rd.snapshot.metadata.index;
      if (g->carried_peers.has_value() && g->carried_peers->first == index) {
        absl::StatusOr<PeersRecord> peers = DecodePeersRecord(g->carried_peers->second);
        if (peers.ok() && CheckCarriedPeers(*peers).ok()) {
          log_batch.Put(
              engine_->meta(), MetaKey(gid, meta::kConfState),
              EncodeConfStateRecord(ConfStateRecord{index, rd.snapshot.metadata.conf_state}));
          log_batch.Put(
              engine_->meta(), MetaKey(gid, meta::kPeers),
              EncodePeersRecord(StampSuffrage(*peers, rd.snapshot.metadata.conf_state, index)));
        }
      }
    }
    if (!g->initialized &&
        (!rd.entries.empty() || !rd.hard_state.IsEmpty() || !rd.snapshot.IsEmpty())) {
      // §4: a joiner's first persisted raft state carries `initialized` in its batch.
      log_batch.Put(engine_->meta(), MetaKey(gid, meta::kInitialized), std::string(1, '\x01'));
      g->initialized = true;
    }
    if (absl::Status s = g->log->StageAppend(log_batch, rd.entries); !s.ok()) {
      Fatal(absl::StrCat("group ", gid, ": stage append: ", s.ToString()));
    }
    if (!rd.hard_state.IsEmpty()) g->log->StageHardState(log_batch, rd.hard_state);
    entries += rd.entries.size();
    rounds.push_back(Round{g.get(), std::move(rd)});
  }
  if (rounds.empty()) return;
  const bool log_dirty = log_batch.Count() > 0;

  // (f) committed entries are applied in the same iteration: their effects go into an indexed
  // batch (later entries read what earlier ones wrote) that is written right after the log
  // batch, unsynced, and synced itself: RocksDB's WAL is one sequential log, so the sync
  // makes both durable and recovery yields a prefix of the two writes. Every crash state keeps
  // applied <= durable commit, at one fsync per iteration. A group installing a snapshot
  // applies after its restore instead, below.
  const Clock::time_point apply_start = Clock::now();
  // overwrite_key: the batch-over-database reads of later commands see the latest write.
  rocksdb::WriteBatchWithIndex apply_batch(rocksdb::BytewiseComparator(), 0,
                                           /*overwrite_key=*/true);
  std::vector<std::pair<Group*, std::vector<Applied>>> applied;
  uint64_t applied_count = 0;
  absl::flat_hash_set<const Group*> in_rounds;
  for (Round& r : rounds) {
    in_rounds.insert(r.g);
    if (!r.rd.snapshot.IsEmpty()) continue;
    if (r.rd.committed_entries.empty() && r.g->apply_wait_lo == 0) continue;
    applied.emplace_back(r.g, std::vector<Applied>());
    ApplyCommitted(*r.g, r.rd.committed_entries, apply_batch, applied.back().second);
    applied_count += applied.back().second.size();
  }
  // Groups without a Ready whose apply waits for an encryption key: their retry.
  for (auto& [gid, g] : groups_) {
    if (g->apply_wait_lo == 0 || in_rounds.contains(g.get())) continue;
    applied.emplace_back(g.get(), std::vector<Applied>());
    ApplyCommitted(*g, {}, apply_batch, applied.back().second);
    applied_count += applied.back().second.size();
  }
  const bool apply_dirty = apply_batch.GetWriteBatch()->Count() > 0;
  if (log_dirty || apply_dirty) {
    const Clock::time_point write_start = Clock::now();
    if (log_dirty) {
      if (absl::Status s = engine_->Write(log_batch, /*sync=*/!apply_dirty); !s.ok()) {
        Fatal("raftlog write: " + s.ToString());
      }
    }
    // Apply-only batches (committed entries re-delivered after a restart) honour
    // --fsmSyncMode; one that follows log state is synced.
    if (apply_dirty) {
      if (absl::Status s =
              engine_->Write(*apply_batch.GetWriteBatch(), log_dirty || options_.apply_sync);
          !s.ok()) {
        Fatal("apply write: " + s.ToString());
      }
    }
    if (log_dirty) {
      Metrics().log_fsync_seconds->Observe(SecondsSince(write_start));
      Metrics().log_batch_entries->Observe(static_cast<double>(entries));
      log_syncs_.fetch_add(1, std::memory_order_relaxed);
      entries_persisted_.fetch_add(entries, std::memory_order_relaxed);
    }
  }

  // (e) messages only once what they promise is durable.
  std::vector<GroupMessage> out;
  for (Round& r : rounds) {
    for (raft::Message& m : r.rd.messages) out.push_back(GroupMessage{r.g->gid, std::move(m)});
  }
  SendMessages(std::move(out));
  for (Round& r : rounds) {
    if (!r.rd.snapshot.IsEmpty()) InstallSnapshot(*r.g, r.rd.snapshot);
  }

  std::vector<std::pair<Waiter, std::pair<absl::Status, std::string>>> completions;
  for (Round& r : rounds) {
    Group& g = *r.g;
    if (r.rd.soft_state.has_value()) {
      spdlog::info("group {}: {} in term {}, leader {}", g.gid,
                   raft::RoleName(r.rd.soft_state->role), g.node->raft().term(),
                   MemberName(g.peers.peers, r.rd.soft_state->lead));
    }
    // A read not yet given an index can no longer get one from a deposed leader.
    if (r.rd.soft_state.has_value() && r.rd.soft_state->role != raft::Role::kLeader) {
      for (auto& [ctx, w] : g.reads_awaiting_index) {
        completions.emplace_back(
            std::move(w),
            std::make_pair(NotLeaderError(g.gid, r.rd.soft_state->lead), std::string()));
      }
      g.reads_awaiting_index.clear();
    }
    for (const raft::ReadState& rs : r.rd.read_states) {
      auto it = g.reads_awaiting_index.find(rs.request_ctx);
      if (it == g.reads_awaiting_index.end()) continue;
      g.reads_awaiting_apply.emplace_back(rs.index, std::move(it->second));
      g.reads_awaiting_index.erase(it);
    }
  }

  // Entries committed after an installed snapshot, once its restore has rewritten the rows.
  rocksdb::WriteBatchWithIndex after_install(rocksdb::BytewiseComparator(), 0,
                                             /*overwrite_key=*/true);
  for (Round& r : rounds) {
    if (r.rd.committed_entries.empty() || r.rd.snapshot.IsEmpty()) continue;
    applied.emplace_back(r.g, std::vector<Applied>());
    ApplyCommitted(*r.g, r.rd.committed_entries, after_install, applied.back().second);
    applied_count += applied.back().second.size();
  }
  if (after_install.GetWriteBatch()->Count() > 0) {
    if (absl::Status s = engine_->Write(*after_install.GetWriteBatch(), options_.apply_sync);
        !s.ok()) {
      Fatal("apply write: " + s.ToString());
    }
  }
  if (!applied.empty()) {
    apply_batches_.fetch_add(1, std::memory_order_relaxed);
    entries_applied_.fetch_add(applied_count, std::memory_order_relaxed);
    Metrics().apply_seconds->Observe(SecondsSince(apply_start));
  }
  for (auto& [g, entries_applied] : applied) {
    for (Applied& done : entries_applied) {
      AppliedEntry& a = done.entry;
      if (!a.proposal.has_value() || a.proposal->proposer != options_.node_id) continue;
      auto it = g->proposals.find(a.proposal->request_id);
      if (it == g->proposals.end()) continue;
      // The waiter keeps only its deadline, which Propose set request_timeout after the call.
      g->proposal_seconds->Observe(SecondsSince(it->second.deadline - options_.request_timeout));
      completions.emplace_back(std::move(it->second),
                               std::make_pair(std::move(a.result), std::move(done.reply)));
      g->proposals.erase(it);
    }
  }
  for (Round& r : rounds) CompleteReads(*r.g);

  // (g)
  for (Round& r : rounds) r.g->node->Advance(r.rd);
  for (auto& [w, outcome] : completions)
    w.Complete(std::move(outcome.first), std::move(outcome.second));
}

void Driver::ApplyCommitted(Group& g, const std::vector<raft::Entry>& fresh,
                            rocksdb::WriteBatchWithIndex& batch, std::vector<Applied>& applied) {
  if (g.apply_wait_lo == 0) {
    if (const uint64_t stuck = ApplyEntries(g, fresh, batch, applied); stuck != 0) {
      g.apply_wait_lo = stuck;
      g.apply_wait_hi = fresh.back().index;
    }
    return;
  }
  if (!fresh.empty()) g.apply_wait_hi = std::max(g.apply_wait_hi, fresh.back().index);
  // A snapshot installed meanwhile may cover part or all of the held range.
  const uint64_t done = kv_->applied_index(g.gid);
  if (done >= g.apply_wait_hi) {
    EndKeyWait(g);
    return;
  }
  g.apply_wait_lo = std::max(g.apply_wait_lo, done + 1);
  if (fresh.empty() && Clock::now() < g.next_key_retry) return;
  absl::StatusOr<std::vector<raft::Entry>> held =
      g.node->raft().log().Slice(g.apply_wait_lo, g.apply_wait_hi + 1, kKeyWaitSliceBytes);
  if (!held.ok() || held->empty()) {
    Fatal(absl::StrCat(
        "group ", g.gid, ": committed entries ", g.apply_wait_lo, "..", g.apply_wait_hi,
        " held for an encryption key are gone from the log: ", held.status().ToString()));
  }
  if (const uint64_t stuck = ApplyEntries(g, *held, batch, applied); stuck != 0) {
    g.apply_wait_lo = stuck;
    return;
  }
  if (held->back().index >= g.apply_wait_hi) {
    EndKeyWait(g);
  } else {
    g.apply_wait_lo = held->back().index + 1;  // the rest next iteration, without delay
    g.next_key_retry = Clock::now();
  }
}

void Driver::NoteKeyWait(Group& g, const absl::Status& why) {
  const Clock::time_point now = Clock::now();
  if (g.key_wait_since == Clock::time_point{}) {
    g.key_wait_since = now;
    g.next_key_resync = now;
    spdlog::warn("group {}: apply waits for an encryption key: {}", g.gid, why.ToString());
  }
  const double waited = std::chrono::duration<double>(now - g.key_wait_since).count();
  g.key_wait_gauge->Set(waited);
  if (now - g.key_wait_since >= kKeyWaitErrorAfter && !g.key_wait_error_logged) {
    g.key_wait_error_logged = true;
    spdlog::error("group {}: apply has waited {:.0f}s for an encryption key: {}", g.gid, waited,
                  why.ToString());
  }
  if (now >= g.next_key_resync && options_.encryption_key_resync) {
    options_.encryption_key_resync();
    g.next_key_resync = now + kKeyResyncInterval;
  }
  g.next_key_retry = now + kKeyRetryInterval;
}

void Driver::EndKeyWait(Group& g) {
  if (g.key_wait_since != Clock::time_point{}) {
    spdlog::info("group {}: the encryption key arrived after {:.1f}s; apply resumes", g.gid,
                 SecondsSince(g.key_wait_since));
  }
  g.apply_wait_lo = g.apply_wait_hi = 0;
  g.key_wait_since = {};
  g.key_wait_error_logged = false;
  g.key_wait_gauge->Set(0);
}

uint64_t Driver::ApplyEntries(Group& g, const std::vector<raft::Entry>& entries,
                              rocksdb::WriteBatchWithIndex& batch, std::vector<Applied>& applied) {
  rocksdb::ColumnFamilyHandle* meta_cf = engine_->meta();
  for (const raft::Entry& e : entries) {
    // The reply is rendered only for a local client waiting on this entry.
    std::string reply;
    std::optional<data::RespReply> writer;
    if (e.type == raft::EntryType::kNormal) {
      absl::StatusOr<ProposalId> id = DecodeEntryProposalId(e.data);
      if (id.ok() && id->proposer == options_.node_id) {
        auto it = g.proposals.find(id->request_id);
        if (it != g.proposals.end() && it->second.reply_done) {
          writer.emplace(it->second.protocol, &reply);
        }
      }
    }
    absl::StatusOr<std::optional<AppliedEntry>> staged =
        kv_->StageApply(batch, g.gid, e, writer.has_value() ? &*writer : nullptr);
    if (!staged.ok()) {
      // §9: sealed under a key this node does not hold yet (nothing was staged): wait for it.
      if (IsKeyWaitBeforeStaging(staged.status())) {
        NoteKeyWait(g, staged.status());
        return e.index;
      }
      Fatal(absl::StrCat("group ", g.gid, ": apply of entry ", e.index, ": ",
                         staged.status().ToString()));
    }
    std::optional<AppliedEntry>& a = *staged;
    if (!a.has_value()) continue;  // applied before a restart
    if (e.type == raft::EntryType::kConfChange) {
      raft::ConfChange cc;
      if (!raft::DecodeConfChange(e.data, &cc)) {
        Fatal(absl::StrCat("group ", g.gid, ": committed conf change at ", e.index,
                           " does not decode"));
      }
      // §7.4: (1) the core, (2) the next peers with suffrage stamped from its ConfState,
      // (3) conf_state, peers and bootstrap_era in the batch of the applied index, (4) memory.
      const raft::ConfState cs = g.node->ApplyConfChange(cc);
      // Named before the change: a removed member is gone from the peers after it.
      std::string changed_name = MemberName(g.peers.peers, cc.node_id);
      std::string problem;
      g.peers = NextPeersAfterConfChange(g.peers, cc, cs, e.index, &problem);
      if (!problem.empty())
        spdlog::error("group {}: conf change at {}: {}", g.gid, e.index, problem);
      batch.Put(meta_cf, MetaKey(g.gid, meta::kConfState),
                EncodeConfStateRecord(ConfStateRecord{e.index, cs}));
      batch.Put(meta_cf, MetaKey(g.gid, meta::kPeers), EncodePeersRecord(g.peers));
      batch.Put(meta_cf, MetaKey(g.gid, meta::kBootstrapEra), std::string(1, '\0'));
      for (const Server& server : g.peers.peers) {
        if (server.node_id == cc.node_id) {
          transport_->SetPeerAddress(g.gid, server.node_id, server.address);
        }
      }
      g.bootstrap_era = false;
      transport_->SetBootstrapState(g.gid, false, g.bootstrap_list_hash);
      RefreshConfiguration(g);
      if (cc.type != raft::ConfChangeType::kRemoveNode) {
        changed_name = MemberName(g.peers.peers, cc.node_id);  // an addition is named after it
      }
      spdlog::info("group {}: conf change at {} applied: {} {}; {} voter(s), {} learner(s)", g.gid,
                   e.index,
                   cc.type == raft::ConfChangeType::kRemoveNode       ? "remove"
                   : cc.type == raft::ConfChangeType::kAddLearnerNode ? "add learner"
                                                                      : "add voter",
                   changed_name, cs.voters.size(), cs.learners.size());
      AlarmIfJoinedAsVoter(g, cs, e.index);
    }
    if (g.pending_change.has_value() && e.index >= g.pending_change->index) {
      // Resolved at apply: our entry, or another leader's entry in its place.
      Group::PendingChange pending = *std::move(g.pending_change);
      g.pending_change.reset();
      absl::StatusOr<uint64_t> outcome =
          e.index == pending.index && e.term == pending.term &&
                  e.type == raft::EntryType::kConfChange
              ? absl::StatusOr<uint64_t>(e.index)
              : absl::StatusOr<uint64_t>(AdminError(
                    AdminErrc::kMembershipChangeLost,
                    absl::StrCat("entry ", pending.index,
                                 " was replaced after a leader change; re-read Configuration")));
      admin_done_.push_back(
          [done = std::move(pending.done), outcome = std::move(outcome)] { done(outcome); });
    }
    applied.push_back(Applied{*std::move(a), std::move(reply)});
  }
  return 0;
}

void Driver::CompleteReads(Group& g) {
  const uint64_t applied = kv_->applied_index(g.gid);
  std::vector<Callback> ready;
  std::erase_if(g.reads_awaiting_apply, [&](auto& entry) {
    if (entry.first > applied) return false;
    ready.push_back(std::move(entry.second.done));
    return true;
  });
  for (Callback& done : ready) done(absl::OkStatus());
}

void Driver::ExpireWaiters(Clock::time_point now) {
  std::vector<Waiter> expired;
  for (auto& [gid, g] : groups_) {
    absl::erase_if(g->proposals, [&](auto& kv) {
      if (kv.second.deadline > now) return false;
      expired.push_back(std::move(kv.second));
      return true;
    });
    absl::erase_if(g->reads_awaiting_index, [&](auto& kv) {
      if (kv.second.deadline > now) return false;
      expired.push_back(std::move(kv.second));
      return true;
    });
    std::erase_if(g->reads_awaiting_apply, [&](auto& entry) {
      if (entry.second.deadline > now) return false;
      expired.push_back(std::move(entry.second));
      return true;
    });
  }
  for (Waiter& w : expired) {
    w.Complete(absl::DeadlineExceededError("request deadline passed before it was applied"), {});
  }
  for (auto& [gid, g] : groups_) {
    if (g->pending_change.has_value() && g->pending_change->deadline <= now) {
      auto done = std::move(g->pending_change->done);
      g->pending_change.reset();
      done(AdminError(AdminErrc::kDeadlineExceeded,
                      "conf change not applied in time; it may still commit"));
    }
  }
}

void Driver::PublishStatus() {
  std::map<GroupId, GroupStatus> fresh;
  for (const auto& [gid, g] : groups_) {
    const raft::Raft& r = g->node->raft();
    GroupStatus st;
    st.role = r.role();
    st.leader = r.lead();
    st.term = r.term();
    st.commit = r.log().committed();
    st.last_index = r.log().LastIndex();
    st.applied = kv_->applied_index(gid);
    st.raft_applied = r.log().applied();
    st.conf_state = r.tracker().conf_state();
    st.snapshot_index = g->snapshot_index;
    st.first_index = g->log->FirstIndex();
    st.cold_start = g->cold_start;
    st.configuration = g->configuration;
    g->term_gauge->Set(static_cast<double>(st.term));
    g->commit_gauge->Set(static_cast<double>(st.commit));
    g->applied_gauge->Set(static_cast<double>(st.applied));
    g->is_leader_gauge->Set(st.role == raft::Role::kLeader ? 1 : 0);
    if (st.leader != g->leader_gauge_id) {
      if (g->leader_gauge != nullptr) g->leader_gauge->Set(0);
      g->leader_gauge = nullptr;
      if (st.leader != raft::kNoNode) {
        g->leader_gauge = Metrics().leader->WithLabels(
            {absl::StrCat(gid), absl::StrCat(absl::Hex(st.leader, absl::kZeroPad16))});
        g->leader_gauge->Set(1);
      }
      g->leader_gauge_id = st.leader;
    }
    g->state_gauge->Set(RaftStateValue(st.role));
    g->voters_gauge->Set(static_cast<double>(st.conf_state.voters.size()));
    g->learners_gauge->Set(static_cast<double>(st.conf_state.learners.size()));
    g->is_learner_gauge->Set(st.conf_state.IsLearner(options_.node_id) ? 1 : 0);
    fresh.emplace(gid, std::move(st));
  }
  std::lock_guard<std::mutex> lock(status_mu_);
  status_.swap(fresh);
}

void Driver::FailAll(const absl::Status& status) {
  std::vector<Waiter> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Request& r : requests_) pending.push_back(std::move(r.waiter));
    requests_.clear();
  }
  for (auto& [gid, g] : groups_) {
    for (auto& [id, w] : g->proposals) pending.push_back(std::move(w));
    for (auto& [ctx, w] : g->reads_awaiting_index) pending.push_back(std::move(w));
    for (auto& [index, w] : g->reads_awaiting_apply) pending.push_back(std::move(w));
    for (Request& r : g->held) pending.push_back(std::move(r.waiter));
    g->held.clear();
    g->proposals.clear();
    g->reads_awaiting_index.clear();
    g->reads_awaiting_apply.clear();
  }
  for (Waiter& w : pending) w.Complete(status, {});
  std::deque<AdminRequest> admin;
  {
    std::lock_guard<std::mutex> lock(mu_);
    admin.swap(admin_requests_);
  }
  for (AdminRequest& r : admin) r.fail(status);
  for (auto& [gid, g] : groups_) {
    if (g->pending_change.has_value()) {
      auto done = std::move(g->pending_change->done);
      g->pending_change.reset();
      done(status);
    }
    if (g->pending_transfer.has_value()) {
      auto done = std::move(g->pending_transfer->done);
      g->pending_transfer.reset();
      done(status);
    }
  }
}

void Driver::SendMessages(std::vector<GroupMessage> out) {
  // Before anything leaves: a MsgTimeoutNow among these voids the sender's lease, and its
  // target may be elected before its peers' leases would otherwise end.
  PublishReadLeases();
  std::vector<GroupMessage> plain;
  plain.reserve(out.size());
  for (GroupMessage& gm : out) {
    if (gm.message.type != raft::MessageType::kSnap) {
      plain.push_back(std::move(gm));
      continue;
    }
    Group& g = *groups_.at(gm.group);
    const uint64_t index = gm.message.snapshot.metadata.index;
    const raft::ConfState& snap_conf = gm.message.snapshot.metadata.conf_state;
    if (!snap_conf.IsVoter(gm.message.to) && !snap_conf.IsLearner(gm.message.to)) {
      // A member added after this snapshot would refuse it (not in its ConfState): take a
      // fresh one that names it; the core asks again and gets the new record.
      if (!g.snapshot_wanted) {
        spdlog::info("group {}: snapshot {} predates member {}; taking a fresh snapshot", g.gid,
                     index, MemberName(g.peers.peers, gm.message.to));
      }
      g.snapshot_wanted = true;
      g.node->ReportSnapshot(gm.message.to, /*failed=*/true);
      continue;
    }
    if (options_.data_dir.empty()) {
      spdlog::error("group {}: cannot send snapshot {} without a data directory", g.gid, index);
      g.node->ReportSnapshot(gm.message.to, /*failed=*/true);
      continue;
    }
    spdlog::info("group {}: sending snapshot {} to {}", g.gid, index,
                 MemberName(g.peers.peers, gm.message.to));
    OutboundSnapshot snap;
    snap.group = gm.group;
    snap.fsm_path = FsmPath(options_.data_dir, gm.group, index);
    snap.peers_record = EncodePeersRecord(g.peers);
    snap.hold = file_refs_->Acquire(gm.group, index);
    snap.message = std::move(gm.message);
    transport_->SendSnapshot(std::move(snap));
  }
  if (!plain.empty()) transport_->Send(std::move(plain));
}

void Driver::InstallSnapshot(Group& g, const raft::Snapshot& snap) {
  const uint64_t index = snap.metadata.index;
  absl::StatusOr<SnapshotToken> token = DecodeSnapshotToken(snap.data);
  if (!token.ok())
    Fatal(absl::StrCat("group ", g.gid, ": snapshot ", index, ": ", token.status().ToString()));
  RestoreRequest req;
  req.gid = g.gid;
  req.fsm_path = FsmPath(options_.data_dir, g.gid, index);
  req.token_crc = token->crc32c;
  req.index = index;
  req.conf_state = snap.metadata.conf_state;
  req.max_bytes = options_.max_snapshot_bytes;
  if (g.carried_peers.has_value() && g.carried_peers->first == index) {
    absl::StatusOr<PeersRecord> peers = DecodePeersRecord(g.carried_peers->second);
    if (peers.ok()) {
      req.peers = *std::move(peers);
    } else {
      spdlog::error("group {}: peers record carried with snapshot {}: {}", g.gid, index,
                    peers.status().ToString());
    }
  }
  g.carried_peers.reset();
  const Clock::time_point start = Clock::now();
  // The runtime install always restores: the state machine is stale by construction. A
  // failure here leaves the marker (or applied < X) and the durable file for the next Open.
  absl::StatusOr<RestoreResult> restored = fsm_->Restore(req);
  if (!restored.ok()) {
    Fatal(absl::StrCat("group ", g.gid, ": install snapshot ", index, ": ",
                       restored.status().ToString()));
  }
  if (absl::Status s = fsm_->LoadDurableHeaderState(g.gid); !s.ok()) {
    Fatal(absl::StrCat("group ", g.gid, ": header state after install: ", s.ToString()));
  }
  fsm_->ApplySnapshotHeader(g.gid, restored->header, ApplyMode::kRestore);
  kv_->AdvanceApplied(g.gid, index);
  kv_->AdvanceClockCeiling(g.gid, fsm_->clock_ceiling_ms(g.gid));

  std::string peers_bytes;
  rocksdb::Status rs = engine_->db()->Get(rocksdb::ReadOptions(), engine_->meta(),
                                          MetaKey(g.gid, meta::kPeers), &peers_bytes);
  if (rs.ok()) {
    absl::StatusOr<PeersRecord> peers = DecodePeersRecord(peers_bytes);
    if (!peers.ok())
      Fatal(absl::StrCat("group ", g.gid, ": peers after install: ", peers.status().ToString()));
    g.peers = *std::move(peers);
    for (const Server& server : g.peers.peers) {
      transport_->SetPeerAddress(g.gid, server.node_id, server.address);
    }
  }
  std::string era;
  rs = engine_->db()->Get(rocksdb::ReadOptions(), engine_->meta(),
                          MetaKey(g.gid, meta::kBootstrapEra), &era);
  g.bootstrap_era = rs.ok() && era == std::string(1, '\x01');
  transport_->SetBootstrapState(g.gid, g.bootstrap_era, g.bootstrap_list_hash);
  RefreshConfiguration(g);
  if (g.pending_change.has_value() && index >= g.pending_change->index) {
    // The snapshot covers the entry; whether it was ours is unknown here.
    auto done = std::move(g.pending_change->done);
    g.pending_change.reset();
    admin_done_.push_back([done = std::move(done), index] {
      done(AdminError(
          AdminErrc::kMembershipChangeLost,
          absl::StrCat("a snapshot at ", index, " replaced the log; re-read Configuration")));
    });
  }
  AlarmIfJoinedAsVoter(g, snap.metadata.conf_state, index);
  g.snapshot_index = index;
  g.recorded_snapshot.store(index);
  g.snapshot_index_gauge->Set(static_cast<double>(index));
  g.snapshots_installed->Inc();
  snapshots_installed_.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("group {}: installed snapshot {} (term {}, {} rows) in {:.3f}s", g.gid, index,
               snap.metadata.term, restored->rows, SecondsSince(start));
  PruneSnapshotFiles(g);
}

void Driver::MaybeScheduleSnapshots(Clock::time_point now) {
  if (options_.data_dir.empty() || options_.snapshot_count == 0) return;
  for (auto& [gid, g] : groups_) {
    if (g->snapshot_in_progress || now < g->next_snapshot_attempt) continue;
    const uint64_t applied = kv_->applied_index(gid);
    const bool wanted = g->snapshot_wanted && applied > g->snapshot_index;
    if (applied < g->snapshot_index + options_.snapshot_count && !wanted) continue;
    g->snapshot_wanted = false;
    // The apply batch of `applied` is written: the view shows the group exactly at it.
    const rocksdb::Snapshot* view = engine_->db()->GetSnapshot();
    g->snapshot_in_progress = true;
    g->snapshot_job_hold = file_refs_->Acquire(gid, applied);
    {
      std::lock_guard<std::mutex> lock(snap_mu_);
      snap_jobs_.push_back(SnapshotJob{gid, applied, view});
    }
    snap_cv_.notify_one();
  }
}

void Driver::SnapshotLoop() {
  while (true) {
    SnapshotJob job;
    {
      std::unique_lock<std::mutex> lock(snap_mu_);
      snap_cv_.wait(lock, [this] { return snap_stop_ || !snap_jobs_.empty(); });
      if (snap_stop_) return;
      job = snap_jobs_.front();
      snap_jobs_.pop_front();
    }
    absl::StatusOr<WrittenSnapshot> written = WriteGroupSnapshot(
        engine_, options_.data_dir, job.gid, job.index, job.view, options_.max_snapshot_bytes);
    engine_->db()->ReleaseSnapshot(job.view);
    {
      std::lock_guard<std::mutex> lock(mu_);
      snapshots_done_.push_back(SnapshotDone{job.gid, job.index, std::move(written)});
    }
    wake_.notify_one();
  }
}

void Driver::RecordSnapshot(SnapshotDone& done) {
  Group& g = *groups_.at(done.gid);
  g.snapshot_in_progress = false;
  if (!done.result.ok()) {
    spdlog::error("group {}: snapshot at {} failed: {}", g.gid, done.index,
                  done.result.status().ToString());
    g.next_snapshot_attempt = Clock::now() + kSnapshotRetryDelay;
    g.snapshot_job_hold.reset();
    return;
  }
  const WrittenSnapshot& w = *done.result;
  if (w.meta_below_latch && !g.latch_error_logged) {
    g.latch_error_logged = true;
    spdlog::error("group {}: meta cutover below the snapshot header latch; writing v2 with {}",
                  g.gid, w.header.raft_envelope_cutover_index);
  }
  const std::string token = EncodeSnapshotToken(SnapshotToken{w.index, w.crc});
  rocksdb::WriteBatch batch;
  absl::StatusOr<raft::Snapshot> rec =
      w.index > g.snapshot_index
          ? g.log->StageCreateSnapshot(batch, w.index, &w.conf_state, token)
          : absl::StatusOr<raft::Snapshot>(raft::RaftError(raft::RaftErrc::kSnapOutOfDate));
  if (!rec.ok()) {
    // An installed snapshot overtook this one: the file is not referenced.
    spdlog::info("group {}: dropping snapshot {}: {}", g.gid, w.index, rec.status().ToString());
    g.snapshot_job_hold.reset();
    PruneSnapshotFiles(g);
    return;
  }
  // §3 checkpoint, in the record's batch: applied_index >= X, never rewound.
  if (absl::Status s = StageAppliedIndexCheckpoint(engine_, g.gid, w.index, batch); !s.ok()) {
    Fatal(absl::StrCat("group ", g.gid, ": checkpoint: ", s.ToString()));
  }
  if (w.header.version == FsmHeaderVersion::kV2) {
    batch.Put(engine_->meta(), MetaKey(g.gid, meta::kSnapshotHeaderLatch),
              EncodeU64BE(w.header.raft_envelope_cutover_index));
  }
  if (absl::Status s = engine_->Write(batch, /*sync=*/true); !s.ok()) {
    Fatal("snapshot record write: " + s.ToString());
  }
  g.snapshot_index = w.index;
  g.recorded_snapshot.store(w.index);
  g.snapshot_index_gauge->Set(static_cast<double>(w.index));
  g.snapshots_created->Inc();
  snapshots_created_.fetch_add(1, std::memory_order_relaxed);

  // Compaction only after the record and checkpoint are durable. Losing this batch in a
  // crash only keeps more log.
  const uint64_t compact_to =
      w.index > options_.log_retain_entries ? w.index - options_.log_retain_entries : 0;
  if (compact_to >= g.log->FirstIndex()) {
    rocksdb::WriteBatch compact;
    if (absl::Status s = g.log->StageCompact(compact, compact_to); !s.ok()) {
      Fatal(absl::StrCat("group ", g.gid, ": compact to ", compact_to, ": ", s.ToString()));
    }
    if (absl::Status s = engine_->Write(compact, /*sync=*/false); !s.ok()) {
      Fatal("log compaction write: " + s.ToString());
    }
  }
  spdlog::info("group {}: snapshot {} recorded ({} rows, {} bytes); log starts at {}", g.gid,
               w.index, w.rows, w.bytes, g.log->FirstIndex());
  g.snapshot_job_hold.reset();
  PruneSnapshotFiles(g);
}

void Driver::ActiveExpire() {
  constexpr size_t kKeysPerEntry = 128;
  for (auto& [gid, g] : groups_) {
    if (g->node->raft().role() != raft::Role::kLeader) continue;
    const uint64_t now = std::max(WallClockMs(), kv_->clock_ceiling_ms(gid));
    absl::StatusOr<std::vector<std::string>> expired =
        data::FindExpiredKeys(engine_, gid, now, options_.expire_scan_rows, &g->expire_cursor);
    if (!expired.ok()) {
      spdlog::warn("group {}: active expiry scan: {}", gid, expired.status().ToString());
      continue;
    }
    for (size_t i = 0; i < expired->size(); i += kKeysPerEntry) {
      std::vector<std::string_view> argv = {data::kActiveExpireCommand};
      for (size_t j = i; j < std::min(expired->size(), i + kKeysPerEntry); ++j) {
        argv.push_back((*expired)[j]);
      }
      // No waiter: request id 0 is never issued to a client.
      absl::Status s = ProposeEntry(*g, ProposalId{options_.node_id, 0}, now, EncodeCommand(argv));
      if (!s.ok()) break;  // leadership lost: the next leader sweeps
      Metrics().expired_keys_proposed->Inc(static_cast<double>(argv.size() - 1));
    }
  }
}

void Driver::CollectGarbage() {
  for (auto& [gid, g] : groups_) {
    if (g->node->raft().role() != raft::Role::kLeader) continue;
    absl::StatusOr<std::optional<std::vector<std::string>>> command =
        data::NextGcCommand(engine_, gid, options_.gc_rows_per_entry, &g->gc_cursor);
    if (!command.ok()) {
      spdlog::warn("group {}: garbage scan: {}", gid, command.status().ToString());
      continue;
    }
    if (!command->has_value()) continue;
    std::vector<std::string_view> argv((*command)->begin(), (*command)->end());
    // No waiter: request id 0 is never issued to a client. A refusal (leadership lost) is
    // fine: the next leader continues from the replicated queue.
    (void)ProposeEntry(*g, ProposalId{options_.node_id, 0},
                       std::max(WallClockMs(), kv_->clock_ceiling_ms(gid)), EncodeCommand(argv));
  }
}

void Driver::PruneSnapshotFiles(Group& g) {
  if (options_.data_dir.empty()) return;
  const std::vector<uint64_t> in_flight = file_refs_->InFlight(g.gid);
  absl::StatusOr<std::vector<std::string>> removed = RemoveUnreferencedFsmFiles(
      GroupSnapshotDir(options_.data_dir, g.gid), g.snapshot_index, in_flight);
  if (!removed.ok()) {
    spdlog::warn("group {}: pruning snapshot files: {}", g.gid, removed.status().ToString());
  }
}

// ---- Membership administration (spec/membership.md §7, §8) ----

RaftAdmin* Driver::Admin(GroupId gid) const {
  auto it = admins_.find(gid);
  return it == admins_.end() ? nullptr : it->second.get();
}

absl::StatusOr<ClusterConfiguration> Driver::Configuration(GroupId gid) const {
  std::lock_guard<std::mutex> lock(status_mu_);
  auto it = status_.find(gid);
  if (it == status_.end()) return absl::NotFoundError(absl::StrCat("group ", gid, " not hosted"));
  if (it->second.configuration == nullptr) return ClusterConfiguration{};
  return *it->second.configuration;
}

uint64_t Driver::JoinRoleViolationCount() { return g_join_role_violations.load(); }

void Driver::EnqueueAdmin(AdminRequest r) {
  absl::Status refusal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      refusal = absl::UnavailableError("driver stopped");
    } else if (admin_requests_.size() >= options_.admin_queue_capacity) {
      refusal = absl::ResourceExhaustedError("BUSY: driver admin queue full");
    } else {
      admin_requests_.push_back(std::move(r));
    }
  }
  if (!refusal.ok()) {
    r.fail(refusal);
    return;
  }
  wake_.notify_one();
}

void Driver::RefreshConfiguration(Group& g) {
  const raft::ConfState& cs = g.node->raft().tracker().conf_state();
  auto conf = std::make_shared<ClusterConfiguration>();
  conf->index = g.peers.index;
  auto add = [&](raft::NodeId id, bool voter) {
    Server s;
    s.node_id = id;
    s.voter = voter;
    for (const Server& p : g.peers.peers) {
      if (p.node_id == id) {
        s.raft_id = p.raft_id;
        s.address = p.address;
      }
    }
    conf->servers.push_back(std::move(s));
  };
  for (raft::NodeId id : cs.voters) add(id, true);
  for (raft::NodeId id : cs.learners) add(id, false);
  g.configuration = std::move(conf);
}

void Driver::AlarmIfJoinedAsVoter(Group& g, const raft::ConfState& conf, uint64_t index) {
  const bool was_learner = g.self_learner;
  g.self_learner = conf.IsLearner(options_.node_id);
  if (!options_.join_as_learner || !conf.IsVoter(options_.node_id) || g.join_alarm_fired) return;
  g.join_alarm_fired = true;
  if (was_learner) {
    // The runbook's path: joined as a learner, caught up, promoted. Not a violation.
    spdlog::info(
        "group={} node_id={:016x} raft_id={} conf_index={}: promoted from learner to voter", g.gid,
        options_.node_id, MemberName(g.peers.peers, options_.node_id), index);
    return;
  }
  g.join_role_violation->Inc();
  g_join_role_violations.fetch_add(1);
  spdlog::error(
      "group={} node_id={:016x} raft_id={} conf_index={}: joined as voter despite "
      "--raftJoinAsLearner (alarm only: the node keeps running and counts toward quorum)",
      g.gid, options_.node_id, MemberName(g.peers.peers, options_.node_id), index);
}

absl::Status Driver::AdminNotLeader(const Group& g) const {
  const raft::NodeId lead = g.node->raft().lead();
  std::string raft_id;
  std::string address;
  for (const Server& s : g.peers.peers) {
    if (s.node_id == lead) {
      raft_id = s.raft_id;
      address = s.address;
    }
  }
  std::string detail = absl::StrCat("group ", g.gid, ": this node does not lead; leader ");
  if (lead == raft::kNoNode) {
    absl::StrAppend(&detail, "unknown (election in progress?)");
  } else {
    absl::StrAppend(&detail,
                    raft_id.empty() ? absl::StrCat(absl::Hex(lead, absl::kZeroPad16)) : raft_id);
    if (!address.empty()) absl::StrAppend(&detail, " at ", address);
  }
  absl::Status s = raft::RaftError(raft::RaftErrc::kNotLeader, detail);
  s.SetPayload(kNotLeaderPayloadUrl, absl::Cord(EncodeU64BE(lead)));
  if (!address.empty()) SetNotLeaderAddress(&s, address);
  return s;
}

void Driver::StartMembershipChange(Group& g, const ChangeRequest& change,
                                   Clock::time_point deadline,
                                   std::function<void(absl::StatusOr<uint64_t>)> done) {
  const raft::Raft& r = g.node->raft();
  // §7.2 step 2: leader, pending change, previous_index; then the core's own checks.
  if (r.role() != raft::Role::kLeader) return done(AdminNotLeader(g));
  const raft::Status st = g.node->GetStatus();
  if (st.pending_conf_index > st.applied) {
    return done(AdminError(AdminErrc::kMembershipChangePending,
                           absl::StrCat("group ", g.gid, ": conf change at ", st.pending_conf_index,
                                        " not yet applied (applied ", st.applied, ")")));
  }
  if (g.pending_change.has_value()) {
    // The core has nothing pending: the waited-for entry was lost with a leadership change.
    auto lost = std::move(g.pending_change->done);
    g.pending_change.reset();
    lost(AdminError(AdminErrc::kMembershipChangeLost, "superseded; re-read Configuration"));
  }
  if (change.previous_index != 0 && change.previous_index != g.peers.index) {
    return done(AdminError(AdminErrc::kConfigIndexMismatch,
                           absl::StrCat("group ", g.gid, ": previous_index ", change.previous_index,
                                        " but the configuration index is ", g.peers.index)));
  }
  absl::Status s;
  switch (change.kind) {
    case ChangeKind::kPromote:
      s = g.node->PromoteLearner(change.server.node_id, change.min_applied_index,
                                 change.skip_min_applied_check);
      break;
    case ChangeKind::kAddVoter:
    case ChangeKind::kAddLearner:
      s = g.node->ProposeConfChange(raft::ConfChange{
          change.kind == ChangeKind::kAddVoter ? raft::ConfChangeType::kAddNode
                                               : raft::ConfChangeType::kAddLearnerNode,
          change.server.node_id, EncodeConfChangeContext(change.server)});
      break;
    case ChangeKind::kRemove:
      s = g.node->ProposeConfChange(
          raft::ConfChange{raft::ConfChangeType::kRemoveNode, change.server.node_id, {}});
      break;
  }
  if (!s.ok()) {
    if (IsNotLeader(s)) return done(AdminNotLeader(g));
    return done(ChangeError(s));
  }
  const uint64_t index = g.node->raft().log().LastIndex();
  spdlog::info("group {}: proposed membership change for {} ({:016x}) at {}", g.gid,
               change.server.raft_id, change.server.node_id, index);
  g.pending_change = Group::PendingChange{index, g.node->raft().term(), deadline, std::move(done)};
}

void Driver::StartTransfer(Group& g, const TransferRequest& request, Clock::time_point deadline,
                           std::function<void(absl::StatusOr<raft::NodeId>)> done) {
  const raft::Raft& r = g.node->raft();
  if (r.role() != raft::Role::kLeader) return done(AdminNotLeader(g));
  if (g.pending_transfer.has_value()) {
    return done(raft::RaftError(raft::RaftErrc::kTransferInProgress,
                                absl::StrCat("to ", absl::Hex(g.pending_transfer->target))));
  }
  const raft::Status st = g.node->GetStatus();
  if (st.pending_conf_index > st.applied) {
    return done(raft::RaftError(raft::RaftErrc::kConfChangePending,
                                absl::StrCat("group ", g.gid, ": conf change at ",
                                             st.pending_conf_index, " not yet applied")));
  }
  const raft::ConfState& cs = st.conf_state;
  // Named targets: voters, with the configured address when one is given.
  std::vector<TransferTarget> named;
  if (!request.target.raft_id.empty()) {
    named.push_back(request.target);
  } else {
    named = request.candidates;
  }
  for (const TransferTarget& t : named) {
    const raft::NodeId id = DeriveNodeId(t.raft_id);
    if (!cs.IsVoter(id)) {
      return done(raft::RaftError(raft::RaftErrc::kTransferTargetNotVoter,
                                  absl::StrCat(t.raft_id, " is not a voter of group ", g.gid)));
    }
    if (!t.address.empty()) {
      std::string configured;
      for (const Server& s : g.peers.peers) {
        if (s.node_id == id) configured = s.address;
      }
      if (configured != t.address) {
        return done(AdminError(AdminErrc::kAddressMismatch,
                               absl::StrCat(t.raft_id, " has address ", configured, " in group ",
                                            g.gid, ", not ", t.address)));
      }
    }
  }
  const uint64_t last = st.last_index;
  auto eligible = [&](raft::NodeId id) {
    if (!request.gated) return true;
    auto it = st.progress.find(id);
    if (it == st.progress.end()) return false;
    const raft::PeerStatus& p = it->second;
    return last - std::min(last, p.match) <= request.max_lag &&
           p.state == raft::ProgressState::kReplicate && p.recent_active;
  };
  auto match_of = [&](raft::NodeId id) -> uint64_t {
    auto it = st.progress.find(id);
    return it == st.progress.end() ? 0 : it->second.match;
  };
  raft::NodeId target = raft::kNoNode;
  if (!request.target.raft_id.empty()) {
    target = DeriveNodeId(request.target.raft_id);
    if (target == options_.node_id) return done(target);  // already leads: a no-op
  } else if (!named.empty()) {
    for (const TransferTarget& t : named) {
      const raft::NodeId id = DeriveNodeId(t.raft_id);
      if (id == options_.node_id) return done(id);
      if (eligible(id)) {
        target = id;
        break;
      }
    }
  } else {
    // The most caught-up other voter; ties go to the lowest node id (voters are sorted).
    for (raft::NodeId id : cs.voters) {
      if (id == options_.node_id || !eligible(id)) continue;
      if (target == raft::kNoNode || match_of(id) > match_of(target)) target = id;
    }
  }
  if (target == raft::kNoNode) {
    return done(raft::RaftError(
        raft::RaftErrc::kTargetNotCaughtUp,
        absl::StrCat("group ", g.gid, ": no candidate within max_lag ", request.max_lag,
                     " of last index ", last, " and replicating")));
  }
  if (request.gated && !eligible(target)) {
    return done(raft::RaftError(
        raft::RaftErrc::kTargetNotCaughtUp,
        absl::StrCat("group ", g.gid, ": target lags by ", last - std::min(last, match_of(target)),
                     " (max_lag ", request.max_lag, ") or is not replicating")));
  }
  raft::TransferOptions opts;
  opts.gated = request.gated;
  opts.max_lag = request.max_lag;
  if (absl::Status s = g.node->TransferLeader(target, opts); !s.ok()) {
    return done(IsNotLeader(s) ? AdminNotLeader(g) : s);
  }
  spdlog::info("group {}: transferring leadership to {}", g.gid, MemberName(g.peers.peers, target));
  // The core abandons a transfer after one election timeout; a little slack for the new
  // leader's first message to arrive.
  const Clock::time_point timeout =
      Clock::now() + 2 * options_.election_ticks * options_.tick_interval;
  g.pending_transfer = Group::PendingTransfer{target, std::min(deadline, timeout), std::move(done)};
}

void Driver::CheckTransfers(Clock::time_point now) {
  for (auto& [gid, g] : groups_) {
    if (!g->pending_transfer.has_value()) continue;
    const raft::Raft& r = g->node->raft();
    Group::PendingTransfer& t = *g->pending_transfer;
    absl::StatusOr<raft::NodeId> outcome;
    if (r.lead() == t.target) {
      outcome = t.target;
    } else if (now >= t.deadline ||
               (r.role() == raft::Role::kLeader && g->node->GetStatus().lead_transferee == 0)) {
      outcome = AdminError(
          AdminErrc::kTransferTimedOut,
          absl::StrCat("group ", gid, ": leadership did not move to ",
                       absl::Hex(t.target, absl::kZeroPad16), " within an election timeout"));
    } else {
      continue;
    }
    auto done = std::move(t.done);
    g->pending_transfer.reset();
    done(std::move(outcome));
  }
}

AdminStatus Driver::AdminStatusOf(Group& g) const {
  const raft::Raft& r = g.node->raft();
  const raft::Status st = g.node->GetStatus();
  AdminStatus out;
  const raft::ConfState& cs = st.conf_state;
  switch (r.role()) {
    case raft::Role::kLeader:
      out.role = AdminRole::kLeader;
      break;
    case raft::Role::kCandidate:
    case raft::Role::kPreCandidate:
      out.role = AdminRole::kCandidate;
      break;
    case raft::Role::kFollower:
      out.role = cs.IsLearner(options_.node_id) ? AdminRole::kLearner : AdminRole::kFollower;
      break;
  }
  out.leader_id = r.lead();
  for (const Server& s : g.peers.peers) {
    if (s.node_id == out.leader_id) {
      out.leader_raft_id = s.raft_id;
      out.leader_address = s.address;
    }
  }
  if (out.leader_id == options_.node_id) out.leader_address = options_.groups.at(g.gid);
  out.term = r.term();
  out.commit_index = r.log().committed();
  out.applied_index = kv_->applied_index(g.gid);
  out.last_log_index = r.log().LastIndex();
  out.last_snapshot_index = g.snapshot_index;
  out.fsm_pending = out.commit_index > out.applied_index ? out.commit_index - out.applied_index : 0;
  out.voter_count = cs.voters.size();
  out.learner_count = cs.learners.size();
  if (out.role != AdminRole::kLeader && g.last_leader_contact != Clock::time_point{}) {
    out.last_contact_nanos = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - g.last_leader_contact)
            .count());
  }
  out.configuration_index = g.peers.index;
  out.pending_conf_change = st.pending_conf_index > st.applied ? st.pending_conf_index : 0;
  out.lead_transferee = st.lead_transferee;
  out.bootstrap_era = g.bootstrap_era;
  out.bootstrap_list_hash = g.bootstrap_list_hash;
  for (const auto& [id, p] : st.progress) {
    PeerProgress pp;
    pp.node_id = id;
    pp.voter = !cs.IsLearner(id);
    for (const Server& s : g.peers.peers) {
      if (s.node_id == id) {
        pp.raft_id = s.raft_id;
        pp.address = s.address;
      }
    }
    pp.match = p.match;
    pp.next = p.next;
    pp.state = p.state;
    pp.recent_active = p.recent_active;
    pp.pending_snapshot_index = p.pending_snapshot;
    pp.inflight = p.inflight;
    out.peers.push_back(std::move(pp));
  }
  return out;
}

}  // namespace tessera::shard
