// tessera-gateway's flags: every one, its default and its meaning (--help prints them), parsed
// with CLI11 into GatewayOptions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::gateway {

struct GatewayOptions {
  bool help_requested = false;  // --help: the text is in help_out, nothing else was checked
  std::string config_path;      // --config: TOML file of flag values; the command line wins

  std::string listen = "127.0.0.1:6380";  // --listen, IPv4 host:port (0 picks a port)
  std::vector<std::string> shards;        // --shards: shard gRPC addresses to learn topology
  std::map<std::string, std::string> raft_redis_map;  // --raftRedisMap
  size_t threads = 0;                                 // --threads; 0 = one per core
  std::string requirepass;                            // --requirepass
  size_t max_clients = 10000;                         // --maxclients, all threads together
  std::chrono::seconds idle_timeout{0};               // --timeout; 0 = never close idle clients
  std::string metrics_address;                        // --metricsAddress; empty = no HTTP listener
  bool proxy_protocol = false;  // --proxyProtocol: every connection starts with a PROXY header

  size_t max_query_buffer = size_t{1} << 30;    // --maxQueryBuffer (client-query-buffer-limit)
  size_t max_bulk_length = size_t{512} << 20;   // --maxBulkLength (proto-max-bulk-len)
  size_t max_output_buffer = size_t{64} << 20;  // --maxOutputBuffer: unsent reply bytes, hard
  size_t max_pending_commands = 1024;           // --maxPendingCommands per client

  size_t pool_size = 2;                              // --poolSize: connections per shard per thread
  std::chrono::milliseconds request_timeout{10000};  // --requestTimeoutMs
  std::chrono::milliseconds retry_budget{5000};      // --retryBudgetMs
  std::chrono::milliseconds backoff_initial{20};     // --retryBackoffMs
};

// Never exits and never throws: errors come back as InvalidArgument. `help_out`, when
// non-null, always receives the help text.
absl::StatusOr<GatewayOptions> ParseGatewayFlags(int argc, char** argv, std::string* help_out);

// raftAddr=redisAddr(,raftAddr=redisAddr)* (spec/membership.md §1.2), duplicates refused.
absl::StatusOr<std::map<std::string, std::string>> ParseRedisMap(std::string_view value);
// host:port(,host:port)*
absl::StatusOr<std::vector<std::string>> ParseAddressList(std::string_view flag,
                                                          std::string_view value);

}  // namespace tessera::gateway
