// tessera-admin entry point: hands argv to RunAdminCli and returns its exit code.
// Usage: tessera-admin [--json] [--token-file=F] [--timeout-ms=N] raft <listener> <subcommand>
#include <iostream>
#include <string>
#include <vector>

#include "tools/admin/cli.h"
#include "tools/admin/encryption_cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "encryption") {
    return tessera::tools::RunEncryptionCli({args.begin() + 1, args.end()}, std::cout, std::cerr);
  }
  return tessera::tools::RunAdminCli(args, std::cout, std::cerr);
}
