// TOML config files for CLI11 apps: every key is a flag, converted and checked by the same
// option the command line uses, so a file can never set what the command line could not.
#include "common/config_file.h"

#include "absl/strings/str_cat.h"
#include "toml++/toml.h"

namespace tessera::common {
namespace {

absl::Status ConfigError(const std::string& path, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("--config ", path, ": ", absl::string_view(what.data(), what.size())));
}

}  // namespace

absl::Status ApplyConfigFile(CLI::App* app, const std::string& path,
                             const std::set<std::string>& integer_keys) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return ConfigError(
        path, absl::StrCat(std::string(e.description()), " at line ", e.source().begin.line,
                           ", column ", e.source().begin.column));
  } catch (const std::exception& e) {
    return ConfigError(path, e.what());
  }
  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    CLI::Option* option = name.empty() || name == "config" || name == "help"
                              ? nullptr
                              : app->get_option_no_throw("--" + name);
    if (option == nullptr) {
      return ConfigError(
          path, absl::StrCat("unknown key \"", name, "\" (keys are flag names without dashes)"));
    }
    const bool is_flag = option->get_expected_min() == 0;
    std::string text;
    if (is_flag) {
      const auto* b = node.as_boolean();
      if (b == nullptr)
        return ConfigError(path, absl::StrCat("key \"", name, "\" must be a boolean"));
      text = b->get() ? "true" : "false";
    } else if (integer_keys.contains(name)) {
      const auto* i = node.as_integer();
      if (i == nullptr || i->get() < 0) {
        return ConfigError(path, absl::StrCat("key \"", name, "\" must be a non-negative integer"));
      }
      text = absl::StrCat(i->get());
    } else {
      const auto* s = node.as_string();
      if (s == nullptr)
        return ConfigError(path, absl::StrCat("key \"", name, "\" must be a string"));
      text = s->get();
    }
    if (option->count() > 0) continue;  // the command line wins
    try {
      option->add_result(text);
      option->run_callback();
    } catch (const CLI::Error& e) {
      return ConfigError(path, absl::StrCat("key \"", name, "\": ", e.what()));
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera::common
