// RedisAddressBook: the configured raft -> Redis map overlaid on addresses nodes announced,
// with bounded learning and host:port validation of announcements.
#include "shard/membership/redis_address_book.h"

#include <charconv>
#include <utility>

#include "spdlog/spdlog.h"

namespace tessera::shard {

bool IsHostPort(std::string_view address) {
  if (address.empty() || address.size() > 255) return false;
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size()) return false;
  for (char c : address) {
    if (c <= ' ' || c == ',' || c == '=' || c == 0x7f) return false;
  }
  const std::string_view port_text = address.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  return ec == std::errc() && end == port_text.data() + port_text.size() && port >= 1 &&
         port <= 65535;
}

RedisAddressBook::RedisAddressBook(std::map<std::string, std::string> configured)
    : configured_(std::move(configured)) {}

void RedisAddressBook::SetConfigured(std::map<std::string, std::string> configured) {
  std::lock_guard<std::mutex> lock(mu_);
  configured_ = std::move(configured);
}

std::string RedisAddressBook::Lookup(std::string_view raft_address) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = configured_.find(std::string(raft_address)); it != configured_.end()) {
    return it->second;
  }
  if (auto it = learned_.find(raft_address); it != learned_.end()) return it->second;
  return std::string();
}

size_t RedisAddressBook::Learn(const std::vector<std::string>& raft_addresses,
                               std::string_view redis_address) {
  if (!IsHostPort(redis_address)) return 0;
  size_t changed = 0;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& raft : raft_addresses) {
    if (!IsHostPort(raft)) continue;
    auto it = learned_.find(raft);
    if (it != learned_.end()) {
      if (it->second == redis_address) continue;
      it->second = std::string(redis_address);
    } else {
      if (learned_.size() >= kMaxLearned) {
        spdlog::warn("redis address book full ({} learned entries): {} -> {} not recorded",
                     kMaxLearned, raft, redis_address);
        continue;
      }
      learned_.emplace(raft, std::string(redis_address));
    }
    ++changed;
    if (!configured_.contains(raft)) {
      spdlog::info("raft listener {} serves Redis on {} (announced by the node)", raft,
                   redis_address);
    }
  }
  return changed;
}

std::map<std::string, std::string> RedisAddressBook::Entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::string> out(learned_.begin(), learned_.end());
  for (const auto& [raft, redis] : configured_) out[raft] = redis;
  return out;
}

}  // namespace tessera::shard
