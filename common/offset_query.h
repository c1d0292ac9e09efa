// The special values of the ListOffsets query (proto/runnel/v1/broker.proto,
// OffsetQuery.timestamp), Kafka's ListOffsetsRequest.EARLIEST_TIMESTAMP and LATEST_TIMESTAMP, and
// the offset answered when none matches: one definition for the broker that answers and the clients
// that ask.
#pragma once

#include <cstdint>

namespace runnel {

inline constexpr int64_t kEarliestOffsetQuery = -2;  // answered with the log start offset
inline constexpr int64_t kLatestOffsetQuery = -1;    // answered with the high watermark
inline constexpr int64_t kNoOffset = -1;             // no record at or after the timestamp

}  // namespace runnel
