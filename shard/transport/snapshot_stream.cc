// RaftTransport.SendSnapshot: the receiver spools chunks to disk with bounded memory, verifies
// the whole file before anything changes, then renames and hands over the kSnap; the sender
// streams a recorded .fsm file under a deadline on a bounded pool of workers.
#include "shard/transport/snapshot_stream.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "common/transfer_progress.h"
#include "proto/raft.grpc.pb.h"
#include "shard/membership/peers_record.h"
#include "shard/snapshot/fsm_file.h"
#include "shard/snapshot/fsm_format.h"
#include "shard/snapshot/posix_file.h"
#include "shard/snapshot/snapshot_dir.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/snapshot/snapshot_token.h"
#include "shard/transport/raft_codec.h"

namespace tessera::shard::transport_internal {
namespace {

namespace v1 = tessera::raft::v1;
using snapshot_internal::RemoveFile;
using snapshot_internal::SyncDir;
using snapshot_internal::UniqueFd;
using snapshot_internal::WriteAll;

// The largest encodable peers record (EncodePeersRecord): header, kMaxPeers peers at their
// longest, CRC.
constexpr size_t kMaxPeersRecordBytes =
    kPeersRecordMagic.size() + 2 + 8 + 4 +
    kMaxPeers * (8 + 1 + 2 + kMaxRaftIdLength + 2 + kMaxAddressLength) + 4;

// How often a stream waiting for an older spool of its group to go away checks its own call.
constexpr auto kClaimPoll = std::chrono::milliseconds(50);

struct StreamMetrics {
  common::Family<common::Counter>* sends;
  common::Family<common::Counter>* payload_bytes;
};

const StreamMetrics& Metrics() {
  static const StreamMetrics metrics = [] {
    common::Registry& r = common::DefaultRegistry();
    const std::vector<std::string> group = {"group"};
    return StreamMetrics{
        &r.AddCounter("tessera_raft_snapshot_stream_sends_total",
                      "Snapshots streamed to a peer and accepted by it.", group),
        &r.AddCounter("tessera_raft_snapshot_stream_payload_bytes_total",
                      "Snapshot file bytes written to peer streams.", group),
    };
  }();
  return metrics;
}

// Every refusal is a short reason for the reply; the status code is not sent.
absl::Status Refuse(std::string reason) { return absl::FailedPreconditionError(reason); }

// The one reason the driver may act on: the receiver already has this snapshot or a newer one.
absl::Status Stale() { return Refuse("stale"); }

std::string Reason(const absl::Status& status) { return std::string(status.message()); }

// Renames without ever replacing an existing file (which a token may reference).
int RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  // The file system cannot do it atomically; the header check refused an existing final name.
  return ::rename(from.c_str(), to.c_str());
}

uint64_t RandomNonce() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

// A header that passed every check that needs no file.
struct SnapshotReceiver::Accepted {
  GroupId group = 0;
  SnapshotToken token;
  uint64_t total_size = 0;
  raft::Message message;  // the kSnap handed to the driver
  std::string peers_record;
};

// The spool file of one stream: removed when the stream ends unless it was installed.
struct SnapshotReceiver::SpoolFile {
  ~SpoolFile() {
    if (path.empty() || installed) return;
    fd = UniqueFd();
    if (absl::Status s = RemoveFile(path); !s.ok()) {
      spdlog::error("raft transport: cannot remove snapshot spool: {}", Reason(s));
    }
  }
  std::string path;
  UniqueFd fd;
  bool installed = false;
};

grpc::Status SnapshotReceiver::Receive(grpc::ServerContext* context,
                                       grpc::ServerReader<v1::SnapshotRequest>* reader,
                                       v1::SnapshotReply* reply) {
  const std::string peer = context->peer();  // unknown once the call is cancelled
  v1::SnapshotRequest first;
  absl::Status result;
  uint64_t group = 0;
  uint64_t index = 0;
  std::string summary;
  if (!reader->Read(&first)) {
    result = Refuse("stream ended before the header");
  } else if (!first.has_header()) {
    result = Refuse("first message is not a header");
  } else {
    group = first.header().group_id();
    index = first.header().metadata().index();
    absl::StatusOr<Accepted> accepted = CheckHeader(first.header());
    absl::StatusOr<std::shared_ptr<Spool>> spool =
        accepted.ok() ? Claim(group, index, context)
                      : absl::StatusOr<std::shared_ptr<Spool>>(accepted.status());
    if (!spool.ok()) {
      result = spool.status();
    } else {
      result = SpoolAndInstall(*accepted, **spool, reader, &summary);
      Release(group, *spool);
    }
  }
  reply->set_accepted(result.ok());
  if (result.ok()) {
    spdlog::info("raft transport: installed snapshot {} of group {} from {}: {}", index, group,
                 peer, summary);
  } else {
    reply->set_reason(Reason(result));
    spdlog::warn("raft transport: refused snapshot {} of group {} from {}: {}", index, group, peer,
                 Reason(result));
  }
  return grpc::Status::OK;
}

absl::StatusOr<SnapshotReceiver::Accepted> SnapshotReceiver::CheckHeader(
    const v1::SnapshotHeader& h) {
  if (options_.data_dir.empty()) return Refuse("snapshots disabled: no data dir");
  if (!options_.listen_addresses.contains(h.group_id())) {
    return Refuse(absl::StrCat("group ", h.group_id(), " not hosted"));
  }
  if (options_.local_node != raft::kNoNode && h.to_node_id() != options_.local_node) {
    return Refuse(
        absl::StrCat("addressed to node ", h.to_node_id(), ", this is ", options_.local_node));
  }
  // Before anything touches the disk.
  if (h.total_size() > options_.max_snapshot_bytes) {
    return Refuse(
        absl::StrCat("too large: ", h.total_size(), " bytes, limit ", options_.max_snapshot_bytes));
  }
  if (h.total_size() < kFsmMinFileSize) {
    return Refuse(absl::StrCat("too small: ", h.total_size(), " bytes"));
  }
  absl::StatusOr<SnapshotToken> token = DecodeSnapshotToken(h.token());
  if (!token.ok()) return Refuse(Reason(token.status()));
  if (absl::Status s = CheckTokenIndex(*token, h.metadata().index()); !s.ok()) {
    return Refuse(Reason(s));
  }
  if (h.metadata().index() == 0 || h.metadata().term() == 0 || h.term() == 0 ||
      h.from_node_id() == raft::kNoNode || h.to_node_id() == raft::kNoNode) {
    return Refuse("malformed header: zero index, term or node");
  }
  if (h.peers_record().size() > kMaxPeersRecordBytes) {
    return Refuse(absl::StrCat("peers record of ", h.peers_record().size(), " bytes"));
  }
  // The kSnap goes through the codec like any inbound message: same limits, same shape.
  v1::Message wire;
  wire.set_type(static_cast<uint32_t>(raft::MessageType::kSnap));
  wire.set_to(h.to_node_id());
  wire.set_from(h.from_node_id());
  wire.set_term(h.term());
  wire.mutable_snapshot()->set_data(h.token());
  *wire.mutable_snapshot()->mutable_metadata() = h.metadata();
  absl::StatusOr<raft::Message> message = DecodeRaftMessage(wire, options_.codec_limits);
  if (!message.ok()) return Refuse(Reason(message.status()));
  if (message->snapshot.metadata.conf_state.voters.empty()) {
    return Refuse("malformed header: no voters");
  }

  if (!handlers_.on_snapshot || !handlers_.installed_index) return Refuse("no snapshot handlers");
  if (!gate_.Enter()) return Refuse("stopping");
  const uint64_t installed = handlers_.installed_index(h.group_id());
  gate_.Exit();
  if (h.metadata().index() <= installed) return Stale();
  struct stat st;
  const std::string final_path = FsmPath(options_.data_dir, h.group_id(), h.metadata().index());
  if (::lstat(final_path.c_str(), &st) == 0) return Stale();
  if (errno != ENOENT) return Refuse(Reason(SnapshotIoError("stat", final_path, errno)));

  Accepted a;
  a.group = h.group_id();
  a.token = *token;
  a.total_size = h.total_size();
  a.message = *std::move(message);
  a.peers_record = h.peers_record();
  return a;
}

absl::StatusOr<std::shared_ptr<SnapshotReceiver::Spool>> SnapshotReceiver::Claim(
    GroupId group, uint64_t index, grpc::ServerContext* context) {
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    auto it = spools_.find(group);
    if (it == spools_.end()) break;
    const std::shared_ptr<Spool> older = it->second;
    if (index <= older->index) return Stale();
    if (older->committing) {
      return Refuse(absl::StrCat("busy: installing snapshot ", older->index));
    }
    if (!older->cancelled.exchange(true)) {
      spdlog::info("raft transport: snapshot {} of group {} cancels the spool of {}", index, group,
                   older->index);
      older->context->TryCancel();
    }
    // At most one spool per group: the newer one starts once the older file is gone. Cancelled
    // calls end promptly, except while verifying, which is bounded by the file size.
    while (!older->finished) {
      spool_done_.wait_for(lk, kClaimPoll);
      if (context->IsCancelled()) return Refuse("cancelled");
    }
  }
  auto spool = std::make_shared<Spool>();
  spool->index = index;
  spool->context = context;
  spools_[group] = spool;
  return spool;
}

void SnapshotReceiver::Release(GroupId group, const std::shared_ptr<Spool>& spool) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    spool->finished = true;
    spool->context = nullptr;
    auto it = spools_.find(group);
    if (it != spools_.end() && it->second == spool) spools_.erase(it);
  }
  spool_done_.notify_all();
}

absl::Status SnapshotReceiver::SpoolAndInstall(const Accepted& accepted, Spool& spool,
                                               grpc::ServerReader<v1::SnapshotRequest>* reader,
                                               std::string* summary) {
  const uint64_t index = accepted.message.snapshot.metadata.index;
  if (absl::Status s = CreateSnapshotDirs(options_.data_dir, accepted.group); !s.ok()) {
    return Refuse(Reason(s));
  }
  SpoolFile file;
  const std::string path = absl::StrCat(SpoolDir(options_.data_dir, accepted.group), "/",
                                        SpoolFileName(index, RandomNonce()));
  file.fd = UniqueFd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
  if (!file.fd.valid()) return Refuse(Reason(SnapshotIoError("create", path, errno)));
  file.path = path;

  // One chunk in memory at a time, written through as it arrives.
  common::TransferProgress progress(accepted.total_size, common::TransferProgress::Clock::now());
  uint64_t received = 0;
  bool final = false;
  v1::SnapshotRequest request;
  while (!spool.cancelled && reader->Read(&request)) {
    if (request.has_final()) {
      final = true;
      break;
    }
    if (!request.has_chunk()) return Refuse("unexpected message after the header");
    const v1::SnapshotChunk& chunk = request.chunk();
    if (chunk.offset() != received) {
      return Refuse(absl::StrCat("chunk at offset ", chunk.offset(), ", expected ", received));
    }
    if (chunk.data().size() > accepted.total_size - received) {
      return Refuse(absl::StrCat("bytes beyond total_size ", accepted.total_size));
    }
    if (absl::Status s = WriteAll(file.fd.get(), chunk.data().data(), chunk.data().size(), path);
        !s.ok()) {
      return Refuse(Reason(s));
    }
    received += chunk.data().size();
    if (auto line = progress.Update(received, common::TransferProgress::Clock::now())) {
      spdlog::info("raft transport: receiving snapshot {} of group {}: {}", index, accepted.group,
                   *line);
    }
  }
  if (spool.cancelled) return Refuse("cancelled by a newer snapshot");
  if (!final) {
    return Refuse(spool.context->IsCancelled() ? "cancelled" : "stream ended without final");
  }
  if (received != accepted.total_size) {
    return Refuse(absl::StrCat("received ", received, " of ", accepted.total_size, " bytes"));
  }
  *summary = progress.Summary(received, common::TransferProgress::Clock::now());
  if (::fsync(file.fd.get()) != 0) return Refuse(Reason(SnapshotIoError("fsync", path, errno)));
  if (absl::Status s = file.fd.Close(path); !s.ok()) return Refuse(Reason(s));

  // Verify before any state change: size, footer == token CRC, payload CRC, header, body.
  absl::StatusOr<FsmHeader> verified =
      VerifyFsmFile(path, accepted.token.crc32c, options_.max_snapshot_bytes);
  if (!verified.ok()) return Refuse(Reason(verified.status()));
  return Install(accepted, spool, file);
}

absl::Status SnapshotReceiver::Install(const Accepted& accepted, Spool& spool, SpoolFile& file) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (spool.cancelled) return Refuse("cancelled by a newer snapshot");
    spool.committing = true;
  }
  if (!gate_.Enter()) return Refuse("stopping");
  absl::Status result = [&]() -> absl::Status {
    const uint64_t index = accepted.message.snapshot.metadata.index;
    // The core may have moved on while the file streamed.
    if (index <= handlers_.installed_index(accepted.group)) return Stale();
    const std::string final_path = FsmPath(options_.data_dir, accepted.group, index);
    if (RenameNoReplace(file.path, final_path) != 0) {
      if (errno == EEXIST) return Stale();
      return Refuse(Reason(SnapshotIoError("rename", file.path, errno)));
    }
    file.installed = true;
    if (absl::Status s = SyncDir(GroupSnapshotDir(options_.data_dir, accepted.group)); !s.ok()) {
      // Not durable, so never handed over: take it back out.
      if (absl::Status r = RemoveFile(final_path); !r.ok()) {
        spdlog::error("raft transport: cannot remove snapshot {}: {}", final_path, Reason(r));
      }
      return Refuse(Reason(s));
    }
    handlers_.on_snapshot(InboundSnapshot{accepted.group, accepted.message, accepted.peers_record});
    return absl::OkStatus();
  }();
  gate_.Exit();
  return result;
}

SnapshotSender::SnapshotSender(const GrpcTransportOptions& options, HandlerGate& gate,
                               const SnapshotHandlers& handlers, TargetLookup target,
                               ChannelFactory channel)
    : options_(options),
      gate_(gate),
      handlers_(handlers),
      target_(std::move(target)),
      channel_(std::move(channel)),
      // Under the spec's 4 MiB and well under the gRPC message cap, whatever the options say.
      chunk_bytes_(std::clamp<size_t>(
          std::min<size_t>(
              options.snapshot_chunk_bytes,
              static_cast<size_t>(std::max(options.max_grpc_message_bytes, 2048)) - 1024),
          1, kMaxSnapshotChunkBytes)) {}

SnapshotSender::~SnapshotSender() { Stop(); }

void SnapshotSender::Enqueue(OutboundSnapshot snapshot) {
  const PairKey key{snapshot.group, snapshot.message.to};
  std::optional<OutboundSnapshot> replaced;
  bool refused = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopped_) {
      refused = true;
    } else {
      if (workers_.empty()) {
        const size_t n = std::max<size_t>(options_.max_concurrent_snapshot_sends, 1);
        for (size_t i = 0; i < n; ++i) workers_.emplace_back([this] { Run(); });
      }
      Slot& slot = slots_[key];
      if (slot.queued.has_value()) {
        replaced = std::move(slot.queued);
      } else if (!slot.active) {
        ready_.push_back(key);
      }
      slot.queued = std::move(snapshot);
    }
  }
  if (refused) {
    snapshot.hold.reset();
    ReportStatus(key.first, key.second, false);
    return;
  }
  work_.notify_one();
  if (replaced.has_value()) {
    spdlog::debug("raft transport: snapshot {} of group {} for node {:#x} replaced by a newer one",
                  replaced->message.snapshot.metadata.index, key.first, key.second);
    replaced.reset();  // drops its hold before the report
    ReportStatus(key.first, key.second, false);
  }
}

void SnapshotSender::Stop() {
  std::vector<PairKey> failed;
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopped_ = true;
    for (auto& [key, slot] : slots_) {
      if (slot.context != nullptr) slot.context->TryCancel();
      if (slot.queued.has_value()) {
        slot.queued.reset();
        failed.push_back(key);
      }
    }
    ready_.clear();
    workers.swap(workers_);
  }
  work_.notify_all();
  for (const PairKey& key : failed) ReportStatus(key.first, key.second, false);
  for (std::thread& t : workers) t.join();
}

void SnapshotSender::Run() {
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    work_.wait(lk, [&] { return stopped_ || !ready_.empty(); });
    if (stopped_) return;
    const PairKey key = ready_.front();
    ready_.pop_front();
    Slot& slot = slots_[key];
    OutboundSnapshot snapshot = *std::move(slot.queued);
    slot.queued.reset();
    slot.active = true;
    lk.unlock();

    std::string summary;
    const absl::Status sent = Stream(snapshot, slot, &summary);
    if (sent.ok()) {
      spdlog::info("raft transport: sent snapshot {} of group {} to node {:#x}: {}",
                   snapshot.message.snapshot.metadata.index, key.first, key.second, summary);
    } else {
      spdlog::warn("raft transport: snapshot {} of group {} to node {:#x} failed: {}",
                   snapshot.message.snapshot.metadata.index, key.first, key.second, Reason(sent));
    }
    snapshot.hold.reset();  // the file may be pruned from here on

    lk.lock();
    slot.active = false;
    if (slot.queued.has_value()) {
      ready_.push_back(key);
      work_.notify_one();
    } else {
      slots_.erase(key);
    }
    lk.unlock();
    ReportStatus(key.first, key.second, sent.ok());
    lk.lock();
  }
}

absl::Status SnapshotSender::Stream(const OutboundSnapshot& snapshot, Slot& slot,
                                    std::string* summary) {
  const raft::Message& m = snapshot.message;
  if (m.type != raft::MessageType::kSnap) return absl::InvalidArgumentError("not a kSnap message");
  absl::StatusOr<SnapshotToken> token = DecodeSnapshotToken(m.snapshot.data);
  if (!token.ok()) return token.status();
  if (absl::Status s = CheckTokenIndex(*token, m.snapshot.metadata.index); !s.ok()) return s;
  const std::string target = target_(snapshot.group, m.to);
  if (target.empty()) return absl::NotFoundError("unknown peer");

  UniqueFd fd(::open(snapshot.fsm_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return SnapshotIoError("open", snapshot.fsm_path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return SnapshotIoError("fstat", snapshot.fsm_path, errno);
  const auto size = static_cast<uint64_t>(st.st_size);

  // Its own channel (and connection): a long transfer never delays the group's heartbeats.
  std::unique_ptr<v1::RaftTransport::Stub> stub = v1::RaftTransport::NewStub(channel_(target));
  grpc::ClientContext context;  // outlives the registration and the writer (declared first)
  context.set_deadline(std::chrono::system_clock::now() + options_.snapshot_send_timeout);
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopped_) return absl::CancelledError("transport stopping");
    slot.context = &context;
  }
  struct Registration {
    SnapshotSender* sender;
    Slot* slot;
    ~Registration() {
      std::lock_guard<std::mutex> lk(sender->mu_);
      slot->context = nullptr;
    }
  } registration{this, &slot};

  v1::SnapshotReply reply;
  std::unique_ptr<grpc::ClientWriter<v1::SnapshotRequest>> writer =
      stub->SendSnapshot(&context, &reply);
  // A failed write means the call is over; Finish says why.
  auto finish = [&]() -> absl::Status {
    const grpc::Status status = writer->Finish();
    if (!status.ok()) {
      return absl::UnavailableError(
          absl::StrCat("rpc ", static_cast<int>(status.error_code()), " ", status.error_message()));
    }
    if (!reply.accepted()) return absl::FailedPreconditionError(reply.reason());
    return absl::OkStatus();
  };

  v1::SnapshotRequest request;
  v1::SnapshotHeader* header = request.mutable_header();
  header->set_group_id(snapshot.group);
  header->set_from_node_id(m.from);
  header->set_to_node_id(m.to);
  header->set_term(m.term);
  v1::SnapshotMetadata* metadata = header->mutable_metadata();
  metadata->set_index(m.snapshot.metadata.index);
  metadata->set_term(m.snapshot.metadata.term);
  for (raft::NodeId id : m.snapshot.metadata.conf_state.voters) {
    metadata->mutable_conf_state()->add_voters(id);
  }
  for (raft::NodeId id : m.snapshot.metadata.conf_state.learners) {
    metadata->mutable_conf_state()->add_learners(id);
  }
  header->set_token(m.snapshot.data);
  header->set_total_size(size);
  header->set_peers_record(snapshot.peers_record);
  if (!writer->Write(request)) return finish();

  common::Counter* payload_bytes =
      Metrics().payload_bytes->WithLabels({absl::StrCat(snapshot.group)});
  v1::SnapshotChunk* chunk = request.mutable_chunk();
  common::TransferProgress progress(size, common::TransferProgress::Clock::now());
  uint64_t offset = 0;
  while (offset < size) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_bytes_, size - offset));
    std::string* data = chunk->mutable_data();
    data->resize(n);
    size_t got = 0;
    while (got < n) {
      const ssize_t r =
          ::pread(fd.get(), data->data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        const absl::Status error =
            SnapshotIoError("read", snapshot.fsm_path, r < 0 ? errno : EIO);  // EOF: shrank
        context.TryCancel();
        writer->Finish();
        return error;
      }
      got += static_cast<size_t>(r);
    }
    chunk->set_offset(offset);
    if (!writer->Write(request)) return finish();
    offset += n;
    payload_bytes->Inc(static_cast<double>(n));
    if (auto line = progress.Update(offset, common::TransferProgress::Clock::now())) {
      spdlog::info("raft transport: sending snapshot {} of group {} to node {:#x}: {}",
                   m.snapshot.metadata.index, snapshot.group, m.to, *line);
    }
  }
  request.mutable_final();
  if (!writer->Write(request) || !writer->WritesDone()) return finish();
  if (absl::Status s = finish(); !s.ok()) return s;
  // Until the receiver has verified and installed it: the rate the peer sees.
  *summary = progress.Summary(size, common::TransferProgress::Clock::now());
  Metrics().sends->WithLabels({absl::StrCat(snapshot.group)})->Inc();
  return absl::OkStatus();
}

void SnapshotSender::ReportStatus(GroupId group, raft::NodeId to, bool ok) {
  if (!handlers_.on_status || !gate_.Enter()) return;
  handlers_.on_status(group, to, ok);
  gate_.Exit();
}

}  // namespace tessera::shard::transport_internal
