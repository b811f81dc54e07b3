// Small POSIX file helpers shared by the snapshot writer, reader and directory cleanup: an owned
// descriptor, full writes and directory fsync, with errno mapped to kIo. Private to
// shard/snapshot/.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"

namespace tessera::shard::snapshot_internal {

// Owns one file descriptor; closes it (ignoring errors) unless Close() was called.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  // close(2) with its error reported (a failed close may mean lost writes); kIo naming `path`.
  absl::Status Close(const std::string& path);

 private:
  int fd_ = -1;
};

// write(2) until all `size` bytes are written; EINTR retried, short writes continued.
absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& path);

// fsync(2) of a directory, making renames and unlinks in it durable.
absl::Status SyncDir(const std::string& dir);

// unlink(2); ENOENT is success.
absl::Status RemoveFile(const std::string& path);

}  // namespace tessera::shard::snapshot_internal
