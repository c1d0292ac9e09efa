// streams_runtime_bench: records/s through the example topologies with the Streams runtime
// against a live broker (docs/BENCHMARKS.md), and restore speed from a changelog.
//
//   streams_runtime_bench --brokers B --app wordcount|stock-stats --records N [--threads T]
//       [--store rocksdb|in-memory] [--partitions P]
//     N records are produced into a fresh P-partition input topic first; then the application
//     starts and the clock runs until the group has committed every input partition to its end
//     (polled every 50 ms), so the figure is processing a backlog, output flushed and committed.
//     It includes the group's hand-over of tasks to the second and later threads, which learn of
//     their partitions at their next heartbeat: run the broker with a short
//     --group-heartbeat-interval-ms (bench.sh: 500) or the default 5 s dominates short runs.
//   streams_runtime_bench --brokers B --app restore --records N [--store ...]
//     N records with distinct keys are counted into a store (N changelog records); the
//     application closes and a new instance with an empty state dir starts: the clock runs from
//     Start until the state is RUNNING, which comes after every task restored its store.
//
// Progress on stderr each second; the result is one JSON line on stdout.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/admin.h"
#include "client/producer.h"
#include "streams/examples/example_topologies.h"
#include "streams/streams.h"
#include "streams/streams_builder.h"

namespace runnel::streams {
namespace {

using Clock = std::chrono::steady_clock;

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

absl::Status Produce(const Flags& f, const std::string& topic) {
  ASSIGN_OR_RETURN(
      auto producer,
      client::Producer::Create(client::Properties{
          {"bootstrap.servers", f.brokers}, {"linger.ms", "5"}, {"batch.size", "65536"}}));
  static const std::vector<std::string> kWords = {
      "alpha",  "beta", "gamma", "delta", "epsilon", "zeta",  "eta",   "theta", "iota",   "kappa",
      "lambda", "mu",   "nu",    "xi",    "omicron", "pi",    "rho",   "sigma", "tau",    "upsilon",
      "phi",    "chi",  "psi",   "omega", "stream",  "table", "topic", "store", "window", "grace"};
  std::mt19937 rng(1);
  const int64_t base = 1'700'000'000'000;
  absl::Status first_error;
  for (int64_t i = 0; i < f.records; ++i) {
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
    } else {
      r.key = absl::StrCat("key-", i);
      r.value = "1";
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
                                      const std::string& out) {
  const StoreType store = f.store == "in-memory" ? StoreType::kInMemory : StoreType::kRocksDb;
  if (f.app == "wordcount") return examples::WordCountTopology(in, out, store);
  if (f.app == "stock-stats") {
    return examples::StockStatsTopology(
        in, out, {.window_ms = 86'400'000, .grace_ms = 0, .late_topic = "", .store = store});
  }
  StreamsBuilder builder(store);
  builder.Stream<std::string, std::string>(in).GroupByKey().Count(
      Materialized<std::string, int64_t>::As("counts"));
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

// Whether group `app` has committed every partition it reads (`input` and its repartition
// topics) up to the partition's end. A partition without a row (not committed, and between owners
// while the group moves it) counts as behind when it holds records.
bool CaughtUp(client::Admin& admin, const std::string& app, const std::string& input) {
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
    if (topic != input &&
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

absl::Status Run(const Flags& f) {
  if (f.app != "wordcount" && f.app != "stock-stats" && f.app != "restore") {
    return absl::InvalidArgumentError("--app must be wordcount, stock-stats or restore");
  }
  const std::string run = absl::StrCat("bench-", f.app, "-", ::getpid(), "-", std::rand() % 100000);
  const std::string in = run + "-in", out = run + "-out";
  const std::string state = (std::filesystem::temp_directory_path() / run).string();
  ASSIGN_OR_RETURN(auto admin, client::Admin::Create({.bootstrap_servers = f.brokers}));
  RETURN_IF_ERROR(admin->CreateTopic({.name = in, .partitions = f.partitions, .configs = {}}));
  RETURN_IF_ERROR(admin->CreateTopic({.name = out, .partitions = f.partitions, .configs = {}}));
  RETURN_IF_ERROR(Produce(f, in));
  ASSIGN_OR_RETURN(const Topology topology, MakeTopology(f, in, out));

  ASSIGN_OR_RETURN(StreamsConfig config, Config(f, run, state + "/1"));
  const auto start = Clock::now();
  double seconds = 0;
  Streams::Metrics m;
  {
    Streams streams(topology, config);
    RETURN_IF_ERROR(streams.Start());
    auto last = Clock::now();
    // Bounded by the application's progress: it fails (ERROR) or catches up.
    while (!CaughtUp(*admin, run, in)) {
      if (streams.state() == Streams::State::kError) return streams.error();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (Clock::now() - last >= std::chrono::seconds(1)) {
        last = Clock::now();
        std::cerr << f.app << ": processed " << streams.metrics().processed << "\n";
      }
    }
    seconds = Since(start);
    streams.Close();
    m = streams.metrics();  // the threads' last figures, published as they ended
  }
  if (f.app != "restore") {
    std::cout << absl::StrFormat(
        "{\"app\":\"%s\",\"threads\":%d,\"store\":\"%s\",\"partitions\":%d,\"records\":%d,"
        "\"processed\":%d,\"seconds\":%.3f,\"records_per_s\":%.0f}\n",
        f.app, f.threads, f.store, f.partitions, f.records, m.processed, seconds,
        static_cast<double>(f.records) / seconds);
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
      "{\"app\":\"restore\",\"store\":\"%s\",\"partitions\":%d,\"keys\":%d,"
      "\"count_seconds\":%.3f,\"restored\":%d,\"restore_seconds\":%.3f,"
      "\"restored_per_s\":%.0f}\n",
      f.store, f.partitions, f.records, seconds, restored, restore_seconds,
      static_cast<double>(restored) / restore_seconds);
  return absl::OkStatus();
}

}  // namespace
}  // namespace runnel::streams

int main(int argc, char** argv) {
  runnel::streams::Flags f;
  CLI::App app("records/s through the Streams runtime against a live broker");
  app.add_option("--brokers", f.brokers, "bootstrap.servers");
  app.add_option("--app", f.app, "wordcount, stock-stats or restore");
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
