// click-enrich and search-click-join as processes against a real runneld, against inputs whose
// expected output is computed here; search-click-join also handed between stream threads and
// killed mid-stream, restarted from its join stores' changelogs.
#include "tests/streams/examples_e2e_fixture.h"

namespace runnel::streams_e2e {
namespace {

TEST_F(StreamsE2eTest, ClickEnrichJoinsEachClickWithTheProfileItsUserHadThen) {
  CreateTopic("clicks", 2);
  ASSERT_TRUE(
      admin_
          ->CreateTopic(
              {.name = "profiles", .partitions = 2, .configs = {{"cleanup.policy", "compact"}}})
          .ok());
  CreateTopic("enriched", 2);
  ChildProcess app;
  ASSERT_TRUE(StartApp(app, "click-enrich", "enrich", "state", "enrich.log",
                       {"--clicks", "clicks", "--profiles", "profiles", "--output", "enriched"}));
  std::mt19937 rng(17);
  std::map<std::string, std::string> profile;  // user -> the latest profile, as produced
  std::multiset<KeyValueTs> expected;
  int64_t ts = 1'700'000'000'000;
  // Profiles for some users; then clicks; then new profiles (updates and first ones); clicks.
  // Each batch is processed before the next goes in, so which profile a click sees is known.
  const auto profiles = [&](int version, int every) {
    std::vector<Rec> records;
    for (int u = 0; u < 20; u += every) {
      const std::string user = absl::StrCat("u", u);
      profile[user] = absl::StrCat(R"({"name":"user )", u, R"(","version":)", version, "}");
      records.push_back(Rec{user, profile[user], ts++, std::nullopt});
    }
    Produce("profiles", records);
  };
  const auto clicks = [&](int n) {
    std::vector<Rec> records;
    for (int i = 0; i < n; ++i) {
      const std::string user = absl::StrCat("u", rng() % 20);
      const std::string click =
          rng() % 2 ? absl::StrCat("click ", i)
                    : absl::StrCat(R"({"page":"/p/)", i, R"(","pos":)", rng() % 10, "}");
      auto it = profile.find(user);
      expected.emplace(
          user,
          absl::StrCat(R"({"user_id":")", user, R"(","click":)", Embedded(click), R"(,"profile":)",
                       it == profile.end() ? "null" : it->second, "}"),
          ts);
      records.push_back(Rec{user, click, ts++, std::nullopt});
    }
    Produce("clicks", records);
  };
  const auto caught_up = [&](const std::set<std::string>& topics) {
    ASSERT_TRUE(WaitFor([&] { return CaughtUp("enrich", topics); }, milliseconds(30000)))
        << Log("enrich.log");
  };
  profiles(1, 2);  // u0, u2, ...
  caught_up({"profiles"});
  clicks(300);
  caught_up({"profiles", "clicks"});
  profiles(2, 3);  // u0, u3, u6, ...: some updated, some new
  caught_up({"profiles", "clicks"});
  clicks(300);
  std::vector<Out> output;
  EXPECT_TRUE(WaitFor(
      [&] {
        output = ReadAll("enriched");
        return output.size() >= expected.size() && CaughtUp("enrich", {"profiles", "clicks"});
      },
      milliseconds(30000), milliseconds(300)))
      << output.size() << " of " << expected.size() << "\n"
      << Log("enrich.log");
  const std::multiset<KeyValueTs> got = AsMultiset(output);
  EXPECT_EQ(got, expected) << Diff(got, expected);
  const std::optional<int> status = app.SignalAndWait(SIGTERM, milliseconds(10000));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeStatus(status) << "\n"
      << Log("enrich.log");
}

// Searches and clicks of 10 users, one record every 100 ms on average with up to 1 s of
// disorder (timestamps are multiples of 50 ms), alternately from the two topics at random; values:
// queries as plain text, clicks as plain text or a JSON object.
struct SearchOrClick {
  bool search = false;
  std::string user;
  std::string value;
  int64_t ts = 0;
};

std::vector<SearchOrClick> SearchesAndClicks(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<SearchOrClick> out;
  const int64_t base = 1'700'000'000'000;
  for (int i = 0; i < n; ++i) {
    SearchOrClick e;
    e.search = rng() % 2 == 0;
    e.user = absl::StrCat("user-", rng() % 10);
    // Multiples of 50 ms, so that many pairs are exactly the window apart or just over it.
    e.ts = base + i * 100 - 50 * static_cast<int64_t>(rng() % 20);
    e.value = e.search
                  ? absl::StrCat("query ", i)
                  : (rng() % 2 ? absl::StrCat("click ", i) : absl::StrCat(R"({"item":)", i, "}"));
    out.push_back(e);
  }
  return out;
}

// What search-click-join makes of `events` with window `window` when nothing is late: every
// (search, click) of one user at most `window` ms apart.
std::multiset<KeyValueTs> ExpectedPairs(const std::vector<SearchOrClick>& events, int64_t window) {
  std::multiset<KeyValueTs> out;
  for (const SearchOrClick& s : events) {
    if (!s.search) continue;
    for (const SearchOrClick& c : events) {
      if (c.search || c.user != s.user || std::abs(c.ts - s.ts) > window) continue;
      out.emplace(
          s.user,
          absl::StrCat(R"({"key":")", s.user, R"(","query":)", Embedded(s.value), R"(,"click":)",
                       Embedded(c.value), R"(,"query_ts":)", s.ts, R"(,"click_ts":)", c.ts, "}"),
          std::max(s.ts, c.ts));
    }
  }
  return out;
}

void SplitEvents(const std::vector<SearchOrClick>& events, size_t from, size_t to,
                 std::vector<Rec>* searches, std::vector<Rec>* clicks) {
  for (size_t i = from; i < to && i < events.size(); ++i) {
    const SearchOrClick& e = events[i];
    (e.search ? searches : clicks)->push_back(Rec{e.user, e.value, e.ts, std::nullopt});
  }
}

// The grace the search-click-join tests run with: longer than their input spans, so no record is
// late whatever order the two topics are read in, and the expected pairs are all pairs.
const std::vector<std::string> kSearchClickArgs = {
    "--searches", "searches",    "--clicks", "clicks",     "--output",
    "pairs",      "--window-ms", "2000",     "--grace-ms", "3600000"};

TEST_F(StreamsE2eTest, SearchClickJoinPairsEverySearchAndClickWithinTheWindow) {
  CreateTopic("searches", 2);
  CreateTopic("clicks", 2);
  CreateTopic("pairs", 2);
  const std::vector<SearchOrClick> events = SearchesAndClicks(1500, 4);
  const std::multiset<KeyValueTs> expected = ExpectedPairs(events, 2000);
  ChildProcess app;
  ASSERT_TRUE(StartApp(app, "search-click-join", "join", "state", "join.log", kSearchClickArgs));
  std::vector<Rec> searches, clicks;
  SplitEvents(events, 0, events.size(), &searches, &clicks);
  Produce("searches", searches);
  Produce("clicks", clicks);
  std::vector<Out> output;
  EXPECT_TRUE(WaitFor(
      [&] {
        output = ReadAll("pairs");
        return output.size() >= expected.size() && CaughtUp("join", {"searches", "clicks"});
      },
      milliseconds(30000), milliseconds(300)))
      << output.size() << " of " << expected.size() << "\n"
      << Log("join.log");
  const std::multiset<KeyValueTs> got = AsMultiset(output);
  EXPECT_EQ(got, expected) << Diff(got, expected);
  EXPECT_GT(expected.size(), 500u) << "too few pairs to test the join";
  int at_the_bound = 0;  // pairs exactly the window apart: the bound is inclusive
  for (const SearchOrClick& s : events) {
    for (const SearchOrClick& c : events) {
      at_the_bound += s.search && !c.search && s.user == c.user && c.ts - s.ts == 2000 ? 1 : 0;
    }
  }
  EXPECT_GT(at_the_bound, 10);
  const std::optional<int> status = app.SignalAndWait(SIGINT, milliseconds(10000));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeStatus(status) << "\n"
      << Log("join.log");
}

TEST_F(StreamsE2eTest, SearchClickJoinHandedOverBetweenThreadsPairsEverySearchAndClickOnce) {
  CreateTopic("searches", 2);
  CreateTopic("clicks", 2);
  CreateTopic("pairs", 2);
  const std::vector<SearchOrClick> events = SearchesAndClicks(4000, 5);
  const std::multiset<KeyValueTs> expected = ExpectedPairs(events, 2000);
  // Part 0 is the first half; parts 1 to 20 the rest, in equal slices.
  const auto produce = [&](int part) {
    const size_t half = events.size() / 2, step = (events.size() - half + 19) / 20;
    const size_t from = part == 0 ? 0 : half + (part - 1) * step;
    const size_t to = part == 0 ? half : std::min(events.size(), from + step);
    std::vector<Rec> searches, clicks;
    SplitEvents(events, from, to, &searches, &clicks);
    if (!searches.empty()) Produce("searches", searches);
    if (!clicks.empty()) Produce("clicks", clicks);
  };
  std::vector<Out> output;
  RunHandedOverBetweenThreads("search-click-join", "join-moved", kSearchClickArgs,
                              {"searches", "clicks"}, produce, [&] {
                                output = ReadAll("pairs");
                                return output.size() >= expected.size();
                              });
  // Clean hand-overs commit first: nothing is processed twice, so every pair is there once.
  const std::multiset<KeyValueTs> got = AsMultiset(output);
  EXPECT_EQ(got, expected) << Diff(got, expected);
  EXPECT_GT(expected.size(), 1000u) << "too few pairs to test the join";
}

TEST_F(StreamsE2eTest, SearchClickJoinKilledMidStreamRestoresItsJoinStoresAndMissesNoPair) {
  CreateTopic("searches", 2);
  CreateTopic("clicks", 2);
  CreateTopic("pairs", 2);
  const std::vector<SearchOrClick> events = SearchesAndClicks(3000, 8);
  const std::multiset<KeyValueTs> expected = ExpectedPairs(events, 2000);
  const size_t half = events.size() / 2;
  ChildProcess first;
  ASSERT_TRUE(
      StartApp(first, "search-click-join", "join", "state-1", "first.log", kSearchClickArgs));
  {
    std::vector<Rec> searches, clicks;
    SplitEvents(events, 0, half, &searches, &clicks);
    Produce("searches", searches);
    Produce("clicks", clicks);
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        return CaughtUp("join", {"searches", "clicks"});
      },
      milliseconds(30000)))
      << Log("first.log");
  // The rest goes in 30 events every 20 ms while the instance is killed part-way.
  std::atomic<bool> producing{true};
  std::thread paced([&] {
    for (size_t from = half; from < events.size(); from += 30) {
      std::vector<Rec> searches, clicks;
      SplitEvents(events, from, from + 30, &searches, &clicks);
      Produce("searches", searches);
      Produce("clicks", clicks);
      std::this_thread::sleep_for(milliseconds(20));
    }
    producing = false;
  });
  std::this_thread::sleep_for(milliseconds(400));
  const std::optional<int> killed = first.SignalAndWait(SIGKILL, milliseconds(5000));
  ASSERT_TRUE(killed.has_value() && WIFSIGNALED(*killed)) << testing::DescribeStatus(killed);
  const int64_t uncommitted =
      Uncommitted(*admin_, "join", "searches") + Uncommitted(*admin_, "join", "clicks");
  std::cout << "[ measured ] killed with " << uncommitted << " events produced but not committed"
            << (producing ? ", input still coming" : ", input complete (the kill came late)")
            << "\n";
  // A fresh state dir: the searches and clicks the first instance saw come back only from the
  // join stores' changelogs, and the pairs they make with later records need them.
  ChildProcess second;
  ASSERT_TRUE(
      StartApp(second, "search-click-join", "join", "state-2", "second.log", kSearchClickArgs));
  paced.join();
  const std::set<KeyValueTs> want(expected.begin(), expected.end());
  std::vector<Out> output;
  std::set<KeyValueTs> got;
  EXPECT_TRUE(WaitFor(
      [&] {
        output = ReadAll("pairs");
        got.clear();
        for (const Out& o : output) got.emplace(o.key, o.value, o.timestamp);
        return got.size() >= want.size() && CaughtUp("join", {"searches", "clicks"});
      },
      milliseconds(40000), milliseconds(300)))
      << got.size() << " of " << want.size() << " pairs\n"
      << Log("first.log") << "\n---\n"
      << Log("second.log");
  // At least once: a record processed again after the crash joins its partners again, so
  // pairs may repeat; none may be missing or wrong.
  const std::multiset<KeyValueTs> distinct_got(got.begin(), got.end());
  const std::multiset<KeyValueTs> distinct_want(want.begin(), want.end());
  EXPECT_EQ(distinct_got, distinct_want) << Diff(distinct_got, distinct_want);
  const int64_t restored = RestoredRecords(Log("second.log"));
  std::cout << "[ measured ] restored " << restored << " changelog records; "
            << output.size() - want.size() << " pair(s) emitted twice (at-least-once)\n";
  EXPECT_GT(restored, 0) << "the restarted instance restored nothing\n" << Log("second.log");
  const std::optional<int> status = second.SignalAndWait(SIGTERM, milliseconds(10000));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeStatus(status) << "\n"
      << Log("second.log");
}

}  // namespace
}  // namespace runnel::streams_e2e
