// The refresher thread: WatchTopology on one shard at a time, round robin over the seeds and
// the learned members, exponential backoff between failed attempts.
#include "gateway/topology_refresher.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <set>

#include "proto/topology.grpc.pb.h"
#include "spdlog/spdlog.h"

namespace tessera::gateway {

TopologyRefresher::TopologyRefresher(TopologyRefresherOptions options, Publish publish)
    : options_(std::move(options)), publish_(std::move(publish)) {}

TopologyRefresher::~TopologyRefresher() { Stop(); }

void TopologyRefresher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void TopologyRefresher::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    if (active_ != nullptr) active_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t TopologyRefresher::streams_opened() const {
  std::lock_guard<std::mutex> lk(mu_);
  return streams_opened_;
}

uint64_t TopologyRefresher::invalid_snapshots() const {
  std::lock_guard<std::mutex> lk(mu_);
  return invalid_snapshots_;
}

std::vector<std::string> TopologyRefresher::Candidates() const {
  std::vector<std::string> out = options_.seeds;
  std::lock_guard<std::mutex> lk(mu_);
  for (const std::string& a : learned_) {
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  return out;
}

bool TopologyRefresher::WatchOnce(const std::string& address) {
  grpc::ChannelArguments args;
  // A shard that vanished without closing its socket is noticed within seconds.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + options_.connect_timeout)) {
    return false;
  }
  auto stub = topology::v1::Topology::NewStub(channel);
  grpc::ClientContext context;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_) return false;
    active_ = &context;
    ++streams_opened_;
  }
  topology::v1::WatchTopologyRequest request;
  auto reader = stub->WatchTopology(&context, request);
  bool delivered = false;
  topology::v1::TopologySnapshot snapshot;
  while (reader->Read(&snapshot)) {
    absl::StatusOr<std::shared_ptr<const ClusterView>> view =
        ClusterView::FromSnapshot(snapshot, options_.redis_map);
    if (!view.ok()) {
      spdlog::warn("topology from {} refused: {}", address, view.status().ToString());
      std::lock_guard<std::mutex> lk(mu_);
      ++invalid_snapshots_;
      continue;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      learned_ = (*view)->raft_addresses();
    }
    if (!delivered) {
      spdlog::info("topology: watching {} (table version {}, {} groups)", address,
                   (*view)->version(), (*view)->groups().size());
    }
    delivered = true;
    publish_(std::move(*view));
  }
  grpc::Status status = reader->Finish();
  {
    std::lock_guard<std::mutex> lk(mu_);
    active_ = nullptr;
  }
  if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
    spdlog::warn("topology watch on {} ended: {}", address, status.error_message());
  }
  return delivered;
}

void TopologyRefresher::Run() {
  size_t next = 0;
  std::chrono::milliseconds backoff = options_.backoff_initial;
  while (true) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) return;
    }
    const std::vector<std::string> candidates = Candidates();
    if (!candidates.empty()) {
      const std::string address = candidates[next++ % candidates.size()];
      if (WatchOnce(address)) backoff = options_.backoff_initial;
    }
    std::unique_lock<std::mutex> lk(mu_);
    if (cv_.wait_for(lk, backoff, [this] { return stop_; })) return;
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

}  // namespace tessera::gateway
