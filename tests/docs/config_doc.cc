#include "tests/docs/config_doc.h"

#include "absl/strings/str_cat.h"
#include "client/admin.h"
#include "client/consumer_options.h"
#include "client/producer_options.h"
#include "storage/log_config.h"
#include "streams/streams_config.h"

namespace runnel::testing {

std::string ConfigDoc() {
  return absl::StrCat(
      "# Runnel configuration\n"
      "\n"
      "<!-- Generated from the ConfigDef tables in the code (common/config_def.h); do not edit by "
      "hand.\n"
      "     Regenerate: ninja -C build config_doc && build/tests/config_doc > docs/CONFIG.md\n"
      "     ConfigDocTest.CheckedInDocMatchesTheTables fails while this file differs. -->\n"
      "\n"
      "Every setting below is a Kafka-named `key=value` string, parsed by its component's table "
      "(`common/config_def.h`): the table gives each key's type, default, valid values and "
      "description once, and the parser, the range checks of `Validate()` and this page come "
      "from it. Errors name the key and the value (`linger.ms: 'soon' is not an integer`, "
      "`linger.ms: -1 must be at least 0`, `acks: '2' is not one of 0, 1, all, -1`); an unknown "
      "key is an error too (`linger.mss: unknown producer setting`). Checks that involve several "
      "keys are written beside the table, in the component's `Validate()`. runneld's own flags "
      "are in [ARCHITECTURE.md](ARCHITECTURE.md) section 6.\n"
      "\n"
      "## Topic configs\n"
      "\n"
      "`storage/log_config.cc`. Set per topic with `runnel topic create NAME --config k=v` or "
      "`runnel topic alter-config NAME --set k=v` (Admin `CreateTopics`, `AlterConfigs`); "
      "runneld's `--log-*` flags set some of them for every topic. The defaults below are "
      "Runnel's own.\n"
      "\n",
      storage::LogConfigDef().Markdown(),
      "\n"
      "## Producer\n"
      "\n"
      "`client/producer_options.cc`: `ProducerOptions::FromProperties`, `Producer::Create`, "
      "`runnel perf produce`.\n"
      "\n",
      client::ProducerConfigDef().Markdown(),
      "\n"
      "## Consumer\n"
      "\n"
      "`client/consumer_options.cc`: `ConsumerOptions::FromProperties`, `Consumer::Create`, "
      "`runnel consume --consumer-property k=v`.\n"
      "\n",
      client::ConsumerConfigDef().Markdown(),
      "\n"
      "## Admin\n"
      "\n"
      "`client/admin.cc`: `AdminOptions::FromProperties`.\n"
      "\n",
      client::AdminConfigDef().Markdown(),
      "\n"
      "## Streams\n"
      "\n"
      "`streams/streams_config.cc`: `StreamsConfig::FromProperties`.\n"
      "\n",
      streams::StreamsConfigDef().Markdown());
}

}  // namespace runnel::testing
