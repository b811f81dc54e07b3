// The list commands: not served yet; the listener answers "not served by this shard yet".
#include "shard/data/commands.h"

namespace tessera::shard::data {

std::span<const DataCommand> ListCommands() { return {}; }

}  // namespace tessera::shard::data
