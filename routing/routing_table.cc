// RoutingTable construction: the even spread used until the table is stored in the default
// group and moved by resharding.
#include "routing/routing_table.h"

#include <cassert>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tessera::routing {

RoutingTable RoutingTable::EvenSpread(const std::vector<GroupId>& group_ids, uint64_t version) {
  RoutingTable table;
  table.version_ = version;
  if (group_ids.empty()) return table;
  const size_t n = group_ids.size();
  const size_t base = kSlotCount / n;
  const size_t extra = kSlotCount % n;
  size_t slot = 0;
  for (size_t i = 0; i < n; ++i) {
    assert(i == 0 || group_ids[i - 1] < group_ids[i]);
    const size_t count = base + (i < extra ? 1 : 0);
    for (size_t k = 0; k < count; ++k) table.slots_[slot++] = group_ids[i];
  }
  assert(slot == static_cast<size_t>(kSlotCount));
  return table;
}

absl::StatusOr<RoutingTable> RoutingTable::FromRanges(const std::vector<SlotRange>& ranges,
                                                      uint64_t version) {
  RoutingTable table;
  table.version_ = version;
  int next = 0;  // the first slot not yet covered
  for (const SlotRange& r : ranges) {
    if (r.first != next) {
      return absl::InvalidArgumentError(absl::StrCat("routing table: range ", r.first, "-", r.last,
                                                     " does not start at slot ", next,
                                                     r.first > next ? " (gap)" : " (overlap)"));
    }
    if (r.last < r.first || r.last >= kSlotCount) {
      return absl::InvalidArgumentError(
          absl::StrCat("routing table: bad range ", r.first, "-", r.last));
    }
    if (r.group == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("routing table: range ", r.first, "-", r.last, " has no group"));
    }
    for (int s = r.first; s <= r.last; ++s) table.slots_[static_cast<size_t>(s)] = r.group;
    next = r.last + 1;
  }
  if (next != kSlotCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("routing table: slots ", next, "-", kSlotCount - 1, " not covered"));
  }
  return table;
}

std::vector<SlotRange> RoutingTable::Ranges() const {
  std::vector<SlotRange> out;
  for (int s = 0; s < kSlotCount; ++s) {
    const GroupId g = slots_[static_cast<size_t>(s)];
    if (!out.empty() && out.back().group == g) {
      out.back().last = s;
    } else {
      out.push_back({s, s, g});
    }
  }
  return out;
}

}  // namespace tessera::routing
