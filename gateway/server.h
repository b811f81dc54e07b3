// The gateway server: N libuv event-loop threads sharing one listening address through
// SO_REUSEPORT, each with its own clients and its own pools of pipelined hiredis connections
// to shard leaders. A client's replies always leave in request order.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gateway/cluster_view.h"
#include "gateway/options.h"

namespace tessera::gateway {

class Gateway {
 public:
  explicit Gateway(GatewayOptions options);
  ~Gateway();  // Stops.
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds every thread's listener (errors are returned here) and starts the threads.
  absl::Status Start();
  // Stops accepting, waits up to `drain` for in-flight commands to be answered, then closes
  // every client and shard connection and joins the threads. Idempotent.
  void Stop(std::chrono::milliseconds drain = std::chrono::milliseconds(0));

  int port() const { return port_; }
  // A new topology for every thread. Thread-safe.
  void PublishView(std::shared_ptr<const ClusterView> view);
  std::shared_ptr<const ClusterView> view() const;
  bool topology_known() const { return view() != nullptr; }

  class Worker;  // private to server.cc

 private:
  friend class Worker;

  const GatewayOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  int port_ = 0;
  std::atomic<size_t> clients_{0};  // over every worker, for --maxclients
  std::atomic<uint64_t> next_client_id_{1};
  mutable std::mutex view_mu_;  // guards view_
  std::shared_ptr<const ClusterView> view_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace tessera::gateway
