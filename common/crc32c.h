// CRC32C (Castagnoli, polynomial 0x1EDC6F41 / reflected 0x82F63B78), the checksum of Kafka's
// RecordBatch v2. The SSE4.2 `crc32` instruction is used when the CPU has it (checked once at run
// time), otherwise a portable slicing-by-8 table implementation. Both give identical results.
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace runnel::crc32c {

// Returns the CRC32C of data[0, n) appended to a message whose CRC32C is `crc` (0 for an empty
// message), so Extend(Extend(0, a), b) == Value(a + b).
uint32_t Extend(uint32_t crc, const void* data, size_t n);

inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view data) { return Extend(0, data.data(), data.size()); }

// The two implementations, exposed so tests can check they agree and benchmarks can compare.
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);
// Only call when HardwareAvailable() is true.
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n);
bool HardwareAvailable();

}  // namespace runnel::crc32c
