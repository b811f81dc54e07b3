// Process metrics: plausible values from /proc and their exposition at every scrape.
#include "common/process_metrics.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace tessera::common {
namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The value of an unlabelled sample `name` in `text`, or -1.
double SampleValue(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

TEST(ProcessMetricsTest, SampleIsPlausible) {
  const ProcessSample s = SampleProcess();
  EXPECT_LE(s.start_time_seconds, NowSeconds() + 1);
  EXPECT_GT(s.start_time_seconds, NowSeconds() - 24 * 3600);  // a test binary started today
  EXPECT_GE(s.cpu_seconds, 0);
  EXPECT_GT(s.resident_bytes, 1 << 20);
  EXPECT_GE(s.virtual_bytes, s.resident_bytes);
  EXPECT_GE(s.open_fds, 3);  // stdin, stdout, stderr
}

TEST(ProcessMetricsTest, OpenFdsFollowTheProcess) {
  const double before = SampleProcess().open_fds;
  const int fd = open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(SampleProcess().open_fds, before + 1);
  close(fd);
  EXPECT_EQ(SampleProcess().open_fds, before);
}

TEST(ProcessMetricsTest, ExposedAndRefreshedAtEveryScrape) {
  Registry registry;
  RegisterProcessMetrics(registry);
  RegisterProcessMetrics(registry);  // twice is harmless
  const std::string first = registry.Exposition();
  EXPECT_NE(first.find("# TYPE process_start_time_seconds gauge"), std::string::npos);
  EXPECT_NE(first.find("# TYPE process_cpu_seconds_total counter"), std::string::npos);
  EXPECT_GT(SampleValue(first, "process_start_time_seconds"), NowSeconds() - 24 * 3600);
  EXPECT_GT(SampleValue(first, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(SampleValue(first, "process_max_fds"), 0);
  // Burn some CPU: the counter follows and never goes down.
  const double cpu_before = SampleValue(first, "process_cpu_seconds_total");
  volatile uint64_t x = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (std::chrono::steady_clock::now() < until) x = x + 1;
  const std::string second = registry.Exposition();
  EXPECT_GT(SampleValue(second, "process_cpu_seconds_total"), cpu_before);
}

}  // namespace
}  // namespace tessera::common
