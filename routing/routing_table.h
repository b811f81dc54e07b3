// The routing table: every one of the 16384 hash slots mapped to the Raft group that owns it,
// with a version that only grows as the table changes.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "routing/slot.h"

namespace tessera::routing {

using GroupId = uint64_t;

// Slots [first, last] (inclusive) of one group: the table's wire and display form.
struct SlotRange {
  int first = 0;
  int last = 0;
  GroupId group = 0;
  bool operator==(const SlotRange&) const = default;
};

class RoutingTable {
 public:
  // Every slot unassigned (group 0), version 0.
  RoutingTable() { slots_.fill(0); }

  // Slots split into contiguous, as-even-as-possible ranges in the order of `group_ids`
  // (ascending, non-empty): the first kSlotCount % n groups get one slot more.
  static RoutingTable EvenSpread(const std::vector<GroupId>& group_ids, uint64_t version = 1);

  // From ranges that are sorted, disjoint and cover every slot with a non-zero group;
  // InvalidArgument naming the first gap, overlap or bad range otherwise.
  static absl::StatusOr<RoutingTable> FromRanges(const std::vector<SlotRange>& ranges,
                                                 uint64_t version);

  uint64_t version() const { return version_; }
  // Maximal runs of slots with the same group, ascending (unassigned runs have group 0).
  std::vector<SlotRange> Ranges() const;
  // 0 when the slot is unassigned or out of range.
  GroupId GroupForSlot(int slot) const {
    return slot >= 0 && slot < kSlotCount ? slots_[static_cast<size_t>(slot)] : 0;
  }

 private:
  uint64_t version_ = 0;
  std::array<GroupId, kSlotCount> slots_;
};

}  // namespace tessera::routing
