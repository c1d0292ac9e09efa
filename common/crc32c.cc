#include "common/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace runnel::crc32c {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78;  // reflected Castagnoli

// kTables[k][b] is the CRC of byte b followed by k zero bytes: slicing-by-8 processes eight input
// bytes per step with eight independent table look-ups.
constexpr std::array<std::array<uint32_t, 256>, 8> MakeTables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ ((crc & 1) ? kPolynomial : 0);
    t[0][b] = crc;
  }
  for (uint32_t b = 0; b < 256; ++b) {
    for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}
constexpr auto kTables = MakeTables();

uint64_t LoadLittleEndian64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

ExtendFn ChooseImplementation() { return HardwareAvailable() ? &ExtendHardware : &ExtendPortable; }

}  // namespace

uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t l = ~crc;
  for (; n >= 8; n -= 8, p += 8) {
    const uint64_t word = LoadLittleEndian64(p) ^ l;
    l = kTables[7][word & 0xff] ^ kTables[6][(word >> 8) & 0xff] ^ kTables[5][(word >> 16) & 0xff] ^
        kTables[4][(word >> 24) & 0xff] ^ kTables[3][(word >> 32) & 0xff] ^
        kTables[2][(word >> 40) & 0xff] ^ kTables[1][(word >> 48) & 0xff] ^ kTables[0][word >> 56];
  }
  for (; n > 0; --n, ++p) l = (l >> 8) ^ kTables[0][(l ^ *p) & 0xff];
  return ~l;
}

#if defined(__x86_64__)

bool HardwareAvailable() {
  static const bool available = __builtin_cpu_supports("sse4.2");
  return available;
}

namespace {

// Three-stream hardware CRC. `crc32q` has a 3-cycle latency and a throughput of one per cycle, so
// one dependency chain uses a third of the unit: ExtendHardware runs three chains over three
// adjacent blocks at once and joins them. A CRC register is linear over GF(2) once the initial
// and final inversions are set aside: the register after blocks A then B is the register after A
// pushed through |B| zero bytes, xor B's register computed from 0. Pushing a register through a
// fixed number of zero bytes is a 32x32 bit matrix, applied here with four 256-entry tables
// (ZeroShift). The method is Mark Adler's (crc32c.c, zlib license); the code is ours.
constexpr size_t kLongBlock = 8192;  // the three chains' block for long inputs
constexpr size_t kShortBlock = 256;  // and for what is left (or short inputs)

// `vector` times the 32x32 matrix `m` (m[i]: the image of bit i).
uint32_t MatrixTimes(const std::array<uint32_t, 32>& m, uint32_t vector) {
  uint32_t sum = 0;
  for (int i = 0; vector != 0; ++i, vector >>= 1) {
    if (vector & 1) sum ^= m[i];
  }
  return sum;
}

std::array<uint32_t, 32> MatrixSquare(const std::array<uint32_t, 32>& m) {
  std::array<uint32_t, 32> square{};
  for (int i = 0; i < 32; ++i) square[i] = MatrixTimes(m, m[i]);
  return square;
}

// Pushes a raw CRC register through `Bytes` zero bytes (a power of two) with table look-ups.
template <size_t Bytes>
class ZeroShift {
 public:
  static_assert(Bytes > 0 && (Bytes & (Bytes - 1)) == 0);
  ZeroShift() {
    // One zero bit: shift right, folding the polynomial in when the low bit falls out.
    std::array<uint32_t, 32> op{};
    op[0] = kPolynomial;
    for (int i = 1; i < 32; ++i) op[i] = uint32_t{1} << (i - 1);
    for (size_t bits = 1; bits < Bytes * 8; bits *= 2) op = MatrixSquare(op);
    for (uint32_t b = 0; b < 256; ++b) {
      for (int k = 0; k < 4; ++k) table_[k][b] = MatrixTimes(op, b << (8 * k));
    }
  }
  uint32_t operator()(uint32_t crc) const {
    return table_[0][crc & 0xff] ^ table_[1][(crc >> 8) & 0xff] ^ table_[2][(crc >> 16) & 0xff] ^
           table_[3][crc >> 24];
  }

 private:
  std::array<std::array<uint32_t, 256>, 4> table_;
};

// Runs three chains over the blocks [p, p + B), [p + B, p + 2B), [p + 2B, p + 3B) of each 3B
// bytes while at least 3B are left, joining them after each round.
template <size_t Block>
__attribute__((target("sse4.2"))) uint64_t ExtendThreeWay(uint64_t l, const unsigned char** p,
                                                          size_t* n) {
  static const ZeroShift<Block> shift;
  while (*n >= 3 * Block) {
    uint64_t l1 = 0, l2 = 0;
    const unsigned char* q = *p;
    for (const unsigned char* end = q + Block; q < end; q += 8) {
      uint64_t w0, w1, w2;
      std::memcpy(&w0, q, 8);
      std::memcpy(&w1, q + Block, 8);
      std::memcpy(&w2, q + 2 * Block, 8);
      l = _mm_crc32_u64(l, w0);
      l1 = _mm_crc32_u64(l1, w1);
      l2 = _mm_crc32_u64(l2, w2);
    }
    l = shift(static_cast<uint32_t>(l)) ^ l1;
    l = shift(static_cast<uint32_t>(l)) ^ l2;
    *p += 3 * Block;
    *n -= 3 * Block;
  }
  return l;
}

}  // namespace

__attribute__((target("sse4.2"))) uint32_t ExtendHardware(uint32_t crc, const void* data,
                                                          size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t l = static_cast<uint32_t>(~crc);
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0; --n, ++p) {
    l = _mm_crc32_u8(static_cast<uint32_t>(l), *p);
  }
  l = ExtendThreeWay<kLongBlock>(l, &p, &n);
  l = ExtendThreeWay<kShortBlock>(l, &p, &n);
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    l = _mm_crc32_u64(l, word);
  }
  for (; n > 0; --n, ++p) l = _mm_crc32_u8(static_cast<uint32_t>(l), *p);
  return ~static_cast<uint32_t>(l);
}

#else

bool HardwareAvailable() { return false; }
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n) {
  return ExtendPortable(crc, data, n);
}

#endif

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  static const ExtendFn impl = ChooseImplementation();
  return impl(crc, data, n);
}

}  // namespace runnel::crc32c
