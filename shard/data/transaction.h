// MULTI/EXEC: the queued commands travel as ONE replicated entry, TESSERA.EXEC, and run in
// order at apply on every replica within one batch (atomic: no other entry interleaves, and a
// crash applies all or none). Not in the command table: clients cannot send it.
#pragma once

#include <span>
#include <string_view>

#include "shard/data/commands.h"

namespace tessera::shard::data {

// argv = {"tessera.exec", command_1, ..., command_n}, each command an EncodeCommand blob
// (shard/kv/kv_state_machine.h). The reply is an array of the n replies; a command that
// fails (WRONGTYPE...) answers its error in place and the others still run, as in Redis.
inline constexpr std::string_view kExecCommand = "tessera.exec";
// A transaction after WATCH: argv = {"tessera.execw", n, key_1, watch_index_1, ..., key_n,
// watch_index_n, command_1, ...}. When a watched key was written after its watch index (or its
// watch row is gone), nothing runs and the reply is a nil array, as Redis answers EXEC.
inline constexpr std::string_view kExecWatchCommand = "tessera.execw";
// The command blobs of a tessera.exec or tessera.execw argv (empty when malformed).
std::span<const std::string_view> TransactionBlobs(std::span<const std::string_view> argv);
std::span<const DataCommand> TransactionCommands();

}  // namespace tessera::shard::data
