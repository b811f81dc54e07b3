// ApplyConfigFile: fills the options of a parsed CLI11 app that the command line left unset
// from a TOML file whose keys are the long flag names without dashes.
#pragma once

#include <set>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"

namespace tessera::common {

// Call after app->parse(). Every key must name a long option of `app` ("listen" for
// --listen); a flag takes a TOML boolean, an option named in `integer_keys` a non-negative
// TOML integer, any other option a TOML string. The value goes through the option's own
// conversion and checks. The command line wins: an option it
// set keeps its value. Errors (unreadable file, bad TOML, unknown key, wrong type, a value
// the option refuses) are InvalidArgument naming the file and the key.
absl::Status ApplyConfigFile(CLI::App* app, const std::string& path,
                             const std::set<std::string>& integer_keys);

}  // namespace tessera::common
