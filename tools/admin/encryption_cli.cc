// tessera-admin encryption: status, bootstrap, rotate-dek, enable-storage-envelope,
// enable-raft-envelope, resync-sidecar; disable / rewrap-deks / retire-dek refuse.
#include "tools/admin/encryption_cli.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>

#include "CLI/CLI.hpp"
#include "proto/encryption_admin.grpc.pb.h"

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

}  // namespace

int RunEncryptionCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("tessera-admin encryption", "tessera-admin encryption");
  std::string addr;
  int64_t timeout_ms = 30000;
  std::string purpose;
  uint64_t group = 0;
  uint64_t caller = 0;
  app.add_option("--addr", addr, "A shard's group listener host:port")->required();
  app.add_option("--timeout-ms", timeout_ms, "RPC deadline");
  app.require_subcommand(1);
  app.add_subcommand("status", "GetCapability + GetSidecarState");
  app.add_subcommand("bootstrap", "BootstrapEncryption (default group's leader)");
  app.add_subcommand("rotate-dek", "RotateDEK")
      ->add_option("--purpose", purpose, "storage|raft")
      ->required();
  app.add_subcommand("enable-storage-envelope", "EnableStorageEnvelope (phase 1)");
  app.add_subcommand("enable-raft-envelope", "EnableRaftEnvelope (phase 2)")
      ->add_option("--group", group, "Group id (0 = the listener's)");
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
  auto stub =
      v1::EncryptionAdmin::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  auto context = [timeout_ms] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    return c;
  };
  auto fail = [&err](const grpc::Status& s) {
    err << "error: " << CodeName(s.error_code()) << ": " << s.error_message() << "\n";
    return 1;
  };
  if (sub == "status") {
    v1::CapabilityReport cap;
    if (grpc::Status s = stub->GetCapability(context().get(), {}, &cap); !s.ok()) return fail(s);
    out << "node_id: " << cap.node_id()
        << "\nencryption_capable: " << (cap.encryption_capable() ? "true" : "false")
        << "\nmutators_enabled: " << (cap.mutators_enabled() ? "true" : "false") << "\n";
    v1::GetSidecarStateResponse st;
    grpc::Status s = stub->GetSidecarState(context().get(), {}, &st);
    if (!s.ok()) {
      out << "sidecar: " << s.error_message() << "\n";
      return 0;
    }
    out << "active_storage_id: " << st.active_storage_id()
        << "\nactive_raft_id: " << st.active_raft_id()
        << "\nstorage_envelope_active: " << (st.storage_envelope_active() ? "true" : "false")
        << "\nstorage_envelope_cutover_index: " << st.storage_envelope_cutover_index()
        << "\nraft_applied_index: " << st.raft_applied_index()
        << "\nkeys: " << st.wrapped_deks_by_id_size() << "\n";
    for (const auto& [gid, c] : st.raft_envelope_cutover_by_group()) {
      out << "raft_envelope_cutover group " << gid << ": " << c << "\n";
    }
    return 0;
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
