// GrpcTransport: a sync gRPC server whose Stream handler decodes and dispatches inbound
// batches, and one sender thread per peer node that drains a bounded queue onto one stream;
// the snapshot stream's two ends live in snapshot_stream.cc.
#include "shard/transport/grpc_transport.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/metrics.h"
#include "proto/raft.grpc.pb.h"
#include "proto/raft.pb.h"
#include "shard/transport/handler_gate.h"
#include "shard/transport/snapshot_stream.h"

namespace tessera::shard {
namespace {

namespace v1 = tessera::raft::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using transport_internal::HandlerGate;
using transport_internal::SnapshotReceiver;
using transport_internal::SnapshotSender;

struct AtomicCounters {
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> dropped_full{0};
  std::atomic<uint64_t> unreachable{0};
  std::atomic<uint64_t> rejected_malformed{0};
  std::atomic<uint64_t> unknown_group{0};
  std::atomic<uint64_t> streams_opened{0};
  std::atomic<uint64_t> streams_accepted{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> bootstrap_mismatches{0};
};

// The first ten occurrences, then powers of two: a flood of garbage cannot flood the log.
bool ShouldLog(uint64_t occurrence) {
  return occurrence <= 10 || (occurrence & (occurrence - 1)) == 0;
}

std::string WithPort(const std::string& address, int port) {
  return absl::StrCat(address.substr(0, address.rfind(':')), ":", port);
}

// The stream handshake's metadata: "gid=host:port,gid=host:port" of the sender's listeners.
constexpr char kListenersMetadata[] = "x-tessera-raft-listeners";
constexpr size_t kMaxListenersMetadata = 16 * 1024;

std::string EncodeListeners(const std::map<GroupId, std::string>& listeners) {
  std::string out;
  for (const auto& [group, address] : listeners) {
    absl::StrAppend(&out, out.empty() ? "" : ",", group, "=", address);
  }
  return out;
}

// The handshake's Redis address of the sender (its one RESP listener, for all its listeners).
constexpr char kRedisAddressMetadata[] = "x-tessera-redis-address";

// The handshake's bootstrap state (membership.md §5): "gid=era:hash,..." of the sender's groups,
// era 1 while the group's membership is still the declared bootstrap list.
constexpr char kBootstrapMetadata[] = "x-tessera-bootstrap";

struct BootstrapState {
  bool era = false;
  std::string hash;
};

std::string EncodeBootstrapStates(const std::map<GroupId, BootstrapState>& states) {
  std::string out;
  for (const auto& [group, st] : states) {
    absl::StrAppend(&out, out.empty() ? "" : ",", group, "=", st.era ? 1 : 0, ":", st.hash);
  }
  return out;
}

// Malformed entries are skipped, like the listeners'.
std::map<GroupId, BootstrapState> DecodeBootstrapStates(std::string_view text) {
  std::map<GroupId, BootstrapState> out;
  if (text.size() > kMaxListenersMetadata) return out;
  for (absl::string_view entry : absl::StrSplit(absl::string_view(text.data(), text.size()), ',')) {
    const size_t eq = entry.find('=');
    const size_t colon = entry.find(':');
    GroupId group = 0;
    if (eq == absl::string_view::npos || colon == absl::string_view::npos || colon < eq ||
        !absl::SimpleAtoi(entry.substr(0, eq), &group)) {
      continue;
    }
    const absl::string_view era = entry.substr(eq + 1, colon - eq - 1);
    if (era != "0" && era != "1") continue;
    out[group] = BootstrapState{era == "1", std::string(entry.substr(colon + 1))};
  }
  return out;
}

common::Family<common::Counter>& BootstrapMismatchCounter() {
  static common::Family<common::Counter>* const family = &common::DefaultRegistry().AddCounter(
      "tessera_raft_bootstrap_hash_mismatch_total",
      "Peers in the bootstrap era whose declared bootstrap list differs from this node's "
      "(first-boot divergence, membership.md section 5); counted once per peer and group.",
      {"group"});
  return *family;
}

// Malformed entries are skipped: the handshake is a hint, never a reason to drop a stream.
std::vector<std::pair<GroupId, std::string>> DecodeListeners(std::string_view text) {
  std::vector<std::pair<GroupId, std::string>> out;
  if (text.size() > kMaxListenersMetadata) return out;
  for (absl::string_view item : absl::StrSplit(absl::string_view(text.data(), text.size()), ',')) {
    const size_t eq = item.find('=');
    uint64_t group = 0;
    if (eq == absl::string_view::npos || !absl::SimpleAtoi(item.substr(0, eq), &group)) continue;
    absl::string_view address = item.substr(eq + 1);
    if (group == 0 || address.empty() || address.size() > 255 ||
        address.find(':') == absl::string_view::npos) {
      continue;
    }
    out.emplace_back(group, std::string(address));
  }
  return out;
}

// Where an outbound message goes and what to report if it does not get there.
struct Destination {
  GroupId group;
  raft::NodeId node;
};

// A channel of its own to `target`: one connection per user, never shared with (or throttled
// by the backoff state of) another channel to the same address.
std::shared_ptr<grpc::Channel> OpenChannel(const GrpcTransportOptions& o,
                                           const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(o.max_grpc_message_bytes);
  args.SetMaxReceiveMessageSize(o.max_grpc_message_bytes);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);  // raft retransmits; no buffering for replays
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(o.reconnect_initial.count()));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(o.reconnect_initial.count()));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(o.reconnect_max.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(o.keepalive_time.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(o.keepalive_timeout.count()));
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

struct GrpcTransport::State {
  class Peer;
  class Service;

  explicit State(GrpcTransportOptions o)
      : options(std::move(o)),
        snapshot_receiver(options, gate, snapshot_handlers),
        snapshot_sender(
            options, gate, snapshot_handlers,
            [this](GroupId group, raft::NodeId node) { return SnapshotTarget(group, node); },
            [this](const std::string& target) { return OpenChannel(options, target); }) {}

  void ReportUnreachable(const std::vector<Destination>& lost);
  // Fills the addresses of `node` this transport does not know from its stream handshake.
  void LearnListeners(raft::NodeId node, const std::vector<std::pair<GroupId, std::string>>& ls);
  // False once the transport is stopping: the caller ends the stream.
  bool Deliver(const v1::MessageBatch& batch, const std::string& from_peer);
  // §5 detection: both ends in the bootstrap era with different list hashes. Logs and counts;
  // never rejects anything.
  void CheckBootstrap(raft::NodeId from, const std::map<GroupId, BootstrapState>& remote);
  std::string PeerTarget(raft::NodeId node) const;
  // The listener of (group, node), else any of node's listeners (each serves every group).
  std::string SnapshotTarget(GroupId group, raft::NodeId node) const;

  const GrpcTransportOptions options;
  MessageHandler on_message;           // set before Start, read-only afterwards
  UnreachableHandler on_unreachable;   // set before Start, read-only afterwards
  SnapshotHandlers snapshot_handlers;  // set before Start, read-only afterwards
  HandlerGate gate;
  AtomicCounters counters;
  std::atomic<size_t> inbound_streams{0};
  std::atomic<bool> logged_snap_on_stream{false};
  SnapshotReceiver snapshot_receiver;
  SnapshotSender snapshot_sender;

  std::mutex stop_mu;  // serializes Stop so a second caller returns only once stopped

  mutable std::mutex mu;  // guards everything below
  bool started = false;
  bool stopping = false;
  absl::flat_hash_map<raft::NodeId, std::map<GroupId, std::string>> peer_addresses;
  absl::flat_hash_map<raft::NodeId, std::unique_ptr<Peer>> peers;
  std::map<GroupId, std::string> bound_addresses;
  std::string announced_listeners;  // kListenersMetadata of outbound streams, set by Start
  std::map<GroupId, BootstrapState> bootstrap;  // this node's, per group (SetBootstrapState)
  std::set<std::pair<raft::NodeId, GroupId>> mismatch_reported;  // logged once per peer, group
  std::map<GroupId, std::vector<grpc::Service*>> group_services;
  std::vector<std::unique_ptr<Service>> services;  // one per listener
  std::vector<std::unique_ptr<grpc::Server>> servers;
};

// One peer node: a bounded queue filled by Send and a thread that owns the stream to it.
class GrpcTransport::State::Peer {
 public:
  Peer(State* state, raft::NodeId node)
      : state_(state), node_(node), rng_(std::random_device{}()) {}

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }

  // Queues what fits, in order; returns the destinations of the messages that did not.
  std::vector<Destination> Enqueue(std::vector<GroupMessage>& messages) {
    std::vector<Destination> refused;
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (GroupMessage& m : messages) {
        if (queue_.size() >= state_->options.peer_queue_capacity) {
          refused.push_back({m.group, m.message.to});
        } else {
          queue_.push_back(std::move(m));
        }
      }
    }
    cv_.notify_one();
    return refused;
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      if (active_ != nullptr) active_->TryCancel();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run();
  std::shared_ptr<grpc::Channel> Connect(const std::string& target);
  // Writes batches until the stream fails (true) or the peer stops (false); *wrote tells
  // whether any batch was written.
  bool Pump(grpc::ClientWriter<v1::MessageBatch>* writer, bool* wrote);
  // Sleeps `delay` jittered, reporting arrivals unreachable meanwhile; false on stop.
  bool Backoff(milliseconds delay);
  void FailQueued();
  bool Stopping() {
    std::lock_guard<std::mutex> lk(mu_);
    return stop_;
  }

  State* const state_;
  const raft::NodeId node_;
  std::mt19937_64 rng_;  // sender thread only
  std::thread thread_;

  std::mutex mu_;  // guards queue_, stop_, active_
  std::condition_variable cv_;
  std::deque<GroupMessage> queue_;
  bool stop_ = false;
  grpc::ClientContext* active_ = nullptr;  // the live stream's context, for Stop to cancel
};

void GrpcTransport::State::Peer::Run() {
  const GrpcTransportOptions& o = state_->options;
  milliseconds delay = o.reconnect_initial;
  bool had_stream = false;
  bool down = false;  // logged as unreachable; later failures of the streak log at debug
  while (!Stopping()) {
    const std::string target = state_->PeerTarget(node_);
    std::shared_ptr<grpc::Channel> channel = Connect(target);
    if (channel == nullptr) {
      if (Stopping()) break;
      spdlog::log(down ? spdlog::level::debug : spdlog::level::warn,
                  "raft transport: node {:#x} at {} unreachable; retry in ~{} ms", node_, target,
                  delay.count());
      down = true;
      FailQueued();
      if (!Backoff(delay)) break;
      delay = std::min(delay * 2, o.reconnect_max);
      continue;
    }

    auto stub = v1::RaftTransport::NewStub(channel);
    grpc::ClientContext context;  // outlives writer (declared first)
    v1::StreamAck ack;
    {
      std::lock_guard<std::mutex> lk(state_->mu);
      if (!state_->announced_listeners.empty()) {
        context.AddMetadata(kListenersMetadata, state_->announced_listeners);
      }
      if (!state_->bootstrap.empty()) {
        context.AddMetadata(kBootstrapMetadata, EncodeBootstrapStates(state_->bootstrap));
      }
      if (!state_->announced_listeners.empty() && !o.redis_address.empty()) {
        context.AddMetadata(kRedisAddressMetadata, o.redis_address);
      }
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) break;
      active_ = &context;
    }
    std::unique_ptr<grpc::ClientWriter<v1::MessageBatch>> writer = stub->Stream(&context, &ack);
    state_->counters.streams_opened.fetch_add(1, std::memory_order_relaxed);
    if (had_stream) {
      state_->counters.reconnects.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("raft transport: reconnected to node {:#x} at {}", node_, target);
    }
    had_stream = true;
    down = false;

    bool wrote = false;
    const bool failed = Pump(writer.get(), &wrote);
    // Only a stream that carried something resets the backoff: a peer that accepts and
    // then refuses every stream must not be hammered at the initial delay.
    if (wrote) delay = o.reconnect_initial;
    {
      std::lock_guard<std::mutex> lk(mu_);
      active_ = nullptr;
    }
    context.TryCancel();
    const grpc::Status status = writer->Finish();
    if (!failed) break;
    spdlog::warn("raft transport: stream to node {:#x} at {} failed: {} {}", node_, target,
                 static_cast<int>(status.error_code()), status.error_message());
    if (!Backoff(delay)) break;
    delay = std::min(delay * 2, o.reconnect_max);
  }
  // Stopping: whatever is still queued is dropped silently; no handler may run any more.
}

std::shared_ptr<grpc::Channel> GrpcTransport::State::Peer::Connect(const std::string& target) {
  const GrpcTransportOptions& o = state_->options;
  if (target.empty()) return nullptr;
  std::shared_ptr<grpc::Channel> channel = OpenChannel(o, target);

  const Clock::time_point deadline = Clock::now() + o.connect_timeout;
  while (true) {
    const grpc_connectivity_state s = channel->GetState(/*try_to_connect=*/true);
    if (s == GRPC_CHANNEL_READY) return channel;
    if (s == GRPC_CHANNEL_TRANSIENT_FAILURE || s == GRPC_CHANNEL_SHUTDOWN) return nullptr;
    const Clock::time_point now = Clock::now();
    if (now >= deadline || Stopping()) return nullptr;
    // Short slices so Stop is noticed while a connection attempt hangs.
    const auto slice = std::min<Clock::duration>(deadline - now, milliseconds(100));
    channel->WaitForStateChange(s,
                                std::chrono::time_point_cast<std::chrono::system_clock::duration>(
                                    std::chrono::system_clock::now() + slice));
  }
}

bool GrpcTransport::State::Peer::Pump(grpc::ClientWriter<v1::MessageBatch>* writer, bool* wrote) {
  const GrpcTransportOptions& o = state_->options;
  // What one MessageBatch may take on the wire, less room for its own fields.
  const size_t hard_limit = static_cast<size_t>(o.max_grpc_message_bytes) - 64;
  std::vector<GroupMessage> taken;
  v1::MessageBatch batch;
  std::vector<Destination> in_batch;
  while (true) {
    taken.clear();
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return false;
      // Estimate from payload sizes under the lock; exact sizes are computed while encoding.
      size_t estimate = 0;
      while (!queue_.empty() && taken.size() < o.max_batch_messages &&
             (taken.empty() || estimate < o.max_batch_bytes)) {
        const raft::Message& m = queue_.front().message;
        estimate += 64 + m.context.size() + m.snapshot.data.size();
        for (const raft::Entry& e : m.entries) estimate += 32 + e.data.size();
        taken.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }

    batch.Clear();
    batch.set_from_node_id(state_->options.local_node);
    in_batch.clear();
    size_t batch_bytes = 0;
    std::vector<Destination> too_big;
    for (size_t i = 0; i < taken.size(); ++i) {
      v1::GroupMessage encoded;
      encoded.set_group_id(taken[i].group);
      EncodeRaftMessage(taken[i].message, encoded.mutable_message());
      const size_t bytes = encoded.ByteSizeLong() + 16;  // + field tag and length prefix
      if (bytes > hard_limit) {
        spdlog::warn("raft transport: dropping a {}-byte message for group {} to node {:#x}", bytes,
                     taken[i].group, node_);
        too_big.push_back({taken[i].group, taken[i].message.to});
        continue;
      }
      if (batch_bytes + bytes > hard_limit) {  // flush before the hard limit
        if (!writer->Write(batch)) {
          for (size_t j = i; j < taken.size(); ++j) {
            in_batch.push_back({taken[j].group, taken[j].message.to});
          }
          state_->ReportUnreachable(in_batch);
          state_->ReportUnreachable(too_big);
          return true;
        }
        state_->counters.sent.fetch_add(in_batch.size(), std::memory_order_relaxed);
        *wrote = true;
        batch.clear_messages();
        in_batch.clear();
        batch_bytes = 0;
      }
      *batch.add_messages() = std::move(encoded);
      in_batch.push_back({taken[i].group, taken[i].message.to});
      batch_bytes += bytes;
    }
    state_->ReportUnreachable(too_big);
    if (in_batch.empty()) continue;
    if (!writer->Write(batch)) {
      state_->ReportUnreachable(in_batch);
      return true;
    }
    state_->counters.sent.fetch_add(in_batch.size(), std::memory_order_relaxed);
    *wrote = true;
  }
}

bool GrpcTransport::State::Peer::Backoff(milliseconds delay) {
  // Equal jitter: uniformly in [delay/2, delay], so restarted peers do not reconnect in step.
  std::uniform_int_distribution<int64_t> jitter(delay.count() / 2, delay.count());
  const Clock::time_point until = Clock::now() + milliseconds(jitter(rng_));
  while (true) {
    std::deque<GroupMessage> lost;
    {
      std::unique_lock<std::mutex> lk(mu_);
      const bool woken = cv_.wait_until(lk, until, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return false;
      if (!woken) return true;
      lost.swap(queue_);
    }
    std::vector<Destination> report;
    report.reserve(lost.size());
    for (const GroupMessage& m : lost) report.push_back({m.group, m.message.to});
    state_->ReportUnreachable(report);
  }
}

void GrpcTransport::State::Peer::FailQueued() {
  std::deque<GroupMessage> lost;
  {
    std::lock_guard<std::mutex> lk(mu_);
    lost.swap(queue_);
  }
  std::vector<Destination> report;
  report.reserve(lost.size());
  for (const GroupMessage& m : lost) report.push_back({m.group, m.message.to});
  state_->ReportUnreachable(report);
}

// RaftTransport.Stream: one call per peer node for as long as its connection lives.
class GrpcTransport::State::Service final : public v1::RaftTransport::Service {
 public:
  explicit Service(State* state) : state_(state) {}

  grpc::Status Stream(grpc::ServerContext* context, grpc::ServerReader<v1::MessageBatch>* reader,
                      v1::StreamAck* /*ack*/) override {
    InboundCall call(state_);
    if (!call.Admit(context)) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many raft streams");
    }
    state_->counters.streams_accepted.fetch_add(1, std::memory_order_relaxed);
    const std::string peer = context->peer();
    std::vector<std::pair<GroupId, std::string>> listeners;
    const auto& metadata = context->client_metadata();
    if (auto it = metadata.find(kListenersMetadata); it != metadata.end()) {
      listeners = DecodeListeners(std::string_view(it->second.data(), it->second.size()));
    }
    std::map<GroupId, BootstrapState> bootstrap;
    if (auto it = metadata.find(kBootstrapMetadata); it != metadata.end()) {
      bootstrap = DecodeBootstrapStates(std::string_view(it->second.data(), it->second.size()));
    }
    if (auto it = metadata.find(kRedisAddressMetadata);
        it != metadata.end() && state_->options.redis_addresses != nullptr) {
      std::vector<std::string> raft_addresses;
      for (const auto& [group, address] : listeners) raft_addresses.push_back(address);
      state_->options.redis_addresses->Learn(
          raft_addresses, std::string_view(it->second.data(), it->second.size()));
    }
    v1::MessageBatch batch;
    bool learned = false;
    while (reader->Read(&batch)) {
      if (!learned && batch.from_node_id() != raft::kNoNode) {
        learned = true;
        state_->LearnListeners(batch.from_node_id(), listeners);
        state_->CheckBootstrap(batch.from_node_id(), bootstrap);
      }
      if (!state_->Deliver(batch, peer)) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "raft transport stopping");
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status SendSnapshot(grpc::ServerContext* context,
                            grpc::ServerReader<v1::SnapshotRequest>* reader,
                            v1::SnapshotReply* reply) override {
    InboundCall call(state_);
    if (!call.Admit(context)) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many raft streams");
    }
    return state_->snapshot_receiver.Receive(context, reader, reply);
  }

 private:
  // Every inbound call, message or snapshot stream, counts against max_inbound_streams.
  class InboundCall {
   public:
    explicit InboundCall(State* state)
        : state_(state), open_(state->inbound_streams.fetch_add(1) + 1) {}
    ~InboundCall() { state_->inbound_streams.fetch_sub(1); }
    InboundCall(const InboundCall&) = delete;
    InboundCall& operator=(const InboundCall&) = delete;

    bool Admit(grpc::ServerContext* context) const {
      if (open_ <= state_->options.max_inbound_streams) return true;
      spdlog::warn("raft transport: refusing stream from {}: {} streams open", context->peer(),
                   open_ - 1);
      return false;
    }

   private:
    State* const state_;
    const size_t open_;  // calls open, this one included, when it arrived
  };

  State* const state_;
};

bool GrpcTransport::State::Deliver(const v1::MessageBatch& batch, const std::string& from_peer) {
  if (!gate.Enter()) return false;
  for (const v1::GroupMessage& gm : batch.messages()) {
    absl::StatusOr<raft::Message> m =
        gm.has_message() ? DecodeRaftMessage(gm.message(), options.codec_limits)
                         : absl::InvalidArgumentError("raft message rejected: missing message");
    if (m.ok() && m->type == raft::MessageType::kSnap) {
      // Its file travels only on SendSnapshot; a bare kSnap names a file this node lacks.
      m = absl::InvalidArgumentError("raft message rejected: kSnap outside a snapshot stream");
    }
    if (m.ok() && options.local_node != raft::kNoNode && m->to != options.local_node) {
      m = absl::InvalidArgumentError(absl::StrCat("raft message rejected: addressed to node ",
                                                  m->to, ", this is ", options.local_node));
    }
    if (!m.ok()) {
      const uint64_t n = counters.rejected_malformed.fetch_add(1, std::memory_order_relaxed) + 1;
      if (ShouldLog(n)) {
        spdlog::warn("raft transport: group {} message from {} (node {:#x}): {} [{} rejected]",
                     gm.group_id(), from_peer, batch.from_node_id(),
                     std::string(m.status().message()), n);
      }
      continue;
    }
    if (!options.listen_addresses.contains(gm.group_id())) {
      const uint64_t n = counters.unknown_group.fetch_add(1, std::memory_order_relaxed) + 1;
      if (ShouldLog(n)) {
        spdlog::warn("raft transport: dropping message for unhosted group {} from {} [{} dropped]",
                     gm.group_id(), from_peer, n);
      }
      continue;
    }
    counters.received.fetch_add(1, std::memory_order_relaxed);
    if (on_message) on_message(gm.group_id(), *std::move(m));
  }
  gate.Exit();
  return true;
}

void GrpcTransport::State::ReportUnreachable(const std::vector<Destination>& lost) {
  if (lost.empty() || !gate.Enter()) return;
  counters.unreachable.fetch_add(lost.size(), std::memory_order_relaxed);
  if (on_unreachable) {
    for (const Destination& d : lost) on_unreachable(d.group, d.node);
  }
  gate.Exit();
}

void GrpcTransport::State::LearnListeners(
    raft::NodeId node, const std::vector<std::pair<GroupId, std::string>>& listeners) {
  if (node == options.local_node) return;
  std::lock_guard<std::mutex> lk(mu);
  for (const auto& [group, address] : listeners) {
    if (!options.listen_addresses.contains(group)) continue;
    auto [it, inserted] = peer_addresses[node].try_emplace(group, address);
    if (inserted) {
      spdlog::info("raft transport: learned node {:#x}'s group {} listener {} from its stream",
                   node, group, address);
    }
  }
}

std::string GrpcTransport::State::PeerTarget(raft::NodeId node) const {
  std::lock_guard<std::mutex> lk(mu);
  auto it = peer_addresses.find(node);
  if (it == peer_addresses.end() || it->second.empty()) return "";
  return it->second.begin()->second;  // the lowest group's listener
}

std::string GrpcTransport::State::SnapshotTarget(GroupId group, raft::NodeId node) const {
  std::lock_guard<std::mutex> lk(mu);
  auto it = peer_addresses.find(node);
  if (it == peer_addresses.end() || it->second.empty()) return "";
  auto own = it->second.find(group);
  return own != it->second.end() ? own->second : it->second.begin()->second;
}

GrpcTransport::GrpcTransport(GrpcTransportOptions options)
    : state_(std::make_unique<State>(std::move(options))) {}

GrpcTransport::~GrpcTransport() { Stop(); }

void GrpcTransport::SetHandlers(MessageHandler on_message, UnreachableHandler on_unreachable) {
  std::lock_guard<std::mutex> lk(state_->mu);
  state_->on_message = std::move(on_message);
  state_->on_unreachable = std::move(on_unreachable);
}

void GrpcTransport::SetBootstrapState(GroupId group, bool bootstrap_era, std::string list_hash) {
  std::lock_guard<std::mutex> lk(state_->mu);
  state_->bootstrap[group] = BootstrapState{bootstrap_era, std::move(list_hash)};
}

void GrpcTransport::State::CheckBootstrap(raft::NodeId from,
                                          const std::map<GroupId, BootstrapState>& remote) {
  for (const auto& [group, theirs] : remote) {
    std::string ours_hash;
    {
      std::lock_guard<std::mutex> lk(mu);
      auto it = bootstrap.find(group);
      if (it == bootstrap.end() || !it->second.era || !theirs.era ||
          it->second.hash == theirs.hash || !mismatch_reported.insert({from, group}).second) {
        continue;
      }
      ours_hash = it->second.hash;
    }
    spdlog::error(
        "group {}: node {:016x} bootstrapped from another list (bootstrap_list_hash {} here, {} "
        "there): the nodes were started with different --raftGroupPeers; see the recovery in "
        "docs/raft_learner_operations.md",
        group, from, ours_hash, theirs.hash);
    BootstrapMismatchCounter().WithLabels({absl::StrCat(group)})->Inc();
    counters.bootstrap_mismatches.fetch_add(1, std::memory_order_relaxed);
  }
}

void GrpcTransport::SetPeerAddress(GroupId group, raft::NodeId node, const std::string& address) {
  std::lock_guard<std::mutex> lk(state_->mu);
  state_->peer_addresses[node][group] = address;
}

absl::Status GrpcTransport::Start() {
  State& s = *state_;
  const GrpcTransportOptions& o = s.options;
  std::lock_guard<std::mutex> lk(s.mu);
  if (s.started || s.stopping) return absl::FailedPreconditionError("raft transport: started");
  if (o.listen_addresses.empty()) {
    return absl::InvalidArgumentError("raft transport: no listen addresses");
  }
  // One server per listener: a call's server tells which group it is for.
  for (const auto& [group, address] : o.listen_addresses) {
    auto service = std::make_unique<State::Service>(&s);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service.get());
    if (auto it = s.group_services.find(group); it != s.group_services.end()) {
      for (grpc::Service* extra : it->second) builder.RegisterService(extra);
    }
    builder.SetMaxReceiveMessageSize(o.max_grpc_message_bytes);
    builder.SetMaxSendMessageSize(o.max_grpc_message_bytes);
    // gRPC sets SO_REUSEPORT by default: a second process on our port would silently share
    // the traffic instead of failing to start.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                               static_cast<int>(o.keepalive_time.count()));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                               static_cast<int>(o.keepalive_timeout.count()));
    // Peers ping every keepalive_time; without this the server answers them with GOAWAY.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                               static_cast<int>(o.keepalive_time.count() / 2));
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (server == nullptr || port <= 0) {
      if (server != nullptr) server->Shutdown(std::chrono::system_clock::now());
      for (auto& started : s.servers) {
        started->Shutdown(std::chrono::system_clock::now());
        started->Wait();
      }
      s.servers.clear();
      s.bound_addresses.clear();
      return absl::UnavailableError(
          absl::StrCat("raft transport: cannot listen on ", group, "=", address));
    }
    s.services.push_back(std::move(service));
    s.servers.push_back(std::move(server));
    s.bound_addresses[group] = WithPort(address, port);
    spdlog::info("raft transport: group {} listening on {}", group, s.bound_addresses[group]);
  }
  if (o.announce_listeners) s.announced_listeners = EncodeListeners(s.bound_addresses);
  s.started = true;
  return absl::OkStatus();
}

void GrpcTransport::Stop() {
  State& s = *state_;
  std::lock_guard<std::mutex> stop_lk(s.stop_mu);
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.stopping) return;
    s.stopping = true;  // Send creates no more peers
  }
  // Before the gate closes: every snapshot send in flight or queued is reported failed.
  s.snapshot_sender.Stop();
  s.gate.Close();
  for (auto& [node, peer] : s.peers) peer->Stop();
  // Streams never end on their own: cancel them now rather than wait for a deadline.
  for (auto& server : s.servers) server->Shutdown(std::chrono::system_clock::now());
  for (auto& server : s.servers) server->Wait();
}

void GrpcTransport::Send(std::vector<GroupMessage> messages) {
  State& s = *state_;
  // Split by destination node, keeping each node's order.
  std::vector<std::pair<State::Peer*, std::vector<GroupMessage>>> by_peer;
  std::vector<Destination> refused;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.stopping) return;
    for (GroupMessage& m : messages) {
      const raft::NodeId to = m.message.to;
      if (m.message.type == raft::MessageType::kSnap) {
        // A kSnap without its file is useless to the peer (SendSnapshot carries both).
        if (!s.logged_snap_on_stream.exchange(true)) {
          spdlog::error(
              "raft transport: kSnap for group {} to node {:#x} given to Send; "
              "dropped and reported unreachable (logged once)",
              m.group, to);
        }
        refused.push_back({m.group, to});
        continue;
      }
      State::Peer* peer = nullptr;
      if (auto it = s.peers.find(to); it != s.peers.end()) {
        peer = it->second.get();
      } else if (s.started && s.peer_addresses.contains(to)) {
        auto created = std::make_unique<State::Peer>(&s, to);
        peer = created.get();
        peer->Start();
        s.peers.emplace(to, std::move(created));
      }
      if (peer == nullptr) {
        refused.push_back({m.group, to});
        continue;
      }
      auto slot = std::find_if(by_peer.begin(), by_peer.end(),
                               [&](const auto& p) { return p.first == peer; });
      if (slot == by_peer.end()) slot = by_peer.insert(by_peer.end(), {peer, {}});
      slot->second.push_back(std::move(m));
    }
  }
  for (auto& [peer, batch] : by_peer) {
    std::vector<Destination> full = peer->Enqueue(batch);
    s.counters.dropped_full.fetch_add(full.size(), std::memory_order_relaxed);
    refused.insert(refused.end(), full.begin(), full.end());
  }
  s.ReportUnreachable(refused);
}

GrpcTransportCounters GrpcTransport::Counters() const {
  const AtomicCounters& c = state_->counters;
  GrpcTransportCounters out;
  out.sent = c.sent.load();
  out.received = c.received.load();
  out.dropped_full = c.dropped_full.load();
  out.unreachable = c.unreachable.load();
  out.rejected_malformed = c.rejected_malformed.load();
  out.unknown_group = c.unknown_group.load();
  out.streams_opened = c.streams_opened.load();
  out.streams_accepted = c.streams_accepted.load();
  out.reconnects = c.reconnects.load();
  out.bootstrap_mismatches = c.bootstrap_mismatches.load();
  return out;
}

std::string GrpcTransport::BoundAddress(GroupId group) const {
  std::lock_guard<std::mutex> lk(state_->mu);
  auto it = state_->bound_addresses.find(group);
  return it == state_->bound_addresses.end() ? "" : it->second;
}

void GrpcTransport::RegisterGroupService(GroupId group, grpc::Service* service) {
  std::lock_guard<std::mutex> lk(state_->mu);
  state_->group_services[group].push_back(service);
}

void GrpcTransport::SetSnapshotHandlers(SnapshotHandlers handlers) {
  std::lock_guard<std::mutex> lk(state_->mu);
  state_->snapshot_handlers = std::move(handlers);
}

void GrpcTransport::SendSnapshot(OutboundSnapshot snapshot) {
  State& s = *state_;
  bool running;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    running = s.started && !s.stopping;
  }
  if (running) {
    s.snapshot_sender.Enqueue(std::move(snapshot));
    return;
  }
  // Not started, or stopping: a failure, reported while the gate still lets it through.
  const GroupId group = snapshot.group;
  const raft::NodeId to = snapshot.message.to;
  snapshot.hold.reset();
  if (s.snapshot_handlers.on_status && s.gate.Enter()) {
    s.snapshot_handlers.on_status(group, to, false);
    s.gate.Exit();
  }
}

}  // namespace tessera::shard
