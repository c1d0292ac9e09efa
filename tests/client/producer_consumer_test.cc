// Producer and Consumer against a real runneld: batching and linger as stored, settings errors,
// retries across broker restarts without duplicates (idempotence), consumer seek / pause /
// offsets-for-times / long-poll wake-up.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/admin.h"
#include "client/consumer.h"
#include "client/producer.h"
#include "common/clock.h"
#include "common/record/record_batch.h"
#include "runnel/v1/broker.grpc.pb.h"
#include "tests/e2e/broker_process.h"
#include "tests/free_port.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::client {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;
using Clock = std::chrono::steady_clock;

ProducerRecord Rec(std::string topic, std::optional<int32_t> partition,
                   std::optional<std::string> key, std::optional<std::string> value,
                   int64_t timestamp = -1) {
  ProducerRecord r;
  r.topic = std::move(topic);
  r.partition = partition;
  r.key = std::move(key);
  r.value = std::move(value);
  r.timestamp = timestamp;
  return r;
}

class ProducerConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(broker_->Start()) << broker_->output();
  }

  void CreateTopic(const std::string& name, int partitions) {
    auto admin = Admin::Create({.bootstrap_servers = broker_->address()});
    ASSERT_TRUE(admin.ok());
    const absl::Status created = (*admin)->CreateTopic({name, partitions, 0, {}});
    ASSERT_TRUE(created.ok()) << created;
  }

  std::unique_ptr<Producer> MakeProducer(Properties extra = {}) {
    extra["bootstrap.servers"] = broker_->address();
    auto producer = Producer::Create(extra);
    EXPECT_TRUE(producer.ok()) << producer.status();
    return producer.ok() ? std::move(*producer) : nullptr;
  }

  std::unique_ptr<Consumer> MakeConsumer(Properties extra = {}) {
    extra["bootstrap.servers"] = broker_->address();
    auto consumer = Consumer::Create(extra);
    EXPECT_TRUE(consumer.ok()) << consumer.status();
    return consumer.ok() ? std::move(*consumer) : nullptr;
  }

  // Every value of `tp` from offset 0 to its end (bounded: gives up after 10 s without records).
  std::vector<std::string> ReadAll(const TopicPartition& tp) {
    auto consumer = MakeConsumer({{"auto.offset.reset", "earliest"}});
    EXPECT_TRUE(consumer->Assign({tp}).ok());
    auto end = consumer->EndOffsets({tp});
    EXPECT_TRUE(end.ok());
    std::vector<std::string> values;
    auto last = Clock::now();
    while (*consumer->Position(tp) < (*end)[tp] && Clock::now() - last < std::chrono::seconds(10)) {
      auto records = consumer->Poll(200);
      EXPECT_TRUE(records.ok()) << records.status();
      if (!records.ok()) break;
      if (!records->empty()) last = Clock::now();
      for (const auto& r : *records) values.emplace_back(r.value.value_or("<null>"));
    }
    return values;
  }

  // The stored batches of `tp`: (record count, bytes) per batch, via a raw Fetch.
  std::vector<std::pair<int32_t, size_t>> StoredBatches(const TopicPartition& tp) {
    auto stub = v1::Broker::NewStub(
        grpc::CreateChannel(broker_->address(), grpc::InsecureChannelCredentials()));
    v1::FetchRequest request;
    v1::PartitionFetch* f = request.add_partitions();
    f->set_topic(tp.topic);
    f->set_partition(tp.partition);
    f->set_offset(0);
    f->set_max_bytes(64 << 20);
    request.set_max_bytes(64 << 20);
    v1::FetchResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(stub->Fetch(&context, request, &response).ok());
    std::vector<std::pair<int32_t, size_t>> out;
    std::string_view rest = response.partitions(0).records();
    while (!rest.empty()) {
      auto view = record::RecordBatchView::Parse(rest);
      if (!view.ok()) break;
      out.emplace_back(view->record_count(), view->size());
      rest.remove_prefix(view->size());
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
};

TEST(ProducerOptionsTest, PropertiesAreParsedAndBadOnesNamed) {
  auto o = ProducerOptions::FromProperties(
      {{"linger.ms", "20"}, {"batch.size", "65536"}, {"acks", "1"}, {"compression.type", "zstd"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->linger_ms, 20);
  EXPECT_EQ(o->batch_size, 65536);
  EXPECT_EQ(o->acks, Acks::kLeader);
  EXPECT_EQ(o->compression, record::Compression::kZstd);
  EXPECT_FALSE(o->idempotent());  // Kafka 3: idempotence only by default with acks=all
  EXPECT_TRUE(ProducerOptions{}.idempotent());

  auto expect_error = [](const Properties& p, const std::string& needle) {
    auto r = ProducerOptions::FromProperties(p);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(std::string(r.status().message()).find(needle), std::string::npos) << r.status();
  };
  expect_error({{"linger.mss", "1"}}, "linger.mss: unknown producer setting");
  expect_error({{"linger.ms", "soon"}}, "linger.ms: 'soon' is not an integer");
  expect_error({{"linger.ms", "-1"}}, "linger.ms: -1 must be at least 0");
  expect_error({{"acks", "2"}}, "acks: '2' is not one of");
  expect_error({{"compression.type", "brotli"}}, "compression.type: 'brotli'");
  expect_error({{"enable.idempotence", "true"}, {"acks", "1"}},
               "enable.idempotence: true requires acks=all");
  expect_error({{"max.in.flight.requests.per.connection", "6"}, {"enable.idempotence", "true"}},
               "must be at most 5");
  // Unset, idempotence yields to settings that conflict with it, as in Kafka 3.
  auto relaxed = ProducerOptions::FromProperties({{"max.in.flight.requests.per.connection", "6"}});
  ASSERT_TRUE(relaxed.ok()) << relaxed.status();
  EXPECT_FALSE(relaxed->idempotent());
  EXPECT_FALSE(ProducerOptions::FromProperties({{"retries", "0"}})->idempotent());

  auto c = ConsumerOptions::FromProperties({{"auto.offset.reset", "earliest"}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->auto_offset_reset, AutoOffsetReset::kEarliest);
  EXPECT_FALSE(ConsumerOptions::FromProperties({{"auto.offset.reset", "smallest"}}).ok());
  EXPECT_FALSE(ConsumerOptions::FromProperties({{"group.idd", "g"}}).ok());
  EXPECT_FALSE(ConsumerOptions::FromProperties({{"check.crcs", "yes"}}).ok());
}

TEST_F(ProducerConsumerTest, BatchesFillToBatchSizeAndLingerCollectsRecords) {
  CreateTopic("batching", 1);
  const TopicPartition tp{"batching", 0};
  {
    // batch.size 2000 bytes: 200 records of ~110 bytes make batches of at most 2000 bytes.
    auto producer = MakeProducer({{"batch.size", "2000"}, {"linger.ms", "1000"}});
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(
          producer->Send(Rec("batching", 0, std::nullopt, std::string(100, 'a' + i % 26)), {})
              .ok());
    }
    producer->Flush();
  }
  auto batches = StoredBatches(tp);
  ASSERT_GE(batches.size(), 10u);
  int32_t total = 0;
  for (const auto& [count, bytes] : batches) {
    EXPECT_LE(bytes, 2000u);
    total += count;
  }
  EXPECT_EQ(total, 200);

  // linger.ms, on the producer's clock (a ManualClock): records sent one by one within the linger
  // go out as one batch once the clock passes it. The linger is an hour, so only the manual clock
  // can end it within the test; records sent without a timestamp get the clock's wall time.
  ManualClock clock;
  constexpr int64_t kLingerMs = 3'600'000;
  auto lingering =
      Producer::Create(Properties{{"bootstrap.servers", broker_->address()},
                                  {"linger.ms", absl::StrCat(kLingerMs)},
                                  {"delivery.timeout.ms", absl::StrCat(2 * kLingerMs)}},
                       clock);
  ASSERT_TRUE(lingering.ok()) << lingering.status();
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> futures;
  for (int i = 0; i < 10; ++i) {
    futures.push_back(
        (*lingering)->Send(Rec("batching", 0, std::nullopt, absl::StrCat("lingered ", i))));
  }
  // Not a timing assertion: without linger the batch would be back within milliseconds; this only
  // gives a broken producer the chance to show it (a slow machine can hide, never fake, a bug).
  EXPECT_EQ(futures[0].wait_for(std::chrono::milliseconds(500)), std::future_status::timeout)
      << "sent before the clock moved";
  clock.AdvanceMs(kLingerMs);
  // The sender looks at the clock at least once a second of real time; bounded at 10 s.
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(futures[i].wait_for(std::chrono::seconds(10)), std::future_status::ready) << i;
    auto metadata = futures[i].get();
    ASSERT_TRUE(metadata.ok()) << metadata.status();
    EXPECT_EQ(metadata->offset, 200 + i);
    EXPECT_EQ(metadata->partition, 0);
    EXPECT_EQ(metadata->timestamp, ManualClock::kDefaultStartMs) << "the clock's wall time at Send";
  }
  batches = StoredBatches(tp);
  EXPECT_EQ(batches.back().first, 10);
}

TEST_F(ProducerConsumerTest, RetriesAcrossBrokerRestartsWithoutDuplicates) {
  CreateTopic("restarts", 2);
  const std::string address = broker_->address();
  auto producer = MakeProducer({{"linger.ms", "2"}, {"retry.backoff.ms", "50"}});
  ASSERT_TRUE(producer != nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::atomic<int> acked{0};
  std::atomic<int> failed{0};
  // Records flow continuously (about 100k/s, so batches are always in flight) while the broker
  // restarts: once cleanly, then three times with SIGKILL.
  std::thread sender([&] {
    for (int i = 0; !stop && i < 2'000'000; ++i) {
      ProducerRecord r =
          Rec("restarts", std::nullopt, absl::StrCat("k", i % 50), absl::StrCat("v", i));
      const absl::Status s = producer->Send(
          r, [&](const absl::StatusOr<RecordMetadata>& m) { (m.ok() ? acked : failed)++; });
      if (!s.ok()) failed++;
      sent++;
      if (i % 100 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  for (int round = 0; round < 4; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (round == 0) {
      ASSERT_EQ(broker_->Stop(), 0);
    } else {
      broker_->Kill();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(broker_->Start(address)) << broker_->output();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  sender.join();
  producer->Flush();
  const int records = sent.load();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(acked.load(), records);

  std::multiset<std::string> seen;
  for (int p = 0; p < 2; ++p) {
    for (auto& v : ReadAll({"restarts", p})) seen.insert(v);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(records));
  int duplicates = 0, missing = 0;
  for (int i = 0; i < records; ++i) {
    const size_t n = seen.count(absl::StrCat("v", i));
    duplicates += n > 1;
    missing += n == 0;
  }
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(missing, 0);
  std::cerr << records << " records sent across 4 restarts\n";
}

TEST_F(ProducerConsumerTest, ConsumerSeeksPausesAndFindsOffsetsByTime) {
  CreateTopic("reading", 2);
  auto producer = MakeProducer();
  for (int i = 0; i < 100; ++i) {
    ProducerRecord r = Rec("reading", i % 2, std::nullopt, absl::StrCat("r", i), 1000 + i);
    r.headers = {{"h", absl::StrCat(i)}, {"null", std::nullopt}};
    ASSERT_TRUE(producer->Send(r, {}).ok());
  }
  producer->Flush();

  auto consumer = MakeConsumer({{"max.poll.records", "7"}});
  const TopicPartition p0{"reading", 0}, p1{"reading", 1};
  ASSERT_TRUE(consumer->Assign({p0, p1}).ok());
  auto position = consumer->Position(p0);
  ASSERT_TRUE(position.ok());
  EXPECT_EQ(*position, 50);  // auto.offset.reset=latest
  ASSERT_TRUE(consumer->SeekToBeginning({p0, p1}).ok());
  ASSERT_TRUE(consumer->Seek(p1, 45).ok());
  ASSERT_TRUE(consumer->Pause({p0}).ok());
  auto records = consumer->Poll(5000);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 5u);  // 45..49 of partition 1 only
  EXPECT_EQ((*records)[0].offset, 45);
  EXPECT_EQ((*records)[0].value, "r91");
  EXPECT_EQ((*records)[0].timestamp, 1091);
  EXPECT_EQ((*records)[0].topic, "reading");
  ASSERT_EQ((*records)[0].headers.size(), 2u);
  EXPECT_EQ((*records)[0].headers[0].value, "91");
  EXPECT_EQ((*records)[0].headers[1].value, std::nullopt);
  EXPECT_EQ(*consumer->Position(p1), 50);

  ASSERT_TRUE(consumer->Resume({p0}).ok());
  size_t from_p0 = 0;
  for (int i = 0; i < 50 && from_p0 < 50; ++i) {
    auto more = consumer->Poll(1000);
    ASSERT_TRUE(more.ok());
    EXPECT_LE(more->size(), 7u);  // max.poll.records
    for (const auto& r : *more) {
      EXPECT_EQ(r.partition, 0);
      EXPECT_EQ(r.offset, static_cast<int64_t>(from_p0++));
    }
  }
  EXPECT_EQ(from_p0, 50u);

  auto by_time = consumer->OffsetsForTimes({{p0, 1050}, {p1, 5000}});
  ASSERT_TRUE(by_time.ok()) << by_time.status();
  ASSERT_TRUE((*by_time)[p0].has_value());
  EXPECT_EQ((*by_time)[p0]->offset, 25);  // record 50 is offset 25 of partition 0
  EXPECT_FALSE((*by_time)[p1].has_value());

  EXPECT_EQ(consumer->Seek(p0, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(consumer->Seek({"reading", 7}, 0).code(), absl::StatusCode::kFailedPrecondition);
  // Out of range with auto.offset.reset=none is an error naming the offset.
  auto strict = MakeConsumer({{"auto.offset.reset", "none"}});
  ASSERT_TRUE(strict->Assign({p0}).ok());
  EXPECT_EQ(strict->Poll(100).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(strict->Seek(p0, 500).ok());
  auto out_of_range = strict->Poll(5000);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(std::string(out_of_range.status().message()).find("offset 500 is out of range"),
            std::string::npos)
      << out_of_range.status();
}

TEST_F(ProducerConsumerTest, FetchesLargerThanGrpcDefaultsArrive) {
  // 8 partitions x 1 MiB per partition = one 8 MiB fetch answer, twice gRPC's default limit.
  CreateTopic("wide", 8);
  auto producer = MakeProducer({{"acks", "1"}, {"batch.size", "262144"}});
  constexpr int kRecords = 12000;
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_TRUE(
        producer->Send(Rec("wide", i % 8, std::nullopt, std::string(1000, 'a' + i % 26)), {}).ok());
  }
  producer->Flush();
  auto consumer = MakeConsumer({{"auto.offset.reset", "earliest"}});
  std::vector<TopicPartition> all;
  for (int p = 0; p < 8; ++p) all.push_back({"wide", p});
  ASSERT_TRUE(consumer->Assign(all).ok());
  size_t got = 0;
  for (int i = 0; i < 200 && got < kRecords; ++i) {
    auto records = consumer->Poll(1000);
    ASSERT_TRUE(records.ok()) << records.status();
    got += records->size();
  }
  EXPECT_EQ(got, static_cast<size_t>(kRecords));
}

TEST_F(ProducerConsumerTest, AFailedSequencedBatchDoesNotBlockThePartition) {
  // RECORD_TOO_LARGE is final: the idempotent batch that got it had a sequence number, so the
  // producer moves to a new producer id and later records still go through.
  auto admin = Admin::Create({.bootstrap_servers = broker_->address()});
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE((*admin)->CreateTopic({"strict", 1, 0, {{"max.message.bytes", "2000"}}}).ok());
  auto producer = MakeProducer({{"linger.ms", "0"}});
  ASSERT_TRUE(producer->Send(Rec("strict", 0, std::nullopt, std::string("small"))).get().ok());
  const int64_t first_id = producer->producer_id();
  auto big = producer->Send(Rec("strict", 0, std::nullopt, std::string(5000, 'x'))).get();
  ASSERT_FALSE(big.ok());
  EXPECT_NE(std::string(big.status().message()).find("max.message.bytes"), std::string::npos)
      << big.status();
  for (int i = 0; i < 3; ++i) {
    auto after = producer->Send(Rec("strict", 0, std::nullopt, absl::StrCat("after ", i))).get();
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(after->offset, 1 + i);
  }
  EXPECT_NE(producer->producer_id(), first_id);
  EXPECT_EQ(ReadAll({"strict", 0}),
            (std::vector<std::string>{"small", "after 0", "after 1", "after 2"}));
}

TEST_F(ProducerConsumerTest, ZeroTimeoutPollsStillDeliver) {
  CreateTopic("zero", 1);
  auto producer = MakeProducer();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(producer->Send(Rec("zero", 0, std::nullopt, absl::StrCat(i)), {}).ok());
  }
  producer->Flush();
  auto consumer = MakeConsumer({{"auto.offset.reset", "earliest"}});
  ASSERT_TRUE(consumer->Assign({{"zero", 0}}).ok());
  size_t got = 0;
  for (int i = 0; i < 20000 && got < 50; ++i) {  // bounded: about 2 s of 100 us naps at most
    auto records = consumer->Poll(0);
    ASSERT_TRUE(records.ok());
    got += records->size();
    if (records->empty()) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  EXPECT_EQ(got, 50u);
}

TEST_F(ProducerConsumerTest, ACorruptStoredBatchIsReportedUntilSkipped) {
  CreateTopic("damaged", 1);
  {
    // A long linger, so each Flush sends exactly the 10 records before it as one batch (with
    // linger.ms 0 the first record of a round could leave alone, as a batch of its own).
    auto producer = MakeProducer({{"linger.ms", "60000"}});
    for (int i = 0; i < 3; ++i) {
      // Three batches of 10 records: offsets 0-9, 10-19, 20-29.
      for (int j = 0; j < 10; ++j) {
        ASSERT_TRUE(
            producer->Send(Rec("damaged", 0, std::nullopt, absl::StrCat("v", i * 10 + j)), {})
                .ok());
      }
      producer->Flush();
    }
  }
  // Flip a byte inside the second batch's records while the broker is down. After a clean
  // shutdown the broker does not rescan, so it serves the damaged bytes; the consumer's CRC check
  // must catch them.
  const std::string address = broker_->address();
  ASSERT_EQ(broker_->Stop(), 0);
  const std::string segment = dir_.Sub("data") + "/damaged-0/00000000000000000000.log";
  std::string bytes;
  {
    std::ifstream in(segment, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto first = record::RecordBatchView::Parse(bytes);
  ASSERT_TRUE(first.ok());
  const size_t second_at = first->size();
  ASSERT_GT(bytes.size(), second_at + 70);
  bytes[second_at + 70] ^= 0x40;
  {
    std::ofstream out(segment, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  ASSERT_TRUE(broker_->Start(address)) << broker_->output();

  auto consumer = MakeConsumer({{"auto.offset.reset", "earliest"}, {"max.poll.records", "100"}});
  const TopicPartition tp{"damaged", 0};
  ASSERT_TRUE(consumer->Assign({tp}).ok());
  std::vector<int64_t> offsets;
  absl::Status error;
  for (int i = 0; i < 50 && error.ok(); ++i) {
    auto records = consumer->Poll(200);
    if (!records.ok()) {
      error = records.status();
      break;
    }
    for (const auto& r : *records) offsets.push_back(r.offset);
  }
  // The first batch is delivered, then the damage is reported, naming the batch.
  ASSERT_EQ(offsets.size(), 10u);
  EXPECT_EQ(error.code(), absl::StatusCode::kDataLoss) << error;
  EXPECT_NE(std::string(error.message()).find("batch at offset 10 of damaged-0"), std::string::npos)
      << error;
  EXPECT_EQ(*consumer->Position(tp), 10);
  // Reported again, not skipped silently.
  EXPECT_EQ(consumer->Poll(200).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(consumer->Seek(tp, 20).ok());
  auto rest = consumer->Poll(5000);
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_FALSE(rest->empty());
  EXPECT_EQ(rest->front().offset, 20);
  EXPECT_EQ(rest->front().value, "v20");
}

TEST_F(ProducerConsumerTest, AGroupResumesFromItsCommittedOffsets) {
  CreateTopic("resume", 2);
  auto producer = MakeProducer();
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(producer->Send(Rec("resume", i % 2, std::nullopt, absl::StrCat(i)), {}).ok());
  }
  producer->Flush();
  const TopicPartition p0{"resume", 0}, p1{"resume", 1};

  auto plain = MakeConsumer();
  ASSERT_TRUE(plain->Assign({p0}).ok());
  EXPECT_EQ(plain->Commit().code(), absl::StatusCode::kFailedPrecondition);

  {
    auto consumer = MakeConsumer(
        {{"group.id", "app"}, {"auto.offset.reset", "earliest"}, {"enable.auto.commit", "false"}});
    ASSERT_TRUE(consumer->Assign({p0, p1}).ok());
    auto committed = consumer->Committed({p0, p1});
    ASSERT_TRUE(committed.ok()) << committed.status();
    EXPECT_FALSE((*committed)[p0].has_value());
    EXPECT_EQ(*consumer->Position(p0), 0);  // nothing committed: auto.offset.reset
    ASSERT_TRUE(consumer->Commit({{p0, 7}, {p1, 3}}).ok());
    EXPECT_EQ(consumer->Commit({{p0, -1}}).code(), absl::StatusCode::kInvalidArgument);
  }
  {
    // A new consumer of the group starts at the committed offsets; Close commits its positions.
    auto consumer = MakeConsumer({{"group.id", "app"}, {"auto.offset.reset", "earliest"}});
    ASSERT_TRUE(consumer->Assign({p0, p1}).ok());
    EXPECT_EQ(*consumer->Position(p0), 7);
    EXPECT_EQ(*consumer->Position(p1), 3);
    ASSERT_TRUE(consumer->Seek(p1, 15).ok());
    consumer->Close();
  }
  auto consumer = MakeConsumer({{"group.id", "app"}});
  ASSERT_TRUE(consumer->Assign({p0, p1}).ok());
  auto committed = consumer->Committed({p0, p1});
  ASSERT_TRUE(committed.ok());
  EXPECT_EQ((*committed)[p0], 7);
  EXPECT_EQ((*committed)[p1], 15);
  EXPECT_FALSE(ConsumerOptions::FromProperties({{"enable.auto.commit", "sometimes"}}).ok());
}

TEST_F(ProducerConsumerTest, LongPollReturnsARecordProducedWhileWaiting) {
  CreateTopic("waiting", 1);
  // The fetch may wait 30 s; a record produced meanwhile must end the wait at once.
  auto consumer = MakeConsumer({{"fetch.max.wait.ms", "30000"}});
  const TopicPartition tp{"waiting", 0};
  ASSERT_TRUE(consumer->Assign({tp}).ok());
  ASSERT_TRUE(consumer->Poll(200).ok());  // position known, a fetch parked at the broker
  auto producer = MakeProducer({{"linger.ms", "0"}});
  auto sent = producer->Send(Rec("waiting", 0, std::nullopt, std::string("ping"))).get();
  ASSERT_TRUE(sent.ok());
  const auto acked = Clock::now();
  auto records = consumer->Poll(20000);
  const auto waited = Clock::now() - acked;
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].value, "ping");
  // Well under the 30 s fetch wait: the broker answered because of the append.
  EXPECT_LT(waited, std::chrono::seconds(10));
  std::cerr << "long-poll wake-up after the ack: "
            << std::chrono::duration<double, std::milli>(waited).count() << " ms\n";
}

TEST_F(ProducerConsumerTest, SendErrorsNameTheProblem) {
  CreateTopic("small", 2);
  auto producer = MakeProducer({{"max.request.size", "1000"}});
  auto s = producer->Send(Rec("small", std::nullopt, std::nullopt, std::string(2000, 'x')), {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("max.request.size"), std::string::npos) << s;
  s = producer->Send(Rec("small", 5, std::nullopt, std::string("x")), {});
  EXPECT_NE(std::string(s.message()).find("partition 5 is not in topic small (0..1)"),
            std::string::npos)
      << s;
  s = producer->Send(Rec("bad topic!", std::nullopt, std::nullopt, std::string("x")), {});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("bad topic!"), std::string::npos) << s;
  producer->Close();
  s = producer->Send(Rec("small", std::nullopt, std::nullopt, std::string("x")), {});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ProducerConsumerTest, ClientsBootstrapPastDeadEntriesOfTheirBrokerList) {
  // Two entries nobody listens on before the broker: every client must find it.
  const std::string brokers =
      absl::StrCat("127.0.0.1:", testing::FreePort(), ",127.0.0.1:", testing::FreePort(), ",",
                   broker_->address());
  auto admin = Admin::Create({.bootstrap_servers = brokers});
  ASSERT_TRUE(admin.ok()) << admin.status();
  const absl::Status created = (*admin)->CreateTopic({"listed", 2, 0, {}});
  ASSERT_TRUE(created.ok()) << created;
  auto topics = (*admin)->ListTopics();
  ASSERT_TRUE(topics.ok()) << topics.status();

  auto producer = Producer::Create(Properties{{"bootstrap.servers", brokers}, {"linger.ms", "1"}});
  ASSERT_TRUE(producer.ok()) << producer.status();
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> sent;
  for (int i = 0; i < 20; ++i) {
    sent.push_back((*producer)->Send(Rec("listed", i % 2, std::nullopt, absl::StrCat("v", i))));
  }
  (*producer)->Flush();
  for (auto& f : sent) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    const auto m = f.get();
    ASSERT_TRUE(m.ok()) << m.status();
  }

  auto consumer = Consumer::Create(Properties{{"bootstrap.servers", brokers},
                                              {"group.id", "listed-group"},
                                              {"enable.auto.commit", "false"},
                                              {"auto.offset.reset", "earliest"}});
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->Assign({{"listed", 0}, {"listed", 1}}).ok());
  std::set<std::string> values;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (values.size() < 20 && Clock::now() < deadline) {
    auto records = (*consumer)->Poll(200);
    ASSERT_TRUE(records.ok()) << records.status();
    for (const auto& r : *records) values.insert(std::string(*r.value));
  }
  EXPECT_EQ(values.size(), 20u);
  // Group calls find the broker too.
  const absl::Status committed = (*consumer)->Commit();
  ASSERT_TRUE(committed.ok()) << committed;
  auto read_back = (*consumer)->Committed({{"listed", 0}, {"listed", 1}});
  ASSERT_TRUE(read_back.ok()) << read_back.status();
  EXPECT_EQ((*read_back)[TopicPartition({"listed", 0})], 10);
  EXPECT_EQ((*read_back)[TopicPartition({"listed", 1})], 10);
}

TEST(ClientOptionsBootstrapTest, AnEntryThatIsNotHostPortIsRefusedByName) {
  EXPECT_EQ(
      Producer::Create(Properties{{"bootstrap.servers", "127.0.0.1:1,nohost"}}).status().message(),
      "bootstrap.servers: 'nohost' is not HOST:PORT (in '127.0.0.1:1,nohost')");
  EXPECT_FALSE(Consumer::Create(Properties{{"bootstrap.servers", "a:1,b:x"}}).ok());
  EXPECT_FALSE(Admin::Create({.bootstrap_servers = " , "}).ok());
}

}  // namespace
}  // namespace runnel::client
