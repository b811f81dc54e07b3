// EncryptionStateCache's per-group cutover map.
#include "shard/encryption/state_cache.h"

namespace tessera::shard::encryption {

uint64_t EncryptionStateCache::raft_cutover(uint64_t gid) const {
  std::lock_guard lock(mu_);
  auto it = raft_cutover_.find(gid);
  return it == raft_cutover_.end() ? 0 : it->second->load(std::memory_order_acquire);
}

void EncryptionStateCache::set_raft_cutover(uint64_t gid, uint64_t index) {
  std::lock_guard lock(mu_);
  auto& slot = raft_cutover_[gid];
  if (slot == nullptr) slot = std::make_unique<std::atomic<uint64_t>>(0);
  slot->store(index, std::memory_order_release);
}

bool EncryptionStateCache::intake_blocked(uint64_t gid) const {
  std::lock_guard lock(mu_);
  auto it = intake_blocked_.find(gid);
  return it != intake_blocked_.end() && it->second->load(std::memory_order_acquire);
}

void EncryptionStateCache::set_intake_blocked(uint64_t gid, bool blocked) {
  std::lock_guard lock(mu_);
  auto& slot = intake_blocked_[gid];
  if (slot == nullptr) slot = std::make_unique<std::atomic<bool>>(false);
  slot->store(blocked, std::memory_order_release);
}

}  // namespace tessera::shard::encryption
