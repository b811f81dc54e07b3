// Connection commands the gateway answers itself, per client session: PING ECHO HELLO AUTH
// SELECT QUIT RESET CLIENT (ID SETNAME GETNAME LIST INFO KILL HELP) and INFO. Other keyless
// server commands (TIME, CONFIG, COMMAND) go to a shard, which answers from the same table.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/resp.h"
#include "routing/command_table.h"
#include "routing/routing_table.h"

namespace tessera::gateway {

inline constexpr std::string_view kRedisVersion = "7.0.15";

struct Session {
  common::resp::Protocol protocol = common::resp::Protocol::kResp2;
  std::string name;  // CLIENT SETNAME / HELLO SETNAME
  bool authenticated = false;
  // MULTI: queued commands (multibulk) for one group; multi_failed once one was refused.
  bool in_multi = false;
  bool multi_failed = false;
  std::vector<std::string> queued;
  routing::GroupId multi_group = 0;  // 0 until a queued command names a key
  // WATCH: each key with the index of the shard's watch entry (TESSERA.WATCHINDEX), all in
  // watch_group; EXEC hands them back to that group's leader (TESSERA.WATCHED) before MULTI.
  std::vector<std::pair<std::string, uint64_t>> watched;
  routing::GroupId watch_group = 0;
  int watches_in_flight = 0;  // WATCHes sent, not yet answered: an EXEC now is refused
  // Pub/Sub: the client's channels and patterns (the server's registry has them; these are
  // for CLIENT LIST).
  size_t channels = 0;
  size_t patterns = 0;
};

// What a local command may need from the server, for this client.
struct LocalContext {
  uint64_t id = 0;
  std::string_view peer;                     // "ip:port"
  std::string_view requirepass;              // empty: none
  std::function<std::string()> info;         // INFO text
  std::function<std::string()> client_list;  // CLIENT LIST over the thread's clients
  // CLIENT KILL: closes matching clients, returns how many.
  std::function<int(std::string_view field, std::string_view value)> kill;
};

enum class LocalOutcome {
  kReply,    // `out` holds the reply
  kClose,    // `out` holds the reply; close the connection after it (QUIT)
  kForward,  // not answered here: send to any shard (TIME, CONFIG, COMMAND)
};

// `spec` is resolved and arity-checked; `spec.policy` is kLocal.
LocalOutcome RunLocalCommand(const routing::CommandSpec& spec, routing::ArgvRef argv,
                             const LocalContext& ctx, Session* session, std::string* out);

// One CLIENT LIST line (no newline) in Redis's field order, the fields the gateway knows.
std::string ClientLine(uint64_t id, std::string_view peer, const Session& session);

}  // namespace tessera::gateway
