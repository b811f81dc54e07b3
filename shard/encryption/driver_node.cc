// DriverEncryptionNode: waits on driver callbacks in slices so a cancelled or expired caller
// returns promptly (the proposal may still commit; a retry observes it).
#include "shard/encryption/driver_node.h"

#include <future>

#include "absl/strings/str_cat.h"

namespace tessera::shard::encryption {
namespace {

using Clock = CallContext::Clock;

absl::Status AwaitCallback(const std::shared_ptr<std::promise<absl::Status>>& done,
                           const CallContext& ctx) {
  std::future<absl::Status> f = done->get_future();
  for (;;) {
    if (f.wait_for(std::chrono::milliseconds(20)) == std::future_status::ready) return f.get();
    if (ctx.IsCancelled()) return absl::CancelledError("the caller cancelled");
    if (Clock::now() >= ctx.deadline)
      return absl::DeadlineExceededError("the call's deadline passed");
  }
}

}  // namespace

absl::Status DriverEncryptionNode::CheckLeader(GroupId gid) const {
  absl::StatusOr<GroupStatus> st = driver_->Status(gid);
  if (!st.ok()) return absl::FailedPreconditionError(st.status().message());
  if (st->role == raft::Role::kLeader) return absl::OkStatus();
  if (st->leader != raft::kNoNode) {
    absl::StatusOr<ClusterConfiguration> config = driver_->Configuration(gid);
    if (config.ok()) {
      for (const Server& s : config->servers) {
        if (s.node_id == st->leader) {
          return absl::FailedPreconditionError(
              absl::StrCat("not leader of group ", gid, "; leader=", s.raft_id, "@", s.address));
        }
      }
    }
  }
  return absl::FailedPreconditionError(
      absl::StrCat("not leader of group ", gid, "; no known leader"));
}

absl::Status DriverEncryptionNode::ProposeAndWait(GroupId gid, std::string command,
                                                  const CallContext& ctx) {
  auto done = std::make_shared<std::promise<absl::Status>>();
  driver_->Propose(gid, std::move(command),
                   [done](absl::Status s) { done->set_value(std::move(s)); });
  return AwaitCallback(done, ctx);
}

absl::Status DriverEncryptionNode::ReadBarrier(GroupId gid, const CallContext& ctx) {
  auto done = std::make_shared<std::promise<absl::Status>>();
  driver_->Read(gid, [done](absl::Status s) { done->set_value(std::move(s)); });
  return AwaitCallback(done, ctx);
}

absl::StatusOr<ClusterConfiguration> DriverEncryptionNode::Configuration(GroupId gid) const {
  return driver_->Configuration(gid);
}

uint64_t DriverEncryptionNode::AppliedIndex(GroupId gid) const {
  absl::StatusOr<GroupStatus> st = driver_->Status(gid);
  return st.ok() ? st->applied : 0;
}

bool DriverEncryptionNode::Drained(GroupId gid) const {
  absl::StatusOr<GroupStatus> st = driver_->Status(gid);
  return st.ok() && st->applied >= st->last_index;
}

}  // namespace tessera::shard::encryption
