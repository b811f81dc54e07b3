// ApplyConfigFile: file values fill what the command line left unset, through the options'
// own conversions; unknown keys, wrong types and refused values are errors naming the key.
#include "common/config_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace tessera::common {
namespace {

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/tessera-config-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    path_ = std::string(dir) + "/c.toml";
    app_.add_option("--name", name_);
    app_.add_option("--count", count_)->check(CLI::Range(0, 100));
    app_.add_flag("--verbose", verbose_);
  }
  void TearDown() override {
    std::remove(path_.c_str());
    rmdir(path_.substr(0, path_.rfind('/')).c_str());
  }
  void Write(const std::string& text) { std::ofstream(path_) << text; }
  // Parses `args` (program name first) and then the file.
  absl::Status Run(std::vector<std::string> args) {
    args.insert(args.begin(), "prog");
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    app_.parse(static_cast<int>(argv.size()), argv.data());
    return ApplyConfigFile(&app_, path_, {"count"});
  }

  CLI::App app_;
  std::string path_;
  std::string name_ = "default";
  int count_ = 7;
  bool verbose_ = false;
};

TEST_F(ConfigFileTest, FileFillsUnsetOptionsAndCommandLineWins) {
  Write("name = \"from-file\"\ncount = 42\nverbose = true\n");
  ASSERT_TRUE(Run({"--count", "3"}).ok());
  EXPECT_EQ(name_, "from-file");
  EXPECT_EQ(count_, 3);  // the command line's value
  EXPECT_TRUE(verbose_);
}

TEST_F(ConfigFileTest, UnknownKeyIsNamed) {
  Write("name = \"x\"\ncolour = \"blue\"\n");
  absl::Status s = Run({});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("unknown key \"colour\""), absl::string_view::npos) << s;
}

TEST_F(ConfigFileTest, WrongTypesAreNamed) {
  Write("verbose = \"yes\"\n");
  absl::Status s = Run({});
  EXPECT_NE(s.message().find("\"verbose\" must be a boolean"), absl::string_view::npos) << s;
}

TEST_F(ConfigFileTest, StringsAndIntegersAreNotInterchangeable) {
  Write("name = [\"a\", \"b\"]\n");
  absl::Status s = Run({});
  EXPECT_NE(s.message().find("\"name\" must be a string"), absl::string_view::npos) << s;
  Write("count = \"7\"\n");
  s = ApplyConfigFile(&app_, path_, {"count"});
  EXPECT_NE(s.message().find("\"count\" must be a non-negative integer"), absl::string_view::npos)
      << s;
  Write("count = -1\n");
  s = ApplyConfigFile(&app_, path_, {"count"});
  EXPECT_NE(s.message().find("\"count\" must be a non-negative integer"), absl::string_view::npos)
      << s;
}

TEST_F(ConfigFileTest, OptionChecksApplyToFileValues) {
  Write("count = 1000\n");
  absl::Status s = Run({});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("key \"count\""), absl::string_view::npos) << s;
  Write("count = \"seven\"\n");
  CLI::App fresh;
  int count = 0;
  fresh.add_option("--count", count);
  const char* argv[] = {"prog"};
  fresh.parse(1, argv);
  EXPECT_FALSE(ApplyConfigFile(&fresh, path_, {}).ok());  // "seven" is no int
}

TEST_F(ConfigFileTest, BadTomlAndMissingFileAreErrors) {
  Write("name = \n");
  absl::Status s = Run({});
  EXPECT_NE(s.message().find("at line 1"), absl::string_view::npos) << s;
  std::remove(path_.c_str());
  CLI::App fresh;
  const char* argv[] = {"prog"};
  fresh.parse(1, argv);
  EXPECT_EQ(ApplyConfigFile(&fresh, path_, {}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::common
