// The RaftAdmin gRPC service (proto/raft_admin.proto, spec/membership.md §8): one instance per
// group listener, mapping requests onto that group's RaftAdmin engine and engine errors onto
// gRPC codes; GetClusterOverview fans Status out to every member.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "proto/raft_admin.grpc.pb.h"
#include "shard/admin/raft_admin.h"
#include "shard/membership/redis_address_book.h"

namespace tessera::shard {

// INVALID_ARGUMENT, CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE and RESOURCE_EXHAUSTED keep
// their codes; every other engine error is FAILED_PRECONDITION with its message (which starts
// with the errc name).
grpc::Status ToGrpcStatus(const absl::Status& status);

// What every listener's service of one process shares: the local engines, the address maps
// and the channels used to ask other members.
class AdminDirectory {
 public:
  struct Options {
    raft::NodeId local_node = raft::kNoNode;
    std::string local_raft_id;
    std::map<uint64_t, RaftAdmin*> engines;           // hosted group -> engine
    std::map<uint64_t, std::string> local_listeners;  // hosted group -> this node's listener
    // Raft listener -> Redis address (--raftRedisMap, then announced); null: none known.
    std::shared_ptr<const RedisAddressBook> redis_addresses;
    std::string token;  // sent to other members; empty = none
    std::chrono::milliseconds overview_deadline{2000};
    size_t max_overview_nodes = 256;
  };
  explicit AdminDirectory(Options options);

  RaftAdmin* Engine(uint64_t group) const;
  const Options& options() const { return options_; }
  // Members = union of Configuration() over the local groups, default (lowest) group first,
  // deduplicated by node id (§6); each asked for Status of every group it is a member of,
  // under one shared deadline. Unreachable members are flagged, not fatal.
  tessera::admin::v1::OverviewResponse Overview(const CallContext& ctx);

 private:
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);

  const Options options_;
  std::mutex mu_;  // guards channels_
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

class RaftAdminService final : public tessera::admin::v1::RaftAdmin::Service {
 public:
  // `listen_address` is this listener's configured address: a token is required on it when
  // `token` is non-empty and the address is not loopback.
  RaftAdminService(uint64_t group, std::string listen_address, AdminDirectory* directory);

  grpc::Status Status(grpc::ServerContext* context, const tessera::admin::v1::StatusRequest* req,
                      tessera::admin::v1::StatusResponse* resp) override;
  grpc::Status Configuration(grpc::ServerContext* context,
                             const tessera::admin::v1::ConfigurationRequest* req,
                             tessera::admin::v1::ConfigurationResponse* resp) override;
  grpc::Status AddVoter(grpc::ServerContext* context,
                        const tessera::admin::v1::AddVoterRequest* req,
                        tessera::admin::v1::ChangeResponse* resp) override;
  grpc::Status AddLearner(grpc::ServerContext* context,
                          const tessera::admin::v1::AddLearnerRequest* req,
                          tessera::admin::v1::ChangeResponse* resp) override;
  grpc::Status PromoteLearner(grpc::ServerContext* context,
                              const tessera::admin::v1::PromoteLearnerRequest* req,
                              tessera::admin::v1::ChangeResponse* resp) override;
  grpc::Status RemoveServer(grpc::ServerContext* context,
                            const tessera::admin::v1::RemoveServerRequest* req,
                            tessera::admin::v1::ChangeResponse* resp) override;
  grpc::Status TransferLeadership(grpc::ServerContext* context,
                                  const tessera::admin::v1::TransferLeadershipRequest* req,
                                  tessera::admin::v1::TransferLeadershipResponse* resp) override;
  grpc::Status GetClusterOverview(grpc::ServerContext* context,
                                  const tessera::admin::v1::OverviewRequest* req,
                                  tessera::admin::v1::OverviewResponse* resp) override;

 private:
  // Token and group_id checks; OK leaves *engine set.
  grpc::Status Admit(grpc::ServerContext* context, uint64_t group_id, RaftAdmin** engine) const;

  const uint64_t group_;
  const std::string listen_address_;
  const bool require_token_;
  AdminDirectory* const directory_;
};

// Fills a StatusResponse from an engine status.
void FillStatusResponse(const AdminStatus& st, uint64_t group, raft::NodeId node,
                        const std::string& raft_id, tessera::admin::v1::StatusResponse* out);

}  // namespace tessera::shard
