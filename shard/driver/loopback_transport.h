// An in-process Transport for tests: LoopbackTransports (one per node id) register with a
// LoopbackHub whose delivery thread hands each message to the destination's handler.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "shard/transport/transport.h"

namespace tessera::shard {

class LoopbackTransport;

// Routes messages between the transports of one process by node id. Links can be cut (both
// directions) to partition nodes; a message on a cut link is lost, as on a real network.
class LoopbackHub {
 public:
  // Messages queued from one node to another before further ones are dropped (and reported
  // unreachable to the sender).
  explicit LoopbackHub(size_t per_peer_capacity = 4096);
  ~LoopbackHub();
  LoopbackHub(const LoopbackHub&) = delete;
  LoopbackHub& operator=(const LoopbackHub&) = delete;

  void CutLink(raft::NodeId a, raft::NodeId b);
  void HealLink(raft::NodeId a, raft::NodeId b);
  // Cuts (or heals) every link between `node` and any other node.
  void Isolate(raft::NodeId node);
  void HealAll();

  // Messages dropped because a per-peer queue was full or the peer was not registered.
  uint64_t dropped() const;

 private:
  friend class LoopbackTransport;
  struct Pending {
    raft::NodeId from;
    GroupMessage message;
    std::shared_ptr<OutboundSnapshot> snapshot;  // set for a snapshot send (message unused)
  };

  void Register(raft::NodeId node, LoopbackTransport* transport);
  // After it returns, the hub never calls into the transport again.
  void Unregister(raft::NodeId node);
  void Enqueue(raft::NodeId from, std::vector<GroupMessage> messages);
  void EnqueueSnapshot(raft::NodeId from, OutboundSnapshot snapshot);
  // Copies the file into dest's data directory, verifies it and hands it over; on the
  // delivery thread, under deliver_mu_.
  static bool DeliverSnapshot(LoopbackTransport* dest, const OutboundSnapshot& snap);
  bool IsCut(raft::NodeId a, raft::NodeId b) const;  // mu_ held
  void DeliveryLoop();

  const size_t per_peer_capacity_;
  mutable std::mutex mu_;  // guards everything below except deliver_mu_
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<raft::NodeId, LoopbackTransport*> nodes_;
  std::set<std::pair<raft::NodeId, raft::NodeId>> cut_;  // (min, max) node pairs
  std::set<raft::NodeId> isolated_;
  std::deque<Pending> queue_;
  std::map<std::pair<raft::NodeId, raft::NodeId>, size_t> queued_;  // (from, to) -> count
  uint64_t dropped_ = 0;
  // Held by the delivery thread while it runs handlers; Unregister takes it so no handler of
  // an unregistered transport runs after Unregister returns.
  std::mutex deliver_mu_;
  std::thread thread_;  // last: starts after every member above is constructed
};

class LoopbackTransport final : public Transport {
 public:
  // `data_dir` receives inbound snapshots (FsmPath); empty refuses them.
  LoopbackTransport(LoopbackHub* hub, raft::NodeId node, std::string data_dir = {})
      : hub_(hub), node_(node), data_dir_(std::move(data_dir)) {}
  ~LoopbackTransport() override { Stop(); }

  void SetHandlers(MessageHandler on_message, UnreachableHandler on_unreachable) override;
  void SetPeerAddress(GroupId group, raft::NodeId node, const std::string& address) override;
  absl::Status Start() override;
  void Stop() override;
  void Send(std::vector<GroupMessage> messages) override;
  void SetSnapshotHandlers(SnapshotHandlers handlers) override;
  void SendSnapshot(OutboundSnapshot snapshot) override;

  raft::NodeId node() const { return node_; }
  // The address last set for (group, node); empty when unknown.
  std::string PeerAddress(GroupId group, raft::NodeId node) const;

 private:
  friend class LoopbackHub;

  LoopbackHub* hub_;  // not owned; outlives the transport
  const raft::NodeId node_;
  const std::string data_dir_;
  MessageHandler on_message_;           // set before Start, then read-only
  UnreachableHandler on_unreachable_;   // set before Start, then read-only
  SnapshotHandlers snapshot_handlers_;  // set before Start, then read-only
  mutable std::mutex mu_;               // guards addresses_ and started_
  std::map<std::pair<GroupId, raft::NodeId>, std::string> addresses_;
  bool started_ = false;
};

}  // namespace tessera::shard
