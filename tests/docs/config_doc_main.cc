// Prints docs/CONFIG.md as the ConfigDef tables generate it:
//   ninja -C build config_doc && build/tests/config_doc > docs/CONFIG.md
#include <iostream>

#include "tests/docs/config_doc.h"

int main() {
  std::cout << runnel::testing::ConfigDoc();
  return 0;
}
