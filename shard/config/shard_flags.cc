// ParseShardFlags: CLI11 for the command line and (through common::ApplyConfigFile) for the
// --config TOML file, one table of flags so both sources accept exactly the same names.
#include "shard/config/shard_flags.h"

#include <array>
#include <exception>
#include <set>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config_file.h"

namespace tessera::shard {
namespace {

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

enum class Kind { kString, kBool, kUint };

struct FlagDef {
  std::string_view name;  // flag without dashes = TOML key
  Kind kind;
  bool required;
  std::string_view value_name;
  std::string_view help;  // one line
};

// The whole flag set of tessera-shard, in --help order.
constexpr std::array kFlagDefs = {
    FlagDef{"raftId", Kind::kString, true, "ID",
            "Stable node id [A-Za-z0-9._-]{1,64}; never reused for another machine or data dir"},
    FlagDef{"raftGroups", Kind::kString, true, "LIST",
            "This node's raft listener per hosted group: gid=host:port,..."},
    FlagDef{"raftGroupPeers", Kind::kString, false, "LIST",
            "Multi-group bootstrap: every group's initial voters, gid=id@host:port,...;gid=..."},
    FlagDef{"raftBootstrapMembers", Kind::kString, false, "LIST",
            "Single-group bootstrap: initial voters id=host:port,... (one group only)"},
    FlagDef{"raftBootstrap", Kind::kBool, false, "",
            "Alone: bootstrap every listed group with this node as its only voter (single-node)"},
    FlagDef{"raftJoinAsLearner", Kind::kBool, false, "",
            "This node joins as a learner and never bootstraps; alarms if it is made a voter"},
    FlagDef{"dataDir", Kind::kString, true, "DIR",
            "Data directory: RocksDB, snapshots, encryption keys"},
    FlagDef{"redisAddress", Kind::kString, true, "HOST:PORT",
            "This shard's RESP listener, the target of gateway forwarding"},
    FlagDef{"raftRedisMap", Kind::kString, false, "LIST",
            "Full raft listener -> Redis address map raft=redis,... (same on every node)"},
    FlagDef{"metricsAddress", Kind::kString, false, "HOST:PORT",
            "Listener for Prometheus GET /metrics (empty: not served)"},
    FlagDef{"requirepass", Kind::kString, false, "PASSWORD",
            "Redis clients must AUTH with this password (user default) before other commands "
            "(empty: no password)"},
    FlagDef{"adminTokenFile", Kind::kString, false, "FILE",
            "File holding the token every RaftAdmin call must present on a non-loopback "
            "listener (authorization: Bearer <token>)"},
    FlagDef{"adminInsecure", Kind::kBool, false, "",
            "Serve RaftAdmin on non-loopback listeners without a token (explicitly insecure)"},
    FlagDef{"encryption-enabled", Kind::kBool, false, "",
            "This node is encryption-capable: loads the KEK and the sidecar, accepts the "
            "EncryptionAdmin mutators (spec/encryption.md §1)"},
    FlagDef{"kekFile", Kind::kString, false, "FILE",
            "The 32-byte key-encryption key, owner-only, outside the data dir"},
    FlagDef{"encryptionSidecarPath", Kind::kString, false, "FILE",
            "This node's wrapped-DEK sidecar (recommended <dataDir>/encryption/keys.json)"},
    FlagDef{"encryption-resync-sidecar", Kind::kBool, false, "",
            "At startup, repair a missing or stale sidecar from the default group's leader"},
    FlagDef{"raftSnapshotCount", Kind::kUint, false, "N",
            "Applied entries between snapshots of a group (default 10000)"},
    FlagDef{"raftLogRetainEntries", Kind::kUint, false, "N",
            "Raft log entries kept behind each snapshot for lagging peers (default 5000)"},
    FlagDef{"raftMaxSnapshotBytes", Kind::kUint, false, "BYTES",
            "Largest snapshot accepted or produced, in bytes (default 17179869184 = 16 GiB)"},
    FlagDef{"fsmSyncMode", Kind::kString, false, "sync|nosync",
            "fsync apply-only batches (sync) or not (nosync); raft log batches, and the apply "
            "effects written with them, always sync (default sync)"},
    FlagDef{"snapshotVerifyFailure", Kind::kString, false, "refuse|regenerate",
            "At a cold start that skips the restore, a snapshot file failing verification "
            "stops startup (refuse) or is quarantined and replaced by a fresh snapshot "
            "(regenerate) (default refuse)"},
    FlagDef{"readCacheBytes", Kind::kUint, false, "BYTES",
            "Memory for cached data rows that reads on this node's leaders look up before "
            "RocksDB, in bytes; 0 turns the cache off (default 67108864 = 64 MiB)"},
    FlagDef{"tickMs", Kind::kUint, false, "MS", "Raft tick interval in milliseconds (default 100)"},
    FlagDef{"electionTickMs", Kind::kUint, false, "MS",
            "Election timeout in milliseconds, a multiple of tickMs >= 2 ticks (default 1000)"},
};

// The value of one flag as the command line and then the config file left it.
struct Slot {
  std::string text;   // kString and kUint
  bool flag = false;  // kBool
  CLI::Option* option = nullptr;
  bool set = false;
};

absl::Status FlagError(std::string_view message) { return absl::InvalidArgumentError(Av(message)); }

absl::StatusOr<uint64_t> ParseUint(std::string_view name, std::string_view text) {
  uint64_t value = 0;
  bool ok = !text.empty();
  for (char c : text) {
    if (c < '0' || c > '9' || value > (UINT64_MAX - static_cast<uint64_t>(c - '0')) / 10) {
      ok = false;
      break;
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!ok) {
    return FlagError(
        absl::StrCat("--", Av(name), ": \"", Av(text), "\" is not a non-negative 64-bit integer"));
  }
  return value;
}

const Slot& SlotOf(const std::vector<Slot>& slots, std::string_view name) {
  size_t i = 0;
  while (kFlagDefs[i].name != name) ++i;
  return slots[i];
}

}  // namespace

MembershipFlags ShardFlags::membership() const {
  MembershipFlags m;
  m.raft_id = raft_id;
  m.raft_groups = raft_groups;
  m.raft_group_peers = raft_group_peers;
  m.raft_bootstrap_members = raft_bootstrap_members;
  m.raft_bootstrap = raft_bootstrap;
  m.raft_join_as_learner = raft_join_as_learner;
  m.raft_redis_map = raft_redis_map;
  m.redis_address = redis_address;
  return m;
}

absl::StatusOr<ShardFlags> ParseShardFlags(int argc, char** argv, std::string* help_out) {
  ShardFlags out;
  std::vector<Slot> slots(kFlagDefs.size());

  CLI::App app(
      "tessera-shard: hosts replicas of many Raft groups behind one RESP listener. "
      "Every flag can also be set in the --config TOML file under its name without "
      "dashes; the command line wins.",
      "tessera-shard");
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.get_formatter()->column_width(40);  // option and value name, then its one-line text
  app.add_option("--config", out.config_path, "TOML file with flag values (keys = flag names)")
      ->type_name("FILE");
  for (size_t i = 0; i < kFlagDefs.size(); ++i) {
    const FlagDef& def = kFlagDefs[i];
    const std::string name = absl::StrCat("--", Av(def.name));
    const std::string help = absl::StrCat(Av(def.help), def.required ? " (required)" : "");
    if (def.kind == Kind::kBool) {
      slots[i].option = app.add_flag(name, slots[i].flag, help);
    } else {
      slots[i].option =
          app.add_option(name, slots[i].text, help)->type_name(std::string(def.value_name));
    }
  }
  if (help_out != nullptr) *help_out = app.help();

  // CLI11 2.1 reads "--name=" (explicitly empty) as "take the next argument"; pass the
  // empty value as its own argument instead. CLI11 wants the arguments reversed.
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) {
    std::string_view arg(argv[i]);
    if (arg.starts_with("--") && arg.find('=') == arg.size() - 1) {
      args.emplace_back();
      args.emplace_back(arg.substr(0, arg.size() - 1));
    } else {
      args.emplace_back(arg);
    }
  }
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    out.help_requested = true;
    return out;
  } catch (const CLI::ParseError& e) {
    return FlagError(e.what());
  }
  for (Slot& slot : slots) slot.set = slot.option->count() > 0;

  if (!out.config_path.empty()) {
    std::set<std::string> integer_keys;
    for (const FlagDef& def : kFlagDefs) {
      if (def.kind == Kind::kUint) integer_keys.emplace(def.name);
    }
    if (absl::Status s = common::ApplyConfigFile(&app, out.config_path, integer_keys); !s.ok()) {
      return s;
    }
    for (Slot& slot : slots) slot.set = slot.option->count() > 0;  // also from the file
  }

  std::vector<std::string> missing;
  for (size_t i = 0; i < kFlagDefs.size(); ++i) {
    if (kFlagDefs[i].required && slots[i].text.empty()) {
      missing.push_back(absl::StrCat("--", Av(kFlagDefs[i].name)));
    }
  }
  if (!missing.empty()) {
    return FlagError(absl::StrCat("missing required flag(s) ", absl::StrJoin(missing, ", "),
                                  " (set them on the command line or in the --config file)"));
  }

  auto text = [&](std::string_view name) -> const std::string& { return SlotOf(slots, name).text; };
  auto flag = [&](std::string_view name) { return SlotOf(slots, name).flag; };
  // Assigns a numeric flag if it was given anywhere; defaults stay otherwise.
  auto number = [&](std::string_view name, uint64_t* field) -> absl::Status {
    const Slot& slot = SlotOf(slots, name);
    if (!slot.set) return absl::OkStatus();
    absl::StatusOr<uint64_t> value = ParseUint(name, slot.text);
    if (!value.ok()) return value.status();
    *field = *value;
    return absl::OkStatus();
  };

  out.raft_id = text("raftId");
  out.raft_groups = text("raftGroups");
  out.raft_group_peers = text("raftGroupPeers");
  out.raft_bootstrap_members = text("raftBootstrapMembers");
  out.raft_bootstrap = flag("raftBootstrap");
  out.raft_join_as_learner = flag("raftJoinAsLearner");
  out.data_dir = text("dataDir");
  out.redis_address = text("redisAddress");
  out.raft_redis_map = text("raftRedisMap");
  out.metrics_address = text("metricsAddress");
  out.requirepass = text("requirepass");
  out.admin_token_file = text("adminTokenFile");
  out.admin_insecure = flag("adminInsecure");
  out.encryption_enabled = flag("encryption-enabled");
  out.kek_file = text("kekFile");
  out.encryption_sidecar_path = text("encryptionSidecarPath");
  out.encryption_resync_sidecar = flag("encryption-resync-sidecar");
  for (auto [name, field] :
       {std::pair{"raftSnapshotCount", &out.raft_snapshot_count},
        std::pair{"raftLogRetainEntries", &out.raft_log_retain_entries},
        std::pair{"raftMaxSnapshotBytes", &out.raft_max_snapshot_bytes},
        std::pair{"readCacheBytes", &out.read_cache_bytes}, std::pair{"tickMs", &out.tick_ms},
        std::pair{"electionTickMs", &out.election_tick_ms}}) {
    if (absl::Status s = number(name, field); !s.ok()) return s;
  }

  if (const Slot& mode = SlotOf(slots, "fsmSyncMode"); mode.set) {
    if (mode.text == "sync") {
      out.fsm_sync_mode = FsmSyncMode::kSync;
    } else if (mode.text == "nosync") {
      out.fsm_sync_mode = FsmSyncMode::kNoSync;
    } else {
      return FlagError(
          absl::StrCat("--fsmSyncMode must be sync or nosync, got \"", mode.text, "\""));
    }
  }
  if (const Slot& mode = SlotOf(slots, "snapshotVerifyFailure"); mode.set) {
    if (mode.text == "refuse") {
      out.snapshot_verify_regenerate = false;
    } else if (mode.text == "regenerate") {
      out.snapshot_verify_regenerate = true;
    } else {
      return FlagError(absl::StrCat("--snapshotVerifyFailure must be refuse or regenerate, got \"",
                                    mode.text, "\""));
    }
  }
  if (out.raft_snapshot_count == 0) return FlagError("--raftSnapshotCount must be at least 1");
  if (out.raft_max_snapshot_bytes == 0) {
    return FlagError("--raftMaxSnapshotBytes must be at least 1");
  }
  if (out.tick_ms == 0) return FlagError("--tickMs must be at least 1");
  if (out.election_tick_ms % out.tick_ms != 0 || out.election_ticks() < 2) {
    return FlagError(absl::StrCat("--electionTickMs (", out.election_tick_ms,
                                  ") must be a multiple of --tickMs (", out.tick_ms,
                                  ") and at least 2 ticks"));
  }
  return out;
}

}  // namespace tessera::shard
