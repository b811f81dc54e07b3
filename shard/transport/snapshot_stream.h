// The chunked snapshot stream of the gRPC raft transport (spec/snapshots-and-cold-start.md §5):
// the receiver that spools, verifies and installs inbound streams, and the bounded background
// sender. Private to shard/transport/; GrpcTransport owns one of each.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "proto/raft.pb.h"
#include "raft/types.h"
#include "shard/transport/grpc_transport.h"
#include "shard/transport/handler_gate.h"
#include "shard/transport/transport.h"

namespace tessera::shard::transport_internal {

// The most file bytes one SnapshotChunk carries, whatever the options say.
inline constexpr size_t kMaxSnapshotChunkBytes = size_t{4} << 20;

// Serves RaftTransport.SendSnapshot calls. Holds at most one spool per group: a newer index
// cancels the older stream, whose handler deletes its spool file before the newer one starts
// spooling. Thread-safe; `options`, `gate` and `handlers` outlive it.
class SnapshotReceiver {
 public:
  SnapshotReceiver(const GrpcTransportOptions& options, HandlerGate& gate,
                   const SnapshotHandlers& handlers)
      : options_(options), gate_(gate), handlers_(handlers) {}

  // One inbound stream, start to end. The reply says whether the snapshot was installed and,
  // if not, why; the RPC status itself is OK unless the call was cancelled.
  grpc::Status Receive(grpc::ServerContext* context,
                       grpc::ServerReader<tessera::raft::v1::SnapshotRequest>* reader,
                       tessera::raft::v1::SnapshotReply* reply);

 private:
  // One stream's claim on its group's spool slot.
  struct Spool {
    uint64_t index = 0;
    grpc::ServerContext* context = nullptr;  // valid until `finished`
    std::atomic<bool> cancelled{false};      // a newer index took over; set under mu_
    bool committing = false;                 // verified and being installed; not cancellable
    bool finished = false;                   // its spool file is gone (or installed)
  };
  struct Accepted;   // a validated header (snapshot_stream.cc)
  struct SpoolFile;  // one stream's spool file, removed unless installed (snapshot_stream.cc)

  absl::StatusOr<Accepted> CheckHeader(const tessera::raft::v1::SnapshotHeader& header);
  // Takes the group's slot, cancelling an older stream and waiting until its file is gone.
  absl::StatusOr<std::shared_ptr<Spool>> Claim(GroupId group, uint64_t index,
                                               grpc::ServerContext* context);
  void Release(GroupId group, const std::shared_ptr<Spool>& spool);
  // Spools the chunks, verifies and installs; the spool file is gone when it returns. Logs
  // progress while receiving; `summary` gets the size, time and rate of the transfer.
  absl::Status SpoolAndInstall(const Accepted& accepted, Spool& spool,
                               grpc::ServerReader<tessera::raft::v1::SnapshotRequest>* reader,
                               std::string* summary);
  // Renames the verified spool into place and hands the kSnap over, inside the gate.
  absl::Status Install(const Accepted& accepted, Spool& spool, SpoolFile& file);

  const GrpcTransportOptions& options_;
  HandlerGate& gate_;
  const SnapshotHandlers& handlers_;

  std::mutex mu_;  // guards spools_ and every Spool's committing/finished
  std::condition_variable spool_done_;
  std::map<GroupId, std::shared_ptr<Spool>> spools_;
};

// Streams OutboundSnapshots on up to max_concurrent_snapshot_sends worker threads, one stream
// per (group, peer) at a time with at most one more queued behind it. Thread-safe; `options`,
// `gate` and `handlers` outlive it.
class SnapshotSender {
 public:
  // The raft listener of (group, node); empty when unknown.
  using TargetLookup = std::function<std::string(GroupId, raft::NodeId)>;
  using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(const std::string& target)>;

  SnapshotSender(const GrpcTransportOptions& options, HandlerGate& gate,
                 const SnapshotHandlers& handlers, TargetLookup target, ChannelFactory channel);
  ~SnapshotSender();  // Stops.

  SnapshotSender(const SnapshotSender&) = delete;
  SnapshotSender& operator=(const SnapshotSender&) = delete;

  // Never blocks. A send already queued for the same (group, peer) is replaced and reported
  // failed; after Stop the snapshot is reported failed at once (if the gate is still open).
  void Enqueue(OutboundSnapshot snapshot);
  // Cancels the streams in flight and fails the queued sends (each reported once, through the
  // gate, which must still be open), then joins the workers. Idempotent.
  void Stop();

 private:
  using PairKey = std::pair<GroupId, raft::NodeId>;
  struct Slot {
    std::optional<OutboundSnapshot> queued;  // waiting for a worker
    bool active = false;                     // a worker is streaming this pair
    grpc::ClientContext* context = nullptr;  // the active stream's, for Stop to cancel
  };

  void Run();  // one worker
  // Logs progress while sending; `summary` gets the size, time and rate once accepted.
  absl::Status Stream(const OutboundSnapshot& snapshot, Slot& slot, std::string* summary);
  void ReportStatus(GroupId group, raft::NodeId to, bool ok);

  const GrpcTransportOptions& options_;
  HandlerGate& gate_;
  const SnapshotHandlers& handlers_;
  const TargetLookup target_;
  const ChannelFactory channel_;
  const size_t chunk_bytes_;

  std::mutex mu_;  // guards everything below
  std::condition_variable work_;
  bool stopped_ = false;
  std::map<PairKey, Slot> slots_;  // node-stable: workers hold Slot& while streaming
  std::deque<PairKey> ready_;      // pairs with a queued send and no active one, FIFO
  std::vector<std::thread> workers_;
};

}  // namespace tessera::shard::transport_internal
