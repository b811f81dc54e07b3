// Encoder and decoder of the peers and bootstrap records: big-endian fields, per-peer
// entries shared by both records, CRC32C footer, BLAKE2b-128 list hash via libsodium.
#include "shard/membership/peers_record.h"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "shard/config/config_errc.h"

namespace tessera::shard {
namespace {

constexpr size_t kCrcSize = 4;
constexpr size_t kPeersHeaderSize = 8 + 2 + 8 + 4;  // magic, version, index, count
constexpr size_t kBootstrapHeaderSize = 8 + 8 + kListHashSize;

// Encoding a record no reader accepts would make the group unopenable: fail loudly.
void CheckEncodable(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "membership record encoder: %s\n", what);
  std::abort();
}

void PutU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

void PutU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

void PutU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

std::vector<Server> SortedByNodeId(std::vector<Server> servers) {
  std::sort(servers.begin(), servers.end(),
            [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  return servers;
}

// Appends the per-peer encodings of `sorted` (already sorted by node_id).
void PutPeers(std::string* out, const std::vector<Server>& sorted) {
  CheckEncodable(sorted.size() <= kMaxPeers, "more than 1024 peers");
  for (size_t i = 0; i < sorted.size(); ++i) {
    const Server& s = sorted[i];
    CheckEncodable(i == 0 || sorted[i - 1].node_id != s.node_id, "duplicate node id");
    CheckEncodable(!s.raft_id.empty() && s.raft_id.size() <= kMaxRaftIdLength,
                   "raft id length outside 1..64");
    CheckEncodable(!s.address.empty() && s.address.size() <= kMaxAddressLength,
                   "address length outside 1..255");
    CheckEncodable(s.node_id == DeriveNodeId(s.raft_id), "node_id != DeriveNodeId(raft_id)");
    PutU64(out, s.node_id);
    out->push_back(static_cast<char>(s.voter ? kSuffrageVoter : kSuffrageLearner));
    PutU16(out, static_cast<uint16_t>(s.raft_id.size()));
    out->append(s.raft_id);
    PutU16(out, static_cast<uint16_t>(s.address.size()));
    out->append(s.address);
  }
}

void PutCrc(std::string* out) { PutU32(out, common::Crc32c(*out)); }

// Big-endian reader over a byte range; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - pos_; }
  size_t position() const { return pos_; }

  bool ReadU8(uint8_t* v) {
    if (remaining() < 1) return false;
    *v = static_cast<uint8_t>(bytes_[pos_++]);
    return true;
  }
  bool ReadU16(uint16_t* v) { return ReadBigEndian(2, v); }
  bool ReadU32(uint32_t* v) { return ReadBigEndian(4, v); }
  bool ReadU64(uint64_t* v) { return ReadBigEndian(8, v); }
  bool ReadBytes(size_t n, std::string_view* v) {
    if (remaining() < n) return false;
    *v = bytes_.substr(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  template <typename T>
  bool ReadBigEndian(size_t n, T* v) {
    if (remaining() < n) return false;
    T value = 0;
    for (size_t i = 0; i < n; ++i) {
      value = static_cast<T>((value << 8) | static_cast<uint8_t>(bytes_[pos_ + i]));
    }
    pos_ += n;
    *v = value;
    return true;
  }

  std::string_view bytes_;
  size_t pos_ = 0;
};

absl::Status Corrupt(std::string_view record, std::string_view what) {
  return ConfigError(ConfigErrc::kPeersRecordCorrupt,
                     absl::StrCat(absl::string_view(record.data(), record.size()), ": ",
                                  absl::string_view(what.data(), what.size())));
}

// Reads one per-peer entry; `record` names the record in error messages.
absl::Status ReadPeer(Reader* in, std::string_view record, size_t index, Server* out) {
  const size_t at = in->position();
  auto overrun = [&](const char* field) {
    return Corrupt(
        record, absl::StrCat("peer ", index, " at byte ", at, ": ", field, " overruns the record"));
  };
  uint64_t node_id = 0;
  uint8_t suffrage = 0;
  uint16_t raft_id_len = 0;
  uint16_t addr_len = 0;
  std::string_view raft_id;
  std::string_view address;
  if (!in->ReadU64(&node_id)) return overrun("node_id");
  if (!in->ReadU8(&suffrage)) return overrun("suffrage");
  if (suffrage != kSuffrageVoter && suffrage != kSuffrageLearner) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02X", suffrage);
    return Corrupt(record, absl::StrCat("peer ", index, ": unknown suffrage byte ", hex));
  }
  if (!in->ReadU16(&raft_id_len)) return overrun("raft_id_len");
  if (raft_id_len < 1 || raft_id_len > kMaxRaftIdLength) {
    return Corrupt(record, absl::StrCat("peer ", index, ": raft_id_len ", raft_id_len,
                                        " outside 1..", kMaxRaftIdLength));
  }
  if (!in->ReadBytes(raft_id_len, &raft_id)) return overrun("raft_id");
  if (!in->ReadU16(&addr_len)) return overrun("addr_len");
  if (addr_len < 1 || addr_len > kMaxAddressLength) {
    return Corrupt(record, absl::StrCat("peer ", index, ": addr_len ", addr_len, " outside 1..",
                                        kMaxAddressLength));
  }
  if (!in->ReadBytes(addr_len, &address)) return overrun("addr");
  if (node_id != DeriveNodeId(raft_id)) {
    return Corrupt(record, absl::StrCat("peer ", index, ": node_id ", absl::Hex(node_id),
                                        " != DeriveNodeId(\"",
                                        absl::string_view(raft_id.data(), raft_id.size()), "\")"));
  }
  out->node_id = node_id;
  out->voter = suffrage == kSuffrageVoter;
  out->raft_id.assign(raft_id.data(), raft_id.size());
  out->address.assign(address.data(), address.size());
  return absl::OkStatus();
}

// Verifies the CRC32C footer and returns the bytes it covers.
absl::StatusOr<std::string_view> CheckCrc(std::string_view bytes, std::string_view record) {
  std::string_view body = bytes.substr(0, bytes.size() - kCrcSize);
  Reader footer(bytes.substr(body.size()));
  uint32_t stored = 0;
  footer.ReadU32(&stored);
  const uint32_t computed = common::Crc32c(body);
  if (stored != computed) {
    return Corrupt(record,
                   absl::StrCat("crc32c mismatch: stored ", absl::Hex(stored, absl::kZeroPad8),
                                ", computed ", absl::Hex(computed, absl::kZeroPad8)));
  }
  return body;
}

absl::Status CheckAscending(const std::vector<Server>& peers, std::string_view record) {
  for (size_t i = 1; i < peers.size(); ++i) {
    if (peers[i - 1].node_id >= peers[i].node_id) {
      return Corrupt(record, absl::StrCat("peers not strictly ascending by node_id at peer ", i));
    }
  }
  return absl::OkStatus();
}

void EnsureSodium() {
  static const bool initialized = [] {
    // sodium_init returns 0 on first success, 1 if already initialized, -1 on failure.
    CheckEncodable(sodium_init() >= 0, "sodium_init failed");
    return true;
  }();
  (void)initialized;
}

}  // namespace

std::string EncodePeersRecord(const PeersRecord& record) {
  const std::vector<Server> sorted = SortedByNodeId(record.peers);
  CheckEncodable(sorted.size() <= kMaxPeers, "more than 1024 peers");
  std::string out;
  out.append(kPeersRecordMagic);
  PutU16(&out, kPeersRecordVersion);
  PutU64(&out, record.index);
  PutU32(&out, static_cast<uint32_t>(sorted.size()));
  PutPeers(&out, sorted);
  PutCrc(&out);
  return out;
}

absl::StatusOr<PeersRecord> DecodePeersRecord(std::string_view bytes) {
  constexpr std::string_view kName = "peers record";
  if (bytes.size() < kPeersHeaderSize + kCrcSize) {
    return Corrupt(kName, absl::StrCat("too short (", bytes.size(), " bytes)"));
  }
  if (bytes.substr(0, kPeersRecordMagic.size()) != kPeersRecordMagic) {
    return Corrupt(kName, "wrong magic");
  }
  Reader in(bytes.substr(kPeersRecordMagic.size()));
  uint16_t version = 0;
  in.ReadU16(&version);
  // Checked before the CRC: a future version may checksum differently.
  if (version != kPeersRecordVersion) {
    return Corrupt(kName, absl::StrCat("unknown version ", version));
  }
  absl::StatusOr<std::string_view> body = CheckCrc(bytes, kName);
  if (!body.ok()) return body.status();

  in = Reader(body->substr(kPeersRecordMagic.size() + 2));
  PeersRecord record;
  uint32_t count = 0;
  in.ReadU64(&record.index);
  in.ReadU32(&count);
  if (count > kMaxPeers) {
    return Corrupt(kName, absl::StrCat("count ", count, " > ", kMaxPeers));
  }
  record.peers.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (absl::Status s = ReadPeer(&in, kName, i, &record.peers[i]); !s.ok()) return s;
  }
  if (in.remaining() != 0) {
    return Corrupt(kName, absl::StrCat(in.remaining(), " trailing bytes after ", count, " peers"));
  }
  if (absl::Status s = CheckAscending(record.peers, kName); !s.ok()) return s;
  return record;
}

ListHashBytes ListHash(const std::vector<Server>& servers) {
  EnsureSodium();
  std::string canonical;
  PutPeers(&canonical, SortedByNodeId(servers));
  ListHashBytes hash{};
  crypto_generichash(hash.data(), hash.size(),
                     reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(),
                     nullptr, 0);
  return hash;
}

std::string ListHashHex(const ListHashBytes& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(hash.size() * 2);
  for (uint8_t b : hash) {
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 0xF]);
  }
  return hex;
}

std::string EncodeBootstrapRecord(const BootstrapRecord& record) {
  const std::vector<Server> sorted = SortedByNodeId(record.voters);
  CheckEncodable(!sorted.empty(), "empty bootstrap list");
  for (const Server& s : sorted) CheckEncodable(s.voter, "learner in a bootstrap list");
  std::string out;
  out.append(kBootstrapRecordMagic);
  PutU64(&out, record.bootstrap_index);
  const ListHashBytes hash = ListHash(sorted);
  out.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  PutPeers(&out, sorted);
  PutCrc(&out);
  return out;
}

absl::StatusOr<BootstrapRecord> DecodeBootstrapRecord(std::string_view bytes) {
  constexpr std::string_view kName = "bootstrap record";
  if (bytes.size() < kBootstrapHeaderSize + kCrcSize) {
    return Corrupt(kName, absl::StrCat("too short (", bytes.size(), " bytes)"));
  }
  if (bytes.substr(0, kBootstrapRecordMagic.size()) != kBootstrapRecordMagic) {
    return Corrupt(kName, "wrong magic");
  }
  absl::StatusOr<std::string_view> body = CheckCrc(bytes, kName);
  if (!body.ok()) return body.status();

  Reader in(body->substr(kBootstrapRecordMagic.size()));
  BootstrapRecord record;
  std::string_view hash;
  in.ReadU64(&record.bootstrap_index);
  in.ReadBytes(kListHashSize, &hash);
  std::copy(hash.begin(), hash.end(), record.list_hash.begin());
  while (in.remaining() > 0) {
    if (record.voters.size() == kMaxPeers) {
      return Corrupt(kName, absl::StrCat("more than ", kMaxPeers, " voters"));
    }
    Server& s = record.voters.emplace_back();
    if (absl::Status st = ReadPeer(&in, kName, record.voters.size() - 1, &s); !st.ok()) return st;
    if (!s.voter) {
      return Corrupt(kName, absl::StrCat("learner \"", s.raft_id, "\" in the bootstrap list"));
    }
  }
  if (record.voters.empty()) return Corrupt(kName, "empty voter list");
  if (absl::Status s = CheckAscending(record.voters, kName); !s.ok()) return s;
  if (ListHash(record.voters) != record.list_hash) {
    return Corrupt(kName, absl::StrCat("list_hash ", ListHashHex(record.list_hash),
                                       " does not match the list (",
                                       ListHashHex(ListHash(record.voters)), ")"));
  }
  return record;
}

}  // namespace tessera::shard
