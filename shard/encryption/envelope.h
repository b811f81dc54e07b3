// The encryption envelope (spec/encryption.md §5): one layout for row values (storage envelope)
// and for raft log payloads (raft envelope), XChaCha20-Poly1305-IETF with a random 192-bit nonce.
// Documented in docs/formats.md; pinned by EnvelopeTest.GoldenBytes.
//
//   off 0   ver      u8     0x01 (0x02..0x0F reserved)
//   off 1   flag     u8     0x00 (storage bit 0 = "compressed", MUST be 0 in v1; bits 1-7 = 0)
//   off 2   key_id   u32 BE the DEK that sealed it (0 is never a key)
//   off 6   nonce    24 B   randombytes_buf
//   off 30  ciphertext (N B) ‖ Poly1305 tag (16 B)
//
// Storage AAD = ver ‖ flag ‖ key_id ‖ storage_key (the `data` row key without its 8-byte group
// prefix): a header rewrite, a blob moved to another row or another version of a row fails to
// open. Raft AAD = 'R' ‖ ver ‖ key_id; the flag is outside it, so raft readers reject any flag.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "shard/encryption/secret.h"

namespace tessera::shard::encryption {

inline constexpr uint8_t kEnvelopeVersionV1 = 0x01;
inline constexpr size_t kEnvelopeAadHeaderSize = 6;  // ver ‖ flag ‖ key_id
inline constexpr size_t kEnvelopeNonceSize = 24;
inline constexpr size_t kEnvelopeHeaderSize = 30;
inline constexpr size_t kEnvelopeTagSize = 16;
inline constexpr size_t kEnvelopeOverhead = kEnvelopeHeaderSize + kEnvelopeTagSize;  // 46
inline constexpr uint8_t kRaftAadTag = 'R';

struct EnvelopeHeader {
  uint8_t version = kEnvelopeVersionV1;
  uint8_t flag = 0;
  uint32_t key_id = 0;
};

// The key a reader needs: the DEK named by an envelope, or null when this node does not hold it.
using KeyLookup = std::function<std::shared_ptr<const SecretBytes>(uint32_t key_id)>;

using Nonce = std::array<uint8_t, kEnvelopeNonceSize>;

// Header checks shared by both readers: kEnvelopeShort below 46 bytes, kEnvelopeVersion for a
// version other than 0x01, kEnvelopeFlag for any non-zero flag bit (none is defined in v1).
absl::StatusOr<EnvelopeHeader> ParseEnvelopeHeader(std::string_view envelope);

// Seals a row value under `dek` (whose id is `key_id`), AAD bound to `storage_key`.
std::string SealStorage(const SecretBytes& dek, uint32_t key_id, std::string_view storage_key,
                        std::string_view plaintext);
// Opens a storage envelope: header errors as above, kKeyUnavailable for a key `keys` does not
// hold, kEncryptedReadIntegrity for a tag mismatch (never partial or empty plaintext).
absl::StatusOr<std::string> OpenStorage(const KeyLookup& keys, std::string_view storage_key,
                                        std::string_view envelope);

std::string SealRaft(const SecretBytes& dek, uint32_t key_id, std::string_view payload);
absl::StatusOr<std::string> OpenRaft(const KeyLookup& keys, std::string_view envelope);

// With a caller-chosen nonce: the golden-bytes test only. Production always draws the nonce.
std::string SealStorageWithNonceForTest(const SecretBytes& dek, uint32_t key_id,
                                        std::string_view storage_key, std::string_view plaintext,
                                        const Nonce& nonce);
std::string SealRaftWithNonceForTest(const SecretBytes& dek, uint32_t key_id,
                                     std::string_view payload, const Nonce& nonce);

}  // namespace tessera::shard::encryption
