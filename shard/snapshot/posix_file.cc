// POSIX helpers for snapshot files: owned descriptors, full writes, directory fsync, unlink.
#include "shard/snapshot/posix_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "shard/snapshot/snapshot_errc.h"

namespace tessera::shard::snapshot_internal {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::Release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

absl::Status UniqueFd::Close(const std::string& path) {
  const int fd = Release();
  if (fd < 0) return absl::OkStatus();
  // Linux releases the descriptor even when close fails, so never retry (EINTR included).
  if (::close(fd) != 0) return SnapshotIoError("close", path, errno);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SnapshotIoError("write", path, errno);
    }
    if (n == 0) return SnapshotIoError("write", path, EIO);  // no progress: never spin
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return SnapshotIoError("open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return SnapshotIoError("fsync directory", dir, errno);
  return fd.Close(dir);
}

absl::Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return SnapshotIoError("unlink", path, errno);
  return absl::OkStatus();
}

}  // namespace tessera::shard::snapshot_internal
