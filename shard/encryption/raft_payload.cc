// Raft-envelope wrap at propose time and unwrap at apply time.
#include "shard/encryption/raft_payload.h"

#include "absl/strings/str_cat.h"
#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/envelope.h"
#include "shard/encryption/ops.h"

namespace tessera::shard::encryption {

bool IsEncryptionCommand(std::string_view command) {
  // argc u32 ‖ len u32 ‖ "tessera.enc" ...
  if (command.size() < 8 + kEncryptionCommand.size()) return false;
  uint32_t len = 0;
  for (int i = 4; i < 8; ++i) len = (len << 8) | static_cast<uint8_t>(command[i]);
  return len == kEncryptionCommand.size() &&
         command.substr(8, kEncryptionCommand.size()) == kEncryptionCommand;
}

absl::StatusOr<std::string> WrapProposalCommand(const EncryptionRuntime& runtime, uint64_t gid,
                                                std::string_view command) {
  if (runtime.state->raft_cutover(gid) == 0) return std::string(command);
  const uint32_t id = runtime.state->active_raft_id();
  std::shared_ptr<const SecretBytes> dek =
      id == 0 ? nullptr : runtime.keys->Find(id, DekPurpose::kRaft);
  if (dek == nullptr) {
    return EncryptionError(EncryptionErrc::kKeyUnavailable,
                           absl::StrCat("group ", gid, " is cut over but raft DEK ", id,
                                        " is not loaded; refusing to propose cleartext"));
  }
  return SealRaft(*dek, id, command);
}

absl::StatusOr<std::optional<std::string>> UnwrapEntryCommand(const EncryptionRuntime& runtime,
                                                              uint64_t gid, uint64_t index,
                                                              std::string_view command) {
  const uint64_t cutover = runtime.state->raft_cutover(gid);
  if (cutover == 0 || index <= cutover) return std::optional<std::string>();
  absl::StatusOr<std::string> plain = OpenRaft(runtime.keys->Lookup(DekPurpose::kRaft), command);
  if (plain.ok()) return std::optional<std::string>(*std::move(plain));
  if (GetEncryptionErrc(plain.status()) == EncryptionErrc::kKeyUnavailable) return plain.status();
  return EncryptionError(EncryptionErrc::kRaftUnwrapFailed,
                         absl::StrCat("group ", gid, " entry ", index, " above cutover ", cutover,
                                      ": ", plain.status().message()));
}

}  // namespace tessera::shard::encryption
