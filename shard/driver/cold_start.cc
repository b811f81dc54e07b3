// The cold-start skip gate of snapshots-and-cold-start.md §7: threshold, decision table, skip-path
// verification, restore dispatch, the regenerate recovery, and the §9 metrics and logs.
#include "shard/driver/cold_start.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "shard/snapshot/fsm_file.h"
#include "shard/snapshot/snapshot_dir.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/snapshot/snapshot_token.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {

constexpr char kQuarantineDirName[] = "quarantine";

std::string GroupLabel(GroupId gid) { return std::to_string(gid); }

// Failures that mean "this file is bad" and that a fresh snapshot from the verified-fresh `data`
// CF repairs. I/O errors may be transient, an unknown magic needs an upgrade, and an oversized
// file would be regenerated oversized: those always refuse.
bool IsRegenerable(const absl::Status& status) {
  switch (GetSnapshotErrc(status)) {
    case SnapshotErrc::kSnapshotNotFound:
    case SnapshotErrc::kSnapshotTooSmall:
    case SnapshotErrc::kSnapshotTokenCrc:
    case SnapshotErrc::kSnapshotFileCrc:
    case SnapshotErrc::kSnapshotHeaderInvalidLength:
    case SnapshotErrc::kSnapshotHeaderTruncated:
    case SnapshotErrc::kSnapshotBodyInvalid:
      return true;
    default:
      return false;
  }
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return SnapshotIoError("open", dir, errno);
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) return SnapshotIoError("fsync", dir, saved);
  return absl::OkStatus();
}

// Moves `path` into <group dir>/quarantine/ (created 0700) under a name not yet taken there.
// Returns the new path; empty when `path` does not exist.
absl::StatusOr<std::string> QuarantineFile(const std::string& group_dir, const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::string();
    return SnapshotIoError("stat", path, errno);
  }
  const std::string dir = group_dir + "/" + kQuarantineDirName;
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno != EEXIST) return SnapshotIoError("mkdir", dir, errno);
  } else if (absl::Status s = SyncDirectory(group_dir); !s.ok()) {
    return s;
  }
  const std::string base = path.substr(path.find_last_of('/') + 1);
  std::string target = dir + "/" + base;
  for (int n = 1; ::lstat(target.c_str(), &st) == 0; ++n) {
    target = absl::StrCat(dir, "/", base, ".", n);
  }
  if (::rename(path.c_str(), target.c_str()) != 0) return SnapshotIoError("rename", path, errno);
  if (absl::Status s = SyncDirectory(dir); !s.ok()) return s;
  if (absl::Status s = SyncDirectory(group_dir); !s.ok()) return s;
  return target;
}

void LogSkipped(GroupId gid, uint64_t have, uint64_t snap, uint64_t commit, uint64_t threshold) {
  spdlog::info(
      "restore_snapshot_state skipped group={} fsm_applied={} snapshot_index={} "
      "last_committed_index={} gap_ahead_snapshot={} gap_ahead_committed={}",
      gid, have, snap, commit, have - snap, have - threshold);
}

void LogExecuted(GroupId gid, uint64_t have, uint64_t snap, uint64_t commit, uint64_t threshold) {
  spdlog::info(
      "restore_snapshot_state executed (fsm behind committed index) group={} fsm_applied={} "
      "snapshot_index={} last_committed_index={} gap_to_snapshot={} gap_behind_committed={}",
      gid, have, snap, commit, ExecutedAppliedIndexGap(snap, have),
      threshold > have ? threshold - have : 0);
}

void LogFallback(GroupId gid, uint64_t snap, std::string_view reason) {
  spdlog::info(
      "restore_snapshot_state fallback to full restore group={} snapshot_index={} reason={}", gid,
      snap, reason);
}

// --snapshotVerifyFailure=regenerate after a failed skip verification (§7.4).
absl::StatusOr<ColdStartResult> RegenerateSnapshot(const ColdStartInput& in, uint64_t snap,
                                                   uint64_t have, uint64_t threshold,
                                                   const absl::Status& failure,
                                                   ColdStartObserver* observer) {
  if (!in.regenerate) {
    spdlog::error("group {}: --snapshotVerifyFailure=regenerate without a regenerator; refusing",
                  in.gid);
    return failure;
  }
  const std::string path = FsmPath(in.data_dir, in.gid, snap);
  absl::StatusOr<std::string> moved = QuarantineFile(GroupSnapshotDir(in.data_dir, in.gid), path);
  if (!moved.ok()) return moved.status();
  spdlog::error(
      "group {}: snapshot {} failed verification ({}); moved to {}; regenerating a snapshot at "
      "the durable applied index {}",
      in.gid, path, failure.ToString(), moved->empty() ? "<missing>" : *moved, have);
  if (absl::Status s = in.regenerate(in.gid, have); !s.ok()) return s;
  if (observer != nullptr) {
    observer->SnapshotRegenerated(in.gid);
    observer->RestoreSkipped(in.gid, snap, have);
  }
  LogSkipped(in.gid, have, snap, in.hard_state.commit, threshold);
  return ColdStartResult{have, ColdStartDecision::kSkip};
}

}  // namespace

std::string_view ColdStartOutcomeLabel(ColdStartDecision decision) {
  switch (decision) {
    case ColdStartDecision::kSkip:
      return "skipped";
    case ColdStartDecision::kExecute:
      return "executed";
    case ColdStartDecision::kFallback:
      return "fallback";
  }
  return "unknown";
}

MetricsColdStartObserver::MetricsColdStartObserver(common::Registry& registry)
    : restores_(&registry.AddCounter(
          "tessera_fsm_cold_start_restore_total",
          "Cold-start decisions per group: skipped, executed, or fallback with its reason.",
          {"group", "outcome", "fallback_reason"})),
      gap_(&registry.AddGauge("tessera_fsm_cold_start_applied_index_gap",
                              "Durable applied index minus snapshot index at cold start "
                              "(absolute on executed; unset on fallback).",
                              {"group", "outcome"})),
      regenerated_(&registry.AddCounter(
          "tessera_fsm_snapshot_regenerated_total",
          "Corrupt snapshot files quarantined and regenerated at cold start.", {"group"})) {}

void MetricsColdStartObserver::RestoreSkipped(GroupId gid, uint64_t snap_index,
                                              uint64_t have) noexcept {
  const std::string group = GroupLabel(gid);
  restores_->WithLabels({group, "skipped", ""})->Inc();
  // have ≥ max(snap, commit) on skip; saturate anyway rather than wrap.
  gap_->WithLabels({group, "skipped"})
      ->Set(static_cast<double>(have >= snap_index ? have - snap_index : 0));
}

void MetricsColdStartObserver::RestoreExecuted(GroupId gid, uint64_t snap_index,
                                               uint64_t have) noexcept {
  const std::string group = GroupLabel(gid);
  restores_->WithLabels({group, "executed", ""})->Inc();
  gap_->WithLabels({group, "executed"})
      ->Set(static_cast<double>(ExecutedAppliedIndexGap(snap_index, have)));
}

void MetricsColdStartObserver::RestoreFallback(GroupId gid, uint64_t /*snap_index*/,
                                               std::string_view reason) noexcept {
  restores_->WithLabels({GroupLabel(gid), "fallback", std::string(reason)})->Inc();
}

void MetricsColdStartObserver::SnapshotRegenerated(GroupId gid) noexcept {
  regenerated_->WithLabels({GroupLabel(gid)})->Inc();
}

uint64_t ColdStartSkipThreshold(uint64_t snapshot_index, uint64_t commit) {
  return std::max(snapshot_index, commit);
}

SkipOutcome DecideSkipOutcome(const ColdStartFsm& fsm, GroupId gid, uint64_t threshold) {
  const AppliedIndexReader* reader = fsm.applied_index_reader();
  if (reader == nullptr) return {ColdStartDecision::kFallback, 0, kFallbackNotReader};
  absl::StatusOr<AppliedIndex> applied = reader->LastAppliedIndex(gid);
  if (!applied.ok()) {
    // Not propagated: a full restore does not need the value.
    spdlog::warn("group {}: reading the durable applied index failed: {}", gid,
                 applied.status().ToString());
    return {ColdStartDecision::kFallback, 0, kFallbackReadErr};
  }
  if (!applied->present) return {ColdStartDecision::kFallback, 0, kFallbackMissingMeta};
  if (applied->value < threshold) return {ColdStartDecision::kExecute, applied->value, {}};
  return {ColdStartDecision::kSkip, applied->value, {}};
}

absl::StatusOr<FsmHeader> VerifySnapshotOnSkip(SnapshotHeaderApplier& fsm, const std::string& path,
                                               uint32_t token_crc, uint64_t max_bytes) {
  std::optional<FsmHeader> header;
  absl::Status verified =
      VerifyFsmPayload(path, token_crc, max_bytes, [&](ByteSource& payload) -> absl::Status {
        absl::StatusOr<FsmHeader> parsed = fsm.ParseSnapshotHeader(payload);
        if (!parsed.ok()) return parsed.status();
        header = *parsed;
        return absl::OkStatus();
      });
  if (!verified.ok()) return verified;
  return *header;
}

absl::Status CheckCutoverOnSkip(const FsmHeader& header, uint64_t snapshot_index,
                                uint64_t meta_cutover) {
  const uint64_t h = header.raft_envelope_cutover_index;
  const bool consistent =
      h == 0 ? (meta_cutover == 0 || meta_cutover > snapshot_index) : meta_cutover == h;
  if (consistent) return absl::OkStatus();
  return SnapshotError(SnapshotErrc::kEnvelopeCutoverDivergence,
                       absl::StrCat("snapshot ", snapshot_index, " header cutover ", h,
                                    " but meta:raft_envelope_cutover_index ", meta_cutover));
}

absl::StatusOr<ColdStartResult> RunColdStart(ColdStartFsm& fsm, const ColdStartInput& in,
                                             ColdStartObserver* observer) {
  const GroupId gid = in.gid;
  const uint64_t commit = in.hard_state.commit;

  // (2) A durable applied index past commit means the hard state lost a sync: never clamp.
  std::optional<absl::StatusOr<AppliedIndex>> applied;
  if (const AppliedIndexReader* reader = fsm.applied_index_reader(); reader != nullptr) {
    applied = reader->LastAppliedIndex(gid);
    if (applied->ok() && (*applied)->present && (*applied)->value > commit) {
      return SnapshotError(SnapshotErrc::kAppliedAheadOfCommit,
                           absl::StrCat("group ", gid, ": durable applied index ",
                                        (*applied)->value, " > hard state commit ", commit));
    }
  }
  if (absl::Status s = fsm.LoadDurableHeaderState(gid); !s.ok()) return s;

  // (3) No snapshot: the raft log is complete and redelivers everything past `have`.
  const uint64_t snap = in.snapshot.metadata.index;
  if (snap == kNoSnapshotIndex) {
    if (!in.snapshot.data.empty()) {
      absl::StatusOr<SnapshotToken> token = DecodeSnapshotToken(in.snapshot.data);
      if (!token.ok()) return token.status();
      return CheckTokenIndex(*token, snap);
    }
    if (in.restore_marker_present) {
      return SnapshotError(SnapshotErrc::kCorruptGroupState,
                           absl::StrCat("group ", gid, ": restore marker without a snapshot"));
    }
    uint64_t effective = 0;
    if (applied.has_value()) {
      if (!applied->ok()) return applied->status();
      if ((*applied)->present) effective = (*applied)->value;
    }
    spdlog::info(
        "restore_snapshot_state no snapshot group={} fsm_applied={} last_committed_index={}", gid,
        effective, commit);
    return ColdStartResult{effective, std::nullopt};
  }

  // (4) The token names the file and must agree with the metadata.
  absl::StatusOr<SnapshotToken> token = DecodeSnapshotToken(in.snapshot.data);
  if (!token.ok()) return token.status();
  if (absl::Status s = CheckTokenIndex(*token, snap); !s.ok()) return s;

  // (5), (6)
  const uint64_t threshold = ColdStartSkipThreshold(snap, commit);
  SkipOutcome outcome = DecideSkipOutcome(fsm, gid, threshold);
  if (in.restore_marker_present && outcome.decision != ColdStartDecision::kFallback) {
    // The reader already reports absent under a marker; a double that does not still must not
    // skip a half-restored range.
    outcome = {ColdStartDecision::kFallback, 0, kFallbackMissingMeta};
  }
  const std::string path = FsmPath(in.data_dir, gid, snap);

  if (outcome.decision == ColdStartDecision::kSkip) {
    const uint64_t have = outcome.have;
    absl::StatusOr<FsmHeader> header = VerifySnapshotOnSkip(fsm, path, token->crc32c, in.max_bytes);
    if (!header.ok()) {
      if (in.verify_failure == SnapshotVerifyFailure::kRegenerate &&
          IsRegenerable(header.status())) {
        return RegenerateSnapshot(in, snap, have, threshold, header.status(), observer);
      }
      return header.status();
    }
    absl::StatusOr<uint64_t> meta_cutover = fsm.DurableCutoverIndex(gid);
    if (!meta_cutover.ok()) return meta_cutover.status();
    if (absl::Status s = CheckCutoverOnSkip(*header, snap, *meta_cutover); !s.ok()) return s;
    fsm.ApplySnapshotHeader(gid, *header, ApplyMode::kSkip);
    if (observer != nullptr) observer->RestoreSkipped(gid, snap, have);
    LogSkipped(gid, have, snap, commit, threshold);
    return ColdStartResult{have, ColdStartDecision::kSkip};
  }

  RestoreRequest request;
  request.gid = gid;
  request.fsm_path = path;
  request.token_crc = token->crc32c;
  request.index = snap;
  request.conf_state = in.snapshot.metadata.conf_state;
  request.max_bytes = in.max_bytes;
  absl::StatusOr<RestoreResult> restored = fsm.Restore(request);
  if (!restored.ok()) return restored.status();
  fsm.ApplySnapshotHeader(gid, restored->header, ApplyMode::kRestore);
  if (outcome.decision == ColdStartDecision::kExecute) {
    if (observer != nullptr) observer->RestoreExecuted(gid, snap, outcome.have);
    LogExecuted(gid, outcome.have, snap, commit, threshold);
  } else {
    if (observer != nullptr) observer->RestoreFallback(gid, snap, outcome.fallback_reason);
    LogFallback(gid, snap, outcome.fallback_reason);
  }
  return ColdStartResult{snap, outcome.decision};
}

}  // namespace tessera::shard
