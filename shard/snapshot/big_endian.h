// Big-endian fixed-width integers, the byte order of every snapshot format (token, .fsm file).
// Private to shard/snapshot/.
#pragma once

#include <cstdint>

namespace tessera::shard::snapshot_internal {

inline void PutBigEndian16(char* dst, uint16_t v) {
  dst[0] = static_cast<char>(v >> 8);
  dst[1] = static_cast<char>(v);
}

inline void PutBigEndian32(char* dst, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) dst[i] = static_cast<char>(v);
}

inline void PutBigEndian64(char* dst, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) dst[i] = static_cast<char>(v);
}

inline uint16_t GetBigEndian16(const char* src) {
  return static_cast<uint16_t>((static_cast<uint8_t>(src[0]) << 8) | static_cast<uint8_t>(src[1]));
}

inline uint32_t GetBigEndian32(const char* src) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}

inline uint64_t GetBigEndian64(const char* src) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}

}  // namespace tessera::shard::snapshot_internal
