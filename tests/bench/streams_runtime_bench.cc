// streams_runtime_bench: records/s through the example topologies with the Streams runtime
// against a live broker (docs/BENCHMARKS.md), and restore speed from a changelog.
//
//   streams_runtime_bench --brokers B --app wordcount|stock-stats --records N [--threads T]
//       [--store rocksdb|in-memory] [--partitions P]
//     N records are produced into a fresh P-partition input topic first (every topic the bench
//     creates has retention.ms -1: the event times are from 2023); then the application
//     starts and the clock runs until the group has committed every input partition to its end
//     (polled every 50 ms), so the figure is processing a backlog, output flushed and committed.
//     It includes the group's hand-over of tasks to the second and later threads, which learn of
//     their partitions at their next heartbeat: run the broker with a short
//     --group-heartbeat-interval-ms (bench.sh: 500) or the default 5 s dominates short runs.
//   streams_runtime_bench --brokers B --app click-enrich|search-click-join|sessions --records N
//       [--threads T] [--store ...]
//     The same, through the join and session examples. click-enrich: 10,000 profiles into
//     "<run>-profiles" first, then N clicks of random users into the input: one joined record per
//     click. search-click-join: N records alternately into "<run>-searches" and the input
//     (clicks), 1,000 users at random, 5 ms of event time apart (each user every ~5 s), window
//     5 s, grace 1 h, more than the event time of 500,000 records (the two topics are read in
//     poll order, not by timestamp, so one may run that far ahead of the other). sessions:
//     10,000 keys at random, 1 ms apart (each key every ~10 s), gap 10 s, grace 0. Also reported:
//     the output records (joined records, closed sessions) per second.
//   streams_runtime_bench --brokers B --app join-state --records N [--store ...]
//     search-click-join with a grace of 10^12 ms, so that every record stays in the join stores:
//     reported are the bench process's resident memory (VmRSS) growth from before Start to caught
//     up and the size on disk of the state dir once closed, both per million buffered records.
//   streams_runtime_bench --brokers B --app restore|session-restore --records N [--store ...]
//     N records with distinct keys are counted into a store (N changelog records), a key-value
//     store (restore) or a session store (session-restore: every record a session of its own, all
//     within one gap); the application closes and a new instance with an empty state dir starts:
//     the clock runs from Start until the state is RUNNING, which comes after every task restored
//     its store.
//
// Progress on stderr each second; the result is one JSON line on stdout.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "client/admin.h"
#include "client/producer.h"
#include "streams/examples/example_topologies.h"
#include "streams/streams.h"
#include "streams/streams_builder.h"

namespace runnel::streams {
namespace {

using Clock = std::chrono::steady_clock;

// The event time of the first input record (2023-11-14): fixed, so runs compare.
constexpr int64_t kBaseTimestamp = 1'700'000'000'000;
// How long a run may take to commit its input to the end before it is reported as stuck.
constexpr auto kCatchUpLimit = std::chrono::seconds(300);

struct Flags {
  std::string brokers = "127.0.0.1:7070";
  std::string app = "wordcount";
  int64_t records = 1'000'000;
  int32_t threads = 1;
  int32_t partitions = 4;
  std::string store = "rocksdb";
};

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The input of run `f.app` for `topic`: "clicks" and "profiles" (click-enrich), "searches" and
// "clicks" (search-click-join, join-state), or the app's only input.
absl::Status Produce(const Flags& f, const std::string& topic, const std::string& role) {
  ASSIGN_OR_RETURN(
      auto producer,
      client::Producer::Create(client::Properties{
          {"bootstrap.servers", f.brokers}, {"linger.ms", "5"}, {"batch.size", "65536"}}));
  static const std::vector<std::string> kWords = {
      "alpha",  "beta", "gamma", "delta", "epsilon", "zeta",  "eta",   "theta", "iota",   "kappa",
      "lambda", "mu",   "nu",    "xi",    "omicron", "pi",    "rho",   "sigma", "tau",    "upsilon",
      "phi",    "chi",  "psi",   "omega", "stream",  "table", "topic", "store", "window", "grace"};
  std::mt19937 rng(role == "searches" ? 2 : 1);
  const int64_t base = kBaseTimestamp;
  const bool join = f.app == "search-click-join" || f.app == "join-state";
  const int64_t records = f.app == "click-enrich" && role == "profiles" ? 10'000
                          : join                                        ? f.records / 2
                                                                        : f.records;
  absl::Status first_error;
  for (int64_t i = 0; i < records; ++i) {
    client::ProducerRecord r;
    r.topic = topic;
    if (f.app == "wordcount") {
      std::string line;
      for (int w = 0; w < 8; ++w)
        absl::StrAppend(&line, w ? " " : "", kWords[rng() % kWords.size()]);
      r.value = line;
    } else if (f.app == "stock-stats") {
      r.key = absl::StrCat("SYM", rng() % 100);
      r.value = absl::StrFormat("%.2f", static_cast<double>(1000 + rng() % 9000) / 100);
      r.timestamp = base + i * 10;  // 10 ms apart: a day window holds everything
    } else if (f.app == "click-enrich" && role == "profiles") {
      r.key = absl::StrCat("user-", i);
      r.value = absl::StrCat(R"({"name":"user )", i, R"(","tier":"gold"})");
    } else if (f.app == "click-enrich") {
      r.key = absl::StrCat("user-", rng() % 10'000);
      r.value = absl::StrCat(R"({"page":"/p/)", i, R"("})");
    } else if (join) {
      // Searches at even, clicks at odd multiples of 5 ms.
      r.key = absl::StrCat("user-", rng() % 1'000);
      r.value = absl::StrCat(role == "searches" ? "query " : "click ", i);
      r.timestamp = base + (2 * i + (role == "searches" ? 0 : 1)) * 5;
    } else if (f.app == "sessions") {
      r.key = absl::StrCat("key-", rng() % 10'000);
      r.value = "e";
      r.timestamp = base + i;
    } else {
      r.key = absl::StrCat("key-", i);
      r.value = "1";
      r.timestamp = base;  // session-restore: one gap holds every session
    }
    RETURN_IF_ERROR(
        producer->Send(r, [&first_error](const absl::StatusOr<client::RecordMetadata>& m) {
          if (!m.ok() && first_error.ok()) first_error = m.status();
        }));
    if (i % 500'000 == 0 && i > 0) std::cerr << "produced " << i << "\n";
  }
  producer->Flush();
  producer->Close();
  return first_error;
}

absl::StatusOr<Topology> MakeTopology(const Flags& f, const std::string& in,
                                      const std::string& other, const std::string& out) {
  const StoreType store = f.store == "in-memory" ? StoreType::kInMemory : StoreType::kRocksDb;
  if (f.app == "wordcount") return examples::WordCountTopology(in, out, store);
  if (f.app == "stock-stats") {
    return examples::StockStatsTopology(
        in, out, {.window_ms = 86'400'000, .grace_ms = 0, .late_topic = "", .store = store});
  }
  if (f.app == "click-enrich") return examples::ClickEnrichTopology(in, other, out, store);
  if (f.app == "search-click-join" || f.app == "join-state") {
    return examples::SearchClickJoinTopology(
        other, in, out,
        {.window_ms = 5000,
         .grace_ms = f.app == "join-state" ? 1'000'000'000'000 : 3'600'000,
         .store = store});
  }
  if (f.app == "sessions") {
    return examples::SessionsTopology(in, out, {.gap_ms = 10'000, .grace_ms = 0, .store = store});
  }
  StreamsBuilder builder(store);
  auto grouped = builder.Stream<std::string, std::string>(in).GroupByKey();
  if (f.app == "session-restore") {
    grouped.WindowedBy(SessionWindows::OfInactivityGapAndGrace(60'000, 0))
        .Count(Materialized<std::string, int64_t>::As("sessions"));
  } else {
    grouped.Count(Materialized<std::string, int64_t>::As("counts"));
  }
  return builder.Build();
}

absl::StatusOr<StreamsConfig> Config(const Flags& f, const std::string& app,
                                     const std::string& state_dir) {
  return StreamsConfig::FromProperties({{"application.id", app},
                                        {"bootstrap.servers", f.brokers},
                                        {"num.stream.threads", std::to_string(f.threads)},
                                        {"commit.interval.ms", "1000"},
                                        {"state.dir", state_dir}});
}

// Whether group `app` has committed every partition it reads (`input`, `other` and its
// repartition topics) up to the partition's end. A partition without a row (not committed, and
// between owners while the group moves it) counts as behind when it holds records.
bool CaughtUp(client::Admin& admin, const std::string& app, const std::string& input,
              const std::string& other) {
  auto rows = admin.DescribeGroup(app);
  if (!rows.ok()) return false;
  std::map<std::pair<std::string, int32_t>, int64_t> committed;
  for (const client::GroupPartition& row : *rows) {
    committed[{row.topic, row.partition}] = row.committed;
  }
  auto topics = admin.ListTopics();
  if (!topics.ok()) return false;
  for (const auto& listing : *topics) {
    const std::string& topic = listing.name;
    if (topic != input && topic != other &&
        !(absl::StartsWith(topic, app + "-") && absl::EndsWith(topic, "-repartition"))) {
      continue;
    }
    auto d = admin.DescribeTopic(topic);
    if (!d.ok()) return false;
    for (const client::PartitionInfo& p : d->partitions) {
      if (p.high_watermark == 0) continue;
      auto it = committed.find({topic, p.partition});
      if (it == committed.end() || it->second != p.high_watermark) return false;
    }
  }
  return true;
}

// The bench process's resident memory in bytes (VmRSS), 0 if unknown.
int64_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    int64_t kb = 0;
    if (absl::StartsWith(line, "VmRSS:") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripSuffix(line.substr(6), "kB")),
                         &kb)) {
      return kb * 1024;
    }
  }
  return 0;
}

// The bytes of the files under `dir`.
int64_t DirBytes(const std::string& dir) {
  int64_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) n += static_cast<int64_t>(e.file_size(ec));
  }
  return n;
}

// The records in `topic` (the sum of its partitions' high watermarks).
int64_t TopicRecords(client::Admin& admin, const std::string& topic) {
  auto d = admin.DescribeTopic(topic);
  if (!d.ok()) return 0;
  int64_t n = 0;
  for (const client::PartitionInfo& p : d->partitions) n += p.high_watermark;
  return n;
}

absl::Status Run(const Flags& f) {
  static const std::vector<std::string> kApps = {
      "wordcount", "stock-stats", "click-enrich", "search-click-join",
      "sessions",  "join-state",  "restore",      "session-restore"};
  if (std::find(kApps.begin(), kApps.end(), f.app) == kApps.end()) {
    return absl::InvalidArgumentError(
        "--app must be one of wordcount, stock-stats, click-enrich, search-click-join, sessions, "
        "join-state, restore, session-restore");
  }
  const bool restore = f.app == "restore" || f.app == "session-restore";
  const std::string run = absl::StrCat("bench-", f.app, "-", ::getpid(), "-", std::rand() % 100000);
  const std::string in = run + "-in", out = run + "-out";
  // The second input: profiles (click-enrich) or searches (the joins); none otherwise.
  const std::string other = f.app == "click-enrich" ? run + "-profiles"
                            : f.app == "search-click-join" || f.app == "join-state"
                                ? run + "-searches"
                                : "";
  const std::string state = (std::filesystem::temp_directory_path() / run).string();
  ASSIGN_OR_RETURN(auto admin, client::Admin::Create({.bootstrap_servers = f.brokers}));
  // No time retention: the records' event times (from kBaseTimestamp) are years old, and the
  // broker's retention.ms (7 days by default; its maintenance runs every second) would delete
  // the input, active segment included, while it is produced or read. That happened: the
  // application then read on from the new log start (fewer records processed, fewer sessions) or,
  // with nothing left after its committed offset, never committed the partition to its end.
  const std::map<std::string, std::string> kept = {{"retention.ms", "-1"}};
  RETURN_IF_ERROR(admin->CreateTopic({.name = in, .partitions = f.partitions, .configs = kept}));
  RETURN_IF_ERROR(admin->CreateTopic({.name = out, .partitions = f.partitions, .configs = kept}));
  if (!other.empty()) {
    RETURN_IF_ERROR(
        admin->CreateTopic({.name = other, .partitions = f.partitions, .configs = kept}));
    RETURN_IF_ERROR(Produce(f, other, f.app == "click-enrich" ? "profiles" : "searches"));
  }
  RETURN_IF_ERROR(Produce(f, in, "clicks"));
  ASSIGN_OR_RETURN(const Topology topology, MakeTopology(f, in, other, out));

  ASSIGN_OR_RETURN(StreamsConfig config, Config(f, run, state + "/1"));
  const auto start = Clock::now();
  double seconds = 0;
  Streams::Metrics m;
  const int64_t rss_before = ResidentBytes();
  int64_t rss_caught_up = 0;
  {
    Streams streams(topology, config);
    RETURN_IF_ERROR(streams.Start());
    auto last = Clock::now();
    // Bounded: the application fails (ERROR), catches up or runs out of kCatchUpLimit.
    while (!CaughtUp(*admin, run, in, other)) {
      if (streams.state() == Streams::State::kError) return streams.error();
      if (Clock::now() - start > kCatchUpLimit) {
        return absl::DeadlineExceededError(
            absl::StrCat(f.app, ": the group ", run, " did not commit its input to the end within ",
                         kCatchUpLimit.count(), " s (processed ", streams.metrics().processed,
                         " of ", f.records, ")"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (Clock::now() - last >= std::chrono::seconds(1)) {
        last = Clock::now();
        std::cerr << f.app << ": processed " << streams.metrics().processed << "\n";
      }
    }
    seconds = Since(start);
    rss_caught_up = ResidentBytes();
    streams.Close();
    m = streams.metrics();  // the threads' last figures, published as they ended
  }
  if (f.app == "join-state") {
    // Every record is buffered: nothing leaves the join stores within a grace of 10^12 ms.
    const double millions = static_cast<double>(f.records) / 1e6;
    const int64_t disk = DirBytes(state);
    std::cout << absl::StrFormat(
        "{\"app\":\"join-state\",\"store\":\"%s\",\"partitions\":%d,\"buffered\":%d,"
        "\"joined\":%d,\"seconds\":%.3f,\"rss_growth_bytes\":%d,"
        "\"rss_growth_mb_per_million\":%.1f,\"state_dir_bytes\":%d,"
        "\"state_dir_mb_per_million\":%.1f}\n",
        f.store, f.partitions, f.records, TopicRecords(*admin, out), seconds,
        rss_caught_up - rss_before,
        static_cast<double>(rss_caught_up - rss_before) / 1e6 / millions, disk,
        static_cast<double>(disk) / 1e6 / millions);
    std::filesystem::remove_all(state);
    return absl::OkStatus();
  }
  if (!restore) {
    const int64_t output = TopicRecords(*admin, out);
    std::cout << absl::StrFormat(
        "{\"app\":\"%s\",\"threads\":%d,\"store\":\"%s\",\"partitions\":%d,\"records\":%d,"
        "\"processed\":%d,\"dropped_late\":%d,\"seconds\":%.3f,\"records_per_s\":%.0f,"
        "\"output\":%d,\"output_per_s\":%.0f}\n",
        f.app, f.threads, f.store, f.partitions, f.records, m.processed, m.dropped_late_records,
        seconds, static_cast<double>(f.records) / seconds, output,
        static_cast<double>(output) / seconds);
    std::filesystem::remove_all(state);
    return absl::OkStatus();
  }
  // Restore: a new instance on an empty state dir.
  ASSIGN_OR_RETURN(StreamsConfig again, Config(f, run, state + "/2"));
  Streams streams(topology, again);
  const auto restore_start = Clock::now();
  RETURN_IF_ERROR(streams.Start());
  // Every key restored (the changelog has one record per key: nothing was overwritten) and
  // the application RUNNING; bounded to 5 minutes.
  for (int i = 0; i < 60'000; ++i) {
    if (streams.state() == Streams::State::kError) return streams.error();
    if (streams.state() == Streams::State::kRunning &&
        streams.metrics().restored_records >= f.records) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double restore_seconds = Since(restore_start);
  const int64_t restored = streams.metrics().restored_records;
  streams.Close();
  std::filesystem::remove_all(state);
  std::cout << absl::StrFormat(
      "{\"app\":\"%s\",\"store\":\"%s\",\"partitions\":%d,\"keys\":%d,"
      "\"count_seconds\":%.3f,\"restored\":%d,\"restore_seconds\":%.3f,"
      "\"restored_per_s\":%.0f}\n",
      f.app, f.store, f.partitions, f.records, seconds, restored, restore_seconds,
      static_cast<double>(restored) / restore_seconds);
  return absl::OkStatus();
}

}  // namespace
}  // namespace runnel::streams

int main(int argc, char** argv) {
  runnel::streams::Flags f;
  CLI::App app("records/s through the Streams runtime against a live broker");
  app.add_option("--brokers", f.brokers, "bootstrap.servers");
  app.add_option("--app", f.app,
                 "wordcount, stock-stats, click-enrich, search-click-join, sessions, join-state, "
                 "restore or session-restore");
  app.add_option("--records", f.records, "input records")->check(CLI::Range(int64_t{1}, INT64_MAX));
  app.add_option("--threads", f.threads, "num.stream.threads")->check(CLI::Range(1, 64));
  app.add_option("--partitions", f.partitions, "of the input topic")->check(CLI::Range(1, 1024));
  app.add_option("--store", f.store, "rocksdb or in-memory")
      ->check(CLI::IsMember({"rocksdb", "in-memory"}));
  CLI11_PARSE(app, argc, argv);
  const absl::Status s = runnel::streams::Run(f);
  if (!s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
