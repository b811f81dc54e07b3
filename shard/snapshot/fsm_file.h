// Writing, verifying and streaming .fsm snapshot files: the crash-safe write protocol and the
// verify-before-mutate checks of spec/snapshots-and-cold-start.md §2, §5 and §7.4.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shard/snapshot/byte_source.h"
#include "shard/snapshot/fsm_format.h"
#include "shard/snapshot/snapshot_dir.h"

namespace tessera::shard {

// The write protocol's steps, in order; FsmWriterOptions::after_step observes each.
enum class FsmWriteStep {
  kTempOpened = 1,      // (1) temp file created O_EXCL, mode 0600
  kPayloadWritten = 2,  // (2) header and body streamed through CRC32C
  kFooterFlushed = 3,   // (3) BE footer appended, buffer flushed
  kFileSynced = 4,      // (4) fsync, close
  kRenamed = 5,         // (5) rename to the final name
  kDirSynced = 6,       // (6) fsync of the directory
};

struct FsmWriterOptions {
  // Test seam for fault injection: called after each completed step; a non-OK status fails
  // the write at that point exactly as a failed system call would.
  std::function<absl::Status(FsmWriteStep)> after_step;
};

// Writes one .fsm file crash-safely: `<dir>/<index %016x>.fsm.tmp` is streamed, fsynced and
// renamed to `<dir>/<index %016x>.fsm`, then the directory is fsynced; only then does Finish
// return the CRC for the token. Any failure (Abort and the destructor included) removes the
// temp file, and a file already renamed, so nothing a token could reference is left behind.
// The first error is sticky: every later call returns it. Not thread-safe; one owner.
class FsmWriter {
 public:
  // kIo (EEXIST) when `<index>.fsm` or its temp file already exists: an existing snapshot file
  // may be referenced by a token and is never replaced.
  static absl::StatusOr<std::unique_ptr<FsmWriter>> Open(const std::string& dir, uint64_t index,
                                                         FsmWriterOptions options = {});

  FsmWriter(const FsmWriter&) = delete;
  FsmWriter& operator=(const FsmWriter&) = delete;
  ~FsmWriter();

  // Exactly once, before any row. InvalidArgument for a v1 header with a cutover.
  absl::Status WriteHeader(const FsmHeader& header);

  // Rows in strictly ascending key order within the §2 limits, else kSnapshotBodyInvalid.
  absl::Status AddRow(std::string_view key, std::string_view value);

  // Ends the body and runs steps (2)–(6); returns the footer CRC for the snapshot token.
  absl::StatusOr<uint32_t> Finish();

  // Gives up: closes and removes the temp file. Idempotent; a no-op after Finish succeeded.
  void Abort();

  const std::string& path() const { return final_path_; }
  const std::string& temp_path() const { return temp_path_; }
  uint64_t rows() const { return rows_; }
  // Bytes written so far, the footer included once Finish succeeded.
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  enum class State { kNeedHeader, kRows, kFinished, kFailed };

  FsmWriter(std::string dir, std::string temp_path, std::string final_path, int fd,
            FsmWriterOptions options);

  absl::Status AppendPayload(const char* data, size_t size);  // through the CRC
  absl::Status AppendRaw(const char* data, size_t size);      // buffered, no CRC
  absl::Status Flush();
  absl::Status Step(FsmWriteStep step);  // runs the test seam
  absl::Status Fail(absl::Status status);
  absl::StatusOr<uint32_t> FinishSteps();

  std::string dir_;
  std::string temp_path_;
  std::string final_path_;
  int fd_;  // -1 once closed
  FsmWriterOptions options_;
  std::unique_ptr<char[]> buffer_;
  size_t buffered_ = 0;
  State state_ = State::kNeedHeader;
  absl::Status status_;
  bool renamed_ = false;
  uint32_t crc_ = 0;
  uint64_t rows_ = 0;
  uint64_t bytes_written_ = 0;
  std::string previous_key_;
};

// Steps 1–4 of §7.4 around a caller's payload parser, without mutating anything: open
// (ENOENT → kSnapshotNotFound) and fstat; size < kFsmMinFileSize → kSnapshotTooSmall, size >
// max_bytes → kSnapshotTooLarge; footer ≠ expected_token_crc → kSnapshotTokenCrc; then `parse`
// reads the payload through a CRC32C tee, whatever it leaves unread is drained (so the CRC
// always covers the whole payload), and computed CRC ≠ footer → kSnapshotFileCrc. Errors from
// `parse` surface before the CRC compare (documented ordering), except kSnapshotBodyInvalid,
// which yields to kSnapshotFileCrc when the CRC fails too: a flipped body byte is corruption.
absl::Status VerifyFsmPayload(const std::string& path, uint32_t expected_token_crc,
                              uint64_t max_bytes,
                              absl::FunctionRef<absl::Status(ByteSource& payload)> parse);

// VerifyFsmPayload with the full parser: header (every §2 header error) and body structure.
// Returns the parsed header.
absl::StatusOr<FsmHeader> VerifyFsmFile(const std::string& path, uint32_t expected_token_crc,
                                        uint64_t max_bytes = kDefaultMaxSnapshotBytes);

// Streams a .fsm file: the header on Open, then rows one at a time through one 1 MiB buffered
// reader, recomputing the CRC32C as it goes (restore's second pass, the snapshot sender's
// reads). Rows are handed out before the CRC is known; the final Next checks it.
class FsmReader {
 public:
  // Same checks and errors as VerifyFsmPayload up to and including the header parse; the token
  // check is skipped when `expected_token_crc` is nullopt.
  static absl::StatusOr<std::unique_ptr<FsmReader>> Open(
      const std::string& path, std::optional<uint32_t> expected_token_crc = std::nullopt,
      uint64_t max_bytes = kDefaultMaxSnapshotBytes);

  FsmReader(const FsmReader&) = delete;
  FsmReader& operator=(const FsmReader&) = delete;
  ~FsmReader();

  const FsmHeader& header() const { return header_; }
  uint64_t file_size() const { return file_size_; }
  uint32_t footer_crc() const { return footer_; }
  uint64_t rows_read() const { return body_.rows(); }

  // The next row (a null `value` is skipped); false at the end of a well-formed file whose
  // computed CRC matches the footer. kSnapshotFileCrc when it does not (also in place of a
  // body error when both occur), kSnapshotBodyInvalid, kIo. Sticky after false or an error.
  absl::StatusOr<bool> Next(std::string* key, std::string* value);

 private:
  FsmReader(int fd, std::string path, uint64_t file_size, uint32_t footer);

  int fd_;  // owned
  std::string path_;
  uint64_t file_size_;
  uint32_t footer_;
  FileByteSource source_;  // payload bytes [0, file_size_ - kFsmFooterSize)
  FsmBodyReader body_;     // reads source_
  FsmHeader header_;
  bool done_ = false;
  absl::Status final_status_;  // sticky once done_
};

}  // namespace tessera::shard
