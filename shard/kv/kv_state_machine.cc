// SET/DEL apply over the `data` column family with the applied index in the same WriteBatch
// (snapshots-and-cold-start.md §3).
#include "shard/kv/kv_state_machine.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "shard/storage/keys.h"

namespace tessera::shard {
namespace {

void PutU32BE(std::string* out, uint32_t v) {
  const char buf[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(buf, sizeof(buf));
}

// Reads a u32 BE from the front of `in` and drops it; false when too short.
bool ConsumeU32BE(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  *v = 0;
  for (int i = 0; i < 4; ++i) *v = (*v << 8) | static_cast<uint8_t>((*in)[i]);
  in->remove_prefix(4);
  return true;
}

bool ConsumeBytes(std::string_view* in, uint32_t n, std::string_view* out) {
  if (in->size() < n) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

}  // namespace

std::string EncodeSetCommand(std::string_view key, std::string_view value) {
  std::string out;
  out.reserve(1 + 4 + key.size() + value.size());
  out.push_back(static_cast<char>(KvOp::kSet));
  PutU32BE(&out, static_cast<uint32_t>(key.size()));
  out.append(key);
  out.append(value);
  return out;
}

std::string EncodeDelCommand(const std::vector<std::string>& keys) {
  std::string out;
  out.push_back(static_cast<char>(KvOp::kDel));
  PutU32BE(&out, static_cast<uint32_t>(keys.size()));
  for (const std::string& k : keys) {
    PutU32BE(&out, static_cast<uint32_t>(k.size()));
    out.append(k);
  }
  return out;
}

std::string EncodeEntryPayload(ProposalId id, std::string_view command) {
  std::string out;
  out.reserve(kEntryHeaderSize + command.size());
  PutU64BE(&out, id.proposer);
  PutU64BE(&out, id.request_id);
  out.append(command);
  return out;
}

absl::StatusOr<ProposalId> DecodeEntryProposalId(std::string_view payload) {
  if (payload.size() < kEntryHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry payload of ", payload.size(), " bytes is shorter than its header"));
  }
  return ProposalId{DecodeU64BE(payload), DecodeU64BE(payload.substr(8))};
}

std::string DataKey(GroupId gid, std::string_view key) { return GroupKey(gid, key); }

absl::StatusOr<std::unique_ptr<KvStateMachine>> KvStateMachine::Open(
    StorageEngine* engine, const std::vector<GroupId>& groups) {
  std::unique_ptr<KvStateMachine> sm(new KvStateMachine(engine));
  for (GroupId gid : groups) {
    absl::StatusOr<AppliedIndex> applied = engine->LastAppliedIndex(gid);
    if (!applied.ok()) return applied.status();
    sm->applied_[gid] = applied->present ? applied->value : 0;
  }
  return sm;
}

uint64_t KvStateMachine::applied_index(GroupId gid) const {
  auto it = applied_.find(gid);
  return it == applied_.end() ? 0 : it->second;
}

std::optional<AppliedEntry> KvStateMachine::StageApply(rocksdb::WriteBatch& batch, GroupId gid,
                                                       const raft::Entry& entry) {
  uint64_t& applied = applied_[gid];
  if (entry.index <= applied) return std::nullopt;
  AppliedEntry out;
  out.index = entry.index;
  if (entry.type == raft::EntryType::kNormal && !entry.data.empty()) {
    absl::StatusOr<ProposalId> id = DecodeEntryProposalId(entry.data);
    if (id.ok()) {
      out.proposal = *id;
      out.result = StageCommand(batch, gid, std::string_view(entry.data).substr(kEntryHeaderSize));
    } else {
      out.result = id.status();
    }
  }
  // Every applied entry, effect or not, advances the durable index in the same batch.
  batch.Put(engine_->meta(), MetaKey(gid, meta::kAppliedIndex), EncodeU64BE(entry.index));
  applied = entry.index;
  return out;
}

absl::Status KvStateMachine::StageCommand(rocksdb::WriteBatch& batch, GroupId gid,
                                          std::string_view command) {
  if (command.empty()) return absl::InvalidArgumentError("empty command");
  const auto op = static_cast<KvOp>(command[0]);
  std::string_view in = command.substr(1);
  switch (op) {
    case KvOp::kSet: {
      uint32_t key_len = 0;
      std::string_view key;
      if (!ConsumeU32BE(&in, &key_len) || !ConsumeBytes(&in, key_len, &key)) {
        return absl::InvalidArgumentError("SET command truncated");
      }
      batch.Put(engine_->data(), DataKey(gid, key), ToSlice(in));
      return absl::OkStatus();
    }
    case KvOp::kDel: {
      uint32_t count = 0;
      if (!ConsumeU32BE(&in, &count)) return absl::InvalidArgumentError("DEL command truncated");
      // Parse every key first: a malformed command must have no effect at all.
      std::vector<std::string_view> keys;
      for (uint32_t i = 0; i < count; ++i) {
        uint32_t key_len = 0;
        std::string_view key;
        if (!ConsumeU32BE(&in, &key_len) || !ConsumeBytes(&in, key_len, &key)) {
          return absl::InvalidArgumentError("DEL command truncated");
        }
        keys.push_back(key);
      }
      if (!in.empty()) return absl::InvalidArgumentError("DEL command has trailing bytes");
      for (std::string_view key : keys) batch.Delete(engine_->data(), DataKey(gid, key));
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown command op ", static_cast<int>(static_cast<uint8_t>(command[0]))));
}

absl::StatusOr<std::optional<std::string>> KvStateMachine::Get(GroupId gid,
                                                               std::string_view key) const {
  std::string value;
  rocksdb::Status s =
      engine_->db()->Get(rocksdb::ReadOptions(), engine_->data(), DataKey(gid, key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocksStatus(s, "kv get");
  return std::optional<std::string>(std::move(value));
}

}  // namespace tessera::shard
