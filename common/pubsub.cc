// PubSubRegistry: subscriptions by channel, by pattern and by client, and Redis 7.0's
// (p)(un)subscribe confirmations and message pushes byte for byte.
#include "common/pubsub.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/glob.h"
#include "common/resp.h"

namespace tessera::common {
namespace {

resp::Protocol ProtocolOf(int protocol) {
  return protocol == 3 ? resp::Protocol::kResp3 : resp::Protocol::kResp2;
}

// [kind, name (nil when null), count], a push in RESP3.
void Confirmation(int protocol, std::string_view kind, const std::string* name, size_t count,
                  std::string* out) {
  resp::ReplyWriter w(out, ProtocolOf(protocol));
  w.PushHeader(3);
  w.Bulk(kind);
  if (name == nullptr) {
    w.Null();
  } else {
    w.Bulk(*name);
  }
  w.Integer(static_cast<int64_t>(count));
}

}  // namespace

void PubSubRegistry::Subscribe(uint64_t client, std::span<const std::string> channels, int protocol,
                               std::string* out) {
  Add(client, /*pattern=*/false, channels, protocol, out);
}

void PubSubRegistry::Unsubscribe(uint64_t client, std::span<const std::string> channels,
                                 int protocol, std::string* out) {
  Remove(client, /*pattern=*/false, channels, protocol, out);
}

void PubSubRegistry::PSubscribe(uint64_t client, std::span<const std::string> patterns,
                                int protocol, std::string* out) {
  Add(client, /*pattern=*/true, patterns, protocol, out);
}

void PubSubRegistry::PUnsubscribe(uint64_t client, std::span<const std::string> patterns,
                                  int protocol, std::string* out) {
  Remove(client, /*pattern=*/true, patterns, protocol, out);
}

void PubSubRegistry::Add(uint64_t client, bool pattern, std::span<const std::string> names,
                         int protocol, std::string* out) {
  Subscriptions& mine = clients_[client];
  auto& set = pattern ? mine.patterns : mine.channels;
  Index& index = pattern ? patterns_ : channels_;
  for (const std::string& name : names) {
    if (set.insert(name).second) index[name].push_back(client);
    Confirmation(protocol, pattern ? "psubscribe" : "subscribe", &name,
                 mine.channels.size() + mine.patterns.size(), out);
  }
}

void PubSubRegistry::Remove(uint64_t client, bool pattern, std::span<const std::string> names,
                            int protocol, std::string* out) {
  const std::string_view kind = pattern ? "punsubscribe" : "unsubscribe";
  auto it = clients_.find(client);
  if (names.empty()) {
    std::vector<std::string> all;
    if (it != clients_.end()) {
      const auto& set = pattern ? it->second.patterns : it->second.channels;
      all.assign(set.begin(), set.end());
    }
    if (all.empty()) {
      Confirmation(protocol, kind, nullptr, SubscriptionCount(client), out);
      return;
    }
    Remove(client, pattern, all, protocol, out);
    return;
  }
  Index& index = pattern ? patterns_ : channels_;
  for (const std::string& name : names) {
    size_t count = 0;
    if (it != clients_.end()) {
      auto& set = pattern ? it->second.patterns : it->second.channels;
      if (set.erase(name) > 0) Erase(index, name, client);
      count = it->second.channels.size() + it->second.patterns.size();
    }
    Confirmation(protocol, kind, &name, count, out);
  }
  if (it != clients_.end() && it->second.channels.empty() && it->second.patterns.empty()) {
    clients_.erase(it);
  }
}

void PubSubRegistry::Erase(Index& index, std::string_view name, uint64_t client) {
  auto it = index.find(name);
  if (it == index.end()) return;
  std::erase(it->second, client);
  if (it->second.empty()) index.erase(it);
}

void PubSubRegistry::RemoveClient(uint64_t client) {
  auto it = clients_.find(client);
  if (it == clients_.end()) return;
  for (const std::string& c : it->second.channels) Erase(channels_, c, client);
  for (const std::string& p : it->second.patterns) Erase(patterns_, p, client);
  clients_.erase(it);
}

size_t PubSubRegistry::SubscriptionCount(uint64_t client) const {
  auto it = clients_.find(client);
  return it == clients_.end() ? 0 : it->second.channels.size() + it->second.patterns.size();
}

size_t PubSubRegistry::ChannelCount(uint64_t client) const {
  auto it = clients_.find(client);
  return it == clients_.end() ? 0 : it->second.channels.size();
}

size_t PubSubRegistry::PatternCount(uint64_t client) const {
  auto it = clients_.find(client);
  return it == clients_.end() ? 0 : it->second.patterns.size();
}

std::vector<PubSubRegistry::Receiver> PubSubRegistry::Receivers(std::string_view channel) const {
  std::vector<Receiver> receivers;
  if (auto it = channels_.find(channel); it != channels_.end()) {
    for (uint64_t client : it->second) receivers.push_back(Receiver{client, nullptr});
  }
  for (const auto& [pattern, clients] : patterns_) {
    if (!GlobMatch(pattern, channel)) continue;
    for (uint64_t client : clients) receivers.push_back(Receiver{client, &pattern});
  }
  return receivers;
}

std::vector<std::string> PubSubRegistry::ActiveChannels(const std::string* pattern) const {
  std::vector<std::string> names;
  for (const auto& [name, clients] : channels_) {
    if (pattern == nullptr || GlobMatch(*pattern, name)) names.push_back(name);
  }
  return names;
}

size_t PubSubRegistry::NumSub(std::string_view channel) const {
  auto it = channels_.find(channel);
  return it == channels_.end() ? 0 : it->second.size();
}

bool AllowedWhileSubscribed(std::string_view command) {
  return command == "subscribe" || command == "unsubscribe" || command == "psubscribe" ||
         command == "punsubscribe" || command == "ping" || command == "quit" || command == "reset";
}

std::string SubscribedModeError(std::string_view command) {
  return absl::StrCat("ERR Can't execute '", absl::string_view(command.data(), command.size()),
                      "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
                      "allowed in this context");
}

std::string PubSubMessage(int protocol, const std::string* pattern, std::string_view channel,
                          std::string_view payload) {
  std::string out;
  resp::ReplyWriter w(&out, ProtocolOf(protocol));
  w.PushHeader(pattern == nullptr ? 3 : 4);
  w.Bulk(pattern == nullptr ? "message" : "pmessage");
  if (pattern != nullptr) w.Bulk(*pattern);
  w.Bulk(channel);
  w.Bulk(payload);
  return out;
}

}  // namespace tessera::common
