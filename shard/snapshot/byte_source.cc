// ByteSource helpers, the in-memory source and the buffered, CRC-extending file source.
#include "shard/snapshot/byte_source.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/crc32c.h"
#include "shard/snapshot/snapshot_errc.h"

namespace tessera::shard {

absl::StatusOr<uint64_t> ByteSource::Skip(uint64_t n) {
  char scratch[4096];
  uint64_t skipped = 0;
  while (skipped < n) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(n - skipped, sizeof(scratch)));
    absl::StatusOr<size_t> got = Read(scratch, want);
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    skipped += *got;
  }
  return skipped;
}

absl::StatusOr<size_t> ReadFull(ByteSource& in, char* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    absl::StatusOr<size_t> got = in.Read(dst + done, n - done);
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    done += *got;
  }
  return done;
}

absl::StatusOr<uint64_t> DrainToEnd(ByteSource& in) {
  uint64_t total = 0;
  for (;;) {
    absl::StatusOr<uint64_t> got = in.Skip(uint64_t{1} << 30);
    if (!got.ok()) return got.status();
    if (*got == 0) return total;
    total += *got;
  }
}

absl::StatusOr<size_t> StringByteSource::Read(char* dst, size_t n) {
  const size_t count = std::min(n, data_.size() - position_);
  if (count > 0) std::memcpy(dst, data_.data() + position_, count);
  position_ += count;
  return count;
}

absl::StatusOr<uint64_t> StringByteSource::Skip(uint64_t n) {
  const size_t count = static_cast<size_t>(std::min<uint64_t>(n, data_.size() - position_));
  position_ += count;
  return count;
}

FileByteSource::FileByteSource(int fd, uint64_t limit, std::string name)
    : fd_(fd), limit_(limit), name_(std::move(name)), buffer_(new char[kBufferSize]) {}

absl::StatusOr<bool> FileByteSource::Fill() {
  begin_ = end_ = 0;
  if (eof_ || file_offset_ >= limit_) return false;
  const size_t want = static_cast<size_t>(std::min<uint64_t>(kBufferSize, limit_ - file_offset_));
  for (;;) {
    const ssize_t got = ::pread(fd_, buffer_.get(), want, static_cast<off_t>(file_offset_));
    if (got < 0) {
      if (errno == EINTR) continue;
      return SnapshotIoError("read", name_, errno);
    }
    if (got == 0) {  // the file is shorter than the limit
      eof_ = true;
      return false;
    }
    end_ = static_cast<size_t>(got);
    file_offset_ += end_;
    return true;
  }
}

absl::StatusOr<size_t> FileByteSource::Read(char* dst, size_t n) {
  if (n == 0) return size_t{0};
  if (begin_ == end_) {
    absl::StatusOr<bool> filled = Fill();
    if (!filled.ok()) return filled.status();
    if (!*filled) return size_t{0};
  }
  const size_t count = std::min(n, end_ - begin_);
  std::memcpy(dst, buffer_.get() + begin_, count);
  crc_ = common::Crc32cExtend(crc_, buffer_.get() + begin_, count);
  begin_ += count;
  return count;
}

absl::StatusOr<uint64_t> FileByteSource::Skip(uint64_t n) {
  uint64_t skipped = 0;
  while (skipped < n) {
    if (begin_ == end_) {
      absl::StatusOr<bool> filled = Fill();
      if (!filled.ok()) return filled.status();
      if (!*filled) break;
    }
    const size_t count = static_cast<size_t>(std::min<uint64_t>(n - skipped, end_ - begin_));
    crc_ = common::Crc32cExtend(crc_, buffer_.get() + begin_, count);
    begin_ += count;
    skipped += count;
  }
  return skipped;
}

}  // namespace tessera::shard
