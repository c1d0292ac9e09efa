// GroupCoordinator: membership of consumer groups in the style of Kafka's KIP-848 consumer
// protocol (proto/runnel/v1/groups.proto, docs/ARCHITECTURE.md section 4).
//
// Each group has a group epoch, bumped whenever something that shapes the assignment changes (a
// member joins, leaves or expires, a subscription changes, a subscribed topic appears or
// disappears), and a target assignment computed by the group's assignor (assignor.h) for the
// latest epoch. Members move towards the target one heartbeat at a time:
//   1. a member owning partitions that the target gives to others is told to give them up (its
//      assignment shrinks, its epoch stays) and has `rebalance_timeout_ms` to heartbeat without
//      them;
//   2. a member with nothing left to give up moves to the target's epoch and receives the
//      partitions of its target that no other member still owns; the rest follow on a later
//      heartbeat, once their owners have let go.
// So a partition never has two owners, and members the change does not touch keep consuming.
//
// A member that does not heartbeat within the session timeout, or does not give up revoked
// partitions within its rebalance timeout, is removed and its partitions are reassigned. A static
// member (group.instance.id) that rejoins — after leaving with epoch -2, or after a crash, within
// the session timeout — takes its predecessor's place, epoch and partitions without a new target;
// the predecessor is fenced (FENCED_INSTANCE_ID). Commits are checked against membership
// (CheckCommit): only current members with their current epoch may commit while a group has
// members.
//
// Membership is kept in memory and written to __consumer_offsets (group_records.h) through the
// OffsetStore: after every change, the records of the group that differ from what was last written
// (and tombstones for what is gone) are appended as one batch, and the heartbeat is answered once
// that batch is durable. Load() rebuilds the groups from those records at start, so after a broker
// restart members carry on with their ids, epochs and partitions; their sessions start anew.
//
// Thread-safety: all methods may be called from any thread; one mutex guards every group. Once
// Start()ed, a background thread expires sessions and overdue revocations; without it (tests),
// ExpireNow() does, at the time of the options' clock.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker/cluster/topic_table.h"
#include "broker/group/assignor.h"
#include "broker/group/offset_store.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "runnel/v1/groups.pb.h"

namespace re2 {
class RE2;
}

namespace runnel::broker {

struct GroupCoordinatorOptions {
  int32_t session_timeout_ms = 45000;    // group.consumer.session.timeout.ms
  int32_t heartbeat_interval_ms = 5000;  // group.consumer.heartbeat.interval.ms
  // Session and rebalance deadlines are read from it (SteadyNow); borrowed, must outlive the
  // coordinator.
  const Clock* clock = &Clock::Real();
};

class GroupCoordinator {
 public:
  // Borrows `topics` and `store`, which must outlive the coordinator.
  GroupCoordinator(const TopicTable* topics, OffsetStore* store, GroupCoordinatorOptions options);
  ~GroupCoordinator();  // stops the expiry thread if it runs
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // Loads the committed offsets (OffsetStore::Load) and the groups' membership records; call once,
  // before the first heartbeat. A group whose records do not decode is logged and dropped (its
  // members rejoin); only an unreadable log fails.
  absl::Status Load();

  // In a cluster a broker coordinates the groups of the partitions of __consumer_offsets it leads
  // (coordinator_shards.h). LoadPartition takes `partition`'s groups and committed offsets over
  // from `log`, this broker's replica, read up to its high watermark (OffsetStore::LoadPartition,
  // which refuses while writes are in flight), replacing whatever this coordinator held for them;
  // UnloadPartition drops them (their members are
  // answered NOT_COORDINATOR by the GroupsService and move to the new leader).
  absl::Status LoadPartition(int32_t partition, const storage::Log& log);
  void UnloadPartition(int32_t partition);

  // One heartbeat (see groups.proto). `client_host` is shown by DescribeGroups. `response` is
  // filled before this returns; `done` runs once what the heartbeat changed is durable (at once
  // when it changed nothing), with the write's error if it failed — the member should then retry.
  void Heartbeat(const v1::ConsumerGroupHeartbeatRequest& request, const std::string& client_host,
                 v1::ConsumerGroupHeartbeatResponse* response,
                 std::function<void(absl::Status)> done);

  // Whether `member_id` at `member_epoch` may commit offsets for `group` now: NONE, or
  // UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID / STALE_MEMBER_EPOCH with a message naming the group
  // and member. A non-member (empty id) may commit only while the group has no members.
  v1::Error CheckCommit(const std::string& group, const std::string& member_id,
                        int32_t member_epoch) const;

  // Number of members of `group` (0 for an unknown group).
  int MemberCount(const std::string& group) const;

  // Fills `description` (group_id set by the caller) with state, epochs and members; false when
  // the group has no members.
  bool Describe(const std::string& group, v1::GroupDescription* description) const;

  // Groups with members, sorted, with their state and member count.
  std::vector<v1::GroupListing> List() const;

  // Starts the thread that runs ExpireNow() every kExpiryIntervalMs (of real time); after Load().
  // Idempotent; does nothing after Stop().
  void Start();
  // Stops and joins that thread, so nothing more is written to __consumer_offsets by expiry: call
  // before the logs close. Idempotent; the destructor calls it.
  void Stop();
  static constexpr int64_t kExpiryIntervalMs = 100;
  // Waits until a round of the expiry thread that began after this call has ended, so a test that
  // moved a ManualClock knows the thread has looked at the new time. True then; false at once
  // when the thread is not running (before Start, after Stop), or after `timeout` (real time).
  bool AwaitExpiryRound(std::chrono::milliseconds timeout) const;
  // A member's rebalance timeout when its heartbeat leaves it unset (Kafka's max.poll.interval.ms).
  static constexpr int32_t kDefaultRebalanceTimeoutMs = 300000;

  // Removes the members whose session or revocation deadline has passed by the clock's time.
  void ExpireNow();

 private:
  struct Member {
    std::string id;
    std::string instance_id;
    std::string client_id;
    std::string client_host;
    int32_t epoch = 0;
    int32_t previous_epoch = -1;
    std::vector<std::string> subscribed_topics;  // sorted
    std::string regex;
    std::shared_ptr<const re2::RE2> compiled_regex;
    std::string assignor;
    int32_t rebalance_timeout_ms = 0;
    TopicPartitions assigned;  // what the member may own now
    TopicPartitions revoking;  // told to give up, not yet confirmed
    Clock::SteadyPoint session_deadline;
    Clock::SteadyPoint revoke_deadline;
    bool left_static = false;  // sent epoch -2; waits for its successor
  };

  struct Group {
    std::string id;
    int32_t epoch = 0;
    int32_t assignment_epoch = 0;
    std::string assignor = kDefaultAssignor;
    GroupAssignment target;
    std::map<std::string, Member> members;              // by member id
    std::map<std::string, std::string> static_members;  // instance id -> member id
    std::vector<std::string> fenced_ids;                // replaced static members (bounded)
    std::map<std::string, int32_t> partition_counts;    // subscribed topics, as last resolved
    uint64_t topics_version = 0;
  };

  // A group's records (group_records.h): encoded key -> encoded value.
  using RecordMap = std::map<std::string, std::string>;

  // Checks the request shape; fills `error` and returns false when it is bad.
  static bool CheckRequest(const v1::ConsumerGroupHeartbeatRequest& request, v1::Error* error);
  void HeartbeatLocked(const v1::ConsumerGroupHeartbeatRequest& request,
                       const std::string& client_host, v1::ConsumerGroupHeartbeatResponse* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Join(Group& group, const v1::ConsumerGroupHeartbeatRequest& request,
            const std::string& client_host, v1::ConsumerGroupHeartbeatResponse* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the request's subscription to `member`; true when it changed.
  bool UpdateSubscription(Member& member, const v1::ConsumerGroupHeartbeatRequest& request);
  // Removes the member and bumps the group epoch; the group stays (see EraseIfEmpty).
  void RemoveMember(Group& group, const std::string& member_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseIfEmpty(const std::string& group_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static bool IsFenced(const Group& group, const std::string& member_id);
  static bool IsReplacedInstance(const Group& group,
                                 const v1::ConsumerGroupHeartbeatRequest& request);
  // Re-resolves subscriptions when topics or subscriptions changed (bumping the epoch if the
  // subscribed partitions differ) and recomputes the target if the group epoch moved past it.
  void RefreshTarget(Group& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::set<std::string> ResolveTopics(const Member& member,
                                      const std::vector<TopicInfo>& topics) const;
  // Moves `member` one step towards its target given what it reports to own (reconciliation.h).
  void Reconcile(Group& group, Member& member, const TopicPartitions& owned)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static std::string State(const Group& group);
  // The header's promise, "a partition never has two owners": the first partition that two
  // members hold (assigned or being revoked), as "topic-partition (member a and member b)".
  static std::optional<std::string> SecondOwner(const Group& group);
  static RecordMap Encode(const Group& group);
  // Rebuilds a group from its records; InvalidArgument naming the record that does not decode.
  static absl::StatusOr<Group> Decode(const std::string& group_id, const RecordMap& records);
  // Appends what changed in `group_id` since it was last written (tombstones for a group that is
  // gone). When there was something to write, `*done` is moved into the append's callback;
  // otherwise it is left for the caller. An error means nothing was appended.
  absl::Status Persist(const std::string& group_id, std::function<void(absl::Status)>* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A visitor (for OffsetStore::Load*) that folds group records into each group's latest ones.
  static GroupRecordVisitor Collect(std::map<std::string, RecordMap>* records);
  // Decodes and installs groups from their records (replacing groups of the same id); the number
  // of members installed.
  size_t Install(std::map<std::string, RecordMap> records) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropPartitionLocked(int32_t partition) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewMemberId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpiryLoop();

  const TopicTable* const topics_;
  OffsetStore* const store_;
  const GroupCoordinatorOptions options_;
  mutable Mutex mu_;
  std::map<std::string, Group> groups_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, RecordMap> written_ ABSL_GUARDED_BY(mu_);  // by group, as last appended
  // By group, the record keys of appends that failed after they were accepted: written again (or
  // tombstoned) by the group's next Persist. A leaf lock (append answers may come on any thread).
  Mutex rewrite_mu_;
  std::map<std::string, std::set<std::string>> rewrite_ ABSL_GUARDED_BY(rewrite_mu_);
  // What written_ holds for a record a failed append may or may not have left in the log: no
  // encoded value equals it, so the next Persist writes the record again.
  static constexpr char kUnknownRecord[] = "\xff(unknown: a failed append)";
  uint64_t next_member_ ABSL_GUARDED_BY(mu_) = 0;
  std::string member_prefix_;  // random per coordinator, so ids do not repeat across restarts
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CondVar stop_cv_;
  std::thread expiry_thread_ ABSL_GUARDED_BY(mu_);
  // Rounds of the expiry thread begun and ended (AwaitExpiryRound); round_cv_ signals an end and
  // Stop.
  int64_t rounds_begun_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t rounds_ended_ ABSL_GUARDED_BY(mu_) = 0;
  mutable CondVar round_cv_;
};

// The partitions of a heartbeat's `owned` / a response's `assignment` field, and back.
TopicPartitions FromProto(const google::protobuf::RepeatedPtrField<v1::TopicPartitions>& list);
void ToProto(const TopicPartitions& partitions,
             google::protobuf::RepeatedPtrField<v1::TopicPartitions>* list);

}  // namespace runnel::broker
