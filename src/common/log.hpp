// Operator-facing log lines on stderr: one line per event that matters, with the fields an
// operator greps for ("lease acquired subnet=10.244.3.0/24 ..."); detail behind -v.
#pragma once

#include <string_view>

namespace tartan::log {

void SetVerbosity(int level);  // -v
int Verbosity();

void Info(std::string_view line);
void Warning(std::string_view line);
void Error(std::string_view line);
// Shown only when -v >= level.
void Debug(int level, std::string_view line);

}  // namespace tartan::log
