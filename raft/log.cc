// RaftLog and Unstable: the merge of stable storage and the in-memory unpersisted tail.
#include "raft/log.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"

namespace tessera::raft {
namespace {
[[noreturn]] void Fatal(const std::string& what) {
  std::fprintf(stderr, "raft log invariant broken: %s\n", what.c_str());
  std::abort();
}
}  // namespace

std::optional<uint64_t> Unstable::MaybeFirstIndex() const {
  if (snapshot_) return snapshot_->metadata.index + 1;
  return std::nullopt;
}

std::optional<uint64_t> Unstable::MaybeLastIndex() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->metadata.index;
  return std::nullopt;
}

std::optional<uint64_t> Unstable::MaybeTerm(uint64_t i) const {
  if (i < offset_) {
    if (snapshot_ && snapshot_->metadata.index == i) return snapshot_->metadata.term;
    return std::nullopt;
  }
  auto last = MaybeLastIndex();
  if (!last || i > *last) return std::nullopt;
  if (entries_.empty()) return std::nullopt;  // only a snapshot, and i != its index
  return entries_[i - offset_].term;
}

void Unstable::StableTo(uint64_t i, uint64_t t) {
  auto gt = MaybeTerm(i);
  if (!gt) return;
  // Only stabilize if the term matches and the entry is still in the unstable tail.
  if (*gt == t && i >= offset_) {
    entries_.erase(entries_.begin(),
                   entries_.begin() + static_cast<std::ptrdiff_t>(i + 1 - offset_));
    offset_ = i + 1;
  }
}

void Unstable::StableSnapTo(uint64_t i) {
  if (snapshot_ && snapshot_->metadata.index == i) snapshot_.reset();
}

void Unstable::Restore(const Snapshot& s) {
  offset_ = s.metadata.index + 1;
  entries_.clear();
  snapshot_ = s;
}

void Unstable::TruncateAndAppend(const std::vector<Entry>& ents) {
  uint64_t after = ents.front().index;
  if (after == offset_ + entries_.size()) {
    entries_.insert(entries_.end(), ents.begin(), ents.end());
  } else if (after <= offset_) {
    // Replace the whole unstable tail.
    offset_ = after;
    entries_ = ents;
  } else {
    entries_.resize(after - offset_);
    entries_.insert(entries_.end(), ents.begin(), ents.end());
  }
}

void Unstable::AppendSlice(uint64_t lo, uint64_t hi, std::vector<Entry>* out) const {
  if (lo > hi || lo < offset_ || hi > offset_ + entries_.size()) {
    Fatal(absl::StrCat("unstable slice [", lo, ",", hi, ") out of [", offset_, ",",
                       offset_ + entries_.size(), ")"));
  }
  out->insert(out->end(), entries_.begin() + static_cast<std::ptrdiff_t>(lo - offset_),
              entries_.begin() + static_cast<std::ptrdiff_t>(hi - offset_));
}

RaftLog::RaftLog(const Storage* storage, uint64_t max_next_ents_size)
    : storage_(storage), max_next_ents_size_(max_next_ents_size) {
  uint64_t first = storage_->FirstIndex();
  uint64_t last = storage_->LastIndex();
  unstable_.set_offset(last + 1);
  committed_ = first - 1;
  applied_ = first - 1;
}

std::optional<uint64_t> RaftLog::MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                             const std::vector<Entry>& ents) {
  if (!MatchTerm(index, log_term)) return std::nullopt;
  uint64_t lastnewi = index + ents.size();
  uint64_t ci = FindConflict(ents);
  if (ci != 0) {
    if (ci <= committed_) {
      Fatal(absl::StrCat("entry ", ci, " conflicts with committed entry (committed ", committed_,
                         ")"));
    }
    uint64_t offset = index + 1;
    std::vector<Entry> rest(ents.begin() + static_cast<std::ptrdiff_t>(ci - offset), ents.end());
    Append(rest);
  }
  CommitTo(std::min(committed, lastnewi));
  return lastnewi;
}

uint64_t RaftLog::Append(const std::vector<Entry>& ents) {
  if (ents.empty()) return LastIndex();
  uint64_t after = ents.front().index - 1;
  if (after < committed_) {
    Fatal(absl::StrCat("append after ", after, " is below committed ", committed_));
  }
  unstable_.TruncateAndAppend(ents);
  return LastIndex();
}

uint64_t RaftLog::FindConflict(const std::vector<Entry>& ents) const {
  for (const Entry& e : ents) {
    if (!MatchTerm(e.index, e.term)) return e.index;
  }
  return 0;
}

std::pair<uint64_t, uint64_t> RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  for (;;) {
    auto t = Term(index);
    if (!t.ok()) return {index, 0};
    if (*t <= term) return {index, *t};
    if (index == 0) return {0, 0};
    --index;
  }
}

std::vector<Entry> RaftLog::NextCommittedEntries() const {
  uint64_t off = std::max(applied_ + 1, FirstIndex());
  if (committed_ + 1 > off) {
    auto ents = Slice(off, committed_ + 1, max_next_ents_size_);
    if (!ents.ok())
      Fatal("unexpected error reading committed entries: " + ents.status().ToString());
    return *std::move(ents);
  }
  return {};
}

bool RaftLog::HasNextCommittedEntries() const {
  return committed_ + 1 > std::max(applied_ + 1, FirstIndex());
}

bool RaftLog::HasPendingSnapshot() const {
  return unstable_.snapshot().has_value() && !unstable_.snapshot()->IsEmpty();
}

absl::StatusOr<Snapshot> RaftLog::GetSnapshot() const {
  if (unstable_.snapshot()) return *unstable_.snapshot();
  return storage_->GetSnapshot();
}

uint64_t RaftLog::FirstIndex() const {
  if (auto i = unstable_.MaybeFirstIndex()) return *i;
  return storage_->FirstIndex();
}

uint64_t RaftLog::LastIndex() const {
  if (auto i = unstable_.MaybeLastIndex()) return *i;
  return storage_->LastIndex();
}

uint64_t RaftLog::LastTerm() const {
  auto t = Term(LastIndex());
  if (!t.ok()) Fatal("term of last index unavailable: " + t.status().ToString());
  return *t;
}

absl::StatusOr<uint64_t> RaftLog::Term(uint64_t i) const {
  // The valid term range is [first index - 1, last index].
  uint64_t dummy = FirstIndex() - 1;
  if (i < dummy || i > LastIndex()) return RaftError(RaftErrc::kUnavailable);
  if (auto t = unstable_.MaybeTerm(i)) return *t;
  auto t = storage_->Term(i);
  if (t.ok()) return t;
  RaftErrc errc = RaftErrcOf(t.status());
  if (errc == RaftErrc::kCompacted || errc == RaftErrc::kUnavailable) return t;
  Fatal("storage term error: " + t.status().ToString());
}

uint64_t RaftLog::TermOrZero(uint64_t i) const {
  auto t = Term(i);
  return t.ok() ? *t : 0;
}

bool RaftLog::MatchTerm(uint64_t i, uint64_t t) const {
  auto term = Term(i);
  return term.ok() && *term == t;
}

bool RaftLog::IsUpToDate(uint64_t last_index, uint64_t term) const {
  return term > LastTerm() || (term == LastTerm() && last_index >= LastIndex());
}

absl::StatusOr<std::vector<Entry>> RaftLog::Entries(uint64_t i, uint64_t max_size) const {
  if (i > LastIndex()) return std::vector<Entry>{};
  return Slice(i, LastIndex() + 1, max_size);
}

absl::Status RaftLog::CheckOutOfBounds(uint64_t lo, uint64_t hi) const {
  if (lo > hi) Fatal(absl::StrCat("invalid slice ", lo, " > ", hi));
  uint64_t fi = FirstIndex();
  if (lo < fi) return RaftError(RaftErrc::kCompacted);
  uint64_t length = LastIndex() + 1 - fi;
  if (hi > fi + length) Fatal(absl::StrCat("slice [", lo, ",", hi, ") out of bound"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Entry>> RaftLog::Slice(uint64_t lo, uint64_t hi,
                                                  uint64_t max_size) const {
  if (absl::Status s = CheckOutOfBounds(lo, hi); !s.ok()) return s;
  std::vector<Entry> out;
  if (lo == hi) return out;
  uint64_t uoff = unstable_.offset();
  if (lo < uoff) {
    auto stored = storage_->Entries(lo, std::min(hi, uoff), max_size);
    if (!stored.ok()) {
      if (RaftErrcOf(stored.status()) == RaftErrc::kCompacted) return stored.status();
      Fatal("storage entries error: " + stored.status().ToString());
    }
    out = *std::move(stored);
    // A size-limited read from storage ends the slice.
    if (out.size() < std::min(hi, uoff) - lo) return out;
  }
  if (hi > uoff) {
    unstable_.AppendSlice(std::max(lo, uoff), hi, &out);
  }
  // Apply the size limit across the merged result (always at least one entry).
  uint64_t size = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    size += EntryPayloadSize(out[i]);
    if (i > 0 && size > max_size) {
      out.resize(i);
      break;
    }
  }
  return out;
}

bool RaftLog::MaybeCommit(uint64_t max_index, uint64_t term) {
  if (max_index > committed_ && TermOrZero(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::CommitTo(uint64_t tocommit) {
  if (committed_ < tocommit) {
    if (LastIndex() < tocommit) {
      Fatal(absl::StrCat("commit ", tocommit, " is out of range [last index ", LastIndex(), "]"));
    }
    committed_ = tocommit;
  }
}

void RaftLog::AppliedTo(uint64_t i) {
  if (i == 0) return;
  if (committed_ < i || i < applied_) {
    Fatal(absl::StrCat("applied ", i, " out of range [prev applied ", applied_, ", committed ",
                       committed_, "]"));
  }
  applied_ = i;
}

void RaftLog::Restore(const Snapshot& s) {
  committed_ = s.metadata.index;
  unstable_.Restore(s);
}

}  // namespace tessera::raft
