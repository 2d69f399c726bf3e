#include "common/log.hpp"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace tartan::log {
namespace {

std::atomic<int> verbosity{0};
std::mutex mu;

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
  out.reserve(line.size() + 48);
  out.append(stamp).append(" ").push_back(level);
  out.append(" ").append(line).push_back('\n');
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
