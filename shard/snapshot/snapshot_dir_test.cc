// Snapshot paths and cleanup: names match §2, cleanup removes exactly temp and orphaned files.
#include "shard/snapshot/snapshot_dir.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shard/snapshot/snapshot_errc.h"
#include "shard/snapshot/snapshot_testing.h"

namespace tessera::shard {
namespace {

using testing::FileExists;
using testing::ListNames;
using testing::ScopedTempDir;
using testing::WriteFile;

TEST(SnapshotDirTest, PathsFollowTheSpec) {
  EXPECT_EQ(FsmFileName(100), "0000000000000064.fsm");
  EXPECT_EQ(FsmTempFileName(0xabcdef), "0000000000abcdef.fsm.tmp");
  EXPECT_EQ(SpoolFileName(100, 0xfeed), "0000000000000064-000000000000feed.fsm.tmp");
  EXPECT_EQ(GroupSnapshotDir("/data", 1), "/data/snapshots/0000000000000001");
  EXPECT_EQ(FsmPath("/data", 0x2a, 100), "/data/snapshots/000000000000002a/0000000000000064.fsm");
  EXPECT_EQ(SpoolDir("/data", 7), "/data/snapshots/0000000000000007/spool");
  EXPECT_EQ(FsmFileName(~uint64_t{0}), "ffffffffffffffff.fsm");
}

TEST(SnapshotDirTest, ParseFsmFileNameAcceptsOnlyCanonicalNames) {
  EXPECT_EQ(ParseFsmFileName("0000000000000064.fsm"), 100u);
  EXPECT_EQ(ParseFsmFileName("ffffffffffffffff.fsm"), ~uint64_t{0});
  for (std::string_view name :
       {"0000000000000064.fsm.tmp", "000000000000064.fsm", "00000000000000064.fsm",
        "000000000000006G.fsm", "000000000000006A.fsm", "0000000000000064.FSM", "0000000000000064",
        "x.fsm", ""}) {
    EXPECT_EQ(ParseFsmFileName(name), std::nullopt) << name;
  }
}

TEST(SnapshotDirTest, CreateSnapshotDirsIsIdempotentAndPrivate) {
  ScopedTempDir data;
  ASSERT_TRUE(CreateSnapshotDirs(data.path(), 3).ok());
  ASSERT_TRUE(CreateSnapshotDirs(data.path(), 3).ok());
  struct stat st;
  ASSERT_EQ(::stat(SpoolDir(data.path(), 3).c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  WriteFile(data.Join("file"), "x");
  const absl::Status under_file = CreateSnapshotDirs(data.Join("file"), 3);
  EXPECT_EQ(GetSnapshotErrc(under_file), SnapshotErrc::kIo) << under_file;
}

TEST(FsmFileTest, CleanupKeepsReferencedAndInFlightFiles) {
  ScopedTempDir data;
  ASSERT_TRUE(CreateSnapshotDirs(data.path(), 1).ok());
  const std::string group = GroupSnapshotDir(data.path(), 1);
  const std::string spool = SpoolDir(data.path(), 1);
  for (uint64_t index : {10, 20, 30, 40}) WriteFile(group + "/" + FsmFileName(index), "fsm");
  WriteFile(group + "/" + FsmTempFileName(50), "crashed writer");
  WriteFile(spool + "/" + SpoolFileName(60, 1), "crashed receive");
  WriteFile(spool + "/" + SpoolFileName(61, 2), "crashed receive");
  WriteFile(group + "/notes.txt", "foreign");
  WriteFile(spool + "/keep.bin", "foreign");
  ASSERT_EQ(::mkdir((group + "/quarantine").c_str(), 0700), 0);
  WriteFile(group + "/quarantine/" + FsmFileName(5), "quarantined");

  const uint64_t in_flight[] = {20};
  absl::StatusOr<std::vector<std::string>> removed = CleanupSnapshotDir(group, 30, in_flight);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->size(), 5u);
  EXPECT_EQ(ListNames(group), (std::vector<std::string>{FsmFileName(20), FsmFileName(30),
                                                        "notes.txt", "quarantine", "spool"}));
  EXPECT_EQ(ListNames(spool), (std::vector<std::string>{"keep.bin"}));
  EXPECT_TRUE(FileExists(group + "/quarantine/" + FsmFileName(5)));

  // Idempotent.
  removed = CleanupSnapshotDir(group, 30, in_flight);
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->empty());

  // No snapshot record and nothing in flight: every .fsm goes.
  removed = CleanupSnapshotDir(group, kNoSnapshotIndex);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(ListNames(group), (std::vector<std::string>{"notes.txt", "quarantine", "spool"}));
}

TEST(SnapshotDirTest, RuntimePruningNeverTouchesTempOrSpoolFiles) {
  ScopedTempDir data;
  ASSERT_TRUE(CreateSnapshotDirs(data.path(), 1).ok());
  const std::string group = GroupSnapshotDir(data.path(), 1);
  const std::string spool = SpoolDir(data.path(), 1);
  // 35: an inbound snapshot renamed into place, newer than the recorded one, not installed yet.
  for (uint64_t index : {10, 20, 30, 35}) WriteFile(group + "/" + FsmFileName(index), "fsm");
  WriteFile(group + "/" + FsmTempFileName(40), "live writer");
  WriteFile(spool + "/" + SpoolFileName(50, 9), "live receive");

  const uint64_t in_flight[] = {10};
  absl::StatusOr<std::vector<std::string>> removed =
      RemoveUnreferencedFsmFiles(group, 30, in_flight);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, (std::vector<std::string>{group + "/" + FsmFileName(20)}));
  EXPECT_EQ(ListNames(group),
            (std::vector<std::string>{FsmFileName(10), FsmFileName(30), FsmFileName(35),
                                      FsmTempFileName(40), "spool"}));
  EXPECT_EQ(ListNames(spool), (std::vector<std::string>{SpoolFileName(50, 9)}));
}

TEST(SnapshotDirTest, CleanupOfMissingDirectoryIsEmpty) {
  ScopedTempDir data;
  absl::StatusOr<std::vector<std::string>> removed =
      CleanupSnapshotDir(GroupSnapshotDir(data.path(), 9), 1);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(removed->empty());
}

}  // namespace
}  // namespace tessera::shard
