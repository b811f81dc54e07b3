// The cluster's routing table (slot -> group, versioned) as one replicated row of the default
// group: written once at bootstrap with the even spread and changed only by slot reassignment.
//
// Row (data CF, integers big-endian): gid ‖ 'R' ‖ "table" →
//   version u64 ‖ range_count u32 ‖ { first u16 ‖ last u16 ‖ group u64 }*
// Ranges are sorted, disjoint and cover every slot (routing::RoutingTable::FromRanges).
// FLUSHDB/FLUSHALL, KEYS and SCAN walk only metadata rows ('M'): the row is invisible to them.
#pragma once

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

std::span<const DataCommand> RoutingCommands();

std::string EncodeRoutingTable(const routing::RoutingTable& table);
// DATA_LOSS on a truncated or inconsistent encoding.
absl::StatusOr<routing::RoutingTable> DecodeRoutingTable(std::string_view bytes);

// `table` with slots [first, last] given to `group` and version + 1; INVALID_ARGUMENT on a bad
// range or group 0.
absl::StatusOr<routing::RoutingTable> AssignSlots(const routing::RoutingTable& table, int first,
                                                  int last, routing::GroupId group);

}  // namespace tessera::shard::data
