// INFO: Redis 7.0's section selection and format over the shard's figures (see info.h).
#include "shard/redis/info.h"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "shard/data/gc.h"
#include "shard/data/store.h"
#include "shard/kv/kv_state_machine.h"

namespace tessera::shard {
namespace {

constexpr std::string_view kSectionNames[] = {"server",      "clients", "memory",
                                              "persistence", "stats",   "replication",
                                              "cpu",         "cluster", "keyspace"};
static_assert(std::size(kSectionNames) == static_cast<size_t>(InfoSection::kCount));

// Redis 7.0's "default" set is every section it prints without commandstats and latencystats,
// which Tessera does not keep: here "default", "all" and "everything" coincide.
InfoSections AllSections() { return InfoSections().set(); }

bool Has(InfoSections s, InfoSection section) { return s.test(static_cast<size_t>(section)); }

void Field(std::string* out, std::string_view name, std::string_view value) {
  absl::StrAppend(out, absl::string_view(name.data(), name.size()), ":",
                  absl::string_view(value.data(), value.size()), "\r\n");
}
void Field(std::string* out, std::string_view name, uint64_t value) {
  Field(out, name, absl::StrCat(value));
}
void Field(std::string* out, std::string_view name, double value, int decimals = 2) {
  Field(out, name, absl::StrFormat("%.*f", decimals, value));
}

// A random 40-hex-digit id fixed for the life of the process, like Redis's run_id.
const std::string& RunId() {
  static const std::string id = [] {
    std::random_device rd;
    std::string hex;
    for (int i = 0; i < 40; ++i) hex.push_back("0123456789abcdef"[rd() % 16]);
    return hex;
  }();
  return id;
}

std::string OsName() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return absl::StrCat(u.sysname, " ", u.release, " ", u.machine);
}

std::string Executable() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
}

// Seconds since the process started: /proc/self/stat's starttime against /proc/uptime.
uint64_t UptimeSeconds() {
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(line.substr(paren + 2), ' ');
  // starttime is field 22 of the file, the 20th after "pid (comm)".
  uint64_t start_ticks = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &start_ticks)) return 0;
  std::ifstream uptime_file("/proc/uptime");
  double uptime = 0;
  uptime_file >> uptime;
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return 0;
  const double started = static_cast<double>(start_ticks) / static_cast<double>(ticks);
  return uptime > started ? static_cast<uint64_t>(uptime - started) : 0;
}

uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t RocksAggregate(const StorageEngine& engine, const std::string& property) {
  uint64_t value = 0;
  if (!engine.db()->GetAggregatedIntProperty(property, &value)) return 0;
  return value;
}

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

std::string Suffrage(const raft::ConfState& cs, raft::NodeId self) {
  if (cs.IsVoter(self)) return "voter";
  if (cs.IsLearner(self)) return "learner";
  return "none";
}

// INFO's cold_start field: the §9 outcome label, or "none" when no snapshot was recorded.
const char* ColdStartDecisionName(const std::optional<ColdStartDecision>& d) {
  if (!d.has_value()) return "none";
  switch (*d) {
    case ColdStartDecision::kSkip:
      return "skipped";
    case ColdStartDecision::kExecute:
      return "executed";
    case ColdStartDecision::kFallback:
      return "fallback";
  }
  return "unknown";
}

bool Leads(const GroupFigures& g) {
  return g.status.has_value() && g.status->role == raft::Role::kLeader;
}

std::string KeyspaceLine(const KeyspaceFigures& k) {
  return absl::StrCat("keys=", k.keys, ",expires=", k.expires, ",avg_ttl=", k.avg_ttl_ms,
                      k.partial ? ",partial=1" : "");
}

void RenderServer(const InfoFigures& f, std::string* out) {
  Field(out, "redis_version", f.redis_version);
  Field(out, "redis_git_sha1", "00000000");
  Field(out, "redis_git_dirty", "0");
  Field(out, "redis_mode", "cluster");
  Field(out, "os", f.os);
  Field(out, "arch_bits", uint64_t{sizeof(void*) * 8});
  Field(out, "multiplexing_api", "epoll");
  Field(out, "process_id", f.process_id);
  Field(out, "run_id", f.run_id);
  Field(out, "tcp_port", static_cast<uint64_t>(f.tcp_port));
  Field(out, "server_time_usec", f.server_time_usec);
  Field(out, "uptime_in_seconds", f.uptime_seconds);
  Field(out, "uptime_in_days", f.uptime_seconds / 86400);
  Field(out, "executable", f.executable);
  Field(out, "tessera_node_id", f.node_id);
}

void RenderClients(const InfoFigures& f, std::string* out) {
  Field(out, "connected_clients", uint64_t{f.clients.connected});
  Field(out, "cluster_connections", "0");
  Field(out, "client_recent_max_input_buffer", uint64_t{f.clients.recent_max_input_buffer});
  Field(out, "client_recent_max_output_buffer", uint64_t{f.clients.recent_max_output_buffer});
  Field(out, "blocked_clients", uint64_t{f.clients.blocked});
  Field(out, "tracking_clients", "0");
  Field(out, "clients_in_timeout_table", uint64_t{f.clients.blocked});
}

void RenderMemory(const InfoFigures& f, std::string* out) {
  const uint64_t peak = std::max(f.stats.used_memory_peak, f.used_memory);
  Field(out, "used_memory", f.used_memory);
  Field(out, "used_memory_human", BytesToHuman(f.used_memory));
  Field(out, "used_memory_rss", f.used_memory_rss);
  Field(out, "used_memory_rss_human", BytesToHuman(f.used_memory_rss));
  Field(out, "used_memory_peak", peak);
  Field(out, "used_memory_peak_human", BytesToHuman(peak));
  Field(out, "total_system_memory", f.total_system_memory);
  Field(out, "total_system_memory_human", BytesToHuman(f.total_system_memory));
  Field(out, "maxmemory", "0");
  Field(out, "maxmemory_human", "0B");
  Field(out, "maxmemory_policy", "noeviction");
  Field(out, "mem_fragmentation_ratio",
        f.used_memory == 0
            ? 0.0
            : static_cast<double>(f.used_memory_rss) / static_cast<double>(f.used_memory));
  Field(out, "mem_allocator", "libc");
  Field(out, "lazyfree_pending_objects", f.lazyfree_pending);
  Field(out, "rocksdb_memtables_bytes", f.rocksdb_memtables);
  Field(out, "rocksdb_block_cache_bytes", f.rocksdb_block_cache);
  Field(out, "rocksdb_table_readers_bytes", f.rocksdb_table_readers);
  Field(out, "rocksdb_live_sst_bytes", f.rocksdb_live_sst);
  Field(out, "read_cache_bytes", f.read_cache_bytes);
  Field(out, "read_cache_capacity_bytes", f.read_cache_capacity);
  Field(out, "read_cache_hits", f.read_cache_hits);
  Field(out, "read_cache_misses", f.read_cache_misses);
}

void RenderPersistence(const InfoFigures& f, std::string* out) {
  Field(out, "loading", "0");
  Field(out, "async_loading", "0");
  Field(out, "rdb_bgsave_in_progress", "0");
  Field(out, "aof_enabled", "0");
  Field(out, "raft_log_syncs", f.driver.log_syncs);
  Field(out, "raft_entries_persisted", f.driver.entries_persisted);
  Field(out, "apply_batches", f.driver.apply_batches);
  Field(out, "entries_applied", f.driver.entries_applied);
  Field(out, "snapshots_created", f.driver.snapshots_created);
  Field(out, "snapshots_installed", f.driver.snapshots_installed);
}

void RenderStats(const InfoFigures& f, std::string* out) {
  const ListenerStats& s = f.stats;
  Field(out, "total_connections_received", s.connections_received);
  Field(out, "total_commands_processed", s.commands_processed);
  Field(out, "instantaneous_ops_per_sec", static_cast<uint64_t>(s.ops.PerSecond() + 0.5));
  Field(out, "total_net_input_bytes", s.net_input_bytes);
  Field(out, "total_net_output_bytes", s.net_output_bytes);
  Field(out, "instantaneous_input_kbps", s.input.PerSecond() / 1024);
  Field(out, "instantaneous_output_kbps", s.output.PerSecond() / 1024);
  Field(out, "rejected_connections", s.rejected_connections);
  Field(out, "evicted_keys", "0");
  Field(out, "pubsub_channels", s.pubsub_channels);
  Field(out, "pubsub_patterns", s.pubsub_patterns);
  Field(out, "total_error_replies", s.error_replies);
  Field(out, "lease_read_batches", s.lease_read_batches);
  Field(out, "read_index_batches", s.read_index_batches);
}

void RenderReplication(const InfoFigures& f, std::string* out) {
  size_t led = 0;
  for (const GroupFigures& g : f.groups) led += Leads(g) ? 1 : 0;
  // Redis's own field, for tools that look for a master: this node leads some group.
  Field(out, "role", led > 0 ? "master" : "slave");
  Field(out, "connected_slaves", "0");
  Field(out, "raft_groups", uint64_t{f.groups.size()});
  Field(out, "raft_groups_led", uint64_t{led});
  for (const GroupFigures& g : f.groups) {
    absl::StrAppend(out, "\r\n# Replication group ", g.id, "\r\n");
    Field(out, "group_id", g.id);
    if (!g.status.has_value()) {
      Field(out, "role", "unknown");
      continue;
    }
    const GroupStatus& st = *g.status;
    Field(out, "role", raft::RoleName(st.role));
    Field(out, "leader_node_id", st.leader);
    Field(out, "suffrage", g.suffrage);
    Field(out, "term", st.term);
    Field(out, "commit_index", st.commit);
    Field(out, "applied_index", st.applied);
    Field(out, "last_index", st.last_index);
    Field(out, "voters", uint64_t{st.conf_state.voters.size()});
    Field(out, "learners", uint64_t{st.conf_state.learners.size()});
    Field(out, "snapshot_index", st.snapshot_index);
    Field(out, "first_log_index", st.first_index);
    Field(out, "cold_start", ColdStartDecisionName(st.cold_start));
  }
}

void RenderCpu(const InfoFigures& f, std::string* out) {
  Field(out, "used_cpu_sys", f.cpu_sys, 6);
  Field(out, "used_cpu_user", f.cpu_user, 6);
  Field(out, "used_cpu_sys_children", f.cpu_sys_children, 6);
  Field(out, "used_cpu_user_children", f.cpu_user_children, 6);
}

// CONFIG GET cluster-enabled and HELLO's mode say the same: keys are routed by slot.
void RenderCluster(const InfoFigures&, std::string* out) { Field(out, "cluster_enabled", "1"); }

void RenderKeyspace(const InfoFigures& f, std::string* out) {
  // db0 is what a client can reach through this node: the groups it leads.
  KeyspaceFigures db0;
  uint64_t ttl_total = 0;
  bool any = false;
  for (const GroupFigures& g : f.groups) {
    if (!Leads(g) || !g.keyspace.has_value()) continue;
    any = true;
    db0.keys += g.keyspace->keys;
    db0.expires += g.keyspace->expires;
    ttl_total += g.keyspace->avg_ttl_ms * g.keyspace->expires;
    db0.partial = db0.partial || g.keyspace->partial;
  }
  db0.avg_ttl_ms = db0.expires == 0 ? 0 : ttl_total / db0.expires;
  // Redis omits an empty db.
  if (any && db0.keys > 0) Field(out, "db0", KeyspaceLine(db0));
  for (const GroupFigures& g : f.groups) {
    if (!g.keyspace.has_value()) continue;
    Field(out, absl::StrCat("group", g.id),
          absl::StrCat(KeyspaceLine(*g.keyspace), ",role=",
                       g.status.has_value() ? raft::RoleName(g.status->role) : "unknown"));
  }
}

}  // namespace

InfoSections SelectInfoSections(std::span<const std::string> args) {
  if (args.empty()) return AllSections();
  InfoSections selected;
  for (const std::string& arg : args) {
    const std::string word = absl::AsciiStrToLower(arg);
    if (word == "default" || word == "all" || word == "everything") {
      selected |= AllSections();
      continue;
    }
    for (size_t i = 0; i < std::size(kSectionNames); ++i) {
      if (word == kSectionNames[i]) selected.set(i);
    }
  }
  return selected;
}

void RateSampler::Sample(uint64_t now_ms, uint64_t total) {
  if (!started_) {
    started_ = true;
    last_ms_ = now_ms;
    last_total_ = total;
    return;
  }
  if (now_ms < last_ms_ + kPeriodMs) return;
  const uint64_t elapsed = now_ms - last_ms_;
  const double rate =
      static_cast<double>(total - last_total_) * 1000.0 / static_cast<double>(elapsed);
  const size_t periods = std::min<uint64_t>(elapsed / kPeriodMs, kSamples);
  for (size_t i = 0; i < periods; ++i) {
    samples_[next_] = rate;
    next_ = (next_ + 1) % kSamples;
  }
  last_ms_ = now_ms;
  last_total_ = total;
}

double RateSampler::PerSecond() const {
  double sum = 0;
  for (double s : samples_) sum += s;
  return sum / kSamples;
}

std::string BytesToHuman(uint64_t bytes) {
  const double n = static_cast<double>(bytes);
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  if (bytes < (uint64_t{1} << 20)) return absl::StrFormat("%.2fK", n / 1024);
  if (bytes < (uint64_t{1} << 30)) return absl::StrFormat("%.2fM", n / (1 << 20));
  if (bytes < (uint64_t{1} << 40)) return absl::StrFormat("%.2fG", n / (1 << 30));
  if (bytes < (uint64_t{1} << 50)) return absl::StrFormat("%.2fT", n / (uint64_t{1} << 40));
  return absl::StrFormat("%.2fP", n / (uint64_t{1} << 50));
}

std::string RenderInfo(InfoSections sections, const InfoFigures& figures) {
  using Render = void (*)(const InfoFigures&, std::string*);
  struct Part {
    InfoSection section;
    std::string_view title;
    Render render;
  };
  static constexpr Part kParts[] = {
      {InfoSection::kServer, "Server", &RenderServer},
      {InfoSection::kClients, "Clients", &RenderClients},
      {InfoSection::kMemory, "Memory", &RenderMemory},
      {InfoSection::kPersistence, "Persistence", &RenderPersistence},
      {InfoSection::kStats, "Stats", &RenderStats},
      {InfoSection::kReplication, "Replication", &RenderReplication},
      {InfoSection::kCpu, "CPU", &RenderCpu},
      {InfoSection::kCluster, "Cluster", &RenderCluster},
      {InfoSection::kKeyspace, "Keyspace", &RenderKeyspace},
  };
  std::string out;
  for (const Part& part : kParts) {
    if (!Has(sections, part.section)) continue;
    if (!out.empty()) out.append("\r\n");
    absl::StrAppend(&out, "# ", absl::string_view(part.title.data(), part.title.size()), "\r\n");
    part.render(figures, &out);
  }
  return out;
}

absl::StatusOr<KeyspaceFigures> CountKeyspace(StorageEngine* engine, GroupId gid, uint64_t now_ms,
                                              size_t max_rows) {
  data::ExecContext ctx{engine, gid, nullptr, now_ms, 0};
  data::RowIterator it(ctx, data::MetadataKeyEnd(gid));
  KeyspaceFigures k;
  uint64_t ttl_total = 0;
  size_t rows = 0;
  for (it.Seek(data::MetadataKeyBegin(gid)); it.Valid(); it.Next()) {
    if (rows++ == max_rows) {
      k.partial = true;
      break;
    }
    absl::StatusOr<data::Metadata> m = data::DecodeMetadataHead(it.value());
    if (!m.ok()) return m.status();
    if (m->Expired(now_ms)) continue;
    ++k.keys;
    if (m->expire_at_ms != 0) {
      ++k.expires;
      ttl_total += m->expire_at_ms - now_ms;
    }
  }
  if (absl::Status s = it.status(); !s.ok()) return s;
  k.avg_ttl_ms = k.expires == 0 ? 0 : ttl_total / k.expires;
  return k;
}

uint64_t CountGarbage(const StorageEngine& engine, GroupId gid, size_t max_rows,
                      uint64_t max_skipped) {
  const std::string begin = data::GarbageKeyBegin(gid);
  const std::string end = data::GarbageKeyEnd(gid);
  const rocksdb::Slice upper(end);
  rocksdb::ReadOptions options;
  options.iterate_upper_bound = &upper;
  options.max_skippable_internal_keys = max_skipped;  // Incomplete past it
  std::unique_ptr<rocksdb::Iterator> it(engine.db()->NewIterator(options, engine.data()));
  uint64_t rows = 0;
  for (it->Seek(begin); it->Valid() && rows < max_rows; it->Next()) ++rows;
  return rows;
}

InfoFigures GatherInfo(InfoSections sections, const Driver& driver, std::span<const GroupId> groups,
                       const ListenerFigures& listener) {
  InfoFigures f;
  f.redis_version = std::string(listener.redis_version);
  f.node_id = driver.node_id();
  f.tcp_port = listener.tcp_port;
  f.clients = listener.clients;
  if (listener.stats != nullptr) f.stats = *listener.stats;
  if (Has(sections, InfoSection::kServer)) {
    f.process_id = static_cast<uint64_t>(getpid());
    f.run_id = RunId();
    f.os = OsName();
    f.executable = Executable();
    f.server_time_usec =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
    f.uptime_seconds = UptimeSeconds();
  }
  if (Has(sections, InfoSection::kMemory)) {
    const struct mallinfo2 mi = mallinfo2();
    f.used_memory = mi.uordblks + mi.hblkhd;
    f.used_memory_rss = ResidentBytes();
    f.total_system_memory = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                            static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    if (listener.stats != nullptr) {
      listener.stats->used_memory_peak = std::max(listener.stats->used_memory_peak, f.used_memory);
      f.stats.used_memory_peak = listener.stats->used_memory_peak;
    }
    const StorageEngine& engine = *driver.engine();
    f.rocksdb_memtables = RocksAggregate(engine, "rocksdb.cur-size-all-mem-tables");
    f.rocksdb_block_cache = RocksAggregate(engine, "rocksdb.block-cache-usage");
    f.rocksdb_table_readers = RocksAggregate(engine, "rocksdb.estimate-table-readers-mem");
    f.rocksdb_live_sst = RocksAggregate(engine, "rocksdb.live-sst-files-size");
    f.read_cache_bytes = engine.row_cache()->bytes();
    f.read_cache_capacity = engine.row_cache()->capacity();
    f.read_cache_hits = engine.row_cache()->hits();
    f.read_cache_misses = engine.row_cache()->misses();
    for (GroupId gid : groups) {
      f.lazyfree_pending += CountGarbage(engine, gid, kGarbageCountRows, kGarbageCountRows);
    }
  }
  if (Has(sections, InfoSection::kPersistence)) f.driver = driver.counters();
  if (Has(sections, InfoSection::kCpu)) {
    rusage self{}, children{};
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    f.cpu_sys = Seconds(self.ru_stime);
    f.cpu_user = Seconds(self.ru_utime);
    f.cpu_sys_children = Seconds(children.ru_stime);
    f.cpu_user_children = Seconds(children.ru_utime);
  }
  if (Has(sections, InfoSection::kReplication) || Has(sections, InfoSection::kKeyspace)) {
    for (GroupId gid : groups) {
      GroupFigures g;
      g.id = gid;
      if (absl::StatusOr<GroupStatus> st = driver.Status(gid); st.ok()) {
        g.suffrage = Suffrage(st->conf_state, driver.node_id());
        g.status = *std::move(st);
      }
      if (Has(sections, InfoSection::kKeyspace)) {
        const uint64_t now = std::max(WallClockMs(), driver.kv().clock_ceiling_ms(gid));
        absl::StatusOr<KeyspaceFigures> k =
            CountKeyspace(driver.engine(), gid, now, kKeyspaceWalkRows);
        if (k.ok()) g.keyspace = *k;
      }
      f.groups.push_back(std::move(g));
    }
  }
  return f;
}

}  // namespace tessera::shard
