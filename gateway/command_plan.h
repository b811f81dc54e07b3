// Where a client command goes: key -> slot -> group through the routing table and the
// command table's MultiKeyPolicy, split into one sub-command per group when the policy allows,
// and how the parts' replies merge back into the one reply Redis would give.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "routing/command_table.h"
#include "routing/routing_table.h"

namespace tessera::gateway {

using routing::GroupId;

enum class Route : uint8_t {
  kLocal,        // kLocal policy: the gateway answers, or sends it to any shard
  kError,        // refused here (CROSSSLOT, bad SCAN cursor): `error` is the reply text
  kGroup,        // exactly one part, forwarded as it came (or re-encoded from inline)
  kSplit,        // one part per group of the keys; merged per the policy
  kAllGroups,    // one part per group of the cluster; merged per the policy
  kTransaction,  // MULTI/EXEC/DISCARD/WATCH/UNWATCH: the session handles it
};

struct PlanPart {
  GroupId group = 0;
  int slot = -1;        // slot of the part's first key (MOVED names it); -1 when keyless
  std::string command;  // RESP2 multibulk to send, unless `borrowed` holds it
  // The client's own bytes of the command, not copied (PlanCommand's borrow_raw): whoever
  // planned keeps the buffer they point into alive as long as the part.
  std::string_view borrowed;
  std::string_view bytes() const { return borrowed.empty() ? std::string_view(command) : borrowed; }
  // kSplit: the positions (0-based, in the client's key order) of the keys this part carries.
  std::vector<size_t> keys;
};

struct CommandPlan {
  Route route = Route::kLocal;
  routing::MultiKeyPolicy policy = routing::MultiKeyPolicy::kLocal;
  std::string error;                       // kError
  absl::InlinedVector<PlanPart, 1> parts;  // one part needs no allocation
  size_t key_count = 0;                    // kSplit: keys in the client's command
  size_t scan_group = 0;   // SCAN: index in the cluster's groups of the group it walks
  size_t scan_groups = 0;  // SCAN: how many groups the cursor walks
};

// `argv` is resolved and arity-checked as `spec`. `raw` is the command's multibulk bytes as
// received, forwarded unchanged when one part suffices; empty means re-encode (inline input).
// `groups` are the cluster's groups, ascending. A table with an unassigned slot for a key
// gives kError ("CLUSTERDOWN Hash slot not served"). With `borrow_raw`, a part forwarded as
// received points at `raw` (PlanPart::borrowed) instead of copying it.
CommandPlan PlanCommand(const routing::CommandSpec& spec, routing::ArgvRef argv,
                        std::string_view raw, const routing::RoutingTable& table,
                        const std::vector<GroupId>& groups, bool borrow_raw = false);

// The shard's prefix naming the group of a keyless command (shard/redis/redis_server.h).
inline constexpr std::string_view kInGroupCommand = "TESSERA.INGROUP";

// The multibulk encoding of argv.
std::string EncodeCommand(routing::ArgvRef argv);
void AppendCommand(routing::ArgvRef argv, std::string* out);

// A SCAN cursor through the gateway names the group it walks in its top byte (shard cursors
// stay below 2^56) and that group's cursor below it.
inline constexpr int kScanGroupShift = 56;
uint64_t GatewayScanCursor(size_t group_index, uint64_t shard_cursor);

// One part's reply, as the merge sees it.
struct PartReply {
  std::string_view bytes;  // RESP2
  char type = 0;           // first byte: '+', '-', ':', '$', '*'
  int64_t integer = 0;     // ':' replies
  // '*' replies: each top-level element's bytes.
  std::vector<std::string_view> elements;
  bool nil = false;  // $-1 or *-1
};

// Parses a RESP2 reply's top level into a PartReply (for tests and local merges); false when
// `bytes` is not one whole RESP2 reply.
bool ParsePartReply(std::string_view bytes, PartReply* out);

// The client's reply (RESP2 bytes) from every part's reply, in plan.parts order. The first
// error in part order wins for every policy. `random` picks RANDOMKEY's first group.
std::string MergeReplies(const CommandPlan& plan, const std::vector<PartReply>& replies,
                         uint64_t random = 0);

}  // namespace tessera::gateway
