#include "shard/data/commands.h"

#include "absl/container/flat_hash_map.h"
#include "shard/data/expire.h"
#include "shard/data/gc.h"
#include "shard/data/routing_rows.h"
#include "shard/data/transaction.h"
#include "shard/data/watch.h"

namespace tessera::shard::data {

const DataCommand* FindDataCommand(std::string_view lowercase_name) {
  static const auto* const index = [] {
    auto* m = new absl::flat_hash_map<std::string_view, const DataCommand*>();
    for (auto table : {StringCommands(), KeyCommands(), HashCommands(), ListCommands(),
                       SetCommands(), ZSetCommands(), ExpireCommands(), GcCommands(),
                       TransactionCommands(), WatchCommands(), RoutingCommands()}) {
      for (const DataCommand& c : table) m->emplace(c.name, &c);
    }
    return m;
  }();
  auto it = index->find(lowercase_name);
  return it == index->end() ? nullptr : it->second;
}

}  // namespace tessera::shard::data
