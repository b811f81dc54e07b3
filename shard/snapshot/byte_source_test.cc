// ByteSource helpers and the buffered file source: limits, skips and the CRC over what it serves.
#include "shard/snapshot/byte_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "common/crc32c.h"
#include "gtest/gtest.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/snapshot/snapshot_testing.h"

namespace tessera::shard {
namespace {

using testing::ScopedTempDir;
using testing::WriteFile;

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131) ^ (i >> 9));
  return s;
}

TEST(ByteSourceTest, StringSourceReadFullSkipAndDrain) {
  const std::string data = "0123456789";
  StringByteSource in(data);
  char buf[4];
  EXPECT_EQ(*ReadFull(in, buf, 4), 4u);
  EXPECT_EQ(std::string_view(buf, 4), "0123");
  EXPECT_EQ(*in.Skip(3), 3u);
  EXPECT_EQ(*DrainToEnd(in), 3u);
  EXPECT_EQ(*ReadFull(in, buf, 4), 0u);
  EXPECT_EQ(*in.Skip(5), 0u);
}

TEST(ByteSourceTest, FileSourceServesLimitAndCrcsEverything) {
  ScopedTempDir dir;
  const std::string path = dir.Join("f");
  // Larger than two buffers, so reads and skips cross refills.
  const std::string data = Pattern(2 * FileByteSource::kBufferSize + 12345);
  WriteFile(path, data);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const uint64_t limit = data.size() - 4;
  FileByteSource in(fd, limit, path);

  std::string got(100, '\0');
  ASSERT_EQ(*ReadFull(in, got.data(), got.size()), got.size());
  EXPECT_EQ(got, data.substr(0, 100));
  ASSERT_EQ(*in.Skip(FileByteSource::kBufferSize), FileByteSource::kBufferSize);
  std::string across(3000, '\0');
  ASSERT_EQ(*ReadFull(in, across.data(), across.size()), across.size());
  EXPECT_EQ(across, data.substr(100 + FileByteSource::kBufferSize, 3000));
  const uint64_t rest = *DrainToEnd(in);
  EXPECT_EQ(in.position(), limit);
  EXPECT_EQ(100 + FileByteSource::kBufferSize + 3000 + rest, limit);
  EXPECT_EQ(in.crc32c(), common::Crc32c(std::string_view(data).substr(0, limit)));
  EXPECT_EQ(*in.Skip(1), 0u);
  ::close(fd);
}

TEST(ByteSourceTest, FileShorterThanLimitEndsEarly) {
  ScopedTempDir dir;
  const std::string path = dir.Join("f");
  WriteFile(path, "abc");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  FileByteSource in(fd, 100, path);
  char buf[10];
  EXPECT_EQ(*ReadFull(in, buf, sizeof(buf)), 3u);
  EXPECT_EQ(*ReadFull(in, buf, sizeof(buf)), 0u);
  ::close(fd);
}

TEST(ByteSourceTest, FileReadErrorIsIo) {
  ScopedTempDir dir;
  // A directory descriptor: pread fails with EISDIR, a genuine I/O error.
  const int fd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  FileByteSource in(fd, 100, dir.path());
  char buf[10];
  const absl::Status status = ReadFull(in, buf, sizeof(buf)).status();
  EXPECT_EQ(GetSnapshotErrc(status), SnapshotErrc::kIo) << status;
  ::close(fd);
}

}  // namespace
}  // namespace tessera::shard
