// The gateway's event loops: client sessions (parse, route, reply in order), upstream pools of
// hiredis async connections on the same loop, retries after MOVED, TRYAGAIN and lost
// connections within a budget, per-request deadlines, and the per-thread leader cache.
#include "gateway/server.h"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cassert>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/metrics.h"
#include "common/pubsub.h"
#include "common/resp.h"
#include "gateway/command_plan.h"
#include "gateway/hiredis_libuv.h"
#include "gateway/local_commands.h"
#include "gateway/proxy_protocol.h"
#include "gateway/resp3.h"
#include "gateway/upstream_reply.h"
#include "routing/slot.h"
#include "spdlog/spdlog.h"

namespace tessera::gateway {
namespace {

using Clock = std::chrono::steady_clock;

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr std::chrono::milliseconds kTick{50};  // deadlines, idle clients, drain checks
constexpr std::chrono::milliseconds kBackoffMax{500};
constexpr std::chrono::milliseconds kReconnectMax{2000};
constexpr int kMaxImmediateMoves = 8;  // MOVED followed at once; later ones back off
constexpr size_t kReadBufferBytes = size_t{64} << 10;
// Commands at least this long are forwarded from the input buffer they arrived in (zero-copy
// in the gateway; hiredis copies once into its output buffer). Shorter ones are copied: a
// small command must not pin a whole read buffer while it waits for its shard.
constexpr size_t kBorrowBytes = size_t{16} << 10;
// Pub/Sub: channels plus patterns one client may hold (the shard's limit per connection), names
// per upstream (P)SUBSCRIBE, and how often every subscription is checked against the leaders.
constexpr size_t kMaxSubscriptions = 100'000;
constexpr size_t kSubscribeBatch = 512;
constexpr int kSubscriptionSweepTicks = 20;

// Reconnect delays, to shards and subscriber links alike: 50 ms, doubling up to kReconnectMax.
std::chrono::milliseconds NextReconnectDelay(std::chrono::milliseconds last) {
  return last.count() == 0 ? std::chrono::milliseconds(50) : std::min(last * 2, kReconnectMax);
}

absl::StatusOr<sockaddr_in> ParseIpv4(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not host:port"));
  }
  sockaddr_in addr{};
  if (uv_ip4_addr(address.substr(0, colon).c_str(), port, &addr) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "': not an IPv4 address"));
  }
  return addr;
}

struct Metrics {
  common::Family<common::Counter>& commands;
  common::Family<common::Counter>& retries;
  common::Counter* moved;
  common::Counter* budget_exhausted;
  common::Counter* connections;
  common::Counter* rejected;
  common::Gauge* clients;
  common::Gauge* topology_version;
  common::Gauge* upstream_connections;
  common::Counter* upstream_connects;
  common::Counter* upstream_failures;
  common::Histogram* latency;
  common::Histogram* upstream_latency;
  common::Family<common::Counter>& leader_unmapped;

  static Metrics& Get() {
    static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                 0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                 1,      2.5,     5,      10};
    common::Registry& r = common::DefaultRegistry();
    static Metrics m{
        r.AddCounter("tessera_gateway_commands_total", "Client commands by name and outcome",
                     {"command", "outcome"}),
        r.AddCounter("tessera_gateway_retries_total", "Upstream attempts retried, by reason",
                     {"reason"}),
        r.AddCounter("tessera_gateway_moved_total", "MOVED replies followed").Get(),
        r.AddCounter("tessera_gateway_retry_budget_exhausted_total",
                     "Commands answered with an error because --retryBudgetMs (or the request "
                     "deadline) ran out while retrying")
            .Get(),
        r.AddCounter("tessera_gateway_connections_total", "Client connections accepted").Get(),
        r.AddCounter("tessera_gateway_rejected_connections_total",
                     "Client connections refused by --maxclients")
            .Get(),
        r.AddGauge("tessera_gateway_connected_clients", "Open client connections").Get(),
        r.AddGauge("tessera_gateway_topology_version", "Routing table version in use").Get(),
        r.AddGauge("tessera_gateway_upstream_connections", "Open connections to shards").Get(),
        r.AddCounter("tessera_gateway_upstream_connects_total", "Connections to shards opened")
            .Get(),
        r.AddCounter("tessera_gateway_upstream_failures_total",
                     "Connections to shards that failed or were closed")
            .Get(),
        r.AddHistogram("tessera_gateway_command_duration_seconds",
                       "Command latency at the gateway, arrival to reply ready", {}, kBuckets)
            .Get(),
        r.AddHistogram("tessera_gateway_upstream_duration_seconds",
                       "One upstream attempt, sent to reply", {}, kBuckets)
            .Get(),
        r.AddCounter("tessera_gateway_leader_unmapped_total",
                     "Leaders whose raft address has no Redis address (membership.md §6)",
                     {"group"}),
    };
    // Every retry reason exported from the start at 0, so increase() and rate() see the first
    // retry of each kind.
    static const bool reasons_exported = [] {
      for (const char* reason : {"moved", "tryagain", "connection", "no_leader", "topology"}) {
        m.retries.WithLabels({reason});
      }
      return true;
    }();
    (void)reasons_exported;
    return m;
  }
};

}  // namespace

class Gateway::Worker {
 public:
  Worker(Gateway* gateway, size_t index) : gw_(gateway), index_(index), m_(Metrics::Get()) {}

  absl::Status Bind(const std::string& address, int* port);
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void RequestStop(std::chrono::milliseconds drain) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_requested_ = true;
      drain_deadline_ = Clock::now() + drain;
    }
    uv_async_send(&wake_);
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  void Wake() { uv_async_send(&wake_); }

 private:
  struct Client;
  struct Request;
  struct Pool;
  struct Conn;

  // One upstream send: what the reply completes. Owned by hiredis's callback list.
  struct Call {
    Request* req;
    size_t part;
    bool last;  // a transaction sends MULTI, commands, EXEC: only EXEC's reply counts
    Conn* conn;
    Clock::time_point sent;
    bool timed_out = false;
  };

  struct PartState {
    std::unique_ptr<UpstreamReply> reply;
    std::string error;  // a reply made here (budget exhausted, outcome unknown)
    int attempts = 0;
    int moves = 0;
    bool done = false;
    std::string last_error;  // the last retried error, given when the budget runs out
  };

  struct Request {
    Client* client = nullptr;
    const routing::CommandSpec* spec = nullptr;
    CommandPlan plan;
    std::vector<std::string> transaction;      // MULTI, queued commands, EXEC (else empty)
    std::vector<std::string> watch_keys;       // WATCH: the reply is their watch index
    std::shared_ptr<const std::string> input;  // the buffer borrowed plan parts point into
    absl::InlinedVector<PartState, 1> parts;
    size_t parts_left = 0;
    Resp3Shape shape = Resp3Shape::kAsIs;
    bool retry_safe = false;
    bool budget_exhausted = false;  // a part gave up retrying: counted once at Complete
    Clock::time_point start;
    Clock::time_point deadline;
    Clock::time_point budget_end;
    bool ready = false;
    bool close_after = false;
    bool push = false;  // a Pub/Sub message (counts in Client::push_bytes until written)
    // (P)SUBSCRIBE: the reply (confirmations) waits until the shards confirmed these.
    std::vector<std::string> sub_channels;
    std::vector<std::string> sub_patterns;
    std::string reply;  // client bytes once ready
  };

  struct Client {
    Worker* w = nullptr;
    uint64_t id = 0;
    uv_tcp_t handle{};
    std::string peer;
    // Unparsed input that outlived the read that brought it: (*in)[in_start, in_len). Shared
    // with the requests that borrowed a command from it (then never written again).
    std::shared_ptr<std::string> in;
    size_t in_start = 0;
    size_t in_len = 0;
    bool parsing = false;            // ParseFrom is on the stack: do not re-enter it
    bool proxy_pending = false;      // --proxyProtocol: the PROXY header is still to come
    bool close_after_write = false;  // QUIT, protocol error: close once the reply is out
    std::unique_ptr<common::resp::RequestParser> parser;
    std::deque<std::unique_ptr<Request>> pending;  // reply order
    Session session;
    bool reading = false;
    bool closing = false;
    bool handle_closed = false;
    size_t outstanding = 0;  // calls in flight, retries scheduled, a flush scheduled
    bool flush_scheduled = false;
    size_t write_backlog = 0;           // bytes handed to uv_write, not yet written
    size_t push_bytes = 0;              // Pub/Sub messages queued in `pending`
    std::vector<Request*> sub_waiting;  // (P)SUBSCRIBEs waiting for the shards' confirmation
    Clock::time_point last_activity;
  };

  // Pub/Sub (docs/gateway.md): one subscriber connection per shard node and thread carries the
  // union of the thread's clients' subscriptions (kept in pubsub_); what it brings is fanned
  // out to the subscribed clients. Not hiredis async: hiredis 0.14 drops an error reply to a
  // SUBSCRIBE (MOVED) in subscribed mode, so the link is a libuv stream read with hiredis's
  // reader.
  struct SubLink {
    Worker* w = nullptr;
    std::string address;
    uv_tcp_t handle{};
    uv_connect_t connect_req{};
    redisReader* reader = nullptr;
    bool connected = false;
    bool closed = false;  // uv_close called: deleted by its callback
    std::string unsent;   // commands written once connected
    std::string read_buffer;
    // Each (P)(UN)SUBSCRIBE sent, oldest first: the shard confirms each name, or refuses the
    // whole command with one error.
    struct Sent {
      bool pattern;
      bool subscribe;
      std::vector<std::string> names;
      size_t left;  // confirmations still to come
    };
    std::deque<Sent> sent;
    // Names subscribed here (sent), and those the shard confirmed.
    std::set<std::string, std::less<>> channels, patterns;
    std::set<std::string, std::less<>> confirmed_channels, confirmed_patterns;
  };

  struct Conn {
    Pool* pool = nullptr;
    redisAsyncContext* ac = nullptr;
    bool connected = false;
    std::deque<Call*> inflight;    // mirrors hiredis's reply callbacks, oldest first
    bool write_scheduled = false;  // in Worker::unwritten_
    uv_timer_t reconnect{};
    std::chrono::milliseconds backoff{0};
    bool reconnect_pending = false;
  };

  struct Pool {
    Worker* w = nullptr;
    std::string address;
    std::string host;
    int port = 0;
    std::vector<std::unique_ptr<Conn>> conns;
  };

  struct Retry {
    Request* req;
    size_t part;
  };

  void Run();
  static void OnWake(uv_async_t* handle);
  static void OnTick(uv_timer_t* handle);
  static void OnRetryTimer(uv_timer_t* handle);
  // Once per loop iteration, after I/O: sends the shard commands and the client replies of the
  // iteration in one write per connection.
  static void OnCheck(uv_check_t* handle);
  void ScheduleFlush(Client& c);
  static void OnConnection(uv_stream_t* server, int status);
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnClientClosed(uv_handle_t* handle);

  void RefreshView();
  void StartStopping();
  void FinishStop();
  bool Drained() const;

  // Clients.
  // Parses and starts commands from data[0, len), which lies in `owner`; returns the bytes
  // consumed.
  size_t ParseFrom(Client& c, char* data, size_t len, const std::shared_ptr<std::string>& owner);
  void ParseBuffered(Client& c);
  // Makes c.in the client's own buffer (not shared with any request) holding the unparsed
  // input at its start, with room for at least `need` bytes in all.
  void OwnInput(Client& c, size_t need);
  void CheckInputLimits(Client& c);
  void StartCommand(Client& c, routing::ArgvRef argv, std::string_view raw, bool inline_cmd,
                    const std::shared_ptr<std::string>& owner);
  void StartTransactionCommand(Client& c, Request& r, routing::ArgvRef argv);
  // WATCH: TESSERA.WATCHINDEX to the keys' group; Complete keeps the answered watch point.
  void StartWatch(Client& c, Request& r, routing::ArgvRef argv);
  void QueueInMulti(Client& c, Request& r, routing::ArgvRef argv, std::string_view raw);
  void Forward(Request& r);
  void FinishLocal(Request& r, std::string bytes, bool close_after = false);
  void FinishPart(Request& r, size_t part, std::unique_ptr<UpstreamReply> reply, std::string error);
  void Complete(Request& r);
  void Flush(Client& c);
  void CloseClient(Client& c);
  void MaybeDestroy(Client* c);
  void ResumeReading(Client& c);
  LocalContext ContextFor(Client& c);
  std::string InfoText();
  std::string ClientList();
  int KillClients(std::string_view field, std::string_view value);
  void CountCommand(const routing::CommandSpec* spec, bool ok);

  // Pub/Sub through the gateway.
  // Answers the (P)(UN)SUBSCRIBE family, and PING and the refusals of a subscribed RESP2
  // client; false for other commands.
  bool StartPubSubCommand(Client& c, Request& r, routing::ArgvRef argv);
  // Brings the subscriber links in line with pubsub_ and the leaders: unsubscribes what nobody
  // wants or what another node leads now, subscribes each channel at its group's leader and
  // every pattern on every leader, closes links left empty, then answers the (P)SUBSCRIBEs
  // whose names are confirmed (or whose deadline passed).
  void ReconcileSubscriptions();
  void AnswerSettledSubscribes(Clock::time_point now);
  bool Settled(const Request& r);
  std::string ChannelLeader(std::string_view channel);
  std::set<std::string> LeaderAddresses();
  SubLink* LinkFor(const std::string& address);
  // No subscriber link to `address` for the next reconnect delay.
  void BackOff(const std::string& address);
  void SendSubscription(SubLink& link, bool pattern, bool subscribe,
                        const std::vector<std::string>& names);
  void WriteLink(SubLink& link, std::string bytes);
  void CloseLink(SubLink& link, std::string_view why);
  void HandleLinkReply(SubLink& link, const redisReply& reply);
  void Deliver(const std::string* pattern, std::string_view channel, std::string_view payload);
  void Push(Client& c, std::string bytes);
  static void OnLinkConnect(uv_connect_t* req, int status);
  static void OnLinkAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnLinkRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

  // Upstream.
  std::string LeaderAddress(routing::GroupId group);
  Pool& PoolFor(const std::string& address);
  void Connect(Conn& conn);
  void ScheduleReconnect(Conn& conn);
  static void OnReconnectTimer(uv_timer_t* handle);
  static void OnConnect(const redisAsyncContext* ac, int status);
  static void OnDisconnect(const redisAsyncContext* ac, int status);
  static void OnReply(redisAsyncContext* ac, void* reply, void* privdata);
  void SendPart(Request& r, size_t part);
  void HandleReply(Call* call, UpstreamReply* reply);
  void RetryLater(Request& r, size_t part, std::string reason_error, const char* reason,
                  std::chrono::milliseconds delay);
  void ArmRetryTimer();
  void CheckDeadlines(Clock::time_point now);

  Gateway* const gw_;
  const size_t index_;
  Metrics& m_;
  std::thread thread_;
  uv_loop_t loop_{};
  uv_tcp_t listener_{};
  uv_async_t wake_{};
  uv_timer_t tick_{};
  uv_timer_t retry_timer_{};
  uv_check_t check_{};
  std::vector<Client*> unflushed_;  // clients with replies to write at OnCheck
  std::vector<Conn*> unwritten_;    // shard connections with commands to write at OnCheck
  bool listening_ = false;
  // Reads land here when the client has no unparsed input: complete commands are parsed in
  // place and only a partial tail is copied into the client's own buffer. A command of
  // kBorrowBytes or more is forwarded from the buffer it arrived in without a copy (its request
  // shares the buffer); a shared buffer is never read into again: the next read takes a new one.
  std::shared_ptr<std::string> read_buffer_ = std::make_shared<std::string>(kReadBufferBytes, '\0');
  bool read_buffer_lent_ = false;

  std::mutex mu_;  // guards stop_requested_ and drain_deadline_
  bool stop_requested_ = false;
  Clock::time_point drain_deadline_;

  // Loop thread only.
  bool stopping_ = false;
  bool stopped_ = false;
  std::shared_ptr<const ClusterView> view_;
  struct Leader {
    std::string address;
    uint64_t term = 0;
  };
  std::map<routing::GroupId, Leader> leaders_;
  absl::flat_hash_map<std::string, std::unique_ptr<Pool>> pools_;
  absl::flat_hash_map<uint64_t, Client*> clients_;
  std::multimap<Clock::time_point, Retry> retries_;
  absl::flat_hash_map<const routing::CommandSpec*, std::pair<common::Counter*, common::Counter*>>
      command_counters_;
  std::mt19937_64 rng_{std::random_device{}()};

  // Pub/Sub (loop thread only).
  common::PubSubRegistry pubsub_;
  absl::flat_hash_map<std::string, SubLink*> sub_links_;  // by the node's Redis address
  struct LinkBackoff {
    Clock::time_point until;
    std::chrono::milliseconds delay{0};
  };
  absl::flat_hash_map<std::string, LinkBackoff> sub_backoff_;  // nodes that failed lately
  std::set<uint64_t> sub_waiting_clients_;  // clients with an unanswered (P)SUBSCRIBE
  bool sub_dirty_ = false;                  // reconcile at the end of this loop iteration
  int sub_sweep_ticks_ = 0;
};

absl::Status Gateway::Worker::Bind(const std::string& address, int* port) {
  // The loop and its handles first: a worker whose bind fails still starts and stops cleanly.
  uv_loop_init(&loop_);
  loop_.data = this;
  uv_async_init(&loop_, &wake_, &OnWake);
  wake_.data = this;
  uv_timer_init(&loop_, &tick_);
  tick_.data = this;
  uv_timer_init(&loop_, &retry_timer_);
  retry_timer_.data = this;
  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_check_start(&check_, &OnCheck);
  absl::StatusOr<sockaddr_in> addr = ParseIpv4(address);
  if (!addr.ok()) return addr.status();
  if (*port != 0) addr->sin_port = htons(static_cast<uint16_t>(*port));
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  const int one = 1;
  // Every thread binds the same address; the kernel spreads connections over them.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot bind ", address, ": ", strerror(err)));
  }
  if (*port == 0) {
    sockaddr_in bound{};
    socklen_t len = sizeof(bound);
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    *port = ntohs(bound.sin_port);
  }
  uv_tcp_init(&loop_, &listener_);
  listener_.data = this;
  listening_ = true;  // closed by StartStopping from here on
  if (int rc = uv_tcp_open(&listener_, fd); rc != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("uv_tcp_open: ", uv_strerror(rc)));
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 1024, &OnConnection);
      rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, ": ", uv_strerror(rc)));
  }
  return absl::OkStatus();
}

void Gateway::Worker::Run() {
  RefreshView();
  uv_timer_start(&tick_, &OnTick, kTick.count(), kTick.count());
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void Gateway::Worker::OnWake(uv_async_t* handle) {
  auto* w = static_cast<Worker*>(handle->data);
  bool stop;
  {
    std::lock_guard<std::mutex> lk(w->mu_);
    stop = w->stop_requested_;
  }
  if (stop && !w->stopping_) w->StartStopping();
  if (!w->stopping_) w->RefreshView();
}

void Gateway::Worker::RefreshView() {
  std::shared_ptr<const ClusterView> view = gw_->view();
  if (view == nullptr || view == view_) return;
  view_ = std::move(view);
  sub_dirty_ = true;  // leaders may have moved
  m_.topology_version->Set(static_cast<double>(view_->version()));
  // A MOVED hint stays until the topology reports a newer term for the group (or a leader
  // where the cache has none): a lagging topology must not undo a fresher redirect.
  for (routing::GroupId g : view_->groups()) {
    const GroupView* gv = view_->group(g);
    // Created at 0 for every group the topology names (exported before the first miss).
    common::Counter* unmapped = m_.leader_unmapped.WithLabels({absl::StrCat(g)});
    if (gv->leader_unmapped) unmapped->Inc();
    Leader& l = leaders_[g];
    if (gv->term > l.term || l.address.empty()) {
      if (!gv->leader_redis.empty() || gv->term > l.term) l.address = gv->leader_redis;
      l.term = gv->term;
    }
  }
}

std::string Gateway::Worker::LeaderAddress(routing::GroupId group) {
  auto it = leaders_.find(group);
  return it == leaders_.end() ? std::string() : it->second.address;
}

// ---- clients ----

void Gateway::Worker::OnConnection(uv_stream_t* server, int status) {
  auto* w = static_cast<Worker*>(server->data);
  if (status < 0 || w->stopping_) return;
  auto* c = new Client();
  c->w = w;
  uv_tcp_init(&w->loop_, &c->handle);
  c->handle.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->handle)) != 0) {
    c->handle_closed = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle),
             [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
    return;
  }
  uv_tcp_nodelay(&c->handle, 1);
  sockaddr_storage peer{};
  int len = sizeof(peer);
  if (uv_tcp_getpeername(&c->handle, reinterpret_cast<sockaddr*>(&peer), &len) == 0 &&
      peer.ss_family == AF_INET) {
    char ip[INET_ADDRSTRLEN] = {0};
    const auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
    uv_ip4_name(in, ip, sizeof(ip));
    c->peer = absl::StrCat(ip, ":", ntohs(in->sin_port));
  }
  c->id = w->gw_->next_client_id_.fetch_add(1);
  common::resp::Limits limits;
  limits.max_bulk_length = w->gw_->options_.max_bulk_length;
  limits.max_query_buffer_length = w->gw_->options_.max_query_buffer;
  c->parser = std::make_unique<common::resp::RequestParser>(limits);
  c->session.authenticated = w->gw_->options_.requirepass.empty();
  c->proxy_pending = w->gw_->options_.proxy_protocol;
  c->last_activity = Clock::now();
  w->m_.connections->Inc();
  if (w->gw_->clients_.fetch_add(1) >= w->gw_->options_.max_clients) {
    w->gw_->clients_.fetch_sub(1);
    w->m_.rejected->Inc();
    // As Redis: the error, then the connection closes.
    auto* req = new uv_write_t;
    static const char kMsg[] = "-ERR max number of clients reached\r\n";
    uv_buf_t buf = uv_buf_init(const_cast<char*>(kMsg), sizeof(kMsg) - 1);
    req->data = nullptr;
    uv_write(req, reinterpret_cast<uv_stream_t*>(&c->handle), &buf, 1,
             [](uv_write_t* r, int) { delete r; });
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle),
             [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
    return;
  }
  w->m_.clients->Add(1);
  w->clients_[c->id] = c;
  c->reading = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle), &OnAlloc, &OnRead);
}

void Gateway::Worker::OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  auto* c = static_cast<Client*>(handle->data);
  Worker* w = c->w;
  if (c->in_start == c->in_len && !w->read_buffer_lent_) {
    if (w->read_buffer_.use_count() > 1) {
      w->read_buffer_ = std::make_shared<std::string>(kReadBufferBytes, '\0');
    }
    w->read_buffer_lent_ = true;
    *buf = uv_buf_init(w->read_buffer_->data(), static_cast<unsigned>(w->read_buffer_->size()));
    return;
  }
  // A bulk in progress reserves what it still needs (bounded per read).
  const size_t want = std::min<size_t>(std::max<size_t>(suggested, c->parser->bulk_bytes_missing()),
                                       size_t{16} << 20);
  w->OwnInput(*c, c->in_len - c->in_start + want);
  *buf = uv_buf_init(c->in->data() + c->in_len, static_cast<unsigned>(want));
}

void Gateway::Worker::OwnInput(Client& c, size_t need) {
  const size_t tail = c.in_len - c.in_start;
  if (c.in == nullptr || c.in.use_count() > 1) {
    auto fresh = std::make_shared<std::string>(std::max(need, tail), '\0');
    if (tail > 0) std::memcpy(fresh->data(), c.in->data() + c.in_start, tail);
    c.in = std::move(fresh);
  } else if (c.in_start > 0) {
    std::memmove(c.in->data(), c.in->data() + c.in_start, tail);
  }
  c.in_start = 0;
  c.in_len = tail;
  if (c.in->size() < need) c.in->resize(need);
}

void Gateway::Worker::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Client*>(stream->data);
  Worker* w = c->w;
  const bool shared = buf->base == w->read_buffer_->data();
  if (shared) w->read_buffer_lent_ = false;
  if (nread < 0) {
    w->CloseClient(*c);
    return;
  }
  if (nread == 0) return;
  c->last_activity = Clock::now();
  const size_t n = static_cast<size_t>(nread);
  if (shared) {
    const size_t consumed = w->ParseFrom(*c, buf->base, n, w->read_buffer_);
    if (consumed < n && !c->closing) {
      w->OwnInput(*c, n - consumed);
      std::memcpy(c->in->data(), buf->base + consumed, n - consumed);
      c->in_len = n - consumed;
    }
  } else {
    c->in_len += n;
    w->ParseBuffered(*c);
  }
  if (!c->closing) w->CheckInputLimits(*c);
}

void Gateway::Worker::ParseBuffered(Client& c) {
  if (c.in_start == c.in_len) return;
  std::shared_ptr<std::string> owner = c.in;
  c.in_start += ParseFrom(c, owner->data() + c.in_start, c.in_len - c.in_start, owner);
  owner.reset();
  if (c.in_start == c.in_len) {
    c.in_start = c.in_len = 0;
    // An idle client keeps no big buffer (10,000 idle clients must stay small), nor one that
    // requests still share.
    if (c.in != nullptr && (c.in->size() > kReadBufferBytes || c.in.use_count() > 1)) {
      c.in.reset();
    }
  }
}

size_t Gateway::Worker::ParseFrom(Client& c, char* data, size_t len,
                                  const std::shared_ptr<std::string>& owner) {
  const GatewayOptions& o = gw_->options_;
  size_t consumed = 0;
  if (c.proxy_pending) {
    ProxyHeader header;
    std::string error;
    switch (ParseProxyHeader(std::string_view(data, len), &header, &error)) {
      case ProxyParse::kNeedMore:
        return 0;  // buffered until the header is whole (bounded by its maximum size)
      case ProxyParse::kError:
        spdlog::warn("client {}: {}; closing", c.peer, error);
        CloseClient(c);
        return len;
      case ProxyParse::kDone:
        c.proxy_pending = false;
        if (!header.source.empty()) c.peer = std::move(header.source);
        consumed = header.length;
        break;
    }
  }
  c.parsing = true;
  while (!c.closing && !c.close_after_write && c.pending.size() < o.max_pending_commands &&
         !c.parser->failed()) {
    std::span<char> input(data + consumed, len - consumed);
    const common::resp::RequestParser::Status st = c.parser->Parse(input);
    if (st == common::resp::RequestParser::Status::kNeedMore) {
      consumed += c.parser->consumed();
      break;
    }
    if (st == common::resp::RequestParser::Status::kError) {
      auto r = std::make_unique<Request>();
      r->client = &c;
      r->start = Clock::now();
      std::string bytes;
      common::resp::ReplyWriter(&bytes).Error(c.parser->error());
      c.pending.push_back(std::move(r));
      consumed = len;  // nothing after a protocol error is read
      FinishLocal(*c.pending.back(), std::move(bytes), /*close_after=*/true);
      break;
    }
    const std::span<const std::string_view> argv = c.parser->argv();
    const size_t used = c.parser->consumed();
    StartCommand(c, absl::MakeConstSpan(argv.data(), argv.size()), c.parser->raw_command(),
                 c.parser->inline_command(), owner);
    consumed += used;
  }
  c.parsing = false;
  return consumed;
}

void Gateway::Worker::CheckInputLimits(Client& c) {
  const GatewayOptions& o = gw_->options_;
  common::resp::Limits limits;
  limits.max_query_buffer_length = o.max_query_buffer;
  if (absl::Status s = common::resp::CheckQueryBufferLimit(c.in_len - c.in_start, limits);
      !s.ok()) {
    spdlog::warn("closing client {} ({}): {}", c.id, c.peer, std::string(s.message()));
    CloseClient(c);
    return;
  }
  if (c.pending.size() >= o.max_pending_commands && c.reading) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.handle));
    c.reading = false;
  }
}

void Gateway::Worker::ResumeReading(Client& c) {
  const GatewayOptions& o = gw_->options_;
  if (c.closing || c.reading || c.parsing || c.close_after_write || c.parser->failed()) return;
  if (c.pending.size() >= o.max_pending_commands || c.write_backlog > o.max_output_buffer / 4) {
    return;
  }
  ParseBuffered(c);  // commands already buffered first
  if (c.closing || c.close_after_write) return;
  CheckInputLimits(c);
  if (c.closing || c.pending.size() >= o.max_pending_commands) return;
  c.reading = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c.handle), &OnAlloc, &OnRead);
}

LocalContext Gateway::Worker::ContextFor(Client& c) {
  LocalContext ctx;
  ctx.id = c.id;
  ctx.peer = c.peer;
  ctx.requirepass = gw_->options_.requirepass;
  ctx.info = [this] { return InfoText(); };
  ctx.client_list = [this] { return ClientList(); };
  ctx.kill = [this](std::string_view f, std::string_view v) { return KillClients(f, v); };
  return ctx;
}

void Gateway::Worker::StartCommand(Client& c, routing::ArgvRef argv, std::string_view raw,
                                   bool inline_cmd, const std::shared_ptr<std::string>& owner) {
  auto owned = std::make_unique<Request>();
  Request& r = *owned;
  r.client = &c;
  r.start = Clock::now();
  r.deadline = r.start + gw_->options_.request_timeout;
  r.budget_end = r.start + gw_->options_.retry_budget;
  c.pending.push_back(std::move(owned));
  if (inline_cmd) raw = {};  // re-encoded as multibulk
  absl::StatusOr<const routing::CommandSpec*> resolved = routing::ResolveCommand(argv);
  std::string bytes;
  common::resp::ReplyWriter w(&bytes, c.session.protocol);
  if (!resolved.ok()) {
    if (c.session.in_multi) c.session.multi_failed = true;
    w.Error(std::string(resolved.status().message()));
    CountCommand(nullptr, false);
    FinishLocal(r, std::move(bytes));
    return;
  }
  const routing::CommandSpec& spec = **resolved;
  r.spec = &spec;
  if (!c.session.authenticated && !spec.flags.Has(routing::CommandFlag::kNoAuth)) {
    w.Error("NOAUTH Authentication required.");
    FinishLocal(r, std::move(bytes));
    return;
  }
  if (StartPubSubCommand(c, r, argv)) return;
  const std::string_view name = spec.container != nullptr ? spec.container->name : spec.name;
  if (c.session.in_multi && name != "exec" && name != "discard" && name != "multi" &&
      name != "quit" && name != "reset" && name != "watch") {
    QueueInMulti(c, r, argv, raw);
    return;
  }
  if (spec.policy == routing::MultiKeyPolicy::kTransaction) {
    StartTransactionCommand(c, r, argv);
    return;
  }
  if (spec.policy == routing::MultiKeyPolicy::kLocal) {
    LocalOutcome out = RunLocalCommand(spec, argv, ContextFor(c), &c.session, &bytes);
    if (spec.name == "reset" && pubsub_.SubscriptionCount(c.id) > 0) {
      pubsub_.RemoveClient(c.id);  // silently, as Redis's RESET
      sub_dirty_ = true;
    }
    if (out != LocalOutcome::kForward) {
      FinishLocal(r, std::move(bytes), out == LocalOutcome::kClose);
      return;
    }
    // TIME, CONFIG, COMMAND: any shard answers from the same table; the default group's
    // leader is the one most likely connected already.
    r.plan.route = Route::kGroup;
    r.plan.policy = spec.policy;
    PlanPart part;
    part.group = view_ != nullptr ? view_->default_group() : 0;
    if (spec.name == "publish" && view_ != nullptr) {
      // A channel is served by the leader of its slot's group (docs/gateway.md, Pub/Sub).
      part.slot = routing::SlotForKey(argv[1]);
      part.group = view_->table().GroupForSlot(part.slot);
    }
    part.command = raw.empty() ? EncodeCommand(argv) : std::string(raw);
    r.plan.parts.push_back(std::move(part));
  } else {
    static const routing::RoutingTable kEmpty;
    static const std::vector<routing::GroupId> kNoGroups;
    // A large command is forwarded from the client's buffer: the request shares it.
    const bool borrow = owner != nullptr && raw.size() >= kBorrowBytes;
    r.plan = PlanCommand(spec, argv, raw, view_ != nullptr ? view_->table() : kEmpty,
                         view_ != nullptr ? view_->groups() : kNoGroups, borrow);
    if (borrow) r.input = owner;
    if (r.plan.route == Route::kError && view_ == nullptr) {
      w.Error("CLUSTERDOWN the gateway has not learned the cluster topology yet");
      FinishLocal(r, std::move(bytes));
      return;
    }
    if (r.plan.route == Route::kError) {
      w.Error(r.plan.error);
      FinishLocal(r, std::move(bytes));
      return;
    }
  }
  r.shape = c.session.protocol == common::resp::Protocol::kResp3 ? ShapeFor(spec, argv)
                                                                 : Resp3Shape::kAsIs;
  // Only a command that changes nothing may go again after it may have been applied: even a
  // plain SET sent twice can land on both sides of another client's write, which no single
  // point in time explains (the chaos suite caught it).
  r.retry_safe = spec.flags.Has(routing::CommandFlag::kReadonly) ||
                 (!spec.flags.Has(routing::CommandFlag::kWrite) && spec.name != "publish");
  Forward(r);
}

void Gateway::Worker::QueueInMulti(Client& c, Request& r, routing::ArgvRef argv,
                                   std::string_view raw) {
  std::string bytes;
  common::resp::ReplyWriter w(&bytes, c.session.protocol);
  Session& s = c.session;
  const routing::CommandSpec& spec = *r.spec;
  routing::GroupId group = 0;
  if (spec.policy != routing::MultiKeyPolicy::kLocal) {
    if (view_ == nullptr) {
      s.multi_failed = true;
      w.Error("CLUSTERDOWN the gateway has not learned the cluster topology yet");
      FinishLocal(r, std::move(bytes));
      return;
    }
    CommandPlan plan = PlanCommand(spec, argv, raw, view_->table(), view_->groups());
    if (plan.route == Route::kError || plan.route == Route::kSplit) {
      s.multi_failed = true;
      w.Error(plan.route == Route::kError ? plan.error : std::string(routing::kCrossSlotError));
      FinishLocal(r, std::move(bytes));
      return;
    }
    if (plan.route == Route::kAllGroups && view_->groups().size() > 1) {
      s.multi_failed = true;
      w.Error(absl::StrCat("ERR '", spec.full_name,
                           "' covers every group and cannot run inside MULTI through the gateway"));
      FinishLocal(r, std::move(bytes));
      return;
    }
    if (plan.route == Route::kTransaction) {
      s.multi_failed = true;
      w.Error(absl::StrCat("ERR '", spec.full_name, "' inside MULTI is not allowed"));
      FinishLocal(r, std::move(bytes));
      return;
    }
    if (!plan.parts.empty() && plan.parts[0].slot >= 0) group = plan.parts[0].group;
  }
  if (group != 0 && s.multi_group != 0 && group != s.multi_group) {
    s.multi_failed = true;
    w.Error(routing::kCrossSlotError);
    FinishLocal(r, std::move(bytes));
    return;
  }
  if (group != 0) s.multi_group = group;
  s.queued.push_back(raw.empty() ? EncodeCommand(argv) : std::string(raw));
  w.SimpleString("QUEUED");
  FinishLocal(r, std::move(bytes));
}

void Gateway::Worker::StartTransactionCommand(Client& c, Request& r, routing::ArgvRef argv) {
  (void)argv;
  std::string bytes;
  common::resp::ReplyWriter w(&bytes, c.session.protocol);
  Session& s = c.session;
  const std::string_view name = r.spec->name;
  if (name == "multi") {
    if (s.in_multi) {
      w.Error("ERR MULTI calls can not be nested");
    } else {
      s.in_multi = true;
      s.multi_failed = false;
      s.queued.clear();
      s.multi_group = 0;
      w.SimpleString("OK");
    }
    FinishLocal(r, std::move(bytes));
    return;
  }
  if (name == "discard") {
    if (!s.in_multi) {
      w.Error("ERR DISCARD without MULTI");
    } else {
      s.in_multi = false;
      s.queued.clear();
      s.watched.clear();  // DISCARD ends the watch, as in Redis
      w.SimpleString("OK");
    }
    FinishLocal(r, std::move(bytes));
    return;
  }
  if (name == "unwatch") {
    s.watched.clear();
    w.SimpleString("OK");
    FinishLocal(r, std::move(bytes));
    return;
  }
  if (name == "watch") {
    StartWatch(c, r, argv);
    return;
  }
  // EXEC.
  if (!s.in_multi) {
    w.Error("ERR EXEC without MULTI");
    FinishLocal(r, std::move(bytes));
    return;
  }
  std::vector<std::string> queued = std::move(s.queued);
  const bool failed = s.multi_failed;
  routing::GroupId group = s.multi_group;
  // A pipelined WATCH ... EXEC: the watch point is not known yet, and EXEC cannot wait for
  // it here. Discarding is safe; clients read WATCH's reply before MULTI anyway.
  const bool watch_unanswered = s.watches_in_flight > 0;
  // EXEC ends the watch, whatever its outcome.
  std::vector<std::pair<std::string, uint64_t>> watched = std::move(s.watched);
  const routing::GroupId watch_group = s.watch_group;
  s.in_multi = false;
  s.multi_failed = false;
  s.queued.clear();
  s.multi_group = 0;
  s.watched.clear();
  if (failed) {
    w.Error("EXECABORT Transaction discarded because of previous errors.");
    FinishLocal(r, std::move(bytes));
    return;
  }
  if (watch_unanswered) {
    w.Error(
        "EXECABORT Transaction discarded: a WATCH of this client is not answered yet (read "
        "WATCH's reply before sending EXEC through the gateway)");
    FinishLocal(r, std::move(bytes));
    return;
  }
  if (queued.empty() && watched.empty()) {
    w.ArrayHeader(0);
    FinishLocal(r, std::move(bytes));
    return;
  }
  if (!watched.empty()) {
    if (group != 0 && group != watch_group) {
      w.Error(routing::kCrossSlotError);
      FinishLocal(r, std::move(bytes));
      return;
    }
    group = watch_group;
    // The watch points go back to the leader right before MULTI, on the same connection:
    // its EXEC aborts (nil) when a write to a watched key was applied after them.
    std::vector<std::string> words = {"TESSERA.WATCHED"};
    for (auto& [key, index] : watched) {
      words.push_back(std::move(key));
      words.push_back(absl::StrCat(index));
    }
    r.transaction.push_back(
        EncodeCommand(std::vector<std::string_view>(words.begin(), words.end())));
  }
  // MULTI, the commands and EXEC leave back to back on one connection of the group's leader,
  // so no other client's command lands inside; the shard applies them as one entry.
  r.transaction.push_back(EncodeCommand(std::vector<std::string_view>{"MULTI"}));
  for (std::string& q : queued) r.transaction.push_back(std::move(q));
  r.transaction.push_back(EncodeCommand(std::vector<std::string_view>{"EXEC"}));
  r.plan.route = Route::kGroup;
  r.plan.policy = routing::MultiKeyPolicy::kTransaction;
  PlanPart part;
  part.group = group != 0 ? group : (view_ != nullptr ? view_->default_group() : 0);
  r.plan.parts.push_back(std::move(part));
  r.retry_safe = false;
  Forward(r);
}

void Gateway::Worker::StartWatch(Client& c, Request& r, routing::ArgvRef argv) {
  std::string bytes;
  common::resp::ReplyWriter w(&bytes, c.session.protocol);
  Session& s = c.session;
  if (s.in_multi) {
    w.Error("ERR WATCH inside MULTI is not allowed");
    FinishLocal(r, std::move(bytes));
    return;
  }
  if (view_ == nullptr) {
    w.Error("CLUSTERDOWN the gateway has not learned the cluster topology yet");
    FinishLocal(r, std::move(bytes));
    return;
  }
  // Every watched key in one group: EXEC is checked in that group's log.
  const int first_slot = routing::SlotForKey(argv[1]);
  const routing::GroupId group = view_->table().GroupForSlot(first_slot);
  std::vector<std::string_view> words = {"TESSERA.WATCHINDEX"};
  for (size_t i = 1; i < argv.size(); ++i) {
    if (view_->table().GroupForSlot(routing::SlotForKey(argv[i])) != group ||
        (!s.watched.empty() && s.watch_group != group)) {
      w.Error(routing::kCrossSlotError);
      FinishLocal(r, std::move(bytes));
      return;
    }
    words.push_back(argv[i]);
    r.watch_keys.emplace_back(argv[i]);
  }
  if (group == 0) {
    w.Error(absl::StrCat("CLUSTERDOWN Hash slot not served"));
    FinishLocal(r, std::move(bytes));
    return;
  }
  r.plan.route = Route::kGroup;
  r.plan.policy = routing::MultiKeyPolicy::kTransaction;
  PlanPart part;
  part.group = group;
  part.slot = first_slot;
  part.command = EncodeCommand(words);
  r.plan.parts.push_back(std::move(part));
  // A watch entry sent again only moves the watch point later, to a moment that still lies
  // between the client's WATCH and its reply.
  r.retry_safe = true;
  ++s.watches_in_flight;
  Forward(r);
}

void Gateway::Worker::Forward(Request& r) {
  r.parts.resize(r.plan.parts.size());
  r.parts_left = r.plan.parts.size();
  for (size_t i = 0; i < r.plan.parts.size(); ++i) SendPart(r, i);
}

void Gateway::Worker::FinishLocal(Request& r, std::string bytes, bool close_after) {
  r.reply = std::move(bytes);
  r.ready = true;
  r.close_after = close_after;
  if (r.spec != nullptr) CountCommand(r.spec, r.reply.empty() || r.reply[0] != '-');
  if (close_after) {
    Flush(*r.client);  // QUIT, protocol error: stops reading and parsing at once
  } else {
    ScheduleFlush(*r.client);
  }
}

void Gateway::Worker::CountCommand(const routing::CommandSpec* spec, bool ok) {
  auto [it, inserted] = command_counters_.try_emplace(spec);
  if (inserted) {
    const std::string name = spec != nullptr ? spec->full_name : "unknown";
    it->second = {m_.commands.WithLabels({name, "ok"}), m_.commands.WithLabels({name, "error"})};
  }
  (ok ? it->second.first : it->second.second)->Inc();
}

void Gateway::Worker::FinishPart(Request& r, size_t part, std::unique_ptr<UpstreamReply> reply,
                                 std::string error) {
  PartState& p = r.parts[part];
  if (p.done) return;
  p.done = true;
  p.reply = std::move(reply);
  p.error = std::move(error);
  if (--r.parts_left == 0) Complete(r);
}

void Gateway::Worker::Complete(Request& r) {
  if (r.budget_exhausted) m_.budget_exhausted->Inc();
  if (!r.watch_keys.empty() && r.client->session.watches_in_flight > 0) {
    --r.client->session.watches_in_flight;
  }
  if (!r.watch_keys.empty() && r.parts.size() == 1 && r.parts[0].reply != nullptr) {
    // TESSERA.WATCHINDEX answered the watch point: the session keeps it, the client gets OK.
    const std::string& bytes = r.parts[0].reply->bytes;
    uint64_t index = 0;
    if (bytes.size() > 3 && bytes[0] == ':' &&
        absl::SimpleAtoi(absl::string_view(bytes).substr(1, bytes.size() - 3), &index)) {
      Session& s = r.client->session;
      s.watch_group = r.plan.parts[0].group;
      for (std::string& key : r.watch_keys) s.watched.emplace_back(std::move(key), index);
      r.parts[0].reply->bytes = "+OK\r\n";
    }
  }
  if (r.plan.route == Route::kGroup && r.parts.size() == 1 && r.parts[0].reply != nullptr &&
      r.transaction.empty() &&
      (r.client->session.protocol == common::resp::Protocol::kResp2 ||
       r.shape == Resp3Shape::kAsIs)) {
    // One shard's reply, as it came: the reply bytes move to the client unchanged, unless a
    // RESP3 client needs a null or an aggregate reshaped.
    std::string& bytes = r.parts[0].reply->bytes;
    const bool resp3_plain =
        !bytes.empty() && (bytes[0] == '+' || bytes[0] == '-' || bytes[0] == ':' ||
                           (bytes[0] == '$' && bytes.size() > 1 && bytes[1] != '-'));
    if (r.client->session.protocol == common::resp::Protocol::kResp2 || resp3_plain) {
      const bool ok = bytes.empty() || bytes[0] != '-';
      r.reply = std::move(bytes);
      r.parts.clear();
      r.ready = true;
      CountCommand(r.spec, ok);
      m_.latency->Observe(std::chrono::duration<double>(Clock::now() - r.start).count());
      ScheduleFlush(*r.client);
      return;
    }
  }
  std::vector<PartReply> replies(r.parts.size());
  for (size_t i = 0; i < r.parts.size(); ++i) {
    PartState& p = r.parts[i];
    PartReply& out = replies[i];
    if (p.reply == nullptr) {
      out.bytes = p.error;
      out.type = '-';
      continue;
    }
    const UpstreamReply& u = *p.reply;
    out.bytes = u.bytes;
    out.type = u.bytes.empty() ? 0 : u.bytes[0];
    out.integer = u.integer();
    out.nil = u.type() == REDIS_REPLY_NIL;
    for (size_t e = 0; e < u.elements.size(); ++e) out.elements.push_back(u.Element(e));
  }
  const std::string merged = MergeReplies(r.plan, replies, rng_());
  r.reply.clear();
  RenderReply(merged, r.client->session.protocol, r.shape, &r.reply);
  r.parts.clear();
  r.ready = true;
  CountCommand(r.spec, merged.empty() || merged[0] != '-');
  m_.latency->Observe(std::chrono::duration<double>(Clock::now() - r.start).count());
  ScheduleFlush(*r.client);
}

void Gateway::Worker::ScheduleFlush(Client& c) {
  if (c.flush_scheduled || c.closing) return;
  c.flush_scheduled = true;
  ++c.outstanding;  // released by OnCheck
  unflushed_.push_back(&c);
}

void Gateway::Worker::OnCheck(uv_check_t* handle) {
  auto* w = static_cast<Worker*>(handle->data);
  if (w->sub_dirty_ && !w->stopped_) w->ReconcileSubscriptions();
  std::vector<Conn*> conns;
  conns.swap(w->unwritten_);
  for (Conn* conn : conns) {
    conn->write_scheduled = false;
    if (conn->ac != nullptr && conn->connected) WriteBufferedCommands(conn->ac);
  }
  // Replies may schedule more flushes (a closed client's callbacks): loop until none is left.
  while (!w->unflushed_.empty()) {
    std::vector<Client*> clients;
    clients.swap(w->unflushed_);
    for (Client* c : clients) {
      c->flush_scheduled = false;
      --c->outstanding;
      if (c->closing) {
        w->MaybeDestroy(c);
        continue;
      }
      w->Flush(*c);
    }
  }
}

void Gateway::Worker::Flush(Client& c) {
  if (c.closing || c.close_after_write) return;
  // Every ready reply in order, each written from its own buffer (one writev, no
  // concatenation).
  struct Write {
    uv_write_t req;
    std::vector<std::string> replies;
    size_t bytes = 0;
    Client* client;
  };
  std::unique_ptr<Write> wr;
  bool close_after = false;
  while (!c.pending.empty() && c.pending.front()->ready) {
    Request& r = *c.pending.front();
    if (r.push) c.push_bytes -= r.reply.size();
    if (!r.reply.empty()) {
      if (wr == nullptr) wr = std::make_unique<Write>(Write{uv_write_t{}, {}, 0, &c});
      wr->bytes += r.reply.size();
      wr->replies.push_back(std::move(r.reply));
    }
    close_after = r.close_after;
    c.pending.pop_front();
    if (close_after) break;
  }
  std::vector<uv_buf_t> bufs;
  if (wr != nullptr) {
    bufs.reserve(wr->replies.size());
    for (std::string& reply : wr->replies) {
      bufs.push_back(uv_buf_init(reply.data(), static_cast<unsigned>(reply.size())));
    }
    // Mostly the socket takes it all at once: written here, without a write request (libuv
    // re-registers the socket with epoll after each request it completes). What is left, if
    // anything, goes through uv_write.
    const int written = uv_try_write(reinterpret_cast<uv_stream_t*>(&c.handle), bufs.data(),
                                     static_cast<unsigned>(bufs.size()));
    if (written < 0 && written != UV_EAGAIN) {
      CloseClient(c);
      return;
    }
    if (written > 0) {
      size_t left = static_cast<size_t>(written);
      wr->bytes -= left;
      size_t first = 0;
      while (first < bufs.size() && left >= bufs[first].len) left -= bufs[first++].len;
      bufs.erase(bufs.begin(), bufs.begin() + static_cast<ptrdiff_t>(first));
      if (!bufs.empty()) {
        bufs[0].base += left;
        bufs[0].len -= left;
      }
    }
    if (bufs.empty()) wr.reset();
  }
  if (wr != nullptr) {
    wr->req.data = wr.get();
    c.write_backlog += wr->bytes;
    ++c.outstanding;            // the write callback touches the client
    Write* raw = wr.release();  // freed by the write callback
    int rc = uv_write(&raw->req, reinterpret_cast<uv_stream_t*>(&c.handle), bufs.data(),
                      static_cast<unsigned>(bufs.size()), [](uv_write_t* req, int status) {
                        auto* wr = static_cast<Write*>(req->data);
                        Client* c = wr->client;
                        c->write_backlog -= wr->bytes;
                        --c->outstanding;
                        delete wr;
                        if (c->closing) {
                          c->w->MaybeDestroy(c);
                          return;
                        }
                        if (status < 0 || (c->close_after_write && c->write_backlog == 0)) {
                          c->w->CloseClient(*c);
                          return;
                        }
                        c->w->ResumeReading(*c);
                      });
    if (rc != 0) {
      c.write_backlog -= raw->bytes;
      --c.outstanding;
      delete raw;
      CloseClient(c);
      return;
    }
    if (c.write_backlog > gw_->options_.max_output_buffer) {
      spdlog::warn("closing client {} ({}): {} reply bytes unsent, over --maxOutputBuffer", c.id,
                   c.peer, c.write_backlog);
      // Reset rather than close: the kernel would otherwise keep the unread replies queued
      // for the slow reader after the gateway let go of them.
      uv_os_fd_t fd;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c.handle), &fd) == 0) {
        const linger reset{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
      }
      CloseClient(c);
      return;
    }
    if (c.write_backlog > gw_->options_.max_output_buffer / 4 && c.reading) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.handle));
      c.reading = false;
    }
  }
  if (close_after) {
    // The reply goes out first; the write callback closes.
    c.close_after_write = true;
    if (c.reading) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.handle));
      c.reading = false;
    }
    if (c.write_backlog == 0) CloseClient(c);
    return;
  }
  ResumeReading(c);
}

void Gateway::Worker::CloseClient(Client& c) {
  if (c.closing) return;
  c.closing = true;
  clients_.erase(c.id);
  if (pubsub_.SubscriptionCount(c.id) > 0) {
    pubsub_.RemoveClient(c.id);
    sub_dirty_ = true;
  }
  gw_->clients_.fetch_sub(1);
  m_.clients->Add(-1);
  ++c.outstanding;  // released by the close callback
  uv_close(reinterpret_cast<uv_handle_t*>(&c.handle), &OnClientClosed);
}

void Gateway::Worker::OnClientClosed(uv_handle_t* handle) {
  auto* c = static_cast<Client*>(handle->data);
  c->handle_closed = true;
  --c->outstanding;
  c->w->MaybeDestroy(c);
}

void Gateway::Worker::MaybeDestroy(Client* c) {
  if (c->closing && c->handle_closed && c->outstanding == 0) delete c;
}

std::string Gateway::Worker::ClientList() {
  std::string out;
  for (const auto& [id, c] : clients_) {
    absl::StrAppend(&out, ClientLine(id, c->peer, c->session), "\n");
  }
  return out;
}

int Gateway::Worker::KillClients(std::string_view field, std::string_view value) {
  std::vector<Client*> victims;
  for (const auto& [id, c] : clients_) {
    if ((field == "addr" && c->peer == value) || (field == "id" && absl::StrCat(id) == Av(value))) {
      victims.push_back(c);
    }
  }
  for (Client* c : victims) CloseClient(*c);
  return static_cast<int>(victims.size());
}

std::string Gateway::Worker::InfoText() {
  std::string out = absl::StrCat("# Server\r\nredis_version:", Av(kRedisVersion),
                                 "\r\nredis_mode:standalone\r\ntessera_role:gateway\r\n"
                                 "process_id:",
                                 getpid(), "\r\ntcp_port:", gw_->port_,
                                 "\r\n\r\n# Clients\r\nconnected_clients:", gw_->clients_.load(),
                                 "\r\nmaxclients:", gw_->options_.max_clients, "\r\n\r\n");
  absl::StrAppend(&out, "# Gateway\r\nthreads:", gw_->workers_.size(), "\r\nthread:", index_,
                  "\r\npool_size:", gw_->options_.pool_size, "\r\n");
  size_t conns = 0;
  for (const auto& [addr, pool] : pools_) {
    for (const auto& conn : pool->conns) conns += conn->connected ? 1 : 0;
  }
  absl::StrAppend(&out, "upstream_connections:", conns, "\r\n\r\n# Cluster\r\n");
  if (view_ == nullptr) {
    absl::StrAppend(&out, "topology_known:0\r\n");
    return out;
  }
  absl::StrAppend(&out, "topology_known:1\r\nrouting_table_version:", view_->version(),
                  "\r\ngroups:", view_->groups().size(),
                  "\r\ndefault_group:", view_->default_group(),
                  "\r\ntopology_served_by:", view_->served_by(),
                  "\r\ntopology_authoritative:", view_->authoritative() ? 1 : 0, "\r\n");
  for (const routing::SlotRange& range : view_->table().Ranges()) {
    absl::StrAppend(&out, "slots_", range.first, "_", range.last, ":group=", range.group, "\r\n");
  }
  for (routing::GroupId g : view_->groups()) {
    const GroupView* gv = view_->group(g);
    absl::StrAppend(&out, "group_", g, ":term=", gv->term, ",leader=", LeaderAddress(g), "\r\n");
  }
  return out;
}

// ---- upstream ----

Gateway::Worker::Pool& Gateway::Worker::PoolFor(const std::string& address) {
  auto it = pools_.find(address);
  if (it != pools_.end()) return *it->second;
  auto pool = std::make_unique<Pool>();
  pool->w = this;
  pool->address = address;
  const size_t colon = address.rfind(':');
  pool->host = address.substr(0, colon);
  (void)absl::SimpleAtoi(address.substr(colon + 1), &pool->port);
  for (size_t i = 0; i < gw_->options_.pool_size; ++i) {
    auto conn = std::make_unique<Conn>();
    conn->pool = pool.get();
    uv_timer_init(&loop_, &conn->reconnect);
    conn->reconnect.data = conn.get();
    pool->conns.push_back(std::move(conn));
  }
  Pool& ref = *pool;
  pools_[address] = std::move(pool);
  for (auto& conn : ref.conns) Connect(*conn);
  return ref;
}

void Gateway::Worker::Connect(Conn& conn) {
  conn.reconnect_pending = false;
  redisAsyncContext* ac = redisAsyncConnect(conn.pool->host.c_str(), conn.pool->port);
  if (ac == nullptr || ac->err) {
    if (ac != nullptr) redisAsyncFree(ac);
    m_.upstream_failures->Inc();
    ScheduleReconnect(conn);
    return;
  }
  ac->data = &conn;
  UseUpstreamReplies(ac->c.reader);
  if (!AttachToLoop(ac, &loop_)) {
    redisAsyncFree(ac);
    ScheduleReconnect(conn);
    return;
  }
  redisAsyncSetConnectCallback(ac, &OnConnect);
  redisAsyncSetDisconnectCallback(ac, &OnDisconnect);
  conn.ac = ac;
  m_.upstream_connects->Inc();
}

void Gateway::Worker::ScheduleReconnect(Conn& conn) {
  if (stopping_ || conn.reconnect_pending) return;
  conn.backoff = NextReconnectDelay(conn.backoff);
  conn.reconnect_pending = true;
  uv_timer_start(&conn.reconnect, &OnReconnectTimer, conn.backoff.count(), 0);
}

void Gateway::Worker::OnReconnectTimer(uv_timer_t* handle) {
  auto* conn = static_cast<Conn*>(handle->data);
  Worker* w = conn->pool->w;
  if (w->stopping_ || conn->ac != nullptr) {
    conn->reconnect_pending = false;
    return;
  }
  w->Connect(*conn);
}

void Gateway::Worker::OnConnect(const redisAsyncContext* ac, int status) {
  auto* conn = static_cast<Conn*>(ac->data);
  Worker* w = conn->pool->w;
  if (status != REDIS_OK) {
    // hiredis frees the context after this; its queued calls fail as never sent.
    conn->ac = nullptr;
    conn->connected = false;
    w->m_.upstream_failures->Inc();
    w->ScheduleReconnect(*conn);
    return;
  }
  conn->connected = true;
  conn->backoff = std::chrono::milliseconds(0);
  w->m_.upstream_connections->Add(1);
}

void Gateway::Worker::OnDisconnect(const redisAsyncContext* ac, int status) {
  (void)status;
  auto* conn = static_cast<Conn*>(ac->data);
  Worker* w = conn->pool->w;
  if (conn->connected) w->m_.upstream_connections->Add(-1);
  conn->ac = nullptr;
  conn->connected = false;
  w->m_.upstream_failures->Inc();
  w->ScheduleReconnect(*conn);
}

void Gateway::Worker::SendPart(Request& r, size_t part) {
  PartState& p = r.parts[part];
  const routing::GroupId group = r.plan.parts[part].group;
  ++p.attempts;
  if (view_ == nullptr || group == 0) {
    RetryLater(r, part, "CLUSTERDOWN the gateway has not learned the cluster topology yet",
               "topology", gw_->options_.backoff_initial);
    return;
  }
  const std::string address = LeaderAddress(group);
  if (address.empty()) {
    RetryLater(r, part, absl::StrCat("TRYAGAIN no known leader for group ", group), "no_leader",
               gw_->options_.backoff_initial);
    return;
  }
  Pool& pool = PoolFor(address);
  // A client always uses the same connection of a pool: the shard keeps one connection's
  // commands in order, so the client's do too.
  Conn* conn = pool.conns[r.client->id % pool.conns.size()].get();
  if (conn->ac == nullptr) {
    conn = nullptr;
    for (auto& other : pool.conns) {
      if (other->ac != nullptr) conn = other.get();
    }
  }
  if (conn == nullptr) {
    RetryLater(r, part, absl::StrCat("TRYAGAIN no connection to ", address), "connection",
               gw_->options_.backoff_initial);
    return;
  }
  const Clock::time_point now = Clock::now();
  auto send = [&](std::string_view command, bool last) {
    auto* call = new Call{&r, part, last, conn, now};
    if (redisAsyncFormattedCommand(conn->ac, &OnReply, call, command.data(), command.size()) !=
        REDIS_OK) {
      delete call;
      return false;
    }
    conn->inflight.push_back(call);
    ++r.client->outstanding;
    if (!conn->write_scheduled) {
      conn->write_scheduled = true;
      unwritten_.push_back(conn);
    }
    return true;
  };
  bool ok = true;
  if (r.transaction.empty()) {
    ok = send(r.plan.parts[part].bytes(), true);
  } else {
    for (size_t i = 0; i < r.transaction.size() && ok; ++i) {
      ok = send(r.transaction[i], i + 1 == r.transaction.size());
    }
  }
  if (!ok) {
    RetryLater(r, part, absl::StrCat("TRYAGAIN connection to ", address, " is closing"),
               "connection", gw_->options_.backoff_initial);
  }
}

void Gateway::Worker::OnReply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* call = static_cast<Call*>(privdata);
  auto* conn = static_cast<Conn*>(ac->data);
  Worker* w = conn->pool->w;
  assert(!conn->inflight.empty() && conn->inflight.front() == call);
  if (!conn->inflight.empty() && conn->inflight.front() == call) conn->inflight.pop_front();
  // hiredis frees the reply after this returns: the request takes a copy of the bytes.
  w->HandleReply(call, static_cast<UpstreamReply*>(reply));
  delete call;
}

void Gateway::Worker::HandleReply(Call* call, UpstreamReply* reply) {
  Request& r = *call->req;
  Client& c = *r.client;
  --c.outstanding;
  if (c.closing) {
    MaybeDestroy(&c);
    return;
  }
  if (!call->last || r.parts[call->part].done) return;
  const size_t part = call->part;
  m_.upstream_latency->Observe(std::chrono::duration<double>(Clock::now() - call->sent).count());
  if (reply == nullptr) {
    // The connection failed. A command that never left, or whose repetition is harmless,
    // goes again; a write that may have been applied gets an error saying so.
    const bool maybe_sent = call->conn->connected || call->timed_out;
    if (call->timed_out) {
      FinishPart(r, part, nullptr,
                 r.retry_safe ? "-TIMEOUT the shard did not answer within --requestTimeoutMs\r\n"
                              : "-OUTCOMEUNKNOWN the shard did not answer within "
                                "--requestTimeoutMs; the write may or may not have been "
                                "applied\r\n");
      return;
    }
    if (!maybe_sent || r.retry_safe) {
      RetryLater(r, part, "TRYAGAIN the connection to the group's leader failed", "connection",
                 gw_->options_.backoff_initial);
      return;
    }
    FinishPart(r, part, nullptr,
               "-OUTCOMEUNKNOWN the connection to the shard was lost after the write was sent; "
               "it may or may not have been applied\r\n");
    return;
  }
  if (reply->is_error()) {
    const std::string_view text = reply->text();
    if (absl::StartsWith(Av(text), "MOVED ")) {
      // MOVED <slot> <host:port>: the group's leader is there.
      std::vector<std::string> f = absl::StrSplit(Av(text), ' ');
      const routing::GroupId group = r.plan.parts[part].group;
      m_.moved->Inc();
      if (f.size() == 3) leaders_[group].address = f[2];
      PartState& p = r.parts[part];
      p.last_error = std::string(text);
      if (++p.moves <= kMaxImmediateMoves && Clock::now() < r.budget_end) {
        m_.retries.WithLabels({"moved"})->Inc();
        SendPart(r, part);
      } else {
        RetryLater(r, part, std::string(text), "moved", gw_->options_.backoff_initial);
      }
      return;
    }
    if (absl::StartsWith(Av(text), "TRYAGAIN")) {
      RetryLater(r, part, std::string(text), "tryagain", gw_->options_.backoff_initial);
      return;
    }
  }
  // The request adopts hiredis's reply object (FreeObject then skips it): no copy.
  reply->adopted = true;
  FinishPart(r, part, std::unique_ptr<UpstreamReply>(reply), "");
}

void Gateway::Worker::RetryLater(Request& r, size_t part, std::string error, const char* reason,
                                 std::chrono::milliseconds first_delay) {
  PartState& p = r.parts[part];
  p.last_error = std::move(error);
  const Clock::time_point now = Clock::now();
  std::chrono::milliseconds delay = first_delay;
  for (int i = 1; i < p.attempts && delay < kBackoffMax; ++i) delay *= 2;
  delay = std::min(delay, kBackoffMax);
  if (now + delay > r.budget_end || now + delay > r.deadline || stopping_) {
    if (!stopping_) r.budget_exhausted = true;
    FinishPart(r, part, nullptr, absl::StrCat("-", p.last_error, "\r\n"));
    return;
  }
  m_.retries.WithLabels({reason})->Inc();
  ++r.client->outstanding;
  retries_.emplace(now + delay, Retry{&r, part});
  ArmRetryTimer();
}

void Gateway::Worker::ArmRetryTimer() {
  if (retries_.empty()) return;
  const auto wait =
      std::chrono::duration_cast<std::chrono::milliseconds>(retries_.begin()->first - Clock::now());
  uv_timer_start(&retry_timer_, &OnRetryTimer, std::max<int64_t>(0, wait.count()), 0);
}

void Gateway::Worker::OnRetryTimer(uv_timer_t* handle) {
  auto* w = static_cast<Worker*>(handle->data);
  const Clock::time_point now = Clock::now();
  while (!w->retries_.empty() && w->retries_.begin()->first <= now) {
    Retry retry = w->retries_.begin()->second;
    w->retries_.erase(w->retries_.begin());
    Client& c = *retry.req->client;
    --c.outstanding;
    if (c.closing) {
      w->MaybeDestroy(&c);
      continue;
    }
    if (w->stopping_) {
      w->FinishPart(*retry.req, retry.part, nullptr, "-TRYAGAIN the gateway is shutting down\r\n");
      continue;
    }
    w->SendPart(*retry.req, retry.part);
  }
  w->ArmRetryTimer();
}

void Gateway::Worker::CheckDeadlines(Clock::time_point now) {
  const Clock::duration timeout = gw_->options_.request_timeout;
  for (auto& [address, pool] : pools_) {
    for (auto& conn : pool->conns) {
      if (conn->ac == nullptr || conn->inflight.empty()) continue;
      Call* oldest = conn->inflight.front();
      if (now - oldest->sent < timeout) continue;
      // hiredis matches replies by order only: the one way to give up on a request is to
      // drop its connection (the others on it fail over as lost-connection retries).
      spdlog::warn("shard {} did not answer within {} ms; reconnecting", address,
                   gw_->options_.request_timeout.count());
      oldest->timed_out = true;
      redisAsyncContext* ac = conn->ac;
      redisAsyncFree(ac);
    }
  }
}

void Gateway::Worker::OnTick(uv_timer_t* handle) {
  auto* w = static_cast<Worker*>(handle->data);
  const Clock::time_point now = Clock::now();
  w->CheckDeadlines(now);
  // Subscriptions waiting for a node, and every so often all of them against the leaders
  // (a leader change learned from a MOVED on a pooled connection).
  if (!w->stopped_ && (!w->sub_waiting_clients_.empty() ||
                       (++w->sub_sweep_ticks_ >= kSubscriptionSweepTicks &&
                        (!w->sub_links_.empty() || !w->pubsub_.channels().empty() ||
                         !w->pubsub_.patterns().empty())))) {
    w->sub_sweep_ticks_ = 0;
    w->ReconcileSubscriptions();
  }
  const auto idle = w->gw_->options_.idle_timeout;
  if (idle.count() > 0 && !w->stopping_) {
    std::vector<Client*> idle_clients;
    for (const auto& [id, c] : w->clients_) {
      // As in Redis, a subscriber is never idle.
      if (c->pending.empty() && now - c->last_activity > idle &&
          w->pubsub_.SubscriptionCount(id) == 0) {
        idle_clients.push_back(c);
      }
    }
    for (Client* c : idle_clients) w->CloseClient(*c);
  }
  if (w->stopping_) {
    Clock::time_point drain_deadline;
    {
      std::lock_guard<std::mutex> lk(w->mu_);
      drain_deadline = w->drain_deadline_;
    }
    if (w->Drained() || now >= drain_deadline) w->FinishStop();
  }
}

// ---- Pub/Sub ----

bool Gateway::Worker::StartPubSubCommand(Client& c, Request& r, routing::ArgvRef argv) {
  const std::string& name = r.spec->full_name;
  const bool subscribe = name == "subscribe" || name == "psubscribe";
  const bool family = subscribe || name == "unsubscribe" || name == "punsubscribe";
  const int protocol = c.session.protocol == common::resp::Protocol::kResp3 ? 3 : 2;
  const size_t count = pubsub_.SubscriptionCount(c.id);
  std::string bytes;
  common::resp::ReplyWriter w(&bytes, c.session.protocol);
  if (protocol == 2 && count > 0 && !common::AllowedWhileSubscribed(name)) {
    w.Error(common::SubscribedModeError(name));
    FinishLocal(r, std::move(bytes));
    return true;
  }
  if (name == "ping" && protocol == 2 && count > 0 && argv.size() <= 2) {
    w.ArrayHeader(2);
    w.Bulk("pong");
    w.Bulk(argv.size() == 2 ? argv[1] : std::string_view());
    FinishLocal(r, std::move(bytes));
    return true;
  }
  if (!family) return false;
  if (c.session.in_multi) {
    c.session.multi_failed = true;
    w.Error(absl::StrCat("ERR '", name, "' inside MULTI is not allowed through the gateway"));
    FinishLocal(r, std::move(bytes));
    return true;
  }
  std::vector<std::string> names;
  for (size_t i = 1; i < argv.size(); ++i) names.emplace_back(argv[i]);
  const bool pattern = name[0] == 'p';
  if (subscribe && count + names.size() > kMaxSubscriptions) {
    w.Error(absl::StrCat("ERR max number of subscriptions per client (", kMaxSubscriptions,
                         ") reached"));
    FinishLocal(r, std::move(bytes));
    return true;
  }
  // The confirmations count this client's subscriptions at this point of its command stream,
  // as one Redis would; a (P)SUBSCRIBE's wait until the shards hold the names (so a message
  // published after the client read them is heard).
  if (name == "subscribe") pubsub_.Subscribe(c.id, names, protocol, &bytes);
  if (name == "psubscribe") pubsub_.PSubscribe(c.id, names, protocol, &bytes);
  if (name == "unsubscribe") pubsub_.Unsubscribe(c.id, names, protocol, &bytes);
  if (name == "punsubscribe") pubsub_.PUnsubscribe(c.id, names, protocol, &bytes);
  c.session.channels = pubsub_.ChannelCount(c.id);
  c.session.patterns = pubsub_.PatternCount(c.id);
  sub_dirty_ = true;
  if (!subscribe) {
    FinishLocal(r, std::move(bytes));
    return true;
  }
  (pattern ? r.sub_patterns : r.sub_channels) = names;
  r.reply = std::move(bytes);
  c.sub_waiting.push_back(&r);
  sub_waiting_clients_.insert(c.id);
  return true;
}

std::string Gateway::Worker::ChannelLeader(std::string_view channel) {
  if (view_ == nullptr) return {};
  return LeaderAddress(view_->table().GroupForSlot(routing::SlotForKey(channel)));
}

std::set<std::string> Gateway::Worker::LeaderAddresses() {
  std::set<std::string> out;
  if (view_ == nullptr) return out;
  for (routing::GroupId g : view_->groups()) {
    std::string address = LeaderAddress(g);
    if (!address.empty()) out.insert(std::move(address));
  }
  return out;
}

void Gateway::Worker::ReconcileSubscriptions() {
  sub_dirty_ = false;
  const Clock::time_point now = Clock::now();
  const std::set<std::string> leaders = LeaderAddresses();
  auto usable = [&](const std::string& address) {
    auto it = sub_backoff_.find(address);
    return it == sub_backoff_.end() || it->second.until <= now;
  };
  // What nobody wants any more, or what lives on a node that no longer leads its group.
  std::vector<SubLink*> links;
  for (const auto& [address, link] : sub_links_) links.push_back(link);
  for (SubLink* link : links) {
    std::vector<std::string> drop;
    for (const std::string& channel : link->channels) {
      if (!pubsub_.channels().contains(channel)) {
        drop.push_back(channel);
        continue;
      }
      const std::string leader = ChannelLeader(channel);
      if (!leader.empty() && leader != link->address && usable(leader)) drop.push_back(channel);
    }
    if (!drop.empty()) SendSubscription(*link, /*pattern=*/false, /*subscribe=*/false, drop);
    drop.clear();
    for (const std::string& p : link->patterns) {
      if (!pubsub_.patterns().contains(p)) drop.push_back(p);
    }
    if (!drop.empty()) SendSubscription(*link, /*pattern=*/true, /*subscribe=*/false, drop);
  }
  // Each channel at its group's leader.
  std::map<std::string, std::vector<std::string>> channels;
  for (const auto& [channel, subscribers] : pubsub_.channels()) {
    const std::string leader = ChannelLeader(channel);
    if (leader.empty() || !usable(leader)) continue;
    auto it = sub_links_.find(leader);
    if (it != sub_links_.end() && it->second->channels.contains(channel)) continue;
    channels[leader].push_back(channel);
  }
  for (const auto& [address, names] : channels) {
    if (SubLink* link = LinkFor(address)) SendSubscription(*link, false, true, names);
  }
  // Every pattern on every node that leads a group: a message is published on exactly one
  // leader, so each pattern hears it once.
  if (!pubsub_.patterns().empty()) {
    for (const std::string& address : leaders) {
      if (!usable(address)) continue;
      auto it = sub_links_.find(address);
      std::vector<std::string> names;
      for (const auto& [p, subscribers] : pubsub_.patterns()) {
        if (it == sub_links_.end() || !it->second->patterns.contains(p)) names.push_back(p);
      }
      if (names.empty()) continue;
      if (SubLink* link = LinkFor(address)) SendSubscription(*link, true, true, names);
    }
  }
  links.clear();
  for (const auto& [address, link] : sub_links_) {
    if (link->channels.empty() && link->patterns.empty() && link->sent.empty()) {
      links.push_back(link);
    }
  }
  for (SubLink* link : links) CloseLink(*link, "");
  AnswerSettledSubscribes(now);
}

bool Gateway::Worker::Settled(const Request& r) {
  for (const std::string& channel : r.sub_channels) {
    if (!pubsub_.channels().contains(channel)) continue;  // unsubscribed since
    const std::string leader = ChannelLeader(channel);
    auto it = sub_links_.find(leader);
    if (it == sub_links_.end() || !it->second->confirmed_channels.contains(channel)) return false;
  }
  if (r.sub_patterns.empty()) return true;
  for (const std::string& address : LeaderAddresses()) {
    auto it = sub_links_.find(address);
    for (const std::string& p : r.sub_patterns) {
      if (!pubsub_.patterns().contains(p)) continue;
      if (it == sub_links_.end() || !it->second->confirmed_patterns.contains(p)) return false;
    }
  }
  return true;
}

void Gateway::Worker::AnswerSettledSubscribes(Clock::time_point now) {
  for (auto it = sub_waiting_clients_.begin(); it != sub_waiting_clients_.end();) {
    auto found = clients_.find(*it);
    if (found == clients_.end()) {
      it = sub_waiting_clients_.erase(it);
      continue;
    }
    Client& c = *found->second;
    bool answered = false;
    std::erase_if(c.sub_waiting, [&](Request* r) {
      // Past its deadline the confirmation goes anyway: the gateway keeps subscribing at the
      // leader in the background (messages in between are lost, at-most-once as in Redis).
      if (now < r->deadline && !Settled(*r)) return false;
      if (now >= r->deadline) {
        spdlog::warn("client {}: subscription not confirmed by a shard within {} ms; still trying",
                     c.id, gw_->options_.request_timeout.count());
      }
      r->ready = true;
      CountCommand(r->spec, true);
      m_.latency->Observe(std::chrono::duration<double>(now - r->start).count());
      answered = true;
      return true;
    });
    if (answered) ScheduleFlush(c);
    it = c.sub_waiting.empty() ? sub_waiting_clients_.erase(it) : std::next(it);
  }
}

void Gateway::Worker::BackOff(const std::string& address) {
  LinkBackoff& b = sub_backoff_[address];
  b.delay = NextReconnectDelay(b.delay);
  b.until = Clock::now() + b.delay;
}

Gateway::Worker::SubLink* Gateway::Worker::LinkFor(const std::string& address) {
  if (auto it = sub_links_.find(address); it != sub_links_.end()) return it->second;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return nullptr;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  uv_getaddrinfo_t resolve{};
  // Synchronous (no callback), as hiredis resolves its pool connections.
  if (uv_getaddrinfo(&loop_, &resolve, nullptr, address.substr(0, colon).c_str(),
                     address.substr(colon + 1).c_str(), &hints) != 0 ||
      resolve.addrinfo == nullptr) {
    if (resolve.addrinfo != nullptr) uv_freeaddrinfo(resolve.addrinfo);
    BackOff(address);
    spdlog::warn("pubsub: cannot resolve shard address {}", address);
    return nullptr;
  }
  auto* link = new SubLink();
  link->w = this;
  link->address = address;
  link->reader = redisReaderCreate();
  uv_tcp_init(&loop_, &link->handle);
  link->handle.data = link;
  link->connect_req.data = link;
  sub_links_[address] = link;
  m_.upstream_connects->Inc();
  const int rc =
      uv_tcp_connect(&link->connect_req, &link->handle, resolve.addrinfo->ai_addr, &OnLinkConnect);
  uv_freeaddrinfo(resolve.addrinfo);
  if (rc != 0) {
    CloseLink(*link, uv_strerror(rc));
    return nullptr;
  }
  return link;
}

void Gateway::Worker::SendSubscription(SubLink& link, bool pattern, bool subscribe,
                                       const std::vector<std::string>& names) {
  auto& set = pattern ? link.patterns : link.channels;
  auto& confirmed = pattern ? link.confirmed_patterns : link.confirmed_channels;
  const char* verb = pattern ? (subscribe ? "PSUBSCRIBE" : "PUNSUBSCRIBE")
                             : (subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE");
  for (size_t from = 0; from < names.size(); from += kSubscribeBatch) {
    const size_t to = std::min(names.size(), from + kSubscribeBatch);
    std::vector<std::string_view> words = {verb};
    SubLink::Sent sent{pattern, subscribe, {}, to - from};
    for (size_t i = from; i < to; ++i) {
      words.push_back(names[i]);
      sent.names.push_back(names[i]);
      if (subscribe) {
        set.insert(names[i]);
      } else {
        set.erase(names[i]);
        confirmed.erase(names[i]);
      }
    }
    WriteLink(link, EncodeCommand(words));
    link.sent.push_back(std::move(sent));
  }
}

void Gateway::Worker::WriteLink(SubLink& link, std::string bytes) {
  if (link.closed) return;
  if (!link.connected) {
    link.unsent += bytes;
    return;
  }
  struct Write {
    uv_write_t req;
    std::string bytes;
    SubLink* link;
  };
  auto* wr = new Write{uv_write_t{}, std::move(bytes), &link};
  wr->req.data = wr;
  uv_buf_t buf = uv_buf_init(wr->bytes.data(), static_cast<unsigned>(wr->bytes.size()));
  const int rc = uv_write(&wr->req, reinterpret_cast<uv_stream_t*>(&link.handle), &buf, 1,
                          [](uv_write_t* req, int status) {
                            auto* wr = static_cast<Write*>(req->data);
                            SubLink* link = wr->link;
                            delete wr;
                            if (status < 0 && !link->closed) {
                              link->w->CloseLink(*link, uv_strerror(status));
                            }
                          });
  if (rc != 0) {
    delete wr;
    CloseLink(link, uv_strerror(rc));
  }
}

void Gateway::Worker::CloseLink(SubLink& link, std::string_view why) {
  if (link.closed) return;
  link.closed = true;
  sub_links_.erase(link.address);
  if (!why.empty()) {
    // Its subscriptions go again (to the leader the gateway knows by then) after a backoff.
    BackOff(link.address);
    m_.upstream_failures->Inc();
    spdlog::info(
        "pubsub: subscriber connection to {} closed ({}); {} channel(s) and {} "
        "pattern(s) subscribe again",
        link.address, why, link.channels.size(), link.patterns.size());
  }
  if (link.connected) m_.upstream_connections->Add(-1);
  sub_dirty_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&link.handle), [](uv_handle_t* h) {
    auto* link = static_cast<SubLink*>(h->data);
    redisReaderFree(link->reader);
    delete link;
  });
}

void Gateway::Worker::OnLinkConnect(uv_connect_t* req, int status) {
  auto* link = static_cast<SubLink*>(req->data);
  if (link->closed) return;
  Worker* w = link->w;
  if (status < 0) {
    w->CloseLink(*link, uv_strerror(status));
    return;
  }
  link->connected = true;
  w->m_.upstream_connections->Add(1);
  uv_tcp_nodelay(&link->handle, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&link->handle), &OnLinkAlloc, &OnLinkRead);
  if (!link->unsent.empty()) w->WriteLink(*link, std::exchange(link->unsent, std::string()));
}

void Gateway::Worker::OnLinkAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  (void)suggested;
  auto* link = static_cast<SubLink*>(handle->data);
  if (link->read_buffer.empty()) link->read_buffer.resize(kReadBufferBytes);
  *buf = uv_buf_init(link->read_buffer.data(), static_cast<unsigned>(kReadBufferBytes));
}

void Gateway::Worker::OnLinkRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* link = static_cast<SubLink*>(stream->data);
  Worker* w = link->w;
  if (link->closed) return;
  if (nread < 0) {
    w->CloseLink(*link,
                 nread == UV_EOF ? "closed by the shard" : uv_strerror(static_cast<int>(nread)));
    return;
  }
  if (nread == 0) return;
  if (redisReaderFeed(link->reader, buf->base, static_cast<size_t>(nread)) != REDIS_OK) {
    w->CloseLink(*link, "unreadable reply");
    return;
  }
  while (!link->closed) {
    void* reply = nullptr;
    if (redisReaderGetReply(link->reader, &reply) != REDIS_OK) {
      w->CloseLink(*link, link->reader->errstr);
      return;
    }
    if (reply == nullptr) break;
    w->HandleLinkReply(*link, *static_cast<redisReply*>(reply));
    freeReplyObject(reply);
  }
}

void Gateway::Worker::HandleLinkReply(SubLink& link, const redisReply& reply) {
  auto str = [](const redisReply* e) {
    return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS
               ? std::string_view(e->str, e->len)
               : std::string_view();
  };
  if (reply.type == REDIS_REPLY_ERROR) {
    const std::string_view text(reply.str, reply.len);
    if (link.sent.empty()) {
      CloseLink(link, absl::StrCat("unexpected error: ", Av(text)));
      return;
    }
    SubLink::Sent sent = std::move(link.sent.front());
    link.sent.pop_front();
    for (const std::string& name : sent.names)
      (sent.pattern ? link.patterns : link.channels).erase(name);
    sub_dirty_ = true;
    if (absl::StartsWith(Av(text), "MOVED ")) {
      // MOVED <slot> <host:port>: the channel's group is led there.
      std::vector<std::string> f = absl::StrSplit(Av(text), ' ');
      int slot = 0;
      m_.moved->Inc();
      if (f.size() == 3 && absl::SimpleAtoi(f[1], &slot) && view_ != nullptr) {
        leaders_[view_->table().GroupForSlot(slot)].address = f[2];
        return;
      }
    }
    // TRYAGAIN (no leader yet) or a refusal: again after a backoff.
    BackOff(link.address);
    spdlog::info("pubsub: {} refused a subscription: {}", link.address, text);
    return;
  }
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 3) {
    CloseLink(link, "unexpected reply in subscribed mode");
    return;
  }
  const std::string_view kind = str(reply.element[0]);
  if (kind == "message") {
    Deliver(nullptr, str(reply.element[1]), str(reply.element[2]));
    return;
  }
  if (kind == "pmessage" && reply.elements == 4) {
    const std::string pattern(str(reply.element[1]));
    Deliver(&pattern, str(reply.element[2]), str(reply.element[3]));
    return;
  }
  if (link.sent.empty() || (kind != "subscribe" && kind != "psubscribe" && kind != "unsubscribe" &&
                            kind != "punsubscribe")) {
    CloseLink(link, absl::StrCat("unexpected '", Av(kind), "' in subscribed mode"));
    return;
  }
  SubLink::Sent& sent = link.sent.front();
  if (sent.subscribe) {
    const std::string name(str(reply.element[1]));
    auto& set = sent.pattern ? link.patterns : link.channels;
    if (set.contains(name))
      (sent.pattern ? link.confirmed_patterns : link.confirmed_channels).insert(name);
    sub_backoff_.erase(link.address);
  }
  if (--sent.left == 0) link.sent.pop_front();
  if (!sub_waiting_clients_.empty()) AnswerSettledSubscribes(Clock::now());
}

void Gateway::Worker::Deliver(const std::string* pattern, std::string_view channel,
                              std::string_view payload) {
  const auto& index = pattern != nullptr ? pubsub_.patterns() : pubsub_.channels();
  auto it = index.find(pattern != nullptr ? std::string_view(*pattern) : channel);
  if (it == index.end()) return;                       // unsubscribed since
  const std::vector<uint64_t> receivers = it->second;  // a closed client changes the index
  for (uint64_t id : receivers) {
    auto found = clients_.find(id);
    if (found == clients_.end() || found->second->closing) continue;
    Client& c = *found->second;
    const int protocol = c.session.protocol == common::resp::Protocol::kResp3 ? 3 : 2;
    Push(c, common::PubSubMessage(protocol, pattern, channel, payload));
  }
}

void Gateway::Worker::Push(Client& c, std::string bytes) {
  if (c.push_bytes + c.write_backlog + bytes.size() > gw_->options_.max_output_buffer) {
    spdlog::warn("closing subscriber {} ({}): messages over --maxOutputBuffer unsent", c.id,
                 c.peer);
    CloseClient(c);
    return;
  }
  auto r = std::make_unique<Request>();
  r->client = &c;
  r->push = true;
  r->ready = true;
  c.push_bytes += bytes.size();
  r->reply = std::move(bytes);
  c.pending.push_back(std::move(r));
  ScheduleFlush(c);
}

// ---- shutdown ----

void Gateway::Worker::StartStopping() {
  stopping_ = true;
  if (listening_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    listening_ = false;
  }
  OnTick(&tick_);  // finishes at once when nothing is in flight
}

bool Gateway::Worker::Drained() const {
  for (const auto& [id, c] : clients_) {
    if (!c->pending.empty()) return false;
  }
  return true;
}

void Gateway::Worker::FinishStop() {
  if (stopped_) return;
  stopped_ = true;
  std::vector<Client*> all;
  for (const auto& [id, c] : clients_) all.push_back(c);
  for (Client* c : all) CloseClient(*c);
  std::vector<SubLink*> links;
  for (const auto& [address, link] : sub_links_) links.push_back(link);
  for (SubLink* link : links) CloseLink(*link, "the gateway is stopping");
  for (auto& [address, pool] : pools_) {
    for (auto& conn : pool->conns) {
      if (conn->ac != nullptr) redisAsyncFree(conn->ac);
      uv_close(reinterpret_cast<uv_handle_t*>(&conn->reconnect), nullptr);
    }
  }
  // Retries left fail at once; their clients are closing.
  while (!retries_.empty()) {
    Retry retry = retries_.begin()->second;
    retries_.erase(retries_.begin());
    --retry.req->client->outstanding;
    MaybeDestroy(retry.req->client);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&retry_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
}

// ---- Gateway ----

Gateway::Gateway(GatewayOptions options) : options_(std::move(options)) {}

Gateway::~Gateway() { Stop(); }

absl::Status Gateway::Start() {
  int port = 0;
  for (size_t i = 0; i < options_.threads; ++i) {
    auto w = std::make_unique<Worker>(this, i);
    absl::Status s = w->Bind(options_.listen, &port);
    workers_.push_back(std::move(w));
    if (!s.ok()) {
      for (auto& started : workers_) started->Start();
      Stop();
      return s;
    }
  }
  port_ = port;
  for (auto& w : workers_) w->Start();
  return absl::OkStatus();
}

void Gateway::Stop(std::chrono::milliseconds drain) {
  std::lock_guard<std::mutex> lk(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  for (auto& w : workers_) w->RequestStop(drain);
  for (auto& w : workers_) w->Join();
  workers_.clear();
}

void Gateway::PublishView(std::shared_ptr<const ClusterView> view) {
  {
    std::lock_guard<std::mutex> lk(view_mu_);
    // The table's version only grows: a shard that has not applied the latest change yet
    // (after a watch moved to it) does not take the gateway back. Leaders are repaired by MOVED.
    if (view_ != nullptr && view != nullptr && view->version() < view_->version()) return;
    view_ = std::move(view);
  }
  for (auto& w : workers_) w->Wake();
}

std::shared_ptr<const ClusterView> Gateway::view() const {
  std::lock_guard<std::mutex> lk(view_mu_);
  return view_;
}

}  // namespace tessera::gateway
