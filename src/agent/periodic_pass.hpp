// When the periodic full pass runs (docs/adr/0019): every `period`, but not on top of lease
// events. A full pass at 5000 peers costs tens of ms on the loop, and a lease event that
// arrives meanwhile waits for it; so when the pass falls due while events are coming, it waits
// for a gap of `quiet` after the last one -- at most `max_delay`, so that a cluster that never
// stops changing still gets its pass. Kernel notifications are not put off by this: they have
// their own limit (PassLimiter). Pure: the loop passes the time in.
#pragma once

#include <algorithm>
#include <chrono>

namespace tartan::agent {

class PeriodicPass {
 public:
  using Clock = std::chrono::steady_clock;
  PeriodicPass(Clock::duration period, Clock::duration quiet, Clock::duration max_delay,
               Clock::time_point now)
      : period_(period), quiet_(quiet), max_delay_(max_delay), due_(now + period) {}

  // A lease event was applied at `now`.
  void LeaseEvent(Clock::time_point now) { last_event_ = now; }
  // Whether the pass should run at `now`.
  bool Due(Clock::time_point now) const { return now >= RunAt(); }
  // When it will be due (for the loop's poll timeout).
  Clock::time_point RunAt() const {
    if (last_event_ + quiet_ <= due_) return due_;
    return std::min(last_event_ + quiet_, due_ + max_delay_);
  }
  // A full pass ran at `now` (periodic or not): the next one is a period later.
  void Ran(Clock::time_point now) { due_ = now + period_; }

 private:
  Clock::duration period_;
  Clock::duration quiet_;
  Clock::duration max_delay_;
  Clock::time_point due_;
  Clock::time_point last_event_{};
};

}  // namespace tartan::agent
