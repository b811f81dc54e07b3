// The shard's multi-group driver: ONE thread owns every group's RawNode and GroupLog, ticks
// them, steps messages, group-commits all groups' Ready in one synced WriteBatch, applies.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raft/rawnode.h"
#include "shard/admin/raft_admin.h"
#include "shard/config/membership_flags.h"
#include "shard/driver/cold_start.h"
#include "shard/driver/shard_state_machine.h"
#include "shard/driver/snapshot_writer.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/membership/server.h"
#include "shard/storage/engine.h"
#include "shard/storage/group_log.h"
#include "shard/transport/transport.h"

namespace tessera::shard {

struct DriverOptions {
  raft::NodeId node_id = raft::kNoNode;
  // Hosted groups -> this node's raft listener address for the group.
  std::map<GroupId, std::string> groups;
  // Groups this node bootstraps, with their full initial voter lists (membership.md §2).
  absl::flat_hash_map<GroupId, std::vector<Server>> bootstrap_lists;
  std::chrono::milliseconds tick_interval{100};
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  bool lease_reads = true;
  size_t request_queue_capacity = 4096;   // Propose/Read beyond it: RESOURCE_EXHAUSTED
  size_t inbound_queue_capacity = 65536;  // peer messages beyond it are dropped
  std::chrono::milliseconds request_timeout{5000};
  bool apply_sync = true;  // --fsmSyncMode=sync (snapshots-and-cold-start.md §0)
  // Snapshots (snapshots-and-cold-start.md §2, §4). Files live under <data_dir>/snapshots.
  std::string data_dir;
  uint64_t snapshot_count = 10000;     // applied entries between snapshots; 0 = never
  uint64_t log_retain_entries = 5000;  // entries kept below a snapshot for slow followers
  uint64_t max_snapshot_bytes = uint64_t{16} << 30;
  SnapshotVerifyFailure snapshot_verify_failure = SnapshotVerifyFailure::kRefuse;
  // Cold-start outcomes per group (§9); null disables them (tests).
  ColdStartObserver* cold_start_observer = nullptr;
  uint64_t seed = 0;  // election-timeout randomness, mixed with node and group ids
  // Active expiry on groups this node leads: every interval, up to expire_scan_rows metadata
  // rows are examined per group and expired keys proposed for deletion. 0 disables it.
  std::chrono::milliseconds expire_interval{1000};
  size_t expire_scan_rows = 1024;
  // Collection of deleted collections' rows (data/gc.h) on groups this node leads: every
  // interval, one TESSERA.GC entry deleting up to gc_rows_per_entry rows. 0 disables it.
  std::chrono::milliseconds gc_interval{100};
  size_t gc_rows_per_entry = 4096;
  // --raftJoinAsLearner: an alarm (never a veto) when this node finds itself a voter (§7.6).
  bool join_as_learner = false;
  size_t admin_queue_capacity = 64;  // admin calls waiting for the driver thread
  // Applies replicated encryption ops (spec/encryption.md §8); null when encryption is off on
  // this node (such an op then halts the apply). Outlives the driver.
  encryption::EncryptionApplier* encryption_applier = nullptr;
  // Asks for a runtime ResyncSidecar (spec/encryption.md §7, §9) when an entry is sealed under a
  // raft key this node does not hold; called on the driver thread at most every 5 s per waiting
  // group, so it must not block (encryption::KeyResyncWorker::Request). Null: only the local
  // default-group apply can deliver the key.
  std::function<void()> encryption_key_resync;
};

// node id, hosted groups and bootstrap lists from the resolved membership flags.
DriverOptions DriverOptionsFromMembership(const MembershipConfig& config);

// A snapshot of one group, refreshed by the driver after every loop iteration.
struct GroupStatus {
  raft::Role role = raft::Role::kFollower;
  raft::NodeId leader = raft::kNoNode;
  uint64_t term = 0;
  uint64_t commit = 0;
  uint64_t applied = 0;       // the state machine's (KvStateMachine::applied_index)
  uint64_t raft_applied = 0;  // the core's: Config::applied at Open, then each Advance
  uint64_t last_index = 0;
  raft::ConfState conf_state;
  uint64_t snapshot_index = 0;                  // recorded snapshot (0 = none)
  uint64_t first_index = 0;                     // first entry still in the log
  std::optional<ColdStartDecision> cold_start;  // this process's cold-start decision
  // Members with suffrage and the configuration index; replaced (never mutated) on change.
  std::shared_ptr<const ClusterConfiguration> configuration;
};

// Group-commit counters (monotonic).
struct DriverCounters {
  uint64_t log_syncs = 0;          // synced raftlog WriteBatches (all groups of one iteration)
  uint64_t entries_persisted = 0;  // log entries in those batches
  uint64_t apply_batches = 0;
  uint64_t entries_applied = 0;
  uint64_t snapshots_created = 0;    // recorded by this node's scheduler
  uint64_t snapshots_installed = 0;  // received from a leader and restored
};

// NOT_LEADER: FAILED_PRECONDITION made by raft::RaftError(kNotLeader) carrying the known
// leader (kNoNode when unknown) as a payload.
absl::Status NotLeaderError(GroupId gid, raft::NodeId leader);
bool IsNotLeader(const absl::Status& status);
raft::NodeId NotLeaderHint(const absl::Status& status);

// The moment a read outside the driver must stop trusting a lease that the core holds while
// its tick count (now `ticks`) is below `expiry_tick` (raft::Raft::LeaseExpiryTick), given the
// due time of the next tick; nullopt when too little of it is left. Never later than the due
// time of tick `expiry_tick`.
std::optional<std::chrono::steady_clock::time_point> LeaseReadDeadline(
    std::chrono::steady_clock::time_point next_tick, std::chrono::steady_clock::duration interval,
    uint64_t ticks, uint64_t expiry_tick);

class Driver {
 public:
  // Runs on the driver thread (or on the caller's thread for immediate refusals such as a
  // full queue). Must not block; it may call Propose/Read again.
  using Callback = std::function<void(absl::Status)>;
  // A proposal's outcome and, when OK, the command's reply as RESP bytes.
  using ReplyCallback = std::function<void(absl::Status, std::string reply)>;

  // Bootstraps uninitialized groups that have a list (one synced batch each), loads every
  // group's log, ConfState and applied index, and builds the RawNodes. Does not start the loop.
  // The engine and transport must outlive the driver.
  static absl::StatusOr<std::unique_ptr<Driver>> Open(StorageEngine* engine, Transport* transport,
                                                      DriverOptions options);
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Starts the transport and the driver thread.
  absl::Status Start();
  // Joins the driver thread, stops the transport, and fails every waiting request with
  // UNAVAILABLE. Idempotent.
  void Stop();

  // Thread-safe, never blocks on the driver. `command` is a KV command (EncodeSetCommand, ...);
  // the callback gets OK once the entry is applied locally.
  void Propose(GroupId gid, std::string command, Callback done);
  // Propose, with the reply the leader's apply produced, rendered in RESP `protocol` (2 or 3).
  void ProposeCommand(GroupId gid, std::string command, int protocol, ReplyCallback done);
  // OK once the local state machine reflects every write acknowledged before the call
  // (lease or ReadIndex on the leader); the caller then reads through kv().
  void Read(GroupId gid, Callback done);
  // True when a read of `gid` may run on the caller's thread now, without Read: this node
  // holds the group's leader lease until a deadline the driver published on its monotonic
  // clock, and had applied every committed entry when it published it (docs/raft.md,
  // "Lease reads outside the driver"). Thread-safe, lock-free.
  bool LeaseReadable(GroupId gid) const;

  absl::StatusOr<GroupStatus> Status(GroupId gid) const;
  // The group's members with suffrage, as of the last published status (no driver round trip).
  absl::StatusOr<ClusterConfiguration> Configuration(GroupId gid) const;
  // The membership API of one hosted group (spec/membership.md §7, §8); null when not hosted.
  // Calls block their caller (never the driver thread) until done or the context ends. Valid
  // as long as the driver.
  RaftAdmin* Admin(GroupId gid) const;
  // Process-wide total of --raftJoinAsLearner alarms (tessera_raft_join_role_violation_total).
  static uint64_t JoinRoleViolationCount();
  DriverCounters counters() const;
  // Groups this Open bootstrapped (empty on a restart).
  const std::vector<GroupId>& bootstrapped_groups() const { return bootstrapped_; }
  const KvStateMachine& kv() const { return *kv_; }
  // The process's RocksDB, for read-only figures (INFO memory and keyspace).
  StorageEngine* engine() const { return engine_; }
  raft::NodeId node_id() const { return options_.node_id; }

 private:
  using Clock = std::chrono::steady_clock;

  struct Waiter {
    Callback done;             // set for Read and Propose
    ReplyCallback reply_done;  // set for ProposeCommand
    int protocol = 2;
    Clock::time_point deadline;

    void Complete(absl::Status status, std::string reply) {
      if (reply_done) {
        reply_done(std::move(status), std::move(reply));
      } else {
        done(std::move(status));
      }
    }
  };
  struct Request {
    enum class Kind { kPropose, kRead } kind;
    GroupId gid;
    std::string command;
    Waiter waiter;
  };
  // Owned by the driver thread.
  struct Group;
  // Snapshot creation off the driver thread (§4): the view is taken on the driver thread right
  // after the apply batch of `index`; the worker writes the file and releases the view.
  struct SnapshotJob {
    GroupId gid;
    uint64_t index;
    const rocksdb::Snapshot* view;
  };
  struct SnapshotDone {
    GroupId gid;
    uint64_t index;
    absl::StatusOr<WrittenSnapshot> result;
  };
  struct SnapshotStatus {
    GroupId gid;
    raft::NodeId to;
    bool ok;
  };
  // Reference counts of .fsm files being streamed to peers (never pruned mid-send).
  class FileRefs;
  // RaftAdmin of one group over the driver's admin queue.
  class GroupAdmin;
  // Work for the driver thread from an admin call: `run` on the driver thread, or `fail`
  // (any thread) when it is refused or the driver stops first.
  struct AdminRequest {
    GroupId gid;
    std::function<void(Group&)> run;
    std::function<void(absl::Status)> fail;
  };
  enum class ChangeKind { kAddVoter, kAddLearner, kPromote, kRemove };
  struct ChangeRequest {
    ChangeKind kind;
    Server server;  // node_id, raft_id; address for additions
    uint64_t previous_index = 0;
    uint64_t min_applied_index = 0;
    bool skip_min_applied_check = false;
  };

  Driver(StorageEngine* engine, Transport* transport, DriverOptions options);

  // Queues a request for the driver thread, or refuses it at once (stopped, queue full).
  void Enqueue(Request r);
  void Run();
  void StepInbound(std::deque<GroupMessage>& inbound,
                   std::vector<std::pair<GroupId, raft::NodeId>>& unreachable);
  void HandleRequest(Request& request);
  void ProcessReady();
  // An applied entry and the reply bytes for its local waiter (empty when none asked).
  struct Applied {
    AppliedEntry entry;
    std::string reply;
  };
  // Applies `fresh` (a Ready's committed entries) after any entries held back by an encryption
  // key wait (spec/encryption.md §9), which are re-read from the core's log.
  void ApplyCommitted(Group& g, const std::vector<raft::Entry>& fresh,
                      rocksdb::WriteBatchWithIndex& batch, std::vector<Applied>& applied);
  // Stages `entries` in order; the index of the entry sealed under a raft key this node does not
  // hold yet, where it stopped (0 when every entry was staged). Other failures are fatal.
  uint64_t ApplyEntries(Group& g, const std::vector<raft::Entry>& entries,
                        rocksdb::WriteBatchWithIndex& batch, std::vector<Applied>& applied);
  // The key wait's bookkeeping: gauge, WARN then ERROR after 30 s, rate-limited resync request.
  void NoteKeyWait(Group& g, const absl::Status& why);
  void EndKeyWait(Group& g);
  // Why a proposal may not enter `g`'s log yet (retryable UNAVAILABLE), OK when it may: a new
  // leader before its term's first entry is applied, or the raft-envelope cutover barrier for
  // anything but an encryption op (spec/encryption.md §9).
  absl::Status ProposalHold(Group& g, std::string_view command);
  // Re-dispatches held proposals in order; those still held wait again, expired ones fail with
  // UNAVAILABLE.
  void ReleaseHeld();
  void CompleteReads(Group& g);
  void ExpireWaiters(Clock::time_point now);
  void PublishStatus();
  // Publishes each group's lease deadline for LeaseReadable: before messages go out (a
  // MsgTimeoutNow voids the lease) and after each apply round.
  void PublishReadLeases();
  void FailAll(const absl::Status& status);
  // Cold start of one group (§7) before its RawNode exists; returns the effective applied index.
  absl::StatusOr<uint64_t> ColdStart(Group& g);
  // --snapshotVerifyFailure=regenerate: a fresh snapshot at `have`, recorded before serving.
  absl::Status RegenerateSnapshot(Group& g, uint64_t have);
  void SnapshotLoop();
  void MaybeScheduleSnapshots(Clock::time_point now);
  void RecordSnapshot(SnapshotDone& done);
  // Restores a snapshot the core accepted (its record and hard state already synced).
  void InstallSnapshot(Group& g, const raft::Snapshot& snap);
  // Sends kSnap messages through the snapshot stream, everything else as usual.
  void SendMessages(std::vector<GroupMessage> out);
  void PruneSnapshotFiles(Group& g);
  // Proposes TESSERA.EXPIRE for keys found expired in groups this node leads.
  void ActiveExpire();
  // Proposes TESSERA.GC for groups this node leads that have garbage queued.
  void CollectGarbage();

  // Admin (driver thread). Queues `r`, or fails it at once (stopped, queue full).
  void EnqueueAdmin(AdminRequest r);
  void StartMembershipChange(Group& g, const ChangeRequest& change, Clock::time_point deadline,
                             std::function<void(absl::StatusOr<uint64_t>)> done);
  void StartTransfer(Group& g, const TransferRequest& request, Clock::time_point deadline,
                     std::function<void(absl::StatusOr<raft::NodeId>)> done);
  AdminStatus AdminStatusOf(Group& g) const;
  // NOT_LEADER naming the known leader's raft id and address.
  absl::Status AdminNotLeader(const Group& g) const;
  // Every proposal of this node goes through here: the encryption intake barrier and the raft
  // envelope (spec/encryption.md §9). Driver thread.
  absl::Status ProposeEntry(Group& g, ProposalId id, uint64_t timestamp_ms,
                            std::string_view command);
  // Completes transfers whose leadership moved or whose time ran out.
  void CheckTransfers(Clock::time_point now);
  void RefreshConfiguration(Group& g);
  // §7.6: one ERROR and +1 on the counter per Open of a group, when this --raftJoinAsLearner
  // node is a voter in `conf` without having been a learner at the previous hook of this Open
  // (a promotion after catching up is the intended path, not a violation).
  void AlarmIfJoinedAsVoter(Group& g, const raft::ConfState& conf, uint64_t index);

  StorageEngine* const engine_;
  Transport* const transport_;
  const DriverOptions options_;
  std::unique_ptr<KvStateMachine> kv_;
  std::unique_ptr<ShardStateMachine> fsm_;  // cold-start and restore seams
  std::shared_ptr<FileRefs> file_refs_;
  std::map<GroupId, std::unique_ptr<Group>> groups_;  // driver thread after Start
  std::vector<GroupId> bootstrapped_;
  uint64_t next_request_id_;  // driver thread

  // Queues into the driver, guarded by mu_.
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::deque<GroupMessage> inbound_;
  std::vector<std::pair<GroupId, raft::NodeId>> unreachable_;
  std::deque<Request> requests_;
  uint64_t inbound_dropped_ = 0;
  std::deque<InboundSnapshot> inbound_snapshots_;
  std::vector<SnapshotStatus> snapshot_status_;
  std::deque<SnapshotDone> snapshots_done_;
  std::deque<AdminRequest> admin_requests_;
  // Admin completions of the current iteration, run once its batch is durable (driver thread).
  std::vector<std::function<void()>> admin_done_;
  std::map<GroupId, std::unique_ptr<GroupAdmin>> admins_;  // fixed after Open

  // The snapshot worker's queue (at most one job per group), guarded by snap_mu_.
  std::mutex snap_mu_;
  std::condition_variable snap_cv_;
  std::deque<SnapshotJob> snap_jobs_;
  bool snap_stop_ = false;
  std::thread snapshot_thread_;

  // Per group: the published lease deadline in steady-clock nanoseconds (0 = none). Built in
  // Open and never changed in shape: any thread reads it.
  std::map<GroupId, std::unique_ptr<std::atomic<int64_t>>> read_leases_;
  std::chrono::steady_clock::time_point next_tick_;  // driver thread: the next tick's due time
  mutable std::mutex status_mu_;                     // guards status_
  std::map<GroupId, GroupStatus> status_;

  std::atomic<uint64_t> log_syncs_{0};
  std::atomic<uint64_t> entries_persisted_{0};
  std::atomic<uint64_t> apply_batches_{0};
  std::atomic<uint64_t> entries_applied_{0};
  std::atomic<uint64_t> snapshots_created_{0};
  std::atomic<uint64_t> snapshots_installed_{0};

  std::mutex lifecycle_mu_;  // guards started_/stopped_ and thread_ start/join
  bool started_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace tessera::shard
