// tessera-admin entry point: hands argv to RunAdminCli and returns its exit code.
// Usage: tessera-admin [--json] [--token-file=F] [--timeout-ms=N] raft <listener> <subcommand>
#include <iostream>
#include <string>
#include <vector>

#include "tools/admin/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return tessera::tools::RunAdminCli(args, std::cout, std::cerr);
}
