#include "agent/pass_limiter.hpp"

#include <gtest/gtest.h>

namespace tartan::agent {
namespace {

using namespace std::chrono_literals;

TEST(PassLimiter, ABurstAtOnceThenOnePerInterval) {
  PassLimiter limiter(4, 250ms);
  auto t = PassLimiter::Clock::time_point{} + 1000h;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.TryTake(t)) << i;
  EXPECT_FALSE(limiter.TryTake(t));
  EXPECT_EQ(limiter.NextAllowed(), t + 250ms);
  EXPECT_FALSE(limiter.TryTake(t + 249ms));
  EXPECT_TRUE(limiter.TryTake(t + 250ms));
  // A fight over ten seconds costs at most 4 + 40 passes.
  int passes = 0;
  for (auto now = t + 251ms; now < t + 10s; now += 1ms) passes += limiter.TryTake(now);
  EXPECT_LE(passes, 40);
  EXPECT_GE(passes, 38);
  // Quiet for a while: the next burst is served at once again.
  auto later = t + 20s;
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.TryTake(later)) << i;
}

}  // namespace
}  // namespace tartan::agent
