// CRC32C (Castagnoli), the checksum of every on-disk and on-wire format Tessera owns:
// peers and bootstrap records, snapshot tokens and snapshot files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tessera::common {

// Extends `crc` (the value returned for the preceding bytes; 0 to start) over `data`.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data.data(), data.size()); }

}  // namespace tessera::common
