// TransferProgress: lines at every tenth of a large transfer and on the interval, none for the
// end (the caller's completion line), and the sizes and rates they print.
#include "common/transfer_progress.h"

#include <gtest/gtest.h>

#include <vector>

namespace tessera::common {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr uint64_t kMiB = 1024 * 1024;

TEST(TransferProgressTest, LargeTransferReportsEveryTenthButNotTheEnd) {
  const auto t0 = TransferProgress::Clock::time_point();
  TransferProgress p(100 * kMiB, t0);
  std::vector<std::string> lines;
  for (uint64_t mib = 1; mib <= 100; ++mib) {
    // 100 MiB over 10 s: 10 MiB/s, never 5 s without a step.
    if (auto line = p.Update(mib * kMiB, t0 + milliseconds(mib * 100))) lines.push_back(*line);
  }
  ASSERT_EQ(lines.size(), 9u);
  EXPECT_EQ(lines.front(), "10% (10.0 of 100.0 MiB), 10.0 MiB/s");
  EXPECT_EQ(lines.back(), "90% (90.0 of 100.0 MiB), 10.0 MiB/s");
  EXPECT_EQ(p.Summary(100 * kMiB, t0 + seconds(10)), "100.0 MiB in 10.0 s, 10.0 MiB/s");
}

TEST(TransferProgressTest, ABigJumpGivesOneLine) {
  const auto t0 = TransferProgress::Clock::time_point();
  TransferProgress p(100 * kMiB, t0);
  ASSERT_EQ(p.Update(55 * kMiB, t0 + seconds(1)), "55% (55.0 of 100.0 MiB), 55.0 MiB/s");
  EXPECT_EQ(p.Update(59 * kMiB, t0 + seconds(1)), std::nullopt);  // still within 50..60
  EXPECT_TRUE(p.Update(60 * kMiB, t0 + seconds(1)).has_value());
}

TEST(TransferProgressTest, SmallTransferReportsOnlyOnTheInterval) {
  const auto t0 = TransferProgress::Clock::time_point();
  TransferProgress p(kMiB, t0);
  EXPECT_EQ(p.Update(kMiB / 2, t0 + seconds(1)), std::nullopt);
  EXPECT_EQ(p.Update(kMiB / 2, t0 + milliseconds(4999)), std::nullopt);
  EXPECT_EQ(p.Update(kMiB / 2, t0 + seconds(5)), "50% (0.5 of 1.0 MiB), 0.1 MiB/s");
  // The interval counts from the last line.
  EXPECT_EQ(p.Update(kMiB * 3 / 4, t0 + seconds(9)), std::nullopt);
  EXPECT_TRUE(p.Update(kMiB * 3 / 4, t0 + seconds(10)).has_value());
  EXPECT_EQ(p.Update(kMiB, t0 + seconds(20)), std::nullopt);  // done: the caller's line
}

TEST(TransferProgressTest, CustomOptionsAndDegenerateSizes) {
  const auto t0 = TransferProgress::Clock::time_point();
  TransferProgress::Options o;
  o.min_bytes_for_steps = 0;
  o.step_percent = 25;
  o.interval = seconds(60);
  TransferProgress p(400, t0, o);
  EXPECT_EQ(p.Update(99, t0), std::nullopt);
  EXPECT_TRUE(p.Update(100, t0).has_value());
  EXPECT_TRUE(p.Update(399, t0).has_value());  // 99%: crosses 50 and 75 at once
  EXPECT_EQ(p.Update(400, t0), std::nullopt);

  TransferProgress empty(0, t0, o);
  EXPECT_EQ(empty.Update(0, t0 + seconds(100)), std::nullopt);
  EXPECT_EQ(empty.Summary(0, t0), "0.0 MiB in 0.0 s, 0.0 MiB/s");
}

}  // namespace
}  // namespace tessera::common
