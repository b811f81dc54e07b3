// Progress lines for long byte transfers: step and interval bookkeeping, and the
// human-readable sizes and rates the operator reads in the log.
#include "common/transfer_progress.h"

#include <algorithm>
#include <cstdio>

namespace tessera::common {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::string Format(const char* fmt, double a, double b = 0, double c = 0, double d = 0) {
  char buf[128];
  std::snprintf(buf, sizeof(buf), fmt, a, b, c, d);
  return buf;
}

double Seconds(TransferProgress::Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Bytes per second over the whole transfer; a zero elapsed time counts as a millisecond.
double MiBPerSecond(uint64_t bytes, TransferProgress::Clock::duration elapsed) {
  return static_cast<double>(bytes) / kMiB / std::max(Seconds(elapsed), 0.001);
}

// Whole percent done, rounded down so that a step line never claims more than was done.
int Percent(uint64_t done, uint64_t total) {
  if (total == 0 || done >= total) return 100;
  return static_cast<int>(static_cast<double>(done) * 100.0 / static_cast<double>(total));
}

}  // namespace

TransferProgress::TransferProgress(uint64_t total_bytes, Clock::time_point start)
    : TransferProgress(total_bytes, start, Options()) {}

TransferProgress::TransferProgress(uint64_t total_bytes, Clock::time_point start, Options options)
    : total_(total_bytes),
      start_(start),
      options_(options),
      last_line_(start),
      next_step_(total_bytes >= options.min_bytes_for_steps && options.step_percent > 0
                     ? options.step_percent
                     : 101) {}

std::optional<std::string> TransferProgress::Update(uint64_t done, Clock::time_point now) {
  const int percent = Percent(done, total_);
  const bool step = percent >= next_step_ && percent < 100;
  const bool overdue = now - last_line_ >= options_.interval && percent < 100;
  if (!step && !overdue) return std::nullopt;
  if (next_step_ <= 100) {
    while (next_step_ <= percent) next_step_ += options_.step_percent;
  }
  last_line_ = now;
  return Line(done, now);
}

std::string TransferProgress::Line(uint64_t done, Clock::time_point now) const {
  return Format("%.0f%% (%.1f of %.1f MiB), %.1f MiB/s", Percent(done, total_),
                static_cast<double>(done) / kMiB, static_cast<double>(total_) / kMiB,
                MiBPerSecond(done, now - start_));
}

std::string TransferProgress::Summary(uint64_t done, Clock::time_point now) const {
  return Format("%.1f MiB in %.1f s, %.1f MiB/s", static_cast<double>(done) / kMiB,
                Seconds(now - start_), MiBPerSecond(done, now - start_));
}

}  // namespace tessera::common
