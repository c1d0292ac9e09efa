// runneld's settings: every flag is also a key of the --config TOML file, spelled with '_'.
#include "broker/broker_options.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::broker {
namespace {

using storage::testing::TempDir;

absl::StatusOr<BrokerOptions> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "runneld");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  bool help = false;
  std::string help_text;
  return ParseBrokerOptions(static_cast<int>(argv.size()), argv.data(), &help, &help_text);
}

// The flags --help lists, without "--" ("help" and "config" left out: they are not settings).
std::set<std::string> Flags() {
  const char* argv[] = {"runneld", "--help"};
  bool help = false;
  std::string text;
  EXPECT_TRUE(ParseBrokerOptions(2, argv, &help, &text).ok());
  EXPECT_TRUE(help);
  // Every "--name" in the text (no std::regex: GCC 12's -Wmaybe-uninitialized trips on it in the
  // ASan build).
  std::set<std::string> flags;
  auto flag_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  };
  for (size_t at = text.find("--"); at != std::string::npos; at = text.find("--", at + 2)) {
    size_t end = at + 2;
    while (end < text.size() && flag_char(text[end])) ++end;
    if (end > at + 2 && text[at + 2] != '-') flags.insert(text.substr(at + 2, end - at - 2));
  }
  flags.erase("help");
  flags.erase("config");
  return flags;
}

TEST(BrokerOptionsTest, EveryFlagIsAConfigFileKeyWithUnderscores) {
  TempDir dir;
  const std::set<std::string> flags = Flags();
  ASSERT_GT(flags.size(), 20u) << "the --help text was not read";
  for (const std::string& flag : flags) {
    std::string key = flag;
    std::replace(key.begin(), key.end(), '-', '_');
    const std::string path = dir.Sub(key + ".toml");
    // A value of the wrong type for most keys: the answer may be "must be an integer", but never
    // "unknown key".
    std::ofstream(path) << key << " = \"x\"\n";
    const absl::StatusOr<BrokerOptions> parsed = Parse({"--config", path});
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().message().find("unknown key"), std::string::npos)
          << "--" << flag << ": " << parsed.status();
    }
  }
}

}  // namespace
}  // namespace runnel::broker
