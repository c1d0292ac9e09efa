// `runnel`: the command-line tool (DESIGN.md section 6). Data goes to stdout; errors go to
// stderr as "error: <what> (<why>)" with exit status 1.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "tools/admin_commands.h"
#include "tools/log_dump.h"

namespace runnel::tools {
namespace {

int Fail(const absl::Status& status, const std::string& what) {
  std::cerr << "error: " << what << " (" << status.message() << ")\n";
  return 1;
}

int Run(int argc, char** argv) {
  CLI::App app{"runnel: the Runnel command-line tool"};
  app.require_subcommand(1);
  const char* env_brokers = std::getenv("RUNNEL_BROKERS");
  std::string brokers = env_brokers != nullptr ? env_brokers : "127.0.0.1:7070";
  app.add_option("--brokers", brokers, "HOST:PORT[,...] (env RUNNEL_BROKERS)");

  // topic ...
  CLI::App* topic = app.add_subcommand("topic", "create, list, describe, delete topics");
  topic->require_subcommand(1);
  client::TopicSpec spec;
  std::vector<std::string> create_configs;
  CLI::App* create = topic->add_subcommand("create", "create a topic");
  create->add_option("name", spec.name, "topic name")->required();
  create->add_option("--partitions", spec.partitions, "partitions (default: the broker's)");
  create->add_option("--replicas", spec.replication_factor, "replication factor");
  create->add_option("--config", create_configs, "topic config key=value (repeatable)");
  CLI::App* list = topic->add_subcommand("list", "list topics");
  std::string topic_name;
  CLI::App* describe = topic->add_subcommand("describe", "partitions, offsets and configs");
  describe->add_option("name", topic_name, "topic name")->required();
  CLI::App* remove = topic->add_subcommand("delete", "delete a topic and its data");
  remove->add_option("name", topic_name, "topic name")->required();
  std::vector<std::string> set_configs;
  CLI::App* alter = topic->add_subcommand("alter-config", "set topic configs");
  alter->add_option("name", topic_name, "topic name")->required();
  alter->add_option("--set", set_configs, "key=value (repeatable)")->required();

  // cluster info
  CLI::App* cluster = app.add_subcommand("cluster", "cluster information");
  cluster->require_subcommand(1);
  CLI::App* info = cluster->add_subcommand("info", "brokers, controller, partitions led");

  // log dump
  CLI::App* log = app.add_subcommand("log", "offline tools for log files")->require_subcommand(1);
  LogDumpOptions dump;
  CLI::App* dump_cmd =
      log->add_subcommand("dump", "print every batch of a segment file or partition directory");
  dump_cmd->add_option("path", dump.path, "a .log segment file or a partition directory")
      ->required();
  dump_cmd->add_flag("--records", dump.records, "also print every record");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: bad command line (" << e.what() << ")\n";
    return 1;
  }

  if (dump_cmd->parsed()) {
    const absl::Status s = DumpLog(dump, std::cout);
    return s.ok() ? 0 : Fail(s, "log dump found a problem");
  }

  auto admin = client::Admin::Create({.bootstrap_servers = brokers});
  if (!admin.ok()) return Fail(admin.status(), "bad --brokers");
  absl::Status s;
  std::string what;
  if (create->parsed()) {
    what = "topic create " + spec.name;
    auto configs = ParseKeyValues(create_configs, "--config");
    if (!configs.ok()) return Fail(configs.status(), what);
    spec.configs = *configs;
    s = TopicCreate(**admin, spec, std::cout);
  } else if (list->parsed()) {
    what = "topic list";
    s = TopicList(**admin, std::cout);
  } else if (describe->parsed()) {
    what = "topic describe " + topic_name;
    s = TopicDescribe(**admin, topic_name, std::cout);
  } else if (remove->parsed()) {
    what = "topic delete " + topic_name;
    s = TopicDelete(**admin, topic_name, std::cout);
  } else if (alter->parsed()) {
    what = "topic alter-config " + topic_name;
    auto configs = ParseKeyValues(set_configs, "--set");
    if (!configs.ok()) return Fail(configs.status(), what);
    s = TopicAlterConfig(**admin, topic_name, *configs, std::cout);
  } else if (info->parsed()) {
    what = "cluster info";
    s = ClusterInfo(**admin, std::cout);
  }
  return s.ok() ? 0 : Fail(s, what);
}

}  // namespace
}  // namespace runnel::tools

int main(int argc, char** argv) { return runnel::tools::Run(argc, argv); }
