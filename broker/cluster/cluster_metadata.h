// ClusterMetadata: this broker's view of the cluster metadata log (`__cluster_metadata-0`,
// FORMAT.md section 24) — a Raft group whose voters are the controller nodes and whose learners are
// the other brokers — and the MetadataImage its committed records build. On the controller leader
// it also appends records (Propose); every broker applies what commits, in order, on the
// replication thread, and publishes each new image to its listener.
//
// At start the records the last run knew committed (up to the checkpointed high watermark) are
// applied at once, so a restarted broker knows its topics before it hears from a controller.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "absl/status/statusor.h"
#include "broker/cluster/metadata_image.h"
#include "broker/replication/replica_manager.h"
#include "common/mutex.h"
#include "runnel/v1/metadata.pb.h"
#include "storage/log.h"

namespace runnel::broker {

struct ClusterMetadataOptions {
  raft::NodeId node_id = raft::kNoNode;
  std::set<raft::NodeId> controllers;  // the metadata group's voters
  std::set<raft::NodeId> brokers;      // every broker; those not controllers are learners
  // This broker's data directory id (directory.id). The metadata group checks votes against the
  // directories the registrations record (raft::Options::directory_id): a controller whose disk
  // was wiped votes no candidate whose metadata predates its new registration.
  std::string directory_id;
};

class ClusterMetadata {
 public:
  static constexpr const char* kTopic = kMetadataTopic;

  // `replicas` is borrowed and must outlive this object; it must be started. The replication
  // thread calls into this object (its commit listener) until the replica manager is stopped:
  // stop it before destroying this.
  ClusterMetadata(ClusterMetadataOptions options, ReplicaManager* replicas);

  // `listener` gets every new image (on the replication thread: it must only hand it on). Set it
  // before Start.
  void SetListener(std::function<void(std::shared_ptr<const MetadataImage>)> listener);
  // Replicates `log` (the metadata partition's log, never subject to retention) in the metadata
  // group and applies what is known committed.
  absl::Status Start(std::shared_ptr<storage::Log> log);

  std::shared_ptr<const MetadataImage> image() const;
  // The controller leader as this broker knows it (kNoNode if none yet).
  raft::NodeId leader() const;
  // The metadata group's current term as this broker knows it (0 before any).
  raft::Term term() const;
  // The metadata log's high watermark here (what this broker knows committed), 0 before any.
  int64_t high_watermark() const;

  // As the controller leader: appends `records` as one batch; `done` gets the batch's first
  // offset once it is committed and applied here (the records that did not apply are logged).
  // FailedPrecondition naming the leader when this broker does not lead the metadata group.
  void Propose(std::vector<v1::MetadataRecord> records,
               std::function<void(absl::StatusOr<int64_t>)> done);
  // Propose, waiting at most `timeout_ms` (DeadlineExceeded after).
  absl::StatusOr<int64_t> ProposeAndWait(std::vector<v1::MetadataRecord> records,
                                         int64_t timeout_ms);

 private:
  // Replication thread: decodes and applies committed entries.
  void OnCommitted(const std::vector<raft::Entry>& entries);

  const ClusterMetadataOptions options_;
  ReplicaManager* const replicas_;

  mutable Mutex mu_;
  std::shared_ptr<storage::Log> log_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const MetadataImage> image_ ABSL_GUARDED_BY(mu_);
  std::function<void(std::shared_ptr<const MetadataImage>)> listener_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel::broker
