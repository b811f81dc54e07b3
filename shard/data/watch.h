// WATCH for MULTI/EXEC, decided identically on every replica: watching is a replicated entry
// that creates a watch row per key, every applied write stamps the rows of the keys it names
// with its index, and a watched EXEC aborts at apply when a row was stamped after its WATCH.
//
// Row (data CF, integers big-endian): gid ‖ 'W' ‖ user_key → last_write_index u64 ‖
// last_watch_ms u64. last_write_index is 0 until a write after the row's creation stamps it.
// A row not watched for kWatchRowLifetimeMs is swept by later WATCH entries; an EXEC whose
// row is gone aborts (the conservative answer), so a WATCH held that long fails its EXEC.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "shard/data/commands.h"
#include "shard/storage/engine.h"

namespace tessera::shard::data {

// TESSERA.WATCH key [key ...]: creates or refreshes the keys' watch rows and sweeps at most
// kWatchSweepRows stale rows. The reply is the entry's index, which the listener keeps as the
// client's watch point. Not in the command table: clients send WATCH.
inline constexpr std::string_view kWatchCommand = "tessera.watch";
inline constexpr uint64_t kWatchRowLifetimeMs = 10 * 60 * 1000;
inline constexpr size_t kWatchSweepRows = 64;
std::span<const DataCommand> WatchCommands();

// Stamps, with ctx.seed, the watch rows of every key the applied write `argv` names (its key
// specs in the command table; inner commands of a transaction; every row for FLUSHDB and
// FLUSHALL). Rows that do not exist are not created. Called after the command ran.
absl::Status StampWatchedKeys(ExecContext& ctx, std::span<const std::string_view> argv);

// True when `key`'s watch row exists and no write stamped it after `watch_index`.
absl::StatusOr<bool> WatchedKeyUnchanged(const ExecContext& ctx, std::string_view key,
                                         uint64_t watch_index);

// Whether group `gid` has any watch row in the database: when not, appliers may skip
// StampWatchedKeys until the group applies a TESSERA.WATCH.
absl::StatusOr<bool> GroupHasWatchRows(StorageEngine* engine, GroupId gid);

}  // namespace tessera::shard::data
