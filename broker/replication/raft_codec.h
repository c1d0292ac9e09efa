// raft::Message <-> runnel.v1.RaftMessage (proto/runnel/v1/raft.proto), and the checks a message
// from the network passes before a node sees it: the node asserts its inputs' shape (contiguous
// entries, a batch per data entry), so a malformed or corrupt message must be refused here, never
// reach it.
#pragma once

#include "absl/status/statusor.h"
#include "raft/types.h"
#include "runnel/v1/raft.pb.h"

namespace runnel::broker {

// Both take their input: an append's entry data moves, not copied (a batch is up to a MiB).
void ToProto(raft::Message message, v1::RaftMessage* out);

// InvalidArgument naming the field for: an unknown type; negative terms or ids; entries that are
// not contiguous from index + 1, run backwards, carry a term above the message's or below the
// previous entry's; a data entry that is not exactly one RecordBatch v2 batch covering the
// entry's offsets with a good CRC; a config entry or snapshot config that does not decode; a
// snapshot with data (a partition's snapshot is empty).
absl::StatusOr<raft::Message> FromProto(v1::RaftMessage message);

}  // namespace runnel::broker
