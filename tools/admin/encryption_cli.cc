// tessera-admin encryption: status [--all], capability --all, bootstrap, rotate-dek,
// enable-storage-envelope, enable-raft-envelope (--group | --all-groups), resync-sidecar;
// disable / rewrap-deks / retire-dek refuse. --all walks RaftAdmin's cluster overview.
#include "tools/admin/encryption_cli.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>

#include "CLI/CLI.hpp"
#include "proto/encryption_admin.grpc.pb.h"
#include "proto/raft_admin.grpc.pb.h"

namespace tessera::tools {
namespace {

namespace v1 = tessera::encryption::v1;

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return "ERROR";
  }
}

void PrintVerdicts(const google::protobuf::RepeatedPtrField<v1::CapabilityVerdict>& verdicts,
                   std::ostream& out) {
  for (const v1::CapabilityVerdict& v : verdicts) {
    out << "node " << v.node_id() << " " << v.address()
        << " reachable=" << (v.reachable() ? "true" : "false")
        << " capable=" << (v.encryption_capable() ? "true" : "false");
    if (!v.error().empty()) out << " error=" << v.error();
    out << "\n";
  }
}

using Deadline = std::chrono::system_clock::time_point;

std::unique_ptr<grpc::ClientContext> ContextUntil(Deadline deadline, const std::string& token) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(deadline);
  if (!token.empty()) c->AddMetadata("authorization", "Bearer " + token);
  return c;
}

std::unique_ptr<v1::EncryptionAdmin::Stub> EncryptionStub(const std::string& address) {
  return v1::EncryptionAdmin::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

// GetCapability + GetSidecarState of one listener, each line prefixed by `indent`. Only a
// failed GetCapability is an error: a node without a sidecar reports why instead.
grpc::Status PrintStatus(const std::string& address, Deadline deadline, const std::string& indent,
                         std::ostream& out) {
  auto stub = EncryptionStub(address);
  v1::CapabilityReport cap;
  if (grpc::Status s = stub->GetCapability(ContextUntil(deadline, "").get(), {}, &cap); !s.ok()) {
    return s;
  }
  out << indent << "node_id: " << cap.node_id() << "\n"
      << indent << "encryption_capable: " << (cap.encryption_capable() ? "true" : "false") << "\n"
      << indent << "mutators_enabled: " << (cap.mutators_enabled() ? "true" : "false") << "\n";
  v1::GetSidecarStateResponse st;
  if (grpc::Status s = stub->GetSidecarState(ContextUntil(deadline, "").get(), {}, &st); !s.ok()) {
    out << indent << "sidecar: " << s.error_message() << "\n";
    return grpc::Status::OK;
  }
  out << indent << "active_storage_id: " << st.active_storage_id() << "\n"
      << indent << "active_raft_id: " << st.active_raft_id() << "\n"
      << indent << "storage_envelope_active: " << (st.storage_envelope_active() ? "true" : "false")
      << "\n"
      << indent << "storage_envelope_cutover_index: " << st.storage_envelope_cutover_index() << "\n"
      << indent << "raft_applied_index: " << st.raft_applied_index() << "\n"
      << indent << "keys: " << st.wrapped_deks_by_id_size() << "\n";
  std::map<uint64_t, uint64_t> cutovers(st.raft_envelope_cutover_by_group().begin(),
                                        st.raft_envelope_cutover_by_group().end());
  for (const auto& [gid, c] : cutovers) {
    out << indent << "raft_envelope_cutover group " << gid << ": " << c << "\n";
  }
  return grpc::Status::OK;
}

// One listener address per node of the cluster overview (its lowest group's), and per group the
// listener of its current leader (empty when the overview saw none).
struct ClusterView {
  std::vector<tessera::admin::v1::Node> nodes;
  std::map<std::string, std::string> node_address;  // raft id -> listener
  std::map<uint64_t, std::string> leader_address;   // group -> leader's listener
};

grpc::Status LoadClusterView(const std::string& addr, Deadline deadline, const std::string& token,
                             ClusterView* view) {
  namespace av1 = tessera::admin::v1;
  auto stub =
      av1::RaftAdmin::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  av1::OverviewResponse resp;
  if (grpc::Status s = stub->GetClusterOverview(ContextUntil(deadline, token).get(),
                                                av1::OverviewRequest(), &resp);
      !s.ok()) {
    return s;
  }
  for (const av1::Node& n : resp.nodes()) {
    view->nodes.push_back(n);
    uint64_t lowest = UINT64_MAX;
    for (const av1::GroupView& g : n.groups()) {
      if (g.group_id() < lowest && !g.address().empty()) {
        lowest = g.group_id();
        view->node_address[n.raft_id()] = g.address();
      }
      view->leader_address.try_emplace(g.group_id(), "");
      if (g.state() == av1::LEADER && !g.address().empty()) {
        view->leader_address[g.group_id()] = g.address();
      }
    }
  }
  return grpc::Status::OK;
}

}  // namespace

int RunEncryptionCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("tessera-admin encryption", "tessera-admin encryption");
  std::string addr;
  int64_t timeout_ms = 30000;
  std::string purpose;
  uint64_t group = 0;
  uint64_t caller = 0;
  bool all = false;
  bool all_groups = false;
  std::string token_file;
  app.add_option("--addr", addr, "A shard's group listener host:port")->required();
  app.add_option("--timeout-ms", timeout_ms, "RPC deadline");
  app.add_option("--token-file", token_file,
                 "File with the admin token (RaftAdmin overview on a non-loopback listener)");
  app.require_subcommand(1);
  app.add_subcommand("status", "GetCapability + GetSidecarState")
      ->add_flag("--all", all, "Every node of the cluster overview");
  app.add_subcommand("capability", "Read-only capability preview of every node")
      ->add_flag("--all", all, "Every node of the cluster overview (required)")
      ->required();
  app.add_subcommand("bootstrap", "BootstrapEncryption (default group's leader)");
  app.add_subcommand("rotate-dek", "RotateDEK")
      ->add_option("--purpose", purpose, "storage|raft")
      ->required();
  app.add_subcommand("enable-storage-envelope", "EnableStorageEnvelope (phase 1)");
  CLI::App* raft_envelope =
      app.add_subcommand("enable-raft-envelope", "EnableRaftEnvelope (phase 2)");
  CLI::Option* group_option =
      raft_envelope->add_option("--group", group, "Group id (0 = the listener's)");
  raft_envelope
      ->add_flag("--all-groups", all_groups,
                 "Every group, each at its leader (stops at the first failure)")
      ->excludes(group_option);
  app.add_subcommand("resync-sidecar", "ResyncSidecar (prints the leader's answer)")
      ->add_option("--caller-node-id", caller, "This node's id")
      ->required();
  for (const char* refused : {"disable", "rewrap-deks", "retire-dek"}) {
    app.add_subcommand(refused, "refused in v1")->allow_extras();
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    err << (e.get_exit_code() == 0 ? app.help() : std::string(e.what()) + "\n");
    return e.get_exit_code() == 0 ? 0 : 2;
  }
  const std::string sub = app.get_subcommands().front()->get_name();
  if (sub == "disable" || sub == "rewrap-deks" || sub == "retire-dek") {
    err << "error: FAILED_PRECONDITION: " << sub
        << " is not supported: there is no encrypted-to-cleartext path and no key retirement in "
           "v1\n";
    return 1;
  }
  auto stub = EncryptionStub(addr);
  const Deadline deadline =
      std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto context = [deadline] { return ContextUntil(deadline, ""); };
  auto fail = [&err](const grpc::Status& s) {
    err << "error: " << CodeName(s.error_code()) << ": " << s.error_message() << "\n";
    return 1;
  };
  std::string token;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) {
      err << "cannot read --token-file " << token_file << "\n";
      return 2;
    }
    std::getline(in, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }
  if (sub == "status" && !all) {
    if (grpc::Status s = PrintStatus(addr, deadline, "", out); !s.ok()) return fail(s);
    return 0;
  }
  if (sub == "status" || sub == "capability") {
    ClusterView view;
    if (grpc::Status s = LoadClusterView(addr, deadline, token, &view); !s.ok()) return fail(s);
    int failures = 0;
    for (const auto& n : view.nodes) {
      const auto it = view.node_address.find(n.raft_id());
      const std::string address = it == view.node_address.end() ? "" : it->second;
      std::string why = n.error();
      if (address.empty() && why.empty()) why = "no listener address in the overview";
      if (sub == "status") {
        out << "node " << n.raft_id() << " " << address << ":\n";
        grpc::Status s = why.empty() ? PrintStatus(address, deadline, "  ", out)
                                     : grpc::Status(grpc::StatusCode::UNAVAILABLE, why);
        if (!s.ok()) {
          out << "  error: " << CodeName(s.error_code()) << ": " << s.error_message() << "\n";
          ++failures;
        }
        continue;
      }
      // capability --all: one verdict line per node, as the mutators' fan-out reports them.
      v1::CapabilityReport cap;
      grpc::Status s = why.empty()
                           ? EncryptionStub(address)->GetCapability(context().get(), {}, &cap)
                           : grpc::Status(grpc::StatusCode::UNAVAILABLE, why);
      out << "node " << n.node_id() << " " << address
          << " reachable=" << (s.ok() ? "true" : "false")
          << " capable=" << (s.ok() && cap.encryption_capable() ? "true" : "false");
      if (!s.ok()) out << " error=" << s.error_message();
      out << "\n";
      if (!s.ok() || !cap.encryption_capable()) ++failures;
    }
    return failures == 0 ? 0 : 1;
  }
  if (sub == "bootstrap") {
    v1::BootstrapEncryptionResponse r;
    if (grpc::Status s = stub->BootstrapEncryption(context().get(), {}, &r); !s.ok())
      return fail(s);
    out << "applied_index: " << r.applied_index() << "\nstorage_key_id: " << r.storage_key_id()
        << "\nraft_key_id: " << r.raft_key_id()
        << "\nwas_already_bootstrapped: " << (r.was_already_bootstrapped() ? "true" : "false")
        << "\n";
    PrintVerdicts(r.capability_summary(), out);
    return 0;
  }
  if (sub == "rotate-dek") {
    v1::RotateDEKRequest req;
    if (purpose == "storage") {
      req.set_purpose(v1::STORAGE);
    } else if (purpose == "raft") {
      req.set_purpose(v1::RAFT);
    } else {
      err << "--purpose must be storage or raft\n";
      return 2;
    }
    v1::RotateDEKResponse r;
    if (grpc::Status s = stub->RotateDEK(context().get(), req, &r); !s.ok()) return fail(s);
    out << "applied_index: " << r.applied_index() << "\nnew_key_id: " << r.new_key_id() << "\n";
    PrintVerdicts(r.capability_summary(), out);
    return 0;
  }
  if (sub == "enable-storage-envelope") {
    v1::EnableStorageEnvelopeResponse r;
    if (grpc::Status s = stub->EnableStorageEnvelope(context().get(), {}, &r); !s.ok())
      return fail(s);
    out << "applied_index: " << r.applied_index()
        << "\nwas_already_active: " << (r.was_already_active() ? "true" : "false") << "\n";
    if (r.cutover_index_unknown()) out << "cutover_index_unknown: true\n";
    PrintVerdicts(r.capability_summary(), out);
    return 0;
  }
  if (sub == "enable-raft-envelope" && all_groups) {
    ClusterView view;
    if (grpc::Status s = LoadClusterView(addr, deadline, token, &view); !s.ok()) return fail(s);
    if (view.leader_address.empty()) {
      err << "error: FAILED_PRECONDITION: the cluster overview lists no group\n";
      return 1;
    }
    for (const auto& [gid, leader] : view.leader_address) {
      out << "group " << gid << ":\n";
      if (leader.empty()) {
        err << "error: UNAVAILABLE: group " << gid << " has no known leader\n";
        return 1;
      }
      v1::EnableRaftEnvelopeRequest req;
      req.set_group_id(gid);
      v1::EnableRaftEnvelopeResponse r;
      if (grpc::Status s = EncryptionStub(leader)->EnableRaftEnvelope(context().get(), req, &r);
          !s.ok()) {
        return fail(s);  // stops at the first failure
      }
      out << "  applied_index: " << r.applied_index()
          << "\n  was_already_active: " << (r.was_already_active() ? "true" : "false") << "\n";
    }
    return 0;
  }
  if (sub == "enable-raft-envelope") {
    v1::EnableRaftEnvelopeRequest req;
    req.set_group_id(group);
    v1::EnableRaftEnvelopeResponse r;
    if (grpc::Status s = stub->EnableRaftEnvelope(context().get(), req, &r); !s.ok())
      return fail(s);
    out << "applied_index: " << r.applied_index()
        << "\nwas_already_active: " << (r.was_already_active() ? "true" : "false") << "\n";
    PrintVerdicts(r.capability_summary(), out);
    return 0;
  }
  // resync-sidecar
  v1::ResyncSidecarRequest req;
  req.set_caller_node_id(caller);
  v1::ResyncSidecarResponse r;
  if (grpc::Status s = stub->ResyncSidecar(context().get(), req, &r); !s.ok()) return fail(s);
  out << "sidecar_raft_applied_index: " << r.sidecar_raft_applied_index()
      << "\nleader_applied_index: " << r.leader_applied_index()
      << "\nactive_storage_id: " << r.active_storage_id()
      << "\nactive_raft_id: " << r.active_raft_id() << "\nkeys: " << r.wrapped_deks_by_id_size()
      << "\n";
  return 0;
}

}  // namespace tessera::tools
