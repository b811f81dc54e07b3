// The snapshot stream of GrpcTransport over loopback: real .fsm files sent in chunks between two
// transports, and a raw client stub playing the misbehaving sender for the receiver's checks.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/metrics.h"
#include "proto/raft.grpc.pb.h"
#include "proto/raft.pb.h"
#include "shard/snapshot/fsm_file.h"
#include "shard/snapshot/snapshot_dir.h"
#include "shard/snapshot/snapshot_testing.h"
#include "shard/snapshot/snapshot_token.h"
#include "shard/transport/grpc_transport.h"

namespace tessera::shard {
namespace {

namespace v1 = tessera::raft::v1;
using std::chrono::milliseconds;
using testing::FileExists;
using testing::ListNames;
using testing::ReadFile;
using testing::ScopedTempDir;
using Clock = std::chrono::steady_clock;

constexpr raft::NodeId kNodeA = 0xA;
constexpr raft::NodeId kNodeB = 0xB;
constexpr raft::NodeId kNodeC = 0xC;
constexpr auto kDeadline = std::chrono::seconds(15);
constexpr size_t kSmallChunk = 64 << 10;
const std::string kPeersRecord = "peers-record-bytes";

// Polls `done` until it holds or the deadline passes; the only way these tests wait.
bool PollUntil(const std::function<bool()>& done, Clock::duration timeout = kDeadline) {
  const Clock::time_point until = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

struct SendStatus {
  GroupId group;
  raft::NodeId to;
  bool ok;
  bool operator==(const SendStatus&) const = default;
};

// A transport with a data dir of its own and recording snapshot handlers.
class SnapNode {
 public:
  SnapNode(raft::NodeId id, const std::vector<GroupId>& groups,
           const std::function<void(GrpcTransportOptions&)>& tweak = {}) {
    GrpcTransportOptions o;
    o.local_node = id;
    for (GroupId g : groups) o.listen_addresses[g] = "127.0.0.1:0";
    o.data_dir = dir_.path();
    o.snapshot_chunk_bytes = kSmallChunk;
    o.reconnect_initial = milliseconds(20);
    o.reconnect_max = milliseconds(300);
    o.snapshot_send_timeout = std::chrono::seconds(30);
    if (tweak) tweak(o);
    transport = std::make_unique<GrpcTransport>(o);
    transport->SetHandlers(
        [this](GroupId, raft::Message m) {
          std::lock_guard<std::mutex> lk(mu_);
          messages_.push_back(std::move(m));
        },
        [this](GroupId g, raft::NodeId n) {
          std::lock_guard<std::mutex> lk(mu_);
          unreachable_.emplace_back(g, n);
        });
    SnapshotHandlers h;
    h.on_snapshot = [this](InboundSnapshot s) {
      std::lock_guard<std::mutex> lk(mu_);
      inbound_.push_back(std::move(s));
    };
    h.on_status = [this](GroupId g, raft::NodeId to, bool ok) {
      std::lock_guard<std::mutex> lk(mu_);
      statuses_.push_back({g, to, ok});
    };
    h.installed_index = [this](GroupId g) {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = installed_.find(g);
      return it == installed_.end() ? uint64_t{0} : it->second;
    };
    transport->SetSnapshotHandlers(std::move(h));
  }

  void Start() { ASSERT_TRUE(transport->Start().ok()); }
  void Learn(raft::NodeId peer, const SnapNode& other, const std::vector<GroupId>& groups) {
    for (GroupId g : groups) transport->SetPeerAddress(g, peer, other.transport->BoundAddress(g));
  }
  void SetInstalled(GroupId g, uint64_t index) {
    std::lock_guard<std::mutex> lk(mu_);
    installed_[g] = index;
  }
  std::vector<InboundSnapshot> Inbound() const {
    std::lock_guard<std::mutex> lk(mu_);
    return inbound_;
  }
  std::vector<SendStatus> Statuses() const {
    std::lock_guard<std::mutex> lk(mu_);
    return statuses_;
  }
  std::vector<std::pair<GroupId, raft::NodeId>> Unreachable() const {
    std::lock_guard<std::mutex> lk(mu_);
    return unreachable_;
  }
  size_t MessageCount() const {
    std::lock_guard<std::mutex> lk(mu_);
    return messages_.size();
  }
  const std::string& data_dir() const { return dir_.path(); }
  std::string GroupDir(GroupId g) const { return GroupSnapshotDir(dir_.path(), g); }
  std::string Spool(GroupId g) const { return SpoolDir(dir_.path(), g); }

 private:
  ScopedTempDir dir_;
  mutable std::mutex mu_;
  std::vector<InboundSnapshot> inbound_;
  std::vector<SendStatus> statuses_;
  std::map<GroupId, uint64_t> installed_;
  std::vector<std::pair<GroupId, raft::NodeId>> unreachable_;
  std::vector<raft::Message> messages_;

 public:
  // Last: destroyed (stopped) first, while the directory and the records still exist.
  std::unique_ptr<GrpcTransport> transport;
};

// A real .fsm file of `rows` rows with `value_bytes`-byte values, written by FsmWriter.
struct FsmFile {
  std::string path;
  std::string bytes;
  uint32_t crc = 0;
};

FsmFile WriteFsm(const std::string& dir, uint64_t index, int rows, size_t value_bytes) {
  FsmFile f;
  auto writer = FsmWriter::Open(dir, index);
  EXPECT_TRUE(writer.ok()) << writer.status();
  if (!writer.ok()) return f;
  EXPECT_TRUE((*writer)->WriteHeader(FsmHeader{FsmHeaderVersion::kV1, 1'700'000'000'000, 0}).ok());
  for (int i = 0; i < rows; ++i) {
    const std::string value(value_bytes, static_cast<char>('a' + i % 26));
    EXPECT_TRUE((*writer)->AddRow(absl::StrFormat("key-%06d", i), value).ok());
  }
  absl::StatusOr<uint32_t> crc = (*writer)->Finish();
  EXPECT_TRUE(crc.ok()) << crc.status();
  f.path = (*writer)->path();
  f.bytes = ReadFile(f.path);
  f.crc = crc.value_or(0);
  return f;
}

// The same file placed where a sender's recorded snapshot lives.
FsmFile WriteGroupFsm(const SnapNode& node, GroupId g, uint64_t index, int rows = 4,
                      size_t value_bytes = 100) {
  EXPECT_TRUE(CreateSnapshotDirs(node.data_dir(), g).ok());
  return WriteFsm(node.GroupDir(g), index, rows, value_bytes);
}

raft::Message SnapMessage(raft::NodeId from, raft::NodeId to, uint64_t index, uint32_t crc) {
  raft::Message m;
  m.type = raft::MessageType::kSnap;
  m.from = from;
  m.to = to;
  m.term = 5;
  m.snapshot.data = EncodeSnapshotToken({index, crc});
  m.snapshot.metadata.index = index;
  m.snapshot.metadata.term = 4;
  m.snapshot.metadata.conf_state.voters = {kNodeA, kNodeB};
  m.snapshot.metadata.conf_state.learners = {kNodeC};
  return m;
}

OutboundSnapshot Outbound(GroupId g, raft::Message m, const FsmFile& f,
                          std::shared_ptr<const void> hold = nullptr) {
  return OutboundSnapshot{g, std::move(m), f.path, kPeersRecord, std::move(hold)};
}

v1::SnapshotHeader Header(GroupId g, uint64_t index, uint32_t crc, uint64_t total_size) {
  v1::SnapshotHeader h;
  h.set_group_id(g);
  h.set_from_node_id(kNodeA);
  h.set_to_node_id(kNodeB);
  h.set_term(5);
  h.mutable_metadata()->set_index(index);
  h.mutable_metadata()->set_term(4);
  h.mutable_metadata()->mutable_conf_state()->add_voters(kNodeA);
  h.mutable_metadata()->mutable_conf_state()->add_voters(kNodeB);
  h.set_token(EncodeSnapshotToken({index, crc}));
  h.set_total_size(total_size);
  h.set_peers_record(kPeersRecord);
  return h;
}

// A hand-driven SendSnapshot call: the misbehaving sender.
class RawCall {
 public:
  explicit RawCall(const std::string& address)
      : stub_(v1::RaftTransport::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {
    context_.set_deadline(std::chrono::system_clock::now() + kDeadline);
    writer_ = stub_->SendSnapshot(&context_, &reply_);
  }

  bool Header(const v1::SnapshotHeader& h) {
    v1::SnapshotRequest r;
    *r.mutable_header() = h;
    return writer_->Write(r);
  }
  bool Chunk(uint64_t offset, std::string_view data) {
    v1::SnapshotRequest r;
    r.mutable_chunk()->set_offset(offset);
    r.mutable_chunk()->set_data(std::string(data));
    return writer_->Write(r);
  }
  // The whole of `bytes` in `chunk`-byte pieces.
  bool Chunks(std::string_view bytes, size_t chunk = kSmallChunk) {
    for (size_t off = 0; off < bytes.size(); off += chunk) {
      if (!Chunk(off, bytes.substr(off, chunk))) return false;
    }
    return true;
  }
  bool Final() {
    v1::SnapshotRequest r;
    r.mutable_final();
    return writer_->Write(r);
  }
  // Ends the client side and returns the server's verdict.
  grpc::Status Finish() {
    writer_->WritesDone();
    return writer_->Finish();
  }
  const v1::SnapshotReply& reply() const { return reply_; }

 private:
  std::unique_ptr<v1::RaftTransport::Stub> stub_;
  grpc::ClientContext context_;
  v1::SnapshotReply reply_;
  std::unique_ptr<grpc::ClientWriter<v1::SnapshotRequest>> writer_;
};

// Sends a whole stream (header, chunks, final) and returns the reply; the reason is
// "<rpc error>" when the call itself failed.
v1::SnapshotReply RawSend(const std::string& address, const v1::SnapshotHeader& h,
                          std::string_view bytes) {
  RawCall call(address);
  if (call.Header(h) && call.Chunks(bytes)) call.Final();
  const grpc::Status status = call.Finish();
  if (!status.ok()) {
    v1::SnapshotReply failed;
    failed.set_reason("<rpc error> " + status.error_message());
    return failed;
  }
  return call.reply();
}

// A loopback listener that accepts TCP connections and never speaks HTTP/2: a send to it
// stays connecting until cancelled.
class SilentPeer {
 public:
  SilentPeer() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0) return;
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    address_ = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
    timeval tv{static_cast<time_t>(kDeadline.count()), 0};  // bounds every accept
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~SilentPeer() {
    for (int c : accepted_) close(c);
    close(fd_);
  }
  const std::string& address() const { return address_; }
  // True once a connection arrived (within the deadline).
  bool AcceptOne() {
    const int c = accept(fd_, nullptr, nullptr);
    if (c < 0) return false;
    accepted_.push_back(c);
    return true;
  }

 private:
  int fd_;
  std::string address_;
  std::vector<int> accepted_;
};

unsigned FileMode(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 0777;
}

// A counter sample from the default registry's exposition; 0 when the series is absent.
double MetricValue(const std::string& name, GroupId g) {
  const std::string text = common::DefaultRegistry().Exposition();
  const std::string series = absl::StrCat(name, "{group=\"", g, "\"} ");
  const size_t at = text.find(series);
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size(), text.find('\n', at) - at - series.size()));
}

TEST(SnapshotStreamTest, MultiChunkSnapshotArrivesIntact) {
  constexpr GroupId kGroup = 41;  // its own metric series
  SnapNode a(kNodeA, {kGroup});
  SnapNode b(kNodeB, {kGroup, 2});
  a.Start();
  b.Start();
  a.Learn(kNodeB, b, {kGroup});
  const FsmFile f = WriteGroupFsm(a, kGroup, 100, /*rows=*/400, /*value_bytes=*/1000);
  ASSERT_GT(f.bytes.size(), 6 * kSmallChunk) << "several chunks";
  const double sends_before = MetricValue("tessera_raft_snapshot_stream_sends_total", kGroup);
  const double bytes_before =
      MetricValue("tessera_raft_snapshot_stream_payload_bytes_total", kGroup);

  auto hold = std::make_shared<int>(7);
  std::weak_ptr<int> held = hold;
  const raft::Message m = SnapMessage(kNodeA, kNodeB, 100, f.crc);
  a.transport->SendSnapshot(Outbound(kGroup, m, f, std::move(hold)));
  ASSERT_TRUE(PollUntil([&] { return !a.Statuses().empty(); }));
  EXPECT_EQ(a.Statuses(), (std::vector<SendStatus>{{kGroup, kNodeB, true}}));
  EXPECT_TRUE(held.expired()) << "the hold is dropped once the send is over";

  const std::vector<InboundSnapshot> got = b.Inbound();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].group, kGroup);
  EXPECT_EQ(got[0].message, m) << "type, from/to/term, metadata and token survive the trip";
  EXPECT_EQ(got[0].peers_record, kPeersRecord);
  const std::string installed = FsmPath(b.data_dir(), kGroup, 100);
  EXPECT_EQ(ReadFile(installed), f.bytes) << "byte-identical";
  EXPECT_TRUE(VerifyFsmFile(installed, f.crc).ok());
  EXPECT_EQ(FileMode(installed), 0600u);
  EXPECT_EQ(ListNames(b.GroupDir(kGroup)), (std::vector<std::string>{FsmFileName(100), "spool"}));
  EXPECT_TRUE(ListNames(b.Spool(kGroup)).empty());

  EXPECT_EQ(MetricValue("tessera_raft_snapshot_stream_sends_total", kGroup), sends_before + 1);
  EXPECT_EQ(MetricValue("tessera_raft_snapshot_stream_payload_bytes_total", kGroup),
            bytes_before + static_cast<double>(f.bytes.size()));
  EXPECT_EQ(a.MessageCount() + b.MessageCount(), 0u) << "nothing on the message stream";
}

TEST(SnapshotStreamTest, VerifiesBeforeMutating) {
  SnapNode a(kNodeA, {1});
  SnapNode b(kNodeB, {1});
  a.Start();
  b.Start();
  a.Learn(kNodeB, b, {1});
  const FsmFile good = WriteGroupFsm(a, 1, 100, 50, 100);
  // Flip one body byte in place: size and footer still match the token, the payload CRC not.
  std::string corrupt = good.bytes;
  corrupt[corrupt.size() / 2] ^= 0x01;
  testing::WriteFile(good.path, corrupt);

  a.transport->SendSnapshot(Outbound(1, SnapMessage(kNodeA, kNodeB, 100, good.crc), good));
  ASSERT_TRUE(PollUntil([&] { return !a.Statuses().empty(); }));
  EXPECT_EQ(a.Statuses(), (std::vector<SendStatus>{{1, kNodeB, false}}));
  EXPECT_TRUE(b.Inbound().empty());
  EXPECT_EQ(ListNames(b.GroupDir(1)), std::vector<std::string>{"spool"}) << "no .fsm installed";
  EXPECT_TRUE(ListNames(b.Spool(1)).empty()) << "no spool left behind";

  // The reply says why.
  const v1::SnapshotReply reply =
      RawSend(b.transport->BoundAddress(1), Header(1, 100, good.crc, corrupt.size()), corrupt);
  EXPECT_FALSE(reply.accepted());
  EXPECT_NE(reply.reason().find("kSnapshotFileCrc"), std::string::npos) << reply.reason();
  // A wrong token CRC is caught by the footer check.
  const v1::SnapshotReply wrong_token = RawSend(
      b.transport->BoundAddress(1), Header(1, 100, good.crc ^ 1, good.bytes.size()), good.bytes);
  EXPECT_FALSE(wrong_token.accepted());
  EXPECT_NE(wrong_token.reason().find("kSnapshotTokenCrc"), std::string::npos)
      << wrong_token.reason();
  EXPECT_TRUE(b.Inbound().empty());
  EXPECT_EQ(ListNames(b.GroupDir(1)), std::vector<std::string>{"spool"});
  EXPECT_TRUE(ListNames(b.Spool(1)).empty());
}

TEST(SnapshotStreamTest, NewerSnapshotCancelsOlderSpool) {
  SnapNode a(kNodeA, {1});
  SnapNode b(kNodeB, {1});
  a.Start();
  b.Start();
  a.Learn(kNodeB, b, {1});
  ScopedTempDir source;
  const FsmFile older = WriteFsm(source.path(), 100, 400, 1000);

  // The older stream stalls after its first chunk, its spool file open.
  RawCall stalled(b.transport->BoundAddress(1));
  ASSERT_TRUE(stalled.Header(Header(1, 100, older.crc, older.bytes.size())));
  ASSERT_TRUE(stalled.Chunk(0, std::string_view(older.bytes).substr(0, kSmallChunk)));
  ASSERT_TRUE(PollUntil([&] { return ListNames(b.Spool(1)).size() == 1; }));
  EXPECT_EQ(ListNames(b.Spool(1))[0].substr(0, 17), FsmFileName(100).substr(0, 16) + "-");
  EXPECT_EQ(FileMode(b.Spool(1) + "/" + ListNames(b.Spool(1))[0]), 0600u);

  const FsmFile newer = WriteGroupFsm(a, 1, 200, 400, 1000);
  a.transport->SendSnapshot(Outbound(1, SnapMessage(kNodeA, kNodeB, 200, newer.crc), newer));
  ASSERT_TRUE(PollUntil([&] { return !a.Statuses().empty(); }));
  EXPECT_EQ(a.Statuses(), (std::vector<SendStatus>{{1, kNodeB, true}}));

  // The older call was cancelled by the receiver.
  stalled.Chunk(kSmallChunk, std::string_view(older.bytes).substr(kSmallChunk, kSmallChunk));
  const grpc::Status status = stalled.Finish();
  EXPECT_FALSE(status.ok() && stalled.reply().accepted());
  const std::vector<InboundSnapshot> got = b.Inbound();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message.snapshot.metadata.index, 200u);
  EXPECT_EQ(ListNames(b.GroupDir(1)), (std::vector<std::string>{FsmFileName(200), "spool"}));
  EXPECT_TRUE(ListNames(b.Spool(1)).empty()) << "the older spool file is gone";
}

TEST(SnapshotStreamTest, StaleSnapshotRejected) {
  SnapNode a(kNodeA, {1});
  SnapNode b(kNodeB, {1});
  a.Start();
  b.Start();
  a.Learn(kNodeB, b, {1});
  b.SetInstalled(1, 100);
  const std::string address = b.transport->BoundAddress(1);
  ScopedTempDir source;
  for (uint64_t index : {50, 100}) {
    const FsmFile f = WriteFsm(source.path(), index, 4, 100);
    const v1::SnapshotReply reply =
        RawSend(address, Header(1, index, f.crc, f.bytes.size()), f.bytes);
    EXPECT_FALSE(reply.accepted()) << index;
    EXPECT_EQ(reply.reason(), "stale") << index;
  }
  // Through the real sender: reported failed.
  const FsmFile f = WriteGroupFsm(a, 1, 100);
  a.transport->SendSnapshot(Outbound(1, SnapMessage(kNodeA, kNodeB, 100, f.crc), f));
  ASSERT_TRUE(PollUntil([&] { return !a.Statuses().empty(); }));
  EXPECT_EQ(a.Statuses(), (std::vector<SendStatus>{{1, kNodeB, false}}));
  EXPECT_TRUE(b.Inbound().empty());
  EXPECT_TRUE(ListNames(b.data_dir()).empty()) << "nothing spooled for a stale snapshot";

  // An index above the installed one goes through; sending it again finds its file: stale.
  const FsmFile next = WriteFsm(source.path(), 101, 4, 100);
  EXPECT_TRUE(RawSend(address, Header(1, 101, next.crc, next.bytes.size()), next.bytes).accepted());
  const v1::SnapshotReply again =
      RawSend(address, Header(1, 101, next.crc, next.bytes.size()), next.bytes);
  EXPECT_FALSE(again.accepted());
  EXPECT_EQ(again.reason(), "stale");
  EXPECT_EQ(b.Inbound().size(), 1u);
}

TEST(SnapshotStreamTest, IndexAtOrBelowTheSpoolInProgressIsStale) {
  SnapNode b(kNodeB, {1});
  b.Start();
  const std::string address = b.transport->BoundAddress(1);
  ScopedTempDir source;
  const FsmFile f = WriteFsm(source.path(), 150, 4, 100);
  RawCall in_progress(address);
  ASSERT_TRUE(in_progress.Header(Header(1, 150, f.crc, f.bytes.size())));
  ASSERT_TRUE(in_progress.Chunk(0, std::string_view(f.bytes).substr(0, 10)));
  ASSERT_TRUE(PollUntil([&] { return ListNames(b.Spool(1)).size() == 1; }));

  for (uint64_t index : {120, 150}) {
    const v1::SnapshotReply reply = RawSend(address, Header(1, index, 1, 100), "");
    EXPECT_FALSE(reply.accepted());
    EXPECT_EQ(reply.reason(), "stale") << index;
  }
  // The spool in progress was not disturbed: it completes.
  ASSERT_TRUE(in_progress.Chunk(10, std::string_view(f.bytes).substr(10)));
  ASSERT_TRUE(in_progress.Final());
  ASSERT_TRUE(in_progress.Finish().ok());
  EXPECT_TRUE(in_progress.reply().accepted()) << in_progress.reply().reason();
  ASSERT_EQ(b.Inbound().size(), 1u);
  EXPECT_EQ(b.Inbound()[0].message.snapshot.metadata.index, 150u);
}

TEST(SnapshotStreamTest, TooLargeRejectedBeforeSpooling) {
  SnapNode a(kNodeA, {1});
  SnapNode b(kNodeB, {1}, [](GrpcTransportOptions& o) { o.max_snapshot_bytes = 4096; });
  a.Start();
  b.Start();
  a.Learn(kNodeB, b, {1});
  const FsmFile big = WriteGroupFsm(a, 1, 100, 20, 1000);
  ASSERT_GT(big.bytes.size(), 4096u);

  const v1::SnapshotReply reply =
      RawSend(b.transport->BoundAddress(1), Header(1, 100, big.crc, big.bytes.size()), big.bytes);
  EXPECT_FALSE(reply.accepted());
  EXPECT_EQ(reply.reason().rfind("too large", 0), 0u) << reply.reason();
  a.transport->SendSnapshot(Outbound(1, SnapMessage(kNodeA, kNodeB, 100, big.crc), big));
  ASSERT_TRUE(PollUntil([&] { return !a.Statuses().empty(); }));
  EXPECT_EQ(a.Statuses(), (std::vector<SendStatus>{{1, kNodeB, false}}));
  EXPECT_TRUE(b.Inbound().empty());
  EXPECT_TRUE(ListNames(b.data_dir()).empty()) << "no file, not even a directory";
}

TEST(SnapshotStreamTest, HeaderChecksRefuseBeforeAnyFile) {
  SnapNode b(kNodeB, {1});
  b.Start();
  const std::string address = b.transport->BoundAddress(1);
  ScopedTempDir source;
  const FsmFile f = WriteFsm(source.path(), 100, 4, 100);
  const v1::SnapshotHeader good = Header(1, 100, f.crc, f.bytes.size());

  struct Case {
    std::string name;
    std::function<void(v1::SnapshotHeader&)> edit;
    std::string reason;  // a substring of the reply's reason
  };
  const std::vector<Case> cases = {
      {"unknown group", [](v1::SnapshotHeader& h) { h.set_group_id(9); }, "group 9 not hosted"},
      {"other node", [](v1::SnapshotHeader& h) { h.set_to_node_id(kNodeC); }, "addressed to node"},
      {"token index",
       [](v1::SnapshotHeader& h) {
         h.set_token(EncodeSnapshotToken({99, 1}));
       },
       "kSnapshotIndexMismatch"},
      {"token bytes", [](v1::SnapshotHeader& h) { h.set_token("TSRT-not-a-token"); },
       "kSnapshotTokenInvalid"},
      {"empty token", [](v1::SnapshotHeader& h) { h.clear_token(); }, "kSnapshotTokenInvalid"},
      {"too small", [](v1::SnapshotHeader& h) { h.set_total_size(19); }, "too small"},
      {"index 0",
       [](v1::SnapshotHeader& h) {
         h.mutable_metadata()->set_index(0);
         h.set_token(EncodeSnapshotToken({0, 1}));
       },
       "malformed"},
      {"metadata term 0", [](v1::SnapshotHeader& h) { h.mutable_metadata()->set_term(0); },
       "malformed"},
      {"message term 0", [](v1::SnapshotHeader& h) { h.set_term(0); }, "malformed"},
      {"no sender", [](v1::SnapshotHeader& h) { h.set_from_node_id(0); }, "malformed"},
      {"no voters", [](v1::SnapshotHeader& h) { h.mutable_metadata()->clear_conf_state(); },
       "no voters"},
  };
  for (const Case& c : cases) {
    v1::SnapshotHeader h = good;
    c.edit(h);
    const v1::SnapshotReply reply = RawSend(address, h, f.bytes);
    EXPECT_FALSE(reply.accepted()) << c.name;
    EXPECT_NE(reply.reason().find(c.reason), std::string::npos) << c.name << ": " << reply.reason();
  }
  // Not a header first.
  RawCall headless(address);
  ASSERT_TRUE(headless.Chunk(0, f.bytes));
  ASSERT_TRUE(headless.Finish().ok());
  EXPECT_FALSE(headless.reply().accepted());
  EXPECT_NE(headless.reply().reason().find("not a header"), std::string::npos);

  EXPECT_TRUE(b.Inbound().empty());
  EXPECT_TRUE(ListNames(b.data_dir()).empty());
  // The untouched header is accepted, so each case above failed on its own edit.
  EXPECT_TRUE(RawSend(address, good, f.bytes).accepted());
}

TEST(SnapshotStreamTest, BadStreamsLeaveNoSpool) {
  SnapNode b(kNodeB, {1});
  b.Start();
  const std::string address = b.transport->BoundAddress(1);
  ScopedTempDir source;
  const FsmFile f = WriteFsm(source.path(), 100, 300, 1000);
  const std::string_view bytes = f.bytes;
  const v1::SnapshotHeader h = Header(1, 100, f.crc, f.bytes.size());

  struct Case {
    std::string name;
    std::function<void(RawCall&)> drive;  // after the header
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"offset gap",
       [&](RawCall& c) {
         c.Chunk(0, bytes.substr(0, 1000));
         c.Chunk(2000, bytes.substr(2000, 1000));
       },
       "chunk at offset 2000, expected 1000"},
      {"overlap",
       [&](RawCall& c) {
         c.Chunk(0, bytes.substr(0, 1000));
         c.Chunk(500, bytes.substr(500, 1000));
       },
       "chunk at offset 500"},
      {"overrun",
       [&](RawCall& c) {
         c.Chunks(bytes);
         c.Chunk(bytes.size(), "x");
       },
       "beyond total_size"},
      {"missing final", [&](RawCall& c) { c.Chunks(bytes); }, "without final"},
      {"short",
       [&](RawCall& c) {
         c.Chunks(bytes.substr(0, bytes.size() - 1));
         c.Final();
       },
       "received"},
      {"second header",
       [&](RawCall& c) {
         c.Chunk(0, bytes.substr(0, 1000));
         c.Header(h);
       },
       "unexpected message"},
  };
  for (const Case& c : cases) {
    RawCall call(address);
    ASSERT_TRUE(call.Header(h));
    c.drive(call);
    ASSERT_TRUE(call.Finish().ok()) << c.name;
    EXPECT_FALSE(call.reply().accepted()) << c.name;
    EXPECT_NE(call.reply().reason().find(c.reason), std::string::npos)
        << c.name << ": " << call.reply().reason();
    EXPECT_TRUE(ListNames(b.Spool(1)).empty()) << c.name;
    EXPECT_FALSE(FileExists(FsmPath(b.data_dir(), 1, 100))) << c.name;
  }
  EXPECT_TRUE(b.Inbound().empty());
  // The same bytes, well formed, are accepted.
  EXPECT_TRUE(RawSend(address, h, bytes).accepted());
}

TEST(SnapshotStreamTest, UnknownPeerAndUnstartedTransportReportFailure) {
  SnapNode a(kNodeA, {1});
  const FsmFile f = WriteGroupFsm(a, 1, 100);
  a.transport->SendSnapshot(Outbound(1, SnapMessage(kNodeA, kNodeB, 100, f.crc), f));
  EXPECT_EQ(a.Statuses(), (std::vector<SendStatus>{{1, kNodeB, false}})) << "not started: at once";

  a.Start();
  a.transport->SendSnapshot(Outbound(1, SnapMessage(kNodeA, kNodeC, 100, f.crc), f));
  ASSERT_TRUE(PollUntil([&] { return a.Statuses().size() == 2; }));
  EXPECT_EQ(a.Statuses()[1], (SendStatus{1, kNodeC, false}));

  // A missing file fails too.
  SnapNode b(kNodeB, {1});
  b.Start();
  a.Learn(kNodeB, b, {1});
  FsmFile missing = f;
  missing.path += ".gone";
  a.transport->SendSnapshot(Outbound(1, SnapMessage(kNodeA, kNodeB, 100, f.crc), missing));
  ASSERT_TRUE(PollUntil([&] { return a.Statuses().size() == 3; }));
  EXPECT_EQ(a.Statuses()[2], (SendStatus{1, kNodeB, false}));
  EXPECT_TRUE(b.Inbound().empty());
}

TEST(SnapshotStreamTest, SnapThroughSendIsUnreachableAndRefusedOnTheMessageStream) {
  SnapNode a(kNodeA, {1});
  SnapNode b(kNodeB, {1});
  a.Start();
  b.Start();
  a.Learn(kNodeB, b, {1});
  a.transport->Send({{1, SnapMessage(kNodeA, kNodeB, 100, 1)}});
  EXPECT_EQ(a.Unreachable(), (std::vector<std::pair<GroupId, raft::NodeId>>{{1, kNodeB}}));
  EXPECT_EQ(a.transport->Counters().sent, 0u);

  // A peer that puts one on the message stream anyway: refused as malformed, stream goes on.
  auto stub = v1::RaftTransport::NewStub(
      grpc::CreateChannel(b.transport->BoundAddress(1), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDeadline);
  v1::StreamAck ack;
  auto writer = stub->Stream(&context, &ack);
  v1::MessageBatch batch;
  batch.set_from_node_id(kNodeA);
  v1::GroupMessage* snap = batch.add_messages();
  snap->set_group_id(1);
  EncodeRaftMessage(SnapMessage(kNodeA, kNodeB, 100, 1), snap->mutable_message());
  v1::GroupMessage* heartbeat = batch.add_messages();
  heartbeat->set_group_id(1);
  raft::Message hb;
  hb.type = raft::MessageType::kHeartbeat;
  hb.from = kNodeA;
  hb.to = kNodeB;
  hb.term = 5;
  EncodeRaftMessage(hb, heartbeat->mutable_message());
  ASSERT_TRUE(writer->Write(batch));
  ASSERT_TRUE(PollUntil([&] { return b.MessageCount() == 1; }));
  EXPECT_EQ(b.transport->Counters().rejected_malformed, 1u);
  EXPECT_TRUE(b.Inbound().empty());
  writer->WritesDone();
  EXPECT_TRUE(writer->Finish().ok());
}

TEST(SnapshotStreamTest, NewerSendReplacesQueuedOneAndStopFailsTheRest) {
  SilentPeer silent;
  ASSERT_FALSE(silent.address().empty());
  SnapNode a(kNodeA, {1}, [](GrpcTransportOptions& o) { o.max_concurrent_snapshot_sends = 1; });
  a.Start();
  a.transport->SetPeerAddress(1, kNodeB, silent.address());
  a.transport->SetPeerAddress(2, kNodeC, silent.address());
  const FsmFile f = WriteGroupFsm(a, 1, 100);

  auto hold1 = std::make_shared<int>(1);
  auto hold2 = std::make_shared<int>(2);
  auto hold3 = std::make_shared<int>(3);
  std::weak_ptr<int> held1 = hold1, held2 = hold2, held3 = hold3;
  a.transport->SendSnapshot(
      Outbound(1, SnapMessage(kNodeA, kNodeB, 100, f.crc), f, std::move(hold1)));
  ASSERT_TRUE(silent.AcceptOne()) << "the first send is streaming (stuck connecting)";
  const Clock::time_point before = Clock::now();
  a.transport->SendSnapshot(
      Outbound(1, SnapMessage(kNodeA, kNodeB, 100, f.crc), f, std::move(hold2)));
  a.transport->SendSnapshot(
      Outbound(1, SnapMessage(kNodeA, kNodeB, 100, f.crc), f, std::move(hold3)));
  // Waits for the only worker, which is busy with the first.
  a.transport->SendSnapshot(Outbound(2, SnapMessage(kNodeA, kNodeC, 100, f.crc), f));
  EXPECT_LT(Clock::now() - before, milliseconds(500)) << "SendSnapshot never blocks";
  EXPECT_EQ(a.Statuses(), (std::vector<SendStatus>{{1, kNodeB, false}})) << "the second, replaced";
  EXPECT_TRUE(held2.expired());
  EXPECT_FALSE(held1.expired());
  EXPECT_FALSE(held3.expired());

  a.transport->Stop();
  // Every send reported exactly once, before Stop returned; nothing after.
  std::vector<SendStatus> statuses = a.Statuses();
  ASSERT_EQ(statuses.size(), 4u);
  for (const SendStatus& s : statuses) EXPECT_FALSE(s.ok);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), SendStatus{1, kNodeB, false}), 3);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), SendStatus{2, kNodeC, false}), 1);
  EXPECT_TRUE(held1.expired());
  EXPECT_TRUE(held3.expired());
  a.transport->SendSnapshot(Outbound(1, SnapMessage(kNodeA, kNodeB, 100, f.crc), f));
  EXPECT_EQ(a.Statuses().size(), 4u) << "no handler runs after Stop";
}

TEST(SnapshotStreamTest, StopCancelsAnInflightReceiveAndCleansUp) {
  SnapNode b(kNodeB, {1});
  b.Start();
  ScopedTempDir source;
  const FsmFile f = WriteFsm(source.path(), 100, 300, 1000);
  RawCall call(b.transport->BoundAddress(1));
  ASSERT_TRUE(call.Header(Header(1, 100, f.crc, f.bytes.size())));
  ASSERT_TRUE(call.Chunk(0, std::string_view(f.bytes).substr(0, kSmallChunk)));
  ASSERT_TRUE(PollUntil([&] { return ListNames(b.Spool(1)).size() == 1; }));

  b.transport->Stop();
  EXPECT_TRUE(ListNames(b.Spool(1)).empty()) << "cleaned up before Stop returned";
  EXPECT_FALSE(call.Finish().ok());
  EXPECT_TRUE(b.Inbound().empty());
  EXPECT_EQ(ListNames(b.GroupDir(1)), std::vector<std::string>{"spool"});
}

TEST(SnapshotStreamTest, NoDataDirOrNoHandlersRefusesInboundSnapshots) {
  ScopedTempDir source;
  const FsmFile f = WriteFsm(source.path(), 100, 4, 100);
  const v1::SnapshotHeader h = Header(1, 100, f.crc, f.bytes.size());

  SnapNode b(kNodeB, {1}, [](GrpcTransportOptions& o) { o.data_dir.clear(); });
  b.Start();
  const v1::SnapshotReply reply = RawSend(b.transport->BoundAddress(1), h, f.bytes);
  EXPECT_FALSE(reply.accepted());
  EXPECT_NE(reply.reason().find("no data dir"), std::string::npos) << reply.reason();
  EXPECT_TRUE(b.Inbound().empty());

  ScopedTempDir data;
  GrpcTransportOptions o;
  o.local_node = kNodeB;
  o.listen_addresses[1] = "127.0.0.1:0";
  o.data_dir = data.path();
  GrpcTransport bare(o);  // SetSnapshotHandlers never called
  ASSERT_TRUE(bare.Start().ok());
  const v1::SnapshotReply refused = RawSend(bare.BoundAddress(1), h, f.bytes);
  EXPECT_FALSE(refused.accepted());
  EXPECT_EQ(refused.reason(), "no snapshot handlers");
  EXPECT_TRUE(ListNames(data.path()).empty());
}

}  // namespace
}  // namespace tessera::shard
