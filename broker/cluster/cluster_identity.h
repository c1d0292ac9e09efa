// Which cluster a broker's data dir belongs to, and which nodes are its controllers: settled once
// at start from the flags and the data dir (FORMAT.md section 24, `cluster.id`).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/replication/raft_transport.h"

namespace runnel::broker {

// The file in the data dir naming the cluster it belongs to (one line, the id).
inline constexpr char kClusterIdFile[] = "cluster.id";

// The id of the cluster a broker with `data_dir` joins: the id its data dir records, else
// `flag` (--cluster-id), else one derived from `peers` (so brokers started with the same
// --peers agree without configuration). It is recorded in the data dir before it is returned.
// FailedPrecondition naming both ids when the data dir belongs to another cluster than `flag`
// says, or naming the file when the data dir is a single-node broker's (topics.json).
absl::StatusOr<std::string> ResolveClusterId(const std::string& data_dir, const std::string& flag,
                                             const std::vector<RaftPeer>& peers);
// The file in the data dir naming the directory itself (one line, a random id made at its first
// start; Kafka's meta.properties directory.id): a wiped data dir comes back with another id.
inline constexpr char kDirectoryIdFile[] = "directory.id";

// The id `data_dir` records, made and recorded (durably) first when it has none.
absl::StatusOr<std::string> ResolveDirectoryId(const std::string& data_dir);

// For a single-node broker: FailedPrecondition when `data_dir` belongs to a cluster.
absl::Status CheckSingleNodeDataDir(const std::string& data_dir);

// The controllers: `text` ("ID,...") when given, else the three lowest ids of `peers` (all of
// them when fewer), whatever the order they are listed in. InvalidArgument when an id is not a
// peer, is listed twice, or the count is not 1 or 3 (or, with fewer than 3 peers, all of them).
absl::StatusOr<std::set<raft::NodeId>> ParseControllers(const std::string& text,
                                                        const std::vector<RaftPeer>& peers);

}  // namespace runnel::broker
