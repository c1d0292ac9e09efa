// The CLI's admin commands (docs/ARCHITECTURE.md section 6):
// `topic create|list|describe|delete|alter-config|reassign` and `cluster info`, over client::Admin.
// Data goes to `out`; errors come back as Status for main to print as "error: <what> (<why>)".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/admin.h"

namespace runnel::tools {

// Parses "k=v" strings (from repeated --config / --set flags); a missing '=' is an error naming it.
absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    const std::vector<std::string>& pairs, const std::string& flag);

absl::Status TopicCreate(client::Admin& admin, const client::TopicSpec& topic, std::ostream& out);
absl::Status TopicList(client::Admin& admin, std::ostream& out);
absl::Status TopicDescribe(client::Admin& admin, const std::string& name, std::ostream& out);
absl::Status TopicDelete(client::Admin& admin, const std::string& name, std::ostream& out);
absl::Status TopicAlterConfig(client::Admin& admin, const std::string& name,
                              const std::map<std::string, std::string>& set, std::ostream& out);
// `topic reassign NAME --replicas 2,3,4 [--partition P] [--wait]`: moves one partition (or every
// partition) to the listed brokers. With `wait_ms` > 0, waits for the moves to complete (progress
// on `progress`) for at most that long; DeadlineExceeded naming what is left.
struct ReassignOptions {
  std::string topic;
  std::string replicas;  // comma-separated node ids, the preferred leader first
  std::optional<int32_t> partition;
  int64_t wait_ms = 0;
};
absl::Status TopicReassign(client::Admin& admin, const ReassignOptions& options, std::ostream& out,
                           std::ostream& progress);
absl::Status ClusterInfo(client::Admin& admin, std::ostream& out);
// `cluster unregister ID`: removes a stopped broker that hosts nothing.
absl::Status ClusterUnregister(client::Admin& admin, int32_t node_id, std::ostream& out);

// `group list`, `group describe G`, `group reset-offsets G --topic T ...`, `group delete G`.
absl::Status GroupList(client::Admin& admin, std::ostream& out);
absl::Status GroupDescribe(client::Admin& admin, const std::string& group, std::ostream& out);
absl::Status GroupResetOffsets(client::Admin& admin, const std::string& group,
                               const std::string& topic, const client::OffsetResetSpec& spec,
                               std::ostream& out);
absl::Status GroupDelete(client::Admin& admin, const std::string& group, std::ostream& out);

}  // namespace runnel::tools
