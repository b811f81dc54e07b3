// A bounded cache (CLOCK eviction, an approximation of LRU) of `data` rows as reads decode them
// (cleartext, after the storage envelope is opened), in front of RocksDB for the read-only commands
// a leader serves after its read barrier. A hit skips the memtable and SST lookups and the
// envelope.
//
// It never answers older than the database does at that moment. Every write of the `data`
// column family goes through StorageEngine::Write, which brackets the RocksDB write with
// BeginWrite and EndWrite:
//   - BeginWrite drops the batch's keys and marks their stripes pending (a DeleteRange drops
//     everything and marks every stripe);
//   - while a stripe is pending nothing is filled into it, so a read of a key being written
//     goes to RocksDB, which is atomic and monotonic: a reader never sees one key of a batch
//     new and another old;
//   - EndWrite advances the stripes' epochs, so a fill whose RocksDB read began before the write
//     (it may hold the old value) is refused.
// A reader takes a Ticket before its RocksDB read and hands it to Fill.
//
// EndWrite also writes through: on a stripe no other write touched between this write's
// BeginWrite and EndWrite, the batch's last put of each key (as `decode` turns the stored bytes
// into the row) or its delete (a known-absent row) is what RocksDB now holds, and is cached, so
// a read right after a write hits.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "rocksdb/write_batch.h"

namespace tessera::shard {

class RowCache {
 public:
  // capacity_bytes 0 = disabled: Lookup always misses and nothing is kept.
  explicit RowCache(size_t capacity_bytes);
  RowCache(const RowCache&) = delete;
  RowCache& operator=(const RowCache&) = delete;

  bool enabled() const { return capacity_ > 0; }

  // What a reader that missed hands to Fill after its RocksDB read.
  struct Ticket {
    size_t stripe = 0;
    uint64_t epoch = 0;
    bool valid = false;
  };
  // A hit is the row (nullopt: the row is known absent); a miss is nullopt on the outside and
  // sets `ticket`, to be taken before the RocksDB read.
  std::optional<std::optional<std::string>> Lookup(std::string_view key, Ticket* ticket);
  void Fill(std::string_view key, const Ticket& ticket, const std::optional<std::string>& row);

  // The write bracket (see the top of this file). `data_cf_id` selects the column family whose
  // keys are cached; entries of other column families are ignored. The returned token goes to
  // EndWrite, also when the write failed.
  struct WriteToken {
    struct StripeWrite {
      size_t stripe = 0;
      bool alone = false;  // no write was pending on the stripe when this one began
      uint64_t begun = 0;  // the stripe's write count once this one began
    };
    std::vector<StripeWrite> stripes;  // pending stripes, each once
    // The batch's rows of the cached family in batch order, viewing the batch's bytes (which
    // must outlive EndWrite): a put's stored bytes, or nullopt for a delete. Empty after a
    // range delete or a record that cannot be told key by key.
    std::vector<std::pair<std::string_view, std::optional<std::string_view>>> rows;
    std::vector<size_t> row_stripes;  // the stripe of each row
  };
  WriteToken BeginWrite(const rocksdb::WriteBatch& batch, uint32_t data_cf_id);
  // The cleartext row of a put's stored bytes, or nullopt when it cannot be had cheaply (the
  // row is then only dropped, and the next read fills it).
  using Decoder = std::optional<std::string_view> (*)(std::string_view stored);
  void EndWrite(const WriteToken& token, Decoder decode = nullptr);

  // Drops every entry (a new storage cipher).
  void Clear();

  // For INFO and tests.
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  size_t bytes() const;
  size_t capacity() const { return capacity_; }

 private:
  // One allocation per row: the header, then the key bytes, then the row bytes, so a lookup
  // touches the index slot and this block only.
  struct Item {
    uint32_t key_len = 0;
    uint32_t row_len = 0;
    uint32_t ring_pos = 0;  // position in Stripe::ring
    bool has_row = false;
    bool referenced = false;  // CLOCK: set by a hit, cleared as the hand passes
    size_t charge = 0;

    char* bytes() { return reinterpret_cast<char*>(this + 1); }
    std::string_view key() { return {bytes(), key_len}; }
    std::string_view row() { return {bytes() + key_len, row_len}; }
  };
  struct ItemDeleter {
    void operator()(Item* item) const;
  };
  using ItemPtr = std::unique_ptr<Item, ItemDeleter>;
  static ItemPtr NewItem(std::string_view key, const std::optional<std::string>& row,
                         size_t charge);

  // Eviction is CLOCK (second chance) over `ring`, an approximation of LRU that makes a hit
  // write one flag instead of relinking a list.
  struct Stripe {
    std::mutex mu;
    uint32_t pending = 0;  // writes between BeginWrite and EndWrite
    uint64_t epoch = 0;    // EndWrites so far
    uint64_t begun = 0;    // BeginWrites so far
    size_t bytes = 0;
    absl::flat_hash_map<std::string_view, ItemPtr> index;  // keys view into their items
    std::vector<Item*> ring;
    size_t hand = 0;
  };
  static constexpr size_t kStripes = 64;

  size_t StripeOf(std::string_view key) const;
  static void EraseLocked(Stripe& s, std::string_view key);
  static void EvictOneLocked(Stripe& s);
  // Inserts (or replaces) `key` in a locked stripe, evicting to stay within the capacity.
  void InsertLocked(Stripe& s, ItemPtr item);
  static void ClearLocked(Stripe& s);

  const size_t capacity_;
  const size_t stripe_capacity_;
  std::unique_ptr<Stripe[]> stripes_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace tessera::shard
