#include "shard/data/expire.h"

#include "shard/data/store.h"

namespace tessera::shard::data {
namespace {

absl::Status ActiveExpire(ExecContext& ctx, std::span<const std::string_view> argv, Reply& reply) {
  int64_t deleted = 0;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string row_key = MetadataKey(ctx.gid, argv[i]);
    absl::StatusOr<std::optional<std::string>> row = GetRow(ctx, row_key);
    if (!row.ok()) return row.status();
    if (!row->has_value()) continue;
    // LoadMetadata deletes a key that is expired at this entry's time, in this batch.
    absl::StatusOr<std::optional<Metadata>> live = LoadMetadata(ctx, argv[i]);
    if (!live.ok()) return live.status();
    if (!live->has_value()) ++deleted;
  }
  reply.Integer(deleted);
  return absl::OkStatus();
}

constexpr DataCommand kExpireCommands[] = {
    {kActiveExpireCommand, &ActiveExpire, /*write=*/true},
};

}  // namespace

std::span<const DataCommand> ExpireCommands() { return kExpireCommands; }

absl::StatusOr<std::vector<std::string>> FindExpiredKeys(StorageEngine* engine, GroupId gid,
                                                         uint64_t now_ms, size_t max_rows,
                                                         std::string* cursor) {
  ExecContext ctx{engine, gid, nullptr, now_ms, 0};
  RowIterator it(ctx, MetadataKeyEnd(gid));
  it.Seek(cursor->empty() ? MetadataKeyBegin(gid) : *cursor);
  std::vector<std::string> expired;
  size_t examined = 0;
  for (; it.Valid() && examined < max_rows; it.Next(), ++examined) {
    absl::StatusOr<Metadata> m = DecodeMetadataHead(it.value());
    if (!m.ok()) return m.status();
    if (m->Expired(now_ms)) expired.emplace_back(UserKeyOf(it.key()));
  }
  if (absl::Status s = it.status(); !s.ok()) return s;
  if (it.Valid()) {
    cursor->assign(it.key());
  } else {
    cursor->clear();
  }
  return expired;
}

}  // namespace tessera::shard::data
