// Active expiry: the leader finds keys whose TTL ran out and proposes their deletion through
// raft, in bounded batches, so memory is reclaimed without a read touching them. Lazy expiry
// (store.h) already hides such keys from every read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "shard/data/commands.h"
#include "shard/storage/engine.h"

namespace tessera::shard::data {

// The replicated command: TESSERA.EXPIRE key [key ...]. At apply each key is deleted only if it
// is expired at the entry's time (a key rewritten with a new TTL meanwhile survives); the reply
// is the number deleted. Not in the command table: clients cannot send it.
inline constexpr std::string_view kActiveExpireCommand = "tessera.expire";
std::span<const DataCommand> ExpireCommands();

// Examines at most `max_rows` metadata rows of `gid` from `*cursor` (a metadata key; empty =
// the group's first) and returns the user keys expired at `now_ms`. Advances `*cursor` past
// what it examined, wrapping to empty at the end of the group, so repeated calls sweep every
// key in bounded steps. Reads the database only.
absl::StatusOr<std::vector<std::string>> FindExpiredKeys(StorageEngine* engine, GroupId gid,
                                                         uint64_t now_ms, size_t max_rows,
                                                         std::string* cursor);

}  // namespace tessera::shard::data
