// The process-wide encryption state every writer reads lock-free (spec/encryption.md §7):
// whether the storage envelope is active, the active DEK ids, and each group's raft-envelope
// cutover. Updated only by startup load and by apply, after the durable writes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/container/flat_hash_map.h"

namespace tessera::shard::encryption {

class EncryptionStateCache {
 public:
  bool storage_envelope_active() const {
    return storage_envelope_active_.load(std::memory_order_acquire);
  }
  uint32_t active_storage_id() const { return active_storage_id_.load(std::memory_order_acquire); }
  uint32_t active_raft_id() const { return active_raft_id_.load(std::memory_order_acquire); }

  void set_active_storage_id(uint32_t id) {
    active_storage_id_.store(id, std::memory_order_release);
  }
  void set_active_raft_id(uint32_t id) { active_raft_id_.store(id, std::memory_order_release); }
  // Only ever switched on (there is no encrypted → cleartext path).
  void ActivateStorageEnvelope() {
    storage_envelope_active_.store(true, std::memory_order_release);
  }

  // The group's raft-envelope cutover C_G (0 = not cut over).
  uint64_t raft_cutover(uint64_t gid) const;
  void set_raft_cutover(uint64_t gid, uint64_t index);

  // The proposal-quiescence barrier of a raft-envelope cutover (§9): while set, the group's
  // leader refuses every proposal except encryption ops (retryable UNAVAILABLE).
  bool intake_blocked(uint64_t gid) const;
  void set_intake_blocked(uint64_t gid, bool blocked);

 private:
  std::atomic<bool> storage_envelope_active_{false};
  std::atomic<uint32_t> active_storage_id_{0};
  std::atomic<uint32_t> active_raft_id_{0};
  mutable std::mutex mu_;  // guards the map's shape; values are atomics
  absl::flat_hash_map<uint64_t, std::unique_ptr<std::atomic<uint64_t>>> raft_cutover_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<std::atomic<bool>>> intake_blocked_;
};

}  // namespace tessera::shard::encryption
