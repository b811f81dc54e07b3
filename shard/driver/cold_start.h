// The per-group cold-start skip gate (snapshots-and-cold-start.md §7, §9): decide whether the
// durable `data` CF is fresh enough to skip the body restore, verify, apply the header state.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "raft/types.h"
#include "shard/driver/restore.h"
#include "shard/snapshot/byte_source.h"
#include "shard/snapshot/fsm_format.h"
#include "shard/storage/engine.h"

namespace tessera::shard {

enum class ColdStartDecision { kSkip, kExecute, kFallback };

// Which path ApplySnapshotHeader is called from.
enum class ApplyMode { kSkip, kRestore };

// fallback_reason label values (§7.2).
inline constexpr std::string_view kFallbackNotReader = "not_reader";
inline constexpr std::string_view kFallbackReadErr = "read_err";
inline constexpr std::string_view kFallbackMissingMeta = "missing_meta";

// The `outcome` label of a decision: "skipped", "executed", "fallback".
std::string_view ColdStartOutcomeLabel(ColdStartDecision decision);

// |snap − have| without unsigned underflow: an executed group may be ahead of the snapshot yet
// behind commit (§9).
inline uint64_t ExecutedAppliedIndexGap(uint64_t snap_index, uint64_t have) {
  return have >= snap_index ? have - snap_index : snap_index - have;
}

// Told once per group per cold start, after the decision succeeded. Arguments are
// (snapshot.index, have), never the threshold. Implementations must not block: they run on the
// startup critical path. A null observer disables reporting; the gate still runs.
class ColdStartObserver {
 public:
  virtual ~ColdStartObserver() = default;
  virtual void RestoreSkipped(GroupId gid, uint64_t snap_index, uint64_t have) noexcept = 0;
  virtual void RestoreExecuted(GroupId gid, uint64_t snap_index, uint64_t have) noexcept = 0;
  virtual void RestoreFallback(GroupId gid, uint64_t snap_index,
                               std::string_view reason) noexcept = 0;
  // --snapshotVerifyFailure=regenerate replaced a corrupt snapshot file (§7.4).
  virtual void SnapshotRegenerated(GroupId /*gid*/) noexcept {}
};

// The §9 Prometheus series, `group` = decimal id:
//   tessera_fsm_cold_start_restore_total{group,outcome,fallback_reason}  counter
//   tessera_fsm_cold_start_applied_index_gap{group,outcome}              gauge (not set on
//   fallback) tessera_fsm_snapshot_regenerated_total{group}                        counter
// Production passes common::DefaultRegistry(); the registry must outlive the observer.
class MetricsColdStartObserver final : public ColdStartObserver {
 public:
  explicit MetricsColdStartObserver(common::Registry& registry);

  void RestoreSkipped(GroupId gid, uint64_t snap_index, uint64_t have) noexcept override;
  void RestoreExecuted(GroupId gid, uint64_t snap_index, uint64_t have) noexcept override;
  void RestoreFallback(GroupId gid, uint64_t snap_index, std::string_view reason) noexcept override;
  void SnapshotRegenerated(GroupId gid) noexcept override;

 private:
  common::Family<common::Counter>* restores_;
  common::Family<common::Gauge>* gap_;
  common::Family<common::Counter>* regenerated_;
};

// §7.5 seams. Production implements all of them in ShardStateMachine (compile-time checked);
// tests substitute doubles.
class AppliedIndexReader {
 public:
  virtual ~AppliedIndexReader() = default;
  // §3: absent when missing, not 8 bytes, or under a restore marker; an error for I/O.
  virtual absl::StatusOr<AppliedIndex> LastAppliedIndex(GroupId gid) const = 0;
};

class SnapshotHeaderApplier {
 public:
  virtual ~SnapshotHeaderApplier() = default;
  // Parses a v1/v2 header AND drains the rest of `in`, so a CRC tee around `in` covers the
  // whole payload. No side effect, on success or error.
  virtual absl::StatusOr<FsmHeader> ParseSnapshotHeader(ByteSource& in) = 0;
  // Pure in-memory assignment, only after parse and CRC succeeded: clock ceiling = max(header,
  // durable), monotonic; cutover = header's on restore, the durable meta value on skip.
  virtual void ApplySnapshotHeader(GroupId gid, const FsmHeader& header,
                                   ApplyMode mode) noexcept = 0;
};

class SnapshotRestorer {
 public:
  virtual ~SnapshotRestorer() = default;
  // The full restore of §6 (RestoreGroupFromFsm in production).
  virtual absl::StatusOr<RestoreResult> Restore(const RestoreRequest& request) = 0;
};

// What RunColdStart needs of a group's state machine.
class ColdStartFsm : public SnapshotHeaderApplier, public SnapshotRestorer {
 public:
  // Null only in test doubles: the gate then falls back (`not_reader`).
  virtual const AppliedIndexReader* applied_index_reader() const = 0;
  // meta:raft_envelope_cutover_index; absent = 0.
  virtual absl::StatusOr<uint64_t> DurableCutoverIndex(GroupId gid) const = 0;
  // Loads the group's durable clock ceiling and cutover into memory. RunColdStart calls it
  // first on every path (the no-snapshot path has no header to apply).
  virtual absl::Status LoadDurableHeaderState(GroupId gid) = 0;
};

// §7.1 step 5: max(snapshot index, commit). Never the log tail: a follower's uncommitted suffix
// would force a restore on every restart.
uint64_t ColdStartSkipThreshold(uint64_t snapshot_index, uint64_t commit);

struct SkipOutcome {
  ColdStartDecision decision = ColdStartDecision::kFallback;
  uint64_t have = 0;                 // 0 on fallback
  std::string_view fallback_reason;  // empty unless fallback; one of the kFallback* constants
};

// The §7.2 table, in order: no reader → fallback not_reader; read error (not propagated) →
// fallback read_err; absent → fallback missing_meta; have < threshold → execute; else skip.
SkipOutcome DecideSkipOutcome(const ColdStartFsm& fsm, GroupId gid, uint64_t threshold);

// §7.4 steps 1–4: size and token CRC, then the fsm's ParseSnapshotHeader through a CRC32C tee
// over the whole payload (header errors surface before the CRC compare), then the CRC. Nothing
// is applied; the caller applies the returned header after its own checks.
absl::StatusOr<FsmHeader> VerifySnapshotOnSkip(SnapshotHeaderApplier& fsm, const std::string& path,
                                               uint32_t token_crc,
                                               uint64_t max_bytes = kDefaultMaxSnapshotBytes);

// §7.5 on skip: header cutover 0 ⇒ meta is 0 or > snapshot index; header cutover c ≠ 0 ⇒ meta
// == c. Else kEnvelopeCutoverDivergence.
absl::Status CheckCutoverOnSkip(const FsmHeader& header, uint64_t snapshot_index,
                                uint64_t meta_cutover);

// --snapshotVerifyFailure.
enum class SnapshotVerifyFailure { kRefuse, kRegenerate };

struct ColdStartInput {
  GroupId gid = 0;
  raft::HardState hard_state;
  raft::Snapshot snapshot;  // the group's snapshot record; metadata.index == 0 means none
  bool restore_marker_present = false;
  std::string data_dir;
  uint64_t max_bytes = kDefaultMaxSnapshotBytes;
  SnapshotVerifyFailure verify_failure = SnapshotVerifyFailure::kRefuse;
  // Takes and records a fresh snapshot at `have` (regenerate mode only).
  std::function<absl::Status(GroupId, uint64_t have)> regenerate;
};

struct ColdStartResult {
  uint64_t effective_applied = 0;             // have on skip, snapshot index on restore
  std::optional<ColdStartDecision> decision;  // nullopt when no snapshot is recorded
};

// §7.1 for one group, before its raft loop starts. On skip the .fsm file is verified and its
// header applied (ApplyMode::kSkip); on execute/fallback the group is fully restored from it and
// the header applied (kRestore). Observer calls and the INFO log happen only after success; any
// error must fail startup. With SnapshotVerifyFailure::kRegenerate, a failed skip verification
// (corruption, not I/O or an unknown format) moves the file to <group dir>/quarantine/, logs
// ERROR, calls `in.regenerate(gid, have)` and returns have; a restore failure always fails.
absl::StatusOr<ColdStartResult> RunColdStart(ColdStartFsm& fsm, const ColdStartInput& in,
                                             ColdStartObserver* observer);

}  // namespace tessera::shard
