// GroupLog: raft::Storage over RocksDB for one group, with MemoryStorage's semantics and a small
// in-memory view (compaction point, last index, hard state, snapshot) so most answers cost no I/O.
#include "shard/storage/group_log.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/snapshot.h"

namespace tessera::shard {
namespace {

constexpr char kCompactionPointTag = 'c';
constexpr char kEntryTag = 'e';
constexpr char kHardStateTag = 'h';
constexpr char kSnapshotTag = 's';
constexpr size_t kEntryHeaderSize = 9;  // term u64 ‖ type u8
constexpr size_t kEntryKeySize = 8 + 1 + 8;

std::string Tag(char tag) { return std::string(1, tag); }

// Exclusive upper bound of the group's entry keys.
std::string EntryKeyEnd(GroupId gid) { return GroupKey(gid, Tag(kEntryTag + 1)); }

void PutU32BE(std::string* out, uint32_t v) {
  char buf[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                 static_cast<char>(v)};
  out->append(buf, sizeof(buf));
}

uint32_t DecodeU32BE(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

std::string EncodeCompactionPoint(uint64_t index, uint64_t term) {
  std::string out;
  PutU64BE(&out, index);
  PutU64BE(&out, term);
  return out;
}

absl::StatusOr<raft::Entry> DecodeLogEntryValue(uint64_t index, std::string_view value) {
  if (value.size() < kEntryHeaderSize) {
    return absl::DataLossError(absl::StrCat("raftlog entry ", index, " is ", value.size(),
                                            " bytes, shorter than its header"));
  }
  const uint8_t type = static_cast<uint8_t>(value[8]);
  if (type != static_cast<uint8_t>(raft::EntryType::kNormal) &&
      type != static_cast<uint8_t>(raft::EntryType::kConfChange)) {
    return absl::DataLossError(absl::StrCat("raftlog entry ", index, " has unknown type ", type));
  }
  raft::Entry e;
  e.term = DecodeU64BE(value);
  e.index = index;
  e.type = static_cast<raft::EntryType>(type);
  e.data.assign(value.substr(kEntryHeaderSize));
  return e;
}

// A cursor over a byte string that fails instead of reading past the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U64(uint64_t* v) {
    if (in_.size() < 8) return false;
    *v = DecodeU64BE(in_);
    in_.remove_prefix(8);
    return true;
  }
  bool U32(uint32_t* v) {
    if (in_.size() < 4) return false;
    *v = DecodeU32BE(in_);
    in_.remove_prefix(4);
    return true;
  }
  bool NodeIds(std::vector<raft::NodeId>* ids) {
    uint32_t n = 0;
    if (!U32(&n) || n > in_.size() / 8) return false;
    ids->resize(n);
    for (raft::NodeId& id : *ids) U64(&id);
    return true;
  }
  std::string_view rest() const { return in_; }

 private:
  std::string_view in_;
};

}  // namespace

std::string LogEntryKey(GroupId gid, uint64_t index) {
  std::string key = GroupKey(gid, Tag(kEntryTag));
  PutU64BE(&key, index);
  return key;
}
std::string HardStateKey(GroupId gid) { return GroupKey(gid, Tag(kHardStateTag)); }
std::string SnapshotRecordKey(GroupId gid) { return GroupKey(gid, Tag(kSnapshotTag)); }
std::string CompactionPointKey(GroupId gid) { return GroupKey(gid, Tag(kCompactionPointTag)); }

std::string EncodeLogEntryValue(const raft::Entry& e) {
  std::string out;
  out.reserve(kEntryHeaderSize + e.data.size());
  PutU64BE(&out, e.term);
  out.push_back(static_cast<char>(e.type));
  out.append(e.data);
  return out;
}

std::string EncodeHardState(const raft::HardState& hs) {
  std::string out;
  PutU64BE(&out, hs.term);
  PutU64BE(&out, hs.vote);
  PutU64BE(&out, hs.commit);
  return out;
}

std::string EncodeSnapshotRecord(const raft::Snapshot& snap) {
  const raft::SnapshotMetadata& m = snap.metadata;
  std::string out;
  PutU64BE(&out, m.index);
  PutU64BE(&out, m.term);
  PutU32BE(&out, static_cast<uint32_t>(m.conf_state.voters.size()));
  for (raft::NodeId id : m.conf_state.voters) PutU64BE(&out, id);
  PutU32BE(&out, static_cast<uint32_t>(m.conf_state.learners.size()));
  for (raft::NodeId id : m.conf_state.learners) PutU64BE(&out, id);
  out.append(snap.data);
  return out;
}

absl::StatusOr<raft::Snapshot> DecodeSnapshotRecord(std::string_view in) {
  raft::Snapshot snap;
  Reader r(in);
  if (!r.U64(&snap.metadata.index) || !r.U64(&snap.metadata.term) ||
      !r.NodeIds(&snap.metadata.conf_state.voters) ||
      !r.NodeIds(&snap.metadata.conf_state.learners)) {
    return absl::DataLossError(
        absl::StrCat("snapshot record of ", in.size(), " bytes is truncated"));
  }
  snap.data.assign(r.rest());
  return snap;
}

absl::StatusOr<std::unique_ptr<GroupLog>> GroupLog::Load(StorageEngine* engine, GroupId gid) {
  auto log = std::unique_ptr<GroupLog>(new GroupLog(engine, gid));
  rocksdb::DB* db = engine->db();
  rocksdb::ColumnFamilyHandle* cf = engine->raftlog();
  rocksdb::ManagedSnapshot view(db);
  rocksdb::ReadOptions ro;
  ro.snapshot = view.snapshot();
  const std::string where = absl::StrCat("group ", gid, ": ");

  rocksdb::PinnableSlice value;
  rocksdb::Status s = db->Get(ro, cf, CompactionPointKey(gid), &value);
  if (s.ok()) {
    if (value.size() != 16) {
      return absl::DataLossError(
          absl::StrCat(where, "compaction point of ", value.size(), " bytes"));
    }
    log->compact_index_ = DecodeU64BE(value.ToStringView());
    log->compact_term_ = DecodeU64BE(value.ToStringView().substr(8));
  } else if (!s.IsNotFound()) {
    return FromRocksStatus(s, where + "read compaction point");
  }

  value.Reset();
  s = db->Get(ro, cf, HardStateKey(gid), &value);
  if (s.ok()) {
    if (value.size() != 24) {
      return absl::DataLossError(absl::StrCat(where, "hard state of ", value.size(), " bytes"));
    }
    std::string_view v = value.ToStringView();
    log->hard_state_ = {DecodeU64BE(v), DecodeU64BE(v.substr(8)), DecodeU64BE(v.substr(16))};
  } else if (!s.IsNotFound()) {
    return FromRocksStatus(s, where + "read hard state");
  }

  value.Reset();
  s = db->Get(ro, cf, SnapshotRecordKey(gid), &value);
  if (s.ok()) {
    absl::StatusOr<raft::Snapshot> snap = DecodeSnapshotRecord(value.ToStringView());
    if (!snap.ok()) return absl::DataLossError(where + std::string(snap.status().message()));
    log->snapshot_ = *std::move(snap);
  } else if (!s.IsNotFound()) {
    return FromRocksStatus(s, where + "read snapshot record");
  }

  // The entries run contiguously from the compaction point; check both ends, the cheap part.
  const std::string lower = LogEntryKey(gid, 0);
  const std::string upper = EntryKeyEnd(gid);
  const rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  log->last_index_ = log->compact_index_;
  log->last_term_ = log->compact_term_;
  it->Seek(lower);
  if (it->Valid()) {
    if (it->key().size() != kEntryKeySize) {
      return absl::DataLossError(where + "malformed entry key");
    }
    const uint64_t first = DecodeU64BE(it->key().ToStringView().substr(9));
    if (first != log->compact_index_ + 1) {
      return absl::DataLossError(absl::StrCat(where, "first entry ", first,
                                              " does not follow the compaction point ",
                                              log->compact_index_));
    }
    it->SeekToLast();
    if (it->Valid()) {
      if (it->key().size() != kEntryKeySize) {
        return absl::DataLossError(where + "malformed entry key");
      }
      log->last_index_ = DecodeU64BE(it->key().ToStringView().substr(9));
      absl::StatusOr<raft::Entry> last =
          DecodeLogEntryValue(log->last_index_, it->value().ToStringView());
      if (!last.ok()) return absl::DataLossError(where + std::string(last.status().message()));
      log->last_term_ = last->term;
    }
  }
  if (!it->status().ok()) return FromRocksStatus(it->status(), where + "scan entries");
  return log;
}

absl::StatusOr<raft::InitialState> GroupLog::GetInitialState() const {
  return raft::InitialState{hard_state_, snapshot_.metadata.conf_state};
}

absl::StatusOr<std::vector<raft::Entry>> GroupLog::Entries(uint64_t lo, uint64_t hi,
                                                           uint64_t max_size) const {
  if (lo <= compact_index_) return raft::RaftError(raft::RaftErrc::kCompacted);
  if (hi > last_index_ + 1) {
    return raft::RaftError(raft::RaftErrc::kUnavailable,
                           absl::StrCat("entries hi ", hi, " beyond last index ", last_index_));
  }
  std::vector<raft::Entry> out;
  if (lo >= hi) return out;

  const std::string upper = LogEntryKey(gid_, hi);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(engine_->db()->NewIterator(ro, engine_->raftlog()));
  uint64_t next = lo;
  uint64_t size = 0;
  for (it->Seek(LogEntryKey(gid_, lo)); it->Valid() && next < hi; it->Next(), ++next) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() != kEntryKeySize || DecodeU64BE(key.substr(9)) != next) break;
    const std::string_view value = it->value().ToStringView();
    // Same rule as MemoryStorage: the first entry always, later ones while within max_size.
    size += value.size() >= kEntryHeaderSize ? value.size() - kEntryHeaderSize : 0;
    if (!out.empty() && size > max_size) return out;
    absl::StatusOr<raft::Entry> e = DecodeLogEntryValue(next, value);
    if (!e.ok())
      return absl::DataLossError(absl::StrCat("group ", gid_, ": ", e.status().message()));
    out.push_back(*std::move(e));
  }
  if (!it->status().ok()) {
    return FromRocksStatus(it->status(), absl::StrCat("group ", gid_, ": read entries"));
  }
  if (next < hi) {
    return absl::DataLossError(
        absl::StrCat("group ", gid_, ": entry ", next, " missing from [", lo, ", ", hi, ")"));
  }
  return out;
}

absl::StatusOr<uint64_t> GroupLog::Term(uint64_t i) const {
  if (i < compact_index_) return raft::RaftError(raft::RaftErrc::kCompacted);
  if (i > last_index_) return raft::RaftError(raft::RaftErrc::kUnavailable);
  if (i == compact_index_) return compact_term_;
  if (i == last_index_) return last_term_;
  return ReadTerm(i);
}

absl::StatusOr<uint64_t> GroupLog::ReadTerm(uint64_t i) const {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      engine_->db()->Get(rocksdb::ReadOptions(), engine_->raftlog(), LogEntryKey(gid_, i), &value);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrCat("group ", gid_, ": entry ", i, " missing from [",
                                            FirstIndex(), ", ", last_index_, "]"));
  }
  if (!s.ok()) return FromRocksStatus(s, absl::StrCat("group ", gid_, ": read entry ", i));
  if (value.size() < kEntryHeaderSize) {
    return absl::DataLossError(absl::StrCat("group ", gid_, ": entry ", i, " is truncated"));
  }
  return DecodeU64BE(value.ToStringView());
}

absl::Status GroupLog::StageAppend(rocksdb::WriteBatch& batch,
                                   const std::vector<raft::Entry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  for (size_t k = 1; k < entries.size(); ++k) {
    if (entries[k].index != entries[0].index + k) {
      return raft::RaftError(raft::RaftErrc::kInvalidArgument,
                             absl::StrCat("entries not contiguous at ", entries[k].index));
    }
  }
  const uint64_t first = FirstIndex();
  const uint64_t last = entries.back().index;
  if (last < first) return absl::OkStatus();  // all already compacted
  const size_t skip = first > entries.front().index ? first - entries.front().index : 0;
  const uint64_t start = entries[skip].index;
  if (start > last_index_ + 1) {
    return raft::RaftError(
        raft::RaftErrc::kInvalidArgument,
        absl::StrCat("missing log entries: last ", last_index_, ", append at ", start));
  }
  rocksdb::ColumnFamilyHandle* cf = engine_->raftlog();
  for (size_t k = skip; k < entries.size(); ++k) {
    batch.Put(cf, LogEntryKey(gid_, entries[k].index), EncodeLogEntryValue(entries[k]));
  }
  // A conflicting suffix longer than the new entries: the rest of it goes too.
  if (last_index_ > last) {
    batch.DeleteRange(cf, LogEntryKey(gid_, last + 1), LogEntryKey(gid_, last_index_ + 1));
  }
  last_index_ = last;
  last_term_ = entries.back().term;
  return absl::OkStatus();
}

void GroupLog::StageHardState(rocksdb::WriteBatch& batch, const raft::HardState& hs) {
  batch.Put(engine_->raftlog(), HardStateKey(gid_), EncodeHardState(hs));
  hard_state_ = hs;
}

absl::Status GroupLog::StageSnapshot(rocksdb::WriteBatch& batch, const raft::Snapshot& snap) {
  if (snapshot_.metadata.index >= snap.metadata.index) {
    return raft::RaftError(raft::RaftErrc::kSnapOutOfDate);
  }
  rocksdb::ColumnFamilyHandle* cf = engine_->raftlog();
  batch.DeleteRange(cf, LogEntryKey(gid_, 0), EntryKeyEnd(gid_));
  batch.Put(cf, SnapshotRecordKey(gid_), EncodeSnapshotRecord(snap));
  batch.Put(cf, CompactionPointKey(gid_),
            EncodeCompactionPoint(snap.metadata.index, snap.metadata.term));
  snapshot_ = snap;
  compact_index_ = last_index_ = snap.metadata.index;
  compact_term_ = last_term_ = snap.metadata.term;
  return absl::OkStatus();
}

absl::StatusOr<raft::Snapshot> GroupLog::StageCreateSnapshot(rocksdb::WriteBatch& batch, uint64_t i,
                                                             const raft::ConfState* conf_state,
                                                             std::string data) {
  if (i <= snapshot_.metadata.index) return raft::RaftError(raft::RaftErrc::kSnapOutOfDate);
  if (i > last_index_) {
    return raft::RaftError(raft::RaftErrc::kUnavailable,
                           absl::StrCat("snapshot index ", i, " beyond last index ", last_index_));
  }
  absl::StatusOr<uint64_t> term = Term(i);
  if (!term.ok()) return term.status();
  raft::Snapshot snap = snapshot_;
  snap.metadata.index = i;
  snap.metadata.term = *term;
  if (conf_state != nullptr) snap.metadata.conf_state = *conf_state;
  snap.data = std::move(data);
  batch.Put(engine_->raftlog(), SnapshotRecordKey(gid_), EncodeSnapshotRecord(snap));
  snapshot_ = snap;
  return snap;
}

absl::Status GroupLog::StageCompact(rocksdb::WriteBatch& batch, uint64_t compact_index) {
  if (compact_index <= compact_index_) return raft::RaftError(raft::RaftErrc::kCompacted);
  if (compact_index > last_index_) {
    return raft::RaftError(raft::RaftErrc::kUnavailable, "compact beyond last index");
  }
  absl::StatusOr<uint64_t> term = Term(compact_index);
  if (!term.ok()) return term.status();
  rocksdb::ColumnFamilyHandle* cf = engine_->raftlog();
  batch.DeleteRange(cf, LogEntryKey(gid_, compact_index_ + 1),
                    LogEntryKey(gid_, compact_index + 1));
  batch.Put(cf, CompactionPointKey(gid_), EncodeCompactionPoint(compact_index, *term));
  compact_index_ = compact_index;
  compact_term_ = *term;
  return absl::OkStatus();
}

}  // namespace tessera::shard
