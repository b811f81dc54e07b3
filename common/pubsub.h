// Pub/Sub bookkeeping shared by the shard's Redis listener and the gateway: which client listens
// to which channel and pattern, and the confirmations and messages Redis 7.0 sends for them
// (RESP2 arrays, RESP3 pushes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace tessera::common {

// Channel and pattern subscriptions of one listener, by client id. Not thread-safe: the
// listener's loop thread owns it. Nothing here is replicated (at-most-once, as in Redis).
class PubSubRegistry {
 public:
  // Each appends one confirmation per name to `out` in `protocol` (2 or 3), as Redis does:
  // [kind, name, the client's channel + pattern count after it]. The unsubscribes with no
  // names drop every channel (pattern) of the client, in name order, or confirm with a nil name
  // and 0 when it has none.
  void Subscribe(uint64_t client, std::span<const std::string> channels, int protocol,
                 std::string* out);
  void Unsubscribe(uint64_t client, std::span<const std::string> channels, int protocol,
                   std::string* out);
  void PSubscribe(uint64_t client, std::span<const std::string> patterns, int protocol,
                  std::string* out);
  void PUnsubscribe(uint64_t client, std::span<const std::string> patterns, int protocol,
                    std::string* out);
  // Drops every subscription of the client silently (RESET, a closed connection).
  void RemoveClient(uint64_t client);

  // Channels plus patterns of the client; > 0 puts a RESP2 connection in subscribed mode.
  size_t SubscriptionCount(uint64_t client) const;
  // Channels (patterns) of the client (CLIENT LIST's sub= and psub=).
  size_t ChannelCount(uint64_t client) const;
  size_t PatternCount(uint64_t client) const;

  // One delivery of a PUBLISH: the client and, for a pattern subscription, its pattern.
  struct Receiver {
    uint64_t client;
    const std::string* pattern;  // null: a channel subscription; valid until the next change
  };
  // Channel subscribers first (in subscription order), then every matching pattern's; a client
  // subscribed both ways receives the message once per subscription, as in Redis.
  std::vector<Receiver> Receivers(std::string_view channel) const;

  // PUBSUB CHANNELS [pattern] (channels with a subscriber, in name order), NUMSUB, NUMPAT
  // (distinct patterns).
  std::vector<std::string> ActiveChannels(const std::string* pattern) const;
  size_t NumSub(std::string_view channel) const;
  size_t NumPat() const { return patterns_.size(); }
  // Every channel (pattern) with its subscribers, in subscription order: the shard's leadership
  // sweep, the gateway's upstream subscriptions and its delivery of what they bring.
  const std::map<std::string, std::vector<uint64_t>, std::less<>>& channels() const {
    return channels_;
  }
  const std::map<std::string, std::vector<uint64_t>, std::less<>>& patterns() const {
    return patterns_;
  }

 private:
  struct Subscriptions {
    std::set<std::string, std::less<>> channels;
    std::set<std::string, std::less<>> patterns;
  };
  using Index = std::map<std::string, std::vector<uint64_t>, std::less<>>;

  // Shared by channels and patterns: `mine` is the client's set, `index` the listener's.
  void Add(uint64_t client, bool pattern, std::span<const std::string> names, int protocol,
           std::string* out);
  void Remove(uint64_t client, bool pattern, std::span<const std::string> names, int protocol,
              std::string* out);
  void Erase(Index& index, std::string_view name, uint64_t client);

  Index channels_;
  Index patterns_;
  absl::flat_hash_map<uint64_t, Subscriptions> clients_;
};

// RESP2 has no push type: a subscribed RESP2 connection carries only (P)SUBSCRIBE,
// (P)UNSUBSCRIBE, PING, QUIT and RESET, as in Redis. `command` is a full name in lower case.
bool AllowedWhileSubscribed(std::string_view command);
// The refusal of any other command there, in Redis's words.
std::string SubscribedModeError(std::string_view command);

// A message push: [message, channel, payload], or [pmessage, pattern, channel, payload].
std::string PubSubMessage(int protocol, const std::string* pattern, std::string_view channel,
                          std::string_view payload);

}  // namespace tessera::common
