// WATCH through the replicated path: watch rows created by TESSERA.WATCH, stamped by every
// later write that names the key (plain, inside a transaction, FLUSHDB, active expiry), checked
// by TESSERA.EXECW at apply; stale rows swept; stamping resumes after a reopen.
#include "shard/data/watch.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shard/data/resp_reply.h"
#include "shard/data/transaction.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard::data {
namespace {

constexpr GroupId kGroup = 3;
constexpr uint64_t kT0 = 1'700'000'000'000;

std::string Encode(const std::vector<std::string>& argv) {
  std::vector<std::string_view> views(argv.begin(), argv.end());
  return EncodeCommand(views);
}

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    Reopen();
  }
  void Reopen() {
    sm_.reset();
    auto sm = KvStateMachine::Open(engine_.get(), {kGroup});
    ASSERT_TRUE(sm.ok()) << sm.status();
    sm_ = *std::move(sm);
  }
  // Applies argv as the next entry, committed at once; the leader's RESP reply.
  std::string Apply(const std::vector<std::string>& argv, int protocol = 2) {
    ++index_;
    rocksdb::WriteBatchWithIndex batch;
    std::string reply;
    RespReply writer(protocol, &reply);
    raft::Entry entry{1, index_, raft::EntryType::kNormal,
                      EncodeEntryPayload(ProposalId{1, index_}, now_ms_, Encode(argv))};
    auto applied = sm_->StageApply(batch, kGroup, entry, &writer);
    EXPECT_TRUE(applied.ok()) << applied.status();
    EXPECT_TRUE(engine_->Write(*batch.GetWriteBatch(), /*sync=*/false).ok());
    return reply;
  }
  // WATCH keys: the watch index the listener would keep.
  uint64_t Watch(std::vector<std::string> keys) {
    keys.insert(keys.begin(), std::string(kWatchCommand));
    const std::string reply = Apply(keys);
    EXPECT_EQ(reply, ":" + std::to_string(index_) + "\r\n");
    return index_;
  }
  // EXEC after WATCH: {key, watch index} pairs, then the queued commands.
  std::string ExecWatched(const std::vector<std::pair<std::string, uint64_t>>& watched,
                          const std::vector<std::vector<std::string>>& commands, int protocol = 2) {
    std::vector<std::string> argv = {std::string(kExecWatchCommand),
                                     std::to_string(watched.size())};
    for (const auto& [key, index] : watched) {
      argv.push_back(key);
      argv.push_back(std::to_string(index));
    }
    for (const auto& c : commands) argv.push_back(Encode(c));
    return Apply(argv, protocol);
  }
  std::string Get(const std::string& key) {
    auto v = sm_->Get(kGroup, key);
    EXPECT_TRUE(v.ok());
    return v.ok() && v->has_value() ? **v : "(nil)";
  }

  storage_testing::TempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
  std::unique_ptr<KvStateMachine> sm_;
  uint64_t index_ = 0;
  uint64_t now_ms_ = kT0;
};

TEST_F(WatchTest, UntouchedKeyLetsExecRun) {
  const uint64_t w = Watch({"k"});
  EXPECT_EQ(Apply({"SET", "other", "1"}), "+OK\r\n");
  EXPECT_EQ(ExecWatched({{"k", w}}, {{"SET", "k", "v"}, {"GET", "k"}}), "*2\r\n+OK\r\n$1\r\nv\r\n");
  EXPECT_EQ(Get("k"), "v");
}

TEST_F(WatchTest, WriteAfterWatchAbortsExecAndRunsNothing) {
  const uint64_t w = Watch({"k"});
  EXPECT_EQ(Apply({"SET", "k", "x"}), "+OK\r\n");
  EXPECT_EQ(ExecWatched({{"k", w}}, {{"SET", "k", "v"}, {"SET", "side", "effect"}}), "*-1\r\n");
  EXPECT_EQ(Get("k"), "x");
  EXPECT_EQ(Get("side"), "(nil)");
  // RESP3 spells the aborted EXEC as a null.
  const uint64_t w2 = Watch({"k"});
  EXPECT_EQ(Apply({"APPEND", "k", "y"}), ":2\r\n");
  EXPECT_EQ(ExecWatched({{"k", w2}}, {{"GET", "k"}}, /*protocol=*/3), "_\r\n");
}

TEST_F(WatchTest, EveryKindOfWriteStampsTheRow) {
  // A write inside another transaction.
  uint64_t w = Watch({"k"});
  EXPECT_EQ(Apply({std::string(kExecCommand), Encode({"HSET", "k", "f", "1"})}), "*1\r\n:1\r\n");
  EXPECT_EQ(ExecWatched({{"k", w}}, {{"GET", "x"}}), "*-1\r\n");
  // FLUSHDB touches every watched key.
  w = Watch({"k"});
  EXPECT_EQ(Apply({"FLUSHDB"}), "+OK\r\n");
  EXPECT_EQ(ExecWatched({{"k", w}}, {{"GET", "x"}}), "*-1\r\n");
  // Active expiry of the key.
  EXPECT_EQ(Apply({"SET", "t", "1", "PX", "10"}), "+OK\r\n");
  w = Watch({"t"});
  now_ms_ += 20;
  EXPECT_EQ(Apply({"tessera.expire", "t"}), ":1\r\n");
  EXPECT_EQ(ExecWatched({{"t", w}}, {{"GET", "x"}}), "*-1\r\n");
  // A second key of a multi-key write (RENAME's destination).
  EXPECT_EQ(Apply({"SET", "src", "1"}), "+OK\r\n");
  w = Watch({"dst"});
  EXPECT_EQ(Apply({"RENAME", "src", "dst"}), "+OK\r\n");
  EXPECT_EQ(ExecWatched({{"dst", w}}, {{"GET", "x"}}), "*-1\r\n");
}

TEST_F(WatchTest, AnotherClientsWatchDoesNotAbortTheFirst) {
  const uint64_t first = Watch({"k"});
  const uint64_t second = Watch({"k", "j"});
  EXPECT_EQ(ExecWatched({{"k", first}}, {{"SET", "k", "1"}}), "*1\r\n+OK\r\n");
  // The first transaction's write is a write after the second watch.
  EXPECT_EQ(ExecWatched({{"k", second}, {"j", second}}, {{"SET", "k", "2"}}), "*-1\r\n");
  EXPECT_EQ(Get("k"), "1");
}

TEST_F(WatchTest, StaleRowsAreSweptAndTheirExecAborts) {
  const uint64_t old_watch = Watch({"a"});
  now_ms_ += kWatchRowLifetimeMs + 1;
  const uint64_t fresh = Watch({"b"});  // sweeps a's row, which nobody refreshed
  EXPECT_EQ(ExecWatched({{"a", old_watch}}, {{"SET", "a", "1"}}), "*-1\r\n");
  EXPECT_EQ(ExecWatched({{"b", fresh}}, {{"SET", "b", "1"}}), "*1\r\n+OK\r\n");
  EXPECT_EQ(Get("a"), "(nil)");
}

TEST_F(WatchTest, StampingResumesAfterReopen) {
  const uint64_t w = Watch({"k"});
  Reopen();  // the state machine learns from the database that watch rows exist
  EXPECT_EQ(Apply({"INCR", "k"}), ":1\r\n");
  EXPECT_EQ(ExecWatched({{"k", w}}, {{"GET", "k"}}), "*-1\r\n");
  auto has = GroupHasWatchRows(engine_.get(), kGroup);
  ASSERT_TRUE(has.ok());
  EXPECT_TRUE(*has);
  EXPECT_FALSE(*GroupHasWatchRows(engine_.get(), kGroup + 1));
}

TEST_F(WatchTest, MalformedExecWatchIsRefused) {
  EXPECT_EQ(Apply({std::string(kExecWatchCommand), "5", "k"}), "-ERR malformed transaction\r\n");
  EXPECT_EQ(Apply({std::string(kExecWatchCommand), "1", "k", "x"}),
            "-ERR malformed transaction\r\n");
}

}  // namespace
}  // namespace tessera::shard::data
