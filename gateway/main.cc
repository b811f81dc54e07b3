// tessera-gateway: parses the flags, starts the event-loop threads, the topology refresher and
// the HTTP endpoint, then waits for SIGTERM/SIGINT and drains before exiting.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/process_metrics.h"
#include "gateway/http_server.h"
#include "gateway/options.h"
#include "gateway/server.h"
#include "gateway/topology_refresher.h"
#include "spdlog/spdlog.h"

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
// In-flight commands get this long to finish after SIGTERM.
constexpr std::chrono::seconds kDrain{10};

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera::gateway;
  std::string help;
  absl::StatusOr<GatewayOptions> options = ParseGatewayFlags(argc, argv, &help);
  if (!options.ok()) {
    std::fprintf(stderr, "tessera-gateway: %s\n\nRun with --help for every flag.\n",
                 std::string(options.status().message()).c_str());
    return kExitUsage;
  }
  if (options->help_requested) {
    std::fputs(help.c_str(), stdout);
    return 0;
  }
  // Signals are taken by sigwait on this thread only; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Gateway gateway(*options);
  if (absl::Status s = gateway.Start(); !s.ok()) {
    spdlog::error("cannot serve clients on {}: {}", options->listen, s.ToString());
    return kExitRuntime;
  }
  TopologyRefresherOptions refresher_options;
  refresher_options.seeds = options->shards;
  refresher_options.redis_map = options->raft_redis_map;
  TopologyRefresher refresher(refresher_options,
                              [&gateway](auto view) { gateway.PublishView(std::move(view)); });
  refresher.Start();
  tessera::common::RegisterProcessMetrics(tessera::common::DefaultRegistry());
  HttpServer http(&tessera::common::DefaultRegistry(),
                  [&gateway] { return gateway.topology_known(); });
  if (!options->metrics_address.empty()) {
    if (absl::Status s = http.Start(options->metrics_address); !s.ok()) {
      spdlog::error("{}", s.ToString());
      refresher.Stop();
      gateway.Stop();
      return kExitRuntime;
    }
    spdlog::info("serving /metrics and /healthz on {}", options->metrics_address);
  }
  spdlog::info("tessera-gateway serving on {} with {} thread(s); topology from {}", options->listen,
               options->threads, options->shards.front());

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: draining", sig);
  gateway.Stop(kDrain);  // stop accepting, answer what is in flight, close
  refresher.Stop();
  http.Stop();
  spdlog::info("stopped");
  return 0;
}
