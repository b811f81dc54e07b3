// CLI11 definitions of the gateway's flags with their help text, and the address-list and
// Redis-map grammars they use.
#include "gateway/options.h"

#include <set>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/config_file.h"

namespace tessera::gateway {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status CheckAddress(std::string_view flag, std::string_view a) {
  const size_t colon = a.rfind(':');
  int port = 0;
  if (a.empty() || colon == std::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(Av(a.substr(colon + 1)), &port) || port < 0 || port > 65535 ||
      a.find_first_of(" \t") != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(Av(flag), ": '", Av(a), "' is not host:port"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseAddressList(std::string_view flag,
                                                          std::string_view value) {
  std::vector<std::string> out;
  if (value.empty()) return out;
  for (absl::string_view part : absl::StrSplit(Av(value), ',')) {
    std::string_view a(part.data(), part.size());
    if (absl::Status s = CheckAddress(flag, a); !s.ok()) return s;
    out.emplace_back(a);
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseRedisMap(std::string_view value) {
  std::map<std::string, std::string> out;
  if (value.empty()) return out;
  for (absl::string_view part : absl::StrSplit(Av(value), ',')) {
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--raftRedisMap: '", part, "' is not raftAddr=redisAddr"));
    }
    std::string raft(part.substr(0, eq));
    std::string redis(part.substr(eq + 1));
    if (absl::Status s = CheckAddress("--raftRedisMap", raft); !s.ok()) return s;
    if (absl::Status s = CheckAddress("--raftRedisMap", redis); !s.ok()) return s;
    if (!out.emplace(raft, redis).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--raftRedisMap: raft address ", raft, " listed twice"));
    }
  }
  return out;
}

absl::StatusOr<GatewayOptions> ParseGatewayFlags(int argc, char** argv, std::string* help_out) {
  GatewayOptions o;
  std::string shards;
  std::string redis_map;
  int64_t timeout_s = 0;
  int64_t request_timeout_ms = o.request_timeout.count();
  int64_t retry_budget_ms = o.retry_budget.count();
  int64_t backoff_ms = o.backoff_initial.count();
  CLI::App app(
      "tessera-gateway: the stateless Redis front end of a Tessera cluster. Clients speak RESP2 "
      "or RESP3 to it; it routes each key (hash slot -> Raft group -> leader) to the leading "
      "shard over pooled, pipelined connections, splits multi-key commands across groups, and "
      "hides leader changes (MOVED, TRYAGAIN) by retrying within a budget. Every flag can also "
      "be set in the --config TOML file under its name without dashes; the command line wins.",
      "tessera-gateway");
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.add_option("--config", o.config_path, "TOML file with flag values (keys = flag names)")
      ->type_name("FILE");
  app.add_option("--listen", o.listen,
                 "Client listener, IPv4 host:port (every thread binds it "
                 "with SO_REUSEPORT)")
      ->capture_default_str();
  app.add_option("--shards", shards,
                 "Comma-separated shard gRPC (raft listener) addresses to fetch and watch the "
                 "topology from; members learned from the topology are tried too (required)");
  app.add_option("--raftRedisMap", redis_map,
                 "raftAddr=redisAddr,... : every raft listener's Redis address, the same value "
                 "as the shards' flag; the topology's advertised addresses fill gaps");
  app.add_option("--threads", o.threads, "Event-loop threads (0: one per core)")
      ->capture_default_str();
  app.add_option("--requirepass", o.requirepass,
                 "Clients must AUTH with this password first (empty: no password)");
  app.add_option("--maxclients", o.max_clients,
                 "Client connections over all threads; more are refused with an error")
      ->capture_default_str();
  app.add_option("--timeout", timeout_s,
                 "Close a client idle for this many seconds (0: never), as Redis's timeout")
      ->capture_default_str();
  app.add_option("--metricsAddress", o.metrics_address,
                 "HTTP host:port serving /metrics (Prometheus) and /healthz (200 once the "
                 "topology is known); empty: none");
  app.add_flag("--proxyProtocol", o.proxy_protocol,
               "Every client connection starts with a PROXY protocol v1 or v2 header (HAProxy, "
               "AWS NLB, Envoy): the client address it names is the one CLIENT LIST shows; a "
               "connection without a valid header is closed. Only behind such a balancer");
  app.add_option("--maxQueryBuffer", o.max_query_buffer,
                 "Unparsed bytes per client before it is closed (client-query-buffer-limit)")
      ->capture_default_str();
  app.add_option("--maxBulkLength", o.max_bulk_length,
                 "Largest bulk argument accepted (proto-max-bulk-len)")
      ->capture_default_str();
  app.add_option("--maxOutputBuffer", o.max_output_buffer,
                 "Unsent reply bytes per client before it is closed (a client that does not "
                 "read); reading from it pauses at a quarter of this")
      ->capture_default_str();
  app.add_option("--maxPendingCommands", o.max_pending_commands,
                 "Commands per client parsed but not yet answered; reading pauses beyond it")
      ->capture_default_str();
  app.add_option("--poolSize", o.pool_size,
                 "Pipelined connections per shard per thread (a client always uses the same "
                 "one, which keeps its commands in order)")
      ->capture_default_str();
  app.add_option("--requestTimeoutMs", request_timeout_ms,
                 "Deadline of a command from arrival to reply, retries included; a shard "
                 "connection with a request past it is closed")
      ->capture_default_str();
  app.add_option("--retryBudgetMs", retry_budget_ms,
                 "How long TRYAGAIN, unknown leaders and lost connections are retried before the "
                 "client gets the error (a few election timeouts)")
      ->capture_default_str();
  app.add_option("--retryBackoffMs", backoff_ms,
                 "First retry delay; doubles per attempt up to 500 ms")
      ->capture_default_str();
  if (help_out != nullptr) *help_out = app.help();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    o.help_requested = true;
    return o;
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (!o.config_path.empty()) {
    static const std::set<std::string> kIntegerKeys = {
        "threads",          "maxclients",      "timeout",       "maxQueryBuffer",
        "maxBulkLength",    "maxOutputBuffer", "poolSize",      "maxPendingCommands",
        "requestTimeoutMs", "retryBudgetMs",   "retryBackoffMs"};
    if (absl::Status s = common::ApplyConfigFile(&app, o.config_path, kIntegerKeys); !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<std::vector<std::string>> seeds = ParseAddressList("--shards", shards);
  if (!seeds.ok()) return seeds.status();
  if (seeds->empty()) return absl::InvalidArgumentError("--shards is required");
  o.shards = std::move(*seeds);
  absl::StatusOr<std::map<std::string, std::string>> map = ParseRedisMap(redis_map);
  if (!map.ok()) return map.status();
  o.raft_redis_map = std::move(*map);
  if (absl::Status s = CheckAddress("--listen", o.listen); !s.ok()) return s;
  if (!o.metrics_address.empty()) {
    if (absl::Status s = CheckAddress("--metricsAddress", o.metrics_address); !s.ok()) return s;
  }
  if (o.threads == 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
  if (o.threads > 256) return absl::InvalidArgumentError("--threads: at most 256");
  if (o.pool_size == 0 || o.pool_size > 64) {
    return absl::InvalidArgumentError("--poolSize: between 1 and 64");
  }
  if (timeout_s < 0 || request_timeout_ms <= 0 || retry_budget_ms < 0 || backoff_ms <= 0) {
    return absl::InvalidArgumentError(
        "--timeout, --retryBudgetMs must be >= 0; --requestTimeoutMs, --retryBackoffMs > 0");
  }
  if (o.max_clients == 0 || o.max_pending_commands == 0 || o.max_output_buffer == 0) {
    return absl::InvalidArgumentError(
        "--maxclients, --maxPendingCommands and --maxOutputBuffer must be positive");
  }
  o.idle_timeout = std::chrono::seconds(timeout_s);
  o.request_timeout = std::chrono::milliseconds(request_timeout_ms);
  o.retry_budget = std::chrono::milliseconds(retry_budget_ms);
  o.backoff_initial = std::chrono::milliseconds(backoff_ms);
  return o;
}

}  // namespace tessera::gateway
