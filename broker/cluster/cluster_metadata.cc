#include "broker/cluster/cluster_metadata.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/record/batch_builder.h"
#include "common/record/record_iterator.h"

namespace runnel::broker {
namespace {

// The metadata partition's topic id (a fixed value: the topic is never deleted).
constexpr char kMetadataTopicId[] = "cluster-metadata";

const storage::TopicPartition& MetadataPartition() {
  static const storage::TopicPartition tp{ClusterMetadata::kTopic, 0};
  return tp;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ClusterMetadata::ClusterMetadata(ClusterMetadataOptions options, ReplicaManager* replicas)
    : options_(std::move(options)),
      replicas_(replicas),
      image_(std::make_shared<const MetadataImage>()) {}

void ClusterMetadata::SetListener(
    std::function<void(std::shared_ptr<const MetadataImage>)> listener) {
  MutexLock lock(&mu_);
  listener_ = std::move(listener);
}

absl::Status ClusterMetadata::Start(std::shared_ptr<storage::Log> log) {
  {
    MutexLock lock(&mu_);
    log_ = log;
  }
  std::set<raft::NodeId> learners;
  for (raft::NodeId id : options_.brokers) {
    if (!options_.controllers.contains(id)) learners.insert(id);
  }
  ReplicaManager::VoterDirectories directories;
  directories.own = options_.directory_id;
  directories.recorded = [this](raft::NodeId id) {
    const std::shared_ptr<const MetadataImage> now = image();
    auto it = now->brokers().find(id);
    return it == now->brokers().end() ? std::string() : it->second.directory_id;
  };
  return replicas_->AddReplica(
      MetadataPartition(), kMetadataTopicId, std::move(log),
      raft::Membership(options_.controllers, learners),
      [this](const std::vector<raft::Entry>& entries) { OnCommitted(entries); },
      /*may_have_lost_state=*/false, std::move(directories));
}

std::shared_ptr<const MetadataImage> ClusterMetadata::image() const {
  MutexLock lock(&mu_);
  return image_;
}

raft::NodeId ClusterMetadata::leader() const {
  const std::optional<ReplicaStatus> status = replicas_->Status(MetadataPartition());
  return status.has_value() ? status->leader : raft::kNoNode;
}

int64_t ClusterMetadata::high_watermark() const {
  const std::optional<ReplicaStatus> status = replicas_->Status(MetadataPartition());
  return status.has_value() ? status->high_watermark : 0;
}

raft::Term ClusterMetadata::term() const {
  const std::optional<ReplicaStatus> status = replicas_->Status(MetadataPartition());
  return status.has_value() ? status->term : 0;
}

void ClusterMetadata::OnCommitted(const std::vector<raft::Entry>& entries) {
  MetadataImage next = *image();
  bool changed = false;
  for (const raft::Entry& entry : entries) {
    if (entry.type != raft::EntryType::kData) continue;
    absl::StatusOr<record::RecordBatchView> batch = record::RecordBatchView::Parse(entry.data);
    absl::StatusOr<record::RecordIterator> it =
        batch.ok() ? record::RecordIterator::Create(*batch)
                   : absl::StatusOr<record::RecordIterator>(batch.status());
    if (!it.ok()) {
      logging::Get("cluster")->error("metadata log: batch at {} unreadable: {}", entry.first,
                                     it.status().ToString());
      continue;
    }
    record::Record r;
    while (it->Next(&r)) {
      v1::MetadataRecord record;
      if (!r.value.has_value() ||
          !record.ParseFromArray(r.value->data(), static_cast<int>(r.value->size()))) {
        logging::Get("cluster")->error("metadata log: record at {} does not parse", r.offset);
        continue;
      }
      changed = true;
      if (absl::Status applied = next.Apply(record); !applied.ok()) {
        logging::Get("cluster")->warn("metadata log: record at {} not applied: {}", r.offset,
                                      applied.ToString());
      }
    }
    if (!it->status().ok()) {
      logging::Get("cluster")->error("metadata log: batch at {}: {}", entry.first,
                                     it->status().ToString());
    }
  }
  if (!changed) return;
  auto published = std::make_shared<const MetadataImage>(std::move(next));
  std::function<void(std::shared_ptr<const MetadataImage>)> listener;
  {
    MutexLock lock(&mu_);
    image_ = published;
    listener = listener_;
  }
  if (listener) listener(published);
}

void ClusterMetadata::Propose(std::vector<v1::MetadataRecord> records,
                              std::function<void(absl::StatusOr<int64_t>)> done) {
  std::shared_ptr<storage::Log> log;
  {
    MutexLock lock(&mu_);
    log = log_;
  }
  if (log == nullptr) {
    done(absl::FailedPreconditionError("the metadata log is not started"));
    return;
  }
  record::RecordBatchBuilder builder;
  const int64_t now = NowMs();
  for (const v1::MetadataRecord& record : records) {
    builder.Append(now, std::nullopt, record.SerializeAsString());
  }
  absl::StatusOr<std::string> batch = builder.Build();
  if (!batch.ok()) {
    done(batch.status());
    return;
  }
  int64_t append_time = 0;
  if (absl::Status prepared = log->PrepareAppend(&*batch, &append_time); !prepared.ok()) {
    done(prepared);
    return;
  }
  replicas_->Produce(MetadataPartition(), *std::move(batch), static_cast<int64_t>(records.size()),
                     /*wait_commit=*/true,
                     [done = std::move(done)](absl::StatusOr<storage::AppendResult> result) {
                       if (!result.ok()) {
                         done(result.status());
                       } else {
                         done(result->base_offset);
                       }
                     });
}

absl::StatusOr<int64_t> ClusterMetadata::ProposeAndWait(std::vector<v1::MetadataRecord> records,
                                                        int64_t timeout_ms) {
  struct Answer {
    Mutex mu;
    CondVar cv;
    std::optional<absl::StatusOr<int64_t>> result ABSL_GUARDED_BY(mu);
  };
  auto answer = std::make_shared<Answer>();
  Propose(std::move(records), [answer](absl::StatusOr<int64_t> result) {
    MutexLock lock(&answer->mu);
    answer->result = std::move(result);
    answer->cv.SignalAll();
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  MutexLock lock(&answer->mu);
  while (!answer->result.has_value()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("metadata records not committed within ", timeout_ms, " ms"));
    }
    answer->cv.WaitWithTimeout(&answer->mu, left);
  }
  return *std::move(answer->result);
}

}  // namespace runnel::broker
