// The in-memory keystore: every DEK this node has unwrapped, by id, with its purpose. Keys are
// only ever added (old keys stay for decryption, spec/encryption.md §3, §14).
#pragma once

#include <cstdint>
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
  // A lookup for envelope readers that only yields keys of `purpose`.
  KeyLookup Lookup(DekPurpose purpose) const;

 private:
  struct Entry {
    DekPurpose purpose;
    std::shared_ptr<const SecretBytes> key;
  };
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<uint32_t, Entry> keys_;  // guarded by mu_
};

}  // namespace tessera::shard::encryption
