#include "shard/data/watch.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "routing/command_table.h"
#include "shard/data/expire.h"
#include "shard/data/store.h"
#include "shard/data/transaction.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/storage/keys.h"

namespace tessera::shard::data {
namespace {

constexpr char kWatchTag = 'W';
constexpr size_t kWatchRowSize = 16;

std::string WatchKeyBegin(GroupId gid) { return GroupKey(gid, std::string_view(&kWatchTag, 1)); }
std::string WatchKeyEnd(GroupId gid) {
  const char next = kWatchTag + 1;
  return GroupKey(gid, std::string_view(&next, 1));
}
std::string WatchKey(GroupId gid, std::string_view user_key) {
  std::string key = WatchKeyBegin(gid);
  key.append(user_key);
  return key;
}

struct WatchRow {
  uint64_t last_write_index = 0;
  uint64_t last_watch_ms = 0;
};

std::string EncodeWatchRow(const WatchRow& row) {
  std::string out;
  PutU64BE(&out, row.last_write_index);
  PutU64BE(&out, row.last_watch_ms);
  return out;
}

absl::StatusOr<WatchRow> DecodeWatchRow(std::string_view value) {
  if (value.size() != kWatchRowSize) {
    return absl::DataLossError(absl::StrCat("watch row of ", value.size(), " bytes"));
  }
  return WatchRow{DecodeU64BE(value), DecodeU64BE(value.substr(8))};
}

// Deletes rows not watched for kWatchRowLifetimeMs, examining at most kWatchSweepRows rows from
// `from` onwards (wrapping to the group's first row once), so the cost per WATCH is bounded.
absl::Status SweepStaleRows(ExecContext& ctx, std::string_view from) {
  std::vector<std::string> stale;
  size_t examined = 0;
  const std::string begin = WatchKeyBegin(ctx.gid);
  const std::string end = WatchKeyEnd(ctx.gid);
  std::string start(from);
  for (int pass = 0; pass < 2 && examined < kWatchSweepRows; ++pass) {
    RowIterator it(ctx, pass == 0 ? end : start);
    for (it.Seek(pass == 0 ? start : begin); it.Valid() && examined < kWatchSweepRows; it.Next()) {
      ++examined;
      absl::StatusOr<WatchRow> row = DecodeWatchRow(it.value());
      if (!row.ok()) return row.status();
      if (row->last_watch_ms + kWatchRowLifetimeMs < ctx.now_ms) stale.emplace_back(it.key());
    }
    if (absl::Status s = it.status(); !s.ok()) return s;
  }
  for (const std::string& key : stale) DeleteRow(ctx, key);
  return absl::OkStatus();
}

absl::Status Watch(ExecContext& ctx, std::span<const std::string_view> argv, Reply& reply) {
  if (argv.size() < 2) {
    reply.Error("ERR wrong number of arguments for 'watch' command");
    return absl::OkStatus();
  }
  // Sweep before refreshing, so this entry's own keys are never swept by it.
  if (absl::Status s = SweepStaleRows(ctx, WatchKey(ctx.gid, argv[1])); !s.ok()) return s;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string row_key = WatchKey(ctx.gid, argv[i]);
    absl::StatusOr<std::optional<std::string>> value = GetRow(ctx, row_key);
    if (!value.ok()) return value.status();
    WatchRow row;
    if (value->has_value()) {
      absl::StatusOr<WatchRow> old = DecodeWatchRow(**value);
      if (!old.ok()) return old.status();
      row = *old;
    }
    row.last_watch_ms = ctx.now_ms;
    PutRow(ctx, row_key, EncodeWatchRow(row));
  }
  reply.Integer(static_cast<int64_t>(ctx.seed));
  return absl::OkStatus();
}

absl::Status StampKey(ExecContext& ctx, std::string_view user_key) {
  const std::string row_key = WatchKey(ctx.gid, user_key);
  absl::StatusOr<std::optional<std::string>> value = GetRow(ctx, row_key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absl::OkStatus();
  absl::StatusOr<WatchRow> row = DecodeWatchRow(**value);
  if (!row.ok()) return row.status();
  row->last_write_index = ctx.seed;
  PutRow(ctx, row_key, EncodeWatchRow(*row));
  return absl::OkStatus();
}

absl::Status StampEveryRow(ExecContext& ctx) {
  std::vector<std::pair<std::string, WatchRow>> rows;
  {
    RowIterator it(ctx, WatchKeyEnd(ctx.gid));
    for (it.Seek(WatchKeyBegin(ctx.gid)); it.Valid(); it.Next()) {
      absl::StatusOr<WatchRow> row = DecodeWatchRow(it.value());
      if (!row.ok()) return row.status();
      row->last_write_index = ctx.seed;
      rows.emplace_back(std::string(it.key()), *row);
    }
    if (absl::Status s = it.status(); !s.ok()) return s;
  }
  for (const auto& [key, row] : rows) PutRow(ctx, key, EncodeWatchRow(row));
  return absl::OkStatus();
}

constexpr DataCommand kWatchCommands[] = {
    {kWatchCommand, &Watch, /*write=*/true},
};

}  // namespace

std::span<const DataCommand> WatchCommands() { return kWatchCommands; }

absl::Status StampWatchedKeys(ExecContext& ctx, std::span<const std::string_view> argv) {
  if (argv.empty()) return absl::OkStatus();
  const std::string name = absl::AsciiStrToLower(absl::string_view(argv[0].data(), argv[0].size()));
  if (name == kWatchCommand) return absl::OkStatus();
  if (name == kActiveExpireCommand) {
    for (size_t i = 1; i < argv.size(); ++i) {
      if (absl::Status s = StampKey(ctx, argv[i]); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (name == kExecCommand || name == kExecWatchCommand) {
    for (std::string_view blob : TransactionBlobs(argv)) {
      absl::StatusOr<std::vector<std::string_view>> inner = DecodeCommand(blob);
      if (!inner.ok()) continue;  // answered as malformed by the transaction: changed nothing
      if (absl::Status s = StampWatchedKeys(ctx, *inner); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (name == "flushdb" || name == "flushall") return StampEveryRow(ctx);
  const routing::CommandSpec* spec = routing::FindCommandByFullName(name);
  if (spec == nullptr) return absl::OkStatus();  // internal housekeeping: no user-visible change
  absl::StatusOr<std::vector<size_t>> keys =
      routing::GetKeys(*spec, absl::MakeConstSpan(argv.data(), argv.size()));
  if (!keys.ok()) return absl::OkStatus();  // the command failed on its own arguments
  for (size_t k : *keys) {
    if (absl::Status s = StampKey(ctx, argv[k]); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> WatchedKeyUnchanged(const ExecContext& ctx, std::string_view key,
                                         uint64_t watch_index) {
  absl::StatusOr<std::optional<std::string>> value = GetRow(ctx, WatchKey(ctx.gid, key));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return false;
  absl::StatusOr<WatchRow> row = DecodeWatchRow(**value);
  if (!row.ok()) return row.status();
  return row->last_write_index <= watch_index;
}

absl::StatusOr<bool> GroupHasWatchRows(StorageEngine* engine, GroupId gid) {
  ExecContext ctx{engine, gid, nullptr, 0, 0};
  RowIterator it(ctx, WatchKeyEnd(gid));
  it.Seek(WatchKeyBegin(gid));
  const bool found = it.Valid();
  if (absl::Status s = it.status(); !s.ok()) return s;
  return found;
}

}  // namespace tessera::shard::data
