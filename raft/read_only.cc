// ReadOnly: the queue of ReadIndex requests awaiting heartbeat quorum.
#include "raft/read_only.h"

namespace tessera::raft {

void ReadOnly::AddRequest(uint64_t index, NodeId from, const std::string& ctx) {
  if (pending_.contains(ctx)) return;
  pending_.emplace(ctx, ReadIndexStatus{ctx, from, index, {}});
  queue_.push_back(ctx);
}

const std::set<NodeId>* ReadOnly::RecvAck(NodeId id, const std::string& ctx) {
  auto it = pending_.find(ctx);
  if (it == pending_.end()) return nullptr;
  it->second.acks.insert(id);
  return &it->second.acks;
}

std::vector<ReadIndexStatus> ReadOnly::Advance(const std::string& ctx) {
  std::vector<ReadIndexStatus> out;
  if (!pending_.contains(ctx)) return out;
  while (!queue_.empty()) {
    std::string front = std::move(queue_.front());
    queue_.pop_front();
    auto it = pending_.find(front);
    out.push_back(std::move(it->second));
    pending_.erase(it);
    if (front == ctx) break;
  }
  return out;
}

}  // namespace tessera::raft
