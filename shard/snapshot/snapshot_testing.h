// Test helpers for shard/snapshot/: a scoped temp directory, whole-file I/O, hex, and hand-built
// .fsm payloads. Header-only; included by *_test.cc only.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/crc32c.h"
#include "gtest/gtest.h"
#include "shard/snapshot/fsm_format.h"
#include "shard/snapshot/snapshot_errc.h"

namespace tessera::shard {

// gtest prints errcs by name.
inline void PrintTo(SnapshotErrc errc, std::ostream* os) { *os << SnapshotErrcName(errc); }

}  // namespace tessera::shard

namespace tessera::shard::testing {

// A fresh directory under ::testing::TempDir(), removed with everything in it.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string pattern = ::testing::TempDir();
    if (pattern.empty() || pattern.back() != '/') pattern += '/';
    pattern += "tessera-snapshot-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << pattern;
      std::abort();
    }
    path_ = pattern;
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }
  std::string Join(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool FileExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// Sorted names in `dir` ("." and ".." excluded); empty if it does not exist.
inline std::vector<std::string> ListNames(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string HexOf(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out += kDigits[u >> 4];
    out += kDigits[u & 0xf];
  }
  return out;
}

inline std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

inline std::string BigEndian32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

inline std::string BigEndian64(uint64_t v) {
  return BigEndian32(static_cast<uint32_t>(v >> 32)) + BigEndian32(static_cast<uint32_t>(v));
}

inline std::string V1Header(uint64_t ceiling) { return "TSRSNAP1" + BigEndian64(ceiling); }

// A body from raw rows, in the order given (no validation: tests build invalid ones too).
inline std::string Body(const std::vector<std::pair<std::string, std::string>>& rows,
                        uint64_t row_count) {
  std::string body;
  AppendFsmBodyStart(&body);
  for (const auto& [key, value] : rows) AppendFsmRow(&body, key, value);
  AppendFsmBodyEnd(&body, row_count);
  return body;
}

inline std::string WithFooter(std::string_view payload) {
  return std::string(payload) + BigEndian32(common::Crc32c(payload));
}

}  // namespace tessera::shard::testing
