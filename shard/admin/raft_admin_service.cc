// RaftAdminService: request validation, token check, engine call, error mapping; and the
// overview fan-out over a small cache of admin channels (one per member listener).
#include "shard/admin/raft_admin_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <future>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "raft/errors.h"
#include "shard/admin/admin_auth.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {

namespace v1 = tessera::admin::v1;
using Clock = std::chrono::steady_clock;

constexpr char kLeaderAddressMetadata[] = "x-tessera-leader-address";
constexpr size_t kMaxChannels = 1024;

CallContext ContextOf(grpc::ServerContext* context) {
  CallContext ctx;
  const auto deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    const auto left = deadline - std::chrono::system_clock::now();
    ctx.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(left);
  }
  ctx.cancelled = [context] { return context->IsCancelled(); };
  return ctx;
}

v1::RaftState StateOf(AdminRole role) {
  switch (role) {
    case AdminRole::kLeader:
      return v1::LEADER;
    case AdminRole::kFollower:
      return v1::FOLLOWER;
    case AdminRole::kCandidate:
      return v1::CANDIDATE;
    case AdminRole::kLearner:
      return v1::LEARNER;
  }
  return v1::STATE_UNKNOWN;
}

v1::ProgressState ProgressOf(raft::ProgressState s) {
  switch (s) {
    case raft::ProgressState::kProbe:
      return v1::PROBE;
    case raft::ProgressState::kReplicate:
      return v1::REPLICATE;
    case raft::ProgressState::kSnapshot:
      return v1::SNAPSHOT;
  }
  return v1::PROGRESS_UNKNOWN;
}

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

// Engine errors, with the leader's address as trailing metadata on NOT_LEADER.
grpc::Status Reply(grpc::ServerContext* context, const absl::Status& status) {
  if (raft::RaftErrcOf(status) == raft::RaftErrc::kNotLeader) {
    const std::string address = NotLeaderAddress(status);
    if (!address.empty()) context->AddTrailingMetadata(kLeaderAddressMetadata, address);
  }
  return ToGrpcStatus(status);
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return grpc::Status::OK;
    case absl::StatusCode::kCancelled:
      return grpc::Status(grpc::StatusCode::CANCELLED, message);
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, message);
    case absl::StatusCode::kInvalidArgument:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
    case absl::StatusCode::kUnavailable:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, message);
    case absl::StatusCode::kResourceExhausted:
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, message);
    default:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, message);
  }
}

void FillStatusResponse(const AdminStatus& st, uint64_t group, raft::NodeId node,
                        const std::string& raft_id, v1::StatusResponse* out) {
  out->set_group_id(group);
  out->set_node_id(node);
  out->set_raft_id(raft_id);
  out->set_state(StateOf(st.role));
  out->set_leader_id(st.leader_id);
  out->set_leader_raft_id(st.leader_raft_id);
  out->set_leader_address(st.leader_address);
  out->set_term(st.term);
  out->set_commit_index(st.commit_index);
  out->set_applied_index(st.applied_index);
  out->set_last_log_index(st.last_log_index);
  out->set_last_snapshot_index(st.last_snapshot_index);
  out->set_fsm_pending(st.fsm_pending);
  out->set_voter_count(st.voter_count);
  out->set_learner_count(st.learner_count);
  out->set_last_contact_nanos(st.last_contact_nanos);
  out->set_configuration_index(st.configuration_index);
  out->set_pending_conf_change(st.pending_conf_change);
  out->set_lead_transferee(st.lead_transferee);
  out->set_bootstrap_era(st.bootstrap_era);
  out->set_bootstrap_list_hash(st.bootstrap_list_hash);
  for (const PeerProgress& p : st.peers) {
    v1::PeerProgress* pp = out->add_peers();
    pp->set_node_id(p.node_id);
    pp->set_raft_id(p.raft_id);
    pp->set_address(p.address);
    pp->set_suffrage(p.voter ? v1::VOTER : v1::LEARNER_SUFFRAGE);
    pp->set_match(p.match);
    pp->set_next(p.next);
    pp->set_state(ProgressOf(p.state));
    pp->set_recent_active(p.recent_active);
    pp->set_pending_snapshot_index(p.pending_snapshot_index);
    pp->set_inflight(p.inflight);
  }
}

// ---- AdminDirectory ----

AdminDirectory::AdminDirectory(Options options) : options_(std::move(options)) {}

RaftAdmin* AdminDirectory::Engine(uint64_t group) const {
  auto it = options_.engines.find(group);
  return it == options_.engines.end() ? nullptr : it->second;
}

std::shared_ptr<grpc::Channel> AdminDirectory::ChannelTo(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = channels_.find(address);
  if (it != channels_.end()) return it->second;
  if (channels_.size() >= kMaxChannels) channels_.clear();
  grpc::ChannelArguments args;
  // Its own connection: admin calls never queue behind raft traffic to the same listener.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  channels_.emplace(address, channel);
  return channel;
}

v1::OverviewResponse AdminDirectory::Overview(const CallContext& ctx) {
  const Clock::time_point deadline =
      std::min(ctx.deadline, Clock::now() + options_.overview_deadline);
  CallContext local_ctx = ctx;
  local_ctx.deadline = deadline;

  // Discovery: the live configurations, default group first.
  struct Target {
    Server server;                                       // raft id and node id
    std::vector<std::pair<uint64_t, Server>> listeners;  // group -> membership in it
  };
  std::vector<Target> targets;
  for (const auto& [group, engine] : options_.engines) {
    absl::StatusOr<ClusterConfiguration> conf = engine->Configuration(local_ctx);
    if (!conf.ok()) continue;
    for (const Server& s : conf->servers) {
      auto it = std::find_if(targets.begin(), targets.end(),
                             [&](const Target& t) { return t.server.node_id == s.node_id; });
      if (it == targets.end()) {
        if (targets.size() >= options_.max_overview_nodes) continue;
        targets.push_back(Target{s, {}});
        it = targets.end() - 1;
      }
      if (it->server.raft_id.empty()) it->server.raft_id = s.raft_id;
      it->listeners.emplace_back(group, s);
    }
  }
  if (std::none_of(targets.begin(), targets.end(),
                   [&](const Target& t) { return t.server.node_id == options_.local_node; })) {
    Target self{Server{options_.local_node, options_.local_raft_id, "", true}, {}};
    for (const auto& [group, address] : options_.local_listeners) {
      self.listeners.emplace_back(
          group, Server{options_.local_node, options_.local_raft_id, address, false});
    }
    targets.insert(targets.begin(), std::move(self));
  }

  auto ask = [this, deadline, &local_ctx](const Target& t) {
    v1::Node node;
    node.set_node_id(t.server.node_id);
    node.set_raft_id(t.server.raft_id);
    std::string errors;
    int answered = 0;
    for (const auto& [group, member] : t.listeners) {
      if (node.redis_address().empty() && options_.redis_addresses != nullptr) {
        node.set_redis_address(options_.redis_addresses->Lookup(member.address));
      }
      v1::StatusResponse st;
      grpc::Status status;
      if (t.server.node_id == options_.local_node) {
        RaftAdmin* engine = Engine(group);
        absl::StatusOr<AdminStatus> local =
            engine == nullptr ? absl::NotFoundError("group not hosted") : engine->Status(local_ctx);
        if (local.ok()) {
          FillStatusResponse(*local, group, options_.local_node, options_.local_raft_id, &st);
        } else {
          status = ToGrpcStatus(local.status());
        }
      } else if (member.address.empty()) {
        status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "no known address");
      } else {
        auto stub = v1::RaftAdmin::NewStub(ChannelTo(member.address));
        grpc::ClientContext cc;
        cc.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            deadline - Clock::now()));
        if (!options_.token.empty()) {
          cc.AddMetadata(kAdminTokenMetadata, std::string(kAdminTokenScheme) + options_.token);
        }
        v1::StatusRequest req;
        req.set_group_id(group);
        status = stub->Status(&cc, req, &st);
      }
      if (!status.ok()) {
        absl::StrAppend(&errors, errors.empty() ? "" : "; ", "group ", group, " at ",
                        member.address, ": ", status.error_message());
        continue;
      }
      ++answered;
      v1::GroupView* view = node.add_groups();
      view->set_group_id(group);
      view->set_state(st.state());
      view->set_suffrage(member.voter ? v1::VOTER : v1::LEARNER_SUFFRAGE);
      view->set_leader_id(st.leader_id());
      view->set_leader_raft_id(st.leader_raft_id());
      view->set_term(st.term());
      view->set_commit_index(st.commit_index());
      view->set_applied_index(st.applied_index());
      view->set_address(member.address);
    }
    node.set_reachable(answered > 0);
    node.set_error(errors);
    return node;
  };

  std::vector<std::future<v1::Node>> pending;
  pending.reserve(targets.size());
  for (const Target& t : targets) pending.push_back(std::async(std::launch::async, ask, t));
  v1::OverviewResponse out;
  for (auto& f : pending) *out.add_nodes() = f.get();
  return out;
}

// ---- RaftAdminService ----

RaftAdminService::RaftAdminService(uint64_t group, std::string listen_address,
                                   AdminDirectory* directory)
    : group_(group),
      listen_address_(std::move(listen_address)),
      require_token_(!directory->options().token.empty() && !IsLoopbackAddress(listen_address_)),
      directory_(directory) {}

grpc::Status RaftAdminService::Admit(grpc::ServerContext* context, uint64_t group_id,
                                     RaftAdmin** engine) const {
  if (require_token_) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find(kAdminTokenMetadata);
    if (it == metadata.end() ||
        !AdminTokenMatches(std::string_view(it->second.data(), it->second.size()),
                           directory_->options().token)) {
      spdlog::warn("admin: refused a call from {} without a valid token", context->peer());
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "admin token required on a non-loopback listener");
    }
  }
  if (group_id != 0 && group_id != group_) {
    return Invalid(absl::StrCat("group_id ", group_id, " does not match this listener's group ",
                                group_, " (", listen_address_, "); use 0 or ", group_));
  }
  *engine = directory_->Engine(group_);
  if (*engine == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "group engine not available");
  }
  return grpc::Status::OK;
}

grpc::Status RaftAdminService::Status(grpc::ServerContext* context, const v1::StatusRequest* req,
                                      v1::StatusResponse* resp) {
  RaftAdmin* engine = nullptr;
  if (grpc::Status s = Admit(context, req->group_id(), &engine); !s.ok()) return s;
  absl::StatusOr<AdminStatus> st = engine->Status(ContextOf(context));
  if (!st.ok()) return Reply(context, st.status());
  const AdminDirectory::Options& o = directory_->options();
  FillStatusResponse(*st, group_, o.local_node, o.local_raft_id, resp);
  return grpc::Status::OK;
}

grpc::Status RaftAdminService::Configuration(grpc::ServerContext* context,
                                             const v1::ConfigurationRequest* req,
                                             v1::ConfigurationResponse* resp) {
  RaftAdmin* engine = nullptr;
  if (grpc::Status s = Admit(context, req->group_id(), &engine); !s.ok()) return s;
  absl::StatusOr<ClusterConfiguration> conf = engine->Configuration(ContextOf(context));
  if (!conf.ok()) return Reply(context, conf.status());
  resp->set_group_id(group_);
  resp->set_configuration_index(conf->index);
  for (const Server& s : conf->servers) {
    v1::Member* m = resp->add_servers();
    m->set_id(s.raft_id);
    m->set_address(s.address);
    m->set_suffrage(s.voter ? "voter" : "learner");
    m->set_node_id(s.node_id);
  }
  return grpc::Status::OK;
}

grpc::Status RaftAdminService::AddVoter(grpc::ServerContext* context,
                                        const v1::AddVoterRequest* req, v1::ChangeResponse* resp) {
  RaftAdmin* engine = nullptr;
  if (grpc::Status s = Admit(context, req->group_id(), &engine); !s.ok()) return s;
  if (req->id().empty() || req->address().empty()) return Invalid("id and address are required");
  absl::StatusOr<uint64_t> index =
      engine->AddVoter(ContextOf(context), req->id(), req->address(), req->previous_index());
  if (!index.ok()) return Reply(context, index.status());
  resp->set_index(*index);
  return grpc::Status::OK;
}

grpc::Status RaftAdminService::AddLearner(grpc::ServerContext* context,
                                          const v1::AddLearnerRequest* req,
                                          v1::ChangeResponse* resp) {
  RaftAdmin* engine = nullptr;
  if (grpc::Status s = Admit(context, req->group_id(), &engine); !s.ok()) return s;
  if (req->id().empty() || req->address().empty()) return Invalid("id and address are required");
  absl::StatusOr<uint64_t> index =
      engine->AddLearner(ContextOf(context), req->id(), req->address(), req->previous_index());
  if (!index.ok()) return Reply(context, index.status());
  resp->set_index(*index);
  return grpc::Status::OK;
}

grpc::Status RaftAdminService::PromoteLearner(grpc::ServerContext* context,
                                              const v1::PromoteLearnerRequest* req,
                                              v1::ChangeResponse* resp) {
  RaftAdmin* engine = nullptr;
  if (grpc::Status s = Admit(context, req->group_id(), &engine); !s.ok()) return s;
  if (req->id().empty()) return Invalid("id is required");
  absl::StatusOr<uint64_t> index =
      engine->PromoteLearner(ContextOf(context), req->id(), req->previous_index(),
                             req->min_applied_index(), req->skip_min_applied_check());
  if (!index.ok()) return Reply(context, index.status());
  resp->set_index(*index);
  return grpc::Status::OK;
}

grpc::Status RaftAdminService::RemoveServer(grpc::ServerContext* context,
                                            const v1::RemoveServerRequest* req,
                                            v1::ChangeResponse* resp) {
  RaftAdmin* engine = nullptr;
  if (grpc::Status s = Admit(context, req->group_id(), &engine); !s.ok()) return s;
  if (req->id().empty()) return Invalid("id is required");
  absl::StatusOr<uint64_t> index =
      engine->RemoveServer(ContextOf(context), req->id(), req->previous_index());
  if (!index.ok()) return Reply(context, index.status());
  resp->set_index(*index);
  return grpc::Status::OK;
}

grpc::Status RaftAdminService::TransferLeadership(grpc::ServerContext* context,
                                                  const v1::TransferLeadershipRequest* req,
                                                  v1::TransferLeadershipResponse* resp) {
  RaftAdmin* engine = nullptr;
  if (grpc::Status s = Admit(context, req->group_id(), &engine); !s.ok()) return s;
  if (req->target_id().empty() && !req->target_address().empty()) {
    return Invalid("target_address without target_id");
  }
  TransferRequest request;
  request.target = TransferTarget{req->target_id(), req->target_address()};
  for (const v1::TransferTarget& c : req->target_candidates()) {
    if (c.target_id().empty()) return Invalid("a candidate without target_id");
    request.candidates.push_back(TransferTarget{c.target_id(), c.target_address()});
  }
  request.gated = req->gated();
  request.max_lag = req->max_lag();
  absl::StatusOr<std::string> transferee = engine->TransferLeadership(ContextOf(context), request);
  if (!transferee.ok()) return Reply(context, transferee.status());
  resp->set_transferee_id(*transferee);
  return grpc::Status::OK;
}

grpc::Status RaftAdminService::GetClusterOverview(grpc::ServerContext* context,
                                                  const v1::OverviewRequest* /*req*/,
                                                  v1::OverviewResponse* resp) {
  RaftAdmin* engine = nullptr;
  if (grpc::Status s = Admit(context, 0, &engine); !s.ok()) return s;
  *resp = directory_->Overview(ContextOf(context));
  return grpc::Status::OK;
}

}  // namespace tessera::shard
