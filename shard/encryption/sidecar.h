// The sidecar keys.json (spec/encryption.md §4): this node's wrapped DEKs and encryption state,
// written crash-durably (temp + fsync + rename + directory fsync) with mode 0600. It holds
// wrapped keys only, so it is safe to back up with the data; the KEK never is.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shard/encryption/dek.h"

namespace tessera::shard::encryption {

inline constexpr int kSidecarVersion = 1;

struct SidecarKey {
  DekPurpose purpose = DekPurpose::kStorage;
  std::string wrapped;  // 72 bytes (base64 in the file)
  std::string created;  // RFC 3339 UTC, from the Raft payload
  uint64_t created_index = 0;
  bool operator==(const SidecarKey&) const = default;
};

struct Sidecar {
  uint64_t raft_applied_index = 0;  // default-group index of the last op reflected here
  uint64_t bootstrap_index = 0;
  bool storage_envelope_active = false;
  uint64_t storage_envelope_cutover_index = 0;
  uint32_t active_storage = 0;  // 0 = none
  uint32_t active_raft = 0;
  std::map<uint32_t, SidecarKey> keys;
  bool operator==(const Sidecar&) const = default;
};

std::string SerializeSidecar(const Sidecar& sidecar);
// kSidecarCorrupt for anything but a complete, well-typed document without unknown fields
// (ids must be canonical decimal, non-zero, u32; wrapped 72 bytes; active ids present with the
// right purpose); kSidecarVersion for version > 1.
absl::StatusOr<Sidecar> ParseSidecar(std::string_view text);

// RFC 3339 UTC ("2026-05-01T10:00:00Z") of a Unix time in ms, as every replica computes it.
std::string Rfc3339FromUnixMs(uint64_t unix_ms);

// The system calls the durable write uses; tests replace them to inject failures.
struct SidecarIo {
  std::function<int(int fd)> fsync_file;
  std::function<int(int fd)> fsync_dir;
  std::function<int(const char* from, const char* to)> rename;
};
SidecarIo RealSidecarIo();

// Creates the parent dir (0700) if missing, writes "<path>.tmp" (0600 regardless of umask),
// fsyncs, renames over `path` and fsyncs the directory. On error the old file is untouched.
absl::Status WriteSidecar(const std::string& path, const Sidecar& sidecar,
                          const SidecarIo& io = RealSidecarIo());

// nullopt when the file does not exist. kSidecarInsecure when writable by group/other or not
// owned by the euid; readable by group/other → WARN and chmod 0600. Parse errors as above.
absl::StatusOr<std::optional<Sidecar>> ReadSidecar(const std::string& path);

// Creates, fsyncs, renames, fsyncs the dir of and unlinks a probe file next to `path` (creating
// the dir 0700). A directory fsync failing with EINVAL/ENOTSUP → kUnsupportedFilesystem.
absl::Status ProbeSidecarDir(const std::string& path, const SidecarIo& io = RealSidecarIo());

}  // namespace tessera::shard::encryption
