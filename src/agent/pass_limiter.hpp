// How often kernel notifications may cost a full pass (dump and plan of everything tartan
// programs): a burst is served at once, so a route deleted by hand is back within
// milliseconds, while a steady stream -- a fight with another route controller that keeps
// undoing tartan's routes -- gets at most one pass per `interval` (docs/adr/0019).
// A generic cell rate algorithm: one time point, no timer.
#pragma once

#include <algorithm>
#include <chrono>

namespace tartan::agent {

class PassLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  PassLimiter(int burst, Clock::duration interval)
      : interval_(interval), tolerance_(interval * std::max(0, burst - 1)) {}

  // Takes a pass if one is allowed at `now`.
  bool TryTake(Clock::time_point now) {
    if (now < NextAllowed()) return false;
    tat_ = std::max(tat_, now) + interval_;
    return true;
  }
  // When the next pass is allowed; in the past when one is allowed now.
  Clock::time_point NextAllowed() const { return tat_ - tolerance_; }

 private:
  Clock::duration interval_;
  Clock::duration tolerance_;
  Clock::time_point tat_{};  // the theoretical arrival time of the next pass
};

}  // namespace tartan::agent
