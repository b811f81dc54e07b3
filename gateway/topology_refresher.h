// Keeps the gateway's ClusterView current: one thread holds a WatchTopology stream to a shard
// (seed addresses first, then any member learned from the topology), publishes every
// snapshot it receives, and moves to the next address with backoff when the stream breaks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/cluster_view.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace tessera::gateway {

struct TopologyRefresherOptions {
  std::vector<std::string> seeds;                // --shards: shard gRPC (raft listener) addresses
  std::map<std::string, std::string> redis_map;  // --raftRedisMap
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{2000};
  std::chrono::milliseconds connect_timeout{2000};
};

class TopologyRefresher {
 public:
  using Publish = std::function<void(std::shared_ptr<const ClusterView>)>;

  // `publish` runs on the refresher's thread for every valid snapshot.
  TopologyRefresher(TopologyRefresherOptions options, Publish publish);
  ~TopologyRefresher();  // Stops.
  TopologyRefresher(const TopologyRefresher&) = delete;
  TopologyRefresher& operator=(const TopologyRefresher&) = delete;

  void Start();
  // Cancels the open stream and joins the thread. Idempotent.
  void Stop();

  // Streams opened so far and snapshots refused as invalid (for metrics and tests).
  uint64_t streams_opened() const;
  uint64_t invalid_snapshots() const;

 private:
  void Run();
  // Watches `address` until the stream ends; true when it delivered at least one snapshot.
  bool WatchOnce(const std::string& address);
  std::vector<std::string> Candidates() const;

  const TopologyRefresherOptions options_;
  const Publish publish_;
  std::thread thread_;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stop_ = false;
  grpc::ClientContext* active_ = nullptr;  // the open stream's context, to cancel it
  std::vector<std::string> learned_;       // raft listeners from the last snapshot
  uint64_t streams_opened_ = 0;
  uint64_t invalid_snapshots_ = 0;
};

}  // namespace tessera::gateway
