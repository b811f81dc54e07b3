// RoutingTable construction: the even spread used until the table is stored in the default
// group and moved by resharding.
#include "routing/routing_table.h"

#include <cassert>

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

}  // namespace tessera::routing
