// tartan-cni: a CNI plugin configuration-compatible with flannel's `type: flannel` plugin.
// Installed under its own name or as `flannel` (a copy or link), it behaves the same: the
// name it is run under is not consulted.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "cni/plugin.hpp"

namespace {

// The configuration (with a CHECK's prevResult) is small; a runtime feeding more is broken.
constexpr size_t kMaxStdin = size_t{16} * 1024 * 1024;

bool WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int main() {
  // A delegate that exits without reading its stdin must not kill the plugin with SIGPIPE.
  (void)::signal(SIGPIPE, SIG_IGN);
  // Single-threaded: getenv cannot race a setenv.
  auto getenv = [](const char* name) -> const char* {
    return std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  };

  std::string input;
  const char* cmd = std::getenv("CNI_COMMAND");  // NOLINT(concurrency-mt-unsafe)
  // VERSION ignores stdin; a runtime may leave it open.
  if (cmd != nullptr && *cmd != '\0' && std::string(cmd) != "VERSION") {
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (n == 0) break;
      input.append(buf, static_cast<size_t>(n));
      if (input.size() > kMaxStdin) break;
    }
  }
  tartan::cni::Output out;
  if (input.size() > kMaxStdin) {
    out.exit_code = 1;
    out.out = tartan::cni::ErrorJson(
        tartan::cni::CniError::Make(tartan::cni::ErrorCode::kIoFailure,
                                    "network configuration on stdin is larger than 16 MiB"),
        "");
  } else {
    out = tartan::cni::Run(getenv, input, tartan::cni::RunDelegate,
                           "CNI Plugin tartan-cni version " TARTAN_VERSION
                           " (flannel-compatible: type \"flannel\")");
  }
  WriteAll(1, out.out);
  WriteAll(2, out.err);
  return out.exit_code;
}
