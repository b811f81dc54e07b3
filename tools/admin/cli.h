// tessera-admin: the operator CLI for RaftAdmin (spec/membership.md §9). The whole command,
// argument parsing to exit code, runs in RunAdminCli so tests drive it in-process.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tessera::tools {

// Exit codes. 1 is an answer from the server refusing the call (FAILED_PRECONDITION and
// every other RPC error); 3 means no answer at all (UNAVAILABLE, DEADLINE_EXCEEDED).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRpcError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

// `args` excludes the program name. Normal output goes to `out`, errors and usage to `err`.
int RunAdminCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// skip_min_applied_check spellings: true|false|1|0|yes|no, empty = false. False on anything
// else.
bool ParseSkipFlag(const std::string& text, bool* value);

}  // namespace tessera::tools
