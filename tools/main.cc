// `runnel`: the command-line tool (docs/ARCHITECTURE.md section 6). Data goes to stdout; errors go
// to stderr as "error: <what> (<why>)" with exit status 1.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "common/process_tuning.h"
#include "tools/admin_commands.h"
#include "tools/log_dump.h"
#include "tools/perf.h"
#include "tools/record_commands.h"

namespace runnel::tools {
namespace {

int Fail(const absl::Status& status, const std::string& what) {
  std::cerr << "error: " << what << " (" << status.message() << ")\n";
  return 1;
}

int Run(int argc, char** argv) {
  TuneProcess();
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
  ReassignOptions reassign;
  bool reassign_wait = false;
  CLI::App* reassign_cmd =
      topic->add_subcommand("reassign", "move partitions to other brokers (a cluster)");
  reassign_cmd->add_option("name", reassign.topic, "topic name")->required();
  reassign_cmd
      ->add_option("--replicas", reassign.replicas,
                   "node ids, the preferred leader first (e.g. 2,3,4)")
      ->required();
  reassign_cmd->add_option("--partition", reassign.partition, "only this partition (default: all)");
  reassign_cmd->add_flag("--wait", reassign_wait,
                         "wait until the moves complete (progress on stderr)");
  reassign_cmd->add_option("--timeout-ms", reassign.wait_ms,
                           "with --wait: give up after (default 600000)");

  // produce / consume
  ProduceOptions produce;
  CLI::App* produce_cmd = app.add_subcommand("produce", "send one record per stdin line");
  produce_cmd->add_option("topic", produce.topic, "topic name")->required();
  produce_cmd->add_option("--partition", produce.partition, "partition (default: by key, sticky)");
  produce_cmd->add_option("--key-separator", produce.key_separator,
                          "split each line into KEY<S>VALUE at the first S");
  produce_cmd->add_option("--timestamp-separator", produce.timestamp_separator,
                          "lines start with a timestamp in epoch ms, then S");
  produce_cmd->add_option("--acks", produce.acks, "0, 1 or all")
      ->check(CLI::IsMember({"0", "1", "all", "-1"}));
  produce_cmd->add_option("--compression", produce.compression, "none|gzip|snappy|lz4|zstd")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}));
  ConsumeOptions consume;
  CLI::App* consume_cmd = app.add_subcommand("consume", "print records of a topic");
  consume_cmd->add_option("topic", consume.topic, "topic name")->required();
  consume_cmd->add_option(
      "--group", consume.group,
      "join consumer group G (without --partition: share the topic's partitions with G's "
      "other members), resume from its committed offsets, commit what is printed");
  consume_cmd->add_flag("--from-beginning", consume.from_beginning,
                        "start at the earliest offset (default: only new records)");
  consume_cmd->add_option("--partition", consume.partition, "only this partition");
  consume_cmd->add_option("--offset", consume.offset, "start offset (needs --partition)");
  consume_cmd->add_option("--num", consume.num, "stop after N records");
  consume_cmd->add_option("--timeout-ms", consume.timeout_ms,
                          "stop after T ms without a new record");
  std::vector<std::string> consumer_properties;
  consume_cmd->add_option("--consumer-property", consumer_properties,
                          "client property key=value, e.g. fetch.min.bytes=65536 (repeatable)");
  consume_cmd->add_option("--format", consume.format,
                          "%k key, %v/%s value, %t timestamp, %p partition, %o offset, %T topic, "
                          "%h headers; \\t \\n \\\\ (default '%v\\n')");

  // perf produce / consume
  CLI::App* perf =
      app.add_subcommand("perf", "throughput and latency tests")->require_subcommand(1);
  PerfProduceOptions perf_produce;
  CLI::App* perf_produce_cmd = perf->add_subcommand("produce", "produce generated records");
  perf_produce_cmd->add_option("topic", perf_produce.topic, "topic name")->required();
  perf_produce_cmd->add_option("--records", perf_produce.records, "records to send")->required();
  perf_produce_cmd->add_option("--record-size", perf_produce.record_size, "value bytes")
      ->required();
  perf_produce_cmd->add_option("--acks", perf_produce.acks, "0, 1 or all")
      ->check(CLI::IsMember({"0", "1", "all", "-1"}));
  perf_produce_cmd->add_option("--batch-bytes", perf_produce.batch_bytes, "batch.size");
  perf_produce_cmd->add_option("--linger-ms", perf_produce.linger_ms, "linger.ms");
  perf_produce_cmd
      ->add_option("--compression", perf_produce.compression, "none|gzip|snappy|lz4|zstd")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}));
  perf_produce_cmd->add_option("--throughput", perf_produce.throughput,
                               "records/s to aim for (default: as fast as possible)");
  PerfConsumeOptions perf_consume;
  CLI::App* perf_consume_cmd = perf->add_subcommand("consume", "consume and time records");
  perf_consume_cmd->add_option("topic", perf_consume.topic, "topic name")->required();
  perf_consume_cmd->add_option("--records", perf_consume.records, "records to read")->required();
  perf_consume_cmd->add_flag("--from-latest", perf_consume.from_latest,
                             "only records produced after the start (for end-to-end latency)");
  perf_consume_cmd->add_option("--timeout-ms", perf_consume.timeout_ms,
                               "give up after T ms without a new record");

  // group ...
  CLI::App* group = app.add_subcommand("group", "consumer groups")->require_subcommand(1);
  std::string group_id;
  CLI::App* group_list = group->add_subcommand("list", "groups and their state");
  CLI::App* group_describe =
      group->add_subcommand("describe", "committed offsets, end offsets and lag per partition");
  group_describe->add_option("group", group_id, "group id")->required();
  CLI::App* group_reset = group->add_subcommand(
      "reset-offsets", "move a group's committed offsets (only while it has no members)");
  group_reset->add_option("group", group_id, "group id")->required();
  std::string reset_topic;
  group_reset->add_option("--topic", reset_topic, "topic whose offsets move")->required();
  client::OffsetResetSpec reset_spec;
  bool to_earliest = false, to_latest = false;
  std::optional<int64_t> to_offset;
  auto* earliest_flag = group_reset->add_flag("--to-earliest", to_earliest, "the log start");
  auto* latest_flag = group_reset->add_flag("--to-latest", to_latest, "the log end");
  auto* offset_opt = group_reset->add_option("--to-offset", to_offset, "offset N");
  earliest_flag->excludes(latest_flag)->excludes(offset_opt);
  latest_flag->excludes(offset_opt);
  group_reset->add_option("--partition", reset_spec.partition, "only this partition");
  CLI::App* group_delete = group->add_subcommand("delete", "delete a group's committed offsets");
  group_delete->add_option("group", group_id, "group id")->required();

  // cluster info
  CLI::App* cluster = app.add_subcommand("cluster", "cluster information");
  cluster->require_subcommand(1);
  CLI::App* info = cluster->add_subcommand("info", "brokers, controller, partitions led");
  int32_t unregister_id = -1;
  CLI::App* unregister = cluster->add_subcommand(
      "unregister", "remove a stopped broker that hosts no partition (after `topic reassign`)");
  unregister->add_option("node-id", unregister_id, "the broker's --node-id")->required();

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

  if (produce_cmd->parsed()) {
    produce.brokers = brokers;
    const absl::Status s = Produce(produce, std::cin);
    return s.ok() ? 0 : Fail(s, "produce to " + produce.topic);
  }
  if (consume_cmd->parsed()) {
    consume.brokers = brokers;
    auto properties = ParseKeyValues(consumer_properties, "--consumer-property");
    if (!properties.ok()) return Fail(properties.status(), "consume from " + consume.topic);
    consume.properties = *properties;
    const absl::Status s = Consume(consume, std::cout);
    return s.ok() ? 0 : Fail(s, "consume from " + consume.topic);
  }
  if (perf_produce_cmd->parsed()) {
    perf_produce.brokers = brokers;
    const absl::Status s = PerfProduce(perf_produce, std::cout, std::cerr);
    return s.ok() ? 0 : Fail(s, "perf produce to " + perf_produce.topic);
  }
  if (perf_consume_cmd->parsed()) {
    perf_consume.brokers = brokers;
    const absl::Status s = PerfConsume(perf_consume, std::cout, std::cerr);
    return s.ok() ? 0 : Fail(s, "perf consume from " + perf_consume.topic);
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
  } else if (reassign_cmd->parsed()) {
    what = "topic reassign " + reassign.topic;
    if (reassign_wait && reassign.wait_ms <= 0) reassign.wait_ms = 600'000;
    if (!reassign_wait) reassign.wait_ms = 0;
    s = TopicReassign(**admin, reassign, std::cout, std::cerr);
  } else if (group_list->parsed()) {
    what = "group list";
    s = GroupList(**admin, std::cout);
  } else if (group_describe->parsed()) {
    what = "group describe " + group_id;
    s = GroupDescribe(**admin, group_id, std::cout);
  } else if (group_reset->parsed()) {
    what = "group reset-offsets " + group_id;
    if (!to_earliest && !to_latest && !to_offset.has_value()) {
      return Fail(
          absl::InvalidArgumentError("give one of --to-earliest, --to-latest, --to-offset N"),
          what);
    }
    reset_spec.kind = to_earliest ? client::OffsetResetSpec::Kind::kEarliest
                      : to_latest ? client::OffsetResetSpec::Kind::kLatest
                                  : client::OffsetResetSpec::Kind::kOffset;
    reset_spec.offset = to_offset.value_or(0);
    s = GroupResetOffsets(**admin, group_id, reset_topic, reset_spec, std::cout);
  } else if (group_delete->parsed()) {
    what = "group delete " + group_id;
    s = GroupDelete(**admin, group_id, std::cout);
  } else if (info->parsed()) {
    what = "cluster info";
    s = ClusterInfo(**admin, std::cout);
  } else if (unregister->parsed()) {
    what = absl::StrCat("cluster unregister ", unregister_id);
    s = ClusterUnregister(**admin, unregister_id, std::cout);
  }
  return s.ok() ? 0 : Fail(s, what);
}

}  // namespace
}  // namespace runnel::tools

int main(int argc, char** argv) { return runnel::tools::Run(argc, argv); }
