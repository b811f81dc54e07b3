// RunAdminCli: CLI11 parses `raft <listener> <subcommand> ...`, one RaftAdmin call is made
// on the given listener, and its answer is printed as a table or as JSON (--json).
#include "tools/admin/cli.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "proto/raft_admin.grpc.pb.h"
#include "shard/admin/wipe_group.h"
#include "tools/admin/slots.h"

namespace tessera::tools {
namespace {

namespace v1 = tessera::admin::v1;

// The whole --help. Layout read by tools/gen_configuration_doc.py: an option line is
// "  --flag[=VALUE]  text", a command line "  name args" with its description on the lines
// below indented by six spaces.
constexpr char kUsage[] =
    "tessera-admin: membership, leadership, routing and encryption of a running Tessera\n"
    "cluster, through the admin gRPC services of its shards. Read-only commands answer from\n"
    "the member asked; changes are sent on to the group's leader.\n"
    "\n"
    "usage: tessera-admin [options] raft <listener-addr> [--group=GID] <subcommand> ...\n"
    "       tessera-admin [options] slots <listener-addr> show|assign ...\n"
    "       tessera-admin raft wipe-group --data-dir=DIR --group=GID [--confirm-data-loss]\n"
    "       tessera-admin encryption --addr=<listener-addr> <subcommand> ...\n"
    "<listener-addr> is a shard's raft listener (host:port) for the group to act on.\n"
    "\n"
    "options:\n"
    "  --json             print the answer as JSON (protobuf JSON names; 64-bit numbers are "
    "strings)\n"
    "  --token-file=FILE  file holding the admin token, sent as \"authorization: Bearer\"; "
    "needed\n"
    "                     when the shard's admin listener is not loopback (its adminTokenFile)\n"
    "  --timeout-ms=N     deadline of the call in milliseconds (default 30000)\n"
    "  --group=GID        raft: the group to act on when the listener's node hosts several "
    "(default\n"
    "                     0: the listener's own group); wipe-group: the group to delete\n"
    "  --to=ID[@ADDR]     transfer_leadership: the voter to hand leadership to\n"
    "  --candidates=IDS   transfer_leadership: comma-separated voters to try in order; the\n"
    "                     first eligible one wins\n"
    "  --gated            transfer_leadership: only to a target replicating within --max-lag\n"
    "  --max-lag=N        transfer_leadership --gated: entries the target may lag (default "
    "1024)\n"
    "  --data-dir=DIR     wipe-group: the stopped shard's data directory (its dataDir)\n"
    "  --confirm-data-loss\n"
    "                     wipe-group: also when the group's log holds client entries\n"
    "  --expected-version=N\n"
    "                     slots assign: refuse unless the routing table is at this version\n"
    "  --addr=HOST:PORT   encryption: a raft listener of any shard\n"
    "  --help             print this text\n"
    "\n"
    "raft subcommands (tessera-admin raft <listener-addr> ...):\n"
    "  status\n"
    "      this member's view of the group: role, term, commit and applied index, last "
    "snapshot;\n"
    "      on the leader every peer's MATCH, NEXT and state. A learner has caught up when its\n"
    "      MATCH reaches the commit index\n"
    "  leader\n"
    "      the group's leader as this member knows it\n"
    "  config\n"
    "      members with suffrage (voter or learner) and the configuration index\n"
    "  overview\n"
    "      every group on every member the listener's node knows: role, suffrage, leader, term,\n"
    "      commit and applied index, reachability\n"
    "  add_voter <id> <address> [previous_index]\n"
    "      add a voter; prefer add_learner and then promote_learner. previous_index is a\n"
    "      compare-and-set on the configuration index\n"
    "  add_learner <id> <address> [previous_index]\n"
    "      add a non-voting member that receives the log and snapshots\n"
    "  promote_learner <id> [previous_index] [min_applied_index] [skip_min_applied_check]\n"
    "      make a caught-up learner a voter; refused unless its match index reaches\n"
    "      min_applied_index (take it from the leader's status) or skip_min_applied_check is "
    "true\n"
    "  remove_server <id> [previous_index]\n"
    "      remove a voter or a learner\n"
    "  transfer_leadership [--to=<id>[@addr]] [--candidates=id,id] [--gated] [--max-lag=N]\n"
    "      move leadership to another voter (the best caught-up one without --to/--candidates)\n"
    "  wipe-group --data-dir=DIR --group=GID [--confirm-data-loss]\n"
    "      offline, on a stopped shard (no listener): delete one group's rows and snapshot "
    "files,\n"
    "      keeping its other groups, to recover a node bootstrapped with a wrong peer list;\n"
    "      refused outside the bootstrap era\n"
    "\n"
    "routing table (any shard's listener; tessera-admin slots --help):\n"
    "  slots <listener-addr> show\n"
    "      the routing table: its version and every slot range with its group\n"
    "  slots <listener-addr> assign <first> <last> <group> [--expected-version=N]\n"
    "      give slots first..last to group; refused while the range holds keys\n"
    "\n"
    "encryption at rest (tessera-admin encryption --help for its subcommands):\n"
    "  encryption --addr=<listener-addr> <subcommand>\n"
    "      status, bootstrap, rotate-dek, enable-storage-envelope, enable-raft-envelope,\n"
    "      resync-sidecar (docs/encryption.md)\n"
    "\n"
    "exit status: 0 done; 1 the call failed or was refused (the reason is printed); 2 usage\n"
    "error; 3 the listener is unreachable.\n"
    "runbooks: docs/raft_learner_operations.md; every flag: docs/configuration.md.\n";

struct Args {
  bool json = false;
  std::string token_file;
  uint64_t timeout_ms = 30000;
  std::string listener;
  uint64_t group_id = 0;
  std::string subcommand;
  std::string id;
  std::string address;
  std::string previous_index;
  std::string min_applied_index;
  std::string skip;
  std::string to;
  std::string candidates;
  bool gated = false;
  uint64_t max_lag = 1024;
  std::string data_dir;
  uint64_t wipe_group = 0;
  bool confirm_data_loss = false;
};

int Usage(std::ostream& err, const std::string& message) {
  if (!message.empty()) err << "usage error: " << message << "\n";
  err << kUsage;
  return kExitUsage;
}

bool ParseIndex(const std::string& text, uint64_t* value) {
  if (text.empty()) {
    *value = 0;
    return true;
  }
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
         absl::SimpleAtoi(text, value);
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "CODE_" + std::to_string(static_cast<int>(code));
  }
}

int RpcFailure(std::ostream& err, const grpc::ClientContext& context, const grpc::Status& s) {
  err << "error: " << CodeName(s.error_code()) << ": " << s.error_message() << "\n";
  const auto& trailers = context.GetServerTrailingMetadata();
  if (auto it = trailers.find("x-tessera-leader-address"); it != trailers.end()) {
    err << "hint: the leader's listener is " << std::string(it->second.data(), it->second.size())
        << "\n";
  }
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return kExitUnreachable;
  }
  return kExitRpcError;
}

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.always_print_enums_as_ints = false;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

std::string StateName(v1::RaftState s) { return v1::RaftState_Name(s); }
std::string SuffrageName(v1::Suffrage s) {
  return s == v1::VOTER ? "voter" : s == v1::LEARNER_SUFFRAGE ? "learner" : "?";
}

// A table whose columns are as wide as their widest cell.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const {
    std::vector<size_t> width;
    for (const auto& row : rows_) {
      width.resize(std::max(width.size(), row.size()), 0);
      for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    for (const auto& row : rows_) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
      }
      out << line << "\n";
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string Hex16(uint64_t v) {
  std::ostringstream s;
  s << std::hex << std::setw(16) << std::setfill('0') << v;
  return s.str();
}

void PrintStatus(const v1::StatusResponse& st, std::ostream& out) {
  Table t({"group", std::to_string(st.group_id())});
  t.Add({"node", st.raft_id() + " (" + Hex16(st.node_id()) + ")"});
  t.Add({"state", StateName(st.state())});
  t.Add(
      {"leader", st.leader_id() == 0
                     ? "unknown"
                     : (st.leader_raft_id().empty() ? Hex16(st.leader_id()) : st.leader_raft_id()) +
                           (st.leader_address().empty() ? "" : " at " + st.leader_address())});
  t.Add({"term", std::to_string(st.term())});
  t.Add({"commit_index", std::to_string(st.commit_index())});
  t.Add({"applied_index", std::to_string(st.applied_index())});
  t.Add({"last_log_index", std::to_string(st.last_log_index())});
  t.Add({"last_snapshot_index", std::to_string(st.last_snapshot_index())});
  t.Add({"fsm_pending", std::to_string(st.fsm_pending())});
  t.Add({"voters", std::to_string(st.voter_count())});
  t.Add({"learners", std::to_string(st.learner_count())});
  t.Add({"last_contact_ms", std::to_string(st.last_contact_nanos() / 1000000)});
  t.Add({"configuration_index", std::to_string(st.configuration_index())});
  t.Add({"pending_conf_change", std::to_string(st.pending_conf_change())});
  t.Add({"lead_transferee", st.lead_transferee() == 0 ? "-" : Hex16(st.lead_transferee())});
  t.Add({"bootstrap_era", st.bootstrap_era() ? "1" : "0"});
  t.Add({"bootstrap_list_hash", st.bootstrap_list_hash().empty() ? "-" : st.bootstrap_list_hash()});
  t.Print(out);
  if (st.peers_size() == 0) return;
  out << "\n";
  Table peers(
      {"ID", "ADDRESS", "SUFFRAGE", "MATCH", "NEXT", "STATE", "ACTIVE", "INFLIGHT", "SNAPSHOT"});
  for (const v1::PeerProgress& p : st.peers()) {
    peers.Add({p.raft_id().empty() ? Hex16(p.node_id()) : p.raft_id(), p.address(),
               SuffrageName(p.suffrage()), std::to_string(p.match()), std::to_string(p.next()),
               v1::ProgressState_Name(p.state()), p.recent_active() ? "yes" : "no",
               std::to_string(p.inflight()), std::to_string(p.pending_snapshot_index())});
  }
  peers.Print(out);
}

void PrintConfiguration(const v1::ConfigurationResponse& conf, std::ostream& out) {
  out << "group: " << conf.group_id() << "\n";
  out << "configuration_index: " << conf.configuration_index() << "\n";
  Table t({"ID", "ADDRESS", "SUFFRAGE"});
  for (const v1::Member& m : conf.servers()) t.Add({m.id(), m.address(), m.suffrage()});
  t.Print(out);
}

void PrintOverview(const v1::OverviewResponse& ov, std::ostream& out) {
  Table t({"NODE", "REDIS", "REACHABLE", "GROUP", "STATE", "SUFFRAGE", "LEADER", "TERM", "COMMIT",
           "APPLIED"});
  std::vector<std::string> errors;
  for (const v1::Node& n : ov.nodes()) {
    const std::string name = n.raft_id().empty() ? Hex16(n.node_id()) : n.raft_id();
    if (n.groups_size() == 0) {
      t.Add({name, n.redis_address(), n.reachable() ? "yes" : "no", "-", "-", "-", "-", "-", "-",
             "-"});
    }
    for (const v1::GroupView& g : n.groups()) {
      t.Add({name, n.redis_address(), n.reachable() ? "yes" : "no", std::to_string(g.group_id()),
             StateName(g.state()), SuffrageName(g.suffrage()),
             g.leader_raft_id().empty() ? (g.leader_id() == 0 ? "-" : Hex16(g.leader_id()))
                                        : g.leader_raft_id(),
             std::to_string(g.term()), std::to_string(g.commit_index()),
             std::to_string(g.applied_index())});
    }
    if (!n.error().empty()) errors.push_back(name + ": " + n.error());
  }
  t.Print(out);
  for (const std::string& e : errors) out << "error: " << e << "\n";
}

void AddToken(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
}

}  // namespace

bool ParseSkipFlag(const std::string& text, bool* value) {
  if (text.empty() || text == "false" || text == "0" || text == "no") {
    *value = false;
    return true;
  }
  if (text == "true" || text == "1" || text == "yes") {
    *value = true;
    return true;
  }
  return false;
}

int RunAdminCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  if (IsSlotsCommand(argv)) return RunSlotsCli(argv, out, err);
  Args a;
  CLI::App app("tessera-admin: membership and leadership operations on Tessera shards",
               "tessera-admin");
  app.add_flag("--json", a.json, "Print the answer as JSON");
  app.add_option("--token-file", a.token_file, "File with the admin token");
  app.add_option("--timeout-ms", a.timeout_ms, "Deadline of the call (default 30000)");
  app.require_subcommand(1);
  CLI::App* raft = app.add_subcommand("raft", "RaftAdmin of one group, through one listener");
  raft->fallthrough();
  raft->add_option("listener", a.listener, "Raft listener host:port of the group");
  raft->add_option("--group", a.group_id, "Group id (default 0 = the listener's group)");
  raft->require_subcommand(1);
  auto sub = [&](const char* name, const char* help) {
    CLI::App* s = raft->add_subcommand(name, help);
    s->fallthrough();
    return s;
  };
  sub("status", "Role, indexes and (on the leader) per-peer progress");
  sub("leader", "The group's leader as this node knows it");
  sub("config", "Members with suffrage and the configuration index");
  sub("overview", "Every group on every member");
  for (const char* name : {"add_voter", "add_learner"}) {
    CLI::App* s = sub(name, "Add a member (a learner first, then promote_learner)");
    s->add_option("id", a.id, "Raft id of the new member")->required();
    s->add_option("address", a.address, "Its raft listener for this group")->required();
    s->add_option("previous_index", a.previous_index, "Configuration index compare-and-set");
  }
  CLI::App* promote = sub("promote_learner", "Make a caught-up learner a voter");
  promote->add_option("id", a.id)->required();
  promote->add_option("previous_index", a.previous_index);
  promote->add_option("min_applied_index", a.min_applied_index);
  promote->add_option("skip_min_applied_check", a.skip);
  CLI::App* remove = sub("remove_server", "Remove a voter or a learner");
  remove->add_option("id", a.id)->required();
  remove->add_option("previous_index", a.previous_index);
  CLI::App* transfer = sub("transfer_leadership", "Move leadership to another voter");
  transfer->add_option("--to", a.to, "Target id[@address]");
  transfer->add_option("--candidates", a.candidates, "Comma-separated ids, first eligible wins");
  transfer->add_flag("--gated", a.gated, "Only to a target within --max-lag and replicating");
  transfer->add_option("--max-lag", a.max_lag, "Entries the target may lag (default 1024)");
  CLI::App* wipe = sub("wipe-group", "Offline: delete one group's state (first-boot divergence)");
  wipe->add_option("--data-dir", a.data_dir, "The stopped shard's --dataDir")->required();
  wipe->add_option("--group", a.wipe_group, "Group id")->required();
  wipe->add_flag("--confirm-data-loss", a.confirm_data_loss,
                 "Also when the group's log holds client entries");

  std::vector<std::string> reversed(argv.rbegin(), argv.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << kUsage;
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return Usage(err, e.what());
  }
  for (CLI::App* s : raft->get_subcommands()) a.subcommand = s->get_name();
  if (a.subcommand.empty()) return Usage(err, "no subcommand");
  if (a.subcommand == "wipe-group") {
    if (!a.listener.empty()) return Usage(err, "wipe-group is offline: it takes no listener");
    absl::StatusOr<shard::WipeGroupResult> wiped =
        shard::WipeGroup(a.data_dir, a.wipe_group, a.confirm_data_loss);
    if (!wiped.ok()) {
      err << "error: " << absl::StatusCodeToString(wiped.status().code()) << ": "
          << wiped.status().message() << "\n";
      return kExitRpcError;
    }
    out << "wiped group " << a.wipe_group << " in " << a.data_dir << ": " << wiped->data_entries
        << " client entries, " << wiped->snapshot_files << " snapshot files\n";
    return kExitOk;
  }
  if (a.listener.empty()) return Usage(err, "missing <listener-addr>");

  uint64_t previous_index = 0;
  if (!ParseIndex(a.previous_index, &previous_index)) {
    return Usage(err,
                 "previous_index must be a non-negative integer, got \"" + a.previous_index + "\"");
  }
  uint64_t min_applied = 0;
  bool skip = false;
  if (a.subcommand == "promote_learner") {
    if (!ParseIndex(a.min_applied_index, &min_applied)) {
      return Usage(err, "min_applied_index must be a non-negative integer, got \"" +
                            a.min_applied_index + "\"");
    }
    if (!ParseSkipFlag(a.skip, &skip)) {
      return Usage(err,
                   "skip_min_applied_check must be true|false|1|0|yes|no, got \"" + a.skip + "\"");
    }
    if (min_applied == 0 && !skip) {
      return Usage(err,
                   "min_applied_index is required unless skip_min_applied_check=true (promoting "
                   "a learner that has not caught up would stall commits; take it from the "
                   "leader's `status` peers MATCH or commit_index)");
    }
  }

  std::string token;
  if (!a.token_file.empty()) {
    std::ifstream in(a.token_file);
    if (!in) return Usage(err, "cannot read --token-file " + a.token_file);
    std::getline(in, token);
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }

  grpc::ChannelArguments channel_args;
  channel_args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  auto channel =
      grpc::CreateCustomChannel(a.listener, grpc::InsecureChannelCredentials(), channel_args);
  auto stub = v1::RaftAdmin::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(a.timeout_ms));
  AddToken(&context, token);

  auto print_change = [&](const v1::ChangeResponse& r) {
    if (a.json) {
      out << nlohmann::json{{"index", r.index()}}.dump() << "\n";
    } else {
      out << "index: " << r.index() << "\n";
    }
  };

  grpc::Status s;
  if (a.subcommand == "status" || a.subcommand == "leader") {
    v1::StatusRequest req;
    req.set_group_id(a.group_id);
    v1::StatusResponse resp;
    s = stub->Status(&context, req, &resp);
    if (!s.ok()) return RpcFailure(err, context, s);
    if (a.subcommand == "status") {
      if (a.json) {
        out << ToJson(resp);
      } else {
        PrintStatus(resp, out);
      }
      return kExitOk;
    }
    if (a.json) {
      out << nlohmann::json{{"group_id", resp.group_id()},
                            {"leader_id", resp.leader_raft_id()},
                            {"leader_node_id", resp.leader_id()},
                            {"leader_address", resp.leader_address()},
                            {"term", resp.term()}}
                 .dump()
          << "\n";
    } else if (resp.leader_id() == 0) {
      out << "leader: unknown (term " << resp.term() << ")\n";
    } else {
      out << "leader: "
          << (resp.leader_raft_id().empty() ? Hex16(resp.leader_id()) : resp.leader_raft_id())
          << (resp.leader_address().empty() ? "" : " " + resp.leader_address()) << " (term "
          << resp.term() << ")\n";
    }
    return resp.leader_id() == 0 ? kExitRpcError : kExitOk;
  }
  if (a.subcommand == "config") {
    v1::ConfigurationRequest req;
    req.set_group_id(a.group_id);
    v1::ConfigurationResponse resp;
    s = stub->Configuration(&context, req, &resp);
    if (!s.ok()) return RpcFailure(err, context, s);
    if (a.json) {
      out << ToJson(resp);
    } else {
      PrintConfiguration(resp, out);
    }
    return kExitOk;
  }
  if (a.subcommand == "overview") {
    v1::OverviewResponse resp;
    s = stub->GetClusterOverview(&context, v1::OverviewRequest(), &resp);
    if (!s.ok()) return RpcFailure(err, context, s);
    if (a.json) {
      out << ToJson(resp);
    } else {
      PrintOverview(resp, out);
    }
    return kExitOk;
  }
  if (a.subcommand == "add_voter" || a.subcommand == "add_learner") {
    v1::ChangeResponse resp;
    if (a.subcommand == "add_voter") {
      v1::AddVoterRequest req;
      req.set_group_id(a.group_id);
      req.set_id(a.id);
      req.set_address(a.address);
      req.set_previous_index(previous_index);
      s = stub->AddVoter(&context, req, &resp);
    } else {
      v1::AddLearnerRequest req;
      req.set_group_id(a.group_id);
      req.set_id(a.id);
      req.set_address(a.address);
      req.set_previous_index(previous_index);
      s = stub->AddLearner(&context, req, &resp);
    }
    if (!s.ok()) return RpcFailure(err, context, s);
    print_change(resp);
    return kExitOk;
  }
  if (a.subcommand == "promote_learner") {
    v1::PromoteLearnerRequest req;
    req.set_group_id(a.group_id);
    req.set_id(a.id);
    req.set_previous_index(previous_index);
    req.set_min_applied_index(min_applied);
    req.set_skip_min_applied_check(skip);
    v1::ChangeResponse resp;
    s = stub->PromoteLearner(&context, req, &resp);
    if (!s.ok()) return RpcFailure(err, context, s);
    print_change(resp);
    return kExitOk;
  }
  if (a.subcommand == "remove_server") {
    v1::RemoveServerRequest req;
    req.set_group_id(a.group_id);
    req.set_id(a.id);
    req.set_previous_index(previous_index);
    v1::ChangeResponse resp;
    s = stub->RemoveServer(&context, req, &resp);
    if (!s.ok()) return RpcFailure(err, context, s);
    print_change(resp);
    return kExitOk;
  }
  if (a.subcommand == "transfer_leadership") {
    v1::TransferLeadershipRequest req;
    req.set_group_id(a.group_id);
    if (!a.to.empty()) {
      const size_t at = a.to.find('@');
      req.set_target_id(a.to.substr(0, at));
      if (at != std::string::npos) req.set_target_address(a.to.substr(at + 1));
      if (req.target_id().empty()) return Usage(err, "--to needs an id");
    }
    if (!a.candidates.empty()) {
      if (!a.to.empty()) return Usage(err, "--to and --candidates are exclusive");
      for (absl::string_view c : absl::StrSplit(a.candidates, ',')) {
        if (c.empty()) return Usage(err, "empty id in --candidates");
        v1::TransferTarget* t = req.add_target_candidates();
        const size_t at = c.find('@');
        t->set_target_id(std::string(c.substr(0, at)));
        if (at != absl::string_view::npos) t->set_target_address(std::string(c.substr(at + 1)));
      }
    }
    req.set_gated(a.gated);
    req.set_max_lag(a.max_lag);
    v1::TransferLeadershipResponse resp;
    s = stub->TransferLeadership(&context, req, &resp);
    if (!s.ok()) return RpcFailure(err, context, s);
    if (a.json) {
      out << nlohmann::json{{"transferee", resp.transferee_id()}}.dump() << "\n";
    } else {
      out << "transferee: " << resp.transferee_id() << "\n";
    }
    return kExitOk;
  }
  return Usage(err, "unknown subcommand " + a.subcommand);
}

}  // namespace tessera::tools
