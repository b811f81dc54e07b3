// Guarded key memory over sodium_malloc / sodium_mprotect_readonly / sodium_free.
#include "shard/encryption/secret.h"

#include <sodium.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "shard/encryption/encryption_errc.h"

namespace tessera::shard::encryption {

absl::Status InitSodium() {
  // sodium_init is thread-safe and idempotent (1 = already initialised).
  if (sodium_init() < 0) return EncryptionError(EncryptionErrc::kSodiumInit, "sodium_init failed");
  return absl::OkStatus();
}

void SecretBytes::SodiumFree::operator()(uint8_t* p) const { sodium_free(p); }

absl::StatusOr<SecretBytes> SecretBytes::FromBytes(std::span<const uint8_t> material) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  if (material.empty()) return absl::InvalidArgumentError("empty key material");
  auto* p = static_cast<uint8_t*>(sodium_malloc(material.size()));
  if (p == nullptr) return absl::ResourceExhaustedError("sodium_malloc failed");
  std::unique_ptr<uint8_t, SodiumFree> region(p);
  std::memcpy(p, material.data(), material.size());
  if (sodium_mprotect_readonly(p) != 0)
    return absl::InternalError("sodium_mprotect_readonly failed");
  return SecretBytes(std::move(region), material.size());
}

absl::StatusOr<SecretBytes> SecretBytes::Generate() {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  auto* p = static_cast<uint8_t*>(sodium_malloc(kKeySize));
  if (p == nullptr) return absl::ResourceExhaustedError("sodium_malloc failed");
  std::unique_ptr<uint8_t, SodiumFree> region(p);
  crypto_aead_xchacha20poly1305_ietf_keygen(p);
  if (sodium_mprotect_readonly(p) != 0)
    return absl::InternalError("sodium_mprotect_readonly failed");
  return SecretBytes(std::move(region), kKeySize);
}

bool SecretBytes::Equals(const SecretBytes& other) const {
  return size_ == other.size_ && sodium_memcmp(data(), other.data(), size_) == 0;
}

std::string SecretBytes::ToString() const { return absl::StrCat("<redacted ", size_, " bytes>"); }

}  // namespace tessera::shard::encryption
