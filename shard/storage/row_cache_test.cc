// Tests of RowCache: hits and known-absent rows, the write bracket that refuses fills which may
// hold a row older than the database, column-family and range-delete invalidation, the capacity
// bound with CLOCK eviction (recently hit rows stay), and a disabled cache.
#include "shard/storage/row_cache.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "rocksdb/comparator.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace tessera::shard {
namespace {

constexpr uint32_t kDataCf = 3;
constexpr uint32_t kOtherCf = 2;

// A column family handle that only names an id, for batches built without a database.
class Family : public rocksdb::ColumnFamilyHandle {
 public:
  explicit Family(uint32_t id) : id_(id) {}
  const std::string& GetName() const override { return name_; }
  uint32_t GetID() const override { return id_; }
  rocksdb::Status GetDescriptor(rocksdb::ColumnFamilyDescriptor*) override {
    return rocksdb::Status::NotSupported();
  }
  const rocksdb::Comparator* GetComparator() const override {
    return rocksdb::BytewiseComparator();
  }

 private:
  uint32_t id_;
  std::string name_ = "family";
};

Family data_family(kDataCf);
Family other_family(kOtherCf);

// Lookup that must miss; returns its ticket.
RowCache::Ticket Miss(RowCache& cache, std::string_view key) {
  RowCache::Ticket ticket;
  EXPECT_FALSE(cache.Lookup(key, &ticket).has_value()) << key;
  return ticket;
}

// Lookup that must hit; returns the row.
std::optional<std::string> Hit(RowCache& cache, std::string_view key) {
  RowCache::Ticket ticket;
  std::optional<std::optional<std::string>> hit = cache.Lookup(key, &ticket);
  EXPECT_TRUE(hit.has_value()) << key;
  return hit.has_value() ? *hit : std::nullopt;
}

rocksdb::WriteBatch PutBatch(std::string_view key) {
  rocksdb::WriteBatch batch;
  EXPECT_TRUE(batch.Put(&data_family, key, "value").ok());
  return batch;
}

TEST(RowCacheTest, AFilledRowIsAHitAndAnAbsentRowIsKnownAbsent) {
  RowCache cache(1 << 20);
  cache.Fill("k", Miss(cache, "k"), std::string("v"));
  cache.Fill("gone", Miss(cache, "gone"), std::nullopt);
  EXPECT_EQ(Hit(cache, "k"), std::optional<std::string>("v"));
  EXPECT_EQ(Hit(cache, "gone"), std::nullopt);
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(cache.misses(), 2u);
  EXPECT_GT(cache.bytes(), 0u);
}

TEST(RowCacheTest, AFillWhoseReadBeganBeforeAWriteIsRefused) {
  RowCache cache(1 << 20);
  const RowCache::Ticket before = Miss(cache, "k");  // the reader's RocksDB read starts here
  const rocksdb::WriteBatch batch = PutBatch("k");
  cache.EndWrite(cache.BeginWrite(batch, kDataCf));
  cache.Fill("k", before, std::string("old"));  // may be the value before the write
  Miss(cache, "k");
  // A read that starts after the write fills.
  cache.Fill("k", Miss(cache, "k"), std::string("new"));
  EXPECT_EQ(Hit(cache, "k"), std::optional<std::string>("new"));
}

TEST(RowCacheTest, NothingIsFilledWhileAWriteIsPending) {
  RowCache cache(1 << 20);
  cache.Fill("k", Miss(cache, "k"), std::string("old"));
  const rocksdb::WriteBatch batch = PutBatch("k");
  const RowCache::WriteToken token = cache.BeginWrite(batch, kDataCf);
  // The write's key is gone at once, and a reader during the write goes to the database
  // without filling: it may read either side of the write.
  const RowCache::Ticket during = Miss(cache, "k");
  EXPECT_FALSE(during.valid);
  cache.Fill("k", during, std::string("either"));
  Miss(cache, "k");
  cache.EndWrite(token);
  cache.Fill("k", Miss(cache, "k"), std::string("new"));
  EXPECT_EQ(Hit(cache, "k"), std::optional<std::string>("new"));
}

TEST(RowCacheTest, AWriteDropsOnlyItsKeysOfTheDataColumnFamily) {
  RowCache cache(1 << 20);
  for (std::string key : {"a", "b", "c"}) cache.Fill(key, Miss(cache, key), key + "-row");
  rocksdb::WriteBatch batch;
  ASSERT_TRUE(batch.Put(&data_family, "a", "value").ok());
  ASSERT_TRUE(batch.Put(&other_family, "b", "value").ok());  // another family's "b"
  cache.EndWrite(cache.BeginWrite(batch, kDataCf));
  Miss(cache, "a");
  EXPECT_EQ(Hit(cache, "b"), std::optional<std::string>("b-row"));
  EXPECT_EQ(Hit(cache, "c"), std::optional<std::string>("c-row"));
}

TEST(RowCacheTest, DeletesAndRangeDeletesInvalidate) {
  RowCache cache(1 << 20);
  for (std::string key : {"a", "b", "c"}) cache.Fill(key, Miss(cache, key), key + "-row");
  rocksdb::WriteBatch del;
  ASSERT_TRUE(del.Delete(&data_family, "a").ok());
  cache.EndWrite(cache.BeginWrite(del, kDataCf));
  Miss(cache, "a");
  EXPECT_EQ(Hit(cache, "b"), std::optional<std::string>("b-row"));
  // A range delete cannot be told key by key: everything goes.
  rocksdb::WriteBatch range;
  ASSERT_TRUE(range.DeleteRange(&data_family, "x", "y").ok());
  cache.EndWrite(cache.BeginWrite(range, kDataCf));
  Miss(cache, "b");
  Miss(cache, "c");
}

TEST(RowCacheTest, StaysWithinItsCapacityAndKeepsRecentlyHitRows) {
  // 64 stripes of 4 KiB: far more rows than fit.
  RowCache cache(64 * 4096);
  const std::string row(200, 'x');
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "key" + std::to_string(i);
    cache.Fill(key, Miss(cache, key), row);
    if (i % 2 == 0) Hit(cache, "key0");  // kept recently used
  }
  EXPECT_LE(cache.bytes(), cache.capacity());
  EXPECT_GT(cache.bytes(), cache.capacity() / 2);
  Hit(cache, "key0");
  Miss(cache, "key1");  // long untouched: evicted
  // A row larger than a stripe is never kept.
  const std::string huge(8192, 'y');
  cache.Fill("huge", Miss(cache, "huge"), huge);
  Miss(cache, "huge");
}

// The stored form shard/encryption/value_codec.h gives a cleartext row: header 0x00, value.
std::optional<std::string_view> Cleartext(std::string_view stored) {
  if (stored.empty() || stored[0] != '\0') return std::nullopt;
  return stored.substr(1);
}

TEST(RowCacheTest, AWriteAloneOnItsStripesWritesItsRowsThrough) {
  RowCache cache(1 << 20);
  rocksdb::WriteBatch batch;
  ASSERT_TRUE(batch.Put(&data_family, "k", std::string("\0v1", 3)).ok());
  ASSERT_TRUE(batch.Put(&data_family, "k", std::string("\0v2", 3)).ok());  // the last one wins
  ASSERT_TRUE(batch.Delete(&data_family, "gone").ok());
  ASSERT_TRUE(batch
                  .Put(&data_family, "sealed",
                       "\x02"
                       "envelope")
                  .ok());  // not cleartext
  ASSERT_TRUE(batch.Put(&other_family, "other", std::string("\0x", 2)).ok());
  cache.EndWrite(cache.BeginWrite(batch, kDataCf), &Cleartext);
  EXPECT_EQ(Hit(cache, "k"), std::optional<std::string>("v2"));
  EXPECT_EQ(Hit(cache, "gone"), std::nullopt);  // known absent
  Miss(cache, "sealed");                        // left for a read to open
  Miss(cache, "other");
  // Without a decoder (a failed write) nothing is written through.
  rocksdb::WriteBatch failed;
  ASSERT_TRUE(failed.Put(&data_family, "k", std::string("\0v3", 3)).ok());
  cache.EndWrite(cache.BeginWrite(failed, kDataCf), nullptr);
  Miss(cache, "k");
}

TEST(RowCacheTest, OverlappingWritesOnAStripeDoNotWriteThrough) {
  // Two writers of one key: RocksDB may have applied them in either order, so neither one's
  // row may be cached when the other was in flight.
  RowCache cache(1 << 20);
  rocksdb::WriteBatch a;
  ASSERT_TRUE(a.Put(&data_family, "k", std::string("\0a", 2)).ok());
  rocksdb::WriteBatch b;
  ASSERT_TRUE(b.Put(&data_family, "k", std::string("\0b", 2)).ok());
  const RowCache::WriteToken ta = cache.BeginWrite(a, kDataCf);
  const RowCache::WriteToken tb = cache.BeginWrite(b, kDataCf);
  cache.EndWrite(ta, &Cleartext);
  Miss(cache, "k");
  cache.EndWrite(tb, &Cleartext);
  Miss(cache, "k");
  // Begun and ended before the other began: written through again.
  const RowCache::WriteToken tc = cache.BeginWrite(a, kDataCf);
  cache.EndWrite(tc, &Cleartext);
  EXPECT_EQ(Hit(cache, "k"), std::optional<std::string>("a"));
}

TEST(RowCacheTest, ADisabledCacheNeverHits) {
  RowCache cache(0);
  EXPECT_FALSE(cache.enabled());
  cache.Fill("k", Miss(cache, "k"), std::string("v"));
  Miss(cache, "k");
  const rocksdb::WriteBatch batch = PutBatch("k");
  const RowCache::WriteToken token = cache.BeginWrite(batch, kDataCf);
  EXPECT_TRUE(token.stripes.empty());
  cache.EndWrite(token);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(RowCacheTest, ClearDropsEverythingAndRefusesFillsInFlight) {
  RowCache cache(1 << 20);
  cache.Fill("a", Miss(cache, "a"), std::string("a-row"));
  const RowCache::Ticket in_flight = Miss(cache, "b");
  cache.Clear();
  Miss(cache, "a");
  cache.Fill("b", in_flight, std::string("b-row"));
  Miss(cache, "b");
  EXPECT_EQ(cache.bytes(), 0u);
}

}  // namespace
}  // namespace tessera::shard
