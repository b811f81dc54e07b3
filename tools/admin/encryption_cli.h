// tessera-admin encryption <subcommand> --addr=<listener> (spec/encryption.md §15): the
// EncryptionAdmin calls of one shard listener, runnable in-process by tests.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tessera::tools {

// `args` are the words after "encryption". Exit 0 ok, 1 RPC error ("error: <CODE>: <message>"),
// 2 usage.
int RunEncryptionCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tessera::tools
