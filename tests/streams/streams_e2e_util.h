// What the process-level tests of the Streams example programs share, against one broker or a
// cluster: records in (Produce), everything of a topic out (ReadAll), an example program started
// as a child process (StartApp), and wordcount's input with a count of its words computed here,
// independently of the topology (WordLines), checked against the program's output
// (ExpectCounts). Every wait is bounded.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/admin.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "tests/e2e/child_process.h"

#ifndef RUNNEL_BIN_DIR
#error "RUNNEL_BIN_DIR (the directory of the example programs) must be defined"
#endif

namespace runnel::testing {

// A record to produce.
struct Rec {
  std::optional<std::string> key;
  std::string value;
  int64_t timestamp = 0;
  std::optional<int32_t> partition;
};

// A record read back from a topic.
struct Out {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  int64_t timestamp = 0;
};

// Sends `records` to `topic` with a producer of `properties` (bootstrap.servers included) and
// linger.ms 2, then flushes; a test failure if any record is not acknowledged.
inline void Produce(client::Properties properties, const std::string& topic,
                    const std::vector<Rec>& records) {
  properties.try_emplace("linger.ms", "2");
  auto producer = client::Producer::Create(properties);
  ASSERT_TRUE(producer.ok()) << producer.status();
  int64_t failed = 0;
  for (const Rec& r : records) {
    client::ProducerRecord out{.topic = topic,
                               .partition = r.partition,
                               .key = r.key,
                               .value = r.value,
                               .timestamp = r.timestamp,
                               .headers = {}};
    ASSERT_TRUE((*producer)
                    ->Send(out,
                           [&failed](const absl::StatusOr<client::RecordMetadata>& m) {
                             if (!m.ok()) ++failed;
                           })
                    .ok());
  }
  (*producer)->Flush();
  (*producer)->Close();
  ASSERT_EQ(failed, 0) << "records to " << topic << " failed";
}

// Everything in `topic` now (up to the end offsets read at the start), in offset order per
// partition, read by a consumer of `properties` (bootstrap.servers included); what was read so far
// if a call fails or the end is not reached within 20 s.
inline std::vector<Out> ReadAll(client::Admin& admin, client::Properties properties,
                                const std::string& topic) {
  std::vector<Out> out;
  auto d = admin.DescribeTopic(topic);
  if (!d.ok()) return out;
  properties["auto.offset.reset"] = "earliest";
  auto consumer = client::Consumer::Create(properties);
  if (!consumer.ok()) return out;
  std::vector<client::TopicPartition> partitions;
  for (const client::PartitionInfo& p : d->partitions) partitions.push_back({topic, p.partition});
  if (!(*consumer)->Assign(partitions).ok()) return out;
  auto ends = (*consumer)->EndOffsets(partitions);
  if (!ends.ok()) return out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int round = 0; round < 10'000 && std::chrono::steady_clock::now() < deadline; ++round) {
    bool done = true;
    for (const client::TopicPartition& tp : partitions) {
      auto position = (*consumer)->Position(tp);
      if (position.ok() && *position < ends->at(tp)) done = false;
    }
    if (done) break;
    auto records = (*consumer)->Poll(200);
    if (!records.ok()) break;
    for (const client::ConsumerRecord& r : *records) {
      out.push_back(Out{r.partition, r.offset, std::string(r.key.value_or("")),
                        std::string(r.value.value_or("")), r.timestamp});
    }
  }
  (*consumer)->Close();
  std::stable_sort(out.begin(), out.end(), [](const Out& a, const Out& b) {
    return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
  });
  return out;
}

// Starts RUNNEL_BIN_DIR/`program` against `brokers` as application `app` with state in
// `state_dir`, commits every 100 ms, progress lines every 500 ms, and `args`; stderr to
// `log_path`, stdout to `log_path`.out.
inline bool StartApp(ChildProcess& child, const std::string& brokers, const std::string& program,
                     const std::string& app, const std::string& state_dir,
                     const std::string& log_path, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {std::string(RUNNEL_BIN_DIR) + "/" + program,
                                   "--brokers",
                                   brokers,
                                   "--application-id",
                                   app,
                                   "--state-dir",
                                   state_dir,
                                   "--commit-interval-ms",
                                   "100",
                                   "--progress-ms",
                                   "500"};
  argv.insert(argv.end(), args.begin(), args.end());
  return child.Start(argv, "", log_path + ".out", log_path);
}

// Words as the wordcount README defines them, written without the example's code: maximal runs
// of ASCII letters and digits, lower-cased.
inline std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> out;
  for (absl::string_view w :
       absl::StrSplit(line, absl::ByAnyChar(" ,.;:!?-_'\"()[]/\t"), absl::SkipEmpty())) {
    out.push_back(absl::AsciiStrToLower(std::string(w)));
  }
  return out;
}

// `count` lines of 1..8 words drawn from a small vocabulary, in mixed case with punctuation, with
// timestamps 1000, 1001, ...; adds their words to `counts`.
inline std::vector<Rec> WordLines(int count, uint32_t seed,
                                  std::map<std::string, int64_t>* counts) {
  static const std::vector<std::string> kVocabulary = {
      "Kafka", "stream", "log",    "Broker", "topic", "PARTITION", "offset", "commit",
      "state", "store",  "window", "grace",  "late",  "record",    "batch",  "r2d2",
      "c3po",  "x",      "42",     "the",    "a",     "and",       "of",     "to"};
  static const std::vector<std::string> kGlue = {" ", ", ", "; ", "  ", " - ", "! ", "? "};
  std::mt19937 rng(seed);
  std::vector<Rec> out;
  for (int i = 0; i < count; ++i) {
    std::string line;
    const int words = 1 + static_cast<int>(rng() % 8);
    for (int w = 0; w < words; ++w) {
      if (w > 0) line += kGlue[rng() % kGlue.size()];
      line += kVocabulary[rng() % kVocabulary.size()];
    }
    if (rng() % 3 == 0) line += ".";
    for (const std::string& w : Words(line)) ++(*counts)[w];
    out.push_back(Rec{std::nullopt, line, 1000 + i, std::nullopt});
  }
  return out;
}

// The latest count per word in wordcount's output. Sets `problem` (when empty) if a count is not
// a number or a word's counts do not rise.
inline std::map<std::string, int64_t> LatestCounts(const std::vector<Out>& output,
                                                   std::string* problem) {
  std::map<std::string, int64_t> latest;
  for (const Out& o : output) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(o.value, &n)) {
      *problem = absl::StrCat("count '", o.value, "' of '", o.key, "' is not a number");
      continue;
    }
    auto [it, inserted] = latest.try_emplace(o.key, n);
    if (!inserted) {
      if (n <= it->second && problem->empty()) {
        *problem = absl::StrCat("count of '", o.key, "' went from ", it->second, " to ", n);
      }
      it->second = n;
    }
  }
  return latest;
}

// Waits (up to 60 s) until the latest count per word in "word-counts" (read as ReadAll does) is
// exactly `expected`, then checks that each word's counts only rose; `log` is shown when they do
// not get there.
inline void ExpectCounts(client::Admin& admin, const client::Properties& consumer_properties,
                         const std::map<std::string, int64_t>& expected,
                         const std::function<std::string()>& log) {
  std::map<std::string, int64_t> latest;
  std::string problem;
  EXPECT_TRUE(WaitFor(
      [&] {
        problem.clear();
        latest = LatestCounts(ReadAll(admin, consumer_properties, "word-counts"), &problem);
        return latest == expected;
      },
      milliseconds(60000), milliseconds(500)))
      << "output differs from the independent count (" << latest.size() << " words vs "
      << expected.size() << ")\n"
      <<
      [&] {
        std::string diff;
        for (const auto& [word, n] : expected) {
          auto it = latest.find(word);
          const int64_t got = it == latest.end() ? 0 : it->second;
          if (got != n) absl::StrAppend(&diff, "  ", word, ": ", got, " (expected ", n, ")\n");
        }
        return diff;
      }()
      << log();
  EXPECT_EQ(problem, "");
}

}  // namespace runnel::testing
