// ByteSource: the pull-style input that snapshot parsers read from, with an in-memory source and
// a 1 MiB buffered file source that extends a CRC32C over every byte it hands out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tessera::shard {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Copies up to `n` bytes into `dst`; returns how many, 0 only at the end of the stream.
  // A genuine read failure is an error (kIo), never a short count.
  virtual absl::StatusOr<size_t> Read(char* dst, size_t n) = 0;

  // Discards up to `n` bytes; returns how many, fewer than `n` only at the end of the stream.
  virtual absl::StatusOr<uint64_t> Skip(uint64_t n);
};

// Reads until `n` bytes or the end of the stream; returns the count (< n only at the end).
absl::StatusOr<size_t> ReadFull(ByteSource& in, char* dst, size_t n);

// Consumes the rest of the stream; returns how many bytes that was.
absl::StatusOr<uint64_t> DrainToEnd(ByteSource& in);

// Serves the bytes of a string_view that must outlive it (tests, in-memory payloads).
class StringByteSource final : public ByteSource {
 public:
  explicit StringByteSource(std::string_view data) : data_(data) {}

  absl::StatusOr<size_t> Read(char* dst, size_t n) override;
  absl::StatusOr<uint64_t> Skip(uint64_t n) override;

  size_t position() const { return position_; }

 private:
  std::string_view data_;
  size_t position_ = 0;
};

// Reads bytes [0, limit) of an open file (borrowed fd; `name` is for error messages) through
// one kBufferSize (1 MiB) buffer, and extends a CRC32C over every byte it delivers or
// skips. A file shorter than `limit` ends the stream early.
class FileByteSource final : public ByteSource {
 public:
  static constexpr size_t kBufferSize = size_t{1} << 20;

  FileByteSource(int fd, uint64_t limit, std::string name);

  absl::StatusOr<size_t> Read(char* dst, size_t n) override;
  absl::StatusOr<uint64_t> Skip(uint64_t n) override;

  // CRC32C of every byte delivered or skipped so far.
  uint32_t crc32c() const { return crc_; }
  // Bytes delivered or skipped so far.
  uint64_t position() const { return file_offset_ - (end_ - begin_); }

 private:
  // Refills an empty buffer; false at the end of the stream.
  absl::StatusOr<bool> Fill();

  int fd_;
  uint64_t limit_;
  std::string name_;
  std::unique_ptr<char[]> buffer_;
  size_t begin_ = 0;          // next unread byte in buffer_
  size_t end_ = 0;            // one past the last valid byte in buffer_
  uint64_t file_offset_ = 0;  // file offset of buffer_[end_]
  bool eof_ = false;
  uint32_t crc_ = 0;
};

}  // namespace tessera::shard
