// tessera-admin slots: show the cluster's routing table and reassign an empty slot range to
// another group through the Topology service (proto/topology.proto).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace tessera::tools {

// Whether `args` (without the program name) name the `slots` command: its first word that is
// not a global option.
bool IsSlotsCommand(const std::vector<std::string>& args);

// `tessera-admin [--json] [--token-file=F] [--timeout-ms=N] slots <listener> show` and
// `... slots <listener> assign <first> <last> <group> [--expected-version=N]`. assign follows
// one redirect to the default group's leader. Exit codes as RunAdminCli's.
int RunSlotsCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tessera::tools
