// Kafka-named string settings ("linger.ms" = "5"), as the Producer, Consumer, Admin and Streams
// configs take them. Each of those parses them with its ConfigDef table (common/config_def.h), so
// every error names the key and the value, e.g. "linger.ms: 'soon' is not an integer".
#pragma once

#include <map>
#include <string>

namespace runnel::client {

using Properties = std::map<std::string, std::string>;

}  // namespace runnel::client
