// INFO on the shard's listener: Redis 7.0's section selection and text format, the listener's
// own counters, and the figures gathered from the driver, RocksDB and the process.
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shard/driver/driver.h"

namespace tessera::shard {

// Sections in the order Redis prints them, whatever order the client asked for.
enum class InfoSection {
  kServer,
  kClients,
  kMemory,
  kPersistence,
  kStats,
  kReplication,  // includes one "# Replication group <id>" subsection per hosted group
  kCpu,
  kCluster,
  kKeyspace,
  kCount,
};
using InfoSections = std::bitset<static_cast<size_t>(InfoSection::kCount)>;

// INFO's arguments (after the command name), as Redis 7.0 reads them: none means "default";
// "default", "all" and "everything" add their sets; any other word names one section, case
// insensitive; unknown names select nothing (Redis answers an empty string for them).
InfoSections SelectInfoSections(std::span<const std::string> args);

// A rate over the last ~1.6 s, like Redis's instantaneous_* metrics: a ring of 16 samples taken
// at least 100 ms apart from a monotonic counter.
class RateSampler {
 public:
  // Samples `total` at `now_ms` (monotonic) when 100 ms passed since the last sample. An idle
  // gap of k periods counts as k samples of the average rate over it (at most all 16).
  void Sample(uint64_t now_ms, uint64_t total);
  // Units per second: the mean of the samples.
  double PerSecond() const;

 private:
  static constexpr size_t kSamples = 16;
  static constexpr uint64_t kPeriodMs = 100;
  std::array<double, kSamples> samples_{};
  size_t next_ = 0;
  bool started_ = false;
  uint64_t last_ms_ = 0;
  uint64_t last_total_ = 0;
};

// Counters the listener keeps. One libuv loop thread owns them: plain integers, no atomics or
// locks on the hot path; INFO renders on that same thread.
struct ListenerStats {
  uint64_t connections_received = 0;
  uint64_t rejected_connections = 0;  // accept failures (the listener sets no client cap)
  uint64_t commands_processed = 0;
  uint64_t net_input_bytes = 0;
  uint64_t net_output_bytes = 0;
  uint64_t error_replies = 0;
  uint64_t used_memory_peak = 0;  // the largest used_memory an INFO call saw
  // Channels with a subscriber and distinct patterns, as the listener saw them at INFO.
  uint64_t pubsub_channels = 0;
  uint64_t pubsub_patterns = 0;
  // Read barriers: batches of reads the lease let through on the listener, and batches sent to
  // the driver as one ReadIndex request.
  uint64_t lease_read_batches = 0;
  uint64_t read_index_batches = 0;
  RateSampler ops;
  RateSampler input;
  RateSampler output;

  // One command dispatched at `now_ms` (the loop's cached monotonic time).
  void RecordCommand(uint64_t now_ms) {
    ++commands_processed;
    Sample(now_ms);
  }
  void Sample(uint64_t now_ms) {
    ops.Sample(now_ms, commands_processed);
    input.Sample(now_ms, net_input_bytes);
    output.Sample(now_ms, net_output_bytes);
  }
};

// What the listener knows about its connections when INFO runs.
struct ClientFigures {
  size_t connected = 0;
  size_t blocked = 0;  // clients waiting in a blocking command
  size_t recent_max_input_buffer = 0;
  size_t recent_max_output_buffer = 0;
};

// Live keys of one group as a bounded walk of its metadata rows saw them.
struct KeyspaceFigures {
  uint64_t keys = 0;
  uint64_t expires = 0;
  uint64_t avg_ttl_ms = 0;
  bool partial = false;  // the walk stopped at its row budget: the counts are lower bounds
};

struct GroupFigures {
  GroupId id = 0;
  std::optional<GroupStatus> status;  // nullopt: the driver does not report the group
  std::string suffrage;               // this node's: "voter", "learner" or "none"
  std::optional<KeyspaceFigures> keyspace;
};

// Everything RenderInfo prints; GatherInfo fills only what the selected sections need.
struct InfoFigures {
  // Server
  std::string redis_version;
  uint64_t node_id = 0;
  int tcp_port = 0;
  uint64_t process_id = 0;
  std::string run_id;
  std::string os;
  std::string executable;
  uint64_t server_time_usec = 0;
  uint64_t uptime_seconds = 0;
  // Clients and Stats
  ClientFigures clients;
  ListenerStats stats;
  // Memory
  uint64_t used_memory = 0;  // bytes the allocator handed out (glibc mallinfo2)
  uint64_t used_memory_rss = 0;
  uint64_t total_system_memory = 0;
  uint64_t rocksdb_memtables = 0;
  uint64_t rocksdb_block_cache = 0;
  uint64_t rocksdb_table_readers = 0;
  uint64_t rocksdb_live_sst = 0;
  uint64_t lazyfree_pending = 0;  // garbage rows queued for collection, every hosted group
  uint64_t read_cache_bytes = 0;  // storage/row_cache.h
  uint64_t read_cache_capacity = 0;
  uint64_t read_cache_hits = 0;
  uint64_t read_cache_misses = 0;
  // Persistence (raft's group commit)
  DriverCounters driver;
  // CPU, seconds
  double cpu_sys = 0, cpu_user = 0, cpu_sys_children = 0, cpu_user_children = 0;
  // Replication and Keyspace, one entry per hosted group in id order
  std::vector<GroupFigures> groups;
};

// The INFO text: "# Section\r\n" then "field:value\r\n" lines, sections separated by "\r\n".
std::string RenderInfo(InfoSections sections, const InfoFigures& figures);

// Redis's bytesToHuman: "951.30K", "11.73M", "0B".
std::string BytesToHuman(uint64_t bytes);

// The listener's part of INFO; the rest comes from the driver and the process.
struct ListenerFigures {
  std::string_view redis_version;
  int tcp_port = 0;
  ClientFigures clients;
  ListenerStats* stats = nullptr;  // GatherInfo raises used_memory_peak
};

// Walks at most this many metadata rows per group for the keyspace section.
inline constexpr size_t kKeyspaceWalkRows = 200'000;
// Counts at most this many garbage rows per group for lazyfree_pending_objects.
inline constexpr size_t kGarbageCountRows = 100'000;

// Live keys, keys with a TTL and their mean remaining TTL in group `gid` at `now_ms`, from at
// most `max_rows` metadata rows. Reads RocksDB only; safe on any thread.
absl::StatusOr<KeyspaceFigures> CountKeyspace(StorageEngine* engine, GroupId gid, uint64_t now_ms,
                                              size_t max_rows);

// Dead collection versions queued for background collection in `gid` (data/gc.h), counting at
// most `max_rows` rows and stepping over at most `max_skipped` deleted ones (a sweep leaves
// tombstones until compaction): a lower bound when either limit is hit.
uint64_t CountGarbage(const StorageEngine& engine, GroupId gid, size_t max_rows,
                      uint64_t max_skipped);

// Collects the figures `sections` print. Runs on the listener thread; the keyspace walk reads
// RocksDB directly (bounded by kKeyspaceWalkRows per group).
InfoFigures GatherInfo(InfoSections sections, const Driver& driver, std::span<const GroupId> groups,
                       const ListenerFigures& listener);

}  // namespace tessera::shard
