// Background collection of stale collection rows. DEL, UNLINK, an overwrite or expiry of a
// hash/set/list/zset drops only its metadata row (O(1)); DeleteKey records the dead version in a
// garbage row of the same batch, and the leader proposes TESSERA.GC entries that delete the
// version's sub-key rows in bounded steps, identically on every replica.
//
// Garbage rows of group `gid` (integers big-endian), in the `data` column family:
//   gid ‖ 'G' ‖ deleted_at u64 ‖ version u64  ->  key_len u32 ‖ user_key ‖ resume
// deleted_at is the index of the entry that dropped the key, so rows queue in deletion order
// and a new row always sorts after every existing one. resume is the sub-key suffix (after
// SubKeyPrefix) where collection continues; empty means from the first row. Snapshots carry
// these rows with the rest of the group, so a restored replica continues where its source was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "shard/data/commands.h"
#include "shard/data/store.h"
#include "shard/storage/engine.h"

namespace tessera::shard::data {

// The replicated command: TESSERA.GC budget [start]. At apply it deletes at most `budget`
// sub-key rows (and at most kGcRecordsPerEntry garbage rows) from the garbage queue, starting
// at the garbage row `start` (deleted_at ‖ version, 16 bytes; absent = the queue's head), and
// replies with the number of sub-key rows deleted. Not in the command table: clients cannot
// send it.
inline constexpr std::string_view kGcCommand = "tessera.gc";
inline constexpr size_t kGcRecordsPerEntry = 256;
std::span<const DataCommand> GcCommands();

// Stages the garbage row of `version` of collection `user_key`, whose metadata row the current
// entry deletes or replaces. Write contexts only.
void RecordGarbage(ExecContext& ctx, std::string_view user_key, uint64_t version);

// The first and past-the-end garbage row keys of a group.
std::string GarbageKeyBegin(GroupId gid);
std::string GarbageKeyEnd(GroupId gid);

// Leader side: the TESSERA.GC argv to propose for `gid` (budget `rows_per_entry`), or nullopt
// when the queue is empty. `*cursor` is a garbage row key at or before the queue's head (empty:
// the group's first); it moves to the head found, so later calls skip the tombstones of
// collected rows. Reads the database only.
absl::StatusOr<std::optional<std::vector<std::string>>> NextGcCommand(StorageEngine* engine,
                                                                      GroupId gid,
                                                                      size_t rows_per_entry,
                                                                      std::string* cursor);

}  // namespace tessera::shard::data
