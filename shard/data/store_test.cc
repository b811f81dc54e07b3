// DataStoreTest: the metadata row format (golden bytes), key layout, and lazy expiry: an expired
// key reads as absent, stays on a read-only context and is deleted in the batch of a write.
#include "shard/data/store.h"

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

}  // namespace
}  // namespace tessera::shard::data
