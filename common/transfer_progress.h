// Progress lines for long byte transfers (snapshot send, receive, install): one at every tenth
// of the total and at least every few seconds, with bytes, percent and rate.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tessera::common {

// Not thread-safe: one transfer, one owner. The caller logs the lines it returns, so the
// wording around them (what, which group, which peer) stays with the caller.
class TransferProgress {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    // Below this size only the interval produces lines: ten lines for a tiny snapshot are noise.
    uint64_t min_bytes_for_steps = 16ull << 20;
    int step_percent = 10;
    std::chrono::milliseconds interval{5000};
  };

  TransferProgress(uint64_t total_bytes, Clock::time_point start);
  TransferProgress(uint64_t total_bytes, Clock::time_point start, Options options);

  // A line such as "40% (6.4 of 16.0 MiB), 12.8 MiB/s" when `done` bytes reach the next step
  // (below 100%: the caller's completion line covers the end) or `interval` has passed since
  // the last line; nullopt otherwise. `done` never goes back.
  std::optional<std::string> Update(uint64_t done, Clock::time_point now);

  // For the completion line: "16.0 MiB in 1.3 s, 12.8 MiB/s".
  std::string Summary(uint64_t done, Clock::time_point now) const;

 private:
  std::string Line(uint64_t done, Clock::time_point now) const;

  uint64_t total_;
  Clock::time_point start_;
  Options options_;
  Clock::time_point last_line_;
  int next_step_;  // percent; past 100 when steps are off
};

}  // namespace tessera::common
