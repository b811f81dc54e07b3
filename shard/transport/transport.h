// The seam between the shard's driver and the network: the driver hands outbound raft
// messages to a Transport and receives inbound ones through a handler. Implementations:
// the gRPC transport (production) and an in-process loopback (tests).
#pragma once

#include <cstdint>
#include <functional>
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
  virtual absl::Status Start() = 0;
  // Stops sending and receiving; idempotent. No handler runs after Stop returns.
  virtual void Stop() = 0;
  // Never blocks. Messages for one peer node are sent in order; when a peer's bounded
  // queue is full, or the peer is unknown, the message is dropped and reported
  // unreachable (raft retransmits).
  virtual void Send(std::vector<GroupMessage> messages) = 0;
};

}  // namespace tessera::shard
