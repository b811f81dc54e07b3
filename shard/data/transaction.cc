#include "shard/data/transaction.h"

#include <string>

#include "absl/strings/ascii.h"
#include "shard/kv/kv_state_machine.h"

namespace tessera::shard::data {
namespace {

absl::Status Exec(ExecContext& ctx, std::span<const std::string_view> argv, Reply& reply) {
  reply.ArrayHeader(argv.size() - 1);
  for (size_t i = 1; i < argv.size(); ++i) {
    absl::StatusOr<std::vector<std::string_view>> command = DecodeCommand(argv[i]);
    const DataCommand* handler = command.ok()
                                     ? FindDataCommand(absl::AsciiStrToLower(absl::string_view(
                                           (*command)[0].data(), (*command)[0].size())))
                                     : nullptr;
    if (handler == nullptr || handler->name == kExecCommand) {
      reply.Error("ERR malformed command in transaction");
      continue;
    }
    // Reads run here too, at the transaction's point in the log, seeing its earlier writes.
    if (absl::Status s = handler->handler(ctx, *command, reply); !s.ok()) return s;
  }
  return absl::OkStatus();
}

constexpr DataCommand kTransactionCommands[] = {
    {kExecCommand, &Exec, /*write=*/true},
};

}  // namespace

std::span<const DataCommand> TransactionCommands() { return kTransactionCommands; }

}  // namespace tessera::shard::data
