// Keystore: an add-only, reader-shared map of DEKs.
#include "shard/encryption/keystore.h"

#include <mutex>

namespace tessera::shard::encryption {

void Keystore::Install(uint32_t id, DekPurpose purpose, std::shared_ptr<const SecretBytes> key) {
  std::unique_lock lock(mu_);
  keys_.try_emplace(id, Entry{purpose, std::move(key)});
}

std::shared_ptr<const SecretBytes> Keystore::Find(uint32_t id, DekPurpose purpose) const {
  std::shared_lock lock(mu_);
  auto it = keys_.find(id);
  if (it == keys_.end() || it->second.purpose != purpose) return nullptr;
  return it->second.key;
}

bool Keystore::Has(uint32_t id) const {
  std::shared_lock lock(mu_);
  return keys_.contains(id);
}

std::vector<uint32_t> Keystore::Ids() const {
  std::shared_lock lock(mu_);
  std::vector<uint32_t> ids;
  for (const auto& [id, entry] : keys_) ids.push_back(id);
  return ids;
}

KeyLookup Keystore::Lookup(DekPurpose purpose) const {
  return [this, purpose](uint32_t id) {
    std::shared_ptr<const SecretBytes> key = Find(id, purpose);
    if (key == nullptr) {
      std::function<void(uint32_t)> hook;
      {
        std::shared_lock lock(mu_);
        hook = miss_hook_;
      }
      if (hook) hook(id);
    }
    return key;
  };
}

void Keystore::set_miss_hook(std::function<void(uint32_t id)> hook) {
  std::unique_lock lock(mu_);
  miss_hook_ = std::move(hook);
}

}  // namespace tessera::shard::encryption
