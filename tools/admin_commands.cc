#include "tools/admin_commands.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "tools/table_printer.h"

namespace runnel::tools {

absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    const std::vector<std::string>& pairs, const std::string& flag) {
  std::map<std::string, std::string> out;
  for (const std::string& pair : pairs) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " '", pair, "' is not of the form key=value"));
    }
    out[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return out;
}

absl::Status TopicCreate(client::Admin& admin, const client::TopicSpec& topic, std::ostream& out) {
  RETURN_IF_ERROR(admin.CreateTopic(topic));
  out << "created topic " << topic.name << "\n";
  return absl::OkStatus();
}

absl::Status TopicList(client::Admin& admin, std::ostream& out) {
  ASSIGN_OR_RETURN(const auto topics, admin.ListTopics());
  TablePrinter table({"TOPIC", "PARTITIONS", "REPLICAS"});
  for (const auto& t : topics) {
    table.AddRow({t.name, absl::StrCat(t.partitions), absl::StrCat(t.replication_factor)});
  }
  table.Print(out);
  return absl::OkStatus();
}

namespace {

std::string OrDash(int64_t v) { return v < 0 ? "-" : absl::StrCat(v); }
std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace

absl::Status TopicDescribe(client::Admin& admin, const std::string& name, std::ostream& out) {
  ASSIGN_OR_RETURN(const client::TopicDescription topic, admin.DescribeTopic(name));
  out << "topic " << topic.name << ": " << topic.partitions.size() << " partitions\n";
  // HIGH WATERMARK: where consumers' reads stop; LOG END: the next offset (above the high
  // watermark while replicas have not all stored the last batches).
  // ADDING / REMOVING (Kafka's adding and removing replicas) only while a reassignment runs.
  const bool moving = std::any_of(topic.partitions.begin(), topic.partitions.end(), [](auto& p) {
    return !p.adding_replicas.empty() || !p.removing_replicas.empty();
  });
  std::vector<std::string> columns = {"PARTITION", "LEADER", "REPLICAS"};
  if (moving) columns.insert(columns.end(), {"ADDING", "REMOVING"});
  columns.insert(columns.end(), {"ISR", "START OFFSET", "HIGH WATERMARK", "LOG END", "SIZE BYTES"});
  TablePrinter partitions(columns);
  for (const auto& p : topic.partitions) {
    std::vector<std::string> row = {absl::StrCat(p.partition),
                                    p.leader < 0 ? "none" : absl::StrCat(p.leader),
                                    absl::StrJoin(p.replicas, ",")};
    if (moving) {
      row.insert(row.end(), {OrDash(absl::StrJoin(p.adding_replicas, ",")),
                             OrDash(absl::StrJoin(p.removing_replicas, ","))});
    }
    row.insert(row.end(),
               {absl::StrJoin(p.isr, ","), OrDash(p.log_start_offset), OrDash(p.high_watermark),
                OrDash(p.log_end_offset), absl::StrCat(p.size_bytes)});
    partitions.AddRow(row);
  }
  partitions.Print(out);
  out << "\n";
  TablePrinter configs({"CONFIG", "VALUE", "SOURCE"});
  for (const auto& [key, entry] : topic.configs) {
    configs.AddRow({key, entry.first, entry.second ? "default" : "topic"});
  }
  configs.Print(out);
  return absl::OkStatus();
}

absl::Status TopicReassign(client::Admin& admin, const ReassignOptions& options, std::ostream& out,
                           std::ostream& progress) {
  std::vector<int32_t> replicas;
  for (absl::string_view id : absl::StrSplit(options.replicas, ',')) {
    int32_t node = 0;
    if (!absl::SimpleAtoi(id, &node) || node < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--replicas: '", id, "' is not a node id (give e.g. --replicas 1,2,3)"));
    }
    replicas.push_back(node);
  }
  ASSIGN_OR_RETURN(const client::TopicDescription before, admin.DescribeTopic(options.topic));
  std::map<int32_t, std::vector<int32_t>> moves;
  for (const auto& p : before.partitions) {
    if (!options.partition.has_value() || *options.partition == p.partition) {
      moves[p.partition] = replicas;
    }
  }
  if (moves.empty()) {
    return absl::NotFoundError(absl::StrCat("topic ", options.topic, " has no partition ",
                                            options.partition.value_or(-1)));
  }
  RETURN_IF_ERROR(admin.ReassignPartitions(options.topic, moves));
  out << "reassignment of " << moves.size() << " partition" << (moves.size() == 1 ? "" : "s")
      << " of topic " << options.topic << " to [" << options.replicas << "] began\n";
  if (options.wait_ms <= 0) return absl::OkStatus();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.wait_ms);
  std::string last;
  while (true) {
    ASSIGN_OR_RETURN(const client::TopicDescription now, admin.DescribeTopic(options.topic));
    std::vector<std::string> left;
    for (const auto& p : now.partitions) {
      if (!moves.contains(p.partition)) continue;
      if (p.replicas != moves[p.partition] || !p.adding_replicas.empty() ||
          !p.removing_replicas.empty()) {
        left.push_back(absl::StrCat(p.partition, " (adding [",
                                    absl::StrJoin(p.adding_replicas, ","), "], removing [",
                                    absl::StrJoin(p.removing_replicas, ","), "], in sync [",
                                    absl::StrJoin(p.isr, ","), "])"));
      }
    }
    if (left.empty()) break;
    const std::string status = absl::StrCat("partitions moving: ", absl::StrJoin(left, ", "));
    if (status != last) progress << status << "\n";
    last = status;
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("not complete after ", options.wait_ms, " ms: ", status));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  out << "reassignment complete\n";
  return absl::OkStatus();
}

absl::Status TopicDelete(client::Admin& admin, const std::string& name, std::ostream& out) {
  RETURN_IF_ERROR(admin.DeleteTopic(name));
  out << "deleted topic " << name << "\n";
  return absl::OkStatus();
}

absl::Status TopicAlterConfig(client::Admin& admin, const std::string& name,
                              const std::map<std::string, std::string>& set, std::ostream& out) {
  if (set.empty()) return absl::InvalidArgumentError("--set: give at least one key=value");
  RETURN_IF_ERROR(admin.AlterTopicConfigs(name, set));
  out << "updated " << set.size() << " config" << (set.size() == 1 ? "" : "s") << " of topic "
      << name << "\n";
  return absl::OkStatus();
}

absl::Status ClusterInfo(client::Admin& admin, std::ostream& out) {
  ASSIGN_OR_RETURN(const client::ClusterDescription cluster, admin.DescribeCluster());
  out << "cluster " << cluster.cluster_id << ", controller "
      << (cluster.controller_id < 0 ? std::string("none") : absl::StrCat(cluster.controller_id))
      << "\n";
  TablePrinter table({"BROKER", "ADDRESS", "RACK", "STATE", "CONTROLLER", "PARTITIONS LED"});
  for (const auto& b : cluster.brokers) {
    table.AddRow({absl::StrCat(b.node_id), b.address, OrDash(b.rack), b.alive ? "alive" : "fenced",
                  b.controller ? "yes" : "no", absl::StrCat(b.partitions_led)});
  }
  table.Print(out);
  return absl::OkStatus();
}

namespace {

void PrintGroupRows(const std::string& group, const std::vector<client::GroupPartition>& rows,
                    std::ostream& out) {
  TablePrinter table(
      {"GROUP", "TOPIC", "PARTITION", "COMMITTED", "END OFFSET", "LAG", "MEMBER", "HOST"});
  for (const client::GroupPartition& r : rows) {
    table.AddRow({group, r.topic, absl::StrCat(r.partition), OrDash(r.committed),
                  OrDash(r.end_offset), OrDash(r.lag), OrDash(r.member_id), OrDash(r.client_host)});
  }
  table.Print(out);
}

}  // namespace

absl::Status GroupList(client::Admin& admin, std::ostream& out) {
  ASSIGN_OR_RETURN(const std::vector<client::GroupListing> groups, admin.ListGroups());
  TablePrinter table({"GROUP", "STATE", "MEMBERS"});
  for (const auto& g : groups) table.AddRow({g.group_id, g.state, absl::StrCat(g.members)});
  table.Print(out);
  return absl::OkStatus();
}

absl::Status GroupDescribe(client::Admin& admin, const std::string& group, std::ostream& out) {
  ASSIGN_OR_RETURN(const std::vector<client::GroupPartition> rows, admin.DescribeGroup(group));
  PrintGroupRows(group, rows, out);
  return absl::OkStatus();
}

absl::Status GroupResetOffsets(client::Admin& admin, const std::string& group,
                               const std::string& topic, const client::OffsetResetSpec& spec,
                               std::ostream& out) {
  ASSIGN_OR_RETURN(const std::vector<client::GroupPartition> rows,
                   admin.ResetGroupOffsets(group, topic, spec));
  PrintGroupRows(group, rows, out);
  return absl::OkStatus();
}

absl::Status ClusterUnregister(client::Admin& admin, int32_t node_id, std::ostream& out) {
  RETURN_IF_ERROR(admin.UnregisterBroker(node_id));
  out << "unregistered node " << node_id << "\n";
  return absl::OkStatus();
}

absl::Status GroupDelete(client::Admin& admin, const std::string& group, std::ostream& out) {
  RETURN_IF_ERROR(admin.DeleteGroup(group));
  out << "deleted group " << group << "\n";
  return absl::OkStatus();
}

}  // namespace runnel::tools
