#include "tools/record_commands.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/admin.h"
#include "common/mutex.h"
#include "common/status_macros.h"

namespace runnel::tools {
namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t stop_signal = 0;
extern "C" void OnStopSignal(int signal) { stop_signal = signal; }

// While alive, SIGINT and SIGTERM only set a flag (the previous handlers come back after).
class StopOnSignals {
 public:
  StopOnSignals() {
    stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = OnStopSignal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &previous_int_);
    ::sigaction(SIGTERM, &action, &previous_term_);
  }
  ~StopOnSignals() {
    ::sigaction(SIGINT, &previous_int_, nullptr);
    ::sigaction(SIGTERM, &previous_term_, nullptr);
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;
  bool requested() const { return stop_signal != 0; }

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

// Splits `*rest` at the first `separator`: returns the part before it and leaves the part after.
std::optional<std::string_view> TakeUntil(std::string_view* rest, std::string_view separator) {
  const size_t at = rest->find(separator);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view head = rest->substr(0, at);
  rest->remove_prefix(at + separator.size());
  return head;
}

// The first error of the sends in flight, kept for reporting.
class FirstError {
 public:
  void Set(const absl::Status& s) {
    MutexLock lock(&mu_);
    if (status_.ok()) status_ = s;
  }
  absl::Status Get() const {
    MutexLock lock(&mu_);
    return status_;
  }

 private:
  mutable Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<client::ProducerRecord> ParseLine(const ProduceOptions& options,
                                                 std::string_view line, int64_t line_number) {
  client::ProducerRecord record;
  record.topic = options.topic;
  record.partition = options.partition;
  if (options.timestamp_separator.has_value()) {
    auto ts = TakeUntil(&line, *options.timestamp_separator);
    if (!ts.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number, ": no timestamp separator '", *options.timestamp_separator, "'"));
    }
    if (!absl::SimpleAtoi(std::string(*ts), &record.timestamp) || record.timestamp < 0) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, ": '", std::string(*ts),
                                                     "' is not a timestamp in epoch ms"));
    }
  }
  if (options.key_separator.has_value()) {
    auto key = TakeUntil(&line, *options.key_separator);
    if (!key.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": no key separator '", *options.key_separator, "'"));
    }
    record.key = std::string(*key);
  }
  record.value = std::string(line);
  return record;
}

absl::Status Produce(const ProduceOptions& options, std::istream& in) {
  client::Properties properties{{"bootstrap.servers", options.brokers},
                                {"acks", options.acks},
                                {"compression.type", options.compression},
                                // A CLI user without a reachable broker hears so in 10 s, not 60.
                                {"max.block.ms", "10000"}};
  FirstError first_error;  // outlives the producer, whose callbacks write it
  ASSIGN_OR_RETURN(auto producer, client::Producer::Create(properties));
  std::string line;
  absl::Status status;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto record = ParseLine(options, line, n);
    if (!record.ok()) {
      status = record.status();
      break;
    }
    status =
        producer->Send(*record, [&first_error](const absl::StatusOr<client::RecordMetadata>& r) {
          if (!r.ok()) first_error.Set(r.status());
        });
    if (!status.ok()) break;
    if (!first_error.Get().ok()) break;
  }
  producer->Flush();
  producer->Close();
  RETURN_IF_ERROR(status);
  return first_error.Get();
}

// --- consume ---

absl::StatusOr<RecordFormat> RecordFormat::Parse(std::string_view format) {
  RecordFormat f;
  auto literal = [&f](char c) {
    if (f.pieces_.empty() || f.pieces_.back().placeholder != 0) f.pieces_.push_back({});
    f.pieces_.back().text.push_back(c);
  };
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c != '%' && c != '\\') {
      literal(c);
      continue;
    }
    if (i + 1 == format.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--format: '", std::string(1, c),
                                                     "' at the end needs a character after it"));
    }
    const char next = format[++i];
    if (c == '\\') {
      switch (next) {
        case 't':
          literal('\t');
          break;
        case 'n':
          literal('\n');
          break;
        case '\\':
          literal('\\');
          break;
        default:
          return absl::InvalidArgumentError(absl::StrCat(
              "--format: unknown escape '\\", std::string(1, next), "' (use \\t, \\n or \\\\)"));
      }
      continue;
    }
    switch (next) {
      case '%':
        literal('%');
        break;
      case 'k':
      case 'v':
      case 's':
      case 't':
      case 'p':
      case 'o':
      case 'T':
      case 'h':
        f.pieces_.push_back({next, ""});
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("--format: unknown placeholder '%",
                                                       std::string(1, next),
                                                       "' (use %k %v %s %t %p %o %T %h or %%)"));
    }
  }
  return f;
}

void RecordFormat::Print(const client::ConsumerRecord& r, std::string* out) const {
  auto nullable = [out](const std::optional<std::string_view>& s) {
    if (s.has_value()) {
      out->append(*s);
    } else {
      out->append("null");  // as Kafka's console consumer prints a null key or value
    }
  };
  for (const Piece& p : pieces_) {
    switch (p.placeholder) {
      case 0:
        out->append(p.text);
        break;
      case 'k':
        nullable(r.key);
        break;
      case 'v':
      case 's':
        nullable(r.value);
        break;
      case 't':
        absl::StrAppend(out, r.timestamp);
        break;
      case 'p':
        absl::StrAppend(out, r.partition);
        break;
      case 'o':
        absl::StrAppend(out, r.offset);
        break;
      case 'T':
        out->append(r.topic);
        break;
      case 'h':
        for (size_t i = 0; i < r.headers.size(); ++i) {
          if (i > 0) out->push_back(',');
          out->append(r.headers[i].key);
          out->push_back(':');
          nullable(r.headers[i].value);
        }
        break;
    }
  }
}

absl::StatusOr<std::vector<client::TopicPartition>> TopicPartitions(const std::string& brokers,
                                                                    const std::string& topic) {
  ASSIGN_OR_RETURN(auto admin, client::Admin::Create({.bootstrap_servers = brokers}));
  ASSIGN_OR_RETURN(client::TopicDescription description, admin->DescribeTopic(topic));
  std::vector<client::TopicPartition> out;
  for (const client::PartitionInfo& p : description.partitions) out.push_back({topic, p.partition});
  return out;
}

absl::Status Consume(const ConsumeOptions& options, std::ostream& out) {
  if (options.offset.has_value()) {
    if (!options.partition.has_value()) {
      return absl::InvalidArgumentError("--offset needs --partition");
    }
    if (*options.offset < 0) {
      return absl::InvalidArgumentError(absl::StrCat("--offset ", *options.offset, " is negative"));
    }
    if (options.from_beginning) {
      return absl::InvalidArgumentError("--offset and --from-beginning exclude each other");
    }
  }
  if (options.num.has_value() && *options.num < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--num ", *options.num, " is negative"));
  }
  ASSIGN_OR_RETURN(const RecordFormat format, RecordFormat::Parse(options.format));
  ASSIGN_OR_RETURN(std::vector<client::TopicPartition> partitions,
                   TopicPartitions(options.brokers, options.topic));
  if (options.partition.has_value()) {
    const int32_t p = *options.partition;
    if (p < 0 || p >= static_cast<int32_t>(partitions.size())) {
      return absl::InvalidArgumentError(absl::StrCat("--partition ", p, " is not in topic ",
                                                     options.topic, " (0..", partitions.size() - 1,
                                                     ")"));
    }
    partitions = {{options.topic, p}};
  }
  if (options.group.has_value() && options.group->empty()) {
    return absl::InvalidArgumentError("--group is empty");
  }
  client::Properties properties{
      {"bootstrap.servers", options.brokers},
      // An explicit --offset beyond the log is an error, not a silent jump.
      {"auto.offset.reset", options.offset.has_value() ? "none"
                            : options.from_beginning   ? "earliest"
                                                       : "latest"}};
  if (options.group.has_value()) {
    properties["group.id"] = *options.group;
    properties["enable.auto.commit"] = "false";  // exactly what was printed is committed, below
  }
  for (const auto& [key, value] : options.properties) properties[key] = value;
  ASSIGN_OR_RETURN(auto consumer, client::Consumer::Create(properties));
  if (options.group.has_value() && !options.partition.has_value()) {
    // A member of the group: the coordinator decides which partitions this process reads.
    RETURN_IF_ERROR(consumer->Subscribe({options.topic}));
  } else {
    RETURN_IF_ERROR(consumer->Assign(partitions));
  }
  if (options.offset.has_value()) {
    RETURN_IF_ERROR(consumer->Seek(partitions.front(), *options.offset));
  }
  const int64_t limit = options.num.value_or(INT64_MAX);
  int64_t printed = 0;
  auto last_record = Clock::now();
  std::string buffer;
  // SIGINT / SIGTERM end the loop (within one poll) so that Close below commits and leaves the
  // group at once, as Kafka's console consumer does, instead of leaving the group's partitions
  // with a dead member until its session times out.
  StopOnSignals stop;
  for (bool polled = false; printed < limit && !stop.requested(); polled = true) {
    int64_t wait = 1000;
    if (options.timeout_ms.has_value()) {
      const int64_t idle =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_record).count();
      wait = *options.timeout_ms - idle;
      if (wait <= 0 && polled) break;             // (--timeout-ms 0 still polls once)
      wait = std::clamp<int64_t>(wait, 0, 1000);  // a signal is noticed within a second
    }
    ASSIGN_OR_RETURN(std::vector<client::ConsumerRecord> records, consumer->Poll(wait));
    if (records.empty()) continue;
    last_record = Clock::now();
    buffer.clear();
    std::map<client::TopicPartition, int64_t> next;  // per partition, past the last printed
    for (const client::ConsumerRecord& r : records) {
      if (printed == limit) break;
      format.Print(r, &buffer);
      next[{std::string(r.topic), r.partition}] = r.offset + 1;
      ++printed;
    }
    out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    out.flush();
    if (options.group.has_value()) RETURN_IF_ERROR(consumer->Commit(next));
  }
  consumer->Close();
  return absl::OkStatus();
}

}  // namespace runnel::tools
