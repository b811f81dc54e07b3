// MemoryStorage: a vector of entries behind a dummy entry marking the compaction point.
#include "raft/memory_storage.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"

namespace tessera::raft {

MemoryStorage::MemoryStorage() : ents_(1) {}

absl::StatusOr<InitialState> MemoryStorage::GetInitialState() const {
  return InitialState{hard_state_, snapshot_.metadata.conf_state};
}

uint64_t MemoryStorage::FirstIndex() const { return ents_.front().index + 1; }

uint64_t MemoryStorage::LastIndex() const { return ents_.front().index + ents_.size() - 1; }

absl::StatusOr<std::vector<Entry>> MemoryStorage::Entries(uint64_t lo, uint64_t hi,
                                                          uint64_t max_size) const {
  uint64_t offset = ents_.front().index;
  if (lo <= offset) return RaftError(RaftErrc::kCompacted);
  if (hi > LastIndex() + 1) {
    return RaftError(RaftErrc::kUnavailable,
                     absl::StrCat("entries hi ", hi, " beyond last index ", LastIndex()));
  }
  std::vector<Entry> out;
  uint64_t size = 0;
  for (uint64_t i = lo; i < hi; ++i) {
    const Entry& e = ents_[i - offset];
    size += EntryPayloadSize(e);
    if (!out.empty() && size > max_size) break;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<uint64_t> MemoryStorage::Term(uint64_t i) const {
  uint64_t offset = ents_.front().index;
  if (i < offset) return RaftError(RaftErrc::kCompacted);
  if (i - offset >= ents_.size()) return RaftError(RaftErrc::kUnavailable);
  return ents_[i - offset].term;
}

absl::StatusOr<Snapshot> MemoryStorage::GetSnapshot() const { return snapshot_; }

absl::Status MemoryStorage::ApplySnapshot(const Snapshot& snap) {
  if (snapshot_.metadata.index >= snap.metadata.index) {
    return RaftError(RaftErrc::kSnapOutOfDate);
  }
  snapshot_ = snap;
  ents_.assign(1, Entry{snap.metadata.term, snap.metadata.index, EntryType::kNormal, {}});
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> MemoryStorage::CreateSnapshot(uint64_t i, const ConfState* cs,
                                                       std::string data) {
  if (i <= snapshot_.metadata.index) return RaftError(RaftErrc::kSnapOutOfDate);
  uint64_t offset = ents_.front().index;
  if (i > LastIndex()) {
    return RaftError(RaftErrc::kUnavailable,
                     absl::StrCat("snapshot index ", i, " beyond last index ", LastIndex()));
  }
  snapshot_.metadata.index = i;
  snapshot_.metadata.term = ents_[i - offset].term;
  if (cs != nullptr) snapshot_.metadata.conf_state = *cs;
  snapshot_.data = std::move(data);
  return snapshot_;
}

absl::Status MemoryStorage::Compact(uint64_t compact_index) {
  uint64_t offset = ents_.front().index;
  if (compact_index <= offset) return RaftError(RaftErrc::kCompacted);
  if (compact_index > LastIndex()) {
    return RaftError(RaftErrc::kUnavailable, "compact beyond last index");
  }
  uint64_t i = compact_index - offset;
  ents_.front() = Entry{ents_[i].term, ents_[i].index, EntryType::kNormal, {}};
  ents_.erase(ents_.begin() + 1, ents_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
  return absl::OkStatus();
}

absl::Status MemoryStorage::Append(const std::vector<Entry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  uint64_t first = FirstIndex();
  uint64_t last = entries.back().index;
  if (last < first) return absl::OkStatus();  // all already compacted
  size_t skip = first > entries.front().index ? first - entries.front().index : 0;
  uint64_t start = entries[skip].index;
  if (start > LastIndex() + 1) {
    return RaftError(RaftErrc::kInvalidArgument, absl::StrCat("missing log entries: last ",
                                                              LastIndex(), ", append at ", start));
  }
  uint64_t offset = ents_.front().index;
  ents_.resize(start - offset);
  ents_.insert(ents_.end(), entries.begin() + static_cast<std::ptrdiff_t>(skip), entries.end());
  return absl::OkStatus();
}

}  // namespace tessera::raft
