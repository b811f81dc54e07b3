// Test helpers for encryption: deterministic keys and a keystore/KEK bundle.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shard/encryption/secret.h"

namespace tessera::shard::encryption::testing {

// A 32-byte key whose bytes are seed, seed+1, ...: distinct seeds give distinct keys.
inline std::shared_ptr<const SecretBytes> TestKey(uint8_t seed) {
  std::vector<uint8_t> bytes(kKeySize);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(seed + i);
  return std::make_shared<const SecretBytes>(*SecretBytes::FromBytes(bytes));
}

inline std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

}  // namespace tessera::shard::encryption::testing
