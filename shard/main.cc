// tessera-shard: one process hosting replicas of several Raft groups. Wires the flags, the
// membership declaration, RocksDB, the gRPC raft transport and the multi-group driver,
// then waits for SIGTERM/SIGINT and shuts down in reverse order.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/process_metrics.h"
#include "shard/admin/admin_auth.h"
#include "shard/admin/raft_admin_service.h"
#include "shard/config/config_errc.h"
#include "shard/config/membership_flags.h"
#include "shard/config/shard_flags.h"
#include "shard/driver/driver.h"
#include "shard/encryption/admin_service.h"
#include "shard/encryption/driver_node.h"
#include "shard/encryption/resync.h"
#include "shard/encryption/startup.h"
#include "shard/encryption/value_codec.h"
#include "shard/membership/peers_record.h"
#include "shard/metrics/metrics_http.h"
#include "shard/redis/redis_server.h"
#include "shard/storage/engine.h"
#include "shard/storage/keys.h"
#include "shard/topology/topology_service.h"
#include "shard/transport/grpc_transport.h"
#include "spdlog/spdlog.h"

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

std::string Str(const absl::Status& s) { return std::string(s.ToString()); }

// Raft listeners of the default group's other members: the persisted peers record, then the
// declared bootstrap list.
std::vector<std::string> DefaultGroupAddresses(tessera::shard::StorageEngine* engine,
                                               tessera::shard::GroupId gid,
                                               const tessera::shard::MembershipConfig& membership) {
  using namespace tessera::shard;
  std::vector<std::string> out;
  std::string own;
  if (auto it = membership.groups.find(gid); it != membership.groups.end()) own = it->second;
  std::string bytes;
  if (engine->db()
          ->Get(rocksdb::ReadOptions(), engine->meta(), MetaKey(gid, meta::kPeers), &bytes)
          .ok()) {
    if (absl::StatusOr<PeersRecord> peers = DecodePeersRecord(bytes); peers.ok()) {
      for (const Server& s : peers->peers) {
        if (s.address != own) out.push_back(s.address);
      }
    }
  }
  if (auto it = membership.bootstrap_lists.find(gid); it != membership.bootstrap_lists.end()) {
    for (const Server& s : it->second) {
      if (s.address != own) out.push_back(s.address);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera::shard;
  std::string help;
  absl::StatusOr<ShardFlags> flags = ParseShardFlags(argc, argv, &help);
  if (!flags.ok()) {
    std::fprintf(stderr, "tessera-shard: %s\n\nRun with --help for every flag.\n",
                 std::string(flags.status().message()).c_str());
    return kExitUsage;
  }
  if (flags->help_requested) {
    std::fputs(help.c_str(), stdout);
    return 0;
  }
  absl::StatusOr<MembershipConfig> membership = ResolveMembership(flags->membership());
  if (!membership.ok()) {
    // The message starts with the violated rule (ConfigErrc name) and names the group/member.
    std::fprintf(stderr, "tessera-shard: invalid membership flags: %s\n",
                 std::string(membership.status().message()).c_str());
    return kExitUsage;
  }
  for (const std::string& w : membership->warnings) spdlog::warn("{}", w);
  std::string admin_token;
  if (!flags->admin_token_file.empty()) {
    absl::StatusOr<std::string> token = LoadAdminToken(flags->admin_token_file);
    if (!token.ok()) {
      std::fprintf(stderr, "tessera-shard: %s\n", std::string(token.status().message()).c_str());
      return kExitUsage;
    }
    admin_token = *std::move(token);
  }
  if (absl::Status s =
          CheckAdminExposure(membership->groups, !admin_token.empty(), flags->admin_insecure);
      !s.ok()) {
    std::fprintf(stderr, "tessera-shard: %s\n", std::string(s.message()).c_str());
    return kExitUsage;
  }
  if (flags->admin_insecure && admin_token.empty()) {
    spdlog::warn("--adminInsecure: RaftAdmin accepts calls without a token on every listener");
  }
  // Signals are handled by sigwait on this thread only; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  EngineOptions engine_options;
  engine_options.read_cache_bytes = flags->read_cache_bytes;
  auto engine = StorageEngine::Open(flags->data_dir, engine_options);
  if (!engine.ok()) {
    spdlog::error("cannot open storage in {}: {}", flags->data_dir, Str(engine.status()));
    return kExitRuntime;
  }

  // Encryption at rest (spec/encryption.md §13): every startup guard before serving; the
  // cipher and the applier share this node's keystore and state cache.
  encryption::EncryptionStartupOptions encryption_options;
  encryption_options.enabled = flags->encryption_enabled;
  encryption_options.kek_file = flags->kek_file;
  encryption_options.kek_env = std::getenv(encryption::kKekEnvVariable);
  encryption_options.sidecar_path = flags->encryption_sidecar_path;
  encryption_options.data_dir = flags->data_dir;
  encryption_options.default_group = membership->groups.begin()->first;
  for (const auto& [gid, address] : membership->groups) encryption_options.groups.push_back(gid);
  // --encryption-resync-sidecar asks the default group's leader, found among the persisted
  // default-group peers and the declared bootstrap list (§13).
  const std::vector<std::string> default_group_addresses =
      DefaultGroupAddresses(engine->get(), encryption_options.default_group, *membership);
  encryption_options.resync_sidecar = flags->encryption_resync_sidecar;
  encryption_options.fetch_resync = [&default_group_addresses, &membership] {
    return encryption::FetchResyncFromLeader(
        default_group_addresses, membership->node_id, encryption::GrpcResyncFetcher(),
        std::chrono::steady_clock::now() + std::chrono::seconds(10));
  };
  absl::StatusOr<encryption::EncryptionStartup> encryption_startup =
      encryption::StartEncryption(encryption_options, engine->get());
  if (!encryption_startup.ok()) {
    spdlog::error("encryption: refusing to start: {}", Str(encryption_startup.status()));
    return kExitRuntime;
  }
  std::unique_ptr<encryption::StorageCipher> storage_cipher;
  std::unique_ptr<encryption::EncryptionApplier> encryption_applier;
  if (encryption_startup->mutators_enabled) {
    const encryption::EncryptionRuntime& rt = encryption_startup->runtime;
    storage_cipher = std::make_unique<encryption::StorageCipher>(rt.keys, rt.state);
    (*engine)->set_storage_cipher(storage_cipher.get());
    encryption_applier = std::make_unique<encryption::EncryptionApplier>(
        engine->get(), encryption_options.default_group, rt, encryption_startup->sidecar);
    spdlog::info("encryption: capable; storage envelope {}",
                 rt.state->storage_envelope_active() ? "active" : "inactive");
  }

  // One address book for the process: the transport records the Redis addresses peers
  // announce; the Redis listener, Topology and RaftAdmin read it (members added at runtime are
  // in no --raftRedisMap).
  auto redis_addresses = std::make_shared<RedisAddressBook>(membership->redis_map);
  GrpcTransportOptions transport_options;
  transport_options.local_node = membership->node_id;
  transport_options.redis_address = flags->redis_address;
  transport_options.redis_addresses = redis_addresses;
  transport_options.listen_addresses = membership->groups;
  transport_options.data_dir = flags->data_dir;
  transport_options.max_snapshot_bytes = flags->raft_max_snapshot_bytes;
  auto transport = std::make_unique<GrpcTransport>(transport_options);
  for (const auto& [gid, servers] : membership->bootstrap_lists) {
    for (const Server& s : servers) transport->SetPeerAddress(gid, s.node_id, s.address);
  }

  DriverOptions driver_options = DriverOptionsFromMembership(*membership);
  driver_options.tick_interval = std::chrono::milliseconds(flags->tick_ms);
  driver_options.election_ticks = static_cast<int>(flags->election_ticks());
  driver_options.apply_sync = flags->fsm_sync_mode == FsmSyncMode::kSync;
  driver_options.seed = membership->node_id;
  driver_options.data_dir = flags->data_dir;
  driver_options.snapshot_count = flags->raft_snapshot_count;
  driver_options.log_retain_entries = flags->raft_log_retain_entries;
  driver_options.max_snapshot_bytes = flags->raft_max_snapshot_bytes;
  driver_options.snapshot_verify_failure = flags->snapshot_verify_regenerate
                                               ? SnapshotVerifyFailure::kRegenerate
                                               : SnapshotVerifyFailure::kRefuse;
  // Registered before the driver opens: cold start reports through it (§9).
  MetricsColdStartObserver cold_start_observer(tessera::common::DefaultRegistry());
  driver_options.cold_start_observer = &cold_start_observer;
  driver_options.encryption_applier = encryption_applier.get();
  // Runtime resync (§7, §9): keys met in entries or snapshots before this node applied them.
  // Declared before the driver, so it outlives every request the driver makes.
  std::atomic<Driver*> resync_driver{nullptr};
  std::unique_ptr<encryption::KeyResyncWorker> key_resync;
  if (encryption_startup->mutators_enabled) {
    encryption::KeyResyncWorker::Options o;
    o.runtime = encryption_startup->runtime;
    o.node_id = membership->node_id;
    o.fetch = encryption::GrpcResyncFetcher();
    o.addresses = [&resync_driver, &default_group_addresses,
                   gid = encryption_options.default_group] {
      std::vector<std::string> out = default_group_addresses;
      if (Driver* d = resync_driver.load(); d != nullptr) {
        if (absl::StatusOr<ClusterConfiguration> c = d->Configuration(gid); c.ok()) {
          for (const Server& s : c->servers) out.push_back(s.address);
        }
      }
      return out;
    };
    key_resync = std::make_unique<encryption::KeyResyncWorker>(std::move(o));
    driver_options.encryption_key_resync = [w = key_resync.get()] { w->Request(); };
    // Reads and restores meeting an unknown key id ask too (rate-limited by the worker).
    encryption_startup->runtime.keys->set_miss_hook(
        [w = key_resync.get()](uint32_t) { w->Request(); });
  }
  auto driver = Driver::Open(engine->get(), transport.get(), driver_options);
  if (!driver.ok()) {
    spdlog::error("cannot open raft groups: {}", Str(driver.status()));
    // A declaration that contradicts the stored membership is a configuration error.
    return GetConfigErrc(driver.status()) != ConfigErrc::kOk ? kExitUsage : kExitRuntime;
  }
  resync_driver.store(driver->get());
  // RaftAdmin on every group listener (spec/membership.md §8), registered before the
  // transport starts with the driver. Declared after the driver: destroyed after it stops.
  AdminDirectory::Options admin_options;
  admin_options.local_node = membership->node_id;
  admin_options.local_raft_id = membership->raft_id;
  admin_options.local_listeners = membership->groups;
  admin_options.redis_addresses = redis_addresses;
  admin_options.token = admin_token;
  for (const auto& [gid, address] : membership->groups) {
    admin_options.engines[gid] = (*driver)->Admin(gid);
  }
  AdminDirectory admin_directory(std::move(admin_options));
  std::vector<std::unique_ptr<RaftAdminService>> admin_services;
  for (const auto& [gid, address] : membership->groups) {
    admin_services.push_back(std::make_unique<RaftAdminService>(gid, address, &admin_directory));
    transport->RegisterGroupService(gid, admin_services.back().get());
  }
  // EncryptionAdmin on every group listener (spec/encryption.md §11): one slot and one
  // fan-out dialer shared by all of them; the dialer only when mutators are enabled.
  std::vector<GroupId> hosted_groups;
  for (const auto& [gid, address] : membership->groups) hosted_groups.push_back(gid);
  encryption::DriverEncryptionNode encryption_node(driver->get(), hosted_groups);
  auto cutover_slot = std::make_shared<encryption::CutoverSlot>();
  encryption::Dialer capability_dialer;
  if (encryption_startup->mutators_enabled) capability_dialer = encryption::GrpcCapabilityDialer();
  std::vector<std::unique_ptr<encryption::EncryptionAdminService>> encryption_services;
  for (const auto& [gid, address] : membership->groups) {
    encryption::EncryptionAdminOptions o;
    o.listener_group = gid;
    o.default_group = encryption_options.default_group;
    o.node_id = membership->node_id;
    o.build_sha = "tessera";
    o.mutators_enabled = encryption_startup->mutators_enabled;
    o.sidecar_path = flags->encryption_sidecar_path;
    o.fingerprint = encryption_startup->fingerprint;
    o.applier = encryption_applier.get();
    o.node = &encryption_node;
    o.dialer = capability_dialer;
    o.slot = cutover_slot;
    encryption_services.push_back(
        std::make_unique<encryption::EncryptionAdminService>(std::move(o)));
    transport->RegisterGroupService(gid, encryption_services.back().get());
  }
  // Topology on every group listener too, one service object per listener.
  std::vector<std::unique_ptr<TopologyService>> topology_services;
  for (const auto& [gid, address] : membership->groups) {
    TopologyOptions topology_options = TopologyOptionsFromMembership(*membership);
    topology_options.redis_addresses = redis_addresses;
    topology_options.admin_token = admin_token;
    topology_options.loopback_listener = IsLoopbackAddress(address);
    topology_services.push_back(std::make_unique<TopologyService>(std::move(topology_options)));
    topology_services.back()->SetDriver(driver->get());
    transport->RegisterGroupService(gid, topology_services.back().get());
  }
  if (absl::Status s = (*driver)->Start(); !s.ok()) {
    spdlog::error("cannot start: {}", Str(s));
    return kExitRuntime;
  }
  RedisServerOptions redis_options =
      RedisServerOptionsFromMembership(*membership, flags->redis_address);
  redis_options.requirepass = flags->requirepass;
  redis_options.redis_addresses = redis_addresses;
  RedisServer redis((*driver).get(), std::move(redis_options));
  if (absl::Status s = redis.Start(); !s.ok()) {
    spdlog::error("cannot serve Redis on {}: {}", flags->redis_address, Str(s));
    (*driver)->Stop();
    return kExitRuntime;
  }
  tessera::common::RegisterProcessMetrics(tessera::common::DefaultRegistry());
  MetricsHttpServer metrics(&tessera::common::DefaultRegistry());
  if (!flags->metrics_address.empty()) {
    if (absl::Status s = metrics.Start(flags->metrics_address); !s.ok()) {
      spdlog::error("cannot serve /metrics on {}: {}", flags->metrics_address, Str(s));
      redis.Stop();
      (*driver)->Stop();
      return kExitRuntime;
    }
    spdlog::info("serving /metrics on {}", flags->metrics_address);
  }
  spdlog::info("tessera-shard {} serving {} group(s); Redis on {}", flags->raft_id,
               membership->groups.size(), flags->redis_address);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: shutting down", sig);
  metrics.Stop();
  for (auto& t : topology_services) t->Stop();  // ends open watches so gRPC can shut down
  redis.Stop();       // no new requests; waiting ones fail when the driver stops
  (*driver)->Stop();  // stops the transport too, after the driver thread has exited
  driver->reset();
  transport.reset();
  engine->reset();
  encryption_startup->runtime.keys->set_miss_hook(nullptr);  // before the worker goes
  spdlog::info("stopped");
  return 0;
}
