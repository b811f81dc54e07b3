// TESSERA.GC: the garbage queue of dead collection versions and its bounded, deterministic
// collection at apply (see gc.h for the row format).
#include "shard/data/gc.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "shard/data/util.h"

namespace tessera::shard::data {
namespace {

constexpr char kGarbageTag = 'G';
constexpr size_t kGarbageIdSize = 16;  // deleted_at ‖ version
// gid ‖ 'G': the fixed head of every garbage row key.
constexpr size_t kGarbageKeyHead = 9;

std::string GarbageKey(GroupId gid, std::string_view id) {
  std::string key = GarbageKeyBegin(gid);
  key.append(id);
  return key;
}

std::string EncodeGarbageValue(std::string_view user_key, std::string_view resume) {
  std::string value;
  const auto len = static_cast<uint32_t>(user_key.size());
  for (int shift = 24; shift >= 0; shift -= 8) value.push_back(static_cast<char>(len >> shift));
  value.append(user_key);
  value.append(resume);
  return value;
}

struct GarbageRow {
  std::string key;  // the full row key
  uint64_t version = 0;
  std::string user_key;
  std::string resume;
};

absl::StatusOr<GarbageRow> DecodeGarbageRow(std::string_view key, std::string_view value) {
  if (key.size() != kGarbageKeyHead + kGarbageIdSize || value.size() < 4) {
    return absl::DataLossError(absl::StrCat("garbage row with a ", key.size(), "-byte key and ",
                                            value.size(), "-byte value"));
  }
  const uint32_t len = (static_cast<uint32_t>(static_cast<uint8_t>(value[0])) << 24) |
                       (static_cast<uint32_t>(static_cast<uint8_t>(value[1])) << 16) |
                       (static_cast<uint32_t>(static_cast<uint8_t>(value[2])) << 8) |
                       static_cast<uint32_t>(static_cast<uint8_t>(value[3]));
  if (value.size() - 4 < len) return absl::DataLossError("garbage row with a truncated key");
  GarbageRow row;
  row.key.assign(key);
  row.version = DecodeU64BE(key.substr(kGarbageKeyHead + 8));
  row.user_key.assign(value.substr(4, len));
  row.resume.assign(value.substr(4 + len));
  return row;
}

// TESSERA.GC budget [start]: a malformed entry is answered with an error and changes nothing,
// the same on every replica.
absl::Status CollectGarbage(ExecContext& ctx, std::span<const std::string_view> argv,
                            Reply& reply) {
  std::optional<int64_t> budget = argv.size() >= 2 ? ParseInt64(argv[1]) : std::nullopt;
  if (!budget.has_value() || *budget <= 0 || argv.size() > 3 ||
      (argv.size() == 3 && argv[2].size() != kGarbageIdSize)) {
    reply.Error("ERR malformed tessera.gc entry");
    return absl::OkStatus();
  }
  const std::string start =
      argv.size() == 3 ? GarbageKey(ctx.gid, argv[2]) : GarbageKeyBegin(ctx.gid);
  // The queue's head first, then its rows one by one: the batch must not change under a live
  // iterator.
  std::vector<GarbageRow> queue;
  {
    RowIterator it(ctx, GarbageKeyEnd(ctx.gid));
    for (it.Seek(start); it.Valid() && queue.size() < kGcRecordsPerEntry &&
                         queue.size() < static_cast<uint64_t>(*budget);
         it.Next()) {
      absl::StatusOr<GarbageRow> row = DecodeGarbageRow(it.key(), it.value());
      if (!row.ok()) return row.status();
      queue.push_back(*std::move(row));
    }
    if (absl::Status s = it.status(); !s.ok()) return s;
  }
  uint64_t left = static_cast<uint64_t>(*budget);
  int64_t deleted = 0;
  for (const GarbageRow& g : queue) {
    const std::string prefix = SubKeyPrefix(ctx.gid, g.user_key, g.version);
    std::vector<std::string> rows;
    {
      RowIterator it(ctx, PrefixEnd(prefix));
      for (it.Seek(prefix + g.resume); it.Valid() && rows.size() < left; it.Next()) {
        rows.emplace_back(it.key());
      }
      if (absl::Status s = it.status(); !s.ok()) return s;
    }
    for (const std::string& row : rows) DeleteRow(ctx, row);
    deleted += static_cast<int64_t>(rows.size());
    if (rows.size() < left) {
      // The version is gone: the record goes too. An empty record still costs one unit, so an
      // entry touches at most `budget` rows of either kind.
      DeleteRow(ctx, g.key);
      left -= std::max<uint64_t>(rows.size(), 1);
      if (left == 0) break;
      continue;
    }
    // Budget spent inside this version: remember where to continue, past the last row deleted.
    std::string resume = rows.back().substr(prefix.size());
    resume.push_back('\0');
    PutRow(ctx, g.key, EncodeGarbageValue(g.user_key, resume));
    break;
  }
  reply.Integer(deleted);
  return absl::OkStatus();
}

constexpr DataCommand kGcCommands[] = {
    {kGcCommand, &CollectGarbage, /*write=*/true},
};

}  // namespace

std::span<const DataCommand> GcCommands() { return kGcCommands; }

std::string GarbageKeyBegin(GroupId gid) {
  return GroupKey(gid, std::string_view(&kGarbageTag, 1));
}

std::string GarbageKeyEnd(GroupId gid) {
  const char next = kGarbageTag + 1;
  return GroupKey(gid, std::string_view(&next, 1));
}

void RecordGarbage(ExecContext& ctx, std::string_view user_key, uint64_t version) {
  // The entry index orders the queue; the version, unique in the group, tells apart the
  // versions one entry drops (MULTI, FLUSHDB).
  std::string id = EncodeU64BE(ctx.seed);
  PutU64BE(&id, version);
  PutRow(ctx, GarbageKey(ctx.gid, id), EncodeGarbageValue(user_key, {}));
}

absl::StatusOr<std::optional<std::vector<std::string>>> NextGcCommand(StorageEngine* engine,
                                                                      GroupId gid,
                                                                      size_t rows_per_entry,
                                                                      std::string* cursor) {
  ExecContext ctx{engine, gid, nullptr, 0, 0};
  RowIterator it(ctx, GarbageKeyEnd(gid));
  it.Seek(cursor->empty() ? GarbageKeyBegin(gid) : *cursor);
  if (absl::Status s = it.status(); !s.ok()) return s;
  // Nothing queued: keep the cursor, rows queued later sort after it.
  if (!it.Valid()) return std::nullopt;
  cursor->assign(it.key());
  if (it.key().size() != kGarbageKeyHead + kGarbageIdSize) {
    return absl::DataLossError(absl::StrCat("garbage row key of ", it.key().size(), " bytes"));
  }
  return std::vector<std::string>{std::string(kGcCommand), absl::StrCat(rows_per_entry),
                                  std::string(it.key().substr(kGarbageKeyHead))};
}

}  // namespace tessera::shard::data
