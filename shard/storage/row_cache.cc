// RowCache: striped maps with CLOCK eviction, a pending count and an epoch per stripe; the write
// bracket that keeps the cache from answering older than RocksDB is described in row_cache.h.
#include "shard/storage/row_cache.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "absl/hash/hash.h"

namespace tessera::shard {
namespace {

// Per-entry bookkeeping beyond the key and row bytes: the item header, the index slot and the
// ring pointer, roughly, plus the allocator's own.
constexpr size_t kEntryOverhead = 64;

// The data column family's keys and rows of a batch; `all` when it cannot be told key by key
// (a range delete, a merge, or a record this handler does not know).
class KeyCollector : public rocksdb::WriteBatch::Handler {
 public:
  explicit KeyCollector(uint32_t data_cf_id) : data_cf_id_(data_cf_id) {}

  rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& key,
                        const rocksdb::Slice& value) override {
    return Add(cf, key, std::string_view(value.data(), value.size()));
  }
  rocksdb::Status DeleteCF(uint32_t cf, const rocksdb::Slice& key) override {
    return Add(cf, key, std::nullopt);
  }
  rocksdb::Status SingleDeleteCF(uint32_t cf, const rocksdb::Slice& key) override {
    return Add(cf, key, std::nullopt);
  }
  // Records whose resulting row is not in the batch: nothing is written through.
  rocksdb::Status MergeCF(uint32_t cf, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return Opaque(cf);
  }
  rocksdb::Status PutEntityCF(uint32_t cf, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return Opaque(cf);
  }
  rocksdb::Status PutBlobIndexCF(uint32_t cf, const rocksdb::Slice&,
                                 const rocksdb::Slice&) override {
    return Opaque(cf);
  }
  rocksdb::Status DeleteRangeCF(uint32_t cf, const rocksdb::Slice&,
                                const rocksdb::Slice&) override {
    return Opaque(cf);
  }
  void LogData(const rocksdb::Slice&) override {}

  bool all = false;
  std::vector<std::string_view> keys;  // views into the batch
  // Puts (stored bytes) and deletes (nullopt), in batch order.
  std::vector<std::pair<std::string_view, std::optional<std::string_view>>> rows;

 private:
  rocksdb::Status Add(uint32_t cf, const rocksdb::Slice& key,
                      std::optional<std::string_view> stored) {
    if (cf != data_cf_id_) return rocksdb::Status::OK();
    keys.emplace_back(key.data(), key.size());
    rows.emplace_back(std::string_view(key.data(), key.size()), stored);
    return rocksdb::Status::OK();
  }
  rocksdb::Status Opaque(uint32_t cf) {
    if (cf == data_cf_id_) all = true;
    return rocksdb::Status::OK();
  }

  const uint32_t data_cf_id_;
};

}  // namespace

RowCache::RowCache(size_t capacity_bytes)
    : capacity_(capacity_bytes),
      stripe_capacity_(capacity_bytes / kStripes),
      stripes_(new Stripe[kStripes]) {}

size_t RowCache::StripeOf(std::string_view key) const { return absl::HashOf(key) % kStripes; }

void RowCache::ItemDeleter::operator()(Item* item) const {
  item->~Item();
  ::operator delete(item);
}

RowCache::ItemPtr RowCache::NewItem(std::string_view key, const std::optional<std::string>& row,
                                    size_t charge) {
  const size_t row_len = row.has_value() ? row->size() : 0;
  void* raw = ::operator new(sizeof(Item) + key.size() + row_len);
  ItemPtr item(new (raw) Item());
  item->key_len = static_cast<uint32_t>(key.size());
  item->row_len = static_cast<uint32_t>(row_len);
  item->has_row = row.has_value();
  item->charge = charge;
  std::memcpy(item->bytes(), key.data(), key.size());
  if (row_len > 0) std::memcpy(item->bytes() + key.size(), row->data(), row_len);
  return item;
}

void RowCache::EraseLocked(Stripe& s, std::string_view key) {
  auto it = s.index.find(key);
  if (it == s.index.end()) return;
  Item* item = it->second.get();
  // The ring's last item takes the erased one's place.
  Item* last = s.ring.back();
  s.ring[item->ring_pos] = last;
  last->ring_pos = item->ring_pos;
  s.ring.pop_back();
  if (s.hand >= s.ring.size()) s.hand = 0;
  s.bytes -= item->charge;
  s.index.erase(it);  // frees the item, and with it the key the index viewed
}

void RowCache::EvictOneLocked(Stripe& s) {
  // Second chance: a referenced item is spared once (its flag cleared); at most one full turn
  // clears every flag, so the loop ends.
  while (true) {
    Item* item = s.ring[s.hand];
    if (item->referenced) {
      item->referenced = false;
      s.hand = (s.hand + 1) % s.ring.size();
      continue;
    }
    EraseLocked(s, item->key());
    return;
  }
}

void RowCache::ClearLocked(Stripe& s) {
  s.ring.clear();
  s.index.clear();
  s.hand = 0;
  s.bytes = 0;
}

std::optional<std::optional<std::string>> RowCache::Lookup(std::string_view key, Ticket* ticket) {
  *ticket = Ticket{};
  if (!enabled()) return std::nullopt;
  const size_t stripe = StripeOf(key);
  Stripe& s = stripes_[stripe];
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.index.find(key);
  if (it != s.index.end()) {
    Item* item = it->second.get();
    item->referenced = true;
    hits_.fetch_add(1, std::memory_order_relaxed);
    if (!item->has_row) return std::optional<std::string>();
    return std::optional<std::string>(std::string(item->row()));
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  *ticket = Ticket{stripe, s.epoch, s.pending == 0};
  return std::nullopt;
}

void RowCache::Fill(std::string_view key, const Ticket& ticket,
                    const std::optional<std::string>& row) {
  if (!enabled() || !ticket.valid) return;
  const size_t charge = key.size() + (row.has_value() ? row->size() : 0) + kEntryOverhead;
  if (charge > stripe_capacity_ || key.size() > UINT32_MAX ||
      (row.has_value() && row->size() > UINT32_MAX)) {
    return;
  }
  ItemPtr item = NewItem(key, row, charge);  // allocated before taking the lock
  Stripe& s = stripes_[ticket.stripe];
  std::lock_guard<std::mutex> lock(s.mu);
  // A write began since the ticket was taken: the row read may be older than the database.
  if (s.pending != 0 || s.epoch != ticket.epoch) return;
  InsertLocked(s, std::move(item));
}

void RowCache::InsertLocked(Stripe& s, ItemPtr item) {
  EraseLocked(s, item->key());  // another reader may have filled it meanwhile
  while (!s.ring.empty() && s.bytes + item->charge > stripe_capacity_) EvictOneLocked(s);
  item->ring_pos = static_cast<uint32_t>(s.ring.size());
  s.ring.push_back(item.get());
  s.bytes += item->charge;
  const std::string_view view = item->key();
  s.index.emplace(view, std::move(item));
}

RowCache::WriteToken RowCache::BeginWrite(const rocksdb::WriteBatch& batch, uint32_t data_cf_id) {
  WriteToken token;
  if (!enabled()) return token;
  KeyCollector collector(data_cf_id);
  if (!batch.Iterate(&collector).ok()) collector.all = true;
  auto begin_stripe = [&](size_t i) {
    Stripe& s = stripes_[i];
    token.stripes.push_back({i, s.pending == 0, ++s.begun});
    ++s.pending;
  };
  if (collector.all) {
    token.stripes.reserve(kStripes);
    for (size_t i = 0; i < kStripes; ++i) {
      std::lock_guard<std::mutex> lock(stripes_[i].mu);
      begin_stripe(i);
      ClearLocked(stripes_[i]);
    }
    return token;
  }
  if (collector.keys.empty()) return token;
  std::vector<std::pair<size_t, std::string_view>> by_stripe;
  by_stripe.reserve(collector.keys.size());
  for (std::string_view key : collector.keys) by_stripe.emplace_back(StripeOf(key), key);
  std::sort(by_stripe.begin(), by_stripe.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < by_stripe.size();) {
    const size_t stripe = by_stripe[i].first;
    Stripe& s = stripes_[stripe];
    std::lock_guard<std::mutex> lock(s.mu);
    begin_stripe(stripe);
    for (; i < by_stripe.size() && by_stripe[i].first == stripe; ++i) {
      EraseLocked(s, by_stripe[i].second);
    }
  }
  token.rows = std::move(collector.rows);
  token.row_stripes.reserve(token.rows.size());
  for (const auto& row : token.rows) token.row_stripes.push_back(StripeOf(row.first));
  return token;
}

void RowCache::EndWrite(const WriteToken& token, Decoder decode) {
  for (const WriteToken::StripeWrite& w : token.stripes) {
    Stripe& s = stripes_[w.stripe];
    std::lock_guard<std::mutex> lock(s.mu);
    --s.pending;
    ++s.epoch;
    // Alone on the stripe from begin to end: this batch's rows are what RocksDB holds now.
    if (decode == nullptr || !w.alone || s.begun != w.begun) continue;
    for (size_t r = 0; r < token.rows.size(); ++r) {
      if (token.row_stripes[r] != w.stripe) continue;
      const auto& [key, stored] = token.rows[r];
      std::optional<std::string> row;
      if (stored.has_value()) {
        const std::optional<std::string_view> clear = decode(*stored);
        if (!clear.has_value()) {
          EraseLocked(s, key);  // an earlier put of the batch may have been cached
          continue;
        }
        row.emplace(*clear);
      }
      const size_t charge = key.size() + (row.has_value() ? row->size() : 0) + kEntryOverhead;
      if (charge > stripe_capacity_ || key.size() > UINT32_MAX ||
          (row.has_value() && row->size() > UINT32_MAX)) {
        EraseLocked(s, key);
        continue;
      }
      InsertLocked(s, NewItem(key, row, charge));
    }
  }
}

void RowCache::Clear() {
  for (size_t i = 0; i < kStripes; ++i) {
    Stripe& s = stripes_[i];
    std::lock_guard<std::mutex> lock(s.mu);
    ++s.epoch;  // a fill in flight may hold a row read under the old cipher
    ClearLocked(s);
  }
}

size_t RowCache::bytes() const {
  size_t total = 0;
  for (size_t i = 0; i < kStripes; ++i) {
    Stripe& s = stripes_[i];
    std::lock_guard<std::mutex> lock(s.mu);
    total += s.bytes;
  }
  return total;
}

}  // namespace tessera::shard
