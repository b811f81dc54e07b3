// LoopbackHub delivery: one thread pops queued messages and runs the destination's handler
// outside the hub's lock, so a handler may enqueue into a driver that is itself sending.
#include "shard/driver/loopback_transport.h"

#include <algorithm>
#include <filesystem>
#include <tuple>

#include "shard/snapshot/fsm_file.h"
#include "shard/snapshot/snapshot_dir.h"
#include "shard/snapshot/snapshot_token.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {
std::pair<raft::NodeId, raft::NodeId> LinkKey(raft::NodeId a, raft::NodeId b) {
  return {std::min(a, b), std::max(a, b)};
}
}  // namespace

LoopbackHub::LoopbackHub(size_t per_peer_capacity)
    : per_peer_capacity_(per_peer_capacity), thread_([this] { DeliveryLoop(); }) {}

LoopbackHub::~LoopbackHub() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void LoopbackHub::CutLink(raft::NodeId a, raft::NodeId b) {
  std::lock_guard<std::mutex> lock(mu_);
  cut_.insert(LinkKey(a, b));
}

void LoopbackHub::HealLink(raft::NodeId a, raft::NodeId b) {
  std::lock_guard<std::mutex> lock(mu_);
  cut_.erase(LinkKey(a, b));
}

void LoopbackHub::Isolate(raft::NodeId node) {
  std::lock_guard<std::mutex> lock(mu_);
  isolated_.insert(node);
}

void LoopbackHub::HealAll() {
  std::lock_guard<std::mutex> lock(mu_);
  cut_.clear();
  isolated_.clear();
}

uint64_t LoopbackHub::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

bool LoopbackHub::IsCut(raft::NodeId a, raft::NodeId b) const {
  return isolated_.contains(a) || isolated_.contains(b) || cut_.contains(LinkKey(a, b));
}

void LoopbackHub::Register(raft::NodeId node, LoopbackTransport* transport) {
  std::lock_guard<std::mutex> lock(mu_);
  nodes_[node] = transport;
}

void LoopbackHub::Unregister(raft::NodeId node) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    nodes_.erase(node);
  }
  // Wait out a delivery that may have looked the node up before it was erased.
  std::lock_guard<std::mutex> wait(deliver_mu_);
}

void LoopbackHub::Enqueue(raft::NodeId from, std::vector<GroupMessage> messages) {
  std::vector<std::pair<GroupId, raft::NodeId>> unreachable;
  LoopbackTransport* sender = nullptr;
  bool log_drop = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto self = nodes_.find(from);
    if (self != nodes_.end()) sender = self->second;
    for (GroupMessage& gm : messages) {
      const raft::NodeId to = gm.message.to;
      if (IsCut(from, to)) continue;  // lost on the cut link, like a partitioned network
      size_t& queued = queued_[{from, to}];
      if (!nodes_.contains(to) || queued >= per_peer_capacity_) {
        log_drop = log_drop || dropped_ % 1000 == 0;  // first drop, then every 1000th
        ++dropped_;
        unreachable.emplace_back(gm.group, to);
        continue;
      }
      ++queued;
      queue_.push_back(Pending{from, std::move(gm), nullptr});
    }
  }
  cv_.notify_one();
  if (log_drop) {
    spdlog::warn("loopback: node {:016x} dropped {} messages (peer unknown or queue full)", from,
                 unreachable.size());
  }
  if (!unreachable.empty()) {
    // The sender's handler only enqueues into its driver; no hub lock is held here.
    if (sender != nullptr && sender->on_unreachable_) {
      for (const auto& [group, to] : unreachable) sender->on_unreachable_(group, to);
    }
  }
}

void LoopbackHub::DeliveryLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::deque<Pending> batch;
    batch.swap(queue_);
    // Resolve destinations and links under mu_, run handlers under deliver_mu_ only.
    std::vector<std::pair<LoopbackTransport*, GroupMessage>> deliveries;
    // (sender, receiver or null, snapshot)
    std::vector<
        std::tuple<LoopbackTransport*, LoopbackTransport*, std::shared_ptr<OutboundSnapshot>>>
        snapshots;
    for (Pending& p : batch) {
      const raft::NodeId to = p.message.message.to;
      if (p.snapshot != nullptr) {
        auto sender = nodes_.find(p.from);
        if (sender == nodes_.end()) continue;
        auto it = nodes_.find(to);
        LoopbackTransport* dest = IsCut(p.from, to) || it == nodes_.end() ? nullptr : it->second;
        snapshots.emplace_back(sender->second, dest, std::move(p.snapshot));
        continue;
      }
      auto q = queued_.find({p.from, to});
      if (q != queued_.end() && q->second > 0) --q->second;
      if (IsCut(p.from, to)) continue;  // cut while queued
      auto it = nodes_.find(to);
      if (it == nodes_.end()) continue;
      deliveries.emplace_back(it->second, std::move(p.message));
    }
    std::lock_guard<std::mutex> deliver(deliver_mu_);
    lock.unlock();
    for (auto& [dest, gm] : deliveries) {
      // A transport unregistered after the lookup above: Unregister waits on deliver_mu_, so
      // dest is still alive, but it must not receive anything more.
      {
        std::lock_guard<std::mutex> check(mu_);
        auto it = nodes_.find(gm.message.to);
        if (it == nodes_.end() || it->second != dest) continue;
      }
      if (dest->on_message_) dest->on_message_(gm.group, std::move(gm.message));
    }
    for (auto& [sender, dest, snap] : snapshots) {
      {
        std::lock_guard<std::mutex> check(mu_);
        auto s = nodes_.find(sender->node_);
        if (s == nodes_.end() || s->second != sender) continue;
        if (dest != nullptr) {
          auto d = nodes_.find(dest->node_);
          if (d == nodes_.end() || d->second != dest) dest = nullptr;
        }
      }
      const bool ok = dest != nullptr && DeliverSnapshot(dest, *snap);
      if (sender->snapshot_handlers_.on_status) {
        sender->snapshot_handlers_.on_status(snap->group, snap->message.to, ok);
      }
    }
    lock.lock();
  }
}

void LoopbackTransport::SetHandlers(MessageHandler on_message, UnreachableHandler on_unreachable) {
  on_message_ = std::move(on_message);
  on_unreachable_ = std::move(on_unreachable);
}

void LoopbackTransport::SetPeerAddress(GroupId group, raft::NodeId node,
                                       const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  addresses_[{group, node}] = address;
}

std::string LoopbackTransport::PeerAddress(GroupId group, raft::NodeId node) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = addresses_.find({group, node});
  return it == addresses_.end() ? std::string() : it->second;
}

absl::Status LoopbackTransport::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return absl::OkStatus();
    started_ = true;
  }
  hub_->Register(node_, this);
  return absl::OkStatus();
}

void LoopbackTransport::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) return;
    started_ = false;
  }
  hub_->Unregister(node_);
}

void LoopbackTransport::Send(std::vector<GroupMessage> messages) {
  if (messages.empty()) return;
  hub_->Enqueue(node_, std::move(messages));
}

void LoopbackTransport::SetSnapshotHandlers(SnapshotHandlers handlers) {
  snapshot_handlers_ = std::move(handlers);
}

void LoopbackTransport::SendSnapshot(OutboundSnapshot snapshot) {
  hub_->EnqueueSnapshot(node_, std::move(snapshot));
}

void LoopbackHub::EnqueueSnapshot(raft::NodeId from, OutboundSnapshot snapshot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Pending p{from, GroupMessage{snapshot.group, raft::Message{}}, nullptr};
    p.message.message.to = snapshot.message.to;
    p.snapshot = std::make_shared<OutboundSnapshot>(std::move(snapshot));
    queue_.push_back(std::move(p));
  }
  cv_.notify_one();
}

bool LoopbackHub::DeliverSnapshot(LoopbackTransport* dest, const OutboundSnapshot& snap) {
  const SnapshotHandlers& h = dest->snapshot_handlers_;
  const uint64_t index = snap.message.snapshot.metadata.index;
  if (dest->data_dir_.empty() || !h.on_snapshot) return false;
  if (h.installed_index && index <= h.installed_index(snap.group)) return false;  // stale
  absl::StatusOr<SnapshotToken> token = DecodeSnapshotToken(snap.message.snapshot.data);
  if (!token.ok() || token->index != index) return false;
  const std::string final_path = FsmPath(dest->data_dir_, snap.group, index);
  std::error_code ec;
  if (std::filesystem::exists(final_path, ec)) return false;  // stale
  if (!CreateSnapshotDirs(dest->data_dir_, snap.group).ok()) return false;
  const std::string spool = SpoolDir(dest->data_dir_, snap.group) + "/" +
                            SpoolFileName(index, reinterpret_cast<uintptr_t>(&snap));
  if (!std::filesystem::copy_file(snap.fsm_path, spool, ec)) return false;
  if (!VerifyFsmFile(spool, token->crc32c).ok()) {
    std::filesystem::remove(spool, ec);
    return false;
  }
  std::filesystem::rename(spool, final_path, ec);
  if (ec) {
    std::filesystem::remove(spool, ec);
    return false;
  }
  raft::Message m = snap.message;
  h.on_snapshot(InboundSnapshot{snap.group, std::move(m), snap.peers_record});
  return true;
}

}  // namespace tessera::shard
