#include "shard/data/transaction.h"

#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "shard/data/util.h"
#include "shard/data/watch.h"
#include "shard/kv/kv_state_machine.h"

namespace tessera::shard::data {
namespace {

// The number of watched keys of a tessera.execw argv, or nullopt when malformed.
std::optional<size_t> WatchedKeyCount(std::span<const std::string_view> argv) {
  uint64_t n = 0;
  if (argv.size() < 2 || !absl::SimpleAtoi(absl::string_view(argv[1].data(), argv[1].size()), &n) ||
      n > (argv.size() - 2) / 2) {
    return std::nullopt;
  }
  return static_cast<size_t>(n);
}

absl::Status RunCommands(ExecContext& ctx, std::span<const std::string_view> blobs, Reply& reply) {
  reply.ArrayHeader(blobs.size());
  for (std::string_view blob : blobs) {
    absl::StatusOr<std::vector<std::string_view>> command = DecodeCommand(blob);
    const DataCommand* handler = command.ok()
                                     ? FindDataCommand(absl::AsciiStrToLower(absl::string_view(
                                           (*command)[0].data(), (*command)[0].size())))
                                     : nullptr;
    if (handler == nullptr || handler->name == kExecCommand || handler->name == kExecWatchCommand) {
      reply.Error("ERR malformed command in transaction");
      continue;
    }
    // Reads run here too, at the transaction's point in the log, seeing its earlier writes.
    if (absl::Status s = handler->handler(ctx, *command, reply); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Exec(ExecContext& ctx, std::span<const std::string_view> argv, Reply& reply) {
  return RunCommands(ctx, argv.subspan(1), reply);
}

absl::Status ExecWatched(ExecContext& ctx, std::span<const std::string_view> argv, Reply& reply) {
  const std::optional<size_t> n = WatchedKeyCount(argv);
  if (!n.has_value()) {
    reply.Error("ERR malformed transaction");
    return absl::OkStatus();
  }
  for (size_t i = 0; i < *n; ++i) {
    uint64_t watch_index = 0;
    const std::string_view index = argv[3 + 2 * i];
    if (!absl::SimpleAtoi(absl::string_view(index.data(), index.size()), &watch_index)) {
      reply.Error("ERR malformed transaction");
      return absl::OkStatus();
    }
    absl::StatusOr<bool> unchanged = WatchedKeyUnchanged(ctx, argv[2 + 2 * i], watch_index);
    if (!unchanged.ok()) return unchanged.status();
    if (!*unchanged) {
      reply.NullArray();
      return absl::OkStatus();
    }
  }
  return RunCommands(ctx, argv.subspan(2 + 2 * *n), reply);
}

constexpr DataCommand kTransactionCommands[] = {
    {kExecCommand, &Exec, /*write=*/true},
    {kExecWatchCommand, &ExecWatched, /*write=*/true},
};

}  // namespace

std::span<const DataCommand> TransactionCommands() { return kTransactionCommands; }

std::span<const std::string_view> TransactionBlobs(std::span<const std::string_view> argv) {
  if (argv.empty()) return {};
  if (EqualsIgnoreCase(argv[0], kExecWatchCommand)) {
    const std::optional<size_t> n = WatchedKeyCount(argv);
    return n.has_value() ? argv.subspan(2 + 2 * *n) : std::span<const std::string_view>();
  }
  return argv.subspan(1);
}

}  // namespace tessera::shard::data
