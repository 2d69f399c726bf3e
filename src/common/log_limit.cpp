#include "common/log_limit.hpp"

#include <algorithm>

namespace tartan::log {
namespace {

void Escape(std::string& out, std::string_view s, size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string_view shown = s.substr(0, max);
  out.reserve(out.size() + shown.size() + 24);
  for (char c : shown) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
}

std::string SizeNote(std::string_view s, size_t max) {
  return s.size() > max ? "...(" + std::to_string(s.size()) + " bytes)" : "";
}

}  // namespace

std::string Quote(std::string_view s, size_t max) {
  std::string out = "\"";
  Escape(out, s, max);
  // The size note stays outside the quotes: it is ours, not part of the value.
  return out + "\"" + SizeNote(s, max);
}

std::string Cut(std::string_view s, size_t max) {
  std::string out;
  Escape(out, s, max);
  return out + SizeNote(s, max);
}

std::string HumanDuration(std::chrono::steady_clock::duration d) {
  using namespace std::chrono;
  const auto total = duration_cast<seconds>(d).count();
  if (total < 60) return std::to_string(std::max<int64_t>(total, 0)) + "s";
  const auto h = total / 3600;
  const auto m = (total % 3600) / 60;
  const auto s = total % 60;
  if (h > 0) return std::to_string(h) + "h" + (m > 0 ? std::to_string(m) + "m" : "");
  return std::to_string(m) + "m" + (s > 0 ? std::to_string(s) + "s" : "");
}

RepeatedProblem::RepeatedProblem(std::string what, Clock clock, Policy policy)
    : what_(std::move(what)), clock_(std::move(clock)), policy_(policy) {}

std::chrono::steady_clock::time_point RepeatedProblem::Now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

std::optional<std::string> RepeatedProblem::Failed(std::string_view message,
                                                   std::string_view kind) {
  const auto now = Now();
  ++attempts_;
  if (attempts_ == 1 || kind != kind_) {
    const bool first = attempts_ == 1;
    if (first) since_ = now;
    kind_ = std::string(kind);
    interval_ = policy_.first_repeat;
    next_report_ = now + interval_;
    if (first) return what_ + ": " + std::string(message);
    return what_ + ": " + std::string(message) + " (failing for " + HumanDuration(now - since_) +
           ", " + std::to_string(attempts_) + " attempts)";
  }
  if (now < next_report_) return std::nullopt;
  interval_ = std::min(interval_ * 2, policy_.max_interval);
  next_report_ = now + interval_;
  return what_ + ": still failing after " + std::to_string(attempts_) + " attempts over " +
         HumanDuration(now - since_) + " (next report in " + HumanDuration(interval_) +
         " unless it changes): " + std::string(message);
}

std::optional<std::string> RepeatedProblem::Succeeded() {
  if (attempts_ == 0) return std::nullopt;
  const auto n = attempts_;
  const auto over = Now() - since_;
  attempts_ = 0;
  kind_.clear();
  return what_ + ": recovered after " + std::to_string(n) + " failed attempt" +
         (n == 1 ? "" : "s") + " over " + HumanDuration(over);
}

}  // namespace tartan::log
