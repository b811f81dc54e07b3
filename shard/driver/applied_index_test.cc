// The durable applied index (snapshots-and-cold-start.md §3) and the applied counters at cold
// start (§7.3): every mutation leaf, the snapshot checkpoint, its sync and atomicity, duplicates.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "raft/types.h"
#include "rocksdb/file_system.h"
#include "rocksdb/write_batch.h"
#include "shard/data/store.h"
#include "shard/driver/driver.h"
#include "shard/driver/loopback_transport.h"
#include "shard/driver/snapshot_writer.h"
#include "shard/encryption/value_codec.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/membership/node_id.h"
#include "shard/snapshot/snapshot_token.h"
#include "shard/storage/engine.h"
#include "shard/storage/group_log.h"
#include "shard/storage/keys.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using storage_testing::FailingSyncFileSystem;
using storage_testing::TempDir;

constexpr GroupId kGroup = 1;
constexpr milliseconds kWait{10'000};

// Bounded poll: true as soon as `pred` holds, false at the deadline.
bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

constexpr uint64_t kTestNowMs = 1'700'000'000'000;

// Stages one entry the way the driver does (through an indexed batch) and appends what it
// staged to `batch`, so tests can keep inspecting and writing a plain WriteBatch. Entries
// staged one by one here see the database, not each other's writes.
std::optional<AppliedEntry> Stage(KvStateMachine& kv, rocksdb::WriteBatch& batch, GroupId gid,
                                  const raft::Entry& entry) {
  rocksdb::WriteBatchWithIndex indexed(rocksdb::BytewiseComparator(), 0, true);
  absl::StatusOr<std::optional<AppliedEntry>> staged = kv.StageApply(indexed, gid, entry, nullptr);
  EXPECT_TRUE(staged.ok()) << staged.status();
  if (!staged.ok()) return std::nullopt;
  // Concatenate the records (the public serialized form: 8-byte sequence, 4-byte LE count,
  // records).
  const rocksdb::WriteBatch& from = *indexed.GetWriteBatch();
  std::string rep = batch.Data();
  rep.append(from.Data().substr(12));
  const uint32_t count = batch.Count() + from.Count();
  for (int i = 0; i < 4; ++i) rep[8 + i] = static_cast<char>((count >> (8 * i)) & 0xff);
  batch = rocksdb::WriteBatch(rep);
  return *std::move(staged);
}

raft::Entry Normal(uint64_t index, std::string data) {
  return raft::Entry{2, index, raft::EntryType::kNormal, std::move(data)};
}

raft::Entry SetEntry(uint64_t index, std::string_view key, std::string_view value) {
  return Normal(index,
                EncodeEntryPayload(ProposalId{9, index}, kTestNowMs, EncodeSetCommand(key, value)));
}

std::unique_ptr<StorageEngine> OpenEngine(const std::string& dir, const EngineOptions& options) {
  auto engine = StorageEngine::Open(dir, options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

void PutMeta(StorageEngine& engine, GroupId gid, std::string_view name, std::string value) {
  rocksdb::WriteBatch batch;
  batch.Put(engine.meta(), MetaKey(gid, name), value);
  ASSERT_TRUE(engine.Write(batch, /*sync=*/true).ok());
}

void PutRow(StorageEngine& engine, GroupId gid, std::string_view key, std::string_view value) {
  rocksdb::WriteBatch batch;
  batch.Put(engine.data(), data::MetadataKey(gid, key),
            encryption::EncodeCleartextValue(data::EncodeMetadata(
                data::Metadata{data::KeyType::kString, 0, std::string(value)})));
  ASSERT_TRUE(engine.Write(batch, /*sync=*/true).ok());
}

std::optional<std::string> MetaRow(StorageEngine& engine, GroupId gid, std::string_view name) {
  std::string value;
  rocksdb::Status s =
      engine.db()->Get(rocksdb::ReadOptions(), engine.meta(), MetaKey(gid, name), &value);
  EXPECT_TRUE(s.ok() || s.IsNotFound()) << s.ToString();
  return s.ok() ? std::optional<std::string>(value) : std::nullopt;
}

AppliedIndex Durable(StorageEngine& engine, GroupId gid) {
  absl::StatusOr<AppliedIndex> applied = engine.LastAppliedIndex(gid);
  EXPECT_TRUE(applied.ok()) << applied.status();
  return applied.ok() ? *applied : AppliedIndex{};
}

std::optional<std::string> Row(const KvStateMachine& kv, GroupId gid, std::string_view key) {
  absl::StatusOr<std::optional<std::string>> v = kv.Get(gid, key);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::nullopt;
}

// Every operation of a WriteBatch, to assert what rides in one batch.
class BatchOps : public rocksdb::WriteBatch::Handler {
 public:
  struct Op {
    uint32_t cf;
    char kind;  // 'p' put, 'd' delete, 'r' delete range, 'm' merge
    std::string key;
    std::string value;
  };

  explicit BatchOps(const rocksdb::WriteBatch& batch) {
    rocksdb::WriteBatch copy(batch);
    EXPECT_TRUE(copy.Iterate(this).ok());
  }

  rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& k, const rocksdb::Slice& v) override {
    ops.push_back({cf, 'p', k.ToString(), v.ToString()});
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteCF(uint32_t cf, const rocksdb::Slice& k) override {
    ops.push_back({cf, 'd', k.ToString(), {}});
    return rocksdb::Status::OK();
  }
  rocksdb::Status SingleDeleteCF(uint32_t cf, const rocksdb::Slice& k) override {
    ops.push_back({cf, 'd', k.ToString(), {}});
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteRangeCF(uint32_t cf, const rocksdb::Slice& b,
                                const rocksdb::Slice& e) override {
    ops.push_back({cf, 'r', b.ToString(), e.ToString()});
    return rocksdb::Status::OK();
  }
  rocksdb::Status MergeCF(uint32_t cf, const rocksdb::Slice& k, const rocksdb::Slice& v) override {
    ops.push_back({cf, 'm', k.ToString(), v.ToString()});
    return rocksdb::Status::OK();
  }

  size_t Count(uint32_t cf) const {
    return static_cast<size_t>(
        std::count_if(ops.begin(), ops.end(), [cf](const Op& op) { return op.cf == cf; }));
  }
  bool HasPut(uint32_t cf, const std::string& key, const std::string& value) const {
    return std::any_of(ops.begin(), ops.end(), [&](const Op& op) {
      return op.cf == cf && op.kind == 'p' && op.key == key && op.value == value;
    });
  }

  std::vector<Op> ops;
};

// ---------------------------------------------------------------------------------------------
// AppliedIndexTest.EveryMutationLeafWritesIndex
//
// The leaves KvStateMachine has today: SET, DEL (present and absent keys), and a malformed
// command, which applies as a no-op but still advances the index; the leader's empty entry
// rides along as the effect-less case. The spec's other leaves (delete-range/prefix, multi-row
// batch and transaction commit, TTL rewrite) arrive with the data-model issue and must join this
// table then.

struct LeafCase {
  std::string name;
  std::vector<std::pair<std::string, std::string>> rows_before;  // direct writes, no index
  std::optional<std::string> command;  // nullopt: the leader's empty entry
  bool applies_ok = true;              // false: a malformed command, a no-op with a reason
  std::vector<std::pair<std::string, std::optional<std::string>>> rows_after;
};

// Names the leaf in failure messages instead of dumping the struct's bytes.
void PrintTo(const LeafCase& c, std::ostream* os) { *os << c.name; }

std::string TruncatedDelOfTwoKeys() {
  // count 2 but only one key: the first key must not be deleted either.
  std::string del = EncodeDelCommand({"a", "b"});
  del.resize(del.size() - 5);
  return del;
}

// Full names: AppliedIndexTest/MutationLeaf.EveryMutationLeafWritesIndex/<leaf>.
class MutationLeaf : public ::testing::TestWithParam<LeafCase> {};

TEST_P(MutationLeaf, EveryMutationLeafWritesIndex) {
  const LeafCase& c = GetParam();
  constexpr uint64_t kIndex = 7;
  TempDir dir;
  std::unique_ptr<StorageEngine> engine = OpenEngine(dir.path(), EngineOptions{});
  ASSERT_NE(engine, nullptr);
  PutMeta(*engine, kGroup, meta::kAppliedIndex, EncodeU64BE(kIndex - 1));
  for (const auto& [k, v] : c.rows_before) PutRow(*engine, kGroup, k, v);
  auto kv = KvStateMachine::Open(engine.get(), {kGroup});
  ASSERT_TRUE(kv.ok()) << kv.status();

  const raft::Entry entry =
      c.command.has_value()
          ? Normal(kIndex, EncodeEntryPayload(ProposalId{9, 1}, kTestNowMs, *c.command))
          : Normal(kIndex, "");
  rocksdb::WriteBatch batch;
  std::optional<AppliedEntry> applied = Stage(**kv, batch, kGroup, entry);
  ASSERT_TRUE(applied.has_value());
  EXPECT_EQ(applied->index, kIndex);
  EXPECT_EQ(applied->result.ok(), c.applies_ok) << applied->result;

  // The index and the effect are in the same batch.
  const BatchOps ops(batch);
  const uint32_t meta_cf = engine->meta()->GetID();
  const uint32_t data_cf = engine->data()->GetID();
  EXPECT_TRUE(ops.HasPut(meta_cf, MetaKey(kGroup, meta::kAppliedIndex), EncodeU64BE(kIndex)));
  // With the index: the clock ceiling, which a command's timestamp advances in the same batch.
  if (c.command.has_value()) {
    EXPECT_TRUE(
        ops.HasPut(meta_cf, MetaKey(kGroup, meta::kClockCeilingMs), EncodeU64BE(kTestNowMs)));
    EXPECT_EQ(ops.Count(meta_cf), 2u);
  } else {
    EXPECT_EQ(ops.Count(meta_cf), 1u);
  }
  EXPECT_EQ(ops.Count(engine->raftlog()->GetID()), 0u);
  if (!c.applies_ok || !c.command.has_value()) {
    EXPECT_EQ(ops.Count(data_cf), 0u);
  }

  ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
  EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{kIndex, true}));
  EXPECT_EQ((*kv)->applied_index(kGroup), kIndex);
  for (const auto& [k, v] : c.rows_after) EXPECT_EQ(Row(**kv, kGroup, k), v) << "key " << k;
}

INSTANTIATE_TEST_SUITE_P(
    AppliedIndexTest, MutationLeaf,
    ::testing::Values(
        LeafCase{"Set", {}, EncodeSetCommand("k", "v"), true, {{"k", "v"}}},
        LeafCase{
            "SetOverwrite", {{"k", "old"}}, EncodeSetCommand("k", "new"), true, {{"k", "new"}}},
        LeafCase{"DelPresent",
                 {{"a", "1"}, {"b", "2"}, {"c", "3"}},
                 EncodeDelCommand({"a", "b"}),
                 true,
                 {{"a", std::nullopt}, {"b", std::nullopt}, {"c", "3"}}},
        LeafCase{"DelAbsent",
                 {{"a", "1"}},
                 EncodeDelCommand({"x"}),
                 true,
                 {{"a", "1"}, {"x", std::nullopt}}},
        LeafCase{"MalformedUnknownOp", {{"a", "1"}}, std::string("\x07"), false, {{"a", "1"}}},
        LeafCase{"MalformedTruncatedDel",
                 {{"a", "1"}, {"b", "2"}},
                 TruncatedDelOfTwoKeys(),
                 false,
                 {{"a", "1"}, {"b", "2"}}},
        LeafCase{"EmptyLeaderEntry", {{"a", "1"}}, std::nullopt, true, {{"a", "1"}}}),
    [](const ::testing::TestParamInfo<LeafCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------

TEST(AppliedIndexTest, CheckpointIsMonotonic) {
  TempDir dir;
  std::unique_ptr<StorageEngine> engine = OpenEngine(dir.path(), EngineOptions{});
  ASSERT_NE(engine, nullptr);

  // A lower bump (a snapshot at 40 racing an apply that reached 50) never rewinds.
  PutMeta(*engine, kGroup, meta::kAppliedIndex, EncodeU64BE(50));
  for (uint64_t x : {40u, 50u}) {
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(StageAppliedIndexCheckpoint(engine.get(), kGroup, x, batch).ok());
    EXPECT_EQ(batch.Count(), 0u) << "x = " << x;
    ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
    EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{50, true}));
  }

  // Below the checkpoint: raised to it.
  PutMeta(*engine, kGroup, meta::kAppliedIndex, EncodeU64BE(30));
  {
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(StageAppliedIndexCheckpoint(engine.get(), kGroup, 40, batch).ok());
    EXPECT_EQ(batch.Count(), 1u);
    EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{30, true}));  // staged, not yet written
    ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
    EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{40, true}));
  }

  // The comparison sees an apply that is written but not yet synced (memtable included).
  {
    rocksdb::WriteBatch apply;
    apply.Put(engine->meta(), MetaKey(kGroup, meta::kAppliedIndex), EncodeU64BE(45));
    ASSERT_TRUE(engine->Write(apply, /*sync=*/false).ok());
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(StageAppliedIndexCheckpoint(engine.get(), kGroup, 42, batch).ok());
    EXPECT_EQ(batch.Count(), 0u);
  }

  // Absent (another group, never applied) and unreadable (wrong length): written.
  for (GroupId gid : {GroupId{2}, GroupId{3}}) {
    if (gid == 3) PutMeta(*engine, gid, meta::kAppliedIndex, std::string(7, '\x7f'));
    rocksdb::WriteBatch batch;
    ASSERT_TRUE(StageAppliedIndexCheckpoint(engine.get(), gid, 40, batch).ok());
    EXPECT_EQ(batch.Count(), 1u) << "group " << gid;
    ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
    EXPECT_EQ(Durable(*engine, gid), (AppliedIndex{40, true})) << "group " << gid;
  }
  EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{45, true}));  // other groups untouched
}

// ---------------------------------------------------------------------------------------------
// AppliedIndexTest.CheckpointSyncedUnderNosync
//
// The observable: a FileSystem wrapper records, for every WAL file, the bytes appended and the
// order of Append and Sync calls. RocksDB hands each write's WAL record to the file in one
// Append (it flushes after every record unless manual_wal_flush), and a sync = true write then
// calls Sync before Write returns; a sync = false write does not, so the next call on that file
// is the next write's Append. "Synced by its own write" is therefore: the Append that completed
// the record is followed by a Sync, with no Append in between. Parsing the WAL framing (not
// searching raw bytes) keeps a record that straddles a 32 KiB block boundary recognisable.
// Counting syncs around RecordSnapshot instead would race the driver thread, and failing the
// sync would end in the driver's Fatal (abort) — the next syncs are never observable.

class WalRecordingFileSystem : public rocksdb::FileSystemWrapper {
 public:
  struct Event {
    bool sync;          // false: an Append
    std::string file;   // WAL file name
    uint64_t size = 0;  // bytes appended to the file so far
  };

  WalRecordingFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "WalRecordingFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(fname, opts, &file, dbg);
    if (!s.ok()) return s;
    if (fname.size() > 4 && fname.compare(fname.size() - 4, 4, ".log") == 0) {
      *result = std::make_unique<File>(fname, std::move(file), this);
    } else {
      *result = std::move(file);
    }
    return s;
  }

  std::vector<Event> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::map<std::string, std::string> wal_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::string name, std::unique_ptr<rocksdb::FSWritableFile> file,
         WalRecordingFileSystem* fs)
        : FSWritableFileOwnerWrapper(std::move(file)), name_(std::move(name)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& opts,
                             rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = FSWritableFileOwnerWrapper::Append(data, opts, dbg);
      if (s.ok()) fs_->Record(name_, false, data);
      return s;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& opts,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = FSWritableFileOwnerWrapper::Append(data, opts, info, dbg);
      if (s.ok()) fs_->Record(name_, false, data);
      return s;
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& opts, rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = FSWritableFileOwnerWrapper::Sync(opts, dbg);
      if (s.ok()) fs_->Record(name_, true, {});
      return s;
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& opts, rocksdb::IODebugContext* dbg) override {
      rocksdb::IOStatus s = FSWritableFileOwnerWrapper::Fsync(opts, dbg);
      if (s.ok()) fs_->Record(name_, true, {});
      return s;
    }

   private:
    const std::string name_;
    WalRecordingFileSystem* fs_;
  };

  void Record(const std::string& file, bool sync, const rocksdb::Slice& data) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string& bytes = bytes_[file];
    bytes.append(data.data(), data.size());
    events_.push_back(Event{sync, file, bytes.size()});
  }

  mutable std::mutex mu_;  // guards events_ and bytes_; RocksDB writes from its own threads
  std::vector<Event> events_;
  std::map<std::string, std::string> bytes_;
};

// One logical WAL record (a WriteBatch) and the file offset just past its last fragment.
struct WalRecord {
  std::string file;
  uint64_t end = 0;
  std::string payload;
};

// RocksDB's log format (db/log_format.h): 32 KiB blocks of physical records, each a 7-byte
// header (crc32c u32, length u16 LE, type u8; 11 bytes for the recyclable types 5..8) and a
// fragment; a block tail too short for a header is zero padding. Types 1..4 are full, first,
// middle, last; others are metadata records and skipped.
std::vector<WalRecord> ParseWal(const std::string& file, const std::string& bytes) {
  constexpr size_t kBlockSize = 32768;
  constexpr size_t kHeaderSize = 7;
  std::vector<WalRecord> out;
  std::string pending;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t left_in_block = kBlockSize - pos % kBlockSize;
    if (left_in_block < kHeaderSize) {
      pos += left_in_block;
      continue;
    }
    if (pos + kHeaderSize > bytes.size()) break;
    const auto* h = reinterpret_cast<const uint8_t*>(bytes.data() + pos);
    const size_t length = h[4] | (static_cast<size_t>(h[5]) << 8);
    const uint8_t raw_type = h[6];
    if (raw_type == 0 && length == 0) {  // padding
      pos += left_in_block;
      continue;
    }
    const bool recyclable = raw_type >= 5 && raw_type <= 8;
    const size_t header = recyclable ? 11 : kHeaderSize;
    if (pos + header + length > bytes.size()) break;
    const std::string fragment = bytes.substr(pos + header, length);
    pos += header + length;
    switch (recyclable ? raw_type - 4 : raw_type) {
      case 1:
        out.push_back(WalRecord{file, pos, fragment});
        break;
      case 2:
        pending = fragment;
        break;
      case 3:
        pending += fragment;
        break;
      case 4:
        out.push_back(WalRecord{file, pos, pending + fragment});
        pending.clear();
        break;
      default:
        break;
    }
  }
  return out;
}

std::vector<WalRecord> WalRecordsContaining(const WalRecordingFileSystem& fs,
                                            std::string_view needle) {
  std::vector<WalRecord> out;
  for (const auto& [file, bytes] : fs.wal_bytes()) {
    for (WalRecord& r : ParseWal(file, bytes)) {
      if (r.payload.find(needle) != std::string::npos) out.push_back(std::move(r));
    }
  }
  return out;
}

// The Append that completed `r` was followed by a Sync covering it before any other Append.
bool SyncedByItsOwnWrite(const std::vector<WalRecordingFileSystem::Event>& events,
                         const WalRecord& r) {
  bool appended = false;
  for (const WalRecordingFileSystem::Event& e : events) {
    if (e.file != r.file) continue;
    if (!appended) {
      appended = !e.sync && e.size >= r.end;
      continue;
    }
    return e.sync && e.size >= r.end;
  }
  return false;
}

TEST(AppliedIndexTest, CheckpointSyncedUnderNosync) {
  // The instrument first: it tells a synced write from an unsynced one.
  {
    TempDir dir;
    auto fs = std::make_shared<WalRecordingFileSystem>();
    EngineOptions options;
    options.env = rocksdb::NewCompositeEnv(fs);
    std::unique_ptr<StorageEngine> engine = OpenEngine(dir.path(), options);
    ASSERT_NE(engine, nullptr);
    for (const auto& [value, sync] : std::vector<std::pair<std::string, bool>>{
             {"probe-unsynced", false}, {"probe-next", false}, {"probe-synced", true}}) {
      rocksdb::WriteBatch batch;
      batch.Put(engine->meta(), MetaKey(kGroup, "probe"), value);
      ASSERT_TRUE(engine->Write(batch, sync).ok());
    }
    const auto events = fs->events();
    const auto unsynced = WalRecordsContaining(*fs, "probe-unsynced");
    const auto synced = WalRecordsContaining(*fs, "probe-synced");
    ASSERT_EQ(unsynced.size(), 1u);
    ASSERT_EQ(synced.size(), 1u);
    EXPECT_FALSE(SyncedByItsOwnWrite(events, unsynced[0]));
    EXPECT_TRUE(SyncedByItsOwnWrite(events, synced[0]));
  }

  // A single-node group under --fsmSyncMode=nosync, snapshotting every 10 entries.
  TempDir dir;
  auto fs = std::make_shared<WalRecordingFileSystem>();
  EngineOptions engine_options;
  engine_options.env = rocksdb::NewCompositeEnv(fs);
  std::unique_ptr<StorageEngine> engine = OpenEngine(dir.path(), engine_options);
  ASSERT_NE(engine, nullptr);
  LoopbackHub hub;
  const NodeId id = DeriveNodeId("n1");
  LoopbackTransport transport(&hub, id, dir.path());
  DriverOptions o;
  o.node_id = id;
  o.groups[kGroup] = "10.0.0.1:5051";
  o.bootstrap_lists[kGroup] = {Server{id, "n1", "10.0.0.1:5051", true}};
  o.tick_interval = milliseconds(10);
  o.apply_sync = false;
  o.data_dir = dir.path();
  o.snapshot_count = 10;
  o.log_retain_entries = 2;
  auto driver = Driver::Open(engine.get(), &transport, o);
  ASSERT_TRUE(driver.ok()) << driver.status();
  ASSERT_TRUE((*driver)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return (*driver)->Status(kGroup)->role == raft::Role::kLeader; }));
  for (int k = 0; k < 25; ++k) {
    auto p = std::make_shared<std::promise<absl::Status>>();
    std::future<absl::Status> f = p->get_future();
    (*driver)->Propose(kGroup, EncodeSetCommand(absl::StrCat("key", k), "v"),
                       [p](absl::Status s) { p->set_value(std::move(s)); });
    ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
    ASSERT_TRUE(f.get().ok());
  }
  ASSERT_TRUE(WaitFor([&] { return (*driver)->counters().snapshots_created >= 2; }));
  (*driver)->Stop();
  const uint64_t created = (*driver)->counters().snapshots_created;
  const GroupStatus st = *(*driver)->Status(kGroup);

  // Every snapshot record (its token's magic and version) was synced by its own write.
  const std::string token_prefix = std::string(kSnapshotTokenMagic) + '\x01';
  const auto records = WalRecordsContaining(*fs, token_prefix);
  EXPECT_EQ(records.size(), created);
  const auto events = fs->events();
  for (const WalRecord& r : records) {
    EXPECT_TRUE(SyncedByItsOwnWrite(events, r)) << r.file << " record ending at " << r.end;
  }
  // The last one is the recorded snapshot, and the durable index covers it.
  const std::string last_token = absl::StrCat(token_prefix, EncodeU64BE(st.snapshot_index));
  EXPECT_EQ(WalRecordsContaining(*fs, last_token).size(), 1u);
  const AppliedIndex applied = Durable(*engine, kGroup);
  EXPECT_TRUE(applied.present);
  EXPECT_GE(applied.value, st.snapshot_index);
}

// ---------------------------------------------------------------------------------------------
// AppliedIndexTest.CheckpointAndRecordAtomic
//
// Crash table (§3), X new snapshot, X' previous, Y last data apply: crash before the batch →
// record X', meta Y; after it → record X, meta >= X; a later apply at Z → record X, meta Z.
// Y < X here: entries (Y, X] had no effect and, as §3 allows, skipped the index write; the
// checkpoint is what raises the index to X.

constexpr uint64_t kPrevSnapshot = 10;  // X'
constexpr uint64_t kLastApply = 18;     // Y
constexpr uint64_t kSnapshot = 20;      // X
constexpr uint64_t kLaterApply = 21;    // Z

raft::ConfState OneVoter() { return raft::ConfState{{DeriveNodeId("n1")}, {}}; }

// Log 1..25 with commit 25, snapshot X' recorded with its checkpoint, rows applied up to Y.
void PrepareGroup(StorageEngine& engine) {
  auto log = GroupLog::Load(&engine, kGroup);
  ASSERT_TRUE(log.ok()) << log.status();
  {
    rocksdb::WriteBatch batch;
    std::vector<raft::Entry> entries;
    for (uint64_t i = 1; i <= 25; ++i) entries.push_back(Normal(i, ""));
    ASSERT_TRUE((*log)->StageAppend(batch, entries).ok());
    (*log)->StageHardState(batch, raft::HardState{2, 0, 25});
    ASSERT_TRUE(engine.Write(batch, /*sync=*/true).ok());
  }
  {
    rocksdb::WriteBatch batch;
    const raft::ConfState cs = OneVoter();
    ASSERT_TRUE((*log)
                    ->StageCreateSnapshot(batch, kPrevSnapshot, &cs,
                                          EncodeSnapshotToken({kPrevSnapshot, 0xAAAA}))
                    .ok());
    ASSERT_TRUE(StageAppliedIndexCheckpoint(&engine, kGroup, kPrevSnapshot, batch).ok());
    ASSERT_TRUE(engine.Write(batch, /*sync=*/true).ok());
  }
  auto kv = KvStateMachine::Open(&engine, {kGroup});
  ASSERT_TRUE(kv.ok());
  ASSERT_EQ((*kv)->applied_index(kGroup), kPrevSnapshot);
  rocksdb::WriteBatch batch;
  for (uint64_t i = kPrevSnapshot + 1; i <= kLastApply; ++i) {
    ASSERT_TRUE(Stage(**kv, batch, kGroup, SetEntry(i, absl::StrCat("k", i), "v")).has_value());
  }
  ASSERT_TRUE(engine.Write(batch, /*sync=*/true).ok());
}

// The batch RecordSnapshot writes for X: the snapshot record and the checkpoint, together.
void StageRecordBatch(StorageEngine& engine, rocksdb::WriteBatch& batch) {
  auto log = GroupLog::Load(&engine, kGroup);
  ASSERT_TRUE(log.ok()) << log.status();
  const raft::ConfState cs = OneVoter();
  ASSERT_TRUE(
      (*log)
          ->StageCreateSnapshot(batch, kSnapshot, &cs, EncodeSnapshotToken({kSnapshot, 0xBBBB}))
          .ok());
  ASSERT_TRUE(StageAppliedIndexCheckpoint(&engine, kGroup, kSnapshot, batch).ok());
  ASSERT_EQ(BatchOps(batch).Count(engine.meta()->GetID()), 1u);  // Y < X: the bump is staged
}

struct CrashRow {
  uint64_t record = 0;
  AppliedIndex applied;
};

CrashRow ReadRow(const std::string& dir) {
  std::unique_ptr<StorageEngine> engine = OpenEngine(dir, EngineOptions{});
  if (engine == nullptr) return {};
  auto log = GroupLog::Load(engine.get(), kGroup);
  EXPECT_TRUE(log.ok()) << log.status();
  if (!log.ok()) return {};
  // The rows applied before the batch survive every row of the table.
  auto kv = KvStateMachine::Open(engine.get(), {kGroup});
  EXPECT_TRUE(kv.ok());
  if (kv.ok()) {
    EXPECT_EQ(Row(**kv, kGroup, absl::StrCat("k", kLastApply)), "v");
  }
  return CrashRow{(*log)->GetSnapshot()->metadata.index, Durable(*engine, kGroup)};
}

bool IsBefore(const CrashRow& r) {
  return r.record == kPrevSnapshot && r.applied == AppliedIndex{kLastApply, true};
}
bool IsAfter(const CrashRow& r) {
  return r.record == kSnapshot && r.applied.present && r.applied.value >= kSnapshot;
}

fs::path NewestWal(const std::string& data_dir) {
  std::vector<fs::path> wals;
  for (const auto& entry : fs::directory_iterator(fs::path(data_dir) / "rocksdb")) {
    if (entry.path().extension() == ".log") wals.push_back(entry.path());
  }
  EXPECT_FALSE(wals.empty());
  std::sort(wals.begin(), wals.end());
  return wals.empty() ? fs::path() : wals.back();
}

TEST(AppliedIndexTest, CheckpointAndRecordAtomic) {
  TempDir live;
  TempDir at_write;  // the live database right after the batch, engine still open
  uint64_t wal_before = 0;
  uint64_t wal_after = 0;
  {
    std::unique_ptr<StorageEngine> engine = OpenEngine(live.path(), EngineOptions{});
    ASSERT_NE(engine, nullptr);
    ASSERT_NO_FATAL_FAILURE(PrepareGroup(*engine));
    rocksdb::WriteBatch batch;
    ASSERT_NO_FATAL_FAILURE(StageRecordBatch(*engine, batch));
    // Not landed: the batch was staged but never written.
    {
      TempDir crashed;
      fs::copy(live.path(), crashed.path(), fs::copy_options::recursive);
      const CrashRow row = ReadRow(crashed.path());
      EXPECT_TRUE(IsBefore(row)) << row.record << " / " << row.applied.value;
    }
    wal_before = fs::file_size(NewestWal(live.path()));
    ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
    wal_after = fs::file_size(NewestWal(live.path()));
    ASSERT_GT(wal_after, wal_before);
    fs::copy(live.path(), at_write.path(), fs::copy_options::recursive);

    // Row 3: a later apply at Z keeps record X and moves the index to Z.
    auto kv = KvStateMachine::Open(engine.get(), {kGroup});
    ASSERT_TRUE(kv.ok());
    rocksdb::WriteBatch apply;
    ASSERT_TRUE(Stage(**kv, apply, kGroup, SetEntry(kLaterApply, "z", "v")).has_value());
    ASSERT_TRUE(engine->Write(apply, /*sync=*/false).ok());
  }
  {
    const CrashRow row = ReadRow(live.path());
    EXPECT_EQ(row.record, kSnapshot);
    EXPECT_EQ(row.applied, (AppliedIndex{kLaterApply, true}));
  }

  // A crash at every point of the batch's WAL record: a torn record is the old row, the whole
  // record the new one; never record X with meta < X, nor meta X with record X'.
  const std::string wal_name = NewestWal(at_write.path()).filename().string();
  const uint64_t step = std::max<uint64_t>(1, (wal_after - wal_before) / 16);
  std::vector<uint64_t> cuts;
  for (uint64_t cut = wal_before; cut < wal_after; cut += step) cuts.push_back(cut);
  cuts.push_back(wal_after - 1);
  cuts.push_back(wal_after);
  for (uint64_t cut : cuts) {
    TempDir crashed;
    fs::copy(at_write.path(), crashed.path(), fs::copy_options::recursive);
    fs::resize_file(fs::path(crashed.path()) / "rocksdb" / wal_name, cut);
    const CrashRow row = ReadRow(crashed.path());
    if (cut < wal_after) {
      EXPECT_TRUE(IsBefore(row)) << "cut " << cut << ": record " << row.record << ", applied "
                                 << row.applied.value;
    } else {
      EXPECT_TRUE(IsAfter(row)) << "record " << row.record << ", applied " << row.applied.value;
      EXPECT_EQ(row.applied, (AppliedIndex{kSnapshot, true}));
    }
  }

  // A failed fsync of the batch (the test hook returns instead of stopping the process): the
  // batch may or may not be on disk, but only whole.
  TempDir faulty_dir;
  auto failing = std::make_shared<FailingSyncFileSystem>();
  int stops = 0;
  {
    EngineOptions options;
    options.env = rocksdb::NewCompositeEnv(failing);
    options.on_sync_failure = [&stops] { ++stops; };
    std::unique_ptr<StorageEngine> engine = OpenEngine(faulty_dir.path(), options);
    ASSERT_NE(engine, nullptr);
    ASSERT_NO_FATAL_FAILURE(PrepareGroup(*engine));
    rocksdb::WriteBatch batch;
    ASSERT_NO_FATAL_FAILURE(StageRecordBatch(*engine, batch));
    failing->fail_sync = true;
    ::testing::internal::CaptureStderr();
    const absl::Status s = engine->Write(batch, /*sync=*/true);
    ::testing::internal::GetCapturedStderr();
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(stops, 1);
    failing->fail_sync = false;
    (void)engine->Close();  // may report the background error RocksDB latched
  }
  const CrashRow row = ReadRow(faulty_dir.path());
  EXPECT_TRUE(IsBefore(row) || IsAfter(row))
      << "record " << row.record << ", applied " << row.applied.value;
}

// ---------------------------------------------------------------------------------------------
// ColdStartApplyTest: the applied counters after Driver::Open and duplicate suppression.
// .HaltApplyStopsWithoutAdvancing and .VolatileClassifierSeesCleartext wait for HaltApply and a
// volatile-only entry type, neither of which exists yet.

TEST(ColdStartApplyTest, SetAppliedIsAdvanceOnly) {
  TempDir dir;
  std::unique_ptr<StorageEngine> engine = OpenEngine(dir.path(), EngineOptions{});
  ASSERT_NE(engine, nullptr);
  PutMeta(*engine, kGroup, meta::kAppliedIndex, EncodeU64BE(10));
  auto kv = KvStateMachine::Open(engine.get(), {kGroup});
  ASSERT_TRUE(kv.ok());
  ASSERT_EQ((*kv)->applied_index(kGroup), 10u);

  (*kv)->AdvanceApplied(kGroup, 5);
  EXPECT_EQ((*kv)->applied_index(kGroup), 10u);
  (*kv)->AdvanceApplied(kGroup, 10);
  EXPECT_EQ((*kv)->applied_index(kGroup), 10u);
  for (uint64_t i : {7u, 10u}) {
    rocksdb::WriteBatch batch;
    EXPECT_FALSE(Stage(**kv, batch, kGroup, SetEntry(i, "k", "old")).has_value()) << i;
    EXPECT_EQ(batch.Count(), 0u);
  }

  // Forward moves; the in-memory counter only (the restore wrote the durable index itself).
  (*kv)->AdvanceApplied(kGroup, 12);
  EXPECT_EQ((*kv)->applied_index(kGroup), 12u);
  EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{10, true}));
  rocksdb::WriteBatch batch;
  EXPECT_FALSE(Stage(**kv, batch, kGroup, SetEntry(12, "k", "old")).has_value());
  EXPECT_EQ(batch.Count(), 0u);
  ASSERT_TRUE(Stage(**kv, batch, kGroup, SetEntry(13, "k", "new")).has_value());
  (*kv)->AdvanceApplied(kGroup, 11);  // after a fresh apply too
  EXPECT_EQ((*kv)->applied_index(kGroup), 13u);
  ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
  EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{13, true}));
  EXPECT_EQ(Row(**kv, kGroup, "k"), "new");
}

TEST(ColdStartApplyTest, DuplicateEntryHasNoSideEffects) {
  TempDir dir;
  std::unique_ptr<StorageEngine> engine = OpenEngine(dir.path(), EngineOptions{});
  ASSERT_NE(engine, nullptr);
  {
    auto kv = KvStateMachine::Open(engine.get(), {kGroup});
    ASSERT_TRUE(kv.ok());
    rocksdb::WriteBatch batch;
    for (uint64_t i = 1; i <= 5; ++i) {
      ASSERT_TRUE(Stage(**kv, batch, kGroup, SetEntry(i, absl::StrCat("k", i), "v")).has_value());
    }
    ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
  }
  // After a restart the core could (it does not: Config::applied) re-deliver 1..5.
  auto kv = KvStateMachine::Open(engine.get(), {kGroup});
  ASSERT_TRUE(kv.ok());
  const std::vector<raft::Entry> duplicates = {
      SetEntry(3, "k3", "replayed"),  // a SET
      Normal(4,
             EncodeEntryPayload(ProposalId{9, 4}, kTestNowMs, EncodeDelCommand({"k1"}))),  // a DEL
      Normal(5, ""),                                                                       // a noop
  };
  for (const raft::Entry& e : duplicates) {
    rocksdb::WriteBatch batch;
    // nullopt: nothing to resolve a proposal with, nothing staged, no index write.
    EXPECT_FALSE(Stage(**kv, batch, kGroup, e).has_value()) << "entry " << e.index;
    EXPECT_EQ(batch.Count(), 0u) << "entry " << e.index;
    EXPECT_EQ((*kv)->applied_index(kGroup), 5u);
  }
  EXPECT_EQ(Row(**kv, kGroup, "k1"), "v");
  EXPECT_EQ(Row(**kv, kGroup, "k3"), "v");
  EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{5, true}));
}

TEST(ColdStartApplyTest, DuplicateConfChangeNotPersisted) {
  TempDir dir;
  std::unique_ptr<StorageEngine> engine = OpenEngine(dir.path(), EngineOptions{});
  ASSERT_NE(engine, nullptr);
  PutMeta(*engine, kGroup, meta::kAppliedIndex, EncodeU64BE(8));
  PutMeta(*engine, kGroup, meta::kConfState, "conf-state-at-6");
  PutMeta(*engine, kGroup, meta::kPeers, "peers-at-6");
  auto kv = KvStateMachine::Open(engine.get(), {kGroup});
  ASSERT_TRUE(kv.ok());

  const raft::ConfChange cc{raft::ConfChangeType::kAddNode, DeriveNodeId("n4"), "context"};
  const raft::Entry conf{2, 6, raft::EntryType::kConfChange, raft::EncodeConfChange(cc)};
  // The driver's ApplyCommitted `continue`s on nullopt before decoding the conf change, so a
  // duplicate never reaches ApplyConfChange nor the conf_state / peers / bootstrap_era puts.
  rocksdb::WriteBatch batch;
  EXPECT_FALSE(Stage(**kv, batch, kGroup, conf).has_value());
  EXPECT_EQ(batch.Count(), 0u);  // no row in any column family: no snapshot record either
  ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
  EXPECT_EQ(MetaRow(*engine, kGroup, meta::kConfState), "conf-state-at-6");
  EXPECT_EQ(MetaRow(*engine, kGroup, meta::kPeers), "peers-at-6");
  EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{8, true}));
  EXPECT_EQ((*kv)->applied_index(kGroup), 8u);

  // The same conf change fresh (above applied) applies: the driver persists it then.
  const raft::Entry fresh{2, 9, raft::EntryType::kConfChange, raft::EncodeConfChange(cc)};
  std::optional<AppliedEntry> applied = Stage(**kv, batch, kGroup, fresh);
  ASSERT_TRUE(applied.has_value());
  EXPECT_EQ(applied->index, 9u);
  EXPECT_FALSE(applied->proposal.has_value());
}

TEST(ColdStartApplyTest, FreshEntryAppliesAndAdvances) {
  TempDir dir;
  std::unique_ptr<StorageEngine> engine = OpenEngine(dir.path(), EngineOptions{});
  ASSERT_NE(engine, nullptr);
  PutMeta(*engine, kGroup, meta::kAppliedIndex, EncodeU64BE(5));
  auto kv = KvStateMachine::Open(engine.get(), {kGroup});
  ASSERT_TRUE(kv.ok());
  ASSERT_EQ((*kv)->applied_index(kGroup), 5u);

  rocksdb::WriteBatch batch;
  std::optional<AppliedEntry> applied = Stage(**kv, batch, kGroup, SetEntry(6, "k", "v"));
  ASSERT_TRUE(applied.has_value());
  EXPECT_EQ(applied->index, 6u);
  EXPECT_EQ(applied->proposal, (ProposalId{9, 6}));  // the proposer's waiter is resolved
  EXPECT_TRUE(applied->result.ok());
  EXPECT_EQ((*kv)->applied_index(kGroup), 6u);                   // staged
  EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{5, true}));  // not yet written
  const BatchOps ops(batch);
  EXPECT_TRUE(ops.HasPut(engine->data()->GetID(), data::MetadataKey(kGroup, "k"),
                         encryption::EncodeCleartextValue(data::EncodeMetadata(
                             data::Metadata{data::KeyType::kString, 0, "v"}))));
  EXPECT_TRUE(
      ops.HasPut(engine->meta()->GetID(), MetaKey(kGroup, meta::kAppliedIndex), EncodeU64BE(6)));
  ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
  EXPECT_EQ(Durable(*engine, kGroup), (AppliedIndex{6, true}));
  EXPECT_EQ(Row(**kv, kGroup, "k"), "v");

  // The next one continues from there, and survives a reopen.
  batch.Clear();
  ASSERT_TRUE(Stage(**kv, batch, kGroup, SetEntry(7, "k", "w")).has_value());
  ASSERT_TRUE(engine->Write(batch, /*sync=*/true).ok());
  auto reopened = KvStateMachine::Open(engine.get(), {kGroup});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->applied_index(kGroup), 7u);
  EXPECT_EQ(Row(**reopened, kGroup, "k"), "w");
}

// Three nodes hosting kGroup over a LoopbackHub, each with its own RocksDB; the engine and the
// driver open separately so a test can read or edit the durable state in between.
class MiniCluster {
 public:
  struct Node {
    std::string raft_id;
    NodeId id = 0;
    TempDir dir;
    std::unique_ptr<StorageEngine> engine;
    std::unique_ptr<LoopbackTransport> transport;
    std::unique_ptr<Driver> driver;
  };

  MiniCluster() {
    for (int i = 1; i <= 3; ++i) {
      auto n = std::make_unique<Node>();
      n->raft_id = absl::StrCat("n", i);
      n->id = DeriveNodeId(n->raft_id);
      list_.push_back(Server{n->id, n->raft_id, Address(i - 1), true});
      nodes_.push_back(std::move(n));
    }
    std::sort(list_.begin(), list_.end(),
              [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  }
  ~MiniCluster() { CloseAll(); }

  static std::string Address(int i) { return absl::StrCat("10.0.0.", i + 1, ":5051"); }
  int size() const { return static_cast<int>(nodes_.size()); }
  Node& node(int i) { return *nodes_[i]; }
  Driver& driver(int i) { return *nodes_[i]->driver; }

  void OpenEngine(int i) {
    nodes_[i]->engine = tessera::shard::OpenEngine(nodes_[i]->dir.path(), EngineOptions{});
    ASSERT_NE(nodes_[i]->engine, nullptr);
  }
  void OpenDriver(int i) {
    Node& n = *nodes_[i];
    n.transport = std::make_unique<LoopbackTransport>(&hub_, n.id, n.dir.path());
    DriverOptions o;
    o.node_id = n.id;
    o.groups[kGroup] = Address(i);
    o.bootstrap_lists[kGroup] = list_;
    o.tick_interval = milliseconds(10);
    o.data_dir = n.dir.path();
    o.snapshot_count = 10;
    o.log_retain_entries = 5;
    auto driver = Driver::Open(n.engine.get(), n.transport.get(), o);
    ASSERT_TRUE(driver.ok()) << driver.status();
    n.driver = *std::move(driver);
  }
  void StartAll() {
    for (int i = 0; i < size(); ++i) {
      if (!nodes_[i]->engine) {
        ASSERT_NO_FATAL_FAILURE(OpenEngine(i));
      }
      if (!nodes_[i]->driver) {
        ASSERT_NO_FATAL_FAILURE(OpenDriver(i));
      }
      ASSERT_TRUE(nodes_[i]->driver->Start().ok());
    }
  }
  void Close(int i) {
    Node& n = *nodes_[i];
    if (n.driver) n.driver->Stop();
    n.driver.reset();
    n.transport.reset();
    if (n.engine) {
      EXPECT_TRUE(n.engine->Close().ok());
    }
    n.engine.reset();
  }
  void CloseAll() {
    for (auto& n : nodes_) {  // stop every driver before closing any engine
      if (n->driver) n->driver->Stop();
    }
    for (int i = 0; i < size(); ++i) Close(i);
  }

  int Leader() {
    int leader = -1;
    WaitFor([&] {
      for (int i = 0; i < size(); ++i) {
        if (nodes_[i]->driver && driver(i).Status(kGroup)->role == raft::Role::kLeader) {
          leader = i;
          return true;
        }
      }
      return false;
    });
    return leader;
  }

  absl::Status Set(int i, const std::string& key, const std::string& value) {
    auto p = std::make_shared<std::promise<absl::Status>>();
    std::future<absl::Status> f = p->get_future();
    driver(i).Propose(kGroup, EncodeSetCommand(key, value),
                      [p](absl::Status s) { p->set_value(std::move(s)); });
    if (f.wait_for(kWait) != std::future_status::ready) return absl::DeadlineExceededError("set");
    return f.get();
  }

  bool AllApplied(uint64_t index) {
    return WaitFor([&] {
      for (int i = 0; i < size(); ++i) {
        if (driver(i).Status(kGroup)->applied < index) return false;
      }
      return true;
    });
  }

 private:
  LoopbackHub hub_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Server> list_;
};

TEST(ColdStartApplyTest, AppliedPrimedToMaxOfSnapshotAndEffective) {
  MiniCluster c;
  c.StartAll();
  const int leader = c.Leader();
  ASSERT_GE(leader, 0);
  // One write at a time, each applied everywhere before the next: every node snapshots when
  // its applied index first reaches 10, and the writes stop before it could reach 20, so the
  // durable applied index ends strictly above the recorded snapshot on every node.
  int k = 0;
  uint64_t commit = 0;
  while ((commit = c.driver(leader).Status(kGroup)->commit) < 15) {
    ASSERT_TRUE(c.Set(leader, absl::StrCat("key", k), absl::StrCat("value", k)).ok());
    ++k;
    ASSERT_TRUE(c.AllApplied(c.driver(leader).Status(kGroup)->commit));
  }
  for (int i = 0; i < c.size(); ++i) {
    ASSERT_TRUE(WaitFor([&] { return c.driver(i).Status(kGroup)->snapshot_index >= 10; }))
        << "node " << i;
  }
  c.CloseAll();

  // durable applied > snapshot: both counters start at the durable applied index (skip path).
  std::vector<uint64_t> snapshot(c.size());
  uint64_t max_applied = 0;
  for (int i = 0; i < c.size(); ++i) {
    ASSERT_NO_FATAL_FAILURE(c.OpenEngine(i));
    const AppliedIndex durable = Durable(*c.node(i).engine, kGroup);
    auto log = GroupLog::Load(c.node(i).engine.get(), kGroup);
    ASSERT_TRUE(log.ok());
    snapshot[i] = (*log)->GetSnapshot()->metadata.index;
    ASSERT_TRUE(durable.present);
    ASSERT_GT(durable.value, snapshot[i]) << "node " << i;
    max_applied = std::max(max_applied, durable.value);

    ASSERT_NO_FATAL_FAILURE(c.OpenDriver(i));
    const GroupStatus st = *c.driver(i).Status(kGroup);
    ASSERT_TRUE(st.cold_start.has_value());
    EXPECT_EQ(*st.cold_start, ColdStartDecision::kSkip) << "node " << i;
    EXPECT_EQ(st.snapshot_index, snapshot[i]);
    EXPECT_EQ(st.applied, durable.value) << "node " << i;
    EXPECT_EQ(st.raft_applied, durable.value) << "node " << i;
  }

  // durable applied < snapshot on node 0 (meta forced to X - 1): the full restore leaves the
  // group at the snapshot, and both counters start there; raft re-delivers the rest.
  c.Close(0);
  ASSERT_NO_FATAL_FAILURE(c.OpenEngine(0));
  PutMeta(*c.node(0).engine, kGroup, meta::kAppliedIndex, EncodeU64BE(snapshot[0] - 1));
  ASSERT_NO_FATAL_FAILURE(c.OpenDriver(0));
  {
    const GroupStatus st = *c.driver(0).Status(kGroup);
    ASSERT_TRUE(st.cold_start.has_value());
    EXPECT_EQ(*st.cold_start, ColdStartDecision::kExecute);
    EXPECT_EQ(st.applied, snapshot[0]);
    EXPECT_EQ(st.raft_applied, snapshot[0]);
    EXPECT_EQ(Durable(*c.node(0).engine, kGroup), (AppliedIndex{snapshot[0], true}));
  }
  c.StartAll();
  ASSERT_TRUE(c.AllApplied(max_applied));
  for (int j = 0; j < k; ++j) {
    EXPECT_EQ(Row(c.driver(0).kv(), kGroup, absl::StrCat("key", j)), absl::StrCat("value", j));
  }
}

}  // namespace
}  // namespace tessera::shard
