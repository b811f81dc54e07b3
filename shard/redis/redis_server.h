// The shard's Redis listener: one libuv loop thread parsing RESP, routing each key to its group,
// queueing proposals and reads to the driver, replying in request order per client, and Pub/Sub.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/resp.h"
#include "shard/config/membership_flags.h"
#include "shard/driver/driver.h"
#include "shard/membership/redis_address_book.h"
#include "shard/membership/server.h"

namespace tessera::shard {

// TESSERA.INGROUP <gid> <command> [args...]: runs a keyless data command that covers every
// group (KEYS, SCAN, DBSIZE, RANDOMKEY, FLUSHDB, FLUSHALL) on group <gid> alone, with the usual
// leader, read-barrier and MOVED/TRYAGAIN rules for that group. The gateway's fan-out uses it;
// it is not in the command table (COMMAND does not list it). docs/gateway.md.
inline constexpr std::string_view kInGroupCommand = "tessera.ingroup";

// WATCH for clients whose connection to the shard is shared (the gateway's pools), split in
// the two halves a shared connection can carry without one client's watch leaking into
// another's EXEC:
// TESSERA.WATCHINDEX key [key ...]: what WATCH does (one replicated watch entry, every key in
// one group), answered with the entry's index as an integer; nothing is kept on the connection.
// TESSERA.WATCHED key index [key index ...]: makes these (key, watch index) pairs the
// connection's watch, replacing any; the next EXEC checks and clears them as after WATCH. The
// gateway sends it right before MULTI ... EXEC, back to back on one connection. docs/gateway.md.
inline constexpr std::string_view kWatchIndexCommand = "tessera.watchindex";
inline constexpr std::string_view kWatchedCommand = "tessera.watched";

struct RedisServerOptions {
  std::string address;  // --redisAddress, IPv4 host:port; port 0 picks a free port
  // Hosted groups, ascending; the lowest is the default group, whose stored routing table the
  // listener routes with (the even spread over these until one is stored).
  std::vector<GroupId> groups;
  // Declared group members (node id -> raft listener), to turn a NOT_LEADER hint into a raft
  // address until the group's live configuration (which also names members added at runtime)
  // is published by the driver.
  absl::flat_hash_map<GroupId, std::vector<Server>> members;
  // Raft listener -> Redis address: --raftRedisMap, then what nodes announced on the raft
  // transport (§6). Null: an empty book of the server's own.
  std::shared_ptr<RedisAddressBook> redis_addresses;
  // Bulk, multibulk and inline limits, and max_query_buffer_length: unparsed input per client;
  // over it the client is closed without a reply and logged, as Redis does.
  common::resp::Limits limits;
  std::string requirepass;  // --requirepass: clients must AUTH first (empty: no password)
  size_t max_pending_commands = 1024;  // per client, parsed and unanswered; then stop reading
  size_t max_output_backlog = size_t{64} << 20;  // unsent reply bytes before reading pauses
  // Pub/Sub: a subscriber whose unsent bytes (replies and messages) would pass this is closed,
  // like Redis's client-output-buffer-limit for pubsub clients; and the most channels plus
  // patterns one client may hold.
  size_t max_pubsub_output = size_t{32} << 20;
  size_t max_subscriptions = 100'000;
};

// Groups, bootstrap lists and the Redis map from the resolved membership flags.
RedisServerOptions RedisServerOptionsFromMembership(const MembershipConfig& config,
                                                    std::string redis_address);

class RedisServer {
 public:
  // The driver must outlive the server.
  RedisServer(Driver* driver, RedisServerOptions options);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Binds and listens (errors are returned here), then runs the loop on its own thread.
  absl::Status Start();
  // Closes the listener and every client, and joins the loop thread. Idempotent.
  void Stop();

  // The bound port (after Start).
  int port() const;
  // Replaces the configured Redis map (a rolling reload, membership.md §6); announced
  // addresses stay. Thread-safe.
  void SetRedisMap(std::map<std::string, std::string> redis_map);

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace tessera::shard
