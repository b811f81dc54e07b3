// Snapshot file names and paths, directory creation, and cleanup of temp and orphaned files.
#include "shard/snapshot/snapshot_dir.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "shard/snapshot/posix_file.h"
#include "shard/snapshot/snapshot_errc.h"

namespace tessera::shard {
namespace {

using snapshot_internal::RemoveFile;
using snapshot_internal::SyncDir;

constexpr std::string_view kFsmSuffix = ".fsm";
constexpr std::string_view kTempSuffix = ".fsm.tmp";
constexpr std::string_view kSpoolDirName = "spool";

std::string Hex16(uint64_t v) { return absl::StrCat(absl::Hex(v, absl::kZeroPad16)); }

std::string Join(std::string_view dir, std::string_view name) {
  return absl::StrCat(absl::string_view(dir.data(), dir.size()), "/",
                      absl::string_view(name.data(), name.size()));
}

// Names of the entries of `dir` (no "." or ".."); an empty list when `dir` does not exist.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return names;
    return SnapshotIoError("opendir", dir, errno);
  }
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(d);
    if (entry == nullptr) break;
    const std::string_view name(entry->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int read_errno = errno;
  ::closedir(d);
  if (read_errno != 0) return SnapshotIoError("readdir", dir, read_errno);
  std::sort(names.begin(), names.end());
  return names;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// mkdir(dir, 0700); true if it was created, false if it already existed.
absl::StatusOr<bool> MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return true;
  if (errno != EEXIST) return SnapshotIoError("mkdir", dir, errno);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return SnapshotIoError("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) return SnapshotIoError("mkdir", dir, ENOTDIR);
  return false;
}

absl::Status RemoveFsmFiles(const std::string& group_dir, uint64_t referenced_index,
                            std::span<const uint64_t> in_flight, bool remove_temp_files,
                            bool keep_newer, std::vector<std::string>* removed) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(group_dir);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    bool remove = false;
    if (EndsWith(name, kTempSuffix)) {
      remove = remove_temp_files;
    } else if (std::optional<uint64_t> index = ParseFsmFileName(name)) {
      remove = *index != referenced_index && !(keep_newer && *index > referenced_index) &&
               std::find(in_flight.begin(), in_flight.end(), *index) == in_flight.end();
    }
    if (!remove) continue;
    std::string path = Join(group_dir, name);
    if (absl::Status s = RemoveFile(path); !s.ok()) return s;
    removed->push_back(std::move(path));
  }
  return absl::OkStatus();
}

}  // namespace

std::string FsmFileName(uint64_t index) { return absl::StrCat(Hex16(index), ".fsm"); }

std::string FsmTempFileName(uint64_t index) { return absl::StrCat(Hex16(index), ".fsm.tmp"); }

std::string SpoolFileName(uint64_t index, uint64_t nonce) {
  return absl::StrCat(Hex16(index), "-", Hex16(nonce), ".fsm.tmp");
}

std::optional<uint64_t> ParseFsmFileName(std::string_view name) {
  if (name.size() != 16 + kFsmSuffix.size() || !EndsWith(name, kFsmSuffix)) return std::nullopt;
  uint64_t index = 0;
  for (char c : name.substr(0, 16)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    index = (index << 4) | static_cast<uint64_t>(digit);
  }
  return index;
}

std::string SnapshotsRootDir(std::string_view data_dir) { return Join(data_dir, "snapshots"); }

std::string GroupSnapshotDir(std::string_view data_dir, uint64_t gid) {
  return Join(SnapshotsRootDir(data_dir), Hex16(gid));
}

std::string FsmPath(std::string_view data_dir, uint64_t gid, uint64_t index) {
  return Join(GroupSnapshotDir(data_dir, gid), FsmFileName(index));
}

std::string SpoolDir(std::string_view data_dir, uint64_t gid) {
  return Join(GroupSnapshotDir(data_dir, gid), kSpoolDirName);
}

absl::Status CreateSnapshotDirs(std::string_view data_dir, uint64_t gid) {
  const std::string chain[] = {std::string(data_dir), SnapshotsRootDir(data_dir),
                               GroupSnapshotDir(data_dir, gid), SpoolDir(data_dir, gid)};
  // The data directory itself must exist; each level below it is created and made durable.
  for (size_t i = 1; i < std::size(chain); ++i) {
    absl::StatusOr<bool> created = MakeDir(chain[i]);
    if (!created.ok()) return created.status();
    if (*created) {
      if (absl::Status s = SyncDir(chain[i - 1]); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> CleanupSnapshotDir(const std::string& group_dir,
                                                            uint64_t referenced_index,
                                                            std::span<const uint64_t> in_flight) {
  std::vector<std::string> removed;
  if (absl::Status s = RemoveFsmFiles(group_dir, referenced_index, in_flight,
                                      /*remove_temp_files=*/true, /*keep_newer=*/false, &removed);
      !s.ok()) {
    return s;
  }
  const std::string spool = Join(group_dir, kSpoolDirName);
  absl::StatusOr<std::vector<std::string>> names = ListDir(spool);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (!EndsWith(name, kTempSuffix)) continue;
    std::string path = Join(spool, name);
    if (absl::Status s = RemoveFile(path); !s.ok()) return s;
    removed.push_back(std::move(path));
  }
  return removed;
}

absl::StatusOr<std::vector<std::string>> RemoveUnreferencedFsmFiles(
    const std::string& group_dir, uint64_t referenced_index, std::span<const uint64_t> in_flight) {
  std::vector<std::string> removed;
  // A newer file is an inbound snapshot the driver has not installed yet (it was renamed into
  // place by the receiver): removing it here would fail that install.
  if (absl::Status s = RemoveFsmFiles(group_dir, referenced_index, in_flight,
                                      /*remove_temp_files=*/false, /*keep_newer=*/true, &removed);
      !s.ok()) {
    return s;
  }
  return removed;
}

}  // namespace tessera::shard
