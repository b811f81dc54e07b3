// Encryption state-machine ops (spec/encryption.md §8), replicated as the internal command
// argv = {"tessera.enc", op}. Clients cannot send it: the listener only accepts commands of the
// routing command table. Hand-written binary, all integers BE, no skip-unknown:
//   op = opcode u8 ‖ version u8 (0x01) ‖ body
//   0x03 kEncBootstrap: storage_id u32 ‖ wrapped_storage[72] ‖ raft_id u32 ‖ wrapped_raft[72] ‖
//                       created_unix_ms u64
//   0x04 kEncRotation:  sub_tag u8 ‖ sub body
//        0x01 RotateDek:             purpose u8 ‖ key_id u32 ‖ len u16 ‖ wrapped ‖ created_unix_ms
//        u64 0x04 EnableStorageEnvelope: purpose u8 ‖ key_id u32 ‖ len u16 ‖ wrapped (MUST be
//        empty) 0x05 EnableRaftEnvelope:    group_id u64 ‖ key_id u32
// Opcodes 0x05..0x07 and every other sub-tag are reserved: the decoder refuses them and the
// apply halts (kEncryptionApply). Documented in docs/formats.md; pinned by EncryptionOpsTest.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/statusor.h"
#include "shard/encryption/dek.h"

namespace tessera::shard::encryption {

inline constexpr std::string_view kEncryptionCommand = "tessera.enc";
inline constexpr uint8_t kOpVersion = 0x01;
inline constexpr uint8_t kOpEncBootstrap = 0x03;
inline constexpr uint8_t kOpEncRotation = 0x04;
inline constexpr uint8_t kSubRotateDek = 0x01;
inline constexpr uint8_t kSubEnableStorageEnvelope = 0x04;
inline constexpr uint8_t kSubEnableRaftEnvelope = 0x05;

struct BootstrapOp {
  uint32_t storage_id = 0;
  std::string wrapped_storage;
  uint32_t raft_id = 0;
  std::string wrapped_raft;
  uint64_t created_unix_ms = 0;
  bool operator==(const BootstrapOp&) const = default;
};
struct RotateDekOp {
  DekPurpose purpose = DekPurpose::kStorage;
  uint32_t key_id = 0;
  std::string wrapped;
  uint64_t created_unix_ms = 0;
  bool operator==(const RotateDekOp&) const = default;
};
struct EnableStorageEnvelopeOp {
  uint8_t purpose = static_cast<uint8_t>(DekPurpose::kStorage);  // raw: apply checks it
  uint32_t key_id = 0;
  std::string wrapped;  // MUST be empty (checked by length at apply)
  bool operator==(const EnableStorageEnvelopeOp&) const = default;
};
struct EnableRaftEnvelopeOp {
  uint64_t group_id = 0;
  uint32_t key_id = 0;  // informational
  bool operator==(const EnableRaftEnvelopeOp&) const = default;
};

using EncryptionOp =
    std::variant<BootstrapOp, RotateDekOp, EnableStorageEnvelopeOp, EnableRaftEnvelopeOp>;

std::string EncodeEncryptionOp(const EncryptionOp& op);
// kEncryptionApply (INTERNAL) for a truncated op, trailing bytes, a version other than 0x01, a
// reserved opcode or sub-tag, or an unknown purpose in RotateDek.
absl::StatusOr<EncryptionOp> DecodeEncryptionOp(std::string_view op);

// The replicated command (an EncodeCommand blob of {"tessera.enc", op}).
std::string EncodeEncryptionCommand(const EncryptionOp& op);

}  // namespace tessera::shard::encryption
