// The cluster's routing table (slot -> group, versioned) as one replicated row of the default
// group: written once at bootstrap with the even spread and changed only by slot reassignment.
//
// Row (data CF, integers big-endian): gid ‖ 'R' ‖ "table" →
//   version u64 ‖ range_count u32 ‖ { first u16 ‖ last u16 ‖ group u64 }*
// Ranges are sorted, disjoint and cover every slot (routing::RoutingTable::FromRanges).
// FLUSHDB/FLUSHALL, KEYS and SCAN walk only metadata rows ('M'): the row is invisible to them.
//
// Every group may also hold a slot fence, gid ‖ 'R' ‖ "fence" → a 2048-byte bitmap (bit s of
// byte s/8, most significant first): the slots it has given away. A group never serves a key
// of a fenced slot, so a client routing with an older table cannot write a key the slot's new
// group will never see, nor read a stale one.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "routing/routing_table.h"
#include "shard/data/commands.h"

namespace tessera::shard::data {

// Replicated. TESSERA.ROUTING.INIT <encoded table>: stores the table unless the group already
// has one (a bootstrap proposal repeated by a new leader changes nothing). Reply: the stored
// table's version.
inline constexpr std::string_view kRoutingInitCommand = "tessera.routing.init";
// Replicated. TESSERA.ROUTING.ASSIGN <expected_version> <first> <last> <group>: gives slots
// [first, last] to <group> and bumps the version by one, only when the stored version is
// <expected_version> (a concurrent change makes it fail). Reply: the new version, or an error.
inline constexpr std::string_view kRoutingAssignCommand = "tessera.routing.assign";
// Read. TESSERA.ROUTING.GET: the encoded table, or nil when none is stored.
inline constexpr std::string_view kRoutingGetCommand = "tessera.routing.get";
// Read. TESSERA.SLOTKEYS <first> <last>: how many live keys of the group it runs in hash to
// slots [first, last]. Walks every key of the group (an admin check, not a hot path).
inline constexpr std::string_view kSlotKeysCommand = "tessera.slotkeys";

// Replicated, in a group giving slots away. TESSERA.SLOTS.RELEASE <first> <last>: when the
// group holds no live key in slots [first, last], fences them in the same entry. Reply: how
// many keys it found; 0 means the slots are fenced (any other count changes nothing).
inline constexpr std::string_view kSlotsReleaseCommand = "tessera.slots.release";
// Replicated, in the group receiving slots. TESSERA.SLOTS.ACQUIRE <first> <last>: lifts the
// fence of slots [first, last] (if any). Reply: OK.
inline constexpr std::string_view kSlotsAcquireCommand = "tessera.slots.acquire";

using SlotFence = std::bitset<routing::kSlotCount>;
// The group's fence (none fenced when the row is absent); DATA_LOSS on a malformed row.
absl::StatusOr<SlotFence> LoadSlotFence(const ExecContext& ctx);
// The first slot in `fence` of a key `argv` names (key specs of the command table, the inner
// commands of a transaction), or -1. Keyless and internal commands name none.
int FencedSlotOf(const SlotFence& fence, std::span<const std::string_view> argv);
// The reply to a command refused by the fence: TRYAGAIN, so it is retried with a newer table.
std::string FencedSlotError(int slot);

std::span<const DataCommand> RoutingCommands();

std::string EncodeRoutingTable(const routing::RoutingTable& table);
// DATA_LOSS on a truncated or inconsistent encoding.
absl::StatusOr<routing::RoutingTable> DecodeRoutingTable(std::string_view bytes);

// `table` with slots [first, last] given to `group` and version + 1; INVALID_ARGUMENT on a bad
// range or group 0.
absl::StatusOr<routing::RoutingTable> AssignSlots(const routing::RoutingTable& table, int first,
                                                  int last, routing::GroupId group);

}  // namespace tessera::shard::data
