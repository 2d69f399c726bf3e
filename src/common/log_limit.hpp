// Keeping the log bounded when what it reports comes from outside or keeps happening.
//
// Text from outside (etcd keys and values, the network config, peers' lease data, HTTP
// bodies quoted in errors) goes into a line through Quote() or Cut(): escaped, so a control
// byte cannot forge or garble lines, and cut after a few hundred bytes with the full size
// said, so a 1 MB value costs one short line. A condition retried in a loop (config unusable,
// etcd unreachable, renewals failing) goes through a RepeatedProblem: logged when it starts,
// then at a slowing rate with the count of attempts while it lasts, and once when it ends.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tartan::log {

// Bytes of outside text a line shows before cutting; enough for any sane key, address or
// config field, and for the start of anything else.
inline constexpr size_t kMaxQuoted = 200;

// `s` in double quotes: '"' and '\' backslash-escaped, other bytes outside printable ASCII as
// \xNN; after `max` bytes of `s`, "...(N bytes)" with N the full size.
std::string Quote(std::string_view s, size_t max = kMaxQuoted);
// The same escaping and cutting without the quotes, for a message that embeds outside text
// (an error from a parser, a server's reply).
std::string Cut(std::string_view s, size_t max = kMaxQuoted);

// "45s", "2m30s", "1h5m": a duration as an operator reads it.
std::string HumanDuration(std::chrono::steady_clock::duration d);

// When RepeatedProblem reports a failure that goes on.
struct RepeatPolicy {
  std::chrono::steady_clock::duration first_repeat = std::chrono::seconds(30);
  std::chrono::steady_clock::duration max_interval = std::chrono::minutes(30);
};

// One condition that a loop retries. Not thread-safe: one owner calls it.
//
//   RepeatedProblem config("network config");
//   while (...) {
//     if (auto c = Get(); !c) {
//       if (auto line = config.Failed(c.error().message)) log::Error(*line);
//       continue;
//     }
//     if (auto line = config.Succeeded()) log::Info(*line);
//   }
//
// Failed() returns a line for the first failure; then when the next report is due (after
// `first_repeat`, the gap doubling up to `max_interval`), saying how many attempts failed and
// for how long; and at once when `kind` differs from the last failure's (a different cause:
// "unreachable" then "missing"), so a change of cause is never hidden. Succeeded() returns a
// line only when it ends a failure.
class RepeatedProblem {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  using Policy = RepeatPolicy;

  // `what` starts every line ("network config", "renewing the lease"). No clock: steady_clock.
  explicit RepeatedProblem(std::string what, Clock clock = {}, Policy policy = {});

  std::optional<std::string> Failed(std::string_view message, std::string_view kind = {});
  std::optional<std::string> Succeeded();

  bool failing() const { return attempts_ > 0; }
  int attempts() const { return attempts_; }  // failures since the last success

 private:
  std::chrono::steady_clock::time_point Now() const;

  std::string what_;
  Clock clock_;
  Policy policy_;
  int attempts_ = 0;
  std::string kind_;
  std::chrono::steady_clock::time_point since_{};
  std::chrono::steady_clock::time_point next_report_{};
  std::chrono::steady_clock::duration interval_{};
};

}  // namespace tartan::log
