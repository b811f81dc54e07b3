// A RaftAdmin that records its calls and answers what the test set, and an in-process
// RaftAdmin gRPC server on 127.0.0.1 around it (server and CLI tests).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "shard/admin/raft_admin_service.h"
#include "shard/membership/node_id.h"

namespace tessera::shard::admin_testing {

class FakeRaftAdmin final : public RaftAdmin {
 public:
  struct Call {
    std::string method;
    std::string id = {};
    std::string address = {};
    uint64_t previous_index = 0;
    uint64_t min_applied_index = 0;
    bool skip = false;
    TransferRequest transfer = {};
  };

  absl::StatusOr<AdminStatus> Status(const CallContext&) override {
    Record(Call{"Status"});
    if (!next_error.ok()) return next_error;
    return status;
  }
  absl::StatusOr<ClusterConfiguration> Configuration(const CallContext&) override {
    Record(Call{"Configuration"});
    if (!next_error.ok()) return next_error;
    return configuration;
  }
  absl::StatusOr<uint64_t> AddVoter(const CallContext& ctx, std::string_view id,
                                    std::string_view address, uint64_t prev) override {
    return Change(ctx, Call{"AddVoter", std::string(id), std::string(address), prev});
  }
  absl::StatusOr<uint64_t> AddLearner(const CallContext& ctx, std::string_view id,
                                      std::string_view address, uint64_t prev) override {
    return Change(ctx, Call{"AddLearner", std::string(id), std::string(address), prev});
  }
  absl::StatusOr<uint64_t> PromoteLearner(const CallContext& ctx, std::string_view id,
                                          uint64_t prev, uint64_t min, bool skip) override {
    return Change(ctx, Call{"PromoteLearner", std::string(id), "", prev, min, skip});
  }
  absl::StatusOr<uint64_t> RemoveServer(const CallContext& ctx, std::string_view id,
                                        uint64_t prev) override {
    return Change(ctx, Call{"RemoveServer", std::string(id), "", prev});
  }
  absl::StatusOr<std::string> TransferLeadership(const CallContext&,
                                                 const TransferRequest& request) override {
    Call c{"TransferLeadership"};
    c.transfer = request;
    Record(c);
    if (!next_error.ok()) return next_error;
    return request.target.raft_id.empty() ? std::string("n2") : request.target.raft_id;
  }

  std::vector<Call> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

  // Set before the calls they affect (the test thread, while no call is in flight).
  absl::Status next_error;
  bool block_until_context_ends = false;  // changes wait for the caller's deadline/cancel
  uint64_t next_index = 42;
  AdminStatus status;
  ClusterConfiguration configuration;

 private:
  void Record(Call c) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(std::move(c));
  }
  absl::StatusOr<uint64_t> Change(const CallContext& ctx, Call c) {
    Record(std::move(c));
    if (block_until_context_ends) {
      while (true) {
        if (ctx.IsCancelled()) return AdminError(AdminErrc::kCanceled, "cancelled");
        if (CallContext::Clock::now() >= ctx.deadline) {
          return AdminError(AdminErrc::kDeadlineExceeded, "deadline");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (!next_error.ok()) return next_error;
    return next_index;
  }

  std::mutex mu_;
  std::vector<Call> calls_;
};

// A RaftAdmin server for group `group` on 127.0.0.1 (ephemeral port) around `engine`.
// `configured_address` is what the service believes its listener is (non-loopback makes it
// demand the token).
class TestAdminServer {
 public:
  TestAdminServer(RaftAdmin* engine, uint64_t group = 1, std::string token = "",
                  std::string configured_address = "127.0.0.1:0") {
    AdminDirectory::Options o;
    o.local_node = DeriveNodeId("n1");
    o.local_raft_id = "n1";
    o.engines[group] = engine;
    o.local_listeners[group] = configured_address;
    o.token = std::move(token);
    directory_ = std::make_unique<AdminDirectory>(std::move(o));
    service_ = std::make_unique<RaftAdminService>(group, configured_address, directory_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  ~TestAdminServer() {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<AdminDirectory> directory_;
  std::unique_ptr<RaftAdminService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace tessera::shard::admin_testing
