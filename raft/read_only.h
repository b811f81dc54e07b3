// Pending ReadIndex requests on the leader (ReadOnlySafe): each waits for a quorum of
// voters to acknowledge a heartbeat carrying its context.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raft/types.h"

namespace tessera::raft {

enum class ReadOnlyOption : uint8_t {
  kSafe,        // every read confirms leadership with a heartbeat round
  kLeaseBased,  // serve from the leader's lease while it is valid, else as kSafe
};

struct ReadIndexStatus {
  std::string ctx;
  NodeId from = kNoNode;
  uint64_t index = 0;
  std::set<NodeId> acks;
};

class ReadOnly {
 public:
  void AddRequest(uint64_t index, NodeId from, const std::string& ctx);
  // Records an ack for ctx; returns the set of acks so far (nullptr if ctx is unknown).
  const std::set<NodeId>* RecvAck(NodeId id, const std::string& ctx);
  // Removes and returns every request up to and including ctx.
  std::vector<ReadIndexStatus> Advance(const std::string& ctx);
  std::string LastPendingRequestCtx() const { return queue_.empty() ? "" : queue_.back(); }
  size_t PendingCount() const { return queue_.size(); }

 private:
  std::map<std::string, ReadIndexStatus> pending_;
  std::deque<std::string> queue_;
};

}  // namespace tessera::raft
