// The production Transport: one gRPC server per process listening on every hosted group's
// raft address, one long-lived client stream per peer node carrying every group's batches, and
// one client stream per snapshot sent.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/types.h"
#include "shard/membership/redis_address_book.h"
#include "shard/snapshot/fsm_format.h"
#include "shard/transport/raft_codec.h"
#include "shard/transport/transport.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace tessera::shard {

struct GrpcTransportOptions {
  // This node's raft id (DeriveNodeId); stamped on outbound batches, and inbound messages
  // addressed to another node are refused. kNoNode disables the inbound check (tests).
  raft::NodeId local_node = raft::kNoNode;
  // Hosted group -> this node's raft listener for it. One grpc::Server per listener, so the
  // services registered for a group (RaftAdmin) know which group a call is for; any listener
  // accepts raft messages of any hosted group. Port 0 binds an ephemeral port (see
  // BoundAddress).
  std::map<GroupId, std::string> listen_addresses;
  // Stream handshake: outbound streams announce these listeners (group -> address, normally
  // listen_addresses with ports resolved) so a peer that never had this node's address, such
  // as a joiner added by AddLearner, can answer. Inbound announcements only fill addresses
  // the transport does not know yet.
  bool announce_listeners = true;
  // This node's Redis address, announced with the listeners so that peers whose
  // --raftRedisMap lacks this node (it was added at runtime) can still name it in MOVED and the
  // topology. Empty: not announced.
  std::string redis_address;
  // Where inbound announcements of peers' Redis addresses are recorded; null: not recorded.
  std::shared_ptr<RedisAddressBook> redis_addresses;

  size_t peer_queue_capacity = 4096;      // messages waiting per peer node
  size_t max_batch_messages = 256;        // messages per MessageBatch
  size_t max_batch_bytes = 4u << 20;      // encoded bytes per MessageBatch (soft; >= 1 message)
  int max_grpc_message_bytes = 64 << 20;  // server receive, channel send and receive
  size_t max_inbound_streams = 1024;      // concurrent inbound streams, all peers together
  std::chrono::milliseconds reconnect_initial{50};
  std::chrono::milliseconds reconnect_max{2000};
  std::chrono::milliseconds connect_timeout{5000};   // one connection attempt
  std::chrono::milliseconds keepalive_time{10'000};  // detects peers that vanished silently
  std::chrono::milliseconds keepalive_timeout{5000};
  RaftCodecLimits codec_limits;

  // Snapshot stream (spec/snapshots-and-cold-start.md §5). Inbound files are spooled and
  // installed under data_dir (shard/snapshot/snapshot_dir.h); empty refuses every inbound
  // snapshot.
  std::string data_dir;
  uint64_t max_snapshot_bytes = kDefaultMaxSnapshotBytes;  // --raftMaxSnapshotBytes
  size_t snapshot_chunk_bytes = 4u << 20;  // file bytes per chunk sent; at most 4 MiB
  std::chrono::milliseconds snapshot_send_timeout{std::chrono::minutes(10)};  // per send
  size_t max_concurrent_snapshot_sends = 4;  // all peers and groups together; others wait
};

// Monotonic totals since construction; a snapshot, each field read independently.
struct GrpcTransportCounters {
  uint64_t sent = 0;                  // messages written to a peer stream
  uint64_t received = 0;              // inbound messages handed to the MessageHandler
  uint64_t dropped_full = 0;          // outbound messages refused by a full peer queue
  uint64_t unreachable = 0;           // outbound messages reported to the UnreachableHandler
  uint64_t rejected_malformed = 0;    // inbound messages the codec or the address check refused
  uint64_t unknown_group = 0;         // inbound messages for a group this node does not host
  uint64_t streams_opened = 0;        // outbound streams started (one per peer per connection)
  uint64_t streams_accepted = 0;      // inbound streams accepted by the server
  uint64_t reconnects = 0;            // outbound streams re-established after a failure
  uint64_t bootstrap_mismatches = 0;  // (peer, group) pairs with another bootstrap list (§5)
};

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(GrpcTransportOptions options);
  ~GrpcTransport() override;  // Stops.

  GrpcTransport(const GrpcTransport&) = delete;
  GrpcTransport& operator=(const GrpcTransport&) = delete;

  void SetHandlers(MessageHandler on_message, UnreachableHandler on_unreachable) override;
  void SetPeerAddress(GroupId group, raft::NodeId node, const std::string& address) override;
  void SetBootstrapState(GroupId group, bool bootstrap_era, std::string list_hash) override;
  absl::Status Start() override;
  void Stop() override;
  void Send(std::vector<GroupMessage> messages) override;
  void SetSnapshotHandlers(SnapshotHandlers handlers) override;
  void SendSnapshot(OutboundSnapshot snapshot) override;

  // Serves `service` on the listener of `group` too (RaftAdmin, ...). Before Start; the
  // service must outlive the transport's Stop. One service instance per group.
  void RegisterGroupService(GroupId group, grpc::Service* service);

  GrpcTransportCounters Counters() const;
  // The listener actually bound for `group` (the ephemeral port resolved); empty before
  // Start or for a group not hosted.
  std::string BoundAddress(GroupId group) const;

  struct State;  // private to grpc_transport.cc

 private:
  std::unique_ptr<State> state_;
};

}  // namespace tessera::shard
