// RunSlotsCli: GetTopology for `show` and AssignSlots for `assign` on one shard listener; an
// answer from a node that does not lead the default group names the leader, which is tried once.
#include "tools/admin/slots.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <iomanip>
#include <memory>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "proto/topology.grpc.pb.h"
#include "tools/admin/cli.h"

namespace tessera::tools {
namespace {

namespace tv1 = tessera::topology::v1;

constexpr char kUsage[] =
    "usage: tessera-admin [--json] [--token-file=FILE] [--timeout-ms=N] slots <listener-addr> "
    "show\n"
    "       tessera-admin ... slots <listener-addr> assign <first> <last> <group> "
    "[--expected-version=N]\n"
    "<listener-addr> is any raft listener of any shard. assign gives slots [first, last] to "
    "<group>; it is refused while the range holds keys in the group(s) that own it now.\n";

nlohmann::json RangesJson(const tv1::RoutingTable& t) {
  nlohmann::json ranges = nlohmann::json::array();
  for (const tv1::SlotRange& r : t.ranges()) {
    ranges.push_back({{"first", r.first()}, {"last", r.last()}, {"group", r.group_id()}});
  }
  return nlohmann::json{{"version", t.version()}, {"ranges", ranges}};
}

void PrintTable(const tv1::RoutingTable& t, bool json, std::ostream& out) {
  if (json) {
    out << RangesJson(t).dump() << "\n";
    return;
  }
  out << "version: " << t.version() << "\n";
  out << std::left << std::setw(7) << "FIRST" << std::setw(7) << "LAST"
      << "GROUP\n";
  for (const tv1::SlotRange& r : t.ranges()) {
    out << std::setw(7) << r.first() << std::setw(7) << r.last() << r.group_id() << "\n";
  }
  out << std::right;
}

int Failure(std::ostream& err, const grpc::Status& s) {
  err << "error: " << s.error_message() << " (gRPC code " << static_cast<int>(s.error_code())
      << ")\n";
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                 s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
             ? kExitUnreachable
             : kExitRpcError;
}

}  // namespace

bool IsSlotsCommand(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json" || a.starts_with("--token-file=") || a.starts_with("--timeout-ms=")) continue;
    if (a == "--token-file" || a == "--timeout-ms") {
      ++i;
      continue;
    }
    return a == "slots";
  }
  return false;
}

int RunSlotsCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  bool json = false;
  std::string token_file, listener;
  uint64_t timeout_ms = 30000, expected_version = 0, group = 0;
  uint32_t first = 0, last = 0;
  CLI::App app("tessera-admin slots: the cluster's routing table", "tessera-admin");
  app.add_flag("--json", json);
  app.add_option("--token-file", token_file);
  app.add_option("--timeout-ms", timeout_ms);
  CLI::App* slots = app.add_subcommand("slots", "Routing table");
  slots->fallthrough();
  slots->add_option("listener", listener)->required();
  slots->require_subcommand(1);
  CLI::App* show = slots->add_subcommand("show", "The routing table this shard serves");
  CLI::App* assign = slots->add_subcommand("assign", "Give an empty slot range to a group");
  assign->add_option("first", first)->required()->check(CLI::Range(0, 16383));
  assign->add_option("last", last)->required()->check(CLI::Range(0, 16383));
  assign->add_option("group", group)->required();
  assign->add_option("--expected-version", expected_version,
                     "Refuse unless the table is at this version (0: any)");
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << kUsage;
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    err << "usage error: " << e.what() << "\n" << kUsage;
    return kExitUsage;
  }
  if (assign->parsed() && first > last) {
    err << "usage error: first must not exceed last\n" << kUsage;
    return kExitUsage;
  }
  std::string token;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) {
      err << "usage error: cannot read --token-file " << token_file << "\n";
      return kExitUsage;
    }
    std::getline(in, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }
  auto call = [&](const std::string& address, auto&& rpc) {
    grpc::ChannelArguments channel_args;
    channel_args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    auto stub = tv1::Topology::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), channel_args));
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    grpc::Status s = rpc(*stub, context.get());
    return std::make_pair(s, std::move(context));
  };
  if (show->parsed()) {
    tv1::TopologySnapshot snap;
    auto [s, context] = call(listener, [&](tv1::Topology::Stub& stub, grpc::ClientContext* c) {
      return stub.GetTopology(c, tv1::GetTopologyRequest(), &snap);
    });
    if (!s.ok()) return Failure(err, s);
    PrintTable(snap.routing(), json, out);
    if (!json && !snap.authoritative()) {
      out << "(served by " << snap.served_by()
          << ", which does not lead the default group: it may lag)\n";
    }
    return kExitOk;
  }
  tv1::AssignSlotsRequest request;
  request.set_first(first);
  request.set_last(last);
  request.set_group_id(group);
  request.set_expected_version(expected_version);
  std::string address = listener;
  for (int hop = 0; hop < 2; ++hop) {
    tv1::AssignSlotsResponse response;
    auto [s, context] = call(address, [&](tv1::Topology::Stub& stub, grpc::ClientContext* c) {
      return stub.AssignSlots(c, request, &response);
    });
    if (s.ok()) {
      PrintTable(response.routing(), json, out);
      return kExitOk;
    }
    const auto& trailers = context->GetServerTrailingMetadata();
    auto it = trailers.find("x-tessera-leader-address");
    if (hop == 0 && s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
        it != trailers.end()) {
      address.assign(it->second.data(), it->second.size());
      continue;  // the default group's leader
    }
    return Failure(err, s);
  }
  return kExitRpcError;
}

}  // namespace tessera::tools
