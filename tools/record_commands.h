// The CLI's record commands (docs/ARCHITECTURE.md section 6): `produce` (one record per stdin
// line) and `consume` (records printed through a --format template), over client::Producer and
// client::Consumer. Errors come back as Status for main to print as "error: <what> (<why>)".
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/consumer.h"
#include "client/producer.h"

namespace runnel::tools {

struct ProduceOptions {
  std::string brokers;
  std::string topic;
  std::optional<int32_t> partition;
  std::optional<std::string> key_separator;
  std::optional<std::string> timestamp_separator;
  std::string acks = "all";
  std::string compression = "none";
};

// One line as a record: "[TIMESTAMP<ts sep>][KEY<key sep>]VALUE". Errors name the line number
// and what is missing or malformed.
absl::StatusOr<client::ProducerRecord> ParseLine(const ProduceOptions& options,
                                                 std::string_view line, int64_t line_number);

// Sends every line of `in`; waits until each is acknowledged. Stops at the first bad line (the
// lines before it are sent) or failed send.
absl::Status Produce(const ProduceOptions& options, std::istream& in);

// A --format template compiled once: placeholders %k %v %s %t %p %o %T %h and %%; escapes \t \n
// \\. Unknown placeholders and escapes are errors naming them.
class RecordFormat {
 public:
  static absl::StatusOr<RecordFormat> Parse(std::string_view format);
  void Print(const client::ConsumerRecord& record, std::string* out) const;

 private:
  struct Piece {
    char placeholder = 0;  // 0: literal text
    std::string text;
  };
  std::vector<Piece> pieces_;
};

struct ConsumeOptions {
  std::string brokers;
  std::string topic;
  // --group: start where the group's committed offsets say (--from-beginning applies only where
  // it has none), and commit what was printed.
  std::optional<std::string> group;
  bool from_beginning = false;
  std::optional<int32_t> partition;
  std::optional<int64_t> offset;  // needs `partition`
  std::optional<int64_t> num;
  std::optional<int64_t> timeout_ms;  // stop after this long without new records
  std::string format = "%v\\n";
  // --consumer-property key=value: client properties (fetch.min.bytes, ...); they win over what
  // the other flags set.
  std::map<std::string, std::string> properties;
};

// Prints records until --num records or --timeout-ms without a new one.
absl::Status Consume(const ConsumeOptions& options, std::ostream& out);

// The partitions of `topic` (from the broker's metadata), for assigning all of them.
absl::StatusOr<std::vector<client::TopicPartition>> TopicPartitions(const std::string& brokers,
                                                                    const std::string& topic);

}  // namespace runnel::tools
