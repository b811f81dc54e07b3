// The routing table: every one of the 16384 hash slots mapped to the Raft group that owns it,
// with a version that only grows as the table changes.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "routing/slot.h"

namespace tessera::routing {

using GroupId = uint64_t;

class RoutingTable {
 public:
  // Every slot unassigned (group 0), version 0.
  RoutingTable() { slots_.fill(0); }

  // Slots split into contiguous, as-even-as-possible ranges in the order of `group_ids`
  // (ascending, non-empty): the first kSlotCount % n groups get one slot more.
  static RoutingTable EvenSpread(const std::vector<GroupId>& group_ids, uint64_t version = 1);

  uint64_t version() const { return version_; }
  // 0 when the slot is unassigned or out of range.
  GroupId GroupForSlot(int slot) const {
    return slot >= 0 && slot < kSlotCount ? slots_[static_cast<size_t>(slot)] : 0;
  }

 private:
  uint64_t version_ = 0;
  std::array<GroupId, kSlotCount> slots_;
};

}  // namespace tessera::routing
