// The bootstrap batch and the meta records the driver reads at open and writes at conf-change
// apply (membership.md §2-§4).
#include "shard/driver/bootstrap.h"

#include "shard/config/config_errc.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/raft.pb.h"
#include "shard/membership/peers_record.h"
#include "shard/storage/keys.h"
#include "spdlog/spdlog.h"

namespace tessera::shard {
namespace {

void PutU16BE(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

bool ConsumeU16Prefixed(std::string_view* in, std::string* out) {
  if (in->size() < 2) return false;
  const uint16_t n =
      static_cast<uint16_t>((static_cast<uint8_t>((*in)[0]) << 8) | static_cast<uint8_t>((*in)[1]));
  in->remove_prefix(2);
  if (in->size() < n) return false;
  out->assign(in->substr(0, n));
  in->remove_prefix(n);
  return true;
}

absl::StatusOr<bool> MetaExists(StorageEngine* engine, GroupId gid, std::string_view name) {
  std::string value;
  rocksdb::Status s =
      engine->db()->Get(rocksdb::ReadOptions(), engine->meta(), MetaKey(gid, name), &value);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return FromRocksStatus(s, "meta read");
  return true;
}

absl::StatusOr<std::optional<std::string>> MetaGet(StorageEngine* engine, GroupId gid,
                                                   std::string_view name) {
  std::string value;
  rocksdb::Status s =
      engine->db()->Get(rocksdb::ReadOptions(), engine->meta(), MetaKey(gid, name), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksStatus(s, "meta read");
  return value;
}

// membership.md §4: until the first committed membership change (bootstrap_era = 1) the
// declared list must be the one the group was bootstrapped with; afterwards the persisted
// membership wins and the original declaration is accepted.
absl::Status CheckDeclaredListOnRestart(StorageEngine* engine, GroupId gid,
                                        const std::vector<Server>& declared) {
  auto era = MetaGet(engine, gid, meta::kBootstrapEra);
  if (!era.ok()) return era.status();
  if (!era->has_value() || **era != std::string(1, '\x01')) {
    spdlog::info("group {}: membership changed since bootstrap; the persisted membership wins",
                 gid);
    return absl::OkStatus();
  }
  auto stored_bytes = MetaGet(engine, gid, meta::kBootstrap);
  if (!stored_bytes.ok()) return stored_bytes.status();
  if (!stored_bytes->has_value()) {
    return ConfigError(
        ConfigErrc::kCorruptGroupState,
        absl::StrCat("group ", gid, " is in its bootstrap era without a bootstrap record"));
  }
  auto stored = DecodeBootstrapRecord(**stored_bytes);
  if (!stored.ok()) return stored.status();
  std::vector<Server> sorted = declared;
  std::sort(sorted.begin(), sorted.end(),
            [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  ListHashBytes declared_hash = ListHash(sorted);
  if (declared_hash != stored->list_hash) {
    return ConfigError(
        ConfigErrc::kClusterMismatch,
        absl::StrCat("group ", gid, ": the declared bootstrap list (hash ",
                     ListHashHex(declared_hash),
                     ") differs from the list the group was bootstrapped with (hash ",
                     ListHashHex(stored->list_hash),
                     ") and no membership change has happened since; restore the original "
                     "--raftGroupPeers, or wipe the group to bootstrap anew"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeConfStateRecord(const ConfStateRecord& record) {
  tessera::raft::v1::ConfState pb;
  for (raft::NodeId v : record.conf_state.voters) pb.add_voters(v);
  for (raft::NodeId l : record.conf_state.learners) pb.add_learners(l);
  std::string out = EncodeU64BE(record.index);
  out.append(pb.SerializeAsString());
  return out;
}

absl::StatusOr<ConfStateRecord> DecodeConfStateRecord(std::string_view bytes) {
  if (bytes.size() < 8) return absl::DataLossError("conf_state record shorter than 8 bytes");
  ConfStateRecord record;
  record.index = DecodeU64BE(bytes);
  tessera::raft::v1::ConfState pb;
  const std::string_view body = bytes.substr(8);
  if (!pb.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::DataLossError("conf_state record protobuf does not parse");
  }
  record.conf_state.voters.assign(pb.voters().begin(), pb.voters().end());
  record.conf_state.learners.assign(pb.learners().begin(), pb.learners().end());
  record.unknown_fields = !pb.GetReflection()->GetUnknownFields(pb).empty();
  return record;
}

absl::StatusOr<std::optional<ConfStateRecord>> ReadConfStateRecord(StorageEngine* engine,
                                                                   GroupId gid) {
  std::string value;
  rocksdb::Status s = engine->db()->Get(rocksdb::ReadOptions(), engine->meta(),
                                        MetaKey(gid, meta::kConfState), &value);
  if (s.IsNotFound()) return std::optional<ConfStateRecord>();
  if (!s.ok()) return FromRocksStatus(s, "conf_state read");
  absl::StatusOr<ConfStateRecord> record = DecodeConfStateRecord(value);
  if (!record.ok()) return record.status();
  return std::optional<ConfStateRecord>(*std::move(record));
}

std::string EncodeConfChangeContext(const Server& server) {
  std::string out = EncodeU64BE(server.node_id);
  PutU16BE(&out, static_cast<uint16_t>(server.raft_id.size()));
  out.append(server.raft_id);
  PutU16BE(&out, static_cast<uint16_t>(server.address.size()));
  out.append(server.address);
  return out;
}

absl::StatusOr<Server> DecodeConfChangeContext(std::string_view bytes) {
  if (bytes.size() < 8) return absl::InvalidArgumentError("conf-change context too short");
  Server server;
  server.node_id = DecodeU64BE(bytes);
  bytes.remove_prefix(8);
  if (!ConsumeU16Prefixed(&bytes, &server.raft_id) ||
      !ConsumeU16Prefixed(&bytes, &server.address) || !bytes.empty()) {
    return absl::InvalidArgumentError("conf-change context malformed");
  }
  return server;
}

std::vector<raft::Entry> BootstrapEntries(const std::vector<Server>& voters) {
  std::vector<Server> sorted = voters;
  std::sort(sorted.begin(), sorted.end(),
            [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  std::vector<raft::Entry> entries;
  for (size_t i = 0; i < sorted.size(); ++i) {
    raft::ConfChange cc{raft::ConfChangeType::kAddNode, sorted[i].node_id,
                        EncodeConfChangeContext(sorted[i])};
    entries.push_back(
        raft::Entry{1, i + 1, raft::EntryType::kConfChange, raft::EncodeConfChange(cc)});
  }
  return entries;
}

absl::StatusOr<BootstrapOutcome> BootstrapGroupIfNeeded(StorageEngine* engine, GroupLog* log,
                                                        GroupId gid,
                                                        const std::vector<Server>* voters) {
  absl::StatusOr<bool> initialized = MetaExists(engine, gid, meta::kInitialized);
  if (!initialized.ok()) return initialized.status();
  if (*initialized) {
    if (voters != nullptr) {
      if (absl::Status s = CheckDeclaredListOnRestart(engine, gid, *voters); !s.ok()) return s;
      spdlog::info("group {}: group already initialized; bootstrap declaration ignored", gid);
    }
    return BootstrapOutcome::kAlreadyInitialized;
  }
  absl::StatusOr<bool> has_conf = MetaExists(engine, gid, meta::kConfState);
  if (!has_conf.ok()) return has_conf.status();
  if (log->LastIndex() > 0 || !log->hard_state().IsEmpty() || *has_conf) {
    return ConfigError(ConfigErrc::kCorruptGroupState,
                       absl::StrCat("group ", gid, " has raft state but no meta:initialized"));
  }
  if (voters == nullptr || voters->empty()) return BootstrapOutcome::kNoListJoiner;

  std::vector<Server> sorted = *voters;
  std::sort(sorted.begin(), sorted.end(),
            [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  const uint64_t n = sorted.size();
  rocksdb::WriteBatch batch;
  if (absl::Status s = log->StageAppend(batch, BootstrapEntries(sorted)); !s.ok()) return s;
  log->StageHardState(batch, raft::HardState{1, raft::kNoNode, n});
  ConfStateRecord cs{n, {}};
  for (const Server& v : sorted) cs.conf_state.voters.push_back(v.node_id);
  rocksdb::ColumnFamilyHandle* m = engine->meta();
  batch.Put(m, MetaKey(gid, meta::kConfState), EncodeConfStateRecord(cs));
  batch.Put(m, MetaKey(gid, meta::kPeers), EncodePeersRecord(PeersRecord{n, sorted}));
  batch.Put(m, MetaKey(gid, meta::kBootstrap),
            EncodeBootstrapRecord(BootstrapRecord{n, sorted, {}}));
  batch.Put(m, MetaKey(gid, meta::kBootstrapEra), std::string(1, '\x01'));
  batch.Put(m, MetaKey(gid, meta::kInitialized), std::string(1, '\x01'));
  batch.Put(m, MetaKey(gid, meta::kAppliedIndex), EncodeU64BE(n));
  if (absl::Status s = engine->Write(batch, /*sync=*/true); !s.ok()) return s;
  spdlog::info("group {}: bootstrapped with {} voters, bootstrap_list_hash {}", gid, n,
               ListHashHex(ListHash(sorted)));
  return BootstrapOutcome::kBootstrapped;
}

}  // namespace tessera::shard
