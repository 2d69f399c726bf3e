#include "common/log_limit.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tartan::log {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

TEST(Quote, ShortPrintableTextIsQuotedAsIs) {
  EXPECT_EQ(Quote("10.244.0.0/16"), "\"10.244.0.0/16\"");
  EXPECT_EQ(Quote(""), "\"\"");
  EXPECT_EQ(Cut("plain"), "plain");
}

TEST(Quote, EscapesWhatCouldForgeOrGarbleALine) {
  EXPECT_EQ(Quote("a\"b\\c"), R"("a\"b\\c")");
  // A newline in a value must not start what looks like a log line of its own.
  EXPECT_EQ(Quote("x\n2026-01-01T00:00:00Z I forged"), R"("x\x0a2026-01-01T00:00:00Z I forged")");
  EXPECT_EQ(Quote(std::string("\x00\x1b\x7f\xff", 4)), R"("\x00\x1b\x7f\xff")");
}

TEST(Quote, CutsLongTextAndSaysTheFullSize) {
  const std::string big(1 << 20, 'a');
  const std::string q = Quote(big);
  EXPECT_EQ(q, "\"" + std::string(kMaxQuoted, 'a') + "\"...(1048576 bytes)");
  EXPECT_EQ(Cut(big, 3), "aaa...(1048576 bytes)");
  EXPECT_EQ(Quote("abcd", 4), "\"abcd\"");  // exactly at the limit: nothing cut
  // Escaping can at most quadruple the shown bytes: the line stays bounded.
  EXPECT_LE(Quote(std::string(1 << 20, '\n')).size(), 4 * kMaxQuoted + 32);
}

TEST(HumanDuration, ReadsLikeAnOperatorWouldWriteIt) {
  EXPECT_EQ(HumanDuration(0s), "0s");
  EXPECT_EQ(HumanDuration(45s), "45s");
  EXPECT_EQ(HumanDuration(60s), "1m");
  EXPECT_EQ(HumanDuration(150s), "2m30s");
  EXPECT_EQ(HumanDuration(3600s + 300s + 7s), "1h5m");
  EXPECT_EQ(HumanDuration(7200s), "2h");
  EXPECT_EQ(HumanDuration(-5s), "0s");
}

// A clock the test moves by hand.
struct FakeClock {
  TimePoint now{};
  RepeatedProblem::Clock fn() {
    return [this] { return now; };
  }
};

TEST(RepeatedProblem, LogsTheStartThenSlowerAndSlowerThenTheEnd) {
  FakeClock clock;
  RepeatedProblem p("network config", clock.fn());
  EXPECT_FALSE(p.Succeeded());  // nothing to recover from
  EXPECT_EQ(p.Failed("Network \"x\" is not a CIDR"), "network config: Network \"x\" is not a CIDR");
  EXPECT_TRUE(p.failing());

  // Retried every 5 s for an hour: the first repeat after 30 s, then gaps of 1, 2, 4, 8, 16
  // and 30 minutes.
  std::vector<int> logged_at;  // seconds since the start
  for (int t = 5; t <= 3600; t += 5) {
    clock.now += 5s;
    if (auto line = p.Failed("Network \"x\" is not a CIDR")) {
      logged_at.push_back(t);
      if (logged_at.size() == 1) {
        EXPECT_EQ(*line,
                  "network config: still failing after 7 attempts over 30s (next report in 1m "
                  "unless it changes): Network \"x\" is not a CIDR");
      }
    }
  }
  EXPECT_EQ(logged_at, (std::vector<int>{30, 90, 210, 450, 930, 1890}));
  EXPECT_EQ(p.attempts(), 721);

  clock.now += 5s;
  EXPECT_EQ(p.Succeeded(), "network config: recovered after 721 failed attempts over 1h");
  EXPECT_FALSE(p.failing());
  EXPECT_FALSE(p.Succeeded());
}

TEST(RepeatedProblem, TheGapStopsGrowingAtTheMaximum) {
  FakeClock clock;
  RepeatedProblem p("renewing the lease", clock.fn(),
                    RepeatedProblem::Policy{.first_repeat = 10s, .max_interval = 40s});
  ASSERT_TRUE(p.Failed("timeout"));
  std::vector<int> logged_at;
  for (int t = 1; t <= 300; ++t) {
    clock.now += 1s;
    if (p.Failed("timeout")) logged_at.push_back(t);
  }
  EXPECT_EQ(logged_at, (std::vector<int>{10, 30, 70, 110, 150, 190, 230, 270}));
}

TEST(RepeatedProblem, AChangeOfCauseIsLoggedAtOnce) {
  FakeClock clock;
  RepeatedProblem p("network config /coreos.com/network/config", clock.fn());
  ASSERT_TRUE(p.Failed("etcd unreachable", "unreachable"));
  clock.now += 1s;
  EXPECT_FALSE(p.Failed("etcd unreachable (other endpoint)", "unreachable"));
  clock.now += 1s;
  EXPECT_EQ(p.Failed("not found", "missing"),
            "network config /coreos.com/network/config: not found (failing for 2s, 3 attempts)");
  clock.now += 1s;
  EXPECT_FALSE(p.Failed("not found", "missing"));
  // The slowing starts again from the change.
  clock.now += 29s;
  EXPECT_TRUE(p.Failed("not found", "missing"));
}

TEST(RepeatedProblem, ASingleFailureRecoversInTheSingular) {
  FakeClock clock;
  RepeatedProblem p("acquiring a lease", clock.fn());
  ASSERT_TRUE(p.Failed("out of subnets"));
  clock.now += 5s;
  EXPECT_EQ(p.Succeeded(), "acquiring a lease: recovered after 1 failed attempt over 5s");
  // A new failure after a recovery is a new start.
  EXPECT_EQ(p.Failed("out of subnets"), "acquiring a lease: out of subnets");
}

TEST(RepeatedProblem, UsesTheSteadyClockWhenGivenNone) {
  RepeatedProblem p("x");
  EXPECT_TRUE(p.Failed("y"));
  EXPECT_FALSE(p.Failed("y"));  // 30 s have not passed
  EXPECT_TRUE(p.Succeeded());
}

}  // namespace
}  // namespace tartan::log
