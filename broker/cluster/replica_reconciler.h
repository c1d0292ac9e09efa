// ReplicaReconciler: makes the partitions this broker replicates follow the metadata image. For
// every partition whose replica list names this broker it opens the partition's log (tagged with
// the topic id, so a directory left by an earlier topic of the same name is replaced, not
// adopted) and starts replicating it in a group of those replicas; a partition no longer assigned
// here stops replicating, and its log is deleted when its topic is gone. Topic config changes
// reach the open logs. A replica created for a partition older than this broker's data dir
// (metadata_image.h, BrokerInfo::directory_since) may have had a copy here that was wiped with the
// disk: it starts catching up (raft::Options::catching_up) and votes once it has.
//
// Images arrive on the replication thread (ClusterMetadata's listener); the work is done on the
// reconciler's own thread, always against the newest image (intermediate ones are skipped).
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "broker/cluster/metadata_image.h"
#include "broker/replication/replica_manager.h"
#include "common/mutex.h"
#include "storage/log.h"
#include "storage/log_manager.h"

namespace runnel::broker {

struct ReplicaReconcilerHooks {
  // The log config of a topic: the broker's defaults with the topic's overrides. Required.
  std::function<absl::StatusOr<storage::LogConfig>(const TopicMetadata& topic)> log_config;
  // Opens (creating) the log of `tp` with `config`. Required.
  std::function<absl::StatusOr<std::shared_ptr<storage::Log>>(const storage::TopicPartition& tp,
                                                              const storage::LogConfig& config)>
      open_log;
  // Deletes the log of `tp` (its topic is gone, or a directory of an earlier topic of that name).
  std::function<absl::Status(const storage::TopicPartition& tp)> delete_log;
};

class ReplicaReconciler {
 public:
  // `replicas` is borrowed (started, and outliving this object). `directory_id` is this broker's
  // data dir's (ClusterNodeOptions::directory_id; empty: replicas never count as wiped).
  ReplicaReconciler(raft::NodeId node_id, ReplicaManager* replicas, ReplicaReconcilerHooks hooks,
                    std::string directory_id = {});
  ~ReplicaReconciler();  // Stop()

  void Start();
  void Stop();

  // The newest image; reconciled soon on the reconciler's thread.
  void Update(std::shared_ptr<const MetadataImage> image);
  // Reconciles `image` now, on the calling thread (tests; the thread must not be running).
  absl::Status Reconcile(const MetadataImage& image);

  // Partitions replicated here, by the reconciler's last pass.
  std::set<storage::TopicPartition> hosted() const;
  // Images reconciled so far (the image's applied() of the last one).
  int64_t reconciled() const;

 private:
  void Run();

  const raft::NodeId node_id_;
  const std::string directory_id_;
  ReplicaManager* const replicas_;
  const ReplicaReconcilerHooks hooks_;

  mutable Mutex mu_;
  CondVar cv_;
  std::shared_ptr<const MetadataImage> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<storage::TopicPartition, std::shared_ptr<storage::Log>> hosted_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, std::string>> configs_ ABSL_GUARDED_BY(mu_);
  int64_t reconciled_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace runnel::broker
