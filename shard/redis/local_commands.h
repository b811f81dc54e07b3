// Connection and server commands the shard's listener answers itself, without a group: PING
// ECHO QUIT HELLO AUTH SELECT RESET TIME INFO CLIENT (ID SETNAME GETNAME LIST INFO KILL HELP)
// CONFIG (GET HELP) COMMAND (COUNT INFO DOCS GETKEYS HELP), and the refusal of the commands
// the table knows but this shard does not serve yet (MULTI/EXEC...).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "routing/command_table.h"
#include "shard/data/resp_reply.h"

namespace tessera::shard {

// Per-connection state the connection commands change.
struct Session {
  int protocol = 2;  // RESP version (HELLO)
  std::string name;  // CLIENT SETNAME / HELLO SETNAME
  bool authenticated = false;
  // MULTI: commands queued for EXEC; `multi_failed` once one was refused at queue time.
  bool in_multi = false;
  bool multi_failed = false;
  std::vector<std::vector<std::string>> queued;
};

// What a connection command may need from the listener.
struct SessionInfo {
  uint64_t id = 0;
  std::string_view peer;  // "ip:port"
  std::string_view redis_version;
  std::string_view requirepass;  // empty: no password
  // INFO with its arguments (section names).
  std::function<std::string(std::span<const std::string> sections)> info_text;
  // CLIENT LIST / CLIENT KILL over every connection of the listener; may be null.
  std::function<std::string()> client_list;
  std::function<int(std::string_view field, std::string_view value)> kill_clients;
};

enum class LocalOutcome { kReply, kClose };

// `spec` is resolved and arity-checked (routing::ResolveCommand); answers through `out`
// exactly once. kClose: close the connection after the reply (QUIT).
LocalOutcome RunLocalCommand(const routing::CommandSpec& spec, const std::vector<std::string>& argv,
                             const SessionInfo& info, Session* session, data::RespReply& out);

// One CLIENT LIST line (without the trailing newline) in Redis's field order.
std::string ClientLine(uint64_t id, std::string_view peer, const Session& session);

}  // namespace tessera::shard
