// Where each raft listener's node serves Redis: the configured --raftRedisMap first, then what
// nodes announce on the raft transport handshake (a node added at runtime is in no one's map).
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::shard {

// Thread-safe: the transport learns on gRPC threads; the Redis listener, Topology and RaftAdmin
// look up on theirs.
class RedisAddressBook {
 public:
  // Learned entries are bounded: a peer announcing garbage cannot grow memory without end.
  static constexpr size_t kMaxLearned = 4096;

  RedisAddressBook() = default;
  explicit RedisAddressBook(std::map<std::string, std::string> configured);

  // Replaces the configured map (raft listener -> Redis address, spec/membership.md §6).
  void SetConfigured(std::map<std::string, std::string> configured);

  // The Redis address of the node listening on `raft_address`; empty when unknown. A configured
  // entry wins over a learned one: the operator's map is the truth when it names the address.
  std::string Lookup(std::string_view raft_address) const;

  // Records that the node listening on each of `raft_addresses` serves Redis on
  // `redis_address` (announced by that node). Malformed addresses (not host:port, over 255
  // bytes) are ignored; a later announcement replaces an earlier one (a node restarted with a
  // new --redisAddress). Returns how many entries were added or changed.
  size_t Learn(const std::vector<std::string>& raft_addresses, std::string_view redis_address);

  // Configured entries overlaid on learned ones (tests, diagnostics).
  std::map<std::string, std::string> Entries() const;

 private:
  mutable std::mutex mu_;  // guards both maps
  std::map<std::string, std::string> configured_;
  std::map<std::string, std::string, std::less<>> learned_;
};

// Whether `address` looks like host:port (non-empty host, port 1..65535), at most 255 bytes.
bool IsHostPort(std::string_view address);

}  // namespace tessera::shard
