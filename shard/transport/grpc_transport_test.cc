// GrpcTransport over loopback: ordered delivery for several groups on one stream per peer,
// unreachable reporting, reconnection, and refusal of garbage without harm to the server.
#include "shard/transport/grpc_transport.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "proto/raft.grpc.pb.h"
#include "proto/raft.pb.h"

namespace tessera::shard {
namespace {

namespace v1 = tessera::raft::v1;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr raft::NodeId kNodeA = 0xA;
constexpr raft::NodeId kNodeB = 0xB;
constexpr raft::NodeId kNodeC = 0xC;
constexpr auto kDeadline = std::chrono::seconds(15);

// Polls `done` until it holds or the deadline passes; the only way these tests wait.
bool PollUntil(const std::function<bool()>& done, Clock::duration timeout = kDeadline) {
  const Clock::time_point until = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

// What a transport handed to its driver: inbound messages and unreachable reports.
class Inbox {
 public:
  void OnMessage(GroupId group, raft::Message m) {
    std::lock_guard<std::mutex> lk(mu_);
    messages_.emplace_back(group, std::move(m));
  }
  void OnUnreachable(GroupId group, raft::NodeId node) {
    std::lock_guard<std::mutex> lk(mu_);
    unreachable_.emplace_back(group, node);
  }
  size_t MessageCount() const {
    std::lock_guard<std::mutex> lk(mu_);
    return messages_.size();
  }
  size_t UnreachableCount() const {
    std::lock_guard<std::mutex> lk(mu_);
    return unreachable_.size();
  }
  std::vector<std::pair<GroupId, raft::Message>> Messages() const {
    std::lock_guard<std::mutex> lk(mu_);
    return messages_;
  }
  std::vector<std::pair<GroupId, raft::NodeId>> Unreachable() const {
    std::lock_guard<std::mutex> lk(mu_);
    return unreachable_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<GroupId, raft::Message>> messages_;
  std::vector<std::pair<GroupId, raft::NodeId>> unreachable_;
};

// A transport plus its inbox; listens on ephemeral loopback ports unless told otherwise.
struct Node {
  Node(raft::NodeId id, std::map<GroupId, std::string> listen,
       const std::function<void(GrpcTransportOptions&)>& tweak = {}) {
    GrpcTransportOptions o;
    o.local_node = id;
    o.listen_addresses = std::move(listen);
    o.reconnect_initial = milliseconds(20);
    o.reconnect_max = milliseconds(300);
    if (tweak) tweak(o);
    transport = std::make_unique<GrpcTransport>(o);
    transport->SetHandlers([this](GroupId g, raft::Message m) { inbox.OnMessage(g, std::move(m)); },
                           [this](GroupId g, raft::NodeId n) { inbox.OnUnreachable(g, n); });
  }
  absl::Status Start() { return transport->Start(); }
  std::map<GroupId, std::string> Bound(const std::vector<GroupId>& groups) const {
    std::map<GroupId, std::string> out;
    for (GroupId g : groups) out[g] = transport->BoundAddress(g);
    return out;
  }
  void Learn(raft::NodeId peer, const std::map<GroupId, std::string>& addresses) {
    for (const auto& [g, a] : addresses) transport->SetPeerAddress(g, peer, a);
  }
  GrpcTransportCounters Counters() const { return transport->Counters(); }

  Inbox inbox;
  std::unique_ptr<GrpcTransport> transport;
};

std::map<GroupId, std::string> Ephemeral(const std::vector<GroupId>& groups) {
  std::map<GroupId, std::string> out;
  for (GroupId g : groups) out[g] = "127.0.0.1:0";
  return out;
}

raft::Message App(raft::NodeId from, raft::NodeId to, uint64_t seq) {
  raft::Message m;
  m.type = raft::MessageType::kApp;
  m.from = from;
  m.to = to;
  m.term = 3;
  m.log_term = 3;
  m.index = seq;
  m.commit = seq;
  m.entries.push_back({3, seq + 1, raft::EntryType::kNormal, "v" + std::to_string(seq)});
  return m;
}

// A listening loopback socket that never accepts: connections hang in the backlog.
class RawSocket {
 public:
  RawSocket() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {}
  ~RawSocket() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }

  // Binds 127.0.0.1:0 and listens; returns "127.0.0.1:<port>".
  std::string ListenEphemeral() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0) {
      return "";
    }
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  }

  bool Connect(const std::string& address) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
    timeval tv{2, 0};  // every read below is bounded
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }

  // Writes `bytes` (ignoring a peer that hangs up early) and reads until EOF or timeout.
  void WriteAndDrain(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    shutdown(fd_, SHUT_WR);
    char buf[4096];
    while (recv(fd_, buf, sizeof buf, 0) > 0) {
    }
  }

 private:
  int fd_;
};

// Expects each group's messages in strictly increasing seq order, `per_group` of them.
void ExpectInOrder(const std::vector<std::pair<GroupId, raft::Message>>& got,
                   const std::vector<GroupId>& groups, size_t per_group, raft::NodeId from) {
  std::map<GroupId, std::vector<uint64_t>> seqs;
  for (const auto& [g, m] : got) {
    EXPECT_EQ(m.from, from);
    EXPECT_EQ(m, App(m.from, m.to, m.index)) << "every field survives the trip";
    seqs[g].push_back(m.index);
  }
  for (GroupId g : groups) {
    ASSERT_EQ(seqs[g].size(), per_group) << "group " << g;
    for (size_t i = 1; i < seqs[g].size(); ++i) {
      ASSERT_LT(seqs[g][i - 1], seqs[g][i]) << "group " << g << " out of order at " << i;
    }
  }
}

TEST(GrpcTransportTest, BothGroupsFlowInOrderOnOneStreamPerPeer) {
  Node a(kNodeA, Ephemeral({1, 2}));
  Node b(kNodeB, Ephemeral({1, 2}));
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  a.Learn(kNodeB, b.Bound({1, 2}));
  b.Learn(kNodeA, a.Bound({1, 2}));
  EXPECT_NE(a.transport->BoundAddress(1), a.transport->BoundAddress(2));

  constexpr size_t kPerGroup = 300;
  for (uint64_t seq = 0; seq < kPerGroup; seq += 10) {  // several Sends, groups interleaved
    std::vector<GroupMessage> to_b, to_a;
    for (uint64_t s = seq; s < seq + 10; ++s) {
      to_b.push_back({1, App(kNodeA, kNodeB, s)});
      to_b.push_back({2, App(kNodeA, kNodeB, s)});
      to_a.push_back({2, App(kNodeB, kNodeA, s)});
      to_a.push_back({1, App(kNodeB, kNodeA, s)});
    }
    a.transport->Send(std::move(to_b));
    b.transport->Send(std::move(to_a));
  }
  ASSERT_TRUE(PollUntil([&] { return b.inbox.MessageCount() == 2 * kPerGroup; }));
  ASSERT_TRUE(PollUntil([&] { return a.inbox.MessageCount() == 2 * kPerGroup; }));
  ExpectInOrder(b.inbox.Messages(), {1, 2}, kPerGroup, kNodeA);
  ExpectInOrder(a.inbox.Messages(), {1, 2}, kPerGroup, kNodeB);

  for (Node* n : {&a, &b}) {
    GrpcTransportCounters c = n->Counters();
    EXPECT_EQ(c.streams_opened, 1u) << "one stream per peer node, not per group";
    EXPECT_EQ(c.streams_accepted, 1u);
    EXPECT_EQ(c.sent, 2 * kPerGroup);
    EXPECT_EQ(c.received, 2 * kPerGroup);
    EXPECT_EQ(c.reconnects, 0u);
    EXPECT_EQ(c.unreachable, 0u);
    EXPECT_EQ(c.rejected_malformed + c.unknown_group + c.dropped_full, 0u);
  }
}

TEST(GrpcTransportTest, DivergentBootstrapListsAreReportedOncePerPeerAndGroupNeverRejected) {
  Node a(kNodeA, Ephemeral({1, 2}));
  Node b(kNodeB, Ephemeral({1, 2}));
  Node c(kNodeC, Ephemeral({1, 2}));
  // Group 1: a and b in the bootstrap era with different lists; c agrees with b. Group 2: the
  // same hash, and a has left the era (a membership change committed): nothing to report.
  a.transport->SetBootstrapState(1, true, "aaaa");
  b.transport->SetBootstrapState(1, true, "bbbb");
  c.transport->SetBootstrapState(1, true, "bbbb");
  a.transport->SetBootstrapState(2, false, "cccc");
  b.transport->SetBootstrapState(2, true, "dddd");
  for (Node* n : {&a, &b, &c}) ASSERT_TRUE(n->Start().ok());
  a.Learn(kNodeB, b.Bound({1, 2}));
  c.Learn(kNodeB, b.Bound({1, 2}));
  for (uint64_t seq = 0; seq < 20; ++seq) {
    a.transport->Send({{1, App(kNodeA, kNodeB, seq)}, {2, App(kNodeA, kNodeB, seq)}});
    c.transport->Send({{1, App(kNodeC, kNodeB, seq)}});
  }
  // Detection only: every message is delivered.
  ASSERT_TRUE(PollUntil([&] { return b.inbox.MessageCount() == 60; }));
  EXPECT_EQ(b.Counters().bootstrap_mismatches, 1u) << "a's group 1 only, once";
  EXPECT_EQ(a.Counters().bootstrap_mismatches, 0u);
}

TEST(GrpcTransportTest, HandshakeAnnouncesTheRedisAddressForEverySenderListener) {
  // b was added at runtime: a's map has no entry for it, so a learns b's Redis address from
  // the stream b opens; a configured entry is never overridden.
  auto book = std::make_shared<RedisAddressBook>();
  Node a(kNodeA, Ephemeral({1, 2}), [&](GrpcTransportOptions& o) {
    o.redis_addresses = book;
    o.redis_address = "127.0.0.1:6001";
  });
  Node b(kNodeB, Ephemeral({1, 2}),
         [](GrpcTransportOptions& o) { o.redis_address = "127.0.0.1:6004"; });
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  const std::map<GroupId, std::string> b_listeners = b.Bound({1, 2});
  book->SetConfigured({{b_listeners.at(2), "127.0.0.1:7777"}});
  b.Learn(kNodeA, a.Bound({1, 2}));
  b.transport->Send({{1, App(kNodeB, kNodeA, 0)}});
  ASSERT_TRUE(PollUntil([&] { return a.inbox.MessageCount() == 1; }));
  EXPECT_EQ(book->Lookup(b_listeners.at(1)), "127.0.0.1:6004");
  EXPECT_EQ(book->Lookup(b_listeners.at(2)), "127.0.0.1:7777");
  EXPECT_EQ(book->Entries().size(), 2u) << "only b's listeners, nothing of a's own";
}

TEST(GrpcTransportTest, DownPeerIsUnreachableAndRestartedPeerGetsMessagesAgain) {
  Node a(kNodeA, Ephemeral({1, 2}));
  ASSERT_TRUE(a.Start().ok());
  std::map<GroupId, std::string> b_addresses;
  {
    Node b(kNodeB, Ephemeral({1, 2}));
    ASSERT_TRUE(b.Start().ok());
    b_addresses = b.Bound({1, 2});
    a.Learn(kNodeB, b_addresses);
    a.transport->Send({{1, App(kNodeA, kNodeB, 0)}});
    ASSERT_TRUE(PollUntil([&] { return b.inbox.MessageCount() == 1; }));
    b.transport->Stop();
  }

  // B is gone: every message ends up reported unreachable, and Send never waits for it.
  uint64_t seq = 1;
  ASSERT_TRUE(PollUntil([&] {
    const Clock::time_point before = Clock::now();
    a.transport->Send({{2, App(kNodeA, kNodeB, seq++)}});
    EXPECT_LT(Clock::now() - before, milliseconds(200));
    return a.inbox.UnreachableCount() >= 3;
  }));
  for (const auto& [g, n] : a.inbox.Unreachable()) {
    EXPECT_EQ(n, kNodeB);
    EXPECT_EQ(g, 2u);
  }

  Node b2(kNodeB, b_addresses);  // same ports
  ASSERT_TRUE(b2.Start().ok());
  ASSERT_TRUE(PollUntil([&] {
    a.transport->Send({{1, App(kNodeA, kNodeB, seq++)}});
    return b2.inbox.MessageCount() > 0;
  }));
  EXPECT_GE(a.Counters().reconnects, 1u);
  EXPECT_GE(a.Counters().streams_opened, 2u);
  // Once reconnected, delivery is in order again.
  const size_t before = b2.inbox.MessageCount();
  for (int i = 0; i < 50; ++i) a.transport->Send({{1, App(kNodeA, kNodeB, seq++)}});
  ASSERT_TRUE(PollUntil([&] { return b2.inbox.MessageCount() >= before + 50; }));
  auto got = b2.inbox.Messages();
  for (size_t i = 1; i < got.size(); ++i) EXPECT_LT(got[i - 1].second.index, got[i].second.index);
}

TEST(GrpcTransportTest, MessageForUnhostedGroupIsDroppedAndCounted) {
  Node a(kNodeA, Ephemeral({1}));
  Node b(kNodeB, Ephemeral({1, 2}));
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  a.Learn(kNodeB, b.Bound({1}));
  a.transport->Send({{7, App(kNodeA, kNodeB, 1)}, {2, App(kNodeA, kNodeB, 2)}});
  ASSERT_TRUE(PollUntil([&] { return b.inbox.MessageCount() == 1; }));
  // The message for group 7 came first on the same stream, so it has been judged already.
  EXPECT_EQ(b.Counters().unknown_group, 1u);
  EXPECT_EQ(b.inbox.Messages()[0].first, 2u) << "group 2 is accepted on group 1's listener";
  EXPECT_EQ(b.Counters().received, 1u);
}

TEST(GrpcTransportTest, MalformedMessagesAreRejectedAndTheStreamKeepsServing) {
  Node b(kNodeB, Ephemeral({1, 2}),
         [](GrpcTransportOptions& o) { o.codec_limits.max_entry_bytes = 1024; });
  ASSERT_TRUE(b.Start().ok());

  // Hand-built batches on a raw stub: an unknown type, a message for another node, a
  // missing message, then a valid one; a second batch proves the stream is still open.
  auto channel =
      grpc::CreateChannel(b.transport->BoundAddress(2), grpc::InsecureChannelCredentials());
  auto stub = v1::RaftTransport::NewStub(channel);
  grpc::ClientContext context;
  v1::StreamAck ack;
  auto writer = stub->Stream(&context, &ack);
  v1::MessageBatch batch;
  batch.set_from_node_id(kNodeA);
  v1::GroupMessage* unknown_type = batch.add_messages();
  unknown_type->set_group_id(1);
  EncodeRaftMessage(App(kNodeA, kNodeB, 1), unknown_type->mutable_message());
  unknown_type->mutable_message()->set_type(99);
  v1::GroupMessage* misaddressed = batch.add_messages();
  misaddressed->set_group_id(1);
  EncodeRaftMessage(App(kNodeA, 0xC, 2), misaddressed->mutable_message());
  batch.add_messages()->set_group_id(1);  // no message at all
  v1::GroupMessage* valid = batch.add_messages();
  valid->set_group_id(1);
  EncodeRaftMessage(App(kNodeA, kNodeB, 3), valid->mutable_message());
  ASSERT_TRUE(writer->Write(batch));
  batch.clear_messages();
  v1::GroupMessage* next = batch.add_messages();
  next->set_group_id(2);
  EncodeRaftMessage(App(kNodeA, kNodeB, 4), next->mutable_message());
  ASSERT_TRUE(writer->Write(batch));
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status status = writer->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(PollUntil([&] { return b.inbox.MessageCount() == 2; }));
  EXPECT_EQ(b.Counters().rejected_malformed, 3u);

  // Over the entry limit, through a real transport: refused, and the next one arrives.
  Node a(kNodeA, Ephemeral({1}));
  ASSERT_TRUE(a.Start().ok());
  a.Learn(kNodeB, b.Bound({1, 2}));
  raft::Message big = App(kNodeA, kNodeB, 5);
  big.entries[0].data.assign(2048, 'x');
  a.transport->Send({{1, big}, {1, App(kNodeA, kNodeB, 6)}});
  ASSERT_TRUE(PollUntil([&] { return b.inbox.MessageCount() == 3; }));
  EXPECT_EQ(b.Counters().rejected_malformed, 4u);
  std::vector<uint64_t> seqs;
  for (const auto& [g, m] : b.inbox.Messages()) seqs.push_back(m.index);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{3, 4, 6}));
}

TEST(GrpcTransportTest, GarbageOnTheListenerDoesNotHurtTheServer) {
  Node b(kNodeB, Ephemeral({1, 2}));
  ASSERT_TRUE(b.Start().ok());
  std::string junk;
  for (int i = 0; i < 8192; ++i) junk.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  // The HTTP/2 preface followed by frames of nonsense, and a plausible frame header lying
  // about its length.
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::string lying_frame("\xff\xff\xff\x00\x00\x00\x00\x00\x01garbage", 16);
  for (const std::string& bytes : {junk, preface + junk, preface + lying_frame,
                                   std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}) {
    for (GroupId g : {1, 2}) {
      RawSocket s;
      ASSERT_TRUE(s.Connect(b.transport->BoundAddress(g)));
      s.WriteAndDrain(bytes);
    }
  }

  Node a(kNodeA, Ephemeral({1}));
  ASSERT_TRUE(a.Start().ok());
  a.Learn(kNodeB, b.Bound({1, 2}));
  a.transport->Send({{1, App(kNodeA, kNodeB, 1)}, {2, App(kNodeA, kNodeB, 2)}});
  ASSERT_TRUE(PollUntil([&] { return b.inbox.MessageCount() == 2; }));
  EXPECT_EQ(b.Counters().received, 2u);
}

TEST(GrpcTransportTest, FullQueueDropsAtOnceAndReportsUnreachable) {
  // The peer's "listener" accepts TCP connections in the kernel and never speaks: the
  // sender stays stuck connecting, so the queue fills.
  RawSocket blackhole;
  const std::string address = blackhole.ListenEphemeral();
  ASSERT_FALSE(address.empty());
  Node a(kNodeA, Ephemeral({1}), [](GrpcTransportOptions& o) {
    o.peer_queue_capacity = 4;
    o.connect_timeout = std::chrono::seconds(30);
  });
  ASSERT_TRUE(a.Start().ok());
  a.Learn(kNodeB, {{1, address}});

  std::vector<GroupMessage> burst;
  for (uint64_t i = 0; i < 1000; ++i) burst.push_back({1, App(kNodeA, kNodeB, i)});
  const Clock::time_point before = Clock::now();
  a.transport->Send(std::move(burst));
  EXPECT_LT(Clock::now() - before, milliseconds(500));
  // Refusals are reported before Send returns.
  EXPECT_EQ(a.Counters().dropped_full, 996u);
  EXPECT_EQ(a.inbox.UnreachableCount(), 996u);

  // A node with no known address is unreachable at once too.
  a.transport->Send({{1, App(kNodeA, 0xC, 1)}});
  EXPECT_EQ(a.inbox.Unreachable().back(), (std::pair<GroupId, raft::NodeId>{1, 0xC}));

  const Clock::time_point stop_at = Clock::now();
  a.transport->Stop();  // while the sender is mid-connect
  EXPECT_LT(Clock::now() - stop_at, std::chrono::seconds(2));
}

TEST(GrpcTransportTest, BatchesStayUnderTheGrpcLimitAndAnOversizedMessageIsRefused) {
  Node b(kNodeB, Ephemeral({1}), [](GrpcTransportOptions& o) { o.max_grpc_message_bytes = 8192; });
  Node a(kNodeA, Ephemeral({1}), [](GrpcTransportOptions& o) { o.max_grpc_message_bytes = 8192; });
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  a.Learn(kNodeB, b.Bound({1}));
  std::vector<GroupMessage> burst;
  for (uint64_t i = 0; i < 40; ++i) {
    raft::Message m = App(kNodeA, kNodeB, i);
    m.entries[0].data.assign(i == 20 ? 10'000 : 1000, 'x');  // 40 KB in all; one too big
    burst.push_back({1, std::move(m)});
  }
  a.transport->Send(std::move(burst));
  ASSERT_TRUE(PollUntil([&] { return b.inbox.MessageCount() == 39; }));
  EXPECT_EQ(a.inbox.Unreachable(), (std::vector<std::pair<GroupId, raft::NodeId>>{{1, kNodeB}}));
  std::vector<uint64_t> seqs;
  for (const auto& [g, m] : b.inbox.Messages()) seqs.push_back(m.index);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i < 20 ? i : i + 1);
  EXPECT_EQ(a.Counters().streams_opened, 1u) << "split into several batches, never a reset";
  EXPECT_EQ(a.Counters().reconnects, 0u);
}

TEST(GrpcTransportTest, NoHandlerRunsAfterStopAndStopIsIdempotent) {
  Node a(kNodeA, Ephemeral({1}));
  std::atomic<bool> stopped{false};
  std::atomic<int> late_calls{0};
  Node b(kNodeB, Ephemeral({1}));
  b.transport->SetHandlers(
      [&](GroupId, raft::Message) {
        if (stopped) ++late_calls;
      },
      [&](GroupId, raft::NodeId) {
        if (stopped) ++late_calls;
      });
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  a.Learn(kNodeB, b.Bound({1}));
  b.Learn(kNodeA, a.Bound({1}));

  std::atomic<bool> pumping{true};
  std::thread pump([&] {
    uint64_t seq = 0;
    while (pumping) {
      a.transport->Send({{1, App(kNodeA, kNodeB, seq++)}});
      b.transport->Send({{1, App(kNodeB, kNodeA, seq++)}});
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  ASSERT_TRUE(PollUntil([&] { return a.Counters().received > 20 && b.Counters().received > 20; }));
  std::thread racing_stop([&] { b.transport->Stop(); });
  b.transport->Stop();
  stopped = true;
  racing_stop.join();
  // Keep traffic flowing until A has noticed B is gone.
  const uint64_t before = a.Counters().unreachable;
  ASSERT_TRUE(PollUntil([&] { return a.Counters().unreachable > before + 5; }));
  pumping = false;
  pump.join();
  EXPECT_EQ(late_calls.load(), 0);
  b.transport->Stop();
  b.transport->Send({{1, App(kNodeB, kNodeA, 1)}});  // after Stop: silently dropped
  EXPECT_FALSE(b.transport->Start().ok());
}

TEST(GrpcTransportTest, StopWithoutStartAndPortInUseAreHandled) {
  Node idle(kNodeA, Ephemeral({1}));
  idle.transport->Stop();
  idle.transport->Stop();

  Node first(kNodeA, Ephemeral({1}));
  ASSERT_TRUE(first.Start().ok());
  // gRPC would share the port through SO_REUSEPORT; the transport turns that off.
  Node second(kNodeB, first.Bound({1}));
  absl::Status s = second.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  second.transport->Stop();
}

}  // namespace
}  // namespace tessera::shard
