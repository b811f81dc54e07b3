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
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "raft/types.h"
#include "routing/routing_table.h"
#include "routing/slot.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {

// INFO's cold_start field: the §9 outcome label, or "none" when no snapshot was recorded.
const char* ColdStartDecisionName(const std::optional<ColdStartDecision>& d) {
  if (!d.has_value()) return "none";
  switch (*d) {
    case ColdStartDecision::kSkip:
      return "skipped";
    case ColdStartDecision::kExecute:
      return "executed";
    case ColdStartDecision::kFallback:
      return "fallback";
  }
  return "unknown";
}

enum class CommandId { kPing, kEcho, kGet, kSet, kDel, kExists, kInfo, kQuit, kCommand, kHello };

// How a command touches its group, for the per-client ordering barrier.
enum class Access { kLocal, kRead, kWrite, kReadWrite };

struct CommandSpec {
  std::string_view name;  // lower case, as Redis 7 names it in errors
  CommandId id;
  int arity;  // Redis convention: N exact, -N at least N (the name counts)
  Access access;
  int first_key;  // 0: no keys; otherwise keys are argv[first_key..] (all remaining)
};

// This slice's command table; it moves to routing/ with the full command table.
constexpr CommandSpec kCommands[] = {
    {"ping", CommandId::kPing, -1, Access::kLocal, 0},
    {"echo", CommandId::kEcho, 2, Access::kLocal, 0},
    {"get", CommandId::kGet, 2, Access::kRead, 1},
    {"set", CommandId::kSet, -3, Access::kWrite, 1},
    {"del", CommandId::kDel, -2, Access::kReadWrite, 1},
    {"exists", CommandId::kExists, -2, Access::kRead, 1},
    {"info", CommandId::kInfo, -1, Access::kLocal, 0},
    {"quit", CommandId::kQuit, -1, Access::kLocal, 0},
    {"command", CommandId::kCommand, -1, Access::kLocal, 0},
    {"hello", CommandId::kHello, -1, Access::kLocal, 0},
};

const CommandSpec* FindCommand(std::string_view name) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.name.size() == name.size() &&
        std::equal(name.begin(), name.end(), spec.name.begin(),
                   [](char a, char b) { return absl::ascii_tolower(a) == b; })) {
      return &spec;
    }
  }
  return nullptr;
}

// Redis 7's text, including the trailing space after each quoted argument.
std::string UnknownCommandError(const std::vector<std::string>& argv) {
  std::string args;
  for (size_t i = 1; i < argv.size() && args.size() < 128; ++i) {
    args += "'" + argv[i].substr(0, 128 - args.size()) + "' ";
  }
  return "ERR unknown command '" + argv[0].substr(0, 128) + "', with args beginning with: " + args;
}

bool ArityOk(const CommandSpec& spec, size_t argc) {
  return spec.arity >= 0 ? argc == static_cast<size_t>(spec.arity)
                         : argc >= static_cast<size_t>(-spec.arity);
}

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
    CommandId command = CommandId::kPing;
    Access access = Access::kLocal;
    GroupId group = 0;
    uint16_t slot = 0;
    std::vector<std::string> keys;
    std::string value;
    int64_t existing = 0;  // DEL: keys present at the read, the reply once the delete applies
    bool read_done = false;
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
    std::optional<RequestParser> parser;
    std::deque<Request> waiting;  // parsed, not yet dispatched
    std::deque<Slot> slots;       // dispatched, not yet sent; slots[i] has seq first_seq + i
    uint64_t first_seq = 0;
    absl::flat_hash_map<GroupId, Inflight> inflight;
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

  void Pump(Client& c);
  bool ParseInput(Client& c);
  bool Dispatch(Client& c);
  bool Flush(Client& c);
  void UpdateReading(Client& c);
  void CloseClient(Client& c);

  bool Admissible(const Client& c, const Request& r) const;
  // Starts (or answers) one request in `slot`.
  void StartCommand(Client& c, Slot& slot, uint64_t seq, Request request);
  void ContinueCommand(Client& c, Slot& slot, uint64_t seq, absl::Status status);
  void Finish(Slot& slot, std::string reply);
  std::string ErrorReply(const absl::Status& status, const Slot& slot) const;
  std::string InfoText() const;

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
    ContinueCommand(c, c.slots[done.seq - c.first_seq], done.seq, std::move(done.status));
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
    mailbox->completions.push_back(Completion{client, seq, std::move(status)});
    uv_async_send(mailbox->wake);
  };
}

void RedisServer::Loop::OnConnection(uv_stream_t* server, int status) {
  Loop* self = static_cast<Loop*>(server->data);
  if (status < 0) {
    spdlog::warn("redis: accept failed: {}", uv_strerror(status));
    return;
  }
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
  if (c.input.size() - c.input_offset > self->options_.max_query_buffer && !c.input_done) {
    spdlog::warn("redis: client {} exceeded the query buffer limit", c.id);
    c.input.clear();
    c.input_offset = 0;
    c.input_done = true;
    c.waiting.push_back(Request{{}, "ERR Protocol error: query buffer limit exceeded"});
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
    size_t consumed = 0;
    std::vector<std::string> argv;
    const auto result =
        c.parser->Parse(std::string_view(c.input).substr(c.input_offset), &consumed, &argv);
    c.input_offset += consumed;
    if (result == RequestParser::Result::kNeedMore) break;
    parsed = true;
    if (result == RequestParser::Result::kError) {
      c.input_done = true;
      c.waiting.push_back(Request{{}, c.parser->error()});
      break;
    }
    c.waiting.push_back(Request{std::move(argv), {}});
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
  const CommandSpec* spec = FindCommand(r.argv[0]);
  if (spec == nullptr || spec->access == Access::kLocal || spec->first_key == 0 ||
      !ArityOk(*spec, r.argv.size())) {
    return true;
  }
  const GroupId g = table_.GroupForSlot(routing::SlotForKey(r.argv[spec->first_key]));
  auto it = c.inflight.find(g);
  if (it == c.inflight.end()) return true;
  switch (spec->access) {
    case Access::kRead:
      return it->second.writes == 0;
    case Access::kWrite:
      return it->second.reads == 0;
    case Access::kReadWrite:
      return it->second.reads == 0 && it->second.writes == 0;
    case Access::kLocal:
      break;
  }
  return true;
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
    AppendError(&reply, r.protocol_error);
    slot.close_after = true;
    Finish(slot, std::move(reply));
    return;
  }
  std::vector<std::string>& argv = r.argv;
  const CommandSpec* spec = FindCommand(argv[0]);
  std::string reply;
  if (spec == nullptr) {
    AppendError(&reply, UnknownCommandError(argv));
    Finish(slot, std::move(reply));
    return;
  }
  if (!ArityOk(*spec, argv.size()) || (spec->id == CommandId::kPing && argv.size() > 2)) {
    AppendError(&reply,
                "ERR wrong number of arguments for '" + std::string(spec->name) + "' command");
    Finish(slot, std::move(reply));
    return;
  }
  slot.command = spec->id;
  slot.access = spec->access;
  if (spec->first_key > 0) {
    slot.keys.assign(
        std::make_move_iterator(argv.begin() + spec->first_key),
        std::make_move_iterator(spec->id == CommandId::kSet ? argv.begin() + 2 : argv.end()));
    slot.slot = routing::SlotForKey(slot.keys[0]);
    slot.group = table_.GroupForSlot(slot.slot);
    for (const std::string& key : slot.keys) {
      if (table_.GroupForSlot(routing::SlotForKey(key)) != slot.group) {
        AppendError(&reply, "CROSSSLOT Keys in request don't hash to the same slot");
        Finish(slot, std::move(reply));
        return;
      }
    }
  }
  switch (spec->id) {
    case CommandId::kPing:
      if (argv.size() == 2) {
        AppendBulk(&reply, argv[1]);
      } else {
        AppendSimpleString(&reply, "PONG");
      }
      break;
    case CommandId::kEcho:
      AppendBulk(&reply, argv[1]);
      break;
    case CommandId::kInfo:
      AppendBulk(&reply, InfoText());
      break;
    case CommandId::kQuit:
      AppendSimpleString(&reply, "OK");
      slot.close_after = true;
      c.input_done = true;
      c.waiting.clear();
      break;
    case CommandId::kCommand:
      AppendArrayHeader(&reply, 0);
      break;
    case CommandId::kHello:
      AppendError(&reply, "NOPROTO sorry, this protocol version is not supported");
      break;
    case CommandId::kSet:
      if (argv.size() != 3) {
        AppendError(&reply, "ERR syntax error");
        break;
      }
      slot.value = std::move(argv[2]);
      ++c.inflight[slot.group].writes;
      driver_->Propose(slot.group, EncodeSetCommand(slot.keys[0], slot.value),
                       CompletionFor(c, seq));
      return;
    case CommandId::kGet:
    case CommandId::kExists:
      ++c.inflight[slot.group].reads;
      driver_->Read(slot.group, CompletionFor(c, seq));
      return;
    case CommandId::kDel: {
      std::sort(slot.keys.begin(), slot.keys.end());
      slot.keys.erase(std::unique(slot.keys.begin(), slot.keys.end()), slot.keys.end());
      Inflight& in = c.inflight[slot.group];
      ++in.reads;
      ++in.writes;
      driver_->Read(slot.group, CompletionFor(c, seq));
      return;
    }
  }
  Finish(slot, std::move(reply));
}

void RedisServer::Loop::ContinueCommand(Client& c, Slot& slot, uint64_t seq, absl::Status status) {
  if (slot.ready) return;
  Inflight& in = c.inflight[slot.group];
  auto release = [&] {
    if (slot.access == Access::kRead || slot.access == Access::kReadWrite) --in.reads;
    if (slot.access == Access::kWrite || slot.access == Access::kReadWrite) --in.writes;
    if (in.reads == 0 && in.writes == 0) c.inflight.erase(slot.group);
  };
  std::string reply;
  if (!status.ok()) {
    release();
    Finish(slot, ErrorReply(status, slot));
    return;
  }
  switch (slot.command) {
    case CommandId::kSet:
      AppendSimpleString(&reply, "OK");
      break;
    case CommandId::kGet: {
      auto value = driver_->kv().Get(slot.group, slot.keys[0]);
      if (!value.ok()) {
        reply = ErrorReply(value.status(), slot);
      } else if (value->has_value()) {
        AppendBulk(&reply, **value);
      } else {
        AppendNullBulk(&reply);
      }
      break;
    }
    case CommandId::kExists:
    case CommandId::kDel: {
      if (slot.command == CommandId::kDel && slot.read_done) {
        AppendInteger(&reply, slot.existing);
        break;
      }
      int64_t count = 0;
      absl::Status read_status;
      for (const std::string& key : slot.keys) {
        auto value = driver_->kv().Get(slot.group, key);
        if (!value.ok()) {
          read_status = value.status();
          break;
        }
        if (value->has_value()) ++count;
      }
      if (!read_status.ok()) {
        reply = ErrorReply(read_status, slot);
      } else if (slot.command == CommandId::kExists) {
        AppendInteger(&reply, count);
      } else {
        // The count is what existed at the linearized read just before the proposal; a write
        // by another client in between may make it differ from what the delete removed.
        slot.existing = count;
        slot.read_done = true;
        driver_->Propose(slot.group, EncodeDelCommand(slot.keys), CompletionFor(c, seq));
        return;
      }
      break;
    }
    default:
      reply = ErrorReply(absl::InternalError("unexpected completion"), slot);
      break;
  }
  release();
  Finish(slot, std::move(reply));
}

void RedisServer::Loop::Finish(Slot& slot, std::string reply) {
  slot.ready = true;
  slot.reply = std::move(reply);
  slot.keys.clear();
  slot.value.clear();
}

std::string RedisServer::Loop::ErrorReply(const absl::Status& status, const Slot& slot) const {
  std::string reply;
  if (IsNotLeader(status)) {
    const raft::NodeId leader = NotLeaderHint(status);
    if (leader == raft::kNoNode) {
      AppendError(&reply, "TRYAGAIN no leader for the group yet");
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
      AppendError(&reply, "TRYAGAIN leader redis address unknown");
    } else {
      AppendError(&reply, absl::StrCat("MOVED ", slot.slot, " ", redis_address));
    }
    return reply;
  }
  std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      AppendError(&reply, absl::StrCat("TIMEOUT ", message));
      break;
    case absl::StatusCode::kResourceExhausted:
      if (message.starts_with("BUSY: ")) message.erase(0, 6);
      AppendError(&reply, absl::StrCat("BUSY ", message));
      break;
    default:
      AppendError(&reply, absl::StrCat("ERR ", message));
      break;
  }
  return reply;
}

std::string RedisServer::Loop::InfoText() const {
  std::string text =
      absl::StrCat("# Server\r\ntessera_node_id:", driver_->node_id(), "\r\ntcp_port:", port_,
                   "\r\nconnected_clients:", clients_.size(), "\r\n");
  DriverCounters c = driver_->counters();
  absl::StrAppend(&text, "\r\n# Persistence\r\nraft_log_syncs:", c.log_syncs,
                  "\r\nraft_entries_persisted:", c.entries_persisted,
                  "\r\napply_batches:", c.apply_batches, "\r\nentries_applied:", c.entries_applied,
                  "\r\nsnapshots_created:", c.snapshots_created,
                  "\r\nsnapshots_installed:", c.snapshots_installed, "\r\n");
  for (GroupId g : options_.groups) {
    absl::StrAppend(&text, "\r\n# Replication group ", g, "\r\ngroup_id:", g, "\r\n");
    auto st = driver_->Status(g);
    if (!st.ok()) {
      absl::StrAppend(&text, "role:unknown\r\n");
      continue;
    }
    absl::StrAppend(
        &text, "role:", raft::RoleName(st->role), "\r\nleader_node_id:", st->leader,
        "\r\nterm:", st->term, "\r\ncommit_index:", st->commit, "\r\napplied_index:", st->applied,
        "\r\nlast_index:", st->last_index, "\r\nvoters:", st->conf_state.voters.size(),
        "\r\nlearners:", st->conf_state.learners.size(), "\r\nsnapshot_index:", st->snapshot_index,
        "\r\nfirst_log_index:", st->first_index,
        "\r\ncold_start:", ColdStartDecisionName(st->cold_start), "\r\n");
  }
  return text;
}

bool RedisServer::Loop::Flush(Client& c) {
  if (c.closing) return false;
  std::string out;
  size_t n = 0;
  bool close_after = false;
  while (n < c.slots.size() && c.slots[n].ready) {
    out.append(c.slots[n].reply);
    close_after = close_after || c.slots[n].close_after;
    ++n;
    if (close_after) break;
  }
  if (n == 0) return false;
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
