#include "agent/periodic_pass.hpp"

#include <gtest/gtest.h>

namespace tartan::agent {
namespace {

using namespace std::chrono_literals;
using TP = PeriodicPass::Clock::time_point;

const TP kStart = TP{} + 1000h;

TEST(PeriodicPass, RunsEveryPeriodWhenNoLeaseEventComes) {
  PeriodicPass p(10s, 50ms, 10s, kStart);
  EXPECT_FALSE(p.Due(kStart + 9999ms));
  EXPECT_TRUE(p.Due(kStart + 10s));
  EXPECT_EQ(p.RunAt(), kStart + 10s);
  p.Ran(kStart + 10s);
  EXPECT_FALSE(p.Due(kStart + 19s));
  EXPECT_TRUE(p.Due(kStart + 20s));
}

TEST(PeriodicPass, EventsLongBeforeTheDueTimeDoNotDelayIt) {
  PeriodicPass p(10s, 50ms, 10s, kStart);
  p.LeaseEvent(kStart + 9s);
  EXPECT_TRUE(p.Due(kStart + 10s));
}

TEST(PeriodicPass, WaitsForAGapAfterTheLastEvent) {
  PeriodicPass p(10s, 50ms, 10s, kStart);
  p.LeaseEvent(kStart + 9990ms);
  EXPECT_FALSE(p.Due(kStart + 10s));
  EXPECT_EQ(p.RunAt(), kStart + 10040ms);
  // Events 30 ms apart keep putting it off.
  TP last = kStart + 9990ms;
  for (auto t = kStart + 10020ms; t < kStart + 12s; t += 30ms) {
    p.LeaseEvent(t);
    last = t;
    EXPECT_FALSE(p.Due(t + 30ms - 1ms)) << (t - kStart).count();
  }
  // The burst ends: one gap of `quiet` and it runs.
  EXPECT_FALSE(p.Due(last + 49ms));
  EXPECT_TRUE(p.Due(last + 50ms));
}

TEST(PeriodicPass, NeverPutOffLongerThanMaxDelay) {
  PeriodicPass p(10s, 50ms, 5s, kStart);
  int passes = 0;
  // Events every 30 ms for a minute: a pass at most every period + max_delay.
  TP last_pass = kStart;
  for (auto t = kStart; t < kStart + 60s; t += 1ms) {
    if ((t - kStart) % 30ms == 0ms) p.LeaseEvent(t);
    if (p.Due(t)) {
      EXPECT_LE(t - last_pass, 15s);
      EXPECT_GE(t - last_pass, 10s);
      p.Ran(t);
      last_pass = t;
      ++passes;
    }
  }
  EXPECT_EQ(passes, 3);  // at 15, 30 and 45 s
}

TEST(PeriodicPass, APeriodStartsWhenThePassRan) {
  PeriodicPass p(10s, 50ms, 10s, kStart);
  p.Ran(kStart + 6s);
  EXPECT_FALSE(p.Due(kStart + 10s));
  EXPECT_TRUE(p.Due(kStart + 16s));
}

}  // namespace
}  // namespace tartan::agent
