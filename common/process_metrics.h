// The standard process metrics of Prometheus client libraries (process_start_time_seconds,
// process_cpu_seconds_total, memory, file descriptors), read from /proc at every scrape.
#pragma once

#include "common/metrics.h"

namespace tessera::common {

// Registers the families in `registry` and a collector refreshing them before each
// exposition. Calling it again on the same registry does nothing more.
void RegisterProcessMetrics(Registry& registry);

// Parsed from /proc/self; fields a kernel does not give stay 0.
struct ProcessSample {
  double start_time_seconds = 0;  // since the Unix epoch
  double cpu_seconds = 0;         // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
};
ProcessSample SampleProcess();

}  // namespace tessera::common
