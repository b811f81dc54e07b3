// The seam between the shard's driver and the network: the driver hands outbound raft
// messages to a Transport and receives inbound ones through a handler. Implementations:
// the gRPC transport (production) and an in-process loopback (tests).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "raft/types.h"

namespace tessera::shard {

using GroupId = uint64_t;

struct GroupMessage {
  GroupId group = 0;
  raft::Message message;  // message.to is the destination node
};

// A snapshot to stream to one peer (spec/snapshots-and-cold-start.md §5). `message` is the
// core's kSnap: its snapshot.data is the 17-byte token, its metadata index/term/ConfState
// describe the file. `fsm_path` is the local, recorded .fsm file the token references;
// `peers_record` is the sender's encoded peers record (EncodePeersRecord), which gives the
// receiver every member's address. `hold` keeps the file referenced (never pruned) until the
// transport drops it, i.e. until the send has finished one way or the other.
struct OutboundSnapshot {
  GroupId group = 0;
  raft::Message message;
  std::string fsm_path;
  std::string peers_record;
  std::shared_ptr<const void> hold;
};

// A snapshot received in full, spooled, fsynced, verified (footer == token CRC, full payload
// CRC32C, header, body structure) and renamed to FsmPath(data_dir, group, index) with the
// directory fsynced. The driver steps `message` (kSnap) into the core and keeps
// `peers_record` for the install.
struct InboundSnapshot {
  GroupId group = 0;
  raft::Message message;
  std::string peers_record;
};

struct SnapshotHandlers {
  // Called on a transport thread once an inbound snapshot is verified and in place. Must
  // only enqueue.
  std::function<void(InboundSnapshot)> on_snapshot;
  // The outcome of one SendSnapshot: ok when the receiver accepted it. Transport thread;
  // must only enqueue. The driver reports it to the core (ReportSnapshot).
  std::function<void(GroupId, raft::NodeId to, bool ok)> on_status;
  // The group's recorded snapshot index (0 = none, also for an unhosted group): an inbound
  // snapshot at or below it is rejected as stale. Thread-safe, never blocks.
  std::function<uint64_t(GroupId)> installed_index;
};

class Transport {
 public:
  // Called on transport threads. Handlers must only enqueue (never block on the driver).
  using MessageHandler = std::function<void(GroupId, raft::Message)>;
  // A message to (group, node) could not be delivered; the driver reports it to the core.
  using UnreachableHandler = std::function<void(GroupId, raft::NodeId)>;

  virtual ~Transport() = default;

  // Set before Start; not changed afterwards.
  virtual void SetHandlers(MessageHandler on_message, UnreachableHandler on_unreachable) = 0;
  // The raft listener address of `node` for `group` (from bootstrap lists, the peers
  // record or conf-change context). Thread-safe; may be called at any time.
  virtual void SetPeerAddress(GroupId group, raft::NodeId node, const std::string& address) = 0;
  // This node's bootstrap era and list hash of `group` (membership.md §5), announced in the
  // stream handshake so that peers can detect divergent first-boot lists. Detection only.
  virtual void SetBootstrapState(GroupId /*group*/, bool /*bootstrap_era*/,
                                 std::string /*list_hash*/) {}
  virtual absl::Status Start() = 0;
  // Stops sending and receiving; idempotent. No handler runs after Stop returns.
  virtual void Stop() = 0;
  // Never blocks. Messages for one peer node are sent in order; when a peer's bounded
  // queue is full, or the peer is unknown, the message is dropped and reported
  // unreachable (raft retransmits).
  virtual void Send(std::vector<GroupMessage> messages) = 0;

  // Set before Start; not changed afterwards.
  virtual void SetSnapshotHandlers(SnapshotHandlers handlers) = 0;
  // Never blocks: streams the file to message.to in the background (one stream per
  // (group, peer); a newer send for the same pair replaces a queued one) and reports the
  // outcome through on_status exactly once.
  virtual void SendSnapshot(OutboundSnapshot snapshot) = 0;
};

}  // namespace tessera::shard
