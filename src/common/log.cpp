#include "common/log.hpp"

#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace tartan::log {
namespace {

std::atomic<int> verbosity{0};
std::mutex mu;

// The last line of defence against a value from outside that reached a log line uncut: no
// line is longer than this (call sites cut such values to a few hundred bytes already).
constexpr size_t kMaxLine = 4096;

void Write(char level, std::string_view line) {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm t{};
  gmtime_r(&tv.tv_sec, &t);
  char stamp[80];  // sized for any int values, so -Wformat-truncation stays quiet
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<long>(tv.tv_usec / 1000));
  std::string out;
  const size_t shown = std::min(line.size(), kMaxLine);
  out.reserve(shown + 80);
  out.append(stamp).append(" ").push_back(level);
  out.append(" ").append(line.substr(0, shown));
  if (shown < line.size()) out.append("...(" + std::to_string(line.size()) + " bytes)");
  // A newline inside a message would make the rest look like a line of its own.
  std::replace(out.begin(), out.end(), '\n', ' ');
  out.push_back('\n');
  std::lock_guard lock(mu);
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

void SetVerbosity(int level) { verbosity = level; }
int Verbosity() { return verbosity; }
void Info(std::string_view line) { Write('I', line); }
void Warning(std::string_view line) { Write('W', line); }
void Error(std::string_view line) { Write('E', line); }
void Debug(int level, std::string_view line) {
  if (verbosity >= level) Write('D', line);
}

}  // namespace tartan::log
