// Running the iptables tools: fork/exec with an argv (posix_spawn), never a shell, stdin fed
// from memory, stdout and stderr captured. One seam (CommandRunner) so the rule logic is
// unit-tested against canned iptables-save text without root.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace tartan::firewall {

struct CommandOutput {
  int exit_code = 0;  // 128 + signal number when the child was killed by a signal
  std::string out;
  std::string err;
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs argv[0] (looked up in PATH) with `input` on its stdin. A non-zero exit is NOT an
  // error here: the caller decides, and gets stderr to quote. Errors: the program cannot be
  // started (NotFound / PermissionDenied), or it outlived the timeout (Unavailable; it is
  // killed and reaped first).
  virtual Result<CommandOutput> Run(const std::vector<std::string>& argv,
                                    std::string_view input) = 0;
};

class SpawnCommandRunner : public CommandRunner {
 public:
  // An xtables lock held by another tool, or a wedged nft socket, must not wedge the agent.
  explicit SpawnCommandRunner(std::chrono::milliseconds timeout = std::chrono::seconds(30))
      : timeout_(timeout) {}
  Result<CommandOutput> Run(const std::vector<std::string>& argv, std::string_view input) override;

 private:
  std::chrono::milliseconds timeout_;
};

// The full path of `name` found in the directories of `path` (a PATH value), if it is an
// executable regular file there. A name with a '/' is checked as given.
std::optional<std::string> FindExecutable(std::string_view name, std::string_view path);

}  // namespace tartan::firewall
