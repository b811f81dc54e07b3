// The .fsm writer (crash-safe protocol), the verify-before-mutate checks and the streaming
// reader; the byte layout itself is in fsm_format.{h,cc}.
#include "shard/snapshot/fsm_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "shard/snapshot/big_endian.h"
#include "shard/snapshot/posix_file.h"
#include "shard/snapshot/snapshot_errc.h"

namespace tessera::shard {
namespace {

using snapshot_internal::GetBigEndian32;
using snapshot_internal::PutBigEndian32;
using snapshot_internal::PutBigEndian64;
using snapshot_internal::RemoveFile;
using snapshot_internal::SyncDir;
using snapshot_internal::UniqueFd;
using snapshot_internal::WriteAll;

static_assert(FileByteSource::kBufferSize == kFsmIoBufferSize, "one 1 MiB buffer per file");

// Renames without ever replacing an existing file (which a token may reference).
int RenameNoReplace(const char* from, const char* to) {
  if (::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  // The file system cannot do it atomically; Open already refused an existing final name.
  return ::rename(from, to);
}

struct OpenedFsmFile {
  UniqueFd fd;
  uint64_t size = 0;
  uint32_t footer = 0;
};

// §7.4 steps 1–2: open, fstat, size bounds, footer read and (optionally) compared to the token.
absl::StatusOr<OpenedFsmFile> OpenFsmFile(const std::string& path,
                                          std::optional<uint32_t> expected_token_crc,
                                          uint64_t max_bytes) {
  OpenedFsmFile file;
  file.fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.fd.valid()) {
    if (errno == ENOENT) return SnapshotError(SnapshotErrc::kSnapshotNotFound, path);
    return SnapshotIoError("open", path, errno);
  }
  struct stat st;
  if (::fstat(file.fd.get(), &st) != 0) return SnapshotIoError("fstat", path, errno);
  if (!S_ISREG(st.st_mode)) return SnapshotIoError("open", path, EINVAL);
  file.size = static_cast<uint64_t>(st.st_size);
  if (file.size < kFsmMinFileSize) {
    return SnapshotError(SnapshotErrc::kSnapshotTooSmall,
                         absl::StrCat(path, ": ", file.size, " bytes, minimum ", kFsmMinFileSize));
  }
  if (file.size > max_bytes) {
    return SnapshotError(SnapshotErrc::kSnapshotTooLarge,
                         absl::StrCat(path, ": ", file.size, " bytes, limit ", max_bytes));
  }
  char footer[kFsmFooterSize];
  size_t got = 0;
  while (got < sizeof(footer)) {
    const ssize_t n = ::pread(file.fd.get(), footer + got, sizeof(footer) - got,
                              static_cast<off_t>(file.size - kFsmFooterSize + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return SnapshotIoError("read footer of", path, errno);
    }
    if (n == 0) return SnapshotIoError("read footer of", path, EIO);  // shrank since fstat
    got += static_cast<size_t>(n);
  }
  file.footer = GetBigEndian32(footer);
  if (expected_token_crc && file.footer != *expected_token_crc) {
    return SnapshotError(SnapshotErrc::kSnapshotTokenCrc,
                         absl::StrCat(path, ": footer ", absl::Hex(file.footer, absl::kZeroPad8),
                                      ", token ", absl::Hex(*expected_token_crc, absl::kZeroPad8)));
  }
  return file;
}

// §7.4 steps 3–4 after the parser returned `parsed`: drain so the CRC covers the whole payload,
// then compare it with the footer. A body error yields to a CRC mismatch; other parse errors win.
absl::Status ConcludePayload(const std::string& path, FileByteSource& source, uint32_t footer,
                             absl::Status parsed) {
  if (!parsed.ok() && GetSnapshotErrc(parsed) != SnapshotErrc::kSnapshotBodyInvalid) return parsed;
  if (absl::StatusOr<uint64_t> drained = DrainToEnd(source); !drained.ok()) {
    return drained.status();
  }
  if (source.crc32c() != footer) {
    std::string detail =
        absl::StrCat(path, ": payload CRC32C ", absl::Hex(source.crc32c(), absl::kZeroPad8),
                     ", footer ", absl::Hex(footer, absl::kZeroPad8));
    if (!parsed.ok()) absl::StrAppend(&detail, " (also ", parsed.message(), ")");
    return SnapshotError(SnapshotErrc::kSnapshotFileCrc, detail);
  }
  return parsed;
}

}  // namespace

// ---- FsmWriter -----------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<FsmWriter>> FsmWriter::Open(const std::string& dir, uint64_t index,
                                                           FsmWriterOptions options) {
  std::string final_path = absl::StrCat(dir, "/", FsmFileName(index));
  std::string temp_path = absl::StrCat(dir, "/", FsmTempFileName(index));
  struct stat st;
  if (::stat(final_path.c_str(), &st) == 0) return SnapshotIoError("create", final_path, EEXIST);
  if (errno != ENOENT) return SnapshotIoError("stat", final_path, errno);
  const int fd = ::open(temp_path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return SnapshotIoError("create", temp_path, errno);
  std::unique_ptr<FsmWriter> writer(
      new FsmWriter(dir, std::move(temp_path), std::move(final_path), fd, std::move(options)));
  if (absl::Status s = writer->Step(FsmWriteStep::kTempOpened); !s.ok()) return s;
  return writer;
}

FsmWriter::FsmWriter(std::string dir, std::string temp_path, std::string final_path, int fd,
                     FsmWriterOptions options)
    : dir_(std::move(dir)),
      temp_path_(std::move(temp_path)),
      final_path_(std::move(final_path)),
      fd_(fd),
      options_(std::move(options)),
      buffer_(new char[kFsmIoBufferSize]) {}

FsmWriter::~FsmWriter() { Abort(); }

void FsmWriter::Abort() {
  // A failed writer already cleaned up; never touch a path a newer writer may own by now.
  if (state_ == State::kFinished || state_ == State::kFailed) return;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  // Best effort: the status that brought us here is what the caller needs to see; a leftover
  // temp file is removed by the next startup cleanup.
  (void)RemoveFile(temp_path_);
  if (renamed_) {
    (void)RemoveFile(final_path_);
    renamed_ = false;
  }
  state_ = State::kFailed;
  status_ = absl::CancelledError(absl::StrCat("fsm write of ", final_path_, " aborted"));
}

absl::Status FsmWriter::Fail(absl::Status status) {
  if (state_ == State::kFailed) return status_;
  Abort();
  status_ = std::move(status);
  return status_;
}

absl::Status FsmWriter::Step(FsmWriteStep step) {
  if (!options_.after_step) return absl::OkStatus();
  absl::Status s = options_.after_step(step);
  return s.ok() ? s : Fail(std::move(s));
}

absl::Status FsmWriter::AppendRaw(const char* data, size_t size) {
  while (size > 0) {
    if (buffered_ == kFsmIoBufferSize) {
      if (absl::Status s = Flush(); !s.ok()) return s;
    }
    const size_t n = std::min(size, kFsmIoBufferSize - buffered_);
    std::memcpy(buffer_.get() + buffered_, data, n);
    buffered_ += n;
    data += n;
    size -= n;
  }
  return absl::OkStatus();
}

absl::Status FsmWriter::AppendPayload(const char* data, size_t size) {
  crc_ = common::Crc32cExtend(crc_, data, size);
  return AppendRaw(data, size);
}

absl::Status FsmWriter::Flush() {
  if (buffered_ == 0) return absl::OkStatus();
  if (absl::Status s = WriteAll(fd_, buffer_.get(), buffered_, temp_path_); !s.ok()) {
    return Fail(std::move(s));
  }
  bytes_written_ += buffered_;
  buffered_ = 0;
  return absl::OkStatus();
}

absl::Status FsmWriter::WriteHeader(const FsmHeader& header) {
  if (state_ == State::kFailed) return status_;
  if (state_ != State::kNeedHeader) {
    return Fail(absl::FailedPreconditionError("fsm header written twice or after Finish"));
  }
  absl::StatusOr<std::string> encoded = EncodeFsmHeader(header);
  if (!encoded.ok()) return Fail(encoded.status());
  encoded->append(kFsmBodyMagic);
  if (absl::Status s = AppendPayload(encoded->data(), encoded->size()); !s.ok()) return s;
  state_ = State::kRows;
  return absl::OkStatus();
}

absl::Status FsmWriter::AddRow(std::string_view key, std::string_view value) {
  if (state_ == State::kFailed) return status_;
  if (state_ != State::kRows) {
    return Fail(absl::FailedPreconditionError("fsm row before the header or after Finish"));
  }
  if (absl::Status s = CheckFsmRow(rows_ > 0, previous_key_, key, value.size()); !s.ok()) {
    return Fail(std::move(s));
  }
  char len[4];
  PutBigEndian32(len, static_cast<uint32_t>(key.size()));
  if (absl::Status s = AppendPayload(len, sizeof(len)); !s.ok()) return s;
  if (absl::Status s = AppendPayload(key.data(), key.size()); !s.ok()) return s;
  PutBigEndian32(len, static_cast<uint32_t>(value.size()));
  if (absl::Status s = AppendPayload(len, sizeof(len)); !s.ok()) return s;
  if (absl::Status s = AppendPayload(value.data(), value.size()); !s.ok()) return s;
  previous_key_.assign(key);
  ++rows_;
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> FsmWriter::Finish() {
  if (state_ == State::kFailed) return status_;
  if (state_ != State::kRows) {
    return Fail(absl::FailedPreconditionError("fsm Finish before the header or twice"));
  }
  return FinishSteps();
}

absl::StatusOr<uint32_t> FsmWriter::FinishSteps() {
  char trailer[kFsmBodyTrailerSize];
  PutBigEndian32(trailer, kFsmEndOfRows);
  PutBigEndian64(trailer + 4, rows_);
  if (absl::Status s = AppendPayload(trailer, sizeof(trailer)); !s.ok()) return s;
  if (absl::Status s = Step(FsmWriteStep::kPayloadWritten); !s.ok()) return s;

  char footer[kFsmFooterSize];
  PutBigEndian32(footer, crc_);
  if (absl::Status s = AppendRaw(footer, sizeof(footer)); !s.ok()) return s;
  if (absl::Status s = Flush(); !s.ok()) return s;
  if (absl::Status s = Step(FsmWriteStep::kFooterFlushed); !s.ok()) return s;

  if (::fsync(fd_) != 0) return Fail(SnapshotIoError("fsync", temp_path_, errno));
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return Fail(SnapshotIoError("close", temp_path_, errno));
  if (absl::Status s = Step(FsmWriteStep::kFileSynced); !s.ok()) return s;

  if (RenameNoReplace(temp_path_.c_str(), final_path_.c_str()) != 0) {
    return Fail(SnapshotIoError(absl::StrCat("rename ", temp_path_, " to"), final_path_, errno));
  }
  renamed_ = true;
  if (absl::Status s = Step(FsmWriteStep::kRenamed); !s.ok()) return s;

  if (absl::Status s = SyncDir(dir_); !s.ok()) return Fail(std::move(s));
  if (absl::Status s = Step(FsmWriteStep::kDirSynced); !s.ok()) return s;

  state_ = State::kFinished;
  return crc_;
}

// ---- Verification --------------------------------------------------------------------------

absl::Status VerifyFsmPayload(const std::string& path, uint32_t expected_token_crc,
                              uint64_t max_bytes,
                              absl::FunctionRef<absl::Status(ByteSource& payload)> parse) {
  absl::StatusOr<OpenedFsmFile> file = OpenFsmFile(path, expected_token_crc, max_bytes);
  if (!file.ok()) return file.status();
  FileByteSource source(file->fd.get(), file->size - kFsmFooterSize, path);
  absl::Status parsed = parse(source);
  return ConcludePayload(path, source, file->footer, std::move(parsed));
}

absl::StatusOr<FsmHeader> VerifyFsmFile(const std::string& path, uint32_t expected_token_crc,
                                        uint64_t max_bytes) {
  FsmHeader header;
  absl::Status verified = VerifyFsmPayload(
      path, expected_token_crc, max_bytes, [&](ByteSource& payload) -> absl::Status {
        absl::StatusOr<FsmHeader> parsed = ReadFsmHeader(payload);
        if (!parsed.ok()) return parsed.status();
        header = *parsed;
        FsmBodyReader body(payload);
        std::string key;
        for (;;) {
          absl::StatusOr<bool> more = body.Next(&key, /*value=*/nullptr);
          if (!more.ok()) return more.status();
          if (!*more) return absl::OkStatus();
        }
      });
  if (!verified.ok()) return verified;
  return header;
}

// ---- FsmReader -----------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<FsmReader>> FsmReader::Open(
    const std::string& path, std::optional<uint32_t> expected_token_crc, uint64_t max_bytes) {
  absl::StatusOr<OpenedFsmFile> file = OpenFsmFile(path, expected_token_crc, max_bytes);
  if (!file.ok()) return file.status();
  std::unique_ptr<FsmReader> reader(
      new FsmReader(file->fd.Release(), path, file->size, file->footer));
  absl::StatusOr<FsmHeader> header = ReadFsmHeader(reader->source_);
  if (!header.ok()) return header.status();
  reader->header_ = *header;
  return reader;
}

FsmReader::FsmReader(int fd, std::string path, uint64_t file_size, uint32_t footer)
    : fd_(fd),
      path_(std::move(path)),
      file_size_(file_size),
      footer_(footer),
      source_(fd_, file_size_ - kFsmFooterSize, path_),
      body_(source_) {}

FsmReader::~FsmReader() { ::close(fd_); }

absl::StatusOr<bool> FsmReader::Next(std::string* key, std::string* value) {
  if (done_) {
    if (!final_status_.ok()) return final_status_;
    return false;
  }
  absl::StatusOr<bool> more = body_.Next(key, value);
  if (more.ok() && *more) return true;
  done_ = true;
  final_status_ = ConcludePayload(path_, source_, footer_, more.status());
  if (!final_status_.ok()) return final_status_;
  return false;
}

}  // namespace tessera::shard
