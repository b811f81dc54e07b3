// Process metrics from /proc/self/stat, /proc/stat (boot time), /proc/self/fd and the
// RLIMIT_NOFILE limit, refreshed by a registry collector at every scrape.
#include "common/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace tessera::common {
namespace {

// Seconds since the epoch at which the machine booted ("btime" of /proc/stat), or 0.
double BootTime() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

}  // namespace

ProcessSample SampleProcess() {
  ProcessSample s;
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  // Field 2, the command name, is in parentheses and may hold spaces: split after the last ')'.
  const size_t close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f;  // f[0] is field 3 (state)
    for (std::string word; rest >> word;) f.push_back(word);
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    if (f.size() > 21 && ticks > 0) {
      s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;  // utime, stime
      const double boot = BootTime();
      if (boot > 0) s.start_time_seconds = boot + std::stod(f[19]) / ticks;  // starttime
      s.virtual_bytes = std::stod(f[20]);                                    // vsize
      s.resident_bytes = std::stod(f[21]) * page;                            // rss pages
    }
  }
  if (DIR* dir = opendir("/proc/self/fd")) {
    double n = 0;
    while (const dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(dir);
    s.open_fds = n - 1;  // not the descriptor reading the directory
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    s.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return s;
}

void RegisterProcessMetrics(Registry& registry) {
  Gauge* start = registry
                     .AddGauge("process_start_time_seconds",
                               "Start time of the process since unix epoch in seconds.")
                     .Get();
  Counter* cpu = registry
                     .AddCounter("process_cpu_seconds_total",
                                 "Total user and system CPU time spent in seconds.")
                     .Get();
  Gauge* rss =
      registry.AddGauge("process_resident_memory_bytes", "Resident memory size in bytes.").Get();
  Gauge* vsize =
      registry.AddGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").Get();
  Gauge* fds = registry.AddGauge("process_open_fds", "Number of open file descriptors.").Get();
  Gauge* max_fds =
      registry.AddGauge("process_max_fds", "Maximum number of open file descriptors.").Get();
  registry.AddCollector("process", [=] {
    const ProcessSample s = SampleProcess();
    start->Set(s.start_time_seconds);
    // The counter only grows: add what was spent since the last scrape.
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    cpu->Inc(s.cpu_seconds - cpu->Value());
    rss->Set(s.resident_bytes);
    vsize->Set(s.virtual_bytes);
    fds->Set(s.open_fds);
    max_fds->Set(s.max_fds);
  });
}

}  // namespace tessera::common
