// RedisServer: the libuv loop, per-client input buffering and reply ordering, the command table
// of this slice, and the mapping of driver outcomes (NOT_LEADER, timeouts, BUSY) to RESP errors.
//
// Threads: everything here runs on the loop thread except the Mailbox, which driver callbacks
// fill from the driver thread (mutex + uv_async_send), and the Redis address book (its own mutex).
//
// Ordering per client: replies leave in request order through a queue of reply slots. Commands
// run concurrently only when the client could not tell: per group, a read waits for the
// client's in-flight writes and a write for its in-flight reads (DEL, which reads then writes,
// waits for both), so a pipelined GET sees an earlier SET and never a later one.
#include "shard/redis/redis_server.h"

#include <uv.h>

#include <algorithm>
#include <atomic>
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
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/pubsub.h"
#include "raft/types.h"
#include "routing/command_table.h"
#include "routing/routing_table.h"
#include "routing/slot.h"
#include "shard/data/commands.h"
#include "shard/data/resp_reply.h"
#include "shard/data/routing_rows.h"
#include "shard/data/transaction.h"
#include "shard/data/util.h"
#include "shard/data/watch.h"
#include "shard/encryption/resp_errors.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/redis/info.h"
#include "shard/redis/local_commands.h"
#include "shard/topology/topology_service.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {

// The Redis version HELLO and INFO report: the command set and behaviour Tessera follows.
constexpr std::string_view kRedisVersion = "7.0.15";
// How often the listener looks for a newer stored routing table.
constexpr uint64_t kRoutingRefreshMs = 100;

enum class CommandId { kLocal, kData };

// How a command touches its group, for the per-client ordering barrier.
enum class Access { kLocal, kRead, kWrite, kReadWrite };

// KEYS, SCAN, DBSIZE, RANDOMKEY, FLUSHDB, FLUSHALL: keyless, answered per group and merged.
bool CoversEveryGroup(routing::MultiKeyPolicy policy) {
  using routing::MultiKeyPolicy;
  return policy == MultiKeyPolicy::kAllGroupsConcat || policy == MultiKeyPolicy::kAllGroupsSum ||
         policy == MultiKeyPolicy::kAllGroupsAllOk || policy == MultiKeyPolicy::kAllGroupsAnyKey ||
         policy == MultiKeyPolicy::kAllGroupsScan;
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
  o.redis_addresses = std::make_shared<RedisAddressBook>(config.redis_map);
  return o;
}

class RedisServer::Loop {
 public:
  Loop(Driver* driver, RedisServerOptions options)
      : driver_(driver),
        options_(std::move(options)),
        table_(CurrentRoutingTable(options_.groups, std::nullopt)),
        redis_addresses_(options_.redis_addresses != nullptr
                             ? options_.redis_addresses
                             : std::make_shared<RedisAddressBook>()),
        mailbox_(std::make_shared<Mailbox>()) {}

  ~Loop() { Stop(); }

  absl::Status Start();
  void Stop();
  int port() const { return port_; }
  void SetRedisMap(std::map<std::string, std::string> redis_map) {
    redis_addresses_->SetConfigured(std::move(redis_map));
  }

 private:
  // A driver outcome for a client's reply slot, handed from the driver thread to the loop.
  static constexpr size_t kWhole = SIZE_MAX;  // Completion::part of an unsplit command
  struct Completion {
    uint64_t client = 0;
    uint64_t seq = 0;
    size_t part = kWhole;
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
    // TESSERA.INGROUP <gid> <command...>: argv is the inner command, run on group in_group.
    GroupId in_group = 0;
    std::string refused;  // non-empty: a malformed TESSERA.INGROUP, answered with this error
  };

  // One reply in request order; ready once its reply is final.
  struct Slot {
    bool ready = false;
    bool close_after = false;
    bool push = false;  // a Pub/Sub message, queued behind the replies already dispatched
    std::string reply;
    // The command while it waits for the driver.
    CommandId command = CommandId::kLocal;
    Access access = Access::kLocal;
    GroupId group = 0;
    uint16_t slot = 0;
    const data::DataCommand* data = nullptr;  // kData
    std::vector<std::string> argv;            // kData reads; blocking commands (re-proposed)
    int protocol = 2;
    // WATCH: the keys, kept with the watch index its reply carries.
    bool watch = false;
    bool watch_index_reply = false;  // TESSERA.WATCHINDEX: the index goes to the client instead
    // A blocking command (BLPOP...): re-proposed when a write touches one of `keys`, answered
    // with a nil array at `deadline_ms` (0: never).
    bool blocking = false;
    uint64_t deadline_ms = 0;
    // WATCH's and blocking commands' keys; a write's keys while blocking commands wait (to
    // wake them).
    std::vector<std::string> keys;
    // A multi-key command split over groups this node leads (MGET, MSET, DEL...): one
    // sub-command per group, merged by the command's policy once every part answered.
    struct Part {
      GroupId group = 0;
      uint16_t slot = 0;              // of its first key (MOVED names it)
      std::vector<std::string> argv;  // the command name and this group's keys (and values)
      std::vector<size_t> positions;  // each key's index in the whole command's key list
      absl::Status status;
      std::string reply;
    };
    std::vector<Part> parts;
    size_t parts_pending = 0;
    routing::MultiKeyPolicy policy = routing::MultiKeyPolicy::kSingleKey;
    size_t random = 0;  // RANDOMKEY's first group to look in
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
    Session session;  // protocol, name, authentication
    // WATCHed keys with the index of the TESSERA.WATCH entry that watched each, all in
    // watch_group; cleared by EXEC, DISCARD, UNWATCH and RESET.
    std::vector<std::pair<std::string, uint64_t>> watched;
    GroupId watch_group = 0;
    bool blocked = false;  // a blocking command is in flight or parked: nothing else dispatches
    std::string peer;      // "ip:port" for CLIENT LIST
    bool reading = false;
    bool input_done = false;       // QUIT or a protocol error: parse nothing more
    bool close_requested = false;  // close once the queued writes complete
    bool closing = false;          // uv_close called
    size_t writes_in_flight = 0;
    size_t push_bytes = 0;  // bytes of push slots not yet handed to libuv
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
  static void OnBlockTimer(uv_timer_t* handle);
  static void OnRoutingTimer(uv_timer_t* handle);
  // Adopts the default group's stored routing table when its version is newer, and stores the
  // even spread (bootstrap, version 1) when this node leads the default group and none is there.
  void RefreshRoutingTable();

  void Run();
  void ShutDownLoop();
  void DrainMailbox();
  // A read's barrier: reply slot `seq` (part `part`) of `c` continues once the group's state
  // reflects every write acknowledged before the read arrived. Inside Pump the reads of one
  // group are batched until the outermost Pump returns. Then, while this node holds the
  // group's lease (Driver::LeaseReadable), they run here at once. Otherwise they share one
  // ReadIndex request, one hand-off to the driver thread for a whole pipeline.
  void Read(GroupId group, const Client& c, uint64_t seq, size_t part = kWhole);
  void SendBatchedReads();
  // Continues completed commands, then pumps their clients.
  void RunCompletions(std::deque<Completion>& completions);
  Driver::ReplyCallback ReplyCompletionFor(const Client& c, uint64_t seq, size_t part = kWhole);

  void Pump(Client& c);
  bool ParseInput(Client& c);
  bool Dispatch(Client& c);
  bool Flush(Client& c);
  void UpdateReading(Client& c);
  void CloseClient(Client& c);
  // The reply slot `seq` of `c`, or null when it was already sent (or never existed).
  static Slot* FindSlot(Client& c, uint64_t seq) {
    if (seq < c.first_seq || seq - c.first_seq >= c.slots.size()) return nullptr;
    return &c.slots[seq - c.first_seq];
  }

  // A data-model command's handler and group, or the error to answer (unknown command, arity,
  // CROSSSLOT, keyless on a multi-group shard), whose message is the reply text.
  struct DataDispatch {
    const data::DataCommand* command;
    GroupId group;
    uint16_t slot;  // of the first key (MOVED names it)
  };
  // Whether the client's next request may start now. When it resolved the request as a data
  // command it leaves the result in `resolved`, for StartCommand in the same Dispatch.
  bool Admissible(const Client& c, const Request& r,
                  std::optional<absl::StatusOr<DataDispatch>>* resolved) const;
  // `in_group` (TESSERA.INGROUP) names the group of a keyless command.
  absl::StatusOr<DataDispatch> ResolveDataCommand(const std::vector<std::string>& argv,
                                                  GroupId in_group = 0) const;
  // Strips a TESSERA.INGROUP prefix off `r.argv` into r.in_group, or sets r.refused.
  void ExtractInGroup(Request& r) const;
  // MULTI, DISCARD, EXEC and queuing inside MULTI. True when `out` holds the reply; false
  // otherwise (not a transaction command, or EXEC proposed: slot.command is then kData).
  bool StartTransactionCommand(Client& c, Slot& slot, uint64_t seq,
                               const routing::CommandSpec& spec,
                               const std::vector<std::string>& argv, data::RespReply& out);
  // Starts (or answers) one request in `slot`; `admitted` is Admissible's resolution, if any.
  void StartCommand(Client& c, Slot& slot, uint64_t seq, Request request,
                    std::optional<absl::StatusOr<DataDispatch>> admitted = std::nullopt);
  void ContinueCommand(Client& c, Slot& slot, uint64_t seq, absl::Status status, std::string reply);
  void Finish(Slot& slot, std::string reply);
  std::string ErrorReply(const absl::Status& status, const Slot& slot) const;
  std::string InfoText(std::span<const std::string> sections);

  // Pub/Sub (pubsub.h). Answers SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH,
  // PUBSUB and a subscribed RESP2 client's PING into `reply`; false for other commands.
  bool StartPubSubCommand(Client& c, const routing::CommandSpec& spec,
                          const std::vector<std::string>& argv, std::string* reply);
  // True when this node leads the group of `channel`'s slot; otherwise `error` is the reply
  // (MOVED to the leader, TRYAGAIN).
  bool LeadsChannel(std::string_view channel, std::string* error) const;
  // Queues a message for `c` behind its dispatched replies, or closes a subscriber that is too
  // far behind (max_pubsub_output).
  void Deliver(Client& c, std::string message);
  // Closes the subscribers of channels whose group this node no longer leads: they resubscribe
  // at the new leader (docs/compatibility.md).
  void DropLostChannels();

  // WATCH and UNWATCH outside MULTI; true when `out` holds the reply.
  bool StartWatchCommand(Client& c, Slot& slot, uint64_t seq, const routing::CommandSpec& spec,
                         const std::vector<std::string>& argv, data::RespReply& out);
  // Proposes the watch entry of WATCH (index_reply false: the connection keeps the keys) or
  // TESSERA.WATCHINDEX (the index is the reply); true when `out` holds a refusal.
  bool ProposeWatch(Client& c, Slot& slot, uint64_t seq, const std::vector<std::string>& argv,
                    bool index_reply, data::RespReply& out);
  // TESSERA.WATCHINDEX and TESSERA.WATCHED (redis_server.h); true when `out` holds the reply.
  bool StartSharedWatchCommand(Client& c, Slot& slot, uint64_t seq,
                               const std::vector<std::string>& argv, data::RespReply& out);
  // Blocking commands: a would-block answer parks the command until a write to one of its
  // keys (Wake), its deadline, or a leadership change (OnBlockTimer) re-proposes or ends it.
  void Park(Client& c, Slot& slot, uint64_t seq);
  void Unpark(uint64_t client, uint64_t seq);
  void Retry(uint64_t client, uint64_t seq);
  void Wake(GroupId group, const std::vector<std::string>& keys);
  void ArmBlockTimer();
  void ExpireParked();
  bool BlockingInProgress() const { return !parked_.empty() || !blocking_inflight_.empty(); }

  // Whether `argv` is a command StartSplitCommand splits: MGET, MSET, DEL, EXISTS, UNLINK and
  // TOUCH whose keys span groups, and DBSIZE, KEYS, FLUSHDB, FLUSHALL and RANDOMKEY on a shard
  // of several groups.
  bool IsSplittable(const std::vector<std::string>& argv) const;
  // Splits such a command per group when this node leads every group it needs; true when the
  // command was split (or refused into `out`).
  bool StartSplitCommand(Client& c, Slot& slot, uint64_t seq, const routing::CommandSpec& spec,
                         const std::vector<std::string>& argv, data::RespReply& out);
  bool StartParts(Client& c, Slot& slot, uint64_t seq, const routing::CommandSpec& spec,
                  const data::DataCommand& command, data::RespReply& out);
  void ContinuePart(Client& c, Slot& slot, size_t part, absl::Status status, std::string reply);
  std::string MergeParts(Slot& slot) const;

  Driver* const driver_;
  const RedisServerOptions options_;
  // Loop thread only: the default group's stored table as this replica applied it (the even
  // spread at version 1 until one is stored), refreshed every kRoutingRefreshMs.
  routing::RoutingTable table_;
  // Set while this node's bootstrap proposal of the table is in flight (driver callback).
  std::shared_ptr<std::atomic<bool>> routing_init_inflight_ =
      std::make_shared<std::atomic<bool>>(false);

  const std::shared_ptr<RedisAddressBook> redis_addresses_;  // thread-safe itself

  std::shared_ptr<Mailbox> mailbox_;

  // Loop thread only (set up by Start before the thread runs).
  uv_loop_t loop_;
  uv_tcp_t listener_;
  uv_async_t wake_;
  std::map<uint64_t, std::unique_ptr<Client>> clients_;
  uint64_t next_client_id_ = 1;
  // Blocking commands, by (client id, reply seq): proposed and not yet answered, and parked.
  using SlotRef = std::pair<uint64_t, uint64_t>;
  std::set<SlotRef> blocking_inflight_;
  std::set<SlotRef> retrying_;  // parked once, proposed again: still blocked for INFO
  struct Parked {
    GroupId group = 0;
    uint64_t term = 0;  // the leader term it parked in; another term re-proposes it
    uint64_t deadline_ms = 0;
    std::vector<std::string> keys;
  };
  std::map<SlotRef, Parked> parked_;
  // Per key, parked commands in the order they parked (served first come, first served).
  absl::flat_hash_map<std::string, std::vector<SlotRef>> parked_by_key_;
  uv_timer_t block_timer_;
  uv_timer_t routing_timer_;
  int port_ = 0;
  ListenerStats stats_;  // INFO clients/stats counters
  common::PubSubRegistry pubsub_;
  // Read(): reads waiting for the outermost Pump to return, by group, and reads the lease let
  // through, to continue once SendBatchedReads is done.
  int pump_depth_ = 0;
  absl::flat_hash_map<GroupId, std::vector<Completion>> batched_reads_;
  std::deque<Completion> lease_reads_;
  bool running_lease_reads_ = false;

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
  uv_timer_init(&loop_, &block_timer_);
  block_timer_.data = this;
  uv_timer_init(&loop_, &routing_timer_);
  routing_timer_.data = this;
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
    uv_close(reinterpret_cast<uv_handle_t*>(&block_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&routing_timer_), nullptr);
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
  RefreshRoutingTable();
  uv_timer_start(&routing_timer_, &Loop::OnRoutingTimer, kRoutingRefreshMs, kRoutingRefreshMs);
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

void RedisServer::Loop::OnRoutingTimer(uv_timer_t* handle) {
  Loop* self = static_cast<Loop*>(handle->data);
  self->RefreshRoutingTable();
  self->DropLostChannels();
}

void RedisServer::Loop::RefreshRoutingTable() {
  if (options_.groups.empty()) return;
  const GroupId default_group = options_.groups.front();
  std::optional<routing::RoutingTable> stored = StoredRoutingTable(driver_->kv(), default_group);
  if (stored.has_value()) {
    if (stored->version() > table_.version()) {
      spdlog::info("redis: routing table version {} ({} ranges)", stored->version(),
                   stored->Ranges().size());
      table_ = *std::move(stored);
    }
    return;
  }
  absl::StatusOr<GroupStatus> st = driver_->Status(default_group);
  if (!st.ok() || st->role != raft::Role::kLeader || routing_init_inflight_->exchange(true)) {
    return;
  }
  // Idempotent at apply: a table stored meanwhile (another leader's) wins.
  const std::string table =
      data::EncodeRoutingTable(CurrentRoutingTable(options_.groups, std::nullopt));
  const std::vector<std::string_view> argv = {data::kRoutingInitCommand, table};
  driver_->ProposeCommand(
      default_group, EncodeCommand(argv), 2,
      [inflight = routing_init_inflight_](absl::Status, std::string) { inflight->store(false); });
}

void RedisServer::Loop::ShutDownLoop() {
  {
    std::lock_guard<std::mutex> lock(mailbox_->mu);
    mailbox_->closed = true;
    mailbox_->wake = nullptr;
    mailbox_->completions.clear();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&block_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&routing_timer_), nullptr);
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
  RunCompletions(completions);
}

void RedisServer::Loop::RunCompletions(std::deque<Completion>& completions) {
  std::set<uint64_t> touched;
  for (Completion& done : completions) {
    blocking_inflight_.erase({done.client, done.seq});
    retrying_.erase({done.client, done.seq});
    auto it = clients_.find(done.client);
    if (it == clients_.end() || it->second->closing) continue;  // the client went away
    Client& c = *it->second;
    Slot* found = FindSlot(c, done.seq);
    if (found == nullptr) {
      spdlog::error("redis: completion for unknown reply slot {} of client {}", done.seq, c.id);
      continue;
    }
    Slot& slot = *found;
    if (done.part != kWhole) {
      ContinuePart(c, slot, done.part, std::move(done.status), std::move(done.reply));
    } else {
      ContinueCommand(c, slot, done.seq, std::move(done.status), std::move(done.reply));
    }
    touched.insert(c.id);
  }
  for (uint64_t id : touched) {
    auto it = clients_.find(id);
    if (it != clients_.end()) Pump(*it->second);
  }
}

Driver::ReplyCallback RedisServer::Loop::ReplyCompletionFor(const Client& c, uint64_t seq,
                                                            size_t part) {
  return [mailbox = mailbox_, client = c.id, seq, part](absl::Status status, std::string reply) {
    std::lock_guard<std::mutex> lock(mailbox->mu);
    if (mailbox->closed) return;
    mailbox->completions.push_back(
        Completion{client, seq, part, std::move(status), std::move(reply)});
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
  ++pump_depth_;
  for (;;) {
    bool progressed = ParseInput(c);
    progressed = Dispatch(c) || progressed;
    progressed = Flush(c) || progressed;
    if (c.closing || !progressed) break;
  }
  UpdateReading(c);
  if (--pump_depth_ == 0) SendBatchedReads();
}

void RedisServer::Loop::Read(GroupId group, const Client& c, uint64_t seq, size_t part) {
  batched_reads_[group].push_back(Completion{c.id, seq, part, absl::OkStatus(), {}});
  if (pump_depth_ == 0) SendBatchedReads();
}

void RedisServer::Loop::SendBatchedReads() {
  absl::flat_hash_map<GroupId, std::vector<Completion>> batches;
  batches.swap(batched_reads_);
  for (auto& [group, reads] : batches) {
    if (driver_->LeaseReadable(group)) {
      ++stats_.lease_read_batches;
      for (Completion& read : reads) lease_reads_.push_back(std::move(read));
      continue;
    }
    ++stats_.read_index_batches;
    driver_->Read(group, [mailbox = mailbox_, reads = std::move(reads)](absl::Status status) {
      std::lock_guard<std::mutex> lock(mailbox->mu);
      if (mailbox->closed) return;
      for (const Completion& read : reads) {
        mailbox->completions.push_back(Completion{read.client, read.seq, read.part, status, {}});
      }
      uv_async_send(mailbox->wake);
    });
  }
  // Continuing a read pumps its client, which may batch (and let through) more reads: the
  // outermost call runs them all.
  if (running_lease_reads_) return;
  running_lease_reads_ = true;
  while (!lease_reads_.empty()) {
    std::deque<Completion> ready;
    ready.swap(lease_reads_);
    RunCompletions(ready);
  }
  running_lease_reads_ = false;
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
      c.waiting.push_back(Request{{}, c.parser->error(), 0, {}});
      break;
    }
    // The command waits in the client's queue while more input arrives: it keeps its own copy.
    std::span<const std::string_view> argv = c.parser->argv();
    c.waiting.push_back(Request{std::vector<std::string>(argv.begin(), argv.end()), {}, 0, {}});
    ExtractInGroup(c.waiting.back());
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

bool RedisServer::Loop::Admissible(const Client& c, const Request& r,
                                   std::optional<absl::StatusOr<DataDispatch>>* resolved) const {
  resolved->reset();
  if (c.blocked) return false;  // like Redis: a blocked client's later commands wait
  if (!r.protocol_error.empty() || !r.refused.empty()) return true;
  // EXEC writes whatever groups its commands touch: after every earlier reply of the client.
  if (c.session.in_multi) {
    return !data::EqualsIgnoreCase(r.argv[0], "exec") || c.inflight.empty();
  }
  // WATCH's index and a blocking command's parking follow every earlier reply of the client.
  if (data::EqualsIgnoreCase(r.argv[0], "watch") || data::EqualsIgnoreCase(r.argv[0], "unwatch") ||
      data::EqualsIgnoreCase(r.argv[0], "exec") ||
      data::EqualsIgnoreCase(r.argv[0], kWatchIndexCommand)) {
    return c.inflight.empty();
  }
  const absl::StatusOr<DataDispatch>& d = resolved->emplace(ResolveDataCommand(r.argv, r.in_group));
  if (!d.ok()) {
    // A command split over groups orders behind every earlier reply of the client.
    return r.in_group == 0 && IsSplittable(r.argv) ? c.inflight.empty() : true;
  }
  const routing::CommandSpec* spec = routing::FindCommandByFullName(d->command->name);
  if (spec != nullptr && spec->flags.Has(routing::CommandFlag::kBlocking)) {
    return c.inflight.empty();
  }
  auto it = c.inflight.find(d->group);
  if (it == c.inflight.end()) return true;
  // A read waits for this client's earlier writes to the group, a write for its earlier
  // reads (their replies must not see it); writes pipeline in raft order.
  return d->command->write ? it->second.reads == 0 : it->second.writes == 0;
}

void RedisServer::Loop::ExtractInGroup(Request& r) const {
  if (r.argv.empty() || !data::EqualsIgnoreCase(r.argv[0], kInGroupCommand)) return;
  uint64_t gid = 0;
  if (r.argv.size() < 3) {
    r.refused = "ERR wrong number of arguments for 'tessera.ingroup' command";
  } else if (!absl::SimpleAtoi(absl::string_view(r.argv[1]), &gid) ||
             std::find(options_.groups.begin(), options_.groups.end(), gid) ==
                 options_.groups.end()) {
    r.refused =
        absl::StrCat("ERR TESSERA.INGROUP: group '", r.argv[1], "' is not hosted by this shard");
  } else {
    r.in_group = gid;
  }
  r.argv.erase(r.argv.begin(), r.argv.begin() + (r.refused.empty() ? 2 : 0));
}

absl::StatusOr<RedisServer::Loop::DataDispatch> RedisServer::Loop::ResolveDataCommand(
    const std::vector<std::string>& argv, GroupId in_group) const {
  absl::StatusOr<const routing::CommandSpec*> spec = routing::ResolveCommand(argv);
  if (!spec.ok()) return spec.status();  // Redis's unknown-command and arity texts
  const data::DataCommand* command = data::FindDataCommand((*spec)->full_name);
  if (command == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat("ERR command '", (*spec)->full_name, "' is not served by this shard yet"));
  }
  absl::StatusOr<std::vector<size_t>> keys = routing::GetKeys(**spec, argv);
  if (!keys.ok()) return keys.status();
  if (in_group != 0) {
    // Only commands that cover every group make sense in one named group: a keyed command
    // would bypass the routing table.
    if (!keys->empty() || !CoversEveryGroup((*spec)->policy)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ERR TESSERA.INGROUP runs keyless data commands only (KEYS, SCAN, DBSIZE, RANDOMKEY, "
          "FLUSHDB, FLUSHALL), not '",
          (*spec)->full_name, "'"));
    }
    return DataDispatch{command, in_group, 0};
  }
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
  std::optional<absl::StatusOr<DataDispatch>> resolved;
  while (!c.closing && !c.waiting.empty() && Admissible(c, c.waiting.front(), &resolved)) {
    Request r = std::move(c.waiting.front());
    c.waiting.pop_front();
    const uint64_t seq = c.first_seq + c.slots.size();
    c.slots.emplace_back();
    StartCommand(c, c.slots.back(), seq, std::move(r), std::move(resolved));
    dispatched = true;
  }
  return dispatched;
}

void RedisServer::Loop::StartCommand(Client& c, Slot& slot, uint64_t seq, Request r,
                                     std::optional<absl::StatusOr<DataDispatch>> admitted) {
  if (!r.protocol_error.empty()) {
    std::string reply;
    common::resp::ReplyWriter(&reply).Error(r.protocol_error);
    slot.close_after = true;
    Finish(slot, std::move(reply));
    return;
  }
  if (!r.refused.empty() || (r.in_group != 0 && c.session.in_multi)) {
    if (c.session.in_multi) c.session.multi_failed = true;
    std::string reply;
    common::resp::ReplyWriter(&reply).Error(
        r.refused.empty() ? "ERR TESSERA.INGROUP inside MULTI is not allowed" : r.refused);
    Finish(slot, std::move(reply));
    return;
  }
  stats_.RecordCommand(uv_now(&loop_));
  std::vector<std::string>& argv = r.argv;
  std::string reply;
  data::RespReply out(c.session.protocol, &reply);
  if (!argv.empty() && (data::EqualsIgnoreCase(argv[0], kWatchIndexCommand) ||
                        data::EqualsIgnoreCase(argv[0], kWatchedCommand))) {
    if (!options_.requirepass.empty() && !c.session.authenticated) {
      out.Error("NOAUTH Authentication required.");
    } else if (!StartSharedWatchCommand(c, slot, seq, argv, out)) {
      return;  // the watch entry was proposed
    }
    Finish(slot, std::move(reply));
    return;
  }
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
  if (c.session.protocol == 2 && pubsub_.SubscriptionCount(c.id) > 0 &&
      !common::AllowedWhileSubscribed(spec.full_name)) {
    out.Error(common::SubscribedModeError(spec.full_name));
    Finish(slot, std::move(reply));
    return;
  }
  if (r.in_group != 0 && data::FindDataCommand(spec.full_name) == nullptr) {
    out.Error(absl::StrCat("ERR TESSERA.INGROUP runs keyless data commands only, not '",
                           spec.full_name, "'"));
    Finish(slot, std::move(reply));
    return;
  }
  if (StartTransactionCommand(c, slot, seq, spec, argv, out) ||
      StartWatchCommand(c, slot, seq, spec, argv, out)) {
    Finish(slot, std::move(reply));
    return;
  }
  if (slot.command == CommandId::kData) return;  // EXEC or WATCH proposed
  if (StartPubSubCommand(c, spec, argv, &reply)) {
    Finish(slot, std::move(reply));
    return;
  }
  if (spec.full_name == "reset") {
    c.watched.clear();
    c.watch_group = 0;
    pubsub_.RemoveClient(c.id);
  }
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
  // Nothing ran between Admissible and here: its resolution still holds.
  absl::StatusOr<DataDispatch> dispatch =
      admitted.has_value() ? *std::move(admitted) : ResolveDataCommand(argv, r.in_group);
  if (!dispatch.ok() && r.in_group == 0 && IsSplittable(argv) &&
      StartSplitCommand(c, slot, seq, spec, argv, out)) {
    if (!reply.empty()) Finish(slot, std::move(reply));
    return;
  }
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
    const bool blocking = spec.flags.Has(routing::CommandFlag::kBlocking);
    if (blocking || BlockingInProgress()) {
      // Waking parked commands needs the keys a write touched.
      absl::StatusOr<std::vector<size_t>> keys = routing::GetKeys(spec, argv);
      if (keys.ok()) {
        for (size_t k : *keys) slot.keys.push_back(argv[k]);
      }
    }
    if (blocking) {
      slot.blocking = true;
      double seconds = 0;
      if (absl::SimpleAtod(absl::string_view(argv.back()), &seconds) && seconds > 0) {
        slot.deadline_ms = uv_now(&loop_) + static_cast<uint64_t>(seconds * 1000);
      }
      slot.argv = argv;
      c.blocked = true;
      blocking_inflight_.insert({c.id, seq});
    }
    ++c.inflight[slot.group].writes;
    driver_->ProposeCommand(slot.group, EncodeCommand(views), c.session.protocol,
                            ReplyCompletionFor(c, seq));
  } else {
    slot.argv = std::move(argv);
    ++c.inflight[slot.group].reads;
    Read(slot.group, c, seq);
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
      name != "watch" && name != "quit" && name != "reset") {
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
      c.watched.clear();
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
  // EXEC ends the watch, whatever its outcome.
  std::vector<std::pair<std::string, uint64_t>> watched = std::move(c.watched);
  c.watched.clear();
  if (failed) {
    out.Error("EXECABORT Transaction discarded because of previous errors.");
    return true;
  }
  if (queued.empty() && watched.empty()) {
    out.ArrayHeader(0);
    return true;
  }
  // One group for the whole transaction: it becomes one raft entry of that group.
  std::optional<DataDispatch> target;
  if (!watched.empty()) {
    target = DataDispatch{data::FindDataCommand(data::kExecWatchCommand), c.watch_group,
                          routing::SlotForKey(watched.front().first)};
  }
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
  std::vector<std::string> indexes;
  if (!watched.empty()) {
    exec = {data::kExecWatchCommand};
    indexes.reserve(watched.size() + 1);
    indexes.push_back(absl::StrCat(watched.size()));
    exec.push_back(indexes.back());
    for (const auto& [key, index] : watched) {
      indexes.push_back(absl::StrCat(index));
      exec.push_back(key);
      exec.push_back(indexes.back());
    }
  }
  exec.insert(exec.end(), blobs.begin(), blobs.end());
  slot.command = CommandId::kData;
  slot.data = data::FindDataCommand(exec.front());
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
  if (slot.ready) return;
  Inflight& in = c.inflight[slot.group];
  if (slot.access == Access::kRead || slot.access == Access::kReadWrite) --in.reads;
  if (slot.access == Access::kWrite || slot.access == Access::kReadWrite) --in.writes;
  if (in.reads == 0 && in.writes == 0) c.inflight.erase(slot.group);
  if (!status.ok()) {
    if (slot.blocking) c.blocked = false;
    Finish(slot, ErrorReply(status, slot));
    return;
  }
  if (slot.command != CommandId::kData || slot.data == nullptr) {
    Finish(slot, ErrorReply(absl::InternalError("unexpected completion"), slot));
    return;
  }
  if (slot.watch) {
    uint64_t index = 0;
    if (reply.size() < 4 || reply[0] != ':' ||
        !absl::SimpleAtoi(absl::string_view(reply).substr(1, reply.size() - 3), &index)) {
      Finish(slot, reply[0] == '-' ? std::move(reply)
                                   : ErrorReply(absl::InternalError("bad WATCH reply"), slot));
      return;
    }
    if (slot.watch_index_reply) {  // a shared connection: the gateway keeps the watch
      Finish(slot, std::move(reply));
      return;
    }
    c.watch_group = slot.group;
    for (std::string& key : slot.keys) c.watched.emplace_back(std::move(key), index);
    reply.clear();
    data::RespReply(slot.protocol, &reply).Ok();
    Finish(slot, std::move(reply));
    return;
  }
  // A blocking command that found nothing changed nothing (and must not wake the others,
  // which would wake it again).
  const bool would_block = slot.blocking && (reply == "*-1\r\n" || reply == "_\r\n");
  if (slot.data->write && !parked_.empty() && !would_block) {
    // A transaction may touch any key of its group.
    const bool transaction =
        slot.data->name == data::kExecCommand || slot.data->name == data::kExecWatchCommand;
    Wake(slot.group, transaction ? std::vector<std::string>() : slot.keys);
  }
  if (slot.blocking) {
    if (would_block && (slot.deadline_ms == 0 || uv_now(&loop_) < slot.deadline_ms)) {
      Park(c, slot, seq);
      return;
    }
    c.blocked = false;
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

bool RedisServer::Loop::StartWatchCommand(Client& c, Slot& slot, uint64_t seq,
                                          const routing::CommandSpec& spec,
                                          const std::vector<std::string>& argv,
                                          data::RespReply& out) {
  if (spec.full_name == "unwatch") {
    c.watched.clear();
    out.Ok();
    return true;
  }
  if (spec.full_name != "watch") return false;
  return ProposeWatch(c, slot, seq, argv, /*index_reply=*/false, out);
}

bool RedisServer::Loop::ProposeWatch(Client& c, Slot& slot, uint64_t seq,
                                     const std::vector<std::string>& argv, bool index_reply,
                                     data::RespReply& out) {
  if (c.session.in_multi) {
    out.Error(index_reply ? "ERR TESSERA.WATCHINDEX inside MULTI is not allowed"
                          : "ERR WATCH inside MULTI is not allowed");
    return true;
  }
  // Every watched key in one group: EXEC checks them in that group's log.
  const uint16_t first_slot = routing::SlotForKey(argv[1]);
  const GroupId group = table_.GroupForSlot(first_slot);
  for (size_t i = 1; i < argv.size(); ++i) {
    if (table_.GroupForSlot(routing::SlotForKey(argv[i])) != group ||
        (!index_reply && !c.watched.empty() && c.watch_group != group)) {
      out.Error(routing::kCrossSlotError);
      return true;
    }
  }
  std::vector<std::string_view> watch = {data::kWatchCommand};
  watch.insert(watch.end(), argv.begin() + 1, argv.end());
  slot.command = CommandId::kData;
  slot.data = data::FindDataCommand(data::kWatchCommand);
  slot.group = group;
  slot.slot = first_slot;
  slot.protocol = c.session.protocol;
  slot.access = Access::kWrite;
  slot.watch = true;
  slot.watch_index_reply = index_reply;
  slot.keys.assign(argv.begin() + 1, argv.end());
  ++c.inflight[group].writes;
  driver_->ProposeCommand(group, EncodeCommand(watch), c.session.protocol,
                          ReplyCompletionFor(c, seq));
  return false;
}

bool RedisServer::Loop::StartSharedWatchCommand(Client& c, Slot& slot, uint64_t seq,
                                                const std::vector<std::string>& argv,
                                                data::RespReply& out) {
  if (data::EqualsIgnoreCase(argv[0], kWatchIndexCommand)) {
    if (argv.size() < 2) {
      out.Error("ERR wrong number of arguments for 'tessera.watchindex' command");
      return true;
    }
    return ProposeWatch(c, slot, seq, argv, /*index_reply=*/true, out);
  }
  if (argv.size() < 3 || argv.size() % 2 == 0) {
    out.Error("ERR wrong number of arguments for 'tessera.watched' command");
    return true;
  }
  if (c.session.in_multi) {
    out.Error("ERR TESSERA.WATCHED inside MULTI is not allowed");
    return true;
  }
  std::vector<std::pair<std::string, uint64_t>> watched;
  const GroupId group = table_.GroupForSlot(routing::SlotForKey(argv[1]));
  for (size_t i = 1; i + 1 < argv.size(); i += 2) {
    uint64_t index = 0;
    if (!absl::SimpleAtoi(argv[i + 1], &index) || index == 0) {
      out.Error("ERR TESSERA.WATCHED: a watch index is a positive integer");
      return true;
    }
    if (table_.GroupForSlot(routing::SlotForKey(argv[i])) != group) {
      out.Error(routing::kCrossSlotError);
      return true;
    }
    watched.emplace_back(argv[i], index);
  }
  c.watched = std::move(watched);
  c.watch_group = group;
  out.Ok();
  return true;
}

void RedisServer::Loop::Park(Client& c, Slot& slot, uint64_t seq) {
  const SlotRef ref{c.id, seq};
  Parked& p = parked_[ref];
  p.group = slot.group;
  p.deadline_ms = slot.deadline_ms;
  p.keys = slot.keys;
  if (absl::StatusOr<GroupStatus> st = driver_->Status(slot.group); st.ok()) p.term = st->term;
  for (const std::string& key : p.keys) {
    std::vector<SlotRef>& waiters = parked_by_key_[key];
    if (std::find(waiters.begin(), waiters.end(), ref) == waiters.end()) waiters.push_back(ref);
  }
  ArmBlockTimer();
}

void RedisServer::Loop::Unpark(uint64_t client, uint64_t seq) {
  auto it = parked_.find({client, seq});
  if (it == parked_.end()) return;
  for (const std::string& key : it->second.keys) {
    auto waiters = parked_by_key_.find(key);
    if (waiters == parked_by_key_.end()) continue;
    std::erase(waiters->second, SlotRef{client, seq});
    if (waiters->second.empty()) parked_by_key_.erase(waiters);
  }
  parked_.erase(it);
}

void RedisServer::Loop::Retry(uint64_t client, uint64_t seq) {
  Unpark(client, seq);
  auto it = clients_.find(client);
  if (it == clients_.end() || it->second->closing) return;
  Client& c = *it->second;
  Slot* found = FindSlot(c, seq);
  if (found == nullptr) return;
  Slot& slot = *found;
  std::vector<std::string_view> views(slot.argv.begin(), slot.argv.end());
  ++c.inflight[slot.group].writes;
  blocking_inflight_.insert({client, seq});
  retrying_.insert({client, seq});
  driver_->ProposeCommand(slot.group, EncodeCommand(views), slot.protocol,
                          ReplyCompletionFor(c, seq));
}

void RedisServer::Loop::Wake(GroupId group, const std::vector<std::string>& keys) {
  std::vector<SlotRef> woken;
  if (keys.empty()) {
    for (const auto& [ref, p] : parked_) {
      if (p.group == group) woken.push_back(ref);
    }
  } else {
    for (const std::string& key : keys) {
      auto it = parked_by_key_.find(key);
      if (it == parked_by_key_.end()) continue;
      for (const SlotRef& ref : it->second) {
        if (std::find(woken.begin(), woken.end(), ref) == woken.end()) woken.push_back(ref);
      }
    }
  }
  // In parking order: the first to park proposes first and gets the first element.
  for (const SlotRef& ref : woken) Retry(ref.first, ref.second);
}

void RedisServer::Loop::OnBlockTimer(uv_timer_t* handle) {
  static_cast<Loop*>(handle->data)->ExpireParked();
}

void RedisServer::Loop::ExpireParked() {
  const uint64_t now = uv_now(&loop_);
  std::vector<SlotRef> timed_out;
  std::vector<SlotRef> moved;
  absl::flat_hash_map<GroupId, std::optional<GroupStatus>> status;
  for (const auto& [ref, p] : parked_) {
    if (p.deadline_ms != 0 && p.deadline_ms <= now) {
      timed_out.push_back(ref);
      continue;
    }
    auto [st, inserted] = status.try_emplace(p.group);
    if (inserted) {
      absl::StatusOr<GroupStatus> s = driver_->Status(p.group);
      if (s.ok()) st->second = *s;
    }
    // Another term or no longer leader: propose again, which answers MOVED or re-parks.
    if (!st->second.has_value() || st->second->term != p.term ||
        st->second->role != raft::Role::kLeader) {
      moved.push_back(ref);
    }
  }
  for (const SlotRef& ref : timed_out) {
    Unpark(ref.first, ref.second);
    auto it = clients_.find(ref.first);
    if (it == clients_.end() || it->second->closing) continue;
    Client& c = *it->second;
    Slot* found = FindSlot(c, ref.second);
    if (found == nullptr) continue;
    Slot& slot = *found;
    std::string reply;
    data::RespReply(slot.protocol, &reply).NullArray();
    c.blocked = false;
    Finish(slot, std::move(reply));
    Pump(c);
  }
  for (const SlotRef& ref : moved) Retry(ref.first, ref.second);
  ArmBlockTimer();
}

void RedisServer::Loop::ArmBlockTimer() {
  if (parked_.empty()) {
    uv_timer_stop(&block_timer_);
    return;
  }
  // The earliest deadline, and at least once a second to notice a leadership change.
  const uint64_t now = uv_now(&loop_);
  uint64_t next = now + 1000;
  for (const auto& [ref, p] : parked_) {
    if (p.deadline_ms != 0) next = std::min(next, std::max(p.deadline_ms, now));
  }
  uv_timer_start(&block_timer_, &Loop::OnBlockTimer, next - now, 0);
}

bool RedisServer::Loop::IsSplittable(const std::vector<std::string>& argv) const {
  using routing::MultiKeyPolicy;
  absl::StatusOr<const routing::CommandSpec*> spec = routing::ResolveCommand(argv);
  if (!spec.ok() || data::FindDataCommand((*spec)->full_name) == nullptr) return false;
  switch ((*spec)->policy) {
    case MultiKeyPolicy::kSplitConcat:
    case MultiKeyPolicy::kSplitSum:
    case MultiKeyPolicy::kSplitAllOk: {
      absl::StatusOr<std::vector<size_t>> keys = routing::GetKeys(**spec, argv);
      if (!keys.ok() || keys->empty()) return false;
      const GroupId first = table_.GroupForSlot(routing::SlotForKey(argv[keys->front()]));
      for (size_t k : *keys) {
        if (table_.GroupForSlot(routing::SlotForKey(argv[k])) != first) return true;
      }
      return false;
    }
    case MultiKeyPolicy::kAllGroupsConcat:
    case MultiKeyPolicy::kAllGroupsSum:
    case MultiKeyPolicy::kAllGroupsAllOk:
    case MultiKeyPolicy::kAllGroupsAnyKey:
      return options_.groups.size() > 1;
    default:
      return false;
  }
}

bool RedisServer::Loop::StartSplitCommand(Client& c, Slot& slot, uint64_t seq,
                                          const routing::CommandSpec& spec,
                                          const std::vector<std::string>& argv,
                                          data::RespReply& out) {
  using routing::MultiKeyPolicy;
  const data::DataCommand* command = data::FindDataCommand(spec.full_name);
  if (spec.policy == MultiKeyPolicy::kAllGroupsConcat ||
      spec.policy == MultiKeyPolicy::kAllGroupsSum ||
      spec.policy == MultiKeyPolicy::kAllGroupsAllOk ||
      spec.policy == MultiKeyPolicy::kAllGroupsAnyKey) {
    // The whole command, once per hosted group.
    for (GroupId g : options_.groups) slot.parts.push_back(Slot::Part{g, 0, argv, {}, {}, {}});
    slot.random = static_cast<size_t>(seq + c.id);
    return StartParts(c, slot, seq, spec, *command, out);
  }
  if (spec.policy != MultiKeyPolicy::kSplitConcat && spec.policy != MultiKeyPolicy::kSplitSum &&
      spec.policy != MultiKeyPolicy::kSplitAllOk) {
    return false;
  }
  absl::StatusOr<std::vector<size_t>> keys = routing::GetKeys(spec, argv);
  if (!keys.ok()) return false;
  std::map<GroupId, size_t> part_of;
  for (size_t i = 0; i < keys->size(); ++i) {
    const size_t k = (*keys)[i];
    const uint16_t key_slot = routing::SlotForKey(argv[k]);
    const GroupId group = table_.GroupForSlot(key_slot);
    auto [it, inserted] = part_of.try_emplace(group, slot.parts.size());
    if (inserted) {
      slot.parts.push_back(Slot::Part{group, key_slot, {argv[0]}, {}, {}, {}});
    }
    Slot::Part& part = slot.parts[it->second];
    part.argv.push_back(argv[k]);
    if (spec.policy == MultiKeyPolicy::kSplitAllOk) part.argv.push_back(argv[k + 1]);  // MSET
    part.positions.push_back(i);
  }
  return StartParts(c, slot, seq, spec, *command, out);
}

bool RedisServer::Loop::StartParts(Client& c, Slot& slot, uint64_t seq,
                                   const routing::CommandSpec& spec,
                                   const data::DataCommand& command, data::RespReply& out) {
  // Only a leader of every group may answer for all of them at once.
  for (const Slot::Part& part : slot.parts) {
    absl::StatusOr<GroupStatus> st = driver_->Status(part.group);
    if (!st.ok() || st->role != raft::Role::kLeader) {
      const bool keyless = slot.parts.front().positions.empty();
      slot.parts.clear();
      if (keyless) {
        out.Error(absl::StrCat("ERR '", spec.full_name,
                               "' covers every group of the cluster; send it through a gateway"));
        return true;
      }
      out.Error(absl::StrCat(std::string(routing::kCrossSlotError),
                             " (its keys are in groups this node does not all lead: send it "
                             "through a gateway)"));
      return true;
    }
  }
  slot.command = CommandId::kData;
  slot.data = &command;
  slot.policy = spec.policy;
  slot.protocol = c.session.protocol;
  slot.access = command.write ? Access::kWrite : Access::kRead;
  slot.group = slot.parts.front().group;
  slot.slot = slot.parts.front().slot;
  slot.parts_pending = slot.parts.size();
  for (size_t i = 0; i < slot.parts.size(); ++i) {
    const Slot::Part& part = slot.parts[i];
    if (command.write) {
      ++c.inflight[part.group].writes;
      std::vector<std::string_view> views(part.argv.begin(), part.argv.end());
      driver_->ProposeCommand(part.group, EncodeCommand(views), slot.protocol,
                              ReplyCompletionFor(c, seq, i));
    } else {
      ++c.inflight[part.group].reads;
      Read(part.group, c, seq, i);
    }
  }
  return true;
}

void RedisServer::Loop::ContinuePart(Client& c, Slot& slot, size_t index, absl::Status status,
                                     std::string reply) {
  if (slot.ready || index >= slot.parts.size()) return;
  Slot::Part& part = slot.parts[index];
  Inflight& in = c.inflight[part.group];
  if (slot.access == Access::kRead) --in.reads;
  if (slot.access == Access::kWrite) --in.writes;
  if (in.reads == 0 && in.writes == 0) c.inflight.erase(part.group);
  if (status.ok() && !slot.data->write) {
    std::vector<std::string_view> views(part.argv.begin(), part.argv.end());
    data::RespReply out(slot.protocol, &reply);
    status = driver_->kv().ExecuteRead(part.group, *slot.data, views, out);
  }
  part.status = std::move(status);
  part.reply = std::move(reply);
  if (--slot.parts_pending == 0) {
    std::string merged = MergeParts(slot);
    slot.parts.clear();
    Finish(slot, std::move(merged));
  }
}

std::string RedisServer::Loop::MergeParts(Slot& slot) const {
  for (const Slot::Part& part : slot.parts) {
    if (!part.status.ok()) {
      slot.group = part.group;  // MOVED and TRYAGAIN name the part's group
      slot.slot = part.slot;
      return ErrorReply(part.status, slot);
    }
    if (part.reply.empty() || part.reply[0] == '-') return part.reply;
  }
  std::string merged;
  data::RespReply out(slot.protocol, &merged);
  switch (slot.policy) {
    case routing::MultiKeyPolicy::kSplitSum:
    case routing::MultiKeyPolicy::kAllGroupsSum: {
      int64_t sum = 0;
      for (const Slot::Part& part : slot.parts) {
        int64_t n = 0;
        const absl::string_view text(part.reply);
        if (text.size() < 4 || text[0] != ':' ||
            !absl::SimpleAtoi(text.substr(1, text.size() - 3), &n)) {
          return ErrorReply(absl::InternalError("unexpected reply of a split command"), slot);
        }
        sum += n;
      }
      out.Integer(sum);
      return merged;
    }
    case routing::MultiKeyPolicy::kSplitAllOk:
    case routing::MultiKeyPolicy::kAllGroupsAllOk:
      out.Ok();
      return merged;
    case routing::MultiKeyPolicy::kAllGroupsAnyKey:
      // RANDOMKEY: a key of the group the seq picks, else of the next group that has one.
      for (size_t i = 0; i < slot.parts.size(); ++i) {
        const Slot::Part& part = slot.parts[(i + slot.random) % slot.parts.size()];
        if (part.reply[0] == '$' && part.reply[1] != '-') return part.reply;
      }
      return slot.parts.front().reply;  // every group is empty: its nil
    case routing::MultiKeyPolicy::kAllGroupsConcat: {
      // KEYS: every group's array, one after another.
      size_t total = 0;
      std::string body;
      for (const Slot::Part& part : slot.parts) {
        std::string_view rest(part.reply);
        const size_t header_end = rest.find("\r\n");
        int64_t n = 0;
        if (rest.empty() || rest[0] != '*' || header_end == std::string_view::npos ||
            !absl::SimpleAtoi(absl::string_view(rest.data() + 1, header_end - 1), &n) || n < 0) {
          return ErrorReply(absl::InternalError("unexpected reply of a split command"), slot);
        }
        total += static_cast<size_t>(n);
        body.append(rest.substr(header_end + 2));
      }
      out.ArrayHeader(total);
      merged.append(body);
      return merged;
    }
    case routing::MultiKeyPolicy::kSplitConcat: {
      // Each part is an array of one element per key of its group: put them back in key order.
      size_t total = 0;
      for (const Slot::Part& part : slot.parts) total += part.positions.size();
      std::vector<std::string_view> elements(total);
      for (const Slot::Part& part : slot.parts) {
        std::string_view rest(part.reply);
        const size_t header_end = rest.find("\r\n");
        if (rest.empty() || rest[0] != '*' || header_end == std::string_view::npos) {
          return ErrorReply(absl::InternalError("unexpected reply of a split command"), slot);
        }
        rest.remove_prefix(header_end + 2);
        for (size_t position : part.positions) {
          common::resp::Value value;
          absl::StatusOr<size_t> n = common::resp::ReadReply(rest, &value);
          if (!n.ok() || *n == 0) {
            return ErrorReply(absl::InternalError("unexpected reply of a split command"), slot);
          }
          elements[position] = rest.substr(0, *n);
          rest.remove_prefix(*n);
        }
      }
      out.ArrayHeader(total);
      for (std::string_view e : elements) merged.append(e);
      return merged;
    }
    default:
      return ErrorReply(absl::InternalError("not a split command"), slot);
  }
}

bool RedisServer::Loop::StartPubSubCommand(Client& c, const routing::CommandSpec& spec,
                                           const std::vector<std::string>& argv,
                                           std::string* reply) {
  const std::string& name = spec.full_name;
  const int protocol = c.session.protocol;
  common::resp::ReplyWriter w(
      reply, protocol == 3 ? common::resp::Protocol::kResp3 : common::resp::Protocol::kResp2);
  const std::span<const std::string> names(argv.begin() + 1, argv.end());
  if (name == "ping") {
    if (protocol != 2 || pubsub_.SubscriptionCount(c.id) == 0 || argv.size() > 2) return false;
    w.ArrayHeader(2);
    w.Bulk("pong");
    w.Bulk(argv.size() == 2 ? std::string_view(argv[1]) : std::string_view());
    return true;
  }
  if (name == "subscribe" || name == "psubscribe") {
    if (pubsub_.SubscriptionCount(c.id) + names.size() > options_.max_subscriptions) {
      w.Error(absl::StrCat("ERR max number of subscriptions per client (",
                           options_.max_subscriptions, ") reached"));
      return true;
    }
    if (name == "psubscribe") {
      // Patterns need no leader: they hear what this node's leaders publish.
      pubsub_.PSubscribe(c.id, names, protocol, reply);
      return true;
    }
    for (const std::string& channel : names) {
      if (!LeadsChannel(channel, reply)) return true;
    }
    pubsub_.Subscribe(c.id, names, protocol, reply);
    return true;
  }
  if (name == "unsubscribe") {
    pubsub_.Unsubscribe(c.id, names, protocol, reply);
    return true;
  }
  if (name == "punsubscribe") {
    pubsub_.PUnsubscribe(c.id, names, protocol, reply);
    return true;
  }
  if (name == "publish") {
    if (!LeadsChannel(argv[1], reply)) return true;
    std::string own;  // a RESP3 publisher's own subscriptions hear it before the reply
    std::vector<Client*> receivers;
    for (const common::PubSubRegistry::Receiver& r : pubsub_.Receivers(argv[1])) {
      auto it = clients_.find(r.client);
      if (it == clients_.end() || it->second->closing) continue;
      Client& to = *it->second;
      std::string message = common::PubSubMessage(to.session.protocol, r.pattern, argv[1], argv[2]);
      if (&to == &c) {
        own.append(message);
      } else {
        Deliver(to, std::move(message));
      }
      receivers.push_back(&to);
    }
    reply->append(own);
    w.Integer(static_cast<int64_t>(receivers.size()));
    for (Client* to : receivers) {
      if (to != &c) Flush(*to);
    }
    return true;
  }
  if (spec.container == nullptr || spec.container->name != "pubsub") return false;
  if (name == "pubsub|channels") {
    if (argv.size() > 3) {
      w.Error(absl::StrCat("ERR unknown subcommand or wrong number of arguments for '", argv[1],
                           "'. Try PUBSUB HELP."));
      return true;
    }
    const std::vector<std::string> channels =
        pubsub_.ActiveChannels(argv.size() == 3 ? &argv[2] : nullptr);
    w.ArrayHeader(channels.size());
    for (const std::string& channel : channels) w.Bulk(channel);
  } else if (name == "pubsub|numsub") {
    w.ArrayHeader(2 * (argv.size() - 2));
    for (size_t i = 2; i < argv.size(); ++i) {
      w.Bulk(argv[i]);
      w.Integer(static_cast<int64_t>(pubsub_.NumSub(argv[i])));
    }
  } else if (name == "pubsub|numpat") {
    w.Integer(static_cast<int64_t>(pubsub_.NumPat()));
  } else {
    static constexpr std::string_view kHelp[] = {
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "HELP",
        "    Prints this help."};
    w.ArrayHeader(std::size(kHelp));
    for (std::string_view line : kHelp) w.SimpleString(line);
  }
  return true;
}

bool RedisServer::Loop::LeadsChannel(std::string_view channel, std::string* error) const {
  Slot where;
  where.slot = routing::SlotForKey(channel);
  where.group = table_.GroupForSlot(where.slot);
  absl::StatusOr<GroupStatus> st = driver_->Status(where.group);
  if (!st.ok()) {
    error->append(ErrorReply(st.status(), where));
    return false;
  }
  if (st->role != raft::Role::kLeader) {
    error->append(ErrorReply(NotLeaderError(where.group, st->leader), where));
    return false;
  }
  return true;
}

void RedisServer::Loop::Deliver(Client& c, std::string message) {
  if (c.closing) return;
  const size_t queued =
      uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&c.handle)) +
      c.push_bytes + message.size();
  if (queued > options_.max_pubsub_output) {
    spdlog::warn("redis: client {} closed: {} bytes of Pub/Sub output unsent (limit {})", c.id,
                 queued, options_.max_pubsub_output);
    CloseClient(c);
    return;
  }
  c.push_bytes += message.size();
  Slot& slot = c.slots.emplace_back();
  slot.ready = true;
  slot.push = true;
  slot.reply = std::move(message);
}

void RedisServer::Loop::DropLostChannels() {
  if (pubsub_.channels().empty()) return;
  absl::flat_hash_map<GroupId, bool> leads;
  std::set<uint64_t> lost;
  for (const auto& [channel, subscribers] : pubsub_.channels()) {
    const GroupId group = table_.GroupForSlot(routing::SlotForKey(channel));
    auto [it, inserted] = leads.try_emplace(group, false);
    if (inserted) {
      absl::StatusOr<GroupStatus> st = driver_->Status(group);
      it->second = st.ok() && st->role == raft::Role::kLeader;
    }
    if (!it->second) lost.insert(subscribers.begin(), subscribers.end());
  }
  for (uint64_t id : lost) {
    auto it = clients_.find(id);
    if (it == clients_.end() || it->second->closing) continue;
    spdlog::info(
        "redis: client {} closed: this node no longer leads the group of a channel it "
        "subscribed to",
        id);
    CloseClient(*it->second);
  }
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
    // The live configuration names members added at runtime; the declaration only the
    // bootstrap voters.
    std::string raft_address;
    if (absl::StatusOr<ClusterConfiguration> conf = driver_->Configuration(slot.group); conf.ok()) {
      for (const Server& s : conf->servers) {
        if (s.node_id == leader) raft_address = s.address;
      }
    }
    if (raft_address.empty()) {
      if (auto it = options_.members.find(slot.group); it != options_.members.end()) {
        for (const Server& s : it->second) {
          if (s.node_id == leader) raft_address = s.address;
        }
      }
    }
    const std::string redis_address =
        raft_address.empty() ? std::string() : redis_addresses_->Lookup(raft_address);
    if (redis_address.empty()) {
      common::resp::ReplyWriter(&reply).Error("TRYAGAIN leader redis address unknown");
    } else {
      common::resp::ReplyWriter(&reply).Error(
          absl::StrCat("MOVED ", slot.slot, " ", redis_address));
    }
    return reply;
  }
  // Encryption (spec/encryption.md §7): a retryable missing key, or an integrity failure that
  // never returns data.
  if (std::optional<std::string> enc = encryption::EncryptionErrorReply(status, slot.group)) {
    common::resp::ReplyWriter(&reply).Error(*enc);
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
  listener.clients.blocked = parked_.size() + retrying_.size();
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
  stats_.pubsub_channels = pubsub_.channels().size();
  stats_.pubsub_patterns = pubsub_.NumPat();
  const InfoSections selected = SelectInfoSections(sections);
  return RenderInfo(selected, GatherInfo(selected, *driver_, options_.groups, listener));
}

bool RedisServer::Loop::Flush(Client& c) {
  if (c.closing) return false;
  std::string out;
  size_t n = 0;
  bool close_after = false;
  while (n < c.slots.size() && c.slots[n].ready) {
    if (c.slots[n].push) c.push_bytes -= c.slots[n].reply.size();
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
  // Mostly the socket takes it all at once: written here, without a write request (libuv
  // re-registers the socket with epoll after each request it completes).
  uv_buf_t whole = uv_buf_init(out.data(), static_cast<unsigned int>(out.size()));
  const int written = uv_try_write(reinterpret_cast<uv_stream_t*>(&c.handle), &whole, 1);
  if (written < 0 && written != UV_EAGAIN) {
    CloseClient(c);
    return true;
  }
  if (written > 0) {
    if (static_cast<size_t>(written) == out.size()) return true;
    out.erase(0, static_cast<size_t>(written));
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
  Loop* self = c->loop;
  std::vector<SlotRef> parked;
  for (auto it = self->parked_.lower_bound({c->id, 0});
       it != self->parked_.end() && it->first.first == c->id; ++it) {
    parked.push_back(it->first);
  }
  for (const SlotRef& ref : parked) self->Unpark(ref.first, ref.second);
  // Here rather than in CloseClient: PUBLISH and the leadership sweep close clients while they
  // walk the registry.
  self->pubsub_.RemoveClient(c->id);
  self->clients_.erase(c->id);
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
