#include "common/record/compression.h"

#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/big_endian.h"

namespace runnel::record {
namespace {

// xerial snappy-java stream header: magic, version 1, minimum compatible version 1; then chunks
// of (int32 big-endian compressed length, raw snappy block).
constexpr std::string_view kXerialMagic("\x82SNAPPY\0", 8);
constexpr size_t kXerialHeaderSize = 16;
constexpr size_t kXerialBlockSize = 32 * 1024;  // snappy-java's default

// absl::StrCat takes absl::string_view, which Debian's Abseil keeps distinct from std::string_view.
std::string Name(Compression codec) { return std::string(CompressionName(codec)); }

absl::Status CorruptError(Compression codec, const std::string& what) {
  return absl::DataLossError(absl::StrCat(Name(codec), " data: ", what));
}

absl::Status TooLargeError(Compression codec, size_t max_output) {
  return absl::InvalidArgumentError(
      absl::StrCat(Name(codec), " data decompresses to more than ", max_output, " bytes"));
}

// --- gzip
// -----------------------------------------------------------------------------------------

constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, gzip wrapper

absl::Status GzipCompress(std::string_view input, std::string* output) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("gzip: deflateInit2 failed");
  }
  const size_t start = output->size();
  output->resize(start + deflateBound(&zs, input.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  zs.avail_in = static_cast<uInt>(input.size());
  zs.next_out = reinterpret_cast<Bytef*>(output->data() + start);
  zs.avail_out = static_cast<uInt>(output->size() - start);
  const int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return absl::InternalError(absl::StrCat("gzip: deflate returned ", rc));
  output->resize(start + zs.total_out);
  return absl::OkStatus();
}

absl::Status GzipDecompress(std::string_view input, size_t max_output, std::string* output) {
  z_stream zs{};
  if (inflateInit2(&zs, kGzipWindowBits) != Z_OK) {
    return absl::InternalError("gzip: inflateInit2 failed");
  }
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  zs.avail_in = static_cast<uInt>(input.size());
  const size_t start = output->size();
  size_t produced = 0;
  char buf[16 * 1024];
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t n = sizeof(buf) - zs.avail_out;
    produced += n;
    if (produced > max_output) {
      output->resize(start);
      return TooLargeError(Compression::kGzip, max_output);
    }
    output->append(buf, n);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) return absl::OkStatus();
      // Another gzip member follows (GZIPInputStream reads concatenated members too).
      if (inflateReset(&zs) != Z_OK) break;
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && n == 0) {
      output->resize(start);
      return CorruptError(Compression::kGzip, "truncated stream");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      output->resize(start);
      return CorruptError(Compression::kGzip, zs.msg != nullptr ? zs.msg : "inflate failed");
    }
  }
  output->resize(start);
  return CorruptError(Compression::kGzip, "inflateReset failed");
}

// --- snappy
// ---------------------------------------------------------------------------------------

absl::Status SnappyCompress(std::string_view input, std::string* output) {
  const size_t start = output->size();
  output->resize(start + kXerialHeaderSize);
  char* header = output->data() + start;
  std::memcpy(header, kXerialMagic.data(), kXerialMagic.size());
  StoreBigEndian<int32_t>(header + 8, 1);
  StoreBigEndian<int32_t>(header + 12, 1);
  for (size_t pos = 0; pos < input.size(); pos += kXerialBlockSize) {
    const size_t n = std::min(kXerialBlockSize, input.size() - pos);
    const size_t chunk = output->size();
    output->resize(chunk + 4 + snappy::MaxCompressedLength(n));
    size_t compressed = 0;
    snappy::RawCompress(input.data() + pos, n, output->data() + chunk + 4, &compressed);
    StoreBigEndian<int32_t>(output->data() + chunk, static_cast<int32_t>(compressed));
    output->resize(chunk + 4 + compressed);
  }
  return absl::OkStatus();
}

absl::Status SnappyDecompressBlock(std::string_view block, size_t max_output, size_t* produced,
                                   std::string* output) {
  size_t n = 0;
  if (!snappy::GetUncompressedLength(block.data(), block.size(), &n)) {
    return CorruptError(Compression::kSnappy, "bad uncompressed-length preamble");
  }
  if (n > max_output - *produced) return TooLargeError(Compression::kSnappy, max_output);
  const size_t start = output->size();
  output->resize(start + n);
  if (!snappy::RawUncompress(block.data(), block.size(), output->data() + start)) {
    output->resize(start);
    return CorruptError(Compression::kSnappy, "corrupt block");
  }
  *produced += n;
  return absl::OkStatus();
}

absl::Status SnappyDecompress(std::string_view input, size_t max_output, std::string* output) {
  size_t produced = 0;
  if (!input.starts_with(kXerialMagic)) {
    return SnappyDecompressBlock(input, max_output, &produced, output);
  }
  if (input.size() < kXerialHeaderSize) {
    return CorruptError(Compression::kSnappy, "xerial header truncated");
  }
  const size_t start = output->size();
  size_t pos = kXerialHeaderSize;
  absl::Status status;
  while (status.ok() && pos < input.size()) {
    if (input.size() - pos < 4) {
      status = CorruptError(Compression::kSnappy,
                            absl::StrCat("xerial chunk length truncated at position ", pos));
      break;
    }
    const int32_t len = LoadBigEndian<int32_t>(input.data() + pos);
    pos += 4;
    if (len < 0 || static_cast<size_t>(len) > input.size() - pos) {
      status = CorruptError(Compression::kSnappy,
                            absl::StrCat("xerial chunk length ", len, " at position ", pos - 4,
                                         " exceeds the ", input.size() - pos, " bytes left"));
      break;
    }
    status = SnappyDecompressBlock(input.substr(pos, len), max_output, &produced, output);
    pos += len;
  }
  if (!status.ok()) output->resize(start);
  return status;
}

// --- lz4
// ------------------------------------------------------------------------------------------

absl::Status Lz4Compress(std::string_view input, std::string* output) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
  const size_t start = output->size();
  output->resize(start + LZ4F_compressFrameBound(input.size(), &prefs));
  const size_t n = LZ4F_compressFrame(output->data() + start, output->size() - start, input.data(),
                                      input.size(), &prefs);
  if (LZ4F_isError(n)) {
    output->resize(start);
    return absl::InternalError(absl::StrCat("lz4: ", LZ4F_getErrorName(n)));
  }
  output->resize(start + n);
  return absl::OkStatus();
}

absl::Status Lz4Decompress(std::string_view input, size_t max_output, std::string* output) {
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
    return absl::InternalError("lz4: cannot create a decompression context");
  }
  std::unique_ptr<LZ4F_dctx, LZ4F_errorCode_t (*)(LZ4F_dctx*)> dctx(raw,
                                                                    LZ4F_freeDecompressionContext);
  const size_t start = output->size();
  const char* in = input.data();
  size_t in_left = input.size();
  size_t produced = 0;
  char buf[64 * 1024];
  size_t hint = 1;
  while (in_left > 0) {
    size_t out_size = sizeof(buf);
    size_t in_size = in_left;
    hint = LZ4F_decompress(dctx.get(), buf, &out_size, in, &in_size, nullptr);
    if (LZ4F_isError(hint)) {
      output->resize(start);
      return CorruptError(Compression::kLz4, LZ4F_getErrorName(hint));
    }
    produced += out_size;
    if (produced > max_output) {
      output->resize(start);
      return TooLargeError(Compression::kLz4, max_output);
    }
    output->append(buf, out_size);
    in += in_size;
    in_left -= in_size;
    if (hint == 0) break;  // frame complete
    if (in_size == 0 && out_size == 0) break;
  }
  if (hint != 0) {
    output->resize(start);
    return CorruptError(Compression::kLz4, "truncated frame");
  }
  if (in_left != 0) {
    output->resize(start);
    return CorruptError(Compression::kLz4,
                        absl::StrCat(in_left, " bytes after the end of the frame"));
  }
  return absl::OkStatus();
}

// --- zstd
// -----------------------------------------------------------------------------------------

absl::Status ZstdCompress(std::string_view input, std::string* output) {
  const size_t start = output->size();
  output->resize(start + ZSTD_compressBound(input.size()));
  const size_t n = ZSTD_compress(output->data() + start, output->size() - start, input.data(),
                                 input.size(), ZSTD_CLEVEL_DEFAULT);
  if (ZSTD_isError(n)) {
    output->resize(start);
    return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(n)));
  }
  output->resize(start + n);
  return absl::OkStatus();
}

absl::Status ZstdDecompress(std::string_view input, size_t max_output, std::string* output) {
  std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> ds(ZSTD_createDStream(),
                                                              ZSTD_freeDStream);
  if (ds == nullptr) return absl::InternalError("zstd: cannot create a decompression stream");
  const size_t start = output->size();
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  size_t produced = 0;
  size_t rc = 1;
  char buf[64 * 1024];
  // Frame content size is optional (librdkafka leaves it out), so decompress as a stream.
  while (in.pos < in.size || rc != 0) {
    ZSTD_outBuffer out{buf, sizeof(buf), 0};
    const size_t in_before = in.pos;
    rc = ZSTD_decompressStream(ds.get(), &out, &in);
    if (ZSTD_isError(rc)) {
      output->resize(start);
      return CorruptError(Compression::kZstd, ZSTD_getErrorName(rc));
    }
    produced += out.pos;
    if (produced > max_output) {
      output->resize(start);
      return TooLargeError(Compression::kZstd, max_output);
    }
    output->append(buf, out.pos);
    if (rc != 0 && out.pos == 0 && in.pos == in_before) {
      output->resize(start);
      return CorruptError(Compression::kZstd, "truncated frame");
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

absl::StatusOr<Compression> ParseCompression(std::string_view name) {
  for (int id = 0; id <= kMaxCompressionId; ++id) {
    const auto c = static_cast<Compression>(id);
    if (CompressionName(c) == name) return c;
  }
  return absl::InvalidArgumentError(absl::StrCat("compression '", std::string(name),
                                                 "' is not one of none, gzip, snappy, lz4, zstd"));
}

absl::Status Compress(Compression codec, std::string_view input, std::string* output) {
  switch (codec) {
    case Compression::kGzip:
      return GzipCompress(input, output);
    case Compression::kSnappy:
      return SnappyCompress(input, output);
    case Compression::kLz4:
      return Lz4Compress(input, output);
    case Compression::kZstd:
      return ZstdCompress(input, output);
    case Compression::kNone:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("Compress: codec id ", static_cast<int>(codec), " is not a compression codec"));
}

absl::Status Decompress(Compression codec, std::string_view input, size_t max_output,
                        std::string* output) {
  switch (codec) {
    case Compression::kGzip:
      return GzipDecompress(input, max_output, output);
    case Compression::kSnappy:
      return SnappyDecompress(input, max_output, output);
    case Compression::kLz4:
      return Lz4Decompress(input, max_output, output);
    case Compression::kZstd:
      return ZstdDecompress(input, max_output, output);
    case Compression::kNone:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("Decompress: codec id ", static_cast<int>(codec),
                                                 " is not a compression codec"));
}

}  // namespace runnel::record
