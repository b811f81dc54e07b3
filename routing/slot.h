// Redis Cluster's key → hash slot function: CRC16-XMODEM of the key, or of its `{hash tag}`,
// modulo 16384, so keys sharing a tag land in one slot (and hence one group).
#pragma once

#include <cstdint>
#include <string_view>

namespace tessera::routing {

inline constexpr int kSlotCount = 16384;

// CRC16-XMODEM (poly 0x1021, init 0, no reflection, no final xor), as Redis Cluster uses it.
uint16_t Crc16(std::string_view data);

// The hash tag is the bytes between the first '{' and the first '}' after it, when non-empty;
// otherwise the whole key is hashed.
uint16_t SlotForKey(std::string_view key);

}  // namespace tessera::routing
