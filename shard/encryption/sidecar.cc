// keys.json: strict JSON (nlohmann, no exceptions) and the crash-durable write protocol.
#include "shard/encryption/sidecar.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <ctime>
#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "shard/encryption/encryption_errc.h"
#include "spdlog/spdlog.h"

namespace tessera::shard::encryption {
namespace {

using Json = nlohmann::json;

absl::Status Corrupt(std::string_view why) {
  return EncryptionError(EncryptionErrc::kSidecarCorrupt, why);
}

std::string Base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> FromBase64(std::string_view text) {
  std::string out(text.size(), '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

// Canonical decimal u32, non-zero.
std::optional<uint32_t> ParseKeyId(std::string_view text) {
  if (text.empty() || text.size() > 10 || text[0] == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

bool CheckFields(const Json& obj, std::initializer_list<const char*> fields) {
  if (!obj.is_object() || obj.size() != fields.size()) return false;
  for (const char* f : fields) {
    if (!obj.contains(f)) return false;
  }
  return true;
}

std::optional<uint64_t> U64(const Json& obj, const char* field) {
  const Json& v = obj.at(field);
  if (!v.is_number_unsigned()) return std::nullopt;
  return v.get<uint64_t>();
}

int FsyncDirOf(const std::string& dir, const SidecarIo& io) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  const int rc = io.fsync_dir(fd);
  const int err = errno;
  ::close(fd);
  errno = err;
  return rc;
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p with mode 0700 for every directory it creates.
absl::Status EnsureDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return absl::OkStatus();
  if (errno == ENOENT && dir != "/" && dir != ".") {
    if (absl::Status s = EnsureDir(DirOf(dir)); !s.ok()) return s;
    if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return absl::OkStatus();
  }
  return EncryptionIoError("mkdir sidecar dir", dir, errno);
}

absl::Status WriteFileDurably(const std::string& tmp, std::string_view text, const SidecarIo& io) {
  const int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return EncryptionIoError("open", tmp, errno);
  absl::Status status;
  if (::fchmod(fd, 0600) != 0) status = EncryptionIoError("fchmod", tmp, errno);
  size_t done = 0;
  while (status.ok() && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = EncryptionIoError("write", tmp, errno);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (status.ok() && io.fsync_file(fd) != 0) status = EncryptionIoError("fsync", tmp, errno);
  if (::close(fd) != 0 && status.ok()) status = EncryptionIoError("close", tmp, errno);
  return status;
}

}  // namespace

std::string Rfc3339FromUnixMs(uint64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string SerializeSidecar(const Sidecar& s) {
  Json keys = Json::object();
  for (const auto& [id, key] : s.keys) {
    keys[std::to_string(id)] = Json{{"purpose", std::string(DekPurposeName(key.purpose))},
                                    {"wrapped", Base64(key.wrapped)},
                                    {"created", key.created},
                                    {"created_index", key.created_index}};
  }
  Json doc = {{"version", kSidecarVersion},
              {"raft_applied_index", s.raft_applied_index},
              {"bootstrap_index", s.bootstrap_index},
              {"storage_envelope_active", s.storage_envelope_active},
              {"storage_envelope_cutover_index", s.storage_envelope_cutover_index},
              {"active", {{"storage", s.active_storage}, {"raft", s.active_raft}}},
              {"keys", keys}};
  return doc.dump(2) + "\n";
}

absl::StatusOr<Sidecar> ParseSidecar(std::string_view text) {
  const Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Corrupt("not a JSON object");
  if (doc.contains("version") && doc["version"].is_number_unsigned() &&
      doc["version"].get<uint64_t>() > static_cast<uint64_t>(kSidecarVersion)) {
    return EncryptionError(EncryptionErrc::kSidecarVersion,
                           absl::StrCat("sidecar version ", doc["version"].get<uint64_t>(),
                                        " is newer than this binary (", kSidecarVersion, ")"));
  }
  if (!CheckFields(doc,
                   {"version", "raft_applied_index", "bootstrap_index", "storage_envelope_active",
                    "storage_envelope_cutover_index", "active", "keys"})) {
    return Corrupt("missing or unknown top-level field");
  }
  const std::optional<uint64_t> version = U64(doc, "version");
  if (!version.has_value() || *version != static_cast<uint64_t>(kSidecarVersion)) {
    return Corrupt("bad version");
  }
  Sidecar s;
  const std::optional<uint64_t> applied = U64(doc, "raft_applied_index");
  const std::optional<uint64_t> bootstrap = U64(doc, "bootstrap_index");
  const std::optional<uint64_t> cutover = U64(doc, "storage_envelope_cutover_index");
  if (!applied || !bootstrap || !cutover) return Corrupt("mistyped index field");
  s.raft_applied_index = *applied;
  s.bootstrap_index = *bootstrap;
  s.storage_envelope_cutover_index = *cutover;
  if (!doc["storage_envelope_active"].is_boolean())
    return Corrupt("mistyped storage_envelope_active");
  s.storage_envelope_active = doc["storage_envelope_active"].get<bool>();
  const Json& active = doc["active"];
  if (!CheckFields(active, {"storage", "raft"})) return Corrupt("bad active object");
  const std::optional<uint64_t> as = U64(active, "storage");
  const std::optional<uint64_t> ar = U64(active, "raft");
  if (!as || !ar || *as > UINT32_MAX || *ar > UINT32_MAX) return Corrupt("bad active id");
  s.active_storage = static_cast<uint32_t>(*as);
  s.active_raft = static_cast<uint32_t>(*ar);
  const Json& keys = doc["keys"];
  if (!keys.is_object()) return Corrupt("keys is not an object");
  for (const auto& [name, entry] : keys.items()) {
    const std::optional<uint32_t> id = ParseKeyId(name);
    if (!id) return Corrupt(absl::StrCat("bad key id \"", name, "\""));
    if (!CheckFields(entry, {"purpose", "wrapped", "created", "created_index"})) {
      return Corrupt(absl::StrCat("key ", name, ": missing or unknown field"));
    }
    if (!entry["purpose"].is_string() || !entry["wrapped"].is_string() ||
        !entry["created"].is_string()) {
      return Corrupt(absl::StrCat("key ", name, ": mistyped field"));
    }
    SidecarKey key;
    const std::optional<DekPurpose> purpose = ParseDekPurpose(entry["purpose"].get<std::string>());
    if (!purpose) return Corrupt(absl::StrCat("key ", name, ": bad purpose"));
    key.purpose = *purpose;
    const std::optional<std::string> wrapped = FromBase64(entry["wrapped"].get<std::string>());
    if (!wrapped || wrapped->size() != kWrappedDekSize) {
      return Corrupt(absl::StrCat("key ", name, ": bad wrapped key"));
    }
    key.wrapped = *wrapped;
    key.created = entry["created"].get<std::string>();
    const std::optional<uint64_t> created_index = U64(entry, "created_index");
    if (!created_index) return Corrupt(absl::StrCat("key ", name, ": bad created_index"));
    key.created_index = *created_index;
    s.keys.emplace(*id, std::move(key));
  }
  auto check_active = [&](uint32_t id, DekPurpose purpose) {
    if (id == 0) return true;
    auto it = s.keys.find(id);
    return it != s.keys.end() && it->second.purpose == purpose;
  };
  if (!check_active(s.active_storage, DekPurpose::kStorage) ||
      !check_active(s.active_raft, DekPurpose::kRaft)) {
    return Corrupt("an active id is absent from keys or of the wrong purpose");
  }
  return s;
}

SidecarIo RealSidecarIo() {
  return SidecarIo{[](int fd) { return ::fsync(fd); }, [](int fd) { return ::fsync(fd); },
                   [](const char* from, const char* to) { return ::rename(from, to); }};
}

absl::Status WriteSidecar(const std::string& path, const Sidecar& sidecar, const SidecarIo& io) {
  const std::string dir = DirOf(path);
  if (absl::Status s = EnsureDir(dir); !s.ok()) return s;
  const std::string tmp = path + ".tmp";
  if (absl::Status s = WriteFileDurably(tmp, SerializeSidecar(sidecar), io); !s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (io.rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return EncryptionIoError("rename", tmp, err);
  }
  if (FsyncDirOf(dir, io) != 0) return EncryptionIoError("fsync dir", dir, errno);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Sidecar>> ReadSidecar(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<Sidecar>();
    if (errno == ELOOP) {
      return EncryptionError(EncryptionErrc::kSidecarInsecure,
                             absl::StrCat(path, " is a symbolic link"));
    }
    return EncryptionIoError("open", path, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return EncryptionIoError("stat", path, err);
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 0022) != 0) {
    ::close(fd);
    return EncryptionError(EncryptionErrc::kSidecarInsecure,
                           absl::StrCat(path,
                                        " is not a regular file owned by this user and "
                                        "writable by it alone"));
  }
  if ((st.st_mode & 0044) != 0) {
    spdlog::warn("encryption: sidecar {} was readable by group/other; now mode 0600", path);
    if (::fchmod(fd, 0600) != 0) {
      const int err = errno;
      ::close(fd);
      return EncryptionIoError("chmod", path, err);
    }
  }
  constexpr off_t kMaxSidecarBytes = 16 << 20;  // thousands of keys fit in far less
  if (st.st_size > kMaxSidecarBytes) {
    ::close(fd);
    return Corrupt(absl::StrCat(path, " is ", st.st_size, " bytes"));
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(done);
  absl::StatusOr<Sidecar> sidecar = ParseSidecar(text);
  if (!sidecar.ok()) return sidecar.status();
  return std::optional<Sidecar>(*std::move(sidecar));
}

absl::Status ProbeSidecarDir(const std::string& path, const SidecarIo& io) {
  const std::string dir = DirOf(path);
  if (absl::Status s = EnsureDir(dir); !s.ok()) return s;
  const std::string probe = dir + "/.keys.json.probe";
  const std::string tmp = probe + ".tmp";
  if (absl::Status s = WriteFileDurably(tmp, "probe\n", io); !s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (io.rename(tmp.c_str(), probe.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return EncryptionIoError("rename", tmp, err);
  }
  const int rc = FsyncDirOf(dir, io);
  const int err = errno;
  ::unlink(probe.c_str());
  if (rc != 0) {
    if (err == EINVAL || err == ENOTSUP) {
      return EncryptionError(EncryptionErrc::kUnsupportedFilesystem,
                             absl::StrCat("directory fsync is not supported under ", dir,
                                          " (NFS, FUSE?): the sidecar cannot be made durable"));
    }
    return EncryptionIoError("fsync dir", dir, err);
  }
  return absl::OkStatus();
}

}  // namespace tessera::shard::encryption
