// The set commands: not served yet; the listener answers "not served by this shard yet".
#include "shard/data/commands.h"

namespace tessera::shard::data {

std::span<const DataCommand> SetCommands() { return {}; }

}  // namespace tessera::shard::data
