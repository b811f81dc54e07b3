// The data model's command handlers, by lowercase name. The listener checks arity with the
// command table (routing/) before calling a handler; handlers check everything else.
#pragma once

#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "shard/data/reply.h"
#include "shard/data/store.h"

namespace tessera::shard::data {

// argv[0] is the command name as the client sent it. A handler answers through `reply`
// exactly once (one top-level value). A non-OK status is a storage failure, not a user error:
// at apply it stops the process (replicas must not diverge), on a read it becomes an error
// reply. Write handlers run only with ctx.batch set, in log order on every replica, and must
// be deterministic: time is ctx.now_ms, randomness comes from ctx.seed.
using Handler = absl::Status (*)(ExecContext& ctx, std::span<const std::string_view> argv,
                                 Reply& reply);

struct DataCommand {
  std::string_view name;  // lowercase
  Handler handler;
  bool write;  // replicated through raft; otherwise served after a read barrier
};

// nullptr for a command the data model does not implement.
const DataCommand* FindDataCommand(std::string_view lowercase_name);

// Registration tables of each type's file (strings.cc, keys.cc, ...).
std::span<const DataCommand> StringCommands();
std::span<const DataCommand> KeyCommands();
std::span<const DataCommand> HashCommands();
std::span<const DataCommand> ListCommands();
std::span<const DataCommand> SetCommands();
std::span<const DataCommand> ZSetCommands();

}  // namespace tessera::shard::data
