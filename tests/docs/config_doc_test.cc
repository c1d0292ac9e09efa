#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "tests/docs/config_doc.h"

namespace runnel::testing {
namespace {

// The golden check of the settings reference: a key added, renamed or given another default,
// range or doc in a ConfigDef table must come with the regenerated docs/CONFIG.md.
TEST(ConfigDocTest, CheckedInDocMatchesTheTables) {
  const std::string path = RUNNEL_SOURCE_DIR "/docs/CONFIG.md";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot read " << path;
  std::stringstream checked_in;
  checked_in << in.rdbuf();
  EXPECT_EQ(checked_in.str(), ConfigDoc())
      << path << " differs from the ConfigDef tables; regenerate it with\n"
      << "  ninja -C build config_doc && build/tests/config_doc > docs/CONFIG.md";
}

}  // namespace
}  // namespace runnel::testing
