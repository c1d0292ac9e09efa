#include "broker/replication/raft_codec.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/record/control_record.h"
#include "common/record/record_batch.h"
#include "common/status_macros.h"
#include "raft/membership.h"

namespace runnel::broker {
namespace {

absl::Status CheckDataEntry(const raft::Entry& entry) {
  absl::StatusOr<record::RecordBatchView> batch = record::RecordBatchView::Parse(entry.data);
  if (!batch.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry at ", entry.first, ": not a record batch: ", batch.status().message()));
  }
  if (batch->size() != entry.data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry at ", entry.first, ": bytes after its batch"));
  }
  if (batch->last_offset_delta() != entry.last - entry.first) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry [", entry.first, ", ", entry.last, "]: its batch covers ",
                     int64_t{batch->last_offset_delta()} + 1, " offsets"));
  }
  if (batch->ComputeCrc() != batch->crc()) {
    return absl::InvalidArgumentError(
        absl::StrCat("entry at ", entry.first, ": the batch fails its CRC check"));
  }
  if (batch->is_control()) {
    // PartitionRaftLog reads a control batch back as a leader or membership change, and stops on
    // one it cannot decode: only transaction markers may travel as data.
    absl::StatusOr<record::ControlRecord> control = record::ParseControlBatch(*batch);
    if (!control.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry at ", entry.first, ": ", control.status().message()));
    }
    if (control->type != record::ControlType::kAbort &&
        control->type != record::ControlType::kCommit) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry at ", entry.first, ": a data entry holds a control batch of type ",
                       static_cast<int>(control->type)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void ToProto(raft::Message m, v1::RaftMessage* out) {
  out->set_type(static_cast<v1::RaftMessage::Type>(m.type));
  out->set_from(m.from);
  out->set_to(m.to);
  out->set_term(m.term);
  out->set_index(m.index);
  out->set_log_term(m.log_term);
  out->set_commit(m.commit);
  for (raft::Entry& entry : m.entries) {
    v1::RaftEntry* e = out->add_entries();
    e->set_first(entry.first);
    e->set_last(entry.last);
    e->set_term(entry.term);
    e->set_type(static_cast<v1::RaftEntry::Type>(entry.type));
    e->set_data(std::move(entry.data));
  }
  out->set_reject(m.reject);
  out->set_hint_index(m.hint_index);
  out->set_hint_term(m.hint_term);
  out->set_transfer(m.transfer);
  out->set_context(m.context);
  out->set_data(m.data);
  out->set_config(m.config);
  out->set_voter_directory(m.voter_directory);
}

absl::StatusOr<raft::Message> FromProto(v1::RaftMessage in) {
  if (!v1::RaftMessage::Type_IsValid(in.type())) {
    return absl::InvalidArgumentError(absl::StrCat("type: unknown message type ", in.type()));
  }
  raft::Message m;
  m.type = static_cast<raft::MessageType>(in.type());
  m.from = in.from();
  m.to = in.to();
  m.term = in.term();
  m.index = in.index();
  m.log_term = in.log_term();
  m.commit = in.commit();
  m.reject = in.reject();
  m.hint_index = in.hint_index();
  m.hint_term = in.hint_term();
  m.transfer = in.transfer();
  m.context = in.context();
  m.data = in.data();
  m.config = in.config();
  m.voter_directory = in.voter_directory();
  if (m.from < 0 || m.to < 0) {
    return absl::InvalidArgumentError(absl::StrCat("from/to: node ids ", m.from, ", ", m.to));
  }
  if (m.term < 0 || m.log_term < 0 || m.hint_term < 0) {
    return absl::InvalidArgumentError("term: a negative term");
  }
  // A term is stored as a batch's int32 partitionLeaderEpoch (PartitionRaftLog stops on one that
  // does not fit).
  constexpr raft::Term kMaxTerm = std::numeric_limits<int32_t>::max();
  if (m.term > kMaxTerm || m.log_term > kMaxTerm || m.hint_term > kMaxTerm) {
    return absl::InvalidArgumentError(
        absl::StrCat("term: ", std::max({m.term, m.log_term, m.hint_term}),
                     " does not fit a partitionLeaderEpoch"));
  }
  if (m.index < raft::kNoIndex || m.commit < raft::kNoIndex || m.hint_index < raft::kNoIndex) {
    return absl::InvalidArgumentError("index: below -1");
  }
  if (!m.data.empty()) {
    return absl::InvalidArgumentError("data: a partition log has no snapshot data");
  }
  if (!m.config.empty()) RETURN_IF_ERROR(raft::Membership::Decode(m.config).status());
  if (in.entries_size() > 0 && m.type != raft::MessageType::kAppend) {
    return absl::InvalidArgumentError(
        absl::StrCat("entries: a ", raft::MessageTypeName(m.type), " carries none"));
  }
  raft::Index expected = m.index + 1;
  raft::Term previous_term = m.log_term;
  m.entries.reserve(static_cast<size_t>(in.entries_size()));
  for (v1::RaftEntry& e : *in.mutable_entries()) {
    if (!v1::RaftEntry::Type_IsValid(e.type())) {
      return absl::InvalidArgumentError(absl::StrCat("entries: unknown entry type ", e.type()));
    }
    raft::Entry entry;
    entry.first = e.first();
    entry.last = e.last();
    entry.term = e.term();
    entry.type = static_cast<raft::EntryType>(e.type());
    entry.data = std::move(*e.mutable_data());
    if (entry.first != expected || entry.last < entry.first) {
      return absl::InvalidArgumentError(absl::StrCat("entries: [", entry.first, ", ", entry.last,
                                                     "] where ", expected, " was expected"));
    }
    if (entry.term < previous_term || entry.term > m.term) {
      return absl::InvalidArgumentError(absl::StrCat("entries: term ", entry.term, " at ",
                                                     entry.first, " after term ", previous_term,
                                                     " in a message of term ", m.term));
    }
    switch (entry.type) {
      case raft::EntryType::kData:
        RETURN_IF_ERROR(CheckDataEntry(entry));
        break;
      case raft::EntryType::kConfig:
        RETURN_IF_ERROR(raft::Membership::Decode(entry.data).status());
        [[fallthrough]];
      case raft::EntryType::kLeaderChange:
        if (entry.last != entry.first) {
          return absl::InvalidArgumentError(absl::StrCat("entries: a control entry covers [",
                                                         entry.first, ", ", entry.last, "]"));
        }
        break;
    }
    expected = entry.last + 1;
    previous_term = entry.term;
    m.entries.push_back(std::move(entry));
  }
  return m;
}

}  // namespace runnel::broker
