// DataStoreTest: the metadata row format (golden bytes), key layout, and lazy expiry: an expired
// key reads as absent, stays on a read-only context and is deleted in the batch of a write.
// ReadCacheTest: reads through the row cache see every committed write, and concurrent readers
// never see one key of an atomic batch new and another old.
#include "shard/data/store.h"

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "shard/data/data_testing.h"

namespace tessera::shard::data {
namespace {

using data_testing::DataTest;

TEST(DataStoreTest, MetadataGoldenBytesAndRoundTrip) {
  Metadata m;
  m.type = KeyType::kString;
  m.expire_at_ms = 0x0102;
  m.payload = "v";
  const std::string encoded = EncodeMetadata(m);
  EXPECT_EQ(absl::BytesToHexString(encoded), "01000000000000010276");
  absl::StatusOr<Metadata> decoded = DecodeMetadata(encoded);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->type, KeyType::kString);
  EXPECT_EQ(decoded->expire_at_ms, 0x0102u);
  EXPECT_EQ(decoded->payload, "v");

  m.type = KeyType::kZSet;
  m.expire_at_ms = 0;
  m.payload.clear();
  decoded = DecodeMetadata(EncodeMetadata(m));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->type, KeyType::kZSet);
  EXPECT_EQ(decoded->payload, "");
}

TEST(DataStoreTest, DecodeRejectsShortRowsAndUnknownTypes) {
  EXPECT_EQ(DecodeMetadata(std::string("\x01\x00\x00", 3)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeMetadata(std::string(9, '\0')).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeMetadata(std::string("\x06") + std::string(8, '\0')).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(DataStoreTest, KeyLayoutAndTypeNames) {
  const std::string key = MetadataKey(0x0102, "user");
  EXPECT_EQ(absl::BytesToHexString(key), "00000000000001024d75736572");
  EXPECT_EQ(UserKeyOf(key), "user");
  EXPECT_LT(MetadataKeyBegin(0x0102), key);
  EXPECT_LT(key, MetadataKeyEnd(0x0102));
  EXPECT_LT(MetadataKeyEnd(0x0102), MetadataKey(0x0103, ""));
  EXPECT_EQ(KeyTypeName(KeyType::kString), "string");
  EXPECT_EQ(KeyTypeName(KeyType::kHash), "hash");
  EXPECT_EQ(KeyTypeName(KeyType::kList), "list");
  EXPECT_EQ(KeyTypeName(KeyType::kSet), "set");
  EXPECT_EQ(KeyTypeName(KeyType::kZSet), "zset");
}

class DataStoreExpiryTest : public DataTest {};

TEST_F(DataStoreExpiryTest, LiveUntilTheMillisecondBeforeItsExpireTime) {
  Metadata m;
  m.expire_at_ms = 5000;
  m.payload = "v";
  PutMetadata("k", m);
  now_ms_ = 4999;
  ExecContext ctx = Context(nullptr);
  absl::StatusOr<std::optional<Metadata>> live = LoadMetadata(ctx, "k");
  ASSERT_TRUE(live.ok());
  ASSERT_TRUE(live->has_value());
  EXPECT_EQ((*live)->payload, "v");
  EXPECT_EQ((*live)->expire_at_ms, 5000u);
}

TEST_F(DataStoreExpiryTest, ExpiredKeyOnAReadOnlyContextStaysInTheDatabase) {
  Metadata m;
  m.expire_at_ms = 5000;
  m.payload = "v";
  PutMetadata("k", m);
  now_ms_ = 5000;  // expiry at exactly now
  ExecContext ctx = Context(nullptr);
  absl::StatusOr<std::optional<Metadata>> loaded = LoadMetadata(ctx, "k");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
  EXPECT_TRUE(RawMetadata("k").has_value());
}

TEST_F(DataStoreExpiryTest, ExpiredKeyOnAWriteContextIsDeletedInTheBatch) {
  Metadata m;
  m.expire_at_ms = 5000;
  m.payload = "v";
  PutMetadata("k", m);
  now_ms_ = 6000;
  rocksdb::WriteBatchWithIndex batch;
  ExecContext ctx = Context(&batch);
  absl::StatusOr<std::optional<Metadata>> loaded = LoadMetadata(ctx, "k");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
  EXPECT_EQ(batch.GetWriteBatch()->Count(), 1u);
  EXPECT_TRUE(RawMetadata("k").has_value());  // not yet committed
  absl::StatusOr<std::optional<std::string>> row = GetRow(ctx, MetadataKey(gid_, "k"));
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value());  // the batch hides it already
  ASSERT_TRUE(engine_->Write(*batch.GetWriteBatch(), false).ok());
  EXPECT_FALSE(RawMetadata("k").has_value());
}

TEST_F(DataStoreExpiryTest, GroupsDoNotSeeEachOthersKeys) {
  Metadata m;
  m.payload = "v";
  PutMetadata("k", m, /*gid=*/8);
  ExecContext ctx = Context(nullptr);
  absl::StatusOr<std::optional<Metadata>> loaded = LoadMetadata(ctx, "k");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
  ctx.gid = 8;
  loaded = LoadMetadata(ctx, "k");
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->has_value());
}

class ReadCacheTest : public DataTest {
 protected:
  // The row of `key` as a read-only context (a leader's read) sees it.
  std::optional<std::string> Read(std::string_view key) {
    absl::StatusOr<std::optional<std::string>> row = GetRow(Context(nullptr), key);
    EXPECT_TRUE(row.ok()) << row.status();
    return row.ok() ? *row : std::nullopt;
  }
};

TEST_F(ReadCacheTest, ReadsThroughTheCacheSeeEveryCommittedWrite) {
  const RowCache& cache = *engine_->row_cache();
  ASSERT_TRUE(cache.enabled());
  EXPECT_EQ(Run({"SET", "k", "v1"}), data_testing::kOk);
  const uint64_t hits = cache.hits();
  EXPECT_EQ(Run({"GET", "k"}), data_testing::Bulk("v1"));
  EXPECT_EQ(cache.hits(), hits + 1);  // the write put the row in the cache
  EXPECT_EQ(Run({"SET", "k", "v2"}), data_testing::kOk);
  EXPECT_EQ(Run({"GET", "k"}), data_testing::Bulk("v2"));
  EXPECT_EQ(Run({"APPEND", "k", "+"}), data_testing::Int(3));
  EXPECT_EQ(Run({"GET", "k"}), data_testing::Bulk("v2+"));
  EXPECT_EQ(Run({"DEL", "k"}), data_testing::Int(1));
  EXPECT_EQ(Run({"GET", "k"}), data_testing::kNil);
  EXPECT_EQ(Run({"GET", "k"}), data_testing::kNil);  // known absent, from the cache
  EXPECT_EQ(Run({"SET", "k", "v3"}), data_testing::kOk);
  EXPECT_EQ(Run({"GET", "k"}), data_testing::Bulk("v3"));
  EXPECT_EQ(Run({"HSET", "h", "f", "1"}), data_testing::Int(1));
  EXPECT_EQ(Run({"HGET", "h", "f"}), data_testing::Bulk("1"));
  EXPECT_EQ(Run({"HINCRBY", "h", "f", "5"}), data_testing::Int(6));
  EXPECT_EQ(Run({"HGET", "h", "f"}), data_testing::Bulk("6"));
  EXPECT_EQ(Run({"FLUSHDB"}), data_testing::kOk);
  EXPECT_EQ(Run({"GET", "k"}), data_testing::kNil);
  EXPECT_EQ(Run({"HGET", "h", "f"}), data_testing::kNil);
}

TEST_F(ReadCacheTest, ARangeDeleteOfTheGroupEmptiesWhatReadsSee) {
  EXPECT_EQ(Run({"SET", "k", "v"}), data_testing::kOk);
  EXPECT_EQ(Run({"GET", "k"}), data_testing::Bulk("v"));
  rocksdb::WriteBatch wipe;  // as a snapshot restore or a group wipe writes it
  ASSERT_TRUE(wipe.DeleteRange(engine_->data(), GroupKey(gid_, {}), GroupKeyEnd(gid_)).ok());
  ASSERT_TRUE(engine_->Write(wipe, /*sync=*/false).ok());
  EXPECT_EQ(Run({"GET", "k"}), data_testing::kNil);
}

TEST_F(ReadCacheTest, ConcurrentReadersNeverSeeHalfOfABatch) {
  // One writer commits batches that set both rows to i; readers read a then b. RocksDB's
  // batches are atomic and its reads monotonic, so b >= a always, and the cache must keep it
  // so (a cached old b after a new a from the database would break it).
  const std::string a = MetadataKey(gid_, "a");
  const std::string b = MetadataKey(gid_, "b");
  constexpr int kWrites = 4000;
  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  std::atomic<uint64_t> reads{0};
  auto reader = [&] {
    while (!done.load(std::memory_order_acquire)) {
      const std::optional<std::string> ra = Read(a);
      const std::optional<std::string> rb = Read(b);
      const int va = ra.has_value() ? std::stoi(*ra) : -1;
      const int vb = rb.has_value() ? std::stoi(*rb) : -1;
      if (vb < va) violations.fetch_add(1);
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::thread r1(reader);
  std::thread r2(reader);
  for (int i = 0; i < kWrites; ++i) {
    rocksdb::WriteBatchWithIndex batch;
    ExecContext ctx = Context(&batch);
    PutRow(ctx, a, std::to_string(i));
    PutRow(ctx, b, std::to_string(i));
    ASSERT_TRUE(engine_->Write(*batch.GetWriteBatch(), /*sync=*/false).ok());
  }
  done.store(true, std::memory_order_release);
  r1.join();
  r2.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(Read(a), std::optional<std::string>(std::to_string(kWrites - 1)));
  EXPECT_EQ(Read(b), std::optional<std::string>(std::to_string(kWrites - 1)));
  EXPECT_GT(engine_->row_cache()->hits(), 0u);
}

}  // namespace
}  // namespace tessera::shard::data
