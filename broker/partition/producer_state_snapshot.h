// The producer-state snapshot file (`<partition dir>/producer-state`, docs/FORMAT.md section 15):
// a ProducerStateTable as of one log end offset, with a CRC32C so a torn or damaged file is
// detected. Written at every roll and at clean shutdown; read when a partition's producer state is
// first loaded, after which the log from that offset on is scanned for the batches the snapshot
// misses. Version 2 adds each producer's last timestamp (producer.id.expiration.ms); version 1
// files are still read (their producers' timestamps unknown).
//
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "broker/partition/producer_state.h"

namespace runnel::broker {

// Snapshots are `<end offset, 20 digits>.snapshot` (Kafka's name), the last kSnapshotsKept of
// them kept, so a truncation below the newest still finds an older one. Before version 2 there was
// one file, `producer-state`: still read, removed once a newer snapshot is written.
inline constexpr char kSnapshotSuffix[] = ".snapshot";
inline constexpr char kLegacyProducerStateFile[] = "producer-state";
inline constexpr size_t kSnapshotsKept = 3;
std::string SnapshotFileName(int64_t end_offset);
// The end offset of a snapshot file's name, std::nullopt for any other name.
std::optional<int64_t> ParseSnapshotFileName(std::string_view name);
// Written; 1, 2 and 3 are read. Versions 2 and 3 have the same layout, but a version 2 file's
// lastTimestamp is a batch's record time (CreateTime), not the broker's append time: read as -1
// (unknown), so its producers are not expired early after an upgrade.
inline constexpr int16_t kProducerStateVersion = 3;

struct ProducerStateSnapshot {
  int64_t end_offset = 0;  // the log end offset the table covers: batches below it are in it
  ProducerStateTable table;
};

std::string EncodeProducerStateSnapshot(const ProducerStateTable& table, int64_t end_offset);

// DataLoss naming the problem (size, version, CRC, a bad count or value) for anything that is
// not a snapshot written by EncodeProducerStateSnapshot.
absl::StatusOr<ProducerStateSnapshot> DecodeProducerStateSnapshot(std::string_view bytes);

}  // namespace runnel::broker
