// Command apply over the `data` column family through the data model, with the applied index
// and the clock ceiling in the same WriteBatch (snapshots-and-cold-start.md §3).
#include "shard/kv/kv_state_machine.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "shard/data/watch.h"
#include "shard/encryption/applier.h"
#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/ops.h"
#include "shard/encryption/raft_payload.h"
#include "shard/storage/keys.h"
#include "spdlog/spdlog.h"

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

}  // namespace

std::string EncodeCommand(std::span<const std::string_view> argv) {
  size_t size = 4;
  for (std::string_view a : argv) size += 4 + a.size();
  std::string out;
  out.reserve(size);
  PutU32BE(&out, static_cast<uint32_t>(argv.size()));
  for (std::string_view a : argv) {
    PutU32BE(&out, static_cast<uint32_t>(a.size()));
    out.append(a);
  }
  return out;
}

absl::StatusOr<std::vector<std::string_view>> DecodeCommand(std::string_view command) {
  uint32_t argc = 0;
  if (!ConsumeU32BE(&command, &argc)) return absl::InvalidArgumentError("command truncated");
  if (argc == 0 || argc > kMaxCommandArgs) {
    return absl::InvalidArgumentError(absl::StrCat("command with ", argc, " arguments"));
  }
  // Each argument takes at least 4 bytes: bounds the reservation by the input.
  if (command.size() / 4 < argc) return absl::InvalidArgumentError("command truncated");
  std::vector<std::string_view> argv;
  argv.reserve(argc);
  for (uint32_t i = 0; i < argc; ++i) {
    uint32_t len = 0;
    std::string_view arg;
    if (!ConsumeU32BE(&command, &len) || !ConsumeBytes(&command, len, &arg)) {
      return absl::InvalidArgumentError("command truncated");
    }
    argv.push_back(arg);
  }
  if (!command.empty()) return absl::InvalidArgumentError("command has trailing bytes");
  return argv;
}

std::string EncodeSetCommand(std::string_view key, std::string_view value) {
  const std::string_view argv[] = {"SET", key, value};
  return EncodeCommand(argv);
}

std::string EncodeDelCommand(const std::vector<std::string>& keys) {
  std::vector<std::string_view> argv = {"DEL"};
  for (const std::string& k : keys) argv.push_back(k);
  return EncodeCommand(argv);
}

std::string EncodeEntryPayload(ProposalId id, uint64_t timestamp_ms, std::string_view command) {
  std::string out;
  out.reserve(kEntryHeaderSize + command.size());
  PutU64BE(&out, id.proposer);
  PutU64BE(&out, id.request_id);
  PutU64BE(&out, timestamp_ms);
  out.append(command);
  return out;
}

absl::StatusOr<EntryHeader> DecodeEntryHeader(std::string_view payload) {
  if (payload.size() < kEntryHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry payload of ", payload.size(), " bytes is shorter than its header"));
  }
  return EntryHeader{ProposalId{DecodeU64BE(payload), DecodeU64BE(payload.substr(8))},
                     DecodeU64BE(payload.substr(16))};
}

absl::StatusOr<ProposalId> DecodeEntryProposalId(std::string_view payload) {
  absl::StatusOr<EntryHeader> h = DecodeEntryHeader(payload);
  if (!h.ok()) return h.status();
  return h->id;
}

std::string DataKey(GroupId gid, std::string_view key) { return GroupKey(gid, key); }

uint64_t WallClockMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

absl::StatusOr<std::unique_ptr<KvStateMachine>> KvStateMachine::Open(
    StorageEngine* engine, const std::vector<GroupId>& groups) {
  std::unique_ptr<KvStateMachine> sm(new KvStateMachine(engine));
  for (GroupId gid : groups) {
    absl::StatusOr<AppliedIndex> applied = engine->LastAppliedIndex(gid);
    if (!applied.ok()) return applied.status();
    sm->applied_[gid] = applied->present ? applied->value : 0;
    std::string ceiling;
    rocksdb::Status s = engine->db()->Get(rocksdb::ReadOptions(), engine->meta(),
                                          MetaKey(gid, meta::kClockCeilingMs), &ceiling);
    if (!s.ok() && !s.IsNotFound()) return FromRocksStatus(s, "clock ceiling read");
    sm->clock_[gid] = std::make_unique<std::atomic<uint64_t>>(
        s.ok() && ceiling.size() == 8 ? DecodeU64BE(ceiling) : 0);
    sm->RefreshWatchRows(gid);
    sm->RefreshSlotFence(data::ExecContext{engine, gid, nullptr, 0, 0});
  }
  return sm;
}

uint64_t KvStateMachine::applied_index(GroupId gid) const {
  auto it = applied_.find(gid);
  return it == applied_.end() ? 0 : it->second;
}

uint64_t KvStateMachine::clock_ceiling_ms(GroupId gid) const {
  auto it = clock_.find(gid);
  return it == clock_.end() ? 0 : it->second->load(std::memory_order_acquire);
}

void KvStateMachine::AdvanceApplied(GroupId gid, uint64_t index) {
  uint64_t& applied = applied_[gid];
  if (index > applied) applied = index;
  RefreshWatchRows(gid);  // a restored snapshot brings its own watch rows
  RefreshSlotFence(data::ExecContext{engine_, gid, nullptr, 0, 0});  // ... and slot fence
  // ... and its own raft-envelope cutover (assigned from the snapshot header).
  if (encryption_ != nullptr) {
    if (absl::Status s = encryption_->RefreshRaftCutover(gid); !s.ok()) {
      spdlog::error("group {}: raft-envelope cutover reload: {}", gid, s.ToString());
    }
  }
}

void KvStateMachine::RefreshWatchRows(GroupId gid) {
  absl::StatusOr<bool> has = data::GroupHasWatchRows(engine_, gid);
  // Unknown counts as present: stamping rows that do not exist only costs lookups.
  watch_rows_[gid] = !has.ok() || *has;
}

void KvStateMachine::RefreshSlotFence(const data::ExecContext& ctx) {
  absl::StatusOr<data::SlotFence> fence = data::LoadSlotFence(ctx);
  if (!fence.ok()) {
    // A fence that cannot be read fails closed: every slot of the group is refused.
    spdlog::error("group {}: slot fence: {}; refusing every key until it reads", ctx.gid,
                  fence.status().ToString());
    fence = data::SlotFence().set();
  }
  std::lock_guard<std::mutex> lock(fence_mu_);
  if (fence->none()) {
    fences_.erase(ctx.gid);
  } else {
    fences_[ctx.gid] = *fence;
  }
  fenced_groups_.store(fences_.size(), std::memory_order_release);
}

int KvStateMachine::FencedSlot(GroupId gid, std::span<const std::string_view> argv) const {
  if (fenced_groups_.load(std::memory_order_acquire) == 0) return -1;
  std::lock_guard<std::mutex> lock(fence_mu_);
  auto it = fences_.find(gid);
  return it == fences_.end() ? -1 : data::FencedSlotOf(it->second, argv);
}

void KvStateMachine::AdvanceClockCeiling(GroupId gid, uint64_t ms) {
  auto it = clock_.find(gid);
  if (it == clock_.end()) return;
  uint64_t cur = it->second->load(std::memory_order_relaxed);
  while (ms > cur && !it->second->compare_exchange_weak(cur, ms)) {
  }
}

namespace {

// Marks the one apply failure the caller may retry (see KeyWaitBeforeStaging).
constexpr char kKeyWaitPayload[] = "tessera.shard/apply-key-wait";

}  // namespace

bool IsKeyWaitBeforeStaging(const absl::Status& status) {
  return status.GetPayload(kKeyWaitPayload).has_value();
}

absl::StatusOr<std::optional<AppliedEntry>> KvStateMachine::StageApply(
    rocksdb::WriteBatchWithIndex& batch, GroupId gid, const raft::Entry& entry,
    data::Reply* reply) {
  uint64_t& applied = applied_[gid];
  if (entry.index <= applied) return std::optional<AppliedEntry>();
  data::NullReply discard;
  data::Reply& out_reply = reply != nullptr ? *reply : discard;
  AppliedEntry out;
  out.index = entry.index;
  if (entry.type == raft::EntryType::kNormal && !entry.data.empty()) {
    absl::StatusOr<EntryHeader> header = DecodeEntryHeader(entry.data);
    if (!header.ok()) {
      out.result = header.status();
    } else {
      out.proposal = header->id;
      std::string_view command = std::string_view(entry.data).substr(kEntryHeaderSize);
      // Raft envelope (spec/encryption.md §9): above the group's cutover the command is sealed.
      // First, before anything is staged: an unknown key id (kKeyUnavailable) leaves the batch
      // and the clock untouched, so the driver can retry the entry once the key arrives.
      std::optional<std::string> unwrapped;
      if (encryption_ != nullptr) {
        absl::StatusOr<std::optional<std::string>> u =
            encryption::UnwrapEntryCommand(encryption_->runtime(), gid, entry.index, command);
        if (!u.ok()) {
          absl::Status why = u.status();
          if (encryption::GetEncryptionErrc(why) == encryption::EncryptionErrc::kKeyUnavailable) {
            why.SetPayload(kKeyWaitPayload, absl::Cord("1"));
          }
          return why;
        }
        unwrapped = *std::move(u);
        if (unwrapped.has_value()) command = *unwrapped;
      }
      // The clock of this entry: never below what an earlier entry already used.
      auto clock = clock_.find(gid);
      const uint64_t ceiling = clock == clock_.end() ? 0 : clock->second->load();
      const uint64_t now = std::max(header->timestamp_ms, ceiling);
      if (now > ceiling) {
        batch.Put(engine_->meta(), MetaKey(gid, meta::kClockCeilingMs), EncodeU64BE(now));
        if (clock != clock_.end()) clock->second->store(now, std::memory_order_release);
      }
      absl::StatusOr<std::vector<std::string_view>> argv = DecodeCommand(command);
      if (!argv.ok()) {
        out.result = argv.status();
        out_reply.Error(absl::StrCat("ERR ", argv.status().message()));
      } else if ((*argv)[0] == encryption::kEncryptionCommand) {
        // Encryption ops fail closed: a node that cannot apply one halts this group's apply.
        if (argv->size() != 2) {
          return encryption::EncryptionError(encryption::EncryptionErrc::kEncryptionApply,
                                             "malformed encryption op");
        }
        if (encryption_ == nullptr) {
          return encryption::EncryptionError(
              encryption::EncryptionErrc::kEncryptionApply,
              "an encryption op reached a node started without --encryption-enabled");
        }
        if (absl::Status s = encryption_->Apply(batch, gid, entry.index, (*argv)[1]); !s.ok()) {
          return s;
        }
        out_reply.SimpleString("OK");
      } else {
        const data::DataCommand* command = data::FindDataCommand(
            absl::AsciiStrToLower(absl::string_view((*argv)[0].data(), (*argv)[0].size())));
        if (command == nullptr || !command->write) {
          // The leader only proposes known write commands: a replica running an older
          // binary must not guess. A no-op, answered as an error.
          out.result = absl::InvalidArgumentError(
              absl::StrCat("not a replicated command: ",
                           absl::CEscape(absl::string_view((*argv)[0].data(), (*argv)[0].size()))));
          out_reply.Error("ERR unknown command at apply");
        } else if (const int fenced = FencedSlot(gid, *argv); fenced >= 0) {
          // Proposed with a routing table older than the slot's reassignment: a no-op, which
          // the client retries with the new table (the same decision on every replica).
          out_reply.Error(data::FencedSlotError(fenced));
        } else {
          data::ExecContext ctx{engine_, gid, &batch, now, entry.index};
          if (absl::Status s = command->handler(ctx, *argv, out_reply); !s.ok()) return s;
          bool& watched = watch_rows_[gid];
          if (command->name == data::kWatchCommand) watched = true;
          if (command->name == data::kSlotsReleaseCommand ||
              command->name == data::kSlotsAcquireCommand) {
            RefreshSlotFence(ctx);  // through the batch: later entries of it see the change
          }
          if (watched) {
            if (absl::Status s = data::StampWatchedKeys(ctx, *argv); !s.ok()) return s;
          }
          // Encryption fail-closed (spec/encryption.md §7): a row that could not be sealed
          // halts the apply; the batch is never written, so no cleartext row lands.
          if (!ctx.write_status.ok()) return ctx.write_status;
        }
      }
    }
  }
  // Every applied entry, effect or not, advances the durable index in the same batch.
  batch.Put(engine_->meta(), MetaKey(gid, meta::kAppliedIndex), EncodeU64BE(entry.index));
  applied = entry.index;
  return std::optional<AppliedEntry>(std::move(out));
}

absl::Status KvStateMachine::ExecuteRead(GroupId gid, const data::DataCommand& command,
                                         std::span<const std::string_view> argv,
                                         data::Reply& reply) const {
  if (const int fenced = FencedSlot(gid, argv); fenced >= 0) {
    reply.Error(data::FencedSlotError(fenced));
    return absl::OkStatus();
  }
  data::ExecContext ctx{engine_, gid, nullptr, std::max(WallClockMs(), clock_ceiling_ms(gid)), 0};
  return command.handler(ctx, argv, reply);
}

absl::StatusOr<std::optional<std::string>> KvStateMachine::Get(GroupId gid,
                                                               std::string_view key) const {
  data::ExecContext ctx{engine_, gid, nullptr, std::max(WallClockMs(), clock_ceiling_ms(gid)), 0};
  absl::StatusOr<std::optional<data::Metadata>> m = data::LoadMetadata(ctx, key);
  if (!m.ok()) return m.status();
  if (!m->has_value() || (*m)->type != data::KeyType::kString) return std::optional<std::string>();
  return std::optional<std::string>((*m)->payload);
}

}  // namespace tessera::shard
