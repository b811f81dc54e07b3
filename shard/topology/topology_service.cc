// Topology snapshots from the driver's published group status and configuration (the declaration
// until then) and the Redis address book; watches poll them and send a snapshot whenever it differs
// from the last one.
#include "shard/topology/topology_service.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <future>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/resp.h"
#include "shard/admin/admin_auth.h"
#include "shard/data/resp_reply.h"
#include "shard/data/routing_rows.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {

namespace tv1 = topology::v1;

TopologyOptions TopologyOptionsFromMembership(const MembershipConfig& config) {
  TopologyOptions o;
  o.raft_id = config.raft_id;
  o.node_id = config.node_id;
  for (const auto& [gid, address] : config.groups) o.groups.push_back(gid);
  o.members = config.bootstrap_lists;
  o.redis_addresses = std::make_shared<RedisAddressBook>(config.redis_map);
  return o;
}

namespace {

constexpr char kLeaderAddressMetadata[] = "x-tessera-leader-address";

grpc::Status Failed(grpc::StatusCode code, const absl::Status& s) {
  return grpc::Status(code, std::string(s.message()));
}

grpc::Status FromAbsl(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      return Failed(grpc::StatusCode::DEADLINE_EXCEEDED, s);
    case absl::StatusCode::kFailedPrecondition:
      return Failed(grpc::StatusCode::FAILED_PRECONDITION, s);
    case absl::StatusCode::kInvalidArgument:
      return Failed(grpc::StatusCode::INVALID_ARGUMENT, s);
    case absl::StatusCode::kResourceExhausted:
      return Failed(grpc::StatusCode::RESOURCE_EXHAUSTED, s);
    case absl::StatusCode::kUnavailable:
      return Failed(grpc::StatusCode::UNAVAILABLE, s);
    default:
      return Failed(
          IsNotLeader(s) ? grpc::StatusCode::FAILED_PRECONDITION : grpc::StatusCode::INTERNAL, s);
  }
}

// Waits for a driver callback; the promise outlives a timed-out wait.
template <typename T>
absl::StatusOr<T> Await(std::future<absl::StatusOr<T>> f, std::chrono::milliseconds timeout) {
  if (f.wait_for(timeout) != std::future_status::ready) {
    return absl::DeadlineExceededError("topology: the raft group did not answer in time");
  }
  return f.get();
}

absl::Status ReadBarrier(Driver* driver, GroupId gid, std::chrono::milliseconds timeout) {
  auto p = std::make_shared<std::promise<absl::StatusOr<bool>>>();
  driver->Read(gid, [p](absl::Status s) {
    if (s.ok()) {
      p->set_value(absl::StatusOr<bool>(true));
    } else {
      p->set_value(std::move(s));
    }
  });
  return Await(p->get_future(), timeout).status();
}

// Runs an internal read command on this node's applied state; the RESP2 reply.
absl::StatusOr<std::string> ReadCommand(const KvStateMachine& kv, GroupId gid,
                                        std::vector<std::string_view> argv) {
  const data::DataCommand* command = data::FindDataCommand(argv.front());
  if (command == nullptr) return absl::InternalError("topology: internal command missing");
  std::string reply;
  data::RespReply out(2, &reply);
  if (absl::Status s = kv.ExecuteRead(gid, *command, argv, out); !s.ok()) return s;
  return reply;
}

// The RESP2 reply of a replicated command proposed on this leader.
absl::StatusOr<std::string> ProposeCommand(Driver* driver, GroupId gid,
                                           std::vector<std::string_view> argv,
                                           std::chrono::milliseconds timeout) {
  auto p = std::make_shared<std::promise<absl::StatusOr<std::string>>>();
  driver->ProposeCommand(gid, EncodeCommand(argv), 2, [p](absl::Status s, std::string reply) {
    if (s.ok()) {
      p->set_value(std::move(reply));
    } else {
      p->set_value(std::move(s));
    }
  });
  return Await(p->get_future(), timeout);
}

// An integer reply's value, or the error reply's text as FAILED_PRECONDITION.
absl::StatusOr<int64_t> IntegerReply(const std::string& reply) {
  common::resp::Value value;
  absl::StatusOr<size_t> n = common::resp::ReadReply(reply, &value);
  if (!n.ok() || *n != reply.size()) return absl::InternalError("topology: malformed reply");
  if (value.type == common::resp::Value::Type::kError) {
    return absl::FailedPreconditionError(value.str);
  }
  if (value.type != common::resp::Value::Type::kInteger) {
    return absl::InternalError("topology: unexpected reply type");
  }
  return value.integer;
}

void FillRouting(const routing::RoutingTable& table, tv1::RoutingTable* routing) {
  routing->set_version(table.version());
  for (const routing::SlotRange& r : table.Ranges()) {
    tv1::SlotRange* range = routing->add_ranges();
    range->set_first(static_cast<uint32_t>(r.first));
    range->set_last(static_cast<uint32_t>(r.last));
    range->set_group_id(r.group);
  }
}

// Members of `gid` with what is known of them: the declaration, overlaid by the live
// configuration (which names members added at runtime and their listeners).
std::map<NodeId, Server> KnownMembers(const TopologyOptions& options, GroupId gid,
                                      const absl::StatusOr<GroupStatus>& st) {
  std::map<NodeId, Server> known;
  if (auto it = options.members.find(gid); it != options.members.end()) {
    for (const Server& s : it->second) known[s.node_id] = s;
  }
  if (st.ok() && st->configuration != nullptr) {
    for (const Server& s : st->configuration->servers) {
      Server& k = known[s.node_id];
      k.node_id = s.node_id;
      k.voter = s.voter;
      if (!s.raft_id.empty()) k.raft_id = s.raft_id;
      if (!s.address.empty()) k.address = s.address;
    }
  }
  return known;
}

// The raft listener of `gid`'s leader as this node knows it; empty when unknown.
std::string LeaderRaftAddress(const TopologyOptions& options, GroupId gid,
                              const absl::StatusOr<GroupStatus>& st) {
  if (!st.ok() || st->leader == raft::kNoNode) return std::string();
  const std::map<NodeId, Server> known = KnownMembers(options, gid, st);
  auto it = known.find(st->leader);
  return it == known.end() ? std::string() : it->second.address;
}

}  // namespace

std::optional<routing::RoutingTable> StoredRoutingTable(const KvStateMachine& kv,
                                                        GroupId default_group) {
  absl::StatusOr<std::string> reply = ReadCommand(kv, default_group, {data::kRoutingGetCommand});
  common::resp::Value value;
  if (!reply.ok() || !common::resp::ReadReply(*reply, &value).ok()) {
    spdlog::warn(
        "topology: cannot read the stored routing table: {}",
        reply.ok() ? std::string("malformed reply") : std::string(reply.status().message()));
    return std::nullopt;
  }
  if (value.type != common::resp::Value::Type::kBulk) return std::nullopt;  // none stored yet
  absl::StatusOr<routing::RoutingTable> table = data::DecodeRoutingTable(value.str);
  if (!table.ok()) {
    spdlog::error("topology: the stored routing table is unreadable: {}",
                  std::string(table.status().message()));
    return std::nullopt;
  }
  return *std::move(table);
}

routing::RoutingTable CurrentRoutingTable(const std::vector<GroupId>& groups,
                                          const std::optional<routing::RoutingTable>& stored) {
  if (stored.has_value()) return *stored;
  return routing::RoutingTable::EvenSpread(groups, /*version=*/1);
}

tv1::TopologySnapshot BuildTopology(const TopologyOptions& options, const GroupStatusSource& status,
                                    const RoutingTableSource& routing_source) {
  tv1::TopologySnapshot out;
  const routing::RoutingTable table = CurrentRoutingTable(
      options.groups, routing_source ? routing_source() : std::optional<routing::RoutingTable>());
  FillRouting(table, out.mutable_routing());
  auto redis_of = [&](const std::string& raft_address) -> std::string {
    if (options.redis_addresses == nullptr || raft_address.empty()) return std::string();
    return options.redis_addresses->Lookup(raft_address);
  };
  // node id -> (raft id, Redis address), over every group.
  std::map<NodeId, std::pair<std::string, std::string>> nodes;
  const GroupId default_group = options.groups.empty() ? 0 : options.groups.front();
  out.set_default_group(default_group);
  out.set_served_by(options.raft_id);
  for (GroupId gid : options.groups) {
    tv1::GroupTopology* group = out.add_groups();
    group->set_group_id(gid);
    absl::StatusOr<GroupStatus> st = status ? status(gid) : absl::UnavailableError("no status");
    const std::map<NodeId, Server> known = KnownMembers(options, gid, st);
    // The ConfState is the only authority for who is a member and with which suffrage; the
    // declaration only names them when the status is not there yet.
    std::map<NodeId, bool> voters;  // node -> voter
    if (st.ok() && !(st->conf_state.voters.empty() && st->conf_state.learners.empty())) {
      for (NodeId id : st->conf_state.voters) voters[id] = true;
      for (NodeId id : st->conf_state.learners) voters[id] = false;
    } else {
      for (const auto& [id, s] : known) voters[id] = s.voter;
    }
    for (const auto& [id, voter] : voters) {
      tv1::GroupMember* m = group->add_members();
      m->set_node_id(id);
      m->set_suffrage(voter ? tv1::SUFFRAGE_VOTER : tv1::SUFFRAGE_LEARNER);
      if (auto k = known.find(id); k != known.end()) {
        m->set_raft_id(k->second.raft_id);
        m->set_raft_address(k->second.address);
        m->set_redis_address(redis_of(k->second.address));
        auto& node = nodes[id];
        if (node.first.empty()) node.first = k->second.raft_id;
        if (node.second.empty()) node.second = m->redis_address();
      }
    }
    if (!st.ok()) continue;
    group->set_term(st->term);
    group->set_leader_id(st->leader);
    if (st->leader != raft::kNoNode) {
      if (auto k = known.find(st->leader); k != known.end()) {
        group->set_leader_raft_address(k->second.address);
        group->set_leader_redis_address(redis_of(k->second.address));
      }
    }
    if (gid == default_group) {
      out.set_authoritative(st->role == raft::Role::kLeader && st->leader == options.node_id);
    }
  }
  for (const auto& [id, node] : nodes) {
    tv1::NodeTopology* n = out.add_nodes();
    n->set_node_id(id);
    n->set_raft_id(node.first);
    n->set_redis_address(node.second);
  }
  return out;
}

TopologyService::TopologyService(TopologyOptions options) : options_(std::move(options)) {}

TopologyService::~TopologyService() { Stop(); }

void TopologyService::SetStatusSource(GroupStatusSource status) {
  std::lock_guard<std::mutex> lk(mu_);
  status_ = std::move(status);
}

void TopologyService::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopped_ = true;
  }
  stop_cv_.notify_all();
}

void TopologyService::SetDriver(Driver* driver) {
  const GroupId default_group = options_.groups.empty() ? 0 : options_.groups.front();
  std::lock_guard<std::mutex> lk(mu_);
  driver_ = driver;
  status_ = [driver](GroupId g) { return driver->Status(g); };
  routing_ = [driver, default_group] { return StoredRoutingTable(driver->kv(), default_group); };
}

absl::StatusOr<tv1::TopologySnapshot> TopologyService::Snapshot() const {
  GroupStatusSource status;
  RoutingTableSource routing;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopped_) return absl::UnavailableError("topology: shutting down");
    if (!status_) return absl::UnavailableError("topology: raft groups not open yet");
    status = status_;
    routing = routing_;
  }
  return BuildTopology(options_, status, routing);
}

grpc::Status TopologyService::Admit(grpc::ServerContext* context, Driver** driver) const {
  if (!options_.admin_token.empty() && !options_.loopback_listener) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find(kAdminTokenMetadata);
    if (it == metadata.end() ||
        !AdminTokenMatches(std::string_view(it->second.data(), it->second.size()),
                           options_.admin_token)) {
      spdlog::warn("topology: refused an admin call from {} without a valid token",
                   context->peer());
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "admin token required on a non-loopback listener");
    }
  }
  std::lock_guard<std::mutex> lk(mu_);
  if (stopped_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "topology: shutting down");
  if (driver_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "topology: raft groups not open yet");
  }
  *driver = driver_;
  return grpc::Status::OK;
}

grpc::Status TopologyService::RequireLeader(grpc::ServerContext* context, Driver* driver,
                                            GroupId gid) const {
  absl::StatusOr<GroupStatus> st = driver->Status(gid);
  if (!st.ok()) return FromAbsl(st.status());
  if (st->role == raft::Role::kLeader) return grpc::Status::OK;
  const std::string leader_address = LeaderRaftAddress(options_, gid, st);
  if (!leader_address.empty()) context->AddTrailingMetadata(kLeaderAddressMetadata, leader_address);
  return grpc::Status(
      grpc::StatusCode::FAILED_PRECONDITION,
      absl::StrCat("this node does not lead group ", gid,
                   leader_address.empty() ? " (no leader known)"
                                          : absl::StrCat("; its leader is at ", leader_address)));
}

absl::StatusOr<uint64_t> TopologyService::CountKeys(grpc::ServerContext* context, Driver* driver,
                                                    GroupId gid, uint32_t first, uint32_t last,
                                                    SlotFenceOp op) const {
  const std::string first_text = absl::StrCat(first), last_text = absl::StrCat(last);
  absl::StatusOr<GroupStatus> st = driver->Status(gid);
  if (!st.ok()) return st.status();
  if (st->role == raft::Role::kLeader) {
    absl::StatusOr<std::string> reply;
    if (op == tv1::CountSlotKeysRequest::RELEASE) {
      // Counted and fenced in one entry of the group: no write can land in between.
      reply = ProposeCommand(driver, gid, {data::kSlotsReleaseCommand, first_text, last_text},
                             options_.admin_timeout);
    } else if (op == tv1::CountSlotKeysRequest::ACQUIRE) {
      reply = ProposeCommand(driver, gid, {data::kSlotsAcquireCommand, first_text, last_text},
                             options_.admin_timeout);
      if (reply.ok() && *reply == "+OK\r\n") return 0;
    } else {
      if (absl::Status s = ReadBarrier(driver, gid, options_.admin_timeout); !s.ok()) return s;
      reply = ReadCommand(driver->kv(), gid, {data::kSlotKeysCommand, first_text, last_text});
    }
    if (!reply.ok()) return reply.status();
    absl::StatusOr<int64_t> n = IntegerReply(*reply);
    if (!n.ok()) return n.status();
    return static_cast<uint64_t>(*n);
  }
  // Ask the group's leader, with the caller's credentials.
  const std::string leader_address = LeaderRaftAddress(options_, gid, st);
  if (leader_address.empty()) {
    return absl::UnavailableError(
        absl::StrCat("group ", gid, " has no known leader to count its keys; retry"));
  }
  auto stub = tv1::Topology::NewStub(
      grpc::CreateChannel(leader_address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext client;
  client.set_deadline(std::chrono::system_clock::now() + options_.admin_timeout);
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find(kAdminTokenMetadata); it != metadata.end()) {
    client.AddMetadata(kAdminTokenMetadata, std::string(it->second.data(), it->second.size()));
  }
  tv1::CountSlotKeysRequest request;
  request.set_group_id(gid);
  request.set_first(first);
  request.set_last(last);
  request.set_fence(op);
  tv1::CountSlotKeysResponse response;
  grpc::Status s = stub->CountSlotKeys(&client, request, &response);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat("counting the keys of group ", gid, " on ",
                                               leader_address, ": ", s.error_message()));
  }
  return response.keys();
}

grpc::Status TopologyService::CountSlotKeys(grpc::ServerContext* context,
                                            const tv1::CountSlotKeysRequest* request,
                                            tv1::CountSlotKeysResponse* response) {
  Driver* driver = nullptr;
  if (grpc::Status s = Admit(context, &driver); !s.ok()) return s;
  if (request->first() > request->last() || request->last() >= routing::kSlotCount) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "slots must be 0 <= first <= last < 16384");
  }
  if (grpc::Status s = RequireLeader(context, driver, request->group_id()); !s.ok()) return s;
  absl::StatusOr<uint64_t> n = CountKeys(context, driver, request->group_id(), request->first(),
                                         request->last(), request->fence());
  if (!n.ok()) return FromAbsl(n.status());
  response->set_keys(*n);
  return grpc::Status::OK;
}

grpc::Status TopologyService::AssignSlots(grpc::ServerContext* context,
                                          const tv1::AssignSlotsRequest* request,
                                          tv1::AssignSlotsResponse* response) {
  Driver* driver = nullptr;
  if (grpc::Status s = Admit(context, &driver); !s.ok()) return s;
  const uint32_t first = request->first(), last = request->last();
  const GroupId target = request->group_id();
  if (first > last || last >= routing::kSlotCount) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "slots must be 0 <= first <= last < 16384");
  }
  if (std::find(options_.groups.begin(), options_.groups.end(), target) == options_.groups.end()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("group ", target, " is not a group of the cluster"));
  }
  const GroupId default_group = options_.groups.front();
  if (grpc::Status s = RequireLeader(context, driver, default_group); !s.ok()) return s;
  // The table as of every committed change: a read barrier, then the applied row.
  if (absl::Status s = ReadBarrier(driver, default_group, options_.admin_timeout); !s.ok()) {
    return FromAbsl(s);
  }
  std::optional<routing::RoutingTable> stored = StoredRoutingTable(driver->kv(), default_group);
  if (!stored.has_value()) {
    // Bootstrap has not stored it yet (a new leader does within a moment): store it now.
    const std::string even =
        data::EncodeRoutingTable(CurrentRoutingTable(options_.groups, std::nullopt));
    absl::StatusOr<std::string> reply = ProposeCommand(
        driver, default_group, {data::kRoutingInitCommand, even}, options_.admin_timeout);
    if (!reply.ok()) return FromAbsl(reply.status());
    stored = StoredRoutingTable(driver->kv(), default_group);
    if (!stored.has_value()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "routing table not stored yet; retry");
    }
  }
  if (request->expected_version() != 0 && request->expected_version() != stored->version()) {
    return grpc::Status(grpc::StatusCode::ABORTED,
                        absl::StrCat("the routing table is at version ", stored->version(),
                                     ", not ", request->expected_version()));
  }
  // Live migration comes later: every other group owning part of the range must hold no key
  // there. Each releases the range in one entry that counts and, when empty, fences it: a
  // client still routing with the old table can then never land a key there that the new
  // owner would not see (it gets TRYAGAIN and retries with the new table).
  std::vector<GroupId> sources;
  for (uint32_t slot = first; slot <= last; ++slot) {
    const GroupId g = stored->GroupForSlot(static_cast<int>(slot));
    if (g != target && std::find(sources.begin(), sources.end(), g) == sources.end()) {
      sources.push_back(g);
    }
  }
  // A refusal after some sources released gives them their slots back: the table still
  // names them.
  std::vector<GroupId> released;
  auto undo = [&] {
    for (GroupId g : released) {
      absl::StatusOr<uint64_t> lifted =
          CountKeys(context, driver, g, first, last, tv1::CountSlotKeysRequest::ACQUIRE);
      if (!lifted.ok()) {
        spdlog::error("topology: slots {}-{} stay fenced in group {} ({}); assign them again",
                      first, last, g, lifted.status().ToString());
      }
    }
  };
  for (GroupId g : sources) {
    absl::StatusOr<uint64_t> keys =
        CountKeys(context, driver, g, first, last, tv1::CountSlotKeysRequest::RELEASE);
    if (!keys.ok()) {
      undo();
      return FromAbsl(keys.status());
    }
    if (*keys > 0) {
      undo();
      return grpc::Status(
          grpc::StatusCode::FAILED_PRECONDITION,
          absl::StrCat("slots ", first, "-", last, " hold ", *keys, " key(s) in group ", g,
                       "; only empty slots can be reassigned (live migration is not supported "
                       "yet)"));
    }
    released.push_back(g);
  }
  // The target serves the range from now on (it may have given it away before).
  if (absl::StatusOr<uint64_t> lifted =
          CountKeys(context, driver, target, first, last, tv1::CountSlotKeysRequest::ACQUIRE);
      !lifted.ok()) {
    undo();
    return FromAbsl(lifted.status());
  }
  const std::string version = absl::StrCat(stored->version());
  const std::string first_text = absl::StrCat(first), last_text = absl::StrCat(last),
                    group_text = absl::StrCat(target);
  absl::StatusOr<std::string> reply =
      ProposeCommand(driver, default_group,
                     {data::kRoutingAssignCommand, version, first_text, last_text, group_text},
                     options_.admin_timeout);
  // An unknown outcome (a timeout) leaves the sources fenced: the change may have committed,
  // and unfencing them could let a stale writer in. Assigning the range again finishes it.
  if (!reply.ok()) return FromAbsl(reply.status());
  absl::StatusOr<int64_t> next = IntegerReply(*reply);
  if (!next.ok()) {
    undo();  // refused at apply (a concurrent change): the table still names the sources
    return Failed(grpc::StatusCode::ABORTED, next.status());
  }
  absl::StatusOr<routing::RoutingTable> table =
      data::AssignSlots(*stored, static_cast<int>(first), static_cast<int>(last), target);
  if (!table.ok()) return FromAbsl(table.status());
  spdlog::info("topology: slots {}-{} assigned to group {} (routing table version {})", first, last,
               target, *next);
  FillRouting(*table, response->mutable_routing());
  return grpc::Status::OK;
}

grpc::Status TopologyService::GetTopology(grpc::ServerContext*, const tv1::GetTopologyRequest*,
                                          tv1::TopologySnapshot* response) {
  absl::StatusOr<tv1::TopologySnapshot> snap = Snapshot();
  if (!snap.ok())
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(snap.status().message()));
  *response = std::move(*snap);
  return grpc::Status::OK;
}

grpc::Status TopologyService::WatchTopology(grpc::ServerContext* context,
                                            const tv1::WatchTopologyRequest* request,
                                            grpc::ServerWriter<tv1::TopologySnapshot>* writer) {
  // Each watch holds a server thread for its lifetime: bound them.
  if (watchers_.fetch_add(1) >= options_.max_watchers) {
    watchers_.fetch_sub(1);
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("topology: more than ", options_.max_watchers, " watches open"));
  }
  std::string last_sent;
  bool sent_any = false;
  grpc::Status result = grpc::Status::OK;
  while (!context->IsCancelled()) {
    absl::StatusOr<tv1::TopologySnapshot> snap = Snapshot();
    if (!snap.ok()) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(snap.status().message()));
      break;
    }
    if (sent_any || snap->routing().version() > request->after_version()) {
      std::string bytes = snap->SerializeAsString();
      if (!sent_any || bytes != last_sent) {
        if (!writer->Write(*snap)) break;  // the client went away
        sent_any = true;
        last_sent = std::move(bytes);
      }
    }
    std::unique_lock<std::mutex> lk(mu_);
    if (stop_cv_.wait_for(lk, options_.watch_poll, [this] { return stopped_; })) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "topology: shutting down");
      break;
    }
  }
  watchers_.fetch_sub(1);
  return result;
}

}  // namespace tessera::shard
