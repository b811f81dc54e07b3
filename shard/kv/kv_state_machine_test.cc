// KvStateMachine: replicated commands applied through the data model, applied index and clock
// ceiling in the same batch, replay after reopen skipped, malformed entries apply as no-ops,
// the leader's reply rendered, and the entry format's golden bytes.
#include "shard/kv/kv_state_machine.h"

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "routing/slot.h"
#include "shard/data/resp_reply.h"
#include "shard/storage/keys.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

raft::Entry Normal(uint64_t index, std::string data) {
  return raft::Entry{2, index, raft::EntryType::kNormal, std::move(data)};
}

constexpr uint64_t kT0 = 1'700'000'000'000;

std::string Payload(uint64_t request, uint64_t ts, const std::string& command) {
  return EncodeEntryPayload(ProposalId{9, request}, ts, command);
}

TEST(KvStateMachineTest, EntryPayloadGoldenBytes) {
  const std::string payload =
      EncodeEntryPayload(ProposalId{0x0102, 7}, 0x0A0B, EncodeSetCommand("k", "v"));
  EXPECT_EQ(absl::BytesToHexString(payload),
            "0000000000000102"
            "0000000000000007"
            "0000000000000a0b"
            "00000003"
            "00000003"
            "534554"
            "00000001"
            "6b"
            "00000001"
            "76");
  EXPECT_EQ(absl::BytesToHexString(EncodeDelCommand({"a", "bc"})),
            "00000003"
            "0000000344454c"
            "0000000161"
            "000000026263");
}

TEST(KvStateMachineTest, CommandCodecRejectsMalformedInput) {
  const std::string_view argv[] = {"SET", "k", std::string_view("v\0w", 3)};
  const std::string good = EncodeCommand(argv);  // the decoded views point into it
  auto decoded = DecodeCommand(good);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 3u);
  EXPECT_EQ((*decoded)[2], std::string_view("v\0w", 3));
  EXPECT_FALSE(DecodeCommand(good.substr(0, good.size() - 1)).ok());  // truncated
  EXPECT_FALSE(DecodeCommand(good + "x").ok());                       // trailing bytes
  EXPECT_FALSE(DecodeCommand(std::string(4, '\0')).ok());             // argc 0
  EXPECT_FALSE(DecodeCommand("\xff\xff\xff\xff").ok());               // argc beyond input
}

TEST(KvStateMachineTest, AppliesCommandsAndPersistsAppliedIndexIdempotently) {
  storage_testing::TempDir dir;
  auto engine = StorageEngine::Open(dir.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  {
    auto sm = KvStateMachine::Open(engine->get(), {5, 6});
    ASSERT_TRUE(sm.ok());
    rocksdb::WriteBatchWithIndex batch;
    auto a1 = (*sm)->StageApply(batch, 5, Normal(1, ""), nullptr);  // leader noop
    ASSERT_TRUE(a1.ok() && a1->has_value());
    EXPECT_FALSE((*a1)->proposal.has_value());
    std::string reply;
    data::RespReply writer(2, &reply);
    auto a2 = (*sm)->StageApply(batch, 5, Normal(2, Payload(1, kT0, EncodeSetCommand("a", "1"))),
                                &writer);
    ASSERT_TRUE(a2.ok() && a2->has_value());
    EXPECT_EQ((*a2)->proposal, (ProposalId{9, 1}));
    EXPECT_TRUE((*a2)->result.ok());
    EXPECT_EQ(reply, "+OK\r\n");
    ASSERT_TRUE(
        (*sm)
            ->StageApply(batch, 5, Normal(3, Payload(2, kT0, EncodeSetCommand("b", "2"))), nullptr)
            .ok());
    // Later entries of one batch see earlier ones: DEL counts the key SET two entries ago.
    reply.clear();
    ASSERT_TRUE((*sm)
                    ->StageApply(batch, 5,
                                 Normal(4, Payload(3, kT0, EncodeDelCommand({"a", "zz"}))), &writer)
                    .ok());
    EXPECT_EQ(reply, ":1\r\n");
    reply.clear();
    auto bad = (*sm)->StageApply(batch, 5, Normal(5, Payload(4, kT0, "\x07")), &writer);
    ASSERT_TRUE(bad.ok() && bad->has_value());
    EXPECT_EQ((*bad)->result.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(reply.substr(0, 4), "-ERR");
    ASSERT_TRUE((*engine)->Write(*batch.GetWriteBatch(), true).ok());
    EXPECT_EQ((*sm)->applied_index(5), 5u);
    EXPECT_EQ(*(*sm)->Get(5, "a"), std::nullopt);
    EXPECT_EQ(*(*sm)->Get(5, "b"), "2");
    EXPECT_EQ(*(*sm)->Get(6, "b"), std::nullopt);  // another group's keyspace
    EXPECT_EQ((*sm)->clock_ceiling_ms(5), kT0);
    EXPECT_EQ((*sm)->clock_ceiling_ms(6), 0u);
  }
  auto applied = (*engine)->LastAppliedIndex(5);
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, (AppliedIndex{5, true}));
  // Reopen: the ceiling is durable; replayed entries at or below the applied index are
  // skipped without touching the batch.
  auto sm = KvStateMachine::Open(engine->get(), {5});
  ASSERT_TRUE(sm.ok());
  EXPECT_EQ((*sm)->applied_index(5), 5u);
  EXPECT_EQ((*sm)->clock_ceiling_ms(5), kT0);
  rocksdb::WriteBatchWithIndex batch;
  auto replay = (*sm)->StageApply(
      batch, 5, Normal(2, Payload(1, kT0, EncodeSetCommand("b", "old"))), nullptr);
  ASSERT_TRUE(replay.ok());
  EXPECT_FALSE(replay->has_value());
  EXPECT_EQ(batch.GetWriteBatch()->Count(), 0u);
  auto next =
      (*sm)->StageApply(batch, 5, raft::Entry{2, 6, raft::EntryType::kConfChange, "x"}, nullptr);
  ASSERT_TRUE(next.ok() && next->has_value());
  ASSERT_TRUE((*engine)->Write(*batch.GetWriteBatch(), true).ok());
  EXPECT_EQ(*(*engine)->LastAppliedIndex(5), (AppliedIndex{6, true}));
  EXPECT_EQ(*(*sm)->Get(5, "b"), "2");
}

TEST(KvStateMachineTest, ClockNeverGoesBackwardsAcrossLeaders) {
  storage_testing::TempDir dir;
  auto engine = StorageEngine::Open(dir.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  auto sm = KvStateMachine::Open(engine->get(), {5});
  ASSERT_TRUE(sm.ok());
  rocksdb::WriteBatchWithIndex batch;
  // A leader stamps T0 + 10 s on a SET with a 5 s TTL.
  const std::string_view set_ex[] = {"SET", "k", "v", "PX", "5000"};
  ASSERT_TRUE((*sm)
                  ->StageApply(batch, 5, Normal(1, Payload(1, kT0 + 10'000, EncodeCommand(set_ex))),
                               nullptr)
                  .ok());
  // The next leader's clock is 8 s behind: its entry still runs at T0 + 10 s, so the key
  // written with a 5 s TTL is still alive for it and the ceiling does not move back.
  std::string reply;
  data::RespReply writer(2, &reply);
  const std::string_view get[] = {"GETDEL", "k"};
  ASSERT_TRUE(
      (*sm)
          ->StageApply(batch, 5, Normal(2, Payload(2, kT0 + 2'000, EncodeCommand(get))), &writer)
          .ok());
  EXPECT_EQ(reply, "$1\r\nv\r\n");
  EXPECT_EQ((*sm)->clock_ceiling_ms(5), kT0 + 10'000);
  ASSERT_TRUE((*engine)->Write(*batch.GetWriteBatch(), true).ok());
  std::string ceiling;
  ASSERT_TRUE((*engine)
                  ->db()
                  ->Get(rocksdb::ReadOptions(), (*engine)->meta(),
                        MetaKey(5, meta::kClockCeilingMs), &ceiling)
                  .ok());
  EXPECT_EQ(DecodeU64BE(ceiling), kT0 + 10'000);
}

TEST(KvStateMachineTest, FencedSlotsRefuseWritesAndReadsOnEveryReplicaUntilAcquired) {
  storage_testing::TempDir dir;
  auto engine = StorageEngine::Open(dir.path(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  auto sm = KvStateMachine::Open(engine->get(), {5});
  ASSERT_TRUE(sm.ok());
  const std::string slot = std::to_string(routing::SlotForKey("foo"));
  uint64_t index = 0;
  // Applies one command entry and returns its reply.
  auto apply = [&](std::vector<std::string_view> argv) {
    rocksdb::WriteBatchWithIndex batch;
    std::string reply;
    data::RespReply writer(2, &reply);
    ++index;
    auto a = (*sm)->StageApply(batch, 5, Normal(index, Payload(index, kT0, EncodeCommand(argv))),
                               &writer);
    EXPECT_TRUE(a.ok()) << a.status();
    EXPECT_TRUE((*engine)->Write(*batch.GetWriteBatch(), false).ok());
    return reply;
  };
  auto read = [&](std::vector<std::string_view> argv) {
    std::string reply;
    data::RespReply writer(2, &reply);
    const data::DataCommand* get = data::FindDataCommand("get");
    EXPECT_TRUE((*sm)->ExecuteRead(5, *get, argv, writer).ok());
    return reply;
  };
  EXPECT_EQ(apply({"SET", "bar", "1"}), "+OK\r\n");
  EXPECT_EQ(apply({"tessera.slots.release", slot, slot}), ":0\r\n");
  // A writer with the old table: its SET is a no-op with TRYAGAIN, its GET too.
  const std::string refused = apply({"SET", "foo", "late"});
  EXPECT_EQ(refused.substr(0, 9), "-TRYAGAIN") << refused;
  EXPECT_EQ(read({"GET", "foo"}).substr(0, 9), "-TRYAGAIN");
  EXPECT_EQ(read({"GET", "bar"}), "$1\r\n1\r\n");  // other slots are served
  // The fence survives a reopen (it is a row of the group).
  sm->reset();
  sm = KvStateMachine::Open(engine->get(), {5});
  ASSERT_TRUE(sm.ok());
  EXPECT_EQ(apply({"SET", "foo", "later"}).substr(0, 9), "-TRYAGAIN");
  EXPECT_EQ(apply({"tessera.slots.acquire", slot, slot}), "+OK\r\n");
  EXPECT_EQ(apply({"SET", "foo", "mine"}), "+OK\r\n");
  EXPECT_EQ(read({"GET", "foo"}), "$4\r\nmine\r\n");
}

}  // namespace
}  // namespace tessera::shard
