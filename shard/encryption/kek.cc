// KEK loading with the file-permission, size and location checks of spec/encryption.md §2.
#include "shard/encryption/kek.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fmt/format.h"
#include "shard/encryption/encryption_errc.h"
#include "spdlog/spdlog.h"

namespace tessera::shard::encryption {
namespace {

constexpr char kFingerprintLabel[] = "tessera-kek-fingerprint-v1";

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return {};
  return buf;
}

}  // namespace

absl::StatusOr<SecretBytes> LoadKekFile(const std::string& path, const std::string& data_dir) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ELOOP) {
      return EncryptionError(EncryptionErrc::kKekFileInsecure,
                             absl::StrCat(path, " is a symbolic link"));
    }
    return EncryptionIoError("open KEK file", path, err);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return EncryptionIoError("stat KEK file", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return EncryptionError(EncryptionErrc::kKekFileInsecure,
                           absl::StrCat(path, " is not a regular file"));
  }
  if (st.st_uid != ::geteuid()) {
    return EncryptionError(EncryptionErrc::kKekFileInsecure,
                           absl::StrCat(path, " is not owned by the effective user"));
  }
  if ((st.st_mode & 0077) != 0) {
    return EncryptionError(EncryptionErrc::kKekFileInsecure,
                           absl::StrCat(path, " is accessible by group or other (mode ",
                                        fmt::format("{:04o}", st.st_mode & 0777), "); chmod 0600"));
  }
  if (st.st_size != static_cast<off_t>(kKeySize)) {
    return EncryptionError(EncryptionErrc::kKekFileSize,
                           absl::StrCat(path, " holds ", st.st_size, " bytes, not ", kKeySize));
  }
  if (!data_dir.empty()) {
    const std::string real_file = RealPath(path);
    const std::string real_dir = RealPath(data_dir);
    if (!real_file.empty() && !real_dir.empty() &&
        (real_file.rfind(real_dir + "/", 0) == 0 || real_file == real_dir)) {
      return EncryptionError(EncryptionErrc::kKekInsideDataDir,
                             absl::StrCat(path, " lies inside the data dir ", data_dir));
    }
  }
  // Read into guarded memory only: a stack buffer would leave a copy behind.
  auto* buf = static_cast<uint8_t*>(sodium_malloc(kKeySize));
  if (buf == nullptr) return absl::ResourceExhaustedError("sodium_malloc failed");
  size_t got = 0;
  while (got < kKeySize) {
    const ssize_t n = ::read(fd.get(), buf + got, kKeySize - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      sodium_free(buf);
      if (err != 0) return EncryptionIoError("read KEK file", path, err);
      return EncryptionError(EncryptionErrc::kKekFileSize, absl::StrCat(path, " is short"));
    }
    got += static_cast<size_t>(n);
  }
  absl::StatusOr<SecretBytes> kek = SecretBytes::FromBytes({buf, kKeySize});
  sodium_free(buf);  // zeroes the region
  return kek;
}

absl::StatusOr<SecretBytes> DecodeKekBase64(std::string_view base64) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  auto* buf = static_cast<uint8_t*>(sodium_malloc(kKeySize + 3));
  if (buf == nullptr) return absl::ResourceExhaustedError("sodium_malloc failed");
  size_t len = 0;
  const char* end = nullptr;
  const int rc = sodium_base642bin(buf, kKeySize + 3, base64.data(), base64.size(), nullptr, &len,
                                   &end, sodium_base64_VARIANT_ORIGINAL);
  if (rc != 0 || end != base64.data() + base64.size() || len != kKeySize) {
    sodium_free(buf);
    return EncryptionError(
        EncryptionErrc::kKekEnvInvalid,
        absl::StrCat(kKekEnvVariable, " must be padded standard base64 of exactly 32 bytes"));
  }
  absl::StatusOr<SecretBytes> kek = SecretBytes::FromBytes({buf, kKeySize});
  sodium_free(buf);
  return kek;
}

absl::StatusOr<std::optional<SecretBytes>> LoadKek(const std::string& kek_file,
                                                   const char* env_value,
                                                   const std::string& data_dir) {
  const bool has_env = env_value != nullptr && env_value[0] != '\0';
  if (!kek_file.empty() && has_env) {
    return EncryptionError(EncryptionErrc::kKekSourceConflict,
                           absl::StrCat("both --kekFile and ", kKekEnvVariable, " are set"));
  }
  if (!kek_file.empty()) {
    absl::StatusOr<SecretBytes> kek = LoadKekFile(kek_file, data_dir);
    if (!kek.ok()) return kek.status();
    return std::optional<SecretBytes>(*std::move(kek));
  }
  if (has_env) {
    absl::StatusOr<SecretBytes> kek = DecodeKekBase64(env_value);
    if (!kek.ok()) return kek.status();
    spdlog::warn("encryption: KEK from environment: tests only");
    return std::optional<SecretBytes>(*std::move(kek));
  }
  return std::optional<SecretBytes>();
}

KekFingerprint Fingerprint(const SecretBytes& kek) {
  KekFingerprint out{};
  crypto_generichash(out.data(), out.size(),
                     reinterpret_cast<const unsigned char*>(kFingerprintLabel),
                     sizeof(kFingerprintLabel) - 1, kek.data(), kek.size());
  return out;
}

}  // namespace tessera::shard::encryption
