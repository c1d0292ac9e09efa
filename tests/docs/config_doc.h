// The text of docs/CONFIG.md, generated from the ConfigDef tables of every component that takes
// Kafka-named settings (topic configs, producer, consumer, admin, streams). config_doc_main.cc
// prints it; config_doc_test.cc fails while the checked-in file differs from it.
#pragma once

#include <string>

namespace runnel::testing {

std::string ConfigDoc();

}  // namespace runnel::testing
