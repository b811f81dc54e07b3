// The in-memory keystore: every DEK this node has unwrapped, by id, with its purpose. Keys are
// only ever added (old keys stay for decryption, spec/encryption.md §3, §14).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "shard/encryption/dek.h"
#include "shard/encryption/envelope.h"
#include "shard/encryption/secret.h"

namespace tessera::shard::encryption {

// Thread-safe: apply installs, any reader looks up (a shared lock).
class Keystore {
 public:
  // Installs `key` under `id` unless that id is already held (ids never change meaning).
  void Install(uint32_t id, DekPurpose purpose, std::shared_ptr<const SecretBytes> key);
  std::shared_ptr<const SecretBytes> Find(uint32_t id, DekPurpose purpose) const;
  bool Has(uint32_t id) const;
  std::vector<uint32_t> Ids() const;
  // A lookup for envelope readers that only yields keys of `purpose`. A miss calls the miss
  // hook.
  KeyLookup Lookup(DekPurpose purpose) const;
  // Called when a reader meets a key id this node does not hold (a log entry or a snapshot from
  // a node whose default group is ahead): the runtime resync's trigger (spec/encryption.md §7).
  // Any thread; must not block.
  void set_miss_hook(std::function<void(uint32_t id)> hook);

 private:
  struct Entry {
    DekPurpose purpose;
    std::shared_ptr<const SecretBytes> key;
  };
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<uint32_t, Entry> keys_;  // guarded by mu_
  std::function<void(uint32_t)> miss_hook_;    // guarded by mu_
};

}  // namespace tessera::shard::encryption
