// .fsm files end to end: the crash-safe writer, verification (every §2/§7.4 error reachable,
// nothing mutated) and the streaming reader with its CRC recheck.
#include "shard/snapshot/fsm_file.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "common/crc32c.h"
#include "gtest/gtest.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/snapshot/snapshot_testing.h"

namespace tessera::shard {
namespace {

using testing::BigEndian32;
using testing::BigEndian64;
using testing::Body;
using testing::FileExists;
using testing::FromHex;
using testing::HexOf;
using testing::ListNames;
using testing::ReadFile;
using testing::ScopedTempDir;
using testing::V1Header;
using testing::WithFooter;
using testing::WriteFile;

using Rows = std::vector<std::pair<std::string, std::string>>;

constexpr uint64_t kCeiling = 1'700'000'000'000;
constexpr FsmHeader kV1{.version = FsmHeaderVersion::kV1, .clock_ceiling_ms = kCeiling};
constexpr FsmHeader kV2{.version = FsmHeaderVersion::kV2,
                        .clock_ceiling_ms = kCeiling,
                        .raft_envelope_cutover_index = 150};

// A few thousand sorted rows: empty, small and multi-MiB values, so writes and reads cross the
// 1 MiB buffer both inside a value and between rows.
Rows ManyRows(size_t n = 3000) {
  Rows rows;
  for (size_t i = 0; i < n; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "user:%08zu", i);
    std::string value;
    if (i % 1000 == 7) {
      value.assign((size_t{3} << 20) + i, static_cast<char>('a' + i % 26));
    } else if (i % 5 != 0) {
      value.assign(i % 300, static_cast<char>(i));
    }
    rows.emplace_back(key, std::move(value));
  }
  return rows;
}

absl::StatusOr<uint32_t> WriteSnapshot(const std::string& dir, uint64_t index,
                                       const FsmHeader& header, const Rows& rows,
                                       FsmWriterOptions options = {}) {
  absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(dir, index, options);
  if (!writer.ok()) return writer.status();
  if (absl::Status s = (*writer)->WriteHeader(header); !s.ok()) return s;
  for (const auto& [key, value] : rows) {
    if (absl::Status s = (*writer)->AddRow(key, value); !s.ok()) return s;
  }
  return (*writer)->Finish();
}

absl::StatusOr<Rows> ReadAllRows(const std::string& path, std::optional<uint32_t> token) {
  absl::StatusOr<std::unique_ptr<FsmReader>> reader = FsmReader::Open(path, token);
  if (!reader.ok()) return reader.status();
  Rows rows;
  std::string key, value;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(&key, &value);
    if (!more.ok()) return more.status();
    if (!*more) return rows;
    rows.emplace_back(key, value);
  }
}

SnapshotErrc VerifyErrc(const std::string& path, uint32_t token,
                        uint64_t max_bytes = kDefaultMaxSnapshotBytes) {
  return GetSnapshotErrc(VerifyFsmFile(path, token, max_bytes).status());
}

// Writes payload ‖ BE CRC32C(payload) and returns the CRC (the token a recorder would store).
uint32_t WriteRawFsm(const std::string& path, std::string_view payload) {
  WriteFile(path, WithFooter(payload));
  return common::Crc32c(payload);
}

// ---- Writer --------------------------------------------------------------------------------

TEST(FsmFileTest, FooterIsBigEndianCrc32cOfPayload) {
  ScopedTempDir dir;
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 100, kV1, {{"a", "xy"}, {"b", ""}});
  ASSERT_TRUE(crc.ok()) << crc.status();
  const std::string file = ReadFile(dir.Join("0000000000000064.fsm"));
  // The whole file, byte for byte: v1 golden header, body, footer.
  const std::string payload = FromHex(
      "545352534e4150310000018bcfe56800"  // "TSRSNAP1", ceiling 1 700 000 000 000
      "545352524f575331"                  // "TSRROWS1"
      "00000001"
      "61"
      "00000002"
      "7879"  // "a" -> "xy"
      "00000001"
      "62"
      "00000000"  // "b" -> ""
      "ffffffff"
      "0000000000000002");  // end marker, row_count 2
  ASSERT_EQ(HexOf(file.substr(0, file.size() - 4)), HexOf(payload));
  EXPECT_EQ(*crc, common::Crc32c(payload));
  EXPECT_EQ(HexOf(file.substr(file.size() - 4)), HexOf(BigEndian32(*crc)));
}

TEST(FsmWriterTest, RoundTripWriteVerifyRead) {
  ScopedTempDir dir;
  const Rows rows = ManyRows();
  for (const FsmHeader& header : {kV1, kV2}) {
    const uint64_t index = header.version == FsmHeaderVersion::kV1 ? 1000 : 2000;
    absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(dir.path(), index);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->WriteHeader(header).ok());
    for (const auto& [key, value] : rows) ASSERT_TRUE((*writer)->AddRow(key, value).ok());
    absl::StatusOr<uint32_t> crc = (*writer)->Finish();
    ASSERT_TRUE(crc.ok()) << crc.status();
    const std::string path = dir.Join(FsmFileName(index));
    EXPECT_EQ((*writer)->path(), path);
    EXPECT_EQ((*writer)->rows(), rows.size());
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ((*writer)->bytes_written(), static_cast<uint64_t>(st.st_size));
    EXPECT_FALSE(FileExists((*writer)->temp_path()));

    absl::StatusOr<FsmHeader> verified = VerifyFsmFile(path, *crc);
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_EQ(*verified, header);

    absl::StatusOr<Rows> read = ReadAllRows(path, *crc);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(*read == rows);
  }
}

TEST(FsmWriterTest, EmptySnapshotIsValid) {
  ScopedTempDir dir;
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 1, kV2, {});
  ASSERT_TRUE(crc.ok()) << crc.status();
  absl::StatusOr<FsmHeader> verified = VerifyFsmFile(dir.Join(FsmFileName(1)), *crc);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(*verified, kV2);
}

TEST(FsmWriterTest, FilesAreMode0600WhateverTheUmask) {
  ScopedTempDir dir;
  const mode_t old_umask = ::umask(0);
  struct stat temp_st {};
  FsmWriterOptions options;
  options.after_step = [&](FsmWriteStep step) {
    if (step == FsmWriteStep::kTempOpened) {
      EXPECT_EQ(::stat(dir.Join(FsmTempFileName(5)).c_str(), &temp_st), 0);
    }
    return absl::OkStatus();
  };
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 5, kV1, {{"k", "v"}}, options);
  ::umask(old_umask);
  ASSERT_TRUE(crc.ok()) << crc.status();
  EXPECT_EQ(temp_st.st_mode & 07777, 0600u);
  struct stat st;
  ASSERT_EQ(::stat(dir.Join(FsmFileName(5)).c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(ListNames(dir.path()), std::vector<std::string>{FsmFileName(5)});
}

TEST(FsmWriterTest, StepsRunInProtocolOrder) {
  ScopedTempDir dir;
  std::vector<FsmWriteStep> steps;
  const std::string temp = dir.Join(FsmTempFileName(9));
  const std::string final_path = dir.Join(FsmFileName(9));
  FsmWriterOptions options;
  options.after_step = [&](FsmWriteStep step) {
    steps.push_back(step);
    const bool renamed = step >= FsmWriteStep::kRenamed;
    EXPECT_EQ(FileExists(temp), !renamed) << static_cast<int>(step);
    EXPECT_EQ(FileExists(final_path), renamed) << static_cast<int>(step);
    return absl::OkStatus();
  };
  ASSERT_TRUE(WriteSnapshot(dir.path(), 9, kV1, {{"k", "v"}}, options).ok());
  EXPECT_EQ(steps,
            (std::vector<FsmWriteStep>{FsmWriteStep::kTempOpened, FsmWriteStep::kPayloadWritten,
                                       FsmWriteStep::kFooterFlushed, FsmWriteStep::kFileSynced,
                                       FsmWriteStep::kRenamed, FsmWriteStep::kDirSynced}));
}

TEST(FsmWriterTest, FailureAtEveryStepLeavesNothing) {
  for (int failing = 1; failing <= 6; ++failing) {
    SCOPED_TRACE(failing);
    ScopedTempDir dir;
    FsmWriterOptions options;
    options.after_step = [&](FsmWriteStep step) {
      return static_cast<int>(step) == failing ? SnapshotIoError("injected", "", EIO)
                                               : absl::OkStatus();
    };
    absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 7, kV1, ManyRows(50), options);
    ASSERT_FALSE(crc.ok());
    EXPECT_EQ(GetSnapshotErrc(crc.status()), SnapshotErrc::kIo);
    EXPECT_TRUE(absl::StrContains(crc.status().message(), "injected")) << crc.status();
    EXPECT_TRUE(ListNames(dir.path()).empty()) << ListNames(dir.path()).front();
  }
}

// Runs `child` in a forked process and returns its exit code (or -1 if it died by a signal).
template <typename Fn>
int RunInChild(Fn child) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::_exit(child());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -2;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(FsmFileTest, WriteProtocolCrashSafe) {
  constexpr int kCrashed = 42;
  for (int crash_after = 1; crash_after <= 6; ++crash_after) {
    SCOPED_TRACE(crash_after);
    ScopedTempDir dir;
    // The recorded snapshot before the crash: index 5, token crc5.
    absl::StatusOr<uint32_t> crc5 = WriteSnapshot(dir.path(), 5, kV1, ManyRows(20));
    ASSERT_TRUE(crc5.ok());

    // The process dies right after step `crash_after` of writing snapshot 7: Finish never
    // returns, so no token can reference index 7, durable or not.
    const int code = RunInChild([&] {
      FsmWriterOptions options;
      options.after_step = [&](FsmWriteStep step) {
        if (static_cast<int>(step) == crash_after) ::_exit(kCrashed);
        return absl::OkStatus();
      };
      (void)WriteSnapshot(dir.path(), 7, kV2, ManyRows(200), options);
      return 1;
    });
    ASSERT_EQ(code, kCrashed);
    const bool renamed = crash_after >= static_cast<int>(FsmWriteStep::kRenamed);
    EXPECT_EQ(FileExists(dir.Join(FsmTempFileName(7))), !renamed);
    EXPECT_EQ(FileExists(dir.Join(FsmFileName(7))), renamed);

    // Next start: the record still says 5; cleanup removes the temp or the orphaned file.
    absl::StatusOr<std::vector<std::string>> removed = CleanupSnapshotDir(dir.path(), 5);
    ASSERT_TRUE(removed.ok()) << removed.status();
    EXPECT_EQ(removed->size(), 1u);
    EXPECT_EQ(ListNames(dir.path()), std::vector<std::string>{FsmFileName(5)});
    EXPECT_TRUE(VerifyFsmFile(dir.Join(FsmFileName(5)), *crc5).ok());

    // And the same index can be written again afterwards.
    absl::StatusOr<uint32_t> crc7 = WriteSnapshot(dir.path(), 7, kV2, ManyRows(200));
    ASSERT_TRUE(crc7.ok()) << crc7.status();
    EXPECT_TRUE(VerifyFsmFile(dir.Join(FsmFileName(7)), *crc7).ok());
  }
}

TEST(FsmWriterTest, WriteErrorRemovesTempFile) {
  ScopedTempDir dir;
  // A genuine errno failure even as root: RLIMIT_FSIZE makes write(2) fail with EFBIG. In a
  // child, so the limit and the ignored SIGXFSZ do not leak into the test process.
  const int code = RunInChild([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{.rlim_cur = 256 << 10, .rlim_max = RLIM_INFINITY};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 10;
    absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 3, kV1, ManyRows(3000));
    if (crc.ok()) return 11;
    if (GetSnapshotErrc(crc.status()) != SnapshotErrc::kIo) return 12;
    if (!absl::StrContains(crc.status().message(), "write")) return 13;
    if (!ListNames(dir.path()).empty()) return 14;
    return 0;
  });
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(ListNames(dir.path()).empty());
}

TEST(FsmWriterTest, OpenFailsWhereTheDirectoryIsAFile) {
  ScopedTempDir dir;
  const std::string not_a_dir = dir.Join("regular-file");
  WriteFile(not_a_dir, "x");
  absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(not_a_dir, 1);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(GetSnapshotErrc(writer.status()), SnapshotErrc::kIo) << writer.status();
  EXPECT_TRUE(absl::StrContains(writer.status().message(), "Not a directory")) << writer.status();
  EXPECT_EQ(ListNames(dir.path()), std::vector<std::string>{"regular-file"});

  writer = FsmWriter::Open(dir.Join("missing"), 1);
  EXPECT_EQ(GetSnapshotErrc(writer.status()), SnapshotErrc::kIo) << writer.status();
}

TEST(FsmWriterTest, DirectoryRemovedMidWriteFailsCleanly) {
  ScopedTempDir dir;
  const std::string group = dir.Join("group");
  ASSERT_EQ(::mkdir(group.c_str(), 0700), 0);
  absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(group, 4);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->WriteHeader(kV1).ok());
  ASSERT_TRUE((*writer)->AddRow("k", "v").ok());
  // The directory goes away (its temp file with it) and a regular file takes its place.
  ASSERT_EQ(::unlink((*writer)->temp_path().c_str()), 0);
  ASSERT_EQ(::rmdir(group.c_str()), 0);
  WriteFile(group, "squatter");
  absl::StatusOr<uint32_t> crc = (*writer)->Finish();
  ASSERT_FALSE(crc.ok());
  EXPECT_EQ(GetSnapshotErrc(crc.status()), SnapshotErrc::kIo) << crc.status();
  EXPECT_EQ(ReadFile(group), "squatter");
}

TEST(FsmWriterTest, AbortAndDestructorRemoveTheTempFile) {
  ScopedTempDir dir;
  {
    absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(dir.path(), 1);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->WriteHeader(kV1).ok());
    ASSERT_TRUE((*writer)->AddRow("k", std::string(3 << 20, 'v')).ok());  // flushed once
    EXPECT_TRUE(FileExists((*writer)->temp_path()));
    (*writer)->Abort();
    EXPECT_TRUE(ListNames(dir.path()).empty());
    (*writer)->Abort();  // idempotent
    EXPECT_EQ((*writer)->AddRow("l", "v").code(), absl::StatusCode::kCancelled);
    EXPECT_EQ((*writer)->Finish().status().code(), absl::StatusCode::kCancelled);
  }
  {
    absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(dir.path(), 2);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->WriteHeader(kV2).ok());
  }  // destroyed unfinished
  EXPECT_TRUE(ListNames(dir.path()).empty());
  {
    absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(dir.path(), 3);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->WriteHeader(kV2).ok());
    ASSERT_TRUE((*writer)->Finish().ok());
    (*writer)->Abort();  // no-op once durable
  }
  EXPECT_EQ(ListNames(dir.path()), std::vector<std::string>{FsmFileName(3)});
}

TEST(FsmWriterTest, RowViolationsFailTheWholeFile) {
  const std::pair<const char*, Rows> cases[] = {
      {"unsorted", {{"b", "1"}, {"a", "2"}}},
      {"duplicate", {{"a", "1"}, {"a", "2"}}},
      {"key over 1 MiB", {{std::string(kFsmMaxKeySize + 1, 'k'), "v"}}},
  };
  for (const auto& [what, rows] : cases) {
    SCOPED_TRACE(what);
    ScopedTempDir dir;
    absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(dir.path(), 1);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->WriteHeader(kV1).ok());
    absl::Status status;
    for (const auto& [key, value] : rows) {
      status = (*writer)->AddRow(key, value);
      if (!status.ok()) break;
    }
    EXPECT_EQ(GetSnapshotErrc(status), SnapshotErrc::kSnapshotBodyInvalid) << status;
    EXPECT_TRUE(ListNames(dir.path()).empty());
    // Sticky: nothing can be finished after a rejected row.
    EXPECT_EQ(GetSnapshotErrc((*writer)->Finish().status()), SnapshotErrc::kSnapshotBodyInvalid);
    EXPECT_TRUE(ListNames(dir.path()).empty());
  }
}

TEST(FsmWriterTest, CallOrderEnforced) {
  ScopedTempDir dir;
  {
    absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(dir.path(), 1);
    ASSERT_TRUE(writer.ok());
    EXPECT_EQ((*writer)->AddRow("k", "v").code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(ListNames(dir.path()).empty());
  }
  {
    absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(dir.path(), 2);
    ASSERT_TRUE(writer.ok());
    EXPECT_EQ((*writer)->Finish().status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(ListNames(dir.path()).empty());
  }
  {
    absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(dir.path(), 3);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->WriteHeader(kV1).ok());
    EXPECT_EQ((*writer)->WriteHeader(kV1).code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(ListNames(dir.path()).empty());
  }
  {
    absl::StatusOr<std::unique_ptr<FsmWriter>> writer = FsmWriter::Open(dir.path(), 4);
    ASSERT_TRUE(writer.ok());
    const FsmHeader v1_with_cutover{.version = FsmHeaderVersion::kV1,
                                    .raft_envelope_cutover_index = 3};
    EXPECT_EQ((*writer)->WriteHeader(v1_with_cutover).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(ListNames(dir.path()).empty());
  }
}

TEST(FsmWriterTest, NeverReplacesAnExistingFile) {
  ScopedTempDir dir;
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 8, kV1, {{"k", "v"}});
  ASSERT_TRUE(crc.ok());
  const std::string before = ReadFile(dir.Join(FsmFileName(8)));

  absl::StatusOr<std::unique_ptr<FsmWriter>> again = FsmWriter::Open(dir.path(), 8);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(GetSnapshotErrc(again.status()), SnapshotErrc::kIo);
  EXPECT_TRUE(absl::StrContains(again.status().message(), "File exists")) << again.status();
  EXPECT_EQ(ReadFile(dir.Join(FsmFileName(8))), before);

  // A stale temp file (a concurrent or crashed writer) is refused and left for cleanup.
  WriteFile(dir.Join(FsmTempFileName(9)), "stale");
  absl::StatusOr<std::unique_ptr<FsmWriter>> blocked = FsmWriter::Open(dir.path(), 9);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(GetSnapshotErrc(blocked.status()), SnapshotErrc::kIo);
  EXPECT_EQ(ReadFile(dir.Join(FsmTempFileName(9))), "stale");

  // The final name appearing while a writer streams: the rename refuses to replace it.
  absl::StatusOr<std::unique_ptr<FsmWriter>> racing = FsmWriter::Open(dir.path(), 10);
  ASSERT_TRUE(racing.ok());
  ASSERT_TRUE((*racing)->WriteHeader(kV1).ok());
  WriteFile(dir.Join(FsmFileName(10)), "referenced elsewhere");
  absl::StatusOr<uint32_t> raced = (*racing)->Finish();
  ASSERT_FALSE(raced.ok());
  EXPECT_EQ(GetSnapshotErrc(raced.status()), SnapshotErrc::kIo) << raced.status();
  EXPECT_EQ(ReadFile(dir.Join(FsmFileName(10))), "referenced elsewhere");
  EXPECT_FALSE(FileExists(dir.Join(FsmTempFileName(10))));
}

// ---- Verification --------------------------------------------------------------------------

TEST(FsmVerifyTest, NotFound) {
  ScopedTempDir dir;
  const absl::Status status = VerifyFsmFile(dir.Join(FsmFileName(1)), 0).status();
  EXPECT_EQ(GetSnapshotErrc(status), SnapshotErrc::kSnapshotNotFound) << status;
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
}

TEST(FsmVerifyTest, DirectoryIsAnIoError) {
  ScopedTempDir dir;
  EXPECT_EQ(VerifyErrc(dir.path(), 0), SnapshotErrc::kIo);
}

TEST(FsmVerifyTest, TooSmall) {
  ScopedTempDir dir;
  const std::string path = dir.Join("f.fsm");
  for (size_t size : {0, 1, 4, 19}) {
    WriteFile(path, std::string(size, 'x'));
    EXPECT_EQ(VerifyErrc(path, 0), SnapshotErrc::kSnapshotTooSmall) << size;
  }
  // Exactly 20 bytes passes the size gate; a v1 header with no body then fails on the body.
  const uint32_t crc = WriteRawFsm(path, V1Header(1));
  EXPECT_EQ(VerifyErrc(path, crc), SnapshotErrc::kSnapshotBodyInvalid);
}

TEST(FsmVerifyTest, TooLarge) {
  ScopedTempDir dir;
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 1, kV1, ManyRows(100));
  ASSERT_TRUE(crc.ok());
  const std::string path = dir.Join(FsmFileName(1));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const absl::Status status = VerifyFsmFile(path, *crc, size - 1).status();
  EXPECT_EQ(GetSnapshotErrc(status), SnapshotErrc::kSnapshotTooLarge) << status;
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(VerifyFsmFile(path, *crc, size).ok());
}

TEST(FsmVerifyTest, TokenCrcMismatch) {
  ScopedTempDir dir;
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 1, kV1, ManyRows(100));
  ASSERT_TRUE(crc.ok());
  EXPECT_EQ(VerifyErrc(dir.Join(FsmFileName(1)), *crc ^ 0xFFFFFFFF),
            SnapshotErrc::kSnapshotTokenCrc);
}

TEST(FsmVerifyTest, FileCrcOnFlippedBodyByte) {
  ScopedTempDir dir;
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 1, kV1, ManyRows(100));
  ASSERT_TRUE(crc.ok());
  const std::string path = dir.Join(FsmFileName(1));
  std::string bytes = ReadFile(path);
  bytes[bytes.size() / 2] ^= 0x01;
  WriteFile(path, bytes);
  EXPECT_EQ(VerifyErrc(path, *crc), SnapshotErrc::kSnapshotFileCrc);
}

TEST(FsmVerifyTest, EverySingleByteFlipIsCaught) {
  ScopedTempDir dir;
  const std::string path = dir.Join("f.fsm");
  const std::string payload = V1Header(kCeiling) + Body({{"alpha", "one"}, {"beta", "two"}}, 2);
  const std::string good = WithFooter(payload);
  const uint32_t token = common::Crc32c(payload);
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      WriteFile(path, bad);
      const SnapshotErrc errc = VerifyErrc(path, token);
      if (i < kFsmMagicSize) {
        EXPECT_EQ(errc, SnapshotErrc::kSnapshotHeaderUnknownMagic) << i;  // header errors first
      } else if (i < payload.size()) {
        EXPECT_EQ(errc, SnapshotErrc::kSnapshotFileCrc) << i;  // body errors yield to the CRC
      } else {
        EXPECT_EQ(errc, SnapshotErrc::kSnapshotTokenCrc) << i;
      }
    }
  }
  WriteFile(path, good);
  EXPECT_TRUE(VerifyFsmFile(path, token).ok());
}

TEST(FsmVerifyTest, HeaderErrorsSurfaceBeforeCrc) {
  ScopedTempDir dir;
  const std::string path = dir.Join("f.fsm");
  const std::string body = Body({{"k", "v"}}, 1);
  const std::pair<std::string, SnapshotErrc> cases[] = {
      {"TSRSNAP9" + BigEndian64(1) + body, SnapshotErrc::kSnapshotHeaderUnknownMagic},
      {"NOTTSRSN" + BigEndian64(1) + body, SnapshotErrc::kSnapshotHeaderUnknownMagic},
      {"TSRSNAP2" + std::string("\x00\x0f", 2) + std::string(16, '\0') + body,
       SnapshotErrc::kSnapshotHeaderInvalidLength},
      {"TSRSNAP2" + std::string("\x04\x01", 2) + std::string(16, '\0') + body,
       SnapshotErrc::kSnapshotHeaderInvalidLength},
      // 16 payload bytes: past the size gate, short of a v2 header.
      {"TSRSNAP2" + std::string("\x00\x10", 2) + std::string(6, '\0'),
       SnapshotErrc::kSnapshotHeaderTruncated},
      // v2 len promises 1024 bytes the file does not have.
      {"TSRSNAP2" + std::string("\x04\x00", 2) + std::string(40, '\0'),
       SnapshotErrc::kSnapshotHeaderTruncated},
  };
  for (const auto& [payload, want] : cases) {
    // With the matching footer and with a wrong one: the header error wins either way.
    const uint32_t crc = WriteRawFsm(path, payload);
    EXPECT_EQ(VerifyErrc(path, crc), want) << HexOf(payload.substr(0, 10));
    std::string corrupt = WithFooter(payload);
    corrupt[payload.size() - 1] ^= 0x40;
    WriteFile(path, corrupt);
    EXPECT_EQ(VerifyErrc(path, crc), want) << HexOf(payload.substr(0, 10));
  }
}

TEST(FsmFileTest, BodyStructureValidated) {
  ScopedTempDir dir;
  const std::string path = dir.Join("f.fsm");
  const std::string header = V1Header(kCeiling);
  const Rows sorted = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  const std::pair<const char*, std::string> cases[] = {
      {"unsorted keys", Body({{"a", "1"}, {"c", "3"}, {"b", "2"}}, 3)},
      {"wrong row_count", Body(sorted, 4)},
      {"bytes after the end marker", Body(sorted, 3) + std::string(1, '\0')},
      {"no end marker", Body(sorted, 3).substr(0, Body(sorted, 3).size() - 12)},
  };
  for (const auto& [what, body] : cases) {
    // A well-checksummed file with a bad body: a writer bug, reported as such.
    const uint32_t crc = WriteRawFsm(path, header + body);
    const absl::Status status = VerifyFsmFile(path, crc).status();
    EXPECT_EQ(GetSnapshotErrc(status), SnapshotErrc::kSnapshotBodyInvalid) << what << status;
    absl::StatusOr<Rows> read = ReadAllRows(path, crc);
    EXPECT_EQ(GetSnapshotErrc(read.status()), SnapshotErrc::kSnapshotBodyInvalid) << what;
  }
  const uint32_t crc = WriteRawFsm(path, header + Body(sorted, 3));
  EXPECT_TRUE(VerifyFsmFile(path, crc).ok());
}

TEST(FsmVerifyTest, V2ExtensionBytesSkippedInFiles) {
  ScopedTempDir dir;
  const std::string path = dir.Join("f.fsm");
  const std::string payload = "TSRSNAP2" + std::string("\x00\x18", 2) + BigEndian64(kCeiling) +
                              BigEndian64(150) + "8 extras" + Body({{"k", "v"}}, 1);
  const uint32_t crc = WriteRawFsm(path, payload);
  absl::StatusOr<FsmHeader> header = VerifyFsmFile(path, crc);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(*header, kV2);
  absl::StatusOr<Rows> rows = ReadAllRows(path, crc);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, (Rows{{"k", "v"}}));
}

TEST(FsmVerifyTest, NothingIsMutated) {
  ScopedTempDir dir;
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 1, kV2, ManyRows(100));
  ASSERT_TRUE(crc.ok());
  const std::string path = dir.Join(FsmFileName(1));
  std::string bytes = ReadFile(path);
  bytes[100] ^= 0x10;
  WriteFile(path, bytes);
  struct stat before;
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  EXPECT_EQ(VerifyErrc(path, *crc), SnapshotErrc::kSnapshotFileCrc);
  EXPECT_EQ(VerifyErrc(path, *crc ^ 1), SnapshotErrc::kSnapshotTokenCrc);
  struct stat after;
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_EQ(ReadFile(path), bytes);
  EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  EXPECT_EQ(ListNames(dir.path()), std::vector<std::string>{FsmFileName(1)});
}

TEST(FsmVerifyTest, PayloadParserIsDrainedSoTheCrcCoversEverything) {
  ScopedTempDir dir;
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 1, kV1, ManyRows(500));
  ASSERT_TRUE(crc.ok());
  const std::string path = dir.Join(FsmFileName(1));
  // A parser that consumes only the v1 header (like the skip gate's test double) still matches.
  FsmHeader seen;
  absl::Status verified = VerifyFsmPayload(path, *crc, kDefaultMaxSnapshotBytes,
                                           [&](ByteSource& payload) -> absl::Status {
                                             absl::StatusOr<FsmHeader> h = ReadFsmHeader(payload);
                                             if (!h.ok()) return h.status();
                                             seen = *h;
                                             return absl::OkStatus();
                                           });
  EXPECT_TRUE(verified.ok()) << verified;
  EXPECT_EQ(seen, kV1);
  // Even one that reads nothing.
  EXPECT_TRUE(VerifyFsmPayload(path, *crc, kDefaultMaxSnapshotBytes, [](ByteSource&) {
                return absl::OkStatus();
              }).ok());
  // A parser's own error is returned as is, before the CRC compare.
  const absl::Status refused = VerifyFsmPayload(
      path, *crc, kDefaultMaxSnapshotBytes,
      [](ByteSource&) { return SnapshotError(SnapshotErrc::kEnvelopeCutoverDivergence, "test"); });
  EXPECT_EQ(GetSnapshotErrc(refused), SnapshotErrc::kEnvelopeCutoverDivergence);
}

// ---- Reader --------------------------------------------------------------------------------

TEST(FsmReaderTest, StreamsHeaderThenRows) {
  ScopedTempDir dir;
  const Rows rows = ManyRows(2000);
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 77, kV2, rows);
  ASSERT_TRUE(crc.ok());
  const std::string path = dir.Join(FsmFileName(77));
  absl::StatusOr<std::unique_ptr<FsmReader>> reader = FsmReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->header(), kV2);
  EXPECT_EQ((*reader)->footer_crc(), *crc);
  std::string key, value;
  size_t i = 0;
  for (;; ++i) {
    absl::StatusOr<bool> more = (*reader)->Next(&key, i % 2 == 0 ? &value : nullptr);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    ASSERT_LT(i, rows.size());
    EXPECT_EQ(key, rows[i].first);
    if (i % 2 == 0) {
      EXPECT_TRUE(value == rows[i].second) << i;
    }
  }
  EXPECT_EQ(i, rows.size());
  EXPECT_EQ((*reader)->rows_read(), rows.size());
  EXPECT_FALSE(*(*reader)->Next(&key, &value));  // stays at the end
}

TEST(FsmReaderTest, SecondPassDetectsCorruptionAtTheEnd) {
  ScopedTempDir dir;
  const Rows rows = ManyRows(300);
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 1, kV1, rows);
  ASSERT_TRUE(crc.ok());
  const std::string path = dir.Join(FsmFileName(1));
  std::string bytes = ReadFile(path);
  bytes[bytes.size() - 100] ^= 0x04;  // inside the last value
  WriteFile(path, bytes);

  absl::StatusOr<std::unique_ptr<FsmReader>> reader = FsmReader::Open(path, *crc);
  ASSERT_TRUE(reader.ok()) << reader.status();  // the footer still matches the token
  std::string key, value;
  size_t yielded = 0;
  absl::Status end;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(&key, &value);
    if (!more.ok()) {
      end = more.status();
      break;
    }
    ASSERT_TRUE(*more) << "a corrupt file never ends cleanly";
    ++yielded;
  }
  EXPECT_EQ(yielded, rows.size());  // rows go out before the CRC is known
  EXPECT_EQ(GetSnapshotErrc(end), SnapshotErrc::kSnapshotFileCrc) << end;
  EXPECT_EQ(GetSnapshotErrc((*reader)->Next(&key, &value).status()),
            SnapshotErrc::kSnapshotFileCrc);  // sticky
}

TEST(FsmReaderTest, OpenChecksMirrorVerification) {
  ScopedTempDir dir;
  absl::StatusOr<uint32_t> crc = WriteSnapshot(dir.path(), 1, kV1, ManyRows(10));
  ASSERT_TRUE(crc.ok());
  const std::string path = dir.Join(FsmFileName(1));
  EXPECT_EQ(GetSnapshotErrc(FsmReader::Open(path, *crc ^ 0xFFFFFFFF).status()),
            SnapshotErrc::kSnapshotTokenCrc);
  EXPECT_EQ(GetSnapshotErrc(FsmReader::Open(path, std::nullopt, 20).status()),
            SnapshotErrc::kSnapshotTooLarge);
  EXPECT_EQ(GetSnapshotErrc(FsmReader::Open(dir.Join("missing.fsm")).status()),
            SnapshotErrc::kSnapshotNotFound);
  const std::string small = dir.Join("small.fsm");
  WriteFile(small, "tiny");
  EXPECT_EQ(GetSnapshotErrc(FsmReader::Open(small).status()), SnapshotErrc::kSnapshotTooSmall);
  const std::string foreign = dir.Join("foreign.fsm");
  WriteRawFsm(foreign, "TSRSNAP3" + BigEndian64(1) + Body({}, 0));
  EXPECT_EQ(GetSnapshotErrc(FsmReader::Open(foreign).status()),
            SnapshotErrc::kSnapshotHeaderUnknownMagic);
}

}  // namespace
}  // namespace tessera::shard
