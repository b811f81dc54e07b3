// Sealing and opening of storage and raft envelopes with libsodium's
// crypto_aead_xchacha20poly1305_ietf_{encrypt,decrypt}.
#include "shard/encryption/envelope.h"

#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "shard/encryption/encryption_errc.h"

namespace tessera::shard::encryption {
namespace {

void PutHeader(std::string* out, uint8_t flag, uint32_t key_id) {
  out->push_back(static_cast<char>(kEnvelopeVersionV1));
  out->push_back(static_cast<char>(flag));
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(key_id >> shift));
}

std::string StorageAad(std::string_view header6, std::string_view storage_key) {
  std::string aad(header6);
  aad.append(storage_key);
  return aad;
}

std::string RaftAad(uint32_t key_id) {
  std::string aad;
  aad.push_back(static_cast<char>(kRaftAadTag));
  aad.push_back(static_cast<char>(kEnvelopeVersionV1));
  for (int shift = 24; shift >= 0; shift -= 8) aad.push_back(static_cast<char>(key_id >> shift));
  return aad;
}

std::string Seal(const SecretBytes& dek, std::string_view aad, std::string_view plaintext,
                 const Nonce& nonce, std::string out) {
  // `out` already holds the 6-byte header.
  out.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  const size_t body = out.size();
  out.resize(body + plaintext.size() + kEnvelopeTagSize);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(out.data() + body), &written,
      reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
      reinterpret_cast<const unsigned char*>(aad.data()), aad.size(), nullptr, nonce.data(),
      dek.data());
  out.resize(body + written);
  return out;
}

Nonce RandomNonce() {
  Nonce nonce;
  randombytes_buf(nonce.data(), nonce.size());
  return nonce;
}

std::string StorageSeal(const SecretBytes& dek, uint32_t key_id, std::string_view storage_key,
                        std::string_view plaintext, const Nonce& nonce) {
  std::string out;
  out.reserve(kEnvelopeOverhead + plaintext.size());
  PutHeader(&out, 0, key_id);
  const std::string aad = StorageAad(out, storage_key);
  return Seal(dek, aad, plaintext, nonce, std::move(out));
}

std::string RaftSeal(const SecretBytes& dek, uint32_t key_id, std::string_view payload,
                     const Nonce& nonce) {
  std::string out;
  out.reserve(kEnvelopeOverhead + payload.size());
  PutHeader(&out, 0, key_id);
  return Seal(dek, RaftAad(key_id), payload, nonce, std::move(out));
}

absl::StatusOr<std::string> Open(const KeyLookup& keys, const EnvelopeHeader& h,
                                 std::string_view envelope, std::string_view aad) {
  std::shared_ptr<const SecretBytes> dek = keys ? keys(h.key_id) : nullptr;
  if (dek == nullptr) {
    return EncryptionError(EncryptionErrc::kKeyUnavailable,
                           absl::StrCat("no DEK with id ", h.key_id));
  }
  const std::string_view sealed = envelope.substr(kEnvelopeHeaderSize);
  std::string plaintext(sealed.size() - kEnvelopeTagSize, '\0');
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plaintext.data()), &written, nullptr,
          reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(),
          reinterpret_cast<const unsigned char*>(aad.data()), aad.size(),
          reinterpret_cast<const unsigned char*>(envelope.data() + kEnvelopeAadHeaderSize),
          dek->data()) != 0) {
    // libsodium leaves the output unspecified on failure: never hand any of it back.
    sodium_memzero(plaintext.data(), plaintext.size());
    return EncryptionError(EncryptionErrc::kEncryptedReadIntegrity,
                           absl::StrCat("envelope under key ", h.key_id, " failed authentication"));
  }
  plaintext.resize(written);
  return plaintext;
}

}  // namespace

absl::StatusOr<EnvelopeHeader> ParseEnvelopeHeader(std::string_view envelope) {
  if (envelope.size() < kEnvelopeOverhead) {
    return EncryptionError(EncryptionErrc::kEnvelopeShort,
                           absl::StrCat("envelope of ", envelope.size(), " bytes"));
  }
  EnvelopeHeader h;
  h.version = static_cast<uint8_t>(envelope[0]);
  h.flag = static_cast<uint8_t>(envelope[1]);
  for (int i = 2; i < 6; ++i) h.key_id = (h.key_id << 8) | static_cast<uint8_t>(envelope[i]);
  if (h.version != kEnvelopeVersionV1) {
    return EncryptionError(EncryptionErrc::kEnvelopeVersion,
                           absl::StrCat("envelope version ", h.version));
  }
  if (h.flag != 0) {
    return EncryptionError(EncryptionErrc::kEnvelopeFlag, absl::StrCat("envelope flag ", h.flag));
  }
  return h;
}

std::string SealStorage(const SecretBytes& dek, uint32_t key_id, std::string_view storage_key,
                        std::string_view plaintext) {
  return StorageSeal(dek, key_id, storage_key, plaintext, RandomNonce());
}

absl::StatusOr<std::string> OpenStorage(const KeyLookup& keys, std::string_view storage_key,
                                        std::string_view envelope) {
  absl::StatusOr<EnvelopeHeader> h = ParseEnvelopeHeader(envelope);
  if (!h.ok()) return h.status();
  return Open(keys, *h, envelope,
              StorageAad(envelope.substr(0, kEnvelopeAadHeaderSize), storage_key));
}

std::string SealRaft(const SecretBytes& dek, uint32_t key_id, std::string_view payload) {
  return RaftSeal(dek, key_id, payload, RandomNonce());
}

absl::StatusOr<std::string> OpenRaft(const KeyLookup& keys, std::string_view envelope) {
  absl::StatusOr<EnvelopeHeader> h = ParseEnvelopeHeader(envelope);
  if (!h.ok()) return h.status();
  return Open(keys, *h, envelope, RaftAad(h->key_id));
}

std::string SealStorageWithNonceForTest(const SecretBytes& dek, uint32_t key_id,
                                        std::string_view storage_key, std::string_view plaintext,
                                        const Nonce& nonce) {
  return StorageSeal(dek, key_id, storage_key, plaintext, nonce);
}

std::string SealRaftWithNonceForTest(const SecretBytes& dek, uint32_t key_id,
                                     std::string_view payload, const Nonce& nonce) {
  return RaftSeal(dek, key_id, payload, nonce);
}

}  // namespace tessera::shard::encryption
