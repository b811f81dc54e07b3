// RedisServer: the libuv loop, per-client input buffering and reply ordering, the command table
// of this slice, and the mapping of driver outcomes (NOT_LEADER, timeouts, BUSY) to RESP errors.
//
// Threads: everything here runs on the loop thread except the Mailbox, which driver callbacks
// fill from the driver thread (mutex + uv_async_send), and SetRedisMap (map_mu_).
//
// Ordering per client: replies leave in request order through a queue of reply slots. Commands
// run concurrently only when the client could not tell: per group, a read waits for the
// client's in-flight writes and a write for its in-flight reads (DEL, which reads then writes,
// waits for both), so a pipelined GET sees an earlier SET and never a later one.
#include "shard/redis/redis_server.h"

#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "raft/types.h"
#include "routing/command_table.h"
#include "routing/routing_table.h"
#include "routing/slot.h"
#include "shard/data/commands.h"
#include "shard/data/resp_reply.h"
#include "shard/data/transaction.h"
#include "shard/data/util.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/redis/info.h"
#include "shard/redis/local_commands.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {

// The Redis version HELLO and INFO report: the command set and behaviour Tessera follows.
constexpr std::string_view kRedisVersion = "7.0.15";

enum class CommandId { kLocal, kData };

// How a command touches its group, for the per-client ordering barrier.
enum class Access { kLocal, kRead, kWrite, kReadWrite };

absl::StatusOr<sockaddr_in> ParseIpv4Address(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis address '", address, "' is not host:port"));
  }
  sockaddr_in addr{};
  const int rc = uv_ip4_addr(address.substr(0, colon).c_str(), port, &addr);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis address '", address, "': ", uv_strerror(rc)));
  }
  return addr;
}

}  // namespace

RedisServerOptions RedisServerOptionsFromMembership(const MembershipConfig& config,
                                                    std::string redis_address) {
  RedisServerOptions o;
  o.address = std::move(redis_address);
  for (const auto& [g, address] : config.groups) o.groups.push_back(g);
  o.members = config.bootstrap_lists;
  o.redis_map = config.redis_map;
  return o;
}

class RedisServer::Loop {
 public:
  Loop(Driver* driver, RedisServerOptions options)
      : driver_(driver),
        options_(std::move(options)),
        table_(routing::RoutingTable::EvenSpread(options_.groups)),
        redis_map_(options_.redis_map),
        mailbox_(std::make_shared<Mailbox>()) {}

  ~Loop() { Stop(); }

  absl::Status Start();
  void Stop();
  int port() const { return port_; }
  void SetRedisMap(std::map<std::string, std::string> redis_map) {
    std::lock_guard<std::mutex> lock(map_mu_);
    redis_map_ = std::move(redis_map);
  }

 private:
  // A driver outcome for a client's reply slot, handed from the driver thread to the loop.
  struct Completion {
    uint64_t client = 0;
    uint64_t seq = 0;
    absl::Status status;
    std::string reply;  // a replicated command's reply, rendered by the leader's apply
  };
  // Shared with driver callbacks, which may run after the server stopped.
  struct Mailbox {
    std::mutex mu;  // guards everything below
    std::deque<Completion> completions;
    bool stop_requested = false;
    bool closed = false;         // the async handle is closing: drop further completions
    uv_async_t* wake = nullptr;  // valid while !closed
  };

  struct Request {
    std::vector<std::string> argv;
    std::string protocol_error;  // non-empty: reply it and close (argv is empty)
  };

  // One reply in request order; ready once its reply is final.
  struct Slot {
    bool ready = false;
    bool close_after = false;
    std::string reply;
    // The command while it waits for the driver.
    CommandId command = CommandId::kLocal;
    Access access = Access::kLocal;
    GroupId group = 0;
    uint16_t slot = 0;
    const data::DataCommand* data = nullptr;  // kData
    std::vector<std::string> argv;            // kData
    int protocol = 2;
  };

  struct Inflight {
    int reads = 0;
    int writes = 0;
  };

  struct Client {
    Loop* loop = nullptr;
    uint64_t id = 0;
    uv_tcp_t handle;
    std::string input;
    size_t input_offset = 0;  // bytes of `input` already parsed
    std::optional<common::resp::RequestParser> parser;
    std::deque<Request> waiting;  // parsed, not yet dispatched
    std::deque<Slot> slots;       // dispatched, not yet sent; slots[i] has seq first_seq + i
    uint64_t first_seq = 0;
    absl::flat_hash_map<GroupId, Inflight> inflight;
    Session session;   // protocol, name, authentication
    std::string peer;  // "ip:port" for CLIENT LIST
    bool reading = false;
    bool input_done = false;       // QUIT or a protocol error: parse nothing more
    bool close_requested = false;  // close once the queued writes complete
    bool closing = false;          // uv_close called
    size_t writes_in_flight = 0;
  };

  struct WriteRequest {
    uv_write_t req;
    std::string data;
    Client* client;
  };

  static void OnConnection(uv_stream_t* server, int status);
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnClientClosed(uv_handle_t* handle);
  static void OnWake(uv_async_t* handle);

  void Run();
  void ShutDownLoop();
  void DrainMailbox();
  Driver::Callback CompletionFor(const Client& c, uint64_t seq);
  Driver::ReplyCallback ReplyCompletionFor(const Client& c, uint64_t seq);

  void Pump(Client& c);
  bool ParseInput(Client& c);
  bool Dispatch(Client& c);
  bool Flush(Client& c);
  void UpdateReading(Client& c);
  void CloseClient(Client& c);

  bool Admissible(const Client& c, const Request& r) const;
  // A data-model command's handler and group, or the error to answer (unknown command, arity,
  // CROSSSLOT, keyless on a multi-group shard), whose message is the reply text.
  struct DataDispatch {
    const data::DataCommand* command;
    GroupId group;
    uint16_t slot;  // of the first key (MOVED names it)
  };
  absl::StatusOr<DataDispatch> ResolveDataCommand(const std::vector<std::string>& argv) const;
  // MULTI, DISCARD, EXEC and queuing inside MULTI. True when `out` holds the reply; false
  // otherwise (not a transaction command, or EXEC proposed: slot.command is then kData).
  bool StartTransactionCommand(Client& c, Slot& slot, uint64_t seq,
                               const routing::CommandSpec& spec,
                               const std::vector<std::string>& argv, data::RespReply& out);
  // Starts (or answers) one request in `slot`.
  void StartCommand(Client& c, Slot& slot, uint64_t seq, Request request);
  void ContinueCommand(Client& c, Slot& slot, uint64_t seq, absl::Status status, std::string reply);
  void Finish(Slot& slot, std::string reply);
  std::string ErrorReply(const absl::Status& status, const Slot& slot) const;
  std::string InfoText(std::span<const std::string> sections);

  Driver* const driver_;
  const RedisServerOptions options_;
  const routing::RoutingTable table_;

  mutable std::mutex map_mu_;  // guards redis_map_
  std::map<std::string, std::string> redis_map_;

  std::shared_ptr<Mailbox> mailbox_;

  // Loop thread only (set up by Start before the thread runs).
  uv_loop_t loop_;
  uv_tcp_t listener_;
  uv_async_t wake_;
  std::map<uint64_t, std::unique_ptr<Client>> clients_;
  uint64_t next_client_id_ = 1;
  int port_ = 0;
  ListenerStats stats_;  // INFO clients/stats counters

  std::mutex lifecycle_mu_;  // guards started_/stopped_ and thread_ start/join
  bool started_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

absl::Status RedisServer::Loop::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_ || stopped_) return absl::FailedPreconditionError("redis server already started");
  absl::StatusOr<sockaddr_in> addr = ParseIpv4Address(options_.address);
  if (!addr.ok()) return addr.status();
  if (const int rc = uv_loop_init(&loop_); rc != 0) {
    return absl::InternalError(absl::StrCat("uv_loop_init: ", uv_strerror(rc)));
  }
  uv_tcp_init(&loop_, &listener_);
  listener_.data = this;
  uv_async_init(&loop_, &wake_, &Loop::OnWake);
  wake_.data = this;
  int rc = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&*addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 511, &Loop::OnConnection);
  if (rc == 0) {
    sockaddr_storage bound{};
    int len = sizeof(bound);
    rc = uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    if (rc == 0) port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    stopped_ = true;
    return absl::UnavailableError(
        absl::StrCat("redis listener on ", options_.address, ": ", uv_strerror(rc)));
  }
  {
    std::lock_guard<std::mutex> mlock(mailbox_->mu);
    mailbox_->wake = &wake_;
  }
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  spdlog::info("redis: listening on {} (port {})", options_.address, port_);
  return absl::OkStatus();
}

void RedisServer::Loop::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (!started_) return;
  {
    std::lock_guard<std::mutex> mlock(mailbox_->mu);
    mailbox_->stop_requested = true;
    uv_async_send(mailbox_->wake);
  }
  thread_.join();
  const int rc = uv_loop_close(&loop_);
  if (rc != 0) spdlog::error("redis: uv_loop_close: {}", uv_strerror(rc));
}

void RedisServer::Loop::Run() { uv_run(&loop_, UV_RUN_DEFAULT); }

void RedisServer::Loop::ShutDownLoop() {
  {
    std::lock_guard<std::mutex> lock(mailbox_->mu);
    mailbox_->closed = true;
    mailbox_->wake = nullptr;
    mailbox_->completions.clear();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  for (auto& [id, client] : clients_) CloseClient(*client);
}

void RedisServer::Loop::OnWake(uv_async_t* handle) {
  static_cast<Loop*>(handle->data)->DrainMailbox();
}

void RedisServer::Loop::DrainMailbox() {
  std::deque<Completion> completions;
  bool stop = false;
  {
    std::lock_guard<std::mutex> lock(mailbox_->mu);
    if (mailbox_->closed) return;
    completions.swap(mailbox_->completions);
    stop = mailbox_->stop_requested;
  }
  if (stop) {
    ShutDownLoop();
    return;
  }
  std::set<uint64_t> touched;
  for (Completion& done : completions) {
    auto it = clients_.find(done.client);
    if (it == clients_.end() || it->second->closing) continue;  // the client went away
    Client& c = *it->second;
    if (done.seq < c.first_seq || done.seq - c.first_seq >= c.slots.size()) {
      spdlog::error("redis: completion for unknown reply slot {} of client {}", done.seq, c.id);
      continue;
    }
    ContinueCommand(c, c.slots[done.seq - c.first_seq], done.seq, std::move(done.status),
                    std::move(done.reply));
    touched.insert(c.id);
  }
  for (uint64_t id : touched) {
    auto it = clients_.find(id);
    if (it != clients_.end()) Pump(*it->second);
  }
}

Driver::Callback RedisServer::Loop::CompletionFor(const Client& c, uint64_t seq) {
  return [mailbox = mailbox_, client = c.id, seq](absl::Status status) {
    std::lock_guard<std::mutex> lock(mailbox->mu);
    if (mailbox->closed) return;
    mailbox->completions.push_back(Completion{client, seq, std::move(status), {}});
    uv_async_send(mailbox->wake);
  };
}

Driver::ReplyCallback RedisServer::Loop::ReplyCompletionFor(const Client& c, uint64_t seq) {
  return [mailbox = mailbox_, client = c.id, seq](absl::Status status, std::string reply) {
    std::lock_guard<std::mutex> lock(mailbox->mu);
    if (mailbox->closed) return;
    mailbox->completions.push_back(Completion{client, seq, std::move(status), std::move(reply)});
    uv_async_send(mailbox->wake);
  };
}

void RedisServer::Loop::OnConnection(uv_stream_t* server, int status) {
  Loop* self = static_cast<Loop*>(server->data);
  if (status < 0) {
    ++self->stats_.rejected_connections;
    spdlog::warn("redis: accept failed: {}", uv_strerror(status));
    return;
  }
  ++self->stats_.connections_received;
  auto client = std::make_unique<Client>();
  client->loop = self;
  client->id = self->next_client_id_++;
  client->parser.emplace(self->options_.limits);
  uv_tcp_init(&self->loop_, &client->handle);
  client->handle.data = client.get();
  Client& c = *client;
  self->clients_.emplace(c.id, std::move(client));
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c.handle)) != 0) {
    self->CloseClient(c);
    return;
  }
  {
    sockaddr_storage addr{};
    int len = sizeof(addr);
    char host[64] = "?";
    if (uv_tcp_getpeername(&c.handle, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        addr.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
      uv_ip4_name(in, host, sizeof(host));
      c.peer = absl::StrCat(host, ":", ntohs(in->sin_port));
    }
  }

  uv_tcp_nodelay(&c.handle, 1);
  self->UpdateReading(c);
}

void RedisServer::Loop::OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  // Read straight into the client's input buffer, after the bytes it already holds.
  Client* c = static_cast<Client*>(handle->data);
  const size_t want = std::max<size_t>(suggested, 16 * 1024);
  const size_t old = c->input.size();
  c->input.resize(old + want);
  *buf = uv_buf_init(c->input.data() + old, static_cast<unsigned int>(want));
}

void RedisServer::Loop::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Client& c = *static_cast<Client*>(stream->data);
  Loop* self = c.loop;
  // OnAlloc grew the buffer by buf->len; keep only what arrived.
  c.input.resize(c.input.size() - buf->len + static_cast<size_t>(std::max<ssize_t>(nread, 0)));
  if (nread < 0) {
    self->CloseClient(c);
    return;
  }
  if (nread == 0) return;
  self->stats_.net_input_bytes += static_cast<uint64_t>(nread);
  if (!c.input_done) {
    absl::Status limit =
        common::resp::CheckQueryBufferLimit(c.input.size() - c.input_offset, self->options_.limits);
    if (!limit.ok()) {
      // Redis closes such a client without a reply.
      spdlog::warn("redis: client {}: {}", c.id, std::string(limit.message()));
      self->CloseClient(c);
      return;
    }
  }
  self->Pump(c);
}

void RedisServer::Loop::Pump(Client& c) {
  if (c.closing) return;
  for (;;) {
    bool progressed = ParseInput(c);
    progressed = Dispatch(c) || progressed;
    progressed = Flush(c) || progressed;
    if (c.closing || !progressed) break;
  }
  UpdateReading(c);
}

bool RedisServer::Loop::ParseInput(Client& c) {
  bool parsed = false;
  while (!c.input_done && c.waiting.size() + c.slots.size() < options_.max_pending_commands &&
         uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c.handle)) <
             options_.max_output_backlog) {
    using ParseStatus = common::resp::RequestParser::Status;
    const ParseStatus result = c.parser->Parse(
        std::span<char>(c.input.data() + c.input_offset, c.input.size() - c.input_offset));
    c.input_offset += c.parser->consumed();
    if (result == ParseStatus::kNeedMore) break;
    parsed = true;
    if (result == ParseStatus::kError) {
      c.input_done = true;
      c.waiting.push_back(Request{{}, c.parser->error()});
      break;
    }
    // The command waits in the client's queue while more input arrives: it keeps its own copy.
    std::span<const std::string_view> argv = c.parser->argv();
    c.waiting.push_back(Request{std::vector<std::string>(argv.begin(), argv.end()), {}});
  }
  if (c.input_done) {
    c.input.clear();
    c.input_offset = 0;
  } else if (c.input_offset > 0) {
    c.input.erase(0, c.input_offset);
    c.input_offset = 0;
  }
  return parsed;
}

bool RedisServer::Loop::Admissible(const Client& c, const Request& r) const {
  if (!r.protocol_error.empty()) return true;
  // EXEC writes whatever groups its commands touch: after every earlier reply of the client.
  if (c.session.in_multi) {
    return !data::EqualsIgnoreCase(r.argv[0], "exec") || c.inflight.empty();
  }
  absl::StatusOr<DataDispatch> d = ResolveDataCommand(r.argv);
  if (!d.ok()) return true;  // answered at once
  auto it = c.inflight.find(d->group);
  if (it == c.inflight.end()) return true;
  // A read waits for this client's earlier writes to the group, a write for its earlier
  // reads (their replies must not see it); writes pipeline in raft order.
  return d->command->write ? it->second.reads == 0 : it->second.writes == 0;
}

absl::StatusOr<RedisServer::Loop::DataDispatch> RedisServer::Loop::ResolveDataCommand(
    const std::vector<std::string>& argv) const {
  absl::StatusOr<const routing::CommandSpec*> spec = routing::ResolveCommand(argv);
  if (!spec.ok()) return spec.status();  // Redis's unknown-command and arity texts
  const data::DataCommand* command = data::FindDataCommand((*spec)->full_name);
  if (command == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat("ERR command '", (*spec)->full_name, "' is not served by this shard yet"));
  }
  absl::StatusOr<std::vector<size_t>> keys = routing::GetKeys(**spec, argv);
  if (!keys.ok()) return keys.status();
  if (keys->empty()) {
    // Keyless data commands (DBSIZE, KEYS, SCAN, FLUSHDB...) cover every group: the gateway
    // fans them out; a single-group shard can answer them itself.
    if (options_.groups.size() != 1) {
      return absl::FailedPreconditionError(
          absl::StrCat("ERR '", (*spec)->full_name,
                       "' covers every group of the cluster; send it through a gateway"));
    }
    return DataDispatch{command, options_.groups.front(), 0};
  }
  const uint16_t first_slot = routing::SlotForKey(argv[(*keys)[0]]);
  const GroupId group = table_.GroupForSlot(first_slot);
  for (size_t k : *keys) {
    if (table_.GroupForSlot(routing::SlotForKey(argv[k])) != group) {
      return absl::InvalidArgumentError("CROSSSLOT Keys in request don't hash to the same slot");
    }
  }
  return DataDispatch{command, group, first_slot};
}

bool RedisServer::Loop::Dispatch(Client& c) {
  bool dispatched = false;
  while (!c.closing && !c.waiting.empty() && Admissible(c, c.waiting.front())) {
    Request r = std::move(c.waiting.front());
    c.waiting.pop_front();
    const uint64_t seq = c.first_seq + c.slots.size();
    c.slots.emplace_back();
    StartCommand(c, c.slots.back(), seq, std::move(r));
    dispatched = true;
  }
  return dispatched;
}

void RedisServer::Loop::StartCommand(Client& c, Slot& slot, uint64_t seq, Request r) {
  if (!r.protocol_error.empty()) {
    std::string reply;
    common::resp::ReplyWriter(&reply).Error(r.protocol_error);
    slot.close_after = true;
    Finish(slot, std::move(reply));
    return;
  }
  stats_.RecordCommand(uv_now(&loop_));
  std::vector<std::string>& argv = r.argv;
  std::string reply;
  data::RespReply out(c.session.protocol, &reply);
  absl::StatusOr<const routing::CommandSpec*> resolved = routing::ResolveCommand(argv);
  if (!resolved.ok()) {
    if (c.session.in_multi) c.session.multi_failed = true;  // EXEC will abort, as in Redis
    out.Error(
        std::string_view(resolved.status().message().data(), resolved.status().message().size()));
    Finish(slot, std::move(reply));
    return;
  }
  const routing::CommandSpec& spec = **resolved;
  if (!options_.requirepass.empty() && !c.session.authenticated &&
      !spec.flags.Has(routing::CommandFlag::kNoAuth)) {
    out.Error("NOAUTH Authentication required.");
    Finish(slot, std::move(reply));
    return;
  }
  if (StartTransactionCommand(c, slot, seq, spec, argv, out)) {
    Finish(slot, std::move(reply));
    return;
  }
  if (slot.command == CommandId::kData) return;  // EXEC proposed
  if (data::FindDataCommand(spec.full_name) == nullptr) {
    // Connection and server commands, answered here.
    SessionInfo info;
    info.id = c.id;
    info.peer = c.peer;
    info.redis_version = kRedisVersion;
    info.requirepass = options_.requirepass;
    info.info_text = [this](std::span<const std::string> sections) { return InfoText(sections); };
    info.client_list = [this] {
      std::string list;
      for (const auto& [id, other] : clients_) {
        if (!other->closing)
          absl::StrAppend(&list, ClientLine(id, other->peer, other->session), "\n");
      }
      return list;
    };
    info.kill_clients = [this, self_id = c.id](std::string_view field, std::string_view value) {
      std::vector<Client*> victims;
      for (const auto& [id, other] : clients_) {
        if (other->closing) continue;
        if ((field == "id" && absl::StrCat(id) == value) ||
            (field == "addr" && other->peer == value)) {
          victims.push_back(other.get());
        }
      }
      for (Client* v : victims) {
        if (v->id == self_id) {
          v->close_requested = true;  // after this reply, as Redis does
        } else {
          CloseClient(*v);
        }
      }
      return static_cast<int>(victims.size());
    };
    const LocalOutcome outcome = RunLocalCommand(spec, argv, info, &c.session, out);
    if (outcome == LocalOutcome::kClose) {
      slot.close_after = true;
      c.input_done = true;
      c.waiting.clear();
    }
    Finish(slot, std::move(reply));
    return;
  }
  // The data model: routed by key to a group, replicated or read behind a barrier.
  absl::StatusOr<DataDispatch> dispatch = ResolveDataCommand(argv);
  if (!dispatch.ok()) {
    out.Error(
        std::string_view(dispatch.status().message().data(), dispatch.status().message().size()));
    Finish(slot, std::move(reply));
    return;
  }
  slot.command = CommandId::kData;
  slot.data = dispatch->command;
  slot.group = dispatch->group;
  slot.slot = dispatch->slot;
  slot.protocol = c.session.protocol;
  slot.access = slot.data->write ? Access::kWrite : Access::kRead;
  if (slot.data->write) {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    ++c.inflight[slot.group].writes;
    driver_->ProposeCommand(slot.group, EncodeCommand(views), c.session.protocol,
                            ReplyCompletionFor(c, seq));
  } else {
    slot.argv = std::move(argv);
    ++c.inflight[slot.group].reads;
    driver_->Read(slot.group, CompletionFor(c, seq));
  }
}

// Leaves MULTI: queued commands and the failure mark go; protocol, name and AUTH stay.
static void EndMulti(Session* session) {
  session->in_multi = false;
  session->multi_failed = false;
  session->queued.clear();
}

bool RedisServer::Loop::StartTransactionCommand(Client& c, Slot& slot, uint64_t seq,
                                                const routing::CommandSpec& spec,
                                                const std::vector<std::string>& argv,
                                                data::RespReply& out) {
  Session& session = c.session;
  const std::string& name = spec.full_name;
  if (session.in_multi && name != "exec" && name != "discard" && name != "multi" &&
      name != "quit" && name != "reset") {
    if (data::FindDataCommand(name) == nullptr) {
      session.multi_failed = true;
      out.Error(absl::StrCat("ERR '", name, "' inside MULTI is not supported by this shard yet"));
    } else {
      session.queued.push_back(argv);
      out.SimpleString("QUEUED");
    }
    return true;
  }
  if (name == "multi") {
    if (session.in_multi) {
      out.Error("ERR MULTI calls can not be nested");
    } else {
      session.in_multi = true;
      out.Ok();
    }
    return true;
  }
  if (name == "discard") {
    if (!session.in_multi) {
      out.Error("ERR DISCARD without MULTI");
    } else {
      EndMulti(&session);
      out.Ok();
    }
    return true;
  }
  if (name != "exec") return false;
  if (!session.in_multi) {
    out.Error("ERR EXEC without MULTI");
    return true;
  }
  std::vector<std::vector<std::string>> queued = std::move(session.queued);
  const bool failed = session.multi_failed;
  EndMulti(&session);
  if (failed) {
    out.Error("EXECABORT Transaction discarded because of previous errors.");
    return true;
  }
  if (queued.empty()) {
    out.ArrayHeader(0);
    return true;
  }
  // One group for the whole transaction: it becomes one raft entry of that group.
  std::optional<DataDispatch> target;
  for (const std::vector<std::string>& command : queued) {
    absl::StatusOr<DataDispatch> d = ResolveDataCommand(command);
    if (!d.ok()) {
      out.Error(std::string_view(d.status().message().data(), d.status().message().size()));
      return true;
    }
    if (target.has_value() && d->group != target->group) {
      out.Error("CROSSSLOT Keys in request don't hash to the same slot");
      return true;
    }
    if (!target.has_value() || (target->slot == 0 && d->slot != 0)) target = *d;
  }
  std::vector<std::string> blobs;
  blobs.reserve(queued.size());
  for (const std::vector<std::string>& command : queued) {
    std::vector<std::string_view> views(command.begin(), command.end());
    blobs.push_back(EncodeCommand(views));
  }
  std::vector<std::string_view> exec = {data::kExecCommand};
  exec.insert(exec.end(), blobs.begin(), blobs.end());
  slot.command = CommandId::kData;
  slot.data = data::FindDataCommand(data::kExecCommand);
  slot.group = target->group;
  slot.slot = target->slot;
  slot.protocol = session.protocol;
  slot.access = Access::kWrite;
  ++c.inflight[slot.group].writes;
  driver_->ProposeCommand(slot.group, EncodeCommand(exec), session.protocol,
                          ReplyCompletionFor(c, seq));
  return false;
}

void RedisServer::Loop::ContinueCommand(Client& c, Slot& slot, uint64_t seq, absl::Status status,
                                        std::string reply) {
  (void)seq;
  if (slot.ready) return;
  Inflight& in = c.inflight[slot.group];
  if (slot.access == Access::kRead || slot.access == Access::kReadWrite) --in.reads;
  if (slot.access == Access::kWrite || slot.access == Access::kReadWrite) --in.writes;
  if (in.reads == 0 && in.writes == 0) c.inflight.erase(slot.group);
  if (!status.ok()) {
    Finish(slot, ErrorReply(status, slot));
    return;
  }
  if (slot.command != CommandId::kData || slot.data == nullptr) {
    Finish(slot, ErrorReply(absl::InternalError("unexpected completion"), slot));
    return;
  }
  if (!slot.data->write) {
    // The read barrier passed: this node's state reflects every acknowledged write.
    std::vector<std::string_view> views(slot.argv.begin(), slot.argv.end());
    reply.clear();
    data::RespReply out(slot.protocol, &reply);
    if (absl::Status s = driver_->kv().ExecuteRead(slot.group, *slot.data, views, out); !s.ok()) {
      reply.clear();
      reply = ErrorReply(s, slot);
    }
  }
  Finish(slot, std::move(reply));
}

void RedisServer::Loop::Finish(Slot& slot, std::string reply) {
  slot.ready = true;
  slot.reply = std::move(reply);
  slot.argv.clear();
}

std::string RedisServer::Loop::ErrorReply(const absl::Status& status, const Slot& slot) const {
  std::string reply;
  if (IsNotLeader(status)) {
    const raft::NodeId leader = NotLeaderHint(status);
    if (leader == raft::kNoNode) {
      common::resp::ReplyWriter(&reply).Error("TRYAGAIN no leader for the group yet");
      return reply;
    }
    std::string raft_address;
    if (auto it = options_.members.find(slot.group); it != options_.members.end()) {
      for (const Server& s : it->second) {
        if (s.node_id == leader) raft_address = s.address;
      }
    }
    std::string redis_address;
    if (!raft_address.empty()) {
      std::lock_guard<std::mutex> lock(map_mu_);
      if (auto it = redis_map_.find(raft_address); it != redis_map_.end()) {
        redis_address = it->second;
      }
    }
    if (redis_address.empty()) {
      common::resp::ReplyWriter(&reply).Error("TRYAGAIN leader redis address unknown");
    } else {
      common::resp::ReplyWriter(&reply).Error(
          absl::StrCat("MOVED ", slot.slot, " ", redis_address));
    }
    return reply;
  }
  std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      common::resp::ReplyWriter(&reply).Error(absl::StrCat("TIMEOUT ", message));
      break;
    case absl::StatusCode::kResourceExhausted:
      if (message.starts_with("BUSY: ")) message.erase(0, 6);
      common::resp::ReplyWriter(&reply).Error(absl::StrCat("BUSY ", message));
      break;
    default:
      common::resp::ReplyWriter(&reply).Error(absl::StrCat("ERR ", message));
      break;
  }
  return reply;
}

std::string RedisServer::Loop::InfoText(std::span<const std::string> sections) {
  ListenerFigures listener{kRedisVersion, port_, {}, &stats_};
  for (const auto& [id, client] : clients_) {
    if (client->closing) continue;
    ++listener.clients.connected;
    ClientFigures& f = listener.clients;
    f.recent_max_input_buffer = std::max(f.recent_max_input_buffer, client->input.capacity());
    f.recent_max_output_buffer = std::max(
        f.recent_max_output_buffer,
        uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&client->handle)));
  }
  stats_.Sample(uv_now(&loop_));
  const InfoSections selected = SelectInfoSections(sections);
  return RenderInfo(selected, GatherInfo(selected, *driver_, options_.groups, listener));
}

bool RedisServer::Loop::Flush(Client& c) {
  if (c.closing) return false;
  std::string out;
  size_t n = 0;
  bool close_after = false;
  while (n < c.slots.size() && c.slots[n].ready) {
    out.append(c.slots[n].reply);
    if (c.slots[n].reply.starts_with('-')) ++stats_.error_replies;
    close_after = close_after || c.slots[n].close_after;
    ++n;
    if (close_after) break;
  }
  if (n == 0) return false;
  stats_.net_output_bytes += out.size();
  c.slots.erase(c.slots.begin(), c.slots.begin() + static_cast<std::ptrdiff_t>(n));
  c.first_seq += n;
  if (close_after) {
    c.close_requested = true;
    c.input_done = true;
    c.waiting.clear();
  }
  auto* w = new WriteRequest{uv_write_t{}, std::move(out), &c};  // freed in OnWrite
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned int>(w->data.size()));
  const int rc =
      uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c.handle), &buf, 1, &Loop::OnWrite);
  if (rc != 0) {
    delete w;
    CloseClient(c);
    return true;
  }
  ++c.writes_in_flight;
  return true;
}

void RedisServer::Loop::OnWrite(uv_write_t* req, int status) {
  std::unique_ptr<WriteRequest> w(static_cast<WriteRequest*>(req->data));
  Client& c = *w->client;
  --c.writes_in_flight;
  if (c.closing) return;
  if (status < 0) {
    c.loop->CloseClient(c);
    return;
  }
  if (c.close_requested && c.writes_in_flight == 0) {
    c.loop->CloseClient(c);
    return;
  }
  c.loop->Pump(c);  // the output backlog shrank: parsing may resume
}

void RedisServer::Loop::UpdateReading(Client& c) {
  if (c.closing) return;
  if (c.close_requested && c.writes_in_flight == 0) {
    CloseClient(c);
    return;
  }
  const bool want = !c.input_done &&
                    c.waiting.size() + c.slots.size() < options_.max_pending_commands &&
                    uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&c.handle)) <
                        options_.max_output_backlog;
  auto* stream = reinterpret_cast<uv_stream_t*>(&c.handle);
  if (want && !c.reading) {
    if (uv_read_start(stream, &Loop::OnAlloc, &Loop::OnRead) != 0) {
      CloseClient(c);
      return;
    }
    c.reading = true;
  } else if (!want && c.reading) {
    uv_read_stop(stream);
    c.reading = false;
  }
}

void RedisServer::Loop::CloseClient(Client& c) {
  if (c.closing) return;
  c.closing = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&c.handle), &Loop::OnClientClosed);
}

void RedisServer::Loop::OnClientClosed(uv_handle_t* handle) {
  Client* c = static_cast<Client*>(handle->data);
  c->loop->clients_.erase(c->id);
}

RedisServer::RedisServer(Driver* driver, RedisServerOptions options)
    : loop_(std::make_unique<Loop>(driver, std::move(options))) {}

RedisServer::~RedisServer() { Stop(); }

absl::Status RedisServer::Start() { return loop_->Start(); }

void RedisServer::Stop() { loop_->Stop(); }

int RedisServer::port() const { return loop_->port(); }

void RedisServer::SetRedisMap(std::map<std::string, std::string> redis_map) {
  loop_->SetRedisMap(std::move(redis_map));
}

}  // namespace tessera::shard
