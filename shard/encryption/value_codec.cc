// Value-header dispatch between cleartext rows and storage envelopes.
#include "shard/encryption/value_codec.h"

#include "absl/strings/str_cat.h"
#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/envelope.h"

namespace tessera::shard::encryption {

absl::StatusOr<std::string> StorageCipher::Encode(std::string_view storage_key,
                                                  std::string_view value) const {
  if (!state_->storage_envelope_active()) return EncodeCleartextValue(value);
  const uint32_t id = state_->active_storage_id();
  std::shared_ptr<const SecretBytes> dek =
      id == 0 ? nullptr : keys_->Find(id, DekPurpose::kStorage);
  if (dek == nullptr) {
    return EncryptionError(EncryptionErrc::kKeyUnavailable,
                           absl::StrCat("storage envelope is active but DEK ", id,
                                        " is not loaded; refusing to write cleartext"));
  }
  std::string out;
  out.reserve(kValueHeaderSize + kEnvelopeOverhead + value.size());
  out.push_back(static_cast<char>(kValueStateEnvelopeV1));
  out.append(SealStorage(*dek, id, storage_key, value));
  return out;
}

absl::StatusOr<std::string> StorageCipher::Open(std::string_view storage_key,
                                                std::string_view envelope) const {
  return OpenStorage(keys_->Lookup(DekPurpose::kStorage), storage_key, envelope);
}

std::string EncodeCleartextValue(std::string_view value) {
  std::string out;
  out.reserve(kValueHeaderSize + value.size());
  out.push_back(static_cast<char>(kValueStateCleartext));
  out.append(value);
  return out;
}

absl::StatusOr<std::string> EncodeStoredValue(const StorageCipher* cipher,
                                              std::string_view storage_key,
                                              std::string_view value) {
  if (cipher == nullptr) return EncodeCleartextValue(value);
  return cipher->Encode(storage_key, value);
}

absl::StatusOr<std::string_view> DecodeStoredValue(const StorageCipher* cipher,
                                                   std::string_view storage_key,
                                                   std::string_view stored, std::string* scratch) {
  if (stored.empty()) {
    return EncryptionError(EncryptionErrc::kValueHeaderReserved, "row without a value header");
  }
  const auto flags = static_cast<uint8_t>(stored[0]);
  if ((flags & (kValueReservedMask | kValueTombstoneBit)) != 0) {
    return EncryptionError(EncryptionErrc::kValueHeaderReserved,
                           absl::StrCat("value header 0x", absl::Hex(flags)));
  }
  switch (flags & kValueStateMask) {
    case kValueStateCleartext:
      return stored.substr(kValueHeaderSize);
    case kValueStateEnvelopeV1: {
      if (cipher == nullptr) {
        return EncryptionError(EncryptionErrc::kNoCipher,
                               "no cipher configured: this store holds an encrypted value");
      }
      absl::StatusOr<std::string> plain =
          cipher->Open(storage_key, stored.substr(kValueHeaderSize));
      if (!plain.ok()) return plain.status();
      *scratch = *std::move(plain);
      return std::string_view(*scratch);
    }
    default:
      return EncryptionError(
          EncryptionErrc::kValueHeaderReserved,
          absl::StrCat("reserved encryption state in header 0x", absl::Hex(flags)));
  }
}

}  // namespace tessera::shard::encryption
