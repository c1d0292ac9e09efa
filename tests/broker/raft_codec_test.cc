// raft::Message <-> RaftMessage, and the refusal of malformed messages from the network
// (broker/replication/raft_codec.h).
#include "broker/replication/raft_codec.h"

#include <gtest/gtest.h>

#include "common/record/batch_builder.h"
#include "common/record/control_record.h"

namespace runnel::broker {
namespace {

std::string Batch(int count) {
  record::RecordBatchBuilder builder;
  for (int i = 0; i < count; ++i) builder.Append(1'000 + i, "k", "v");
  return *builder.Build();
}

raft::Message Append() {
  raft::Message m;
  m.type = raft::MessageType::kAppend;
  m.from = 1;
  m.to = 2;
  m.term = 4;
  m.index = 9;
  m.log_term = 3;
  m.commit = 7;
  raft::Entry data;
  data.first = 10;
  data.last = 12;
  data.term = 3;
  data.data = Batch(3);
  raft::Entry change;
  change.first = 13;
  change.last = 13;
  change.term = 4;
  change.type = raft::EntryType::kLeaderChange;
  raft::Entry config = change;
  config.first = config.last = 14;
  config.type = raft::EntryType::kConfig;
  config.data = "voters=1,2,3;learners=";
  m.entries = {data, change, config};
  return m;
}

absl::Status Decode(const raft::Message& m) {
  v1::RaftMessage proto;
  ToProto(m, &proto);
  return FromProto(proto).status();
}

TEST(RaftCodecTest, EveryMessageTypeRoundTrips) {
  for (int type = 0; type <= static_cast<int>(raft::MessageType::kTimeoutNow); ++type) {
    raft::Message m =
        type == static_cast<int>(raft::MessageType::kAppend) ? Append() : raft::Message{};
    m.type = static_cast<raft::MessageType>(type);
    m.from = 3;
    m.to = 1;
    m.term = 5;
    m.reject = type % 2 == 1;
    m.hint_index = 8;
    m.hint_term = 2;
    m.transfer = true;
    m.context = 77;
    if (m.type == raft::MessageType::kSnapshot) m.config = "voters=1;learners=2";
    if (m.type == raft::MessageType::kVote) m.voter_directory = "dir-of-1";
    v1::RaftMessage proto;
    ToProto(m, &proto);
    auto back = FromProto(proto);
    ASSERT_TRUE(back.ok()) << raft::MessageTypeName(m.type) << ": " << back.status();
    EXPECT_EQ(back->type, m.type);
    EXPECT_EQ(back->from, m.from);
    EXPECT_EQ(back->term, m.term);
    EXPECT_EQ(back->index, m.index);
    EXPECT_EQ(back->commit, m.commit);
    EXPECT_EQ(back->entries, m.entries);
    EXPECT_EQ(back->reject, m.reject);
    EXPECT_EQ(back->hint_index, m.hint_index);
    EXPECT_EQ(back->hint_term, m.hint_term);
    EXPECT_EQ(back->context, m.context);
    EXPECT_EQ(back->config, m.config);
    EXPECT_EQ(back->voter_directory, m.voter_directory);
  }
}

TEST(RaftCodecTest, EntriesThatAreNotContiguousOrRunBackInTermAreRefused) {
  raft::Message gap = Append();
  gap.entries[1].first = gap.entries[1].last = 14;
  EXPECT_NE(Decode(gap).message().find("where 13 was expected"), std::string::npos) << Decode(gap);

  raft::Message backwards = Append();
  backwards.entries[0].term = 4;
  backwards.entries[1].term = 3;
  EXPECT_TRUE(absl::IsInvalidArgument(Decode(backwards)));

  raft::Message future = Append();
  future.entries[2].term = 5;  // above the message's term
  EXPECT_NE(Decode(future).message().find("term 5"), std::string::npos) << Decode(future);

  raft::Message wide_control = Append();
  wide_control.entries.resize(2);
  wide_control.entries[1].last = 14;
  EXPECT_NE(Decode(wide_control).message().find("control entry"), std::string::npos)
      << Decode(wide_control);
}

TEST(RaftCodecTest, ADataEntryMustBeOneGoodBatchCoveringItsOffsets) {
  raft::Message short_batch = Append();
  short_batch.entries[0].data = Batch(2);  // covers 2 offsets, the entry 3
  EXPECT_NE(Decode(short_batch).message().find("covers 2 offsets"), std::string::npos)
      << Decode(short_batch);

  raft::Message corrupt = Append();
  corrupt.entries[0].data.back() ^= 1;
  EXPECT_NE(Decode(corrupt).message().find("CRC"), std::string::npos) << Decode(corrupt);

  raft::Message garbage = Append();
  garbage.entries[0].data = "not a batch";
  EXPECT_NE(Decode(garbage).message().find("not a record batch"), std::string::npos)
      << Decode(garbage);

  raft::Message trailing = Append();
  trailing.entries[0].data += "xx";
  EXPECT_NE(Decode(trailing).message().find("bytes after"), std::string::npos) << Decode(trailing);
}

TEST(RaftCodecTest, BadFieldsAreRefusedNamingThem) {
  v1::RaftMessage proto;
  ToProto(Append(), &proto);
  proto.set_type(static_cast<v1::RaftMessage::Type>(42));
  EXPECT_NE(FromProto(proto).status().message().find("type"), std::string::npos);

  raft::Message config = Append();
  config.entries[2].data = "voters=x";
  EXPECT_TRUE(absl::IsInvalidArgument(Decode(config))) << Decode(config);

  raft::Message snapshot = Append();
  snapshot.entries.clear();
  snapshot.type = raft::MessageType::kSnapshot;
  snapshot.data = "state";
  EXPECT_NE(Decode(snapshot).message().find("snapshot"), std::string::npos) << Decode(snapshot);

  raft::Message heartbeat = Append();
  heartbeat.type = raft::MessageType::kHeartbeat;
  EXPECT_NE(Decode(heartbeat).message().find("carries none"), std::string::npos)
      << Decode(heartbeat);

  raft::Message negative;
  negative.term = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(Decode(negative)));
}

// Terms are stored as a batch's int32 partitionLeaderEpoch (PartitionRaftLog stops the process on
// one that does not fit): a peer's term past it must be refused here, before the node adopts it
// as its own term and writes it into its log as a leader.
TEST(RaftCodecTest, ATermThatDoesNotFitAPartitionLeaderEpochIsRefused) {
  raft::Message huge;
  huge.type = raft::MessageType::kHeartbeat;
  huge.from = 1;
  huge.to = 2;
  huge.term = int64_t{1} << 33;
  EXPECT_TRUE(absl::IsInvalidArgument(Decode(huge))) << Decode(huge);

  raft::Message log_term = Append();
  log_term.entries.clear();
  log_term.log_term = int64_t{1} << 40;
  log_term.term = int64_t{1} << 40;
  EXPECT_TRUE(absl::IsInvalidArgument(Decode(log_term))) << Decode(log_term);
}

// A data entry holding a control batch is read back by PartitionRaftLog as a leader change or a
// membership change, or stops the replica when its record is not a control record.
TEST(RaftCodecTest, ADataEntryHoldingALeaderOrMembershipControlBatchIsRefused) {
  raft::Message voters = Append();
  voters.entries.resize(1);
  voters.entries[0].last = voters.entries[0].first;
  voters.entries[0].data =
      record::BuildControlBatch(record::ControlType::kVoters, "voters=9;learners=", 1'000);
  EXPECT_TRUE(absl::IsInvalidArgument(Decode(voters))) << Decode(voters);

  record::RecordBatchBuilder bad_key({.is_control = true});
  bad_key.Append(1'000, "abc", "v");
  raft::Message bad = voters;
  bad.entries[0].data = *bad_key.Build();
  EXPECT_TRUE(absl::IsInvalidArgument(Decode(bad))) << Decode(bad);
}

}  // namespace
}  // namespace runnel::broker
