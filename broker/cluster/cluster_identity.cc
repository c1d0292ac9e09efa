#include "broker/cluster/cluster_identity.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "broker/cluster/topic_table.h"
#include "common/status_macros.h"
#include "storage/file.h"

namespace runnel::broker {
namespace {

// FNV-1a, 64 bits: stable across builds and machines (std::hash is not).
uint64_t Fnv1a(const std::string& text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string DerivedClusterId(std::vector<RaftPeer> peers) {
  std::sort(peers.begin(), peers.end(),
            [](const RaftPeer& a, const RaftPeer& b) { return a.id < b.id; });
  std::string canonical;
  for (const RaftPeer& peer : peers) absl::StrAppend(&canonical, peer.id, "@", peer.address, ",");
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(Fnv1a(canonical)));
  return absl::StrCat("runnel-", hex);
}

}  // namespace

absl::StatusOr<std::string> ResolveClusterId(const std::string& data_dir, const std::string& flag,
                                             const std::vector<RaftPeer>& peers) {
  if (storage::FileExists(data_dir + "/" + TopicTable::kFileName)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data dir ", data_dir, " belongs to a single-node broker (it has ", TopicTable::kFileName,
        "); a broker of a cluster needs a data dir of its own"));
  }
  const std::string path = data_dir + "/" + kClusterIdFile;
  if (storage::FileExists(path)) {
    ASSIGN_OR_RETURN(std::string recorded, storage::ReadWholeFile(path));
    recorded = std::string(absl::StripAsciiWhitespace(recorded));
    if (recorded.empty()) return absl::DataLossError(absl::StrCat(path, ": empty"));
    if (!flag.empty() && flag != recorded) {
      return absl::FailedPreconditionError(
          absl::StrCat("data dir ", data_dir, " belongs to cluster \"", recorded, "\", not \"",
                       flag, "\" (--cluster-id); use that cluster's data dir"));
    }
    return recorded;
  }
  std::string id = flag.empty() ? DerivedClusterId(peers) : flag;
  if (id.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--cluster-id: '", id, "' has whitespace"));
  }
  RETURN_IF_ERROR(storage::WriteFileAtomically(path, id + "\n"));
  return id;
}

absl::StatusOr<std::string> ResolveDirectoryId(const std::string& data_dir) {
  const std::string path = data_dir + "/" + kDirectoryIdFile;
  if (storage::FileExists(path)) {
    ASSIGN_OR_RETURN(std::string recorded, storage::ReadWholeFile(path));
    recorded = std::string(absl::StripAsciiWhitespace(recorded));
    if (recorded.empty()) return absl::DataLossError(absl::StrCat(path, ": empty"));
    return recorded;
  }
  const std::string id = NewTopicId();  // 16 random bytes, as hex
  RETURN_IF_ERROR(storage::WriteFileAtomically(path, id + "\n"));
  return id;
}

absl::Status CheckSingleNodeDataDir(const std::string& data_dir) {
  const std::string path = data_dir + "/" + kClusterIdFile;
  if (!storage::FileExists(path)) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string recorded, storage::ReadWholeFile(path));
  return absl::FailedPreconditionError(absl::StrCat(
      "data dir ", data_dir, " belongs to cluster \"", absl::StripAsciiWhitespace(recorded), "\" (",
      kClusterIdFile, "); start this broker with that cluster's --peers and --node-id"));
}

absl::StatusOr<std::set<raft::NodeId>> ParseControllers(const std::string& text,
                                                        const std::vector<RaftPeer>& peers) {
  std::set<raft::NodeId> controllers;
  if (text.empty()) {
    // By id, not by the order listed: brokers given --peers in another order must agree.
    std::vector<raft::NodeId> ids;
    for (const RaftPeer& peer : peers) ids.push_back(peer.id);
    std::sort(ids.begin(), ids.end());
    for (raft::NodeId id : ids) {
      if (controllers.size() == 3) break;
      controllers.insert(id);
    }
    return controllers;
  }
  const std::vector<std::string> parts = absl::StrSplit(text, ',');
  for (const std::string& part : parts) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(part, &id) ||
        std::none_of(peers.begin(), peers.end(), [id](const RaftPeer& p) { return p.id == id; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("--controllers: '", part, "' is not the node id of a --peers entry"));
    }
    if (!controllers.insert(id).second) {
      return absl::InvalidArgumentError(absl::StrCat("--controllers: ", id, " is listed twice"));
    }
  }
  const size_t wanted = std::min<size_t>(3, peers.size());
  if (controllers.size() != 1 && controllers.size() != wanted) {
    return absl::InvalidArgumentError(absl::StrCat("--controllers: ", controllers.size(),
                                                   " controllers; a cluster has 1 or ", wanted));
  }
  return controllers;
}

}  // namespace runnel::broker
