// libFuzzer target of the shard's decoders of bytes from the network and the disk: the raft
// transport message codec, the persisted membership records (peers and bootstrap) and the
// snapshot file payload (header and body). Garbage must be an error, never a crash, and what
// decodes must re-encode to bytes that decode to the same value.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/raft.pb.h"
#include "shard/membership/peers_record.h"
#include "shard/snapshot/byte_source.h"
#include "shard/snapshot/fsm_format.h"
#include "shard/transport/raft_codec.h"

namespace tessera::shard {
namespace {

constexpr uint64_t kMaxRows = 4096;

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "decoders fuzz: %s\n", what);
  std::abort();
}

void RaftMessage(std::string_view bytes) {
  absl::StatusOr<raft::Message> m = DecodeRaftMessageBytes(bytes);
  if (!m.ok()) return;
  tessera::raft::v1::Message wire;
  EncodeRaftMessage(*m, &wire);
  std::string again;
  if (!wire.SerializeToString(&again)) Fatal("re-encode of a decoded message failed");
  absl::StatusOr<raft::Message> m2 = DecodeRaftMessageBytes(again);
  if (!m2.ok()) Fatal("a re-encoded message does not decode");
  if (!(*m2 == *m)) Fatal("a re-encoded message decodes to another message");
  tessera::raft::v1::Message wire2;
  EncodeRaftMessage(*m2, &wire2);
  std::string third;
  wire2.SerializeToString(&third);
  if (third != again) Fatal("message round trip is not stable");
}

void Membership(std::string_view bytes) {
  if (absl::StatusOr<PeersRecord> p = DecodePeersRecord(bytes); p.ok()) {
    const std::string encoded = EncodePeersRecord(*p);
    absl::StatusOr<PeersRecord> p2 = DecodePeersRecord(encoded);
    if (!p2.ok() || EncodePeersRecord(*p2) != encoded) Fatal("peers record round trip");
  }
  if (absl::StatusOr<BootstrapRecord> b = DecodeBootstrapRecord(bytes); b.ok()) {
    const std::string encoded = EncodeBootstrapRecord(*b);
    absl::StatusOr<BootstrapRecord> b2 = DecodeBootstrapRecord(encoded);
    if (!b2.ok() || EncodeBootstrapRecord(*b2) != encoded) Fatal("bootstrap record round trip");
  }
}

void SnapshotPayload(std::string_view bytes) {
  StringByteSource in(bytes);
  absl::StatusOr<FsmHeader> header = ReadFsmHeader(in);
  if (!header.ok()) return;
  FsmBodyReader body(in);
  std::string key, value;
  for (uint64_t rows = 0; rows <= kMaxRows; ++rows) {
    absl::StatusOr<bool> more = body.Next(&key, &value);
    if (!more.ok() || !*more) return;
  }
}

}  // namespace
}  // namespace tessera::shard

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const int which = in.ConsumeIntegralInRange<int>(0, 2);
  const std::string bytes = in.ConsumeRemainingBytesAsString();
  switch (which) {
    case 0:
      tessera::shard::RaftMessage(bytes);
      break;
    case 1:
      tessera::shard::Membership(bytes);
      break;
    default:
      tessera::shard::SnapshotPayload(bytes);
      break;
  }
  return 0;
}
