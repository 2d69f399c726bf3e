#include "firewall/random_fully.hpp"

#include <sys/utsname.h>

#include <array>
#include <charconv>
#include <optional>

namespace tartan::firewall {
namespace {

using Version = std::array<int, 3>;

// The first "<major>.<minor>[.<patch>]" in `text` that starts a word or follows a 'v'
// ("iptables v1.8.9", "3.10.0-1160.el7").
std::optional<Version> FindVersion(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const bool starts = i == 0 || text[i - 1] == ' ' || text[i - 1] == 'v';
    if (!starts || text[i] < '0' || text[i] > '9') continue;
    Version v{0, 0, 0};
    size_t pos = i;
    int parts = 0;
    while (parts < 3 && pos < text.size()) {
      auto [end, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), v[parts]);
      if (ec != std::errc()) break;
      ++parts;
      pos = static_cast<size_t>(end - text.data());
      if (pos >= text.size() || text[pos] != '.') break;
      ++pos;
    }
    if (parts >= 2) return v;
  }
  return std::nullopt;
}

std::string Show(const Version& v) {
  return std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2]);
}

std::string FirstLine(std::string_view s) {
  s = s.substr(0, s.find('\n'));
  return std::string(s.substr(0, 120));
}

}  // namespace

RandomFullySupport RandomFullySupported(std::string_view tool_version,
                                        std::string_view kernel_release) {
  constexpr Version kTool{1, 6, 2};
  constexpr Version kKernel{3, 13, 0};
  const auto tool = FindVersion(tool_version);
  if (!tool) {
    return {false, "cannot tell the iptables version from \"" + FirstLine(tool_version) +
                       "\" (--random-fully needs iptables " + Show(kTool) + " or later)"};
  }
  if (*tool < kTool) {
    return {false, "iptables " + Show(*tool) + " is older than " + Show(kTool) +
                       ", the first to know --random-fully"};
  }
  if (const auto kernel = FindVersion(kernel_release); kernel && *kernel < kKernel) {
    return {false, "Linux " + Show(*kernel) +
                       " is older than 3.13, the first with "
                       "fully random NAT port mapping"};
  }
  return {true, ""};
}

RandomFullySupport DetectRandomFully(CommandRunner& runner, const std::string& restore_command) {
  auto out = runner.Run({restore_command, "--version"}, {});
  if (!out.ok()) {
    return {false, "cannot run " + restore_command + " --version: " + out.error().message};
  }
  utsname u{};
  const std::string release = ::uname(&u) == 0 ? u.release : "";
  // Some versions print it on stderr.
  return RandomFullySupported(out->out.empty() ? out->err : out->out, release);
}

}  // namespace tartan::firewall
