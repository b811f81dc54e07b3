// The raft envelope of log-entry payloads (spec/encryption.md §9): only the command after the
// 24-byte entry header (proposer ‖ request id ‖ timestamp) is sealed, so proposal ids still
// resolve. Entries at or below the group's cutover C_G are cleartext (the cutover entry itself
// included); every entry above it is an envelope.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "shard/encryption/applier.h"

namespace tessera::shard::encryption {

// Whether an EncodeCommand blob is an encryption op ({"tessera.enc", ...}); they pass the
// proposal-quiescence barrier.
bool IsEncryptionCommand(std::string_view command);

// The command as the leader proposes it in `gid`: cleartext while the applied C_G is 0, else
// sealed under this node's active raft DEK (kKeyUnavailable when it does not hold it: the
// proposal is refused, never sent in cleartext).
absl::StatusOr<std::string> WrapProposalCommand(const EncryptionRuntime& runtime, uint64_t gid,
                                                std::string_view command);

// The cleartext command of entry `index` of `gid`: nullopt when the stored bytes are already
// cleartext (index <= C_G or C_G == 0). Above the cutover a missing key is kKeyUnavailable and
// anything that does not open (cleartext, tampering) is kRaftUnwrapFailed; the apply halts.
absl::StatusOr<std::optional<std::string>> UnwrapEntryCommand(const EncryptionRuntime& runtime,
                                                              uint64_t gid, uint64_t index,
                                                              std::string_view command);

}  // namespace tessera::shard::encryption
