// sessions as a process against a real runneld, against inputs whose expected sessions are
// computed here; also handed between stream threads, and killed mid-stream and restarted from its
// session store's and suppression buffer's changelogs.
#include "tests/streams/examples_e2e_fixture.h"

namespace runnel::streams_e2e {
namespace {

// Input for sessions: 8 keys, 3 of them active at a time (the active set changes every 2 s, so a
// key's sessions end), one event every 50 ms for `steps` steps, one in five up to `max_behind` ms
// (a multiple of 50) behind, all at multiples of 50 ms (so that many are exactly 300 ms apart);
// key i on partition i % 2. With `long_sessions`, every second event goes instead, in order, to
// "long-0" (partition 0) or "long-1" (partition 1) in turn, so each has one every 200 ms, except
// in steps [1500, 1520) and [3500, 3520): sessions of ~75 s with a 300 ms gap. Then one event per
// partition 100 s ahead, which closes every session before it.
std::vector<Rec> SessionEvents(int steps, uint32_t seed, int64_t max_behind, bool long_sessions) {
  std::mt19937 rng(seed);
  int64_t now = 1'700'000'000'000;
  std::vector<Rec> events;
  std::vector<int> active{0, 1, 2};
  for (int step = 0; step < steps; ++step) {
    now += 50;
    if (step % 40 == 0) {
      for (int& k : active) k = static_cast<int>(rng() % 8);
    }
    const bool paused = (step >= 1500 && step < 1520) || (step >= 3500 && step < 3520);
    if (long_sessions && step % 2 == 0 && !paused) {
      const int32_t p = (step / 2) % 2;
      events.push_back(Rec{absl::StrCat("long-", p), "e", now, p});
      continue;
    }
    const int k = active[rng() % active.size()];
    const int64_t ts =
        rng() % 5 == 0 ? now - 50 * static_cast<int64_t>(rng() % (max_behind / 50 + 1)) : now;
    events.push_back(Rec{absl::StrCat("k", k), "e", ts, k % 2});
  }
  for (int32_t p = 0; p < 2; ++p) {
    events.push_back(Rec{absl::StrCat("closer-", p), "e", now + 100'000, p});
  }
  return events;
}

// A session as sessions emits it: key, start, end.
using SessionId = std::tuple<std::string, int64_t, int64_t>;

std::string SessionJson(const SessionId& s, int64_t count) {
  return absl::StrCat(R"({"key":")", std::get<0>(s), R"(","start":)", std::get<1>(s), R"(,"end":)",
                      std::get<2>(s), R"(,"count":)", count, "}");
}

// What sessions makes of `events` (none of them more than `grace` behind its partition's stream
// time, so none is late), computed apart from the topology: per key, the sorted timestamps split
// where two are more than `gap` apart; a session is emitted (with the number of its events) once
// its partition's stream time (here the largest timestamp) reaches end + gap + grace + 1. Counts
// the keys whose events are out of order and the neighbours exactly `gap` apart (one session:
// the bound is inclusive).
std::map<SessionId, int64_t> ExpectedSessions(const std::vector<Rec>& events, int64_t gap,
                                              int64_t grace, int* keys_out_of_order,
                                              int* gap_apart) {
  std::map<std::string, std::vector<int64_t>> times;
  std::map<int32_t, int64_t> stream_time;
  std::map<std::string, int32_t> partition_of;
  for (const Rec& e : events) {
    times[*e.key].push_back(e.timestamp);
    stream_time[*e.partition] = std::max(stream_time[*e.partition], e.timestamp);
    EXPECT_GE(e.timestamp + grace, stream_time[*e.partition]) << "a late event in the input";
    partition_of[*e.key] = *e.partition;
  }
  std::map<SessionId, int64_t> expected;
  for (auto& [key, ts] : times) {
    std::vector<int64_t> arrival = ts;
    std::sort(ts.begin(), ts.end());
    *keys_out_of_order += arrival != ts ? 1 : 0;
    size_t first = 0;
    for (size_t i = 1; i <= ts.size(); ++i) {
      if (i < ts.size() && ts[i] - ts[i - 1] <= gap) {
        *gap_apart += ts[i] - ts[i - 1] == gap ? 1 : 0;
        continue;
      }
      if (ts[i - 1] + gap + grace + 1 <= stream_time[partition_of[key]]) {
        expected[{key, ts[first], ts[i - 1]}] = static_cast<int64_t>(i - first);
      }
      first = i;
    }
  }
  return expected;
}

std::multiset<KeyValueTs> SessionRecords(const std::map<SessionId, int64_t>& sessions) {
  std::multiset<KeyValueTs> out;
  for (const auto& [s, count] : sessions) {
    out.emplace(std::get<0>(s), SessionJson(s, count), std::get<2>(s));
  }
  return out;
}

TEST_F(StreamsE2eTest, SessionsEmitsEveryClosedSessionOnceWithItsCount) {
  CreateTopic("events", 2);
  CreateTopic("sessions", 2);
  constexpr int64_t kGap = 300, kGrace = 500;
  const std::vector<Rec> events = SessionEvents(2000, 23, kGrace, /*long_sessions=*/false);
  int keys_out_of_order = 0, gap_apart = 0;
  const std::multiset<KeyValueTs> expected =
      SessionRecords(ExpectedSessions(events, kGap, kGrace, &keys_out_of_order, &gap_apart));
  ChildProcess app;
  ASSERT_TRUE(StartApp(app, "sessions", "sess", "state", "sessions.log",
                       {"--input", "events", "--output", "sessions", "--gap-ms",
                        std::to_string(kGap), "--grace-ms", std::to_string(kGrace)}));
  Produce("events", events);
  std::vector<Out> output;
  EXPECT_TRUE(WaitFor(
      [&] {
        output = ReadAll("sessions");
        return output.size() >= expected.size() && CaughtUp("sess", {"events"});
      },
      milliseconds(30000), milliseconds(300)))
      << output.size() << " of " << expected.size() << "\n"
      << Log("sessions.log");
  const std::multiset<KeyValueTs> got = AsMultiset(output);
  EXPECT_EQ(got, expected) << Diff(got, expected);
  EXPECT_GT(expected.size(), 50u) << "too few sessions to test";
  EXPECT_GT(keys_out_of_order, 0) << "no out-of-order event in the input";
  EXPECT_GT(gap_apart, 10) << "too few events exactly the gap apart";
  const std::optional<int> status = app.SignalAndWait(SIGTERM, milliseconds(10000));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeStatus(status) << "\n"
      << Log("sessions.log");
}

TEST_F(StreamsE2eTest, SessionsHandedOverBetweenThreadsEmitsEveryClosedSessionOnce) {
  CreateTopic("events", 2);
  CreateTopic("sessions", 2);
  constexpr int64_t kGap = 300, kGrace = 500;
  const std::vector<Rec> events = SessionEvents(4000, 29, kGrace, /*long_sessions=*/true);
  int keys_out_of_order = 0, gap_apart = 0;
  const std::multiset<KeyValueTs> expected =
      SessionRecords(ExpectedSessions(events, kGap, kGrace, &keys_out_of_order, &gap_apart));
  // Part 0 is the first half; parts 1 to 20 the rest, in equal slices. The long sessions
  // (SessionEvents) run across every hand-over.
  const auto produce = [&](int part) {
    const size_t half = events.size() / 2, step = (events.size() - half + 19) / 20;
    const size_t from = part == 0 ? 0 : half + (part - 1) * step;
    const size_t to = part == 0 ? half : std::min(events.size(), from + step);
    if (from < to) Produce("events", std::vector<Rec>(events.begin() + from, events.begin() + to));
  };
  std::vector<Out> output;
  RunHandedOverBetweenThreads("sessions", "sess-moved",
                              {"--input", "events", "--output", "sessions", "--gap-ms",
                               std::to_string(kGap), "--grace-ms", std::to_string(kGrace)},
                              {"events"}, produce, [&] {
                                output = ReadAll("sessions");
                                return output.size() >= expected.size();
                              });
  // Clean hand-overs commit first: nothing is processed twice, so every session is there once,
  // with its count.
  const std::multiset<KeyValueTs> got = AsMultiset(output);
  EXPECT_EQ(got, expected) << Diff(got, expected);
  EXPECT_GT(expected.size(), 100u) << "too few sessions to test";
}

// Per partition of `topic`: the offset group `app` has committed (0 for none) and the
// partition's end offset, as the group's description gives them now.
std::map<int32_t, std::pair<int64_t, int64_t>> CommittedAndEnd(client::Admin& admin,
                                                               const std::string& app,
                                                               const std::string& topic) {
  std::map<int32_t, std::pair<int64_t, int64_t>> out;
  auto rows = admin.DescribeGroup(app);
  EXPECT_TRUE(rows.ok()) << rows.status();
  if (!rows.ok()) return out;
  for (const client::GroupPartition& row : *rows) {
    if (row.topic == topic) {
      out[row.partition] = {std::max<int64_t>(row.committed, 0), row.end_offset};
    }
  }
  return out;
}

// sessions killed with SIGKILL part-way through its input and started again (same application
// id) on a fresh state dir or on the killed instance's (which, without a checkpoint, the runtime
// wipes too): either way the session store and the suppression buffer come back from their
// changelogs. Input: SessionEvents(4000, ..., long_sessions), gap 300 ms, grace 500 ms. The
// first half goes in and is committed. Mid-stream, the next quarter goes in 40 events every
// 20 ms and the instance is killed once it has committed 200 of them; the last quarter goes in
// after the kill. Otherwise it is killed with everything committed and the rest goes in after
// the restart.//
// What is checked, against ExpectedSessions computed from the input here. The runtime is
// at-least-once: the events between the group's committed offset and the partition's end at the
// kill (`replayed`; an event's offset is its place in the order the test produced its partition)
// may be processed twice, before the kill (their effect is in the restored stores) and again
// after. Such an event counts twice in its session and may make the session be emitted twice
// (its removal from the suppression buffer was not committed, or the replay puts it back). So:
//   - every expected session (key, start, end) is emitted, and each emission of it counts from
//     its number of events up to that plus the replayed events in it;
//   - any other emission lies inside an expected session of its key, starts and ends at replayed
//     events of that key and counts at most the replayed events between them (a session rebuilt
//     from replays alone, had the restored one already been dropped as expired);
//   - with nothing replayed, the output is exactly the expected sessions, each once.
// Sessions open at the kill (events before the committed offset and events produced after the
// kill: the long ones) must exist: such a session is emitted with its true start and count only
// if its first part came back from the changelogs; without the restore it would be missing and a
// shorter session, not made of replayed events only, would take its place.
class SessionsKillE2eTest : public StreamsE2eTest {
 protected:
  void Run(bool wipe_state, bool mid_stream) {
    CreateTopic("events", 2);
    CreateTopic("sessions", 2);
    constexpr int64_t kGap = 300, kGrace = 500;
    const std::vector<std::string> args = {"--input",    "events",
                                           "--output",   "sessions",
                                           "--gap-ms",   std::to_string(kGap),
                                           "--grace-ms", std::to_string(kGrace)};
    const std::vector<Rec> events = SessionEvents(4000, 31, kGrace, /*long_sessions=*/true);
    int keys_out_of_order = 0, gap_apart = 0;
    const std::map<SessionId, int64_t> expected =
        ExpectedSessions(events, kGap, kGrace, &keys_out_of_order, &gap_apart);
    ASSERT_GT(expected.size(), 100u) << "too few sessions to test";
    std::vector<int64_t> offsets;
    std::map<int32_t, int64_t> produced;
    for (const Rec& e : events) offsets.push_back(produced[*e.partition]++);

    // The first part ends mid-way through an active set of keys (which change every 40 events),
    // so that sessions are open at its end.
    const size_t half = events.size() / 2 + 20;
    const size_t three_quarters = events.size() * 3 / 4;
    ChildProcess first;
    ASSERT_TRUE(StartApp(first, "sessions", "sess", "state-1", "first.log", args));
    Produce("events", std::vector<Rec>(events.begin(), events.begin() + half));
    ASSERT_TRUE(WaitFor([&] { return CaughtUp("sess", {"events"}); }, milliseconds(30000)))
        << Log("first.log");
    const auto committed_total = [&] {
      int64_t n = 0;
      for (const auto& [p, offsets] : CommittedAndEnd(*admin_, "sess", "events")) {
        n += offsets.first;
      }
      return n;
    };
    // Mid-stream: the events up to three quarters go in, 40 every 20 ms, and the instance is
    // killed once it has committed 200 of them; the rest goes in only after the kill, 40 every
    // 20 ms while the second instance starts. Without `mid_stream` it is killed first.
    std::atomic<bool> killed_yet{false};
    std::atomic<bool> producing{mid_stream};
    std::thread paced;
    const auto pace = [&](size_t from, size_t to) {
      for (; from < to; from += 40) {
        Produce("events",
                std::vector<Rec>(events.begin() + from, events.begin() + std::min(to, from + 40)));
        std::this_thread::sleep_for(milliseconds(20));
      }
    };
    if (mid_stream) {
      paced = std::thread([&] {
        pace(half, three_quarters);
        producing = false;
        WaitFor([&] { return killed_yet.load(); }, milliseconds(60000));
        pace(three_quarters, events.size());
      });
      EXPECT_TRUE(WaitFor([&] { return committed_total() >= static_cast<int64_t>(half) + 200; },
                          milliseconds(30000), milliseconds(10)))
          << Log("first.log");
    }
    const std::optional<int> killed = first.SignalAndWait(SIGKILL, milliseconds(5000));
    killed_yet = true;
    const auto at_kill = CommittedAndEnd(*admin_, "sess", "events");
    const bool input_coming = producing;
    ChildProcess second;
    const bool started = StartApp(second, "sessions", "sess", wipe_state ? "state-2" : "state-1",
                                  "second.log", args);
    if (paced.joinable()) paced.join();
    ASSERT_TRUE(killed.has_value() && WIFSIGNALED(*killed)) << testing::DescribeStatus(killed);
    ASSERT_TRUE(started);
    if (!mid_stream) pace(half, events.size());
    std::vector<bool> replayed(events.size());
    int64_t replays = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      auto it = at_kill.find(*events[i].partition);
      ASSERT_TRUE(it != at_kill.end())
          << "no committed offset for partition " << *events[i].partition;
      replayed[i] = offsets[i] >= it->second.first && offsets[i] < it->second.second;
      replays += replayed[i] ? 1 : 0;
    }
    std::cout << "[ measured ] killed with " << replays << " events read but not committed"
              << (input_coming ? ", input still coming" : "") << "; committed/end offsets";
    for (const auto& [p, offsets] : at_kill) {
      std::cout << " " << p << ":" << offsets.first << "/" << offsets.second;
    }
    std::cout << " (first half: " << half << " events)\n";

    // Events of `key` with timestamps in [start, end]: all of them and the replayed ones;
    // whether one is at `start` and one at `end` among the replayed ones.
    struct Within {
      int64_t all = 0, replayed = 0;
      bool replayed_start = false, replayed_end = false;
    };
    const auto within = [&](const SessionId& s) {
      Within w;
      for (size_t i = 0; i < events.size(); ++i) {
        const Rec& e = events[i];
        if (*e.key != std::get<0>(s) || e.timestamp < std::get<1>(s) ||
            e.timestamp > std::get<2>(s)) {
          continue;
        }
        ++w.all;
        if (!replayed[i]) continue;
        ++w.replayed;
        w.replayed_start |= e.timestamp == std::get<1>(s);
        w.replayed_end |= e.timestamp == std::get<2>(s);
      }
      return w;
    };
    int open_at_kill = 0;
    for (const auto& [s, count] : expected) {
      bool before = false, after = false;
      for (size_t i = 0; i < events.size(); ++i) {
        const Rec& e = events[i];
        if (*e.key != std::get<0>(s) || e.timestamp < std::get<1>(s) ||
            e.timestamp > std::get<2>(s)) {
          continue;
        }
        before |= offsets[i] < at_kill.at(*e.partition).first;
        after |= offsets[i] >= at_kill.at(*e.partition).second;
      }
      open_at_kill += before && after ? 1 : 0;
    }
    EXPECT_GT(open_at_kill, 0) << "no session was open at the kill";

    std::vector<Out> output;
    std::map<SessionId, std::vector<int64_t>> emitted;  // the counts of each emission
    const auto all_emitted = [&] {
      output = ReadAll("sessions");
      emitted.clear();
      for (const Out& o : output) {
        Json j = Json::parse(o.value, nullptr, false);
        if (j.is_discarded() || !j.contains("count")) {
          ADD_FAILURE() << "not a session: " << o.value;
          continue;
        }
        emitted[{j["key"].get<std::string>(), j["start"].get<int64_t>(), j["end"].get<int64_t>()}]
            .push_back(j["count"].get<int64_t>());
      }
      for (const auto& [s, count] : expected) {
        if (!emitted.contains(s)) return false;
      }
      return CaughtUp("sess", {"events"});
    };
    const auto missing = [&] {
      std::string out;
      int n = 0;
      for (const auto& [s, count] : expected) {
        if (emitted.contains(s)) continue;
        if (++n <= 5) absl::StrAppend(&out, " ", SessionJson(s, count));
      }
      return absl::StrCat(n, " of ", expected.size(), " sessions not emitted:", out,
                          n > 5 ? " ..." : "");
    };
    EXPECT_TRUE(WaitFor(all_emitted, milliseconds(60000), milliseconds(500)))
        << missing() << "\n"
        << Log("first.log") << "\n---\n"
        << Log("second.log");
    int64_t counted_twice = 0, emitted_twice = 0, rebuilt = 0;
    for (const auto& [s, count] : expected) {
      auto it = emitted.find(s);
      if (it == emitted.end()) {
        ADD_FAILURE() << "session not emitted: " << SessionJson(s, count);
        continue;
      }
      const int64_t replayed_in = within(s).replayed;
      for (const int64_t c : it->second) {
        EXPECT_TRUE(c >= count && c <= count + replayed_in)
            << SessionJson(s, c) << ": expected a count of " << count << " (+ up to " << replayed_in
            << " replayed)";
        counted_twice += c - count;
      }
      emitted_twice += static_cast<int64_t>(it->second.size()) - 1;
    }
    for (const auto& [s, counts] : emitted) {
      if (expected.contains(s)) continue;
      ++rebuilt;
      bool inside = false;
      for (auto e = expected.lower_bound({std::get<0>(s), INT64_MIN, INT64_MIN});
           e != expected.end() && std::get<0>(e->first) == std::get<0>(s); ++e) {
        inside |=
            std::get<1>(e->first) <= std::get<1>(s) && std::get<2>(s) <= std::get<2>(e->first);
      }
      const Within w = within(s);
      for (const int64_t c : counts) {
        EXPECT_TRUE(inside && w.replayed_start && w.replayed_end && c <= w.replayed)
            << "unexpected session " << SessionJson(s, c) << " (" << w.replayed
            << " replayed events in it)";
      }
    }
    if (replays == 0) {
      const std::multiset<KeyValueTs> got = AsMultiset(output);
      const std::multiset<KeyValueTs> want = SessionRecords(expected);
      EXPECT_EQ(got, want) << Diff(got, want);
    }
    const int64_t restored = RestoredRecords(Log("second.log"));
    std::cout << "[ measured ] " << expected.size() << " sessions, " << open_at_kill
              << " open at the kill; restored " << restored << " changelog records; "
              << emitted_twice << " emitted again, " << counted_twice << " event(s) counted twice, "
              << rebuilt << " rebuilt from replays\n";
    EXPECT_GT(restored, 0) << "the restarted instance restored nothing\n" << Log("second.log");
    const std::optional<int> status = second.SignalAndWait(SIGTERM, milliseconds(10000));
    ASSERT_TRUE(status.has_value() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << testing::DescribeStatus(status) << "\n"
        << Log("second.log");
  }
};

TEST_F(SessionsKillE2eTest, KilledMidStreamRestoresSessionsFromTheChangelogsOnAFreshStateDir) {
  Run(/*wipe_state=*/true, /*mid_stream=*/true);
}

TEST_F(SessionsKillE2eTest, KilledMidStreamRestartsOnItsOwnStateDir) {
  Run(/*wipe_state=*/false, /*mid_stream=*/true);
}

TEST_F(SessionsKillE2eTest, KilledWithEverythingCommittedEmitsEverySessionExactlyOnce) {
  Run(/*wipe_state=*/true, /*mid_stream=*/false);
}

}  // namespace
}  // namespace runnel::streams_e2e
