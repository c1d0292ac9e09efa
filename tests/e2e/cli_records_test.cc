// `runnel produce` and `runnel consume` against a real runneld: lines in, the same lines out,
// across clean and unclean broker restarts; keys, timestamps, partitions and offsets.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/partitioner.h"
#include "tests/e2e/broker_process.h"
#include "tests/free_port.h"
#include "tests/storage/storage_test_util.h"

namespace runnel {
namespace {

using storage::testing::TempDir;
using testing::BrokerProcess;
using testing::CommandResult;
using testing::RunRunnel;

class CliRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(dir_.Sub("data"));
    ASSERT_TRUE(broker_->Start()) << broker_->output();
  }

  CommandResult Runnel(const std::string& args) {
    return RunRunnel("--brokers " + broker_->address() + " " + args);
  }

  // Writes `lines` to a file and produces it with `args`.
  CommandResult Produce(const std::string& args, const std::vector<std::string>& lines) {
    const std::string path = dir_.Sub("input-" + std::to_string(inputs_++));
    std::ofstream out(path);
    for (const std::string& line : lines) out << line << "\n";
    out.close();
    return Runnel("produce " + args + " < " + path);
  }

  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines = absl::StrSplit(text, '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
  }

  TempDir dir_;
  std::unique_ptr<BrokerProcess> broker_;
  int inputs_ = 0;
};

TEST_F(CliRecordsTest, TenThousandLinesComeBackIdenticalAcrossRestarts) {
  ASSERT_EQ(Runnel("topic create lines --partitions 1").exit_code, 0);
  std::vector<std::string> lines;
  for (int i = 0; i < 10000; ++i) lines.push_back(absl::StrCat("line ", i, " \tpayload-", i * 7));
  auto r = Produce("lines --acks all", lines);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "");

  auto check = [&](const std::string& when) {
    auto consumed = Runnel("consume lines --from-beginning --num 10000 --timeout-ms 10000");
    ASSERT_EQ(consumed.exit_code, 0) << when << ": " << consumed.out.substr(0, 500);
    EXPECT_EQ(Lines(consumed.out), lines) << when;
  };
  check("before restart");

  ASSERT_EQ(broker_->Stop(), 0) << broker_->output();
  ASSERT_TRUE(broker_->Start()) << broker_->output();
  check("after SIGTERM restart");

  // Acknowledged with acks=all, then the broker dies without a chance to flush anything more.
  std::vector<std::string> more;
  for (int i = 0; i < 2000; ++i) more.push_back(absl::StrCat("after-kill ", i));
  r = Produce("lines --acks all --compression lz4", more);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  broker_->Kill();
  ASSERT_TRUE(broker_->Start()) << broker_->output();
  auto consumed = Runnel("consume lines --from-beginning --num 12000 --timeout-ms 10000");
  ASSERT_EQ(consumed.exit_code, 0) << consumed.out.substr(0, 500);
  std::vector<std::string> all = lines;
  all.insert(all.end(), more.begin(), more.end());
  EXPECT_EQ(Lines(consumed.out), all) << "after SIGKILL restart";
}

TEST_F(CliRecordsTest, KeyedRecordsLandOnMurmur2Partitions) {
  constexpr int kPartitions = 5;
  ASSERT_EQ(Runnel(absl::StrCat("topic create keyed --partitions ", kPartitions)).exit_code, 0);
  std::vector<std::string> lines;
  for (int i = 0; i < 300; ++i) lines.push_back(absl::StrCat("user-", i % 37, ":event ", i));
  ASSERT_EQ(Produce("keyed --key-separator :", lines).exit_code, 0);
  auto r =
      Runnel("consume keyed --from-beginning --num 300 --timeout-ms 10000 --format '%k|%p|%v\\n'");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto out = Lines(r.out);
  ASSERT_EQ(out.size(), 300u);
  std::map<int, int> per_partition;
  for (const std::string& line : out) {
    std::vector<std::string> parts = absl::StrSplit(line, '|');
    ASSERT_EQ(parts.size(), 3u) << line;
    int partition = -1;
    ASSERT_TRUE(absl::SimpleAtoi(parts[1], &partition));
    EXPECT_EQ(partition, client::PartitionForKey(parts[0], kPartitions)) << line;
    ++per_partition[partition];
  }
  EXPECT_GT(per_partition.size(), 1u);
  // A line without the separator is refused, naming the line.
  r = Produce("keyed --key-separator :", {"a:1", "no separator here"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("line 2: no key separator ':'"), std::string::npos) << r.out;
}

TEST_F(CliRecordsTest, TimestampSeparatorSetsTimestampsThatFormatPrints) {
  ASSERT_EQ(Runnel("topic create timed --partitions 1").exit_code, 0);
  ASSERT_EQ(Produce("timed --timestamp-separator , --key-separator =",
                    {"1700000000000,a=first", "1700000000500,b=second", "1600000000000,c=third"})
                .exit_code,
            0);
  auto r = Runnel(
      "consume timed --from-beginning --num 3 --timeout-ms 10000 --format '%t %k %v %o "
      "%T\\t%%\\n'");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out,
            "1700000000000 a first 0 timed\t%\n"
            "1700000000500 b second 1 timed\t%\n"
            "1600000000000 c third 2 timed\t%\n");
  r = Produce("timed --timestamp-separator ,", {"yesterday,x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("line 1: 'yesterday' is not a timestamp in epoch ms"), std::string::npos)
      << r.out;
  r = Runnel("consume timed --from-beginning --num 1 --format '%q'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("unknown placeholder '%q'"), std::string::npos) << r.out;
}

TEST_F(CliRecordsTest, OffsetAndPartitionSelectRecords) {
  ASSERT_EQ(Runnel("topic create picked --partitions 3").exit_code, 0);
  for (int p = 0; p < 3; ++p) {
    std::vector<std::string> lines;
    for (int i = 0; i < 10; ++i) lines.push_back(absl::StrCat("p", p, "-", i));
    ASSERT_EQ(Produce(absl::StrCat("picked --partition ", p), lines).exit_code, 0);
  }
  auto r = Runnel(
      "consume picked --partition 1 --offset 7 --num 3 --timeout-ms 10000 --format '%p:%o:%v\\n'");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "1:7:p1-7\n1:8:p1-8\n1:9:p1-9\n");
  r = Runnel("consume picked --partition 2 --from-beginning --num 2 --timeout-ms 10000");
  EXPECT_EQ(r.out, "p2-0\np2-1\n");
  // --timeout-ms ends a consume that runs out of records. (2 s: the idle time counts from the
  // start, and the first fetch of a loaded sanitizer run took more than 500 ms once.)
  r = Runnel("consume picked --partition 0 --offset 8 --timeout-ms 2000");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "p0-8\np0-9\n");

  // Bad offsets and partitions: clear errors.
  r = Runnel("consume picked --partition 0 --offset -3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--offset -3 is negative"), std::string::npos) << r.out;
  r = Runnel("consume picked --partition 0 --offset 11 --timeout-ms 5000");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("offset 11 is out of range for picked-0"), std::string::npos) << r.out;
  r = Runnel("consume picked --partition 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--partition 3 is not in topic picked (0..2)"), std::string::npos) << r.out;
  r = Runnel("consume picked --offset 3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--offset needs --partition"), std::string::npos) << r.out;
  r = Produce("picked --partition 9", {"x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("partition 9 is not in topic picked"), std::string::npos) << r.out;
  r = Runnel("consume picked --bogus-flag");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--bogus-flag"), std::string::npos) << r.out;
  r = Runnel("consume nowhere --timeout-ms 100");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;
}

TEST_F(CliRecordsTest, ConsumeWithAGroupPrintsEachRecordOnceAcrossRuns) {
  ASSERT_EQ(Runnel("topic create grouped --partitions 3").exit_code, 0);
  std::vector<std::string> lines;
  for (int i = 0; i < 60; ++i) lines.push_back(absl::StrCat("k", i % 7, ":record ", i));
  ASSERT_EQ(Produce("grouped --key-separator :", lines).exit_code, 0);
  // --from-beginning counts while the group has committed nothing; later runs resume.
  auto first = Runnel("consume grouped --group g --from-beginning --num 25 --timeout-ms 10000");
  ASSERT_EQ(first.exit_code, 0) << first.out;
  auto second = Runnel("consume grouped --group g --from-beginning --timeout-ms 1500");
  ASSERT_EQ(second.exit_code, 0) << second.out;
  auto third = Runnel("consume grouped --group g --from-beginning --timeout-ms 500");
  ASSERT_EQ(third.exit_code, 0) << third.out;
  EXPECT_EQ(Lines(first.out).size(), 25u);
  EXPECT_EQ(third.out, "");
  std::multiset<std::string> seen;
  for (const auto& l : Lines(first.out)) seen.insert(l);
  for (const auto& l : Lines(second.out)) seen.insert(l);
  ASSERT_EQ(seen.size(), 60u);
  for (int i = 0; i < 60; ++i) EXPECT_EQ(seen.count(absl::StrCat("record ", i)), 1u) << i;
  // Another group starts over.
  auto other = Runnel("consume grouped --group h --from-beginning --num 60 --timeout-ms 10000");
  EXPECT_EQ(Lines(other.out).size(), 60u);
}

TEST_F(CliRecordsTest, ABrokerListWhoseFirstEntriesAreDeadStillWorksForEveryCommand) {
  const std::string list =
      absl::StrCat("--brokers 127.0.0.1:", testing::FreePort(), ",127.0.0.1:", testing::FreePort(),
                   ",", broker_->address(), " ");
  auto r = RunRunnel(list + "topic create listed --partitions 2");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = RunRunnel(list + "topic list");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("listed"), std::string::npos) << r.out;
  const std::string path = dir_.Sub("listed-input");
  {
    std::ofstream out(path);
    for (int i = 0; i < 50; ++i) out << "k" << i % 5 << ":line " << i << "\n";
  }
  r = RunRunnel(list + "produce listed --key-separator : < " + path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  r = RunRunnel(list + "consume listed --group lg --from-beginning --num 50 --timeout-ms 10000");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::multiset<std::string> seen;
  for (const auto& l : Lines(r.out)) {
    if (l.find(" [client] ") == std::string::npos) seen.insert(l);  // stderr's log lines
  }
  ASSERT_EQ(seen.size(), 50u) << r.out;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(seen.count(absl::StrCat("line ", i)), 1u) << i;
  // The group committed through the list too: nothing is left for it.
  r = RunRunnel(list + "consume listed --group lg --timeout-ms 500");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "");
}

TEST_F(CliRecordsTest, ProduceToMissingTopicWithAutoCreateOffFails) {
  ASSERT_EQ(broker_->Stop(), 0);
  broker_ = std::make_unique<BrokerProcess>(
      dir_.Sub("data2"), std::vector<std::string>{"--auto-create-topics", "false"});
  ASSERT_TRUE(broker_->Start()) << broker_->output();
  auto r = Produce("ghost", {"boo"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("topic ghost does not exist and the broker does not auto-create topics"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(Runnel("topic list").out, "TOPIC  PARTITIONS  REPLICAS\n");
}

TEST_F(CliRecordsTest, LongPollConsumeSeesARecordProducedWhileItWaits) {
  ASSERT_EQ(Runnel("topic create live --partitions 1").exit_code, 0);
  const std::string out_path = dir_.Sub("consumed");
  // The consumer starts first (at the log end) and waits; records arrive after.
  const std::string consume =
      absl::StrCat(RUNNEL_BIN_DIR, "/runnel --brokers ", broker_->address(),
                   " consume live --num 1 --timeout-ms 20000 > ", out_path, " 2>&1 &");
  ASSERT_EQ(std::system(consume.c_str()), 0);
  std::string got;
  for (int i = 0; i < 200 && got.empty(); ++i) {  // bounded: 200 rounds of 100 ms
    ASSERT_EQ(Produce("live", {absl::StrCat("hello ", i)}).exit_code, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(out_path);
    std::getline(in, got);
  }
  EXPECT_EQ(got.rfind("hello ", 0), 0u) << got;
}

}  // namespace
}  // namespace runnel
