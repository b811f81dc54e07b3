// Key material in libsodium guarded memory (spec/encryption.md §0): sodium_malloc'd, mlocked,
// read-only once written, freed with sodium_free, and never printable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "fmt/format.h"

namespace tessera::shard::encryption {

inline constexpr size_t kKeySize = 32;

// sodium_init() once per process; FAILED_PRECONDITION kSodiumInit when it fails. Every other
// function here calls it, so a caller only needs it to fail early at startup.
absl::Status InitSodium();

// A fixed-size secret. Move-only; the bytes are readable through `bytes()` for the crypto calls
// and nowhere else: every formatter (ToString, operator<<, AbslStringify, fmt) prints only
// "<redacted N bytes>".
class SecretBytes {
 public:
  // Copies `material` into guarded memory and makes it read-only.
  static absl::StatusOr<SecretBytes> FromBytes(std::span<const uint8_t> material);
  // A fresh XChaCha20-Poly1305 key from libsodium's CSPRNG.
  static absl::StatusOr<SecretBytes> Generate();

  SecretBytes(SecretBytes&&) noexcept = default;
  SecretBytes& operator=(SecretBytes&&) noexcept = default;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  const uint8_t* data() const { return region_.get(); }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {region_.get(), size_}; }
  // Constant-time comparison (sodium_memcmp).
  bool Equals(const SecretBytes& other) const;

  std::string ToString() const;
  template <typename Sink>
  friend void AbslStringify(Sink& sink, const SecretBytes& s) {
    sink.Append(s.ToString());
  }
  friend std::ostream& operator<<(std::ostream& os, const SecretBytes& s) {
    return os << s.ToString();
  }

 private:
  struct SodiumFree {
    void operator()(uint8_t* p) const;
  };
  SecretBytes(std::unique_ptr<uint8_t, SodiumFree> region, size_t size)
      : region_(std::move(region)), size_(size) {}

  std::unique_ptr<uint8_t, SodiumFree> region_;
  size_t size_ = 0;
};

}  // namespace tessera::shard::encryption

template <>
struct fmt::formatter<tessera::shard::encryption::SecretBytes> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const tessera::shard::encryption::SecretBytes& s, FormatContext& ctx) const {
    const std::string text = s.ToString();
    return fmt::formatter<std::string_view>::format(std::string_view(text), ctx);
  }
};
