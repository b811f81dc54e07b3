// Table tests of the log: RaftLog over Unstable and MemoryStorage (conflicts, appends,
// fast-backtracking probes, slicing under size limits, commit/applied bounds, storage errors).
#include "raft/log.h"

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "raft/errors.h"
#include "raft/memory_storage.h"
#include "raft/testing_network.h"

namespace tessera::raft {
namespace {

using testing::MakeEntry;

// Entries first, first+1, ... with the given terms (payload empty).
std::vector<Entry> Ents(uint64_t first, std::initializer_list<uint64_t> terms) {
  std::vector<Entry> out;
  for (uint64_t t : terms) out.push_back(MakeEntry(first++, t));
  return out;
}

// A storage whose compaction point (dummy entry) is (index, term), then entries after it.
MemoryStorage StorageFrom(uint64_t index, uint64_t term, std::initializer_list<uint64_t> terms) {
  MemoryStorage s;
  if (index > 0) {
    Snapshot snap;
    snap.metadata.index = index;
    snap.metadata.term = term;
    EXPECT_TRUE(s.ApplySnapshot(snap).ok());
  }
  EXPECT_TRUE(s.Append(Ents(index + 1, terms)).ok());
  return s;
}

std::vector<uint64_t> Indexes(const std::vector<Entry>& ents) {
  std::vector<uint64_t> out;
  for (const Entry& e : ents) out.push_back(e.index);
  return out;
}

// --- FindConflict ---

struct FindConflictCase {
  const char* name;
  std::vector<Entry> ents;
  uint64_t want;
};

TEST(RaftLogTest, FindConflictReturnsFirstMismatchOrFirstNewIndex) {
  const std::vector<FindConflictCase> cases = {
      {"empty", {}, 0},
      {"all match", Ents(1, {1, 2, 3}), 0},
      {"suffix matches", Ents(2, {2, 3}), 0},
      {"last matches", Ents(3, {3}), 0},
      {"new entries after full match", Ents(1, {1, 2, 3, 4, 4}), 4},
      {"new entries after partial match", Ents(2, {2, 3, 4, 4}), 4},
      {"new entries after last", Ents(3, {3, 4, 4}), 4},
      {"only new entries", Ents(4, {4, 4}), 4},
      {"conflict at first", Ents(1, {4, 4}), 1},
      {"conflict in the middle", Ents(2, {1, 4, 4}), 2},
      {"conflict at last", Ents(3, {1, 2, 4, 4}), 3},
  };
  for (const auto& c : cases) {
    MemoryStorage storage;
    RaftLog log(&storage, kNoLimit);
    log.Append(Ents(1, {1, 2, 3}));
    EXPECT_EQ(log.FindConflict(c.ents), c.want) << c.name;
  }
}

// --- MaybeAppend ---

struct MaybeAppendCase {
  const char* name;
  uint64_t log_term;
  uint64_t index;
  uint64_t committed;
  std::vector<Entry> ents;
  std::optional<uint64_t> want_last;
  uint64_t want_commit;
};

TEST(RaftLogTest, MaybeAppendChecksMatchAndBoundsCommit) {
  // Log [1@1 2@2 3@3], committed 1.
  constexpr uint64_t kLast = 3, kLastTerm = 3, kCommit = 1;
  const std::vector<MaybeAppendCase> cases = {
      {"term mismatch", kLastTerm - 1, kLast, kLast, Ents(kLast + 1, {4}), std::nullopt, kCommit},
      {"index beyond log", kLastTerm, kLast + 1, kLast, Ents(kLast + 2, {4}), std::nullopt,
       kCommit},
      {"heartbeat-like, commits", kLastTerm, kLast, kLast, {}, kLast, kLast},
      {"commit capped at last new", kLastTerm, kLast, kLast + 1, {}, kLast, kLast},
      {"commit below last", kLastTerm, kLast, kLast - 1, {}, kLast, kLast - 1},
      {"commit never decreases", kLastTerm, kLast, 0, {}, kLast, kCommit},
      {"match at index 0", 0, 0, kLast, {}, 0, kCommit},
      {"append one", kLastTerm, kLast, kLast, Ents(kLast + 1, {4}), kLast + 1, kLast},
      {"append one, commit it", kLastTerm, kLast, kLast + 1, Ents(kLast + 1, {4}), kLast + 1,
       kLast + 1},
      {"commit capped at new last", kLastTerm, kLast, kLast + 2, Ents(kLast + 1, {4}), kLast + 1,
       kLast + 1},
      {"append two", kLastTerm, kLast, kLast + 2, Ents(kLast + 1, {4, 4}), kLast + 2, kLast + 2},
      {"match in the middle, overwrite last", kLastTerm - 1, kLast - 1, kLast, Ents(kLast, {4}),
       kLast, kLast},
      {"match earlier, truncate suffix", kLastTerm - 2, kLast - 2, kLast, Ents(kLast - 1, {4}),
       kLast - 1, kLast - 1},
      {"match earlier, replace two", kLastTerm - 2, kLast - 2, kLast, Ents(kLast - 1, {4, 4}),
       kLast, kLast},
  };
  for (const auto& c : cases) {
    MemoryStorage storage;
    RaftLog log(&storage, kNoLimit);
    log.Append(Ents(1, {1, 2, 3}));
    log.CommitTo(kCommit);
    EXPECT_EQ(log.MaybeAppend(c.index, c.log_term, c.committed, c.ents), c.want_last) << c.name;
    EXPECT_EQ(log.committed(), c.want_commit) << c.name;
    if (c.want_last && !c.ents.empty()) {
      // The appended entries are now the log's suffix.
      auto got = log.Slice(c.ents.front().index, *c.want_last + 1, kNoLimit);
      ASSERT_TRUE(got.ok()) << c.name;
      EXPECT_EQ(*got, c.ents) << c.name;
      EXPECT_EQ(log.LastIndex(), *c.want_last) << c.name;
    }
  }
}

TEST(RaftLogTest, MaybeAppendTruncatesUncommittedConflictingSuffixInStorage) {
  // [1@1 2@1 3@1 4@1] stable, committed 2; the leader of term 2 says index 3 is 3@2.
  MemoryStorage storage = StorageFrom(0, 0, {1, 1, 1, 1});
  RaftLog log(&storage, kNoLimit);
  log.CommitTo(2);
  ASSERT_EQ(log.MaybeAppend(2, 1, 2, Ents(3, {2})), 3u);
  EXPECT_EQ(log.LastIndex(), 3u);
  EXPECT_EQ(*log.Term(3), 2u);
  EXPECT_FALSE(log.Term(4).ok());
  // The replacement is unstable and starts where the conflict was.
  EXPECT_EQ(log.unstable().offset(), 3u);
  EXPECT_EQ(log.UnstableEntries(), Ents(3, {2}));
}

TEST(RaftLogDeathTest, MaybeAppendRefusesToOverwriteCommittedEntry) {
  MemoryStorage storage;
  RaftLog log(&storage, kNoLimit);
  log.Append(Ents(1, {1, 2, 3}));
  log.CommitTo(1);
  EXPECT_DEATH(log.MaybeAppend(0, 0, 3, Ents(1, {4})), "conflicts with committed");
}

// --- FindConflictByTerm ---

struct ConflictByTermCase {
  uint64_t index;
  uint64_t term;
  uint64_t want_index;
  uint64_t want_term;
};

TEST(RaftLogTest, FindConflictByTermFindsLastIndexWithTermAtMost) {
  // Log from index 1: terms 2 2 5 5 5.
  {
    MemoryStorage storage = StorageFrom(0, 0, {2, 2, 5, 5, 5});
    RaftLog log(&storage, kNoLimit);
    const std::vector<ConflictByTermCase> cases = {
        {100, 2, 100, 0},  // beyond the log: unknown term
        {5, 6, 5, 5},     {5, 5, 5, 5}, {5, 4, 2, 2}, {5, 2, 2, 2},
        {5, 1, 0, 0},     {1, 2, 1, 2}, {1, 1, 0, 0}, {0, 0, 0, 0},
    };
    for (const auto& c : cases) {
      auto [i, t] = log.FindConflictByTerm(c.index, c.term);
      EXPECT_EQ(i, c.want_index) << "index " << c.index << " term " << c.term;
      EXPECT_EQ(t, c.want_term) << "index " << c.index << " term " << c.term;
    }
  }
  // Compacted to 10@3, then terms 3 3 4 4 4 at 11..15.
  {
    MemoryStorage storage = StorageFrom(10, 3, {3, 3, 4, 4, 4});
    RaftLog log(&storage, kNoLimit);
    const std::vector<ConflictByTermCase> cases = {
        {30, 3, 30, 0},  // unavailable
        {14, 9, 14, 4}, {14, 4, 14, 4}, {14, 3, 12, 3}, {14, 2, 9, 0}, {11, 5, 11, 3},
        {10, 5, 10, 3}, {10, 3, 10, 3}, {10, 2, 9, 0},  {9, 2, 9, 0},  // compacted
        {4, 2, 4, 0},   {0, 0, 0, 0},
    };
    for (const auto& c : cases) {
      auto [i, t] = log.FindConflictByTerm(c.index, c.term);
      EXPECT_EQ(i, c.want_index) << "index " << c.index << " term " << c.term;
      EXPECT_EQ(t, c.want_term) << "index " << c.index << " term " << c.term;
    }
  }
}

// --- IsUpToDate ---

TEST(RaftLogTest, IsUpToDateComparesLastTermThenLastIndex) {
  MemoryStorage storage;
  RaftLog log(&storage, kNoLimit);
  log.Append(Ents(1, {1, 2, 3}));
  const uint64_t last = log.LastIndex();
  struct Case {
    uint64_t index, term;
    bool want;
  };
  const std::vector<Case> cases = {
      // A greater last term wins whatever the index.
      {last - 1, 4, true},
      {last, 4, true},
      {last + 1, 4, true},
      // A smaller last term loses whatever the index.
      {last - 1, 2, false},
      {last, 2, false},
      {last + 1, 2, false},
      // Equal terms: the longer or equal log wins.
      {last - 1, 3, false},
      {last, 3, true},
      {last + 1, 3, true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(log.IsUpToDate(c.index, c.term), c.want) << c.index << "@" << c.term;
  }
}

// --- Slice ---

class RaftLogSliceTest : public ::testing::Test {
 protected:
  // Compacted at 100; 101..149 stable, 150..199 unstable; every payload 10 bytes.
  void SetUp() override {
    Snapshot snap;
    snap.metadata.index = 100;
    snap.metadata.term = 100;
    ASSERT_TRUE(storage_.ApplySnapshot(snap).ok());
    std::vector<Entry> stable, unstable;
    for (uint64_t i = 101; i < 150; ++i) stable.push_back(MakeEntry(i, i, "0123456789"));
    for (uint64_t i = 150; i < 200; ++i) unstable.push_back(MakeEntry(i, i, "0123456789"));
    ASSERT_TRUE(storage_.Append(stable).ok());
    log_ = std::make_unique<RaftLog>(&storage_, kNoLimit);
    log_->Append(unstable);
    ASSERT_EQ(log_->unstable().offset(), 150u);
  }

  std::vector<uint64_t> SliceIndexes(uint64_t lo, uint64_t hi, uint64_t max) {
    auto got = log_->Slice(lo, hi, max);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? Indexes(*got) : std::vector<uint64_t>{};
  }

  MemoryStorage storage_;
  std::unique_ptr<RaftLog> log_;
};

std::vector<uint64_t> Range(uint64_t lo, uint64_t hi) {
  std::vector<uint64_t> out;
  for (uint64_t i = lo; i < hi; ++i) out.push_back(i);
  return out;
}

TEST_F(RaftLogSliceTest, BelowFirstIndexIsCompacted) {
  EXPECT_EQ(RaftErrcOf(log_->Slice(99, 101, kNoLimit).status()), RaftErrc::kCompacted);
  EXPECT_EQ(RaftErrcOf(log_->Slice(100, 101, kNoLimit).status()), RaftErrc::kCompacted);
}

TEST_F(RaftLogSliceTest, ReadsStableUnstableAndAcrossTheBoundary) {
  EXPECT_TRUE(SliceIndexes(101, 101, kNoLimit).empty());
  EXPECT_EQ(SliceIndexes(101, 150, kNoLimit), Range(101, 150));
  EXPECT_EQ(SliceIndexes(140, 160, kNoLimit), Range(140, 160));
  EXPECT_EQ(SliceIndexes(150, 170, kNoLimit), Range(150, 170));
  EXPECT_EQ(SliceIndexes(199, 200, kNoLimit), Range(199, 200));
}

TEST_F(RaftLogSliceTest, SizeLimitCutsButAlwaysReturnsOneEntry) {
  EXPECT_EQ(SliceIndexes(101, 200, 0), Range(101, 102));
  EXPECT_EQ(SliceIndexes(101, 200, 9), Range(101, 102));
  EXPECT_EQ(SliceIndexes(101, 200, 10), Range(101, 102));
  EXPECT_EQ(SliceIndexes(101, 200, 25), Range(101, 103));
  // Limited inside storage: the slice ends there.
  EXPECT_EQ(SliceIndexes(145, 155, 45), Range(145, 149));
  // Limit reached in the unstable part after a full storage read.
  EXPECT_EQ(SliceIndexes(148, 153, 35), Range(148, 151));
  // Only unstable entries.
  EXPECT_EQ(SliceIndexes(160, 200, 30), Range(160, 163));
}

TEST_F(RaftLogSliceTest, EntriesFromBeyondLastIsEmpty) {
  auto got = log_->Entries(200, kNoLimit);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(RaftErrcOf(log_->Entries(50, kNoLimit).status()), RaftErrc::kCompacted);
}

TEST_F(RaftLogSliceTest, TermCoversDummyToLast) {
  EXPECT_EQ(*log_->Term(100), 100u);  // the compaction point itself
  EXPECT_EQ(*log_->Term(149), 149u);
  EXPECT_EQ(*log_->Term(150), 150u);
  EXPECT_FALSE(log_->Term(99).ok());
  EXPECT_FALSE(log_->Term(200).ok());
  EXPECT_EQ(log_->TermOrZero(200), 0u);
  EXPECT_EQ(log_->FirstIndex(), 101u);
  EXPECT_EQ(log_->LastIndex(), 199u);
}

TEST_F(RaftLogSliceTest, SliceBeyondLastIndexIsFatal) {
  EXPECT_DEATH((void)log_->Slice(150, 201, kNoLimit), "out of bound");
}

// --- Commit and applied ---

TEST(RaftLogTest, CommitToNeverDecreases) {
  MemoryStorage storage;
  RaftLog log(&storage, kNoLimit);
  log.Append(Ents(1, {1, 2, 3}));
  log.CommitTo(3);
  log.CommitTo(2);
  EXPECT_EQ(log.committed(), 3u);
}

TEST(RaftLogDeathTest, CommitBeyondLastIndexIsFatal) {
  MemoryStorage storage;
  RaftLog log(&storage, kNoLimit);
  log.Append(Ents(1, {1, 2, 3}));
  EXPECT_DEATH(log.CommitTo(4), "out of range");
}

TEST(RaftLogTest, MaybeCommitOnlyForEntriesOfTheGivenTerm) {
  MemoryStorage storage;
  struct Case {
    uint64_t max_index, term;
    bool want;
    uint64_t want_commit;
  };
  const std::vector<Case> cases = {
      {3, 1, false, 0},                                                      // term mismatch
      {3, 2, true, 3},  {2, 2, true, 2}, {1, 1, true, 1}, {0, 0, false, 0},  // not above committed
  };
  for (const auto& c : cases) {
    RaftLog fresh(&storage, kNoLimit);
    fresh.Append(Ents(1, {1, 2, 2}));
    EXPECT_EQ(fresh.MaybeCommit(c.max_index, c.term), c.want) << c.max_index << "@" << c.term;
    EXPECT_EQ(fresh.committed(), c.want_commit) << c.max_index << "@" << c.term;
  }
}

TEST(RaftLogDeathTest, AppliedMustStayWithinPreviousAppliedAndCommitted) {
  MemoryStorage storage;
  RaftLog log(&storage, kNoLimit);
  log.Append(Ents(1, {1, 1, 1}));
  log.CommitTo(2);
  log.AppliedTo(2);
  EXPECT_EQ(log.applied(), 2u);
  EXPECT_DEATH(log.AppliedTo(3), "applied 3 out of range");
  EXPECT_DEATH(log.AppliedTo(1), "applied 1 out of range");
}

TEST(RaftLogDeathTest, AppendBelowCommittedIsFatal) {
  MemoryStorage storage;
  RaftLog log(&storage, kNoLimit);
  log.Append(Ents(1, {1, 1, 1}));
  log.CommitTo(2);
  EXPECT_DEATH(log.Append(Ents(2, {2})), "below committed");
}

TEST(RaftLogTest, NextCommittedEntriesAreBetweenAppliedAndCommitted) {
  MemoryStorage storage = StorageFrom(0, 0, {1, 1});
  RaftLog log(&storage, kNoLimit);
  log.Append(Ents(3, {1, 1}));  // 3 and 4 unstable
  EXPECT_FALSE(log.HasNextCommittedEntries());
  log.CommitTo(3);
  EXPECT_TRUE(log.HasNextCommittedEntries());
  EXPECT_EQ(Indexes(log.NextCommittedEntries()), (std::vector<uint64_t>{1, 2, 3}));
  log.AppliedTo(2);
  EXPECT_EQ(Indexes(log.NextCommittedEntries()), (std::vector<uint64_t>{3}));
  log.AppliedTo(3);
  EXPECT_FALSE(log.HasNextCommittedEntries());
  EXPECT_TRUE(log.NextCommittedEntries().empty());
}

TEST(RaftLogTest, NextCommittedEntriesRespectTheSizeLimit) {
  MemoryStorage storage;
  RaftLog log(&storage, /*max_next_ents_size=*/15);
  log.Append({MakeEntry(1, 1, "0123456789"), MakeEntry(2, 1, "0123456789"),
              MakeEntry(3, 1, "0123456789")});
  log.CommitTo(3);
  EXPECT_EQ(Indexes(log.NextCommittedEntries()), (std::vector<uint64_t>{1}));
  log.AppliedTo(1);
  EXPECT_EQ(Indexes(log.NextCommittedEntries()), (std::vector<uint64_t>{2}));
}

TEST(RaftLogTest, RestoreMovesEverythingToTheSnapshot) {
  MemoryStorage storage = StorageFrom(0, 0, {1, 1, 1});
  RaftLog log(&storage, kNoLimit);
  Snapshot snap;
  snap.metadata.index = 10;
  snap.metadata.term = 4;
  log.Restore(snap);
  EXPECT_EQ(log.committed(), 10u);
  EXPECT_EQ(log.FirstIndex(), 11u);
  EXPECT_EQ(log.LastIndex(), 10u);
  EXPECT_EQ(log.LastTerm(), 4u);
  EXPECT_TRUE(log.HasPendingSnapshot());
  EXPECT_TRUE(log.UnstableEntries().empty());
  log.StableSnapTo(9);  // wrong index: no-op
  EXPECT_TRUE(log.HasPendingSnapshot());
  log.StableSnapTo(10);
  EXPECT_FALSE(log.HasPendingSnapshot());
}

// --- Unstable ---

TEST(UnstableTest, TruncateAndAppendAppendsReplacesOrTruncates) {
  struct Case {
    const char* name;
    uint64_t offset;
    std::vector<Entry> entries;
    std::vector<Entry> append;
    uint64_t want_offset;
    std::vector<Entry> want;
  };
  const std::vector<Case> cases = {
      {"append to the end", 5, Ents(5, {1}), Ents(6, {1, 1}), 5, Ents(5, {1, 1, 1})},
      {"replace everything", 5, Ents(5, {1}), Ents(5, {2, 2}), 5, Ents(5, {2, 2})},
      {"replace from before the offset", 5, Ents(5, {1}), Ents(4, {2, 2, 2}), 4,
       Ents(4, {2, 2, 2})},
      {"truncate and append", 5, Ents(5, {1, 1, 1}), Ents(6, {2}), 5, Ents(5, {1, 2})},
      {"truncate in the middle", 5, Ents(5, {1, 1, 1}), Ents(7, {2, 2}), 5, Ents(5, {1, 1, 2, 2})},
  };
  for (const auto& c : cases) {
    Unstable u;
    u.set_offset(c.offset);
    if (!c.entries.empty()) u.TruncateAndAppend(c.entries);
    u.TruncateAndAppend(c.append);
    EXPECT_EQ(u.offset(), c.want_offset) << c.name;
    EXPECT_EQ(u.entries(), c.want) << c.name;
  }
}

TEST(UnstableTest, StableToOnlyWithMatchingTerm) {
  Unstable u;
  u.set_offset(5);
  u.TruncateAndAppend(Ents(5, {1, 1, 2}));
  u.StableTo(6, 2);  // wrong term for 6: no-op
  EXPECT_EQ(u.offset(), 5u);
  u.StableTo(9, 2);  // beyond: no-op
  EXPECT_EQ(u.offset(), 5u);
  u.StableTo(6, 1);
  EXPECT_EQ(u.offset(), 7u);
  EXPECT_EQ(u.entries(), Ents(7, {2}));
  EXPECT_EQ(u.MaybeTerm(7), 2u);
  EXPECT_EQ(u.MaybeTerm(6), std::nullopt);
}

TEST(UnstableTest, MaybeIndexesAndTermsWithSnapshot) {
  Unstable u;
  EXPECT_EQ(u.MaybeFirstIndex(), std::nullopt);
  EXPECT_EQ(u.MaybeLastIndex(), std::nullopt);
  Snapshot snap;
  snap.metadata.index = 4;
  snap.metadata.term = 2;
  u.Restore(snap);
  EXPECT_EQ(u.MaybeFirstIndex(), 5u);
  EXPECT_EQ(u.MaybeLastIndex(), 4u);
  EXPECT_EQ(u.MaybeTerm(4), 2u);
  EXPECT_EQ(u.MaybeTerm(3), std::nullopt);
  EXPECT_EQ(u.MaybeTerm(5), std::nullopt);
  u.TruncateAndAppend(Ents(5, {3}));
  EXPECT_EQ(u.MaybeLastIndex(), 5u);
  EXPECT_EQ(u.MaybeTerm(5), 3u);
}

// --- MemoryStorage ---

class MemoryStorageTest : public ::testing::Test {
 protected:
  // Compacted at 3@3; entries 4@4 5@5 6@6, each payload 10 bytes.
  void SetUp() override {
    Snapshot snap;
    snap.metadata.index = 3;
    snap.metadata.term = 3;
    ASSERT_TRUE(s_.ApplySnapshot(snap).ok());
    ASSERT_TRUE(s_.Append({MakeEntry(4, 4, "0123456789"), MakeEntry(5, 5, "0123456789"),
                           MakeEntry(6, 6, "0123456789")})
                    .ok());
  }
  MemoryStorage s_;
};

TEST_F(MemoryStorageTest, EntriesErrorsAndSizeLimit) {
  EXPECT_EQ(RaftErrcOf(s_.Entries(2, 6, kNoLimit).status()), RaftErrc::kCompacted);
  EXPECT_EQ(RaftErrcOf(s_.Entries(3, 4, kNoLimit).status()), RaftErrc::kCompacted);
  EXPECT_EQ(RaftErrcOf(s_.Entries(4, 8, kNoLimit).status()), RaftErrc::kUnavailable);
  EXPECT_EQ(Indexes(*s_.Entries(4, 5, kNoLimit)), (std::vector<uint64_t>{4}));
  EXPECT_EQ(Indexes(*s_.Entries(4, 7, kNoLimit)), (std::vector<uint64_t>{4, 5, 6}));
  EXPECT_EQ(Indexes(*s_.Entries(4, 7, 0)), (std::vector<uint64_t>{4}));
  EXPECT_EQ(Indexes(*s_.Entries(4, 7, 20)), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(Indexes(*s_.Entries(4, 7, 29)), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(Indexes(*s_.Entries(4, 7, 30)), (std::vector<uint64_t>{4, 5, 6}));
}

TEST_F(MemoryStorageTest, TermErrors) {
  EXPECT_EQ(RaftErrcOf(s_.Term(2).status()), RaftErrc::kCompacted);
  EXPECT_EQ(*s_.Term(3), 3u);
  EXPECT_EQ(*s_.Term(6), 6u);
  EXPECT_EQ(RaftErrcOf(s_.Term(7).status()), RaftErrc::kUnavailable);
  EXPECT_EQ(s_.FirstIndex(), 4u);
  EXPECT_EQ(s_.LastIndex(), 6u);
}

TEST_F(MemoryStorageTest, CompactMovesTheDummyEntry) {
  EXPECT_EQ(RaftErrcOf(s_.Compact(2)), RaftErrc::kCompacted);
  EXPECT_EQ(RaftErrcOf(s_.Compact(3)), RaftErrc::kCompacted);
  EXPECT_EQ(RaftErrcOf(s_.Compact(7)), RaftErrc::kUnavailable);
  ASSERT_TRUE(s_.Compact(5).ok());
  EXPECT_EQ(s_.FirstIndex(), 6u);
  EXPECT_EQ(s_.LastIndex(), 6u);
  EXPECT_EQ(*s_.Term(5), 5u);
  EXPECT_EQ(RaftErrcOf(s_.Term(4).status()), RaftErrc::kCompacted);
  EXPECT_EQ(RaftErrcOf(s_.Entries(5, 7, kNoLimit).status()), RaftErrc::kCompacted);
  EXPECT_EQ(Indexes(*s_.Entries(6, 7, kNoLimit)), (std::vector<uint64_t>{6}));
}

TEST_F(MemoryStorageTest, CreateSnapshotRecordsTermConfAndData) {
  ConfState cs = testing::MakeConf({1, 2, 3}, {4});
  auto snap = s_.CreateSnapshot(5, &cs, "state");
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->metadata.index, 5u);
  EXPECT_EQ(snap->metadata.term, 5u);
  EXPECT_EQ(snap->metadata.conf_state, cs);
  EXPECT_EQ(snap->data, "state");
  EXPECT_EQ(*s_.GetSnapshot(), *snap);
  EXPECT_EQ(RaftErrcOf(s_.CreateSnapshot(5, &cs, "").status()), RaftErrc::kSnapOutOfDate);
  EXPECT_EQ(RaftErrcOf(s_.CreateSnapshot(4, &cs, "").status()), RaftErrc::kSnapOutOfDate);
  EXPECT_EQ(RaftErrcOf(s_.CreateSnapshot(7, &cs, "").status()), RaftErrc::kUnavailable);
  // Creating a snapshot does not compact.
  EXPECT_EQ(s_.FirstIndex(), 4u);
  // Without a ConfState the previous one is kept.
  auto next = s_.CreateSnapshot(6, nullptr, "later");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->metadata.conf_state, cs);
}

TEST_F(MemoryStorageTest, ApplySnapshotReplacesStateAndRefusesOlder) {
  Snapshot snap;
  snap.metadata = SnapshotMetadata{testing::MakeConf({1}), 10, 7};
  snap.data = "ten";
  ASSERT_TRUE(s_.ApplySnapshot(snap).ok());
  EXPECT_EQ(s_.FirstIndex(), 11u);
  EXPECT_EQ(s_.LastIndex(), 10u);
  EXPECT_EQ(*s_.Term(10), 7u);
  EXPECT_EQ(s_.GetInitialState()->conf_state, testing::MakeConf({1}));
  Snapshot older;
  older.metadata = SnapshotMetadata{testing::MakeConf({1}), 9, 7};
  EXPECT_EQ(RaftErrcOf(s_.ApplySnapshot(older)), RaftErrc::kSnapOutOfDate);
  EXPECT_EQ(RaftErrcOf(s_.ApplySnapshot(snap)), RaftErrc::kSnapOutOfDate);
  // The empty snapshot (index 0) is always out of date.
  MemoryStorage fresh;
  EXPECT_EQ(RaftErrcOf(fresh.ApplySnapshot(Snapshot{})), RaftErrc::kSnapOutOfDate);
}

TEST_F(MemoryStorageTest, AppendTruncatesSkipsCompactedAndRefusesGaps) {
  // Overwrite from 5: 6 goes away.
  ASSERT_TRUE(s_.Append({MakeEntry(5, 7)}).ok());
  EXPECT_EQ(s_.LastIndex(), 5u);
  EXPECT_EQ(*s_.Term(5), 7u);
  // Entries that start below the compaction point: the compacted prefix is skipped.
  ASSERT_TRUE(s_.Append({MakeEntry(3, 7), MakeEntry(4, 7), MakeEntry(5, 7), MakeEntry(6, 7)}).ok());
  EXPECT_EQ(s_.FirstIndex(), 4u);
  EXPECT_EQ(s_.LastIndex(), 6u);
  EXPECT_EQ(*s_.Term(4), 7u);
  EXPECT_EQ(*s_.Term(3), 3u);
  // Entirely compacted: nothing happens.
  ASSERT_TRUE(s_.Append({MakeEntry(2, 9)}).ok());
  EXPECT_EQ(s_.LastIndex(), 6u);
  // A gap is refused.
  EXPECT_EQ(RaftErrcOf(s_.Append({MakeEntry(8, 7)})), RaftErrc::kInvalidArgument);
  EXPECT_EQ(s_.LastIndex(), 6u);
}

TEST(MemoryStorageErrorsTest, RaftErrcOfRoundTripsAndIgnoresForeignStatuses) {
  EXPECT_EQ(RaftErrcOf(absl::OkStatus()), RaftErrc::kOk);
  EXPECT_EQ(RaftErrcOf(absl::InternalError("x")), RaftErrc::kOk);
  absl::Status s = RaftError(RaftErrc::kCompacted, "detail");
  EXPECT_EQ(RaftErrcOf(s), RaftErrc::kCompacted);
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(absl::StartsWith(s.message(), "kCompacted: detail"));
  EXPECT_TRUE(RaftError(RaftErrc::kOk).ok());
}

}  // namespace
}  // namespace tessera::raft
