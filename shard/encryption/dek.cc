// DEK wrap/unwrap under the KEK and key-id drawing.
#include "shard/encryption/dek.h"

#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "shard/encryption/encryption_errc.h"

namespace tessera::shard::encryption {
namespace {

constexpr size_t kWrapNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;

std::string WrapAad(DekPurpose purpose, uint32_t key_id) {
  std::string aad = "TSRDEK";
  aad.push_back('\x01');
  aad.push_back(static_cast<char>(purpose));
  for (int shift = 24; shift >= 0; shift -= 8) aad.push_back(static_cast<char>(key_id >> shift));
  return aad;
}

}  // namespace

std::string_view DekPurposeName(DekPurpose purpose) {
  return purpose == DekPurpose::kStorage ? "storage" : "raft";
}

std::optional<DekPurpose> ParseDekPurpose(std::string_view name) {
  if (name == "storage") return DekPurpose::kStorage;
  if (name == "raft") return DekPurpose::kRaft;
  return std::nullopt;
}

std::optional<DekPurpose> DekPurposeFromByte(uint8_t value) {
  if (value == 1) return DekPurpose::kStorage;
  if (value == 2) return DekPurpose::kRaft;
  return std::nullopt;
}

std::string WrapDek(const SecretBytes& kek, DekPurpose purpose, uint32_t key_id,
                    const SecretBytes& dek) {
  const std::string aad = WrapAad(purpose, key_id);
  std::string out(kWrappedDekSize, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, kWrapNonceSize);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kWrapNonceSize, &written, dek.data(), dek.size(),
      reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), nullptr, nonce, kek.data());
  out.resize(kWrapNonceSize + written);
  return out;
}

absl::StatusOr<SecretBytes> UnwrapDek(const SecretBytes& kek, DekPurpose purpose, uint32_t key_id,
                                      std::string_view wrapped) {
  if (wrapped.size() != kWrappedDekSize) {
    return EncryptionError(EncryptionErrc::kKekMismatch,
                           absl::StrCat("wrapped DEK ", key_id, " of ", wrapped.size(), " bytes"));
  }
  const std::string aad = WrapAad(purpose, key_id);
  auto* plain = static_cast<uint8_t*>(sodium_malloc(kKeySize));
  if (plain == nullptr) return absl::ResourceExhaustedError("sodium_malloc failed");
  unsigned long long written = 0;
  const auto* w = reinterpret_cast<const unsigned char*>(wrapped.data());
  const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      plain, &written, nullptr, w + kWrapNonceSize, wrapped.size() - kWrapNonceSize,
      reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), w, kek.data());
  if (rc != 0 || written != kKeySize) {
    sodium_free(plain);
    return EncryptionError(EncryptionErrc::kKekMismatch,
                           absl::StrCat("DEK ", key_id, " (", std::string(DekPurposeName(purpose)),
                                        ") does not unwrap under this node's KEK"));
  }
  absl::StatusOr<SecretBytes> dek = SecretBytes::FromBytes({plain, kKeySize});
  sodium_free(plain);
  return dek;
}

uint32_t DrawKeyId(const std::function<bool(uint32_t)>& taken,
                   const std::function<uint32_t()>& rng) {
  for (;;) {
    const uint32_t id = rng ? rng() : randombytes_random();
    if (id != 0 && !(taken && taken(id))) return id;
  }
}

}  // namespace tessera::shard::encryption
