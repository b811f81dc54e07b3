// Binary encoding of the encryption state-machine ops.
#include "shard/encryption/ops.h"

#include "absl/strings/str_cat.h"
#include "shard/encryption/encryption_errc.h"
#include "shard/kv/kv_state_machine.h"

namespace tessera::shard::encryption {
namespace {

void PutU8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }
void PutBE(std::string* out, uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
    out->push_back(static_cast<char>(v >> shift));
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U(int bytes, uint64_t* v) {
    if (in_.size() < static_cast<size_t>(bytes)) return false;
    *v = 0;
    for (int i = 0; i < bytes; ++i) *v = (*v << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(bytes);
    return true;
  }
  bool Bytes(size_t n, std::string* out) {
    if (in_.size() < n) return false;
    out->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

absl::Status Bad(std::string_view why) {
  return EncryptionError(EncryptionErrc::kEncryptionApply,
                         absl::StrCat("encryption op: ", std::string(why)));
}

}  // namespace

std::string EncodeEncryptionOp(const EncryptionOp& op) {
  std::string out;
  if (const auto* b = std::get_if<BootstrapOp>(&op)) {
    PutU8(&out, kOpEncBootstrap);
    PutU8(&out, kOpVersion);
    PutBE(&out, b->storage_id, 4);
    out.append(b->wrapped_storage);
    PutBE(&out, b->raft_id, 4);
    out.append(b->wrapped_raft);
    PutBE(&out, b->created_unix_ms, 8);
    return out;
  }
  PutU8(&out, kOpEncRotation);
  PutU8(&out, kOpVersion);
  if (const auto* r = std::get_if<RotateDekOp>(&op)) {
    PutU8(&out, kSubRotateDek);
    PutU8(&out, static_cast<uint8_t>(r->purpose));
    PutBE(&out, r->key_id, 4);
    PutBE(&out, r->wrapped.size(), 2);
    out.append(r->wrapped);
    PutBE(&out, r->created_unix_ms, 8);
  } else if (const auto* s = std::get_if<EnableStorageEnvelopeOp>(&op)) {
    PutU8(&out, kSubEnableStorageEnvelope);
    PutU8(&out, s->purpose);
    PutBE(&out, s->key_id, 4);
    PutBE(&out, s->wrapped.size(), 2);
    out.append(s->wrapped);
  } else if (const auto* g = std::get_if<EnableRaftEnvelopeOp>(&op)) {
    PutU8(&out, kSubEnableRaftEnvelope);
    PutBE(&out, g->group_id, 8);
    PutBE(&out, g->key_id, 4);
  }
  return out;
}

absl::StatusOr<EncryptionOp> DecodeEncryptionOp(std::string_view op) {
  Reader r(op);
  uint64_t opcode = 0, version = 0;
  if (!r.U(1, &opcode) || !r.U(1, &version)) return Bad("truncated");
  if (opcode != kOpEncBootstrap && opcode != kOpEncRotation) {
    return Bad(absl::StrCat("reserved opcode 0x", absl::Hex(opcode)));
  }
  if (version != kOpVersion) return Bad(absl::StrCat("version ", version));
  if (opcode == kOpEncBootstrap) {
    BootstrapOp b;
    uint64_t sid = 0, rid = 0;
    if (!r.U(4, &sid) || !r.Bytes(kWrappedDekSize, &b.wrapped_storage) || !r.U(4, &rid) ||
        !r.Bytes(kWrappedDekSize, &b.wrapped_raft) || !r.U(8, &b.created_unix_ms)) {
      return Bad("truncated bootstrap");
    }
    if (!r.done()) return Bad("trailing bytes");
    b.storage_id = static_cast<uint32_t>(sid);
    b.raft_id = static_cast<uint32_t>(rid);
    return EncryptionOp(std::move(b));
  }
  uint64_t sub = 0;
  if (!r.U(1, &sub)) return Bad("truncated rotation");
  switch (sub) {
    case kSubRotateDek: {
      RotateDekOp d;
      uint64_t purpose = 0, id = 0, len = 0;
      if (!r.U(1, &purpose) || !r.U(4, &id) || !r.U(2, &len) || !r.Bytes(len, &d.wrapped) ||
          !r.U(8, &d.created_unix_ms)) {
        return Bad("truncated RotateDek");
      }
      if (!r.done()) return Bad("trailing bytes");
      std::optional<DekPurpose> p = DekPurposeFromByte(static_cast<uint8_t>(purpose));
      if (!p) return Bad(absl::StrCat("RotateDek purpose ", purpose));
      d.purpose = *p;
      d.key_id = static_cast<uint32_t>(id);
      return EncryptionOp(std::move(d));
    }
    case kSubEnableStorageEnvelope: {
      EnableStorageEnvelopeOp s;
      uint64_t purpose = 0, id = 0, len = 0;
      if (!r.U(1, &purpose) || !r.U(4, &id) || !r.U(2, &len) || !r.Bytes(len, &s.wrapped)) {
        return Bad("truncated EnableStorageEnvelope");
      }
      if (!r.done()) return Bad("trailing bytes");
      s.purpose = static_cast<uint8_t>(purpose);
      s.key_id = static_cast<uint32_t>(id);
      return EncryptionOp(std::move(s));
    }
    case kSubEnableRaftEnvelope: {
      EnableRaftEnvelopeOp g;
      uint64_t id = 0;
      if (!r.U(8, &g.group_id) || !r.U(4, &id)) return Bad("truncated EnableRaftEnvelope");
      if (!r.done()) return Bad("trailing bytes");
      g.key_id = static_cast<uint32_t>(id);
      return EncryptionOp(std::move(g));
    }
    default:
      return Bad(absl::StrCat("reserved sub-tag 0x", absl::Hex(sub)));
  }
}

std::string EncodeEncryptionCommand(const EncryptionOp& op) {
  const std::string body = EncodeEncryptionOp(op);
  const std::string_view argv[] = {kEncryptionCommand, body};
  return EncodeCommand(argv);
}

}  // namespace tessera::shard::encryption
