// tartand: parse flanneld-compatible options, then hand over to the agent.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cmd/options.hpp"
#include "common/log.hpp"

namespace {

// Exit code for a usage error, as GNU tools and Go's flag package (ExitOnError) use.
constexpr int kUsageError = 2;

// Stands in for the agent's entry point (src/agent) until it exists.
int RunAgent(const tartan::cmd::Options& /*options*/) {
  std::cerr << "tartand: the agent is not built yet\n";
  return 1;
}

int UsageError(const std::string& message) {
  std::cerr << "tartand: " << message << "\nTry 'tartand --help' for more information.\n";
  return kUsageError;
}

int Main(const std::vector<std::string>& args) {
  auto parsed = tartan::cmd::ParseOptions(args, tartan::cmd::ProcessEnv());
  if (!parsed.ok()) return UsageError(parsed.error().message);

  switch (parsed->request) {
    case tartan::cmd::Request::kHelp:
      std::cout << tartan::cmd::Usage("tartand");
      return 0;
    case tartan::cmd::Request::kVersion:
      std::cout << "tartand v" << tartan::cmd::Version() << "\n";
      return 0;
    case tartan::cmd::Request::kRun:
      break;
  }
  if (tartan::Status st = parsed->options.Validate(); !st.ok()) {
    return UsageError(st.error().message);
  }
  tartan::log::SetVerbosity(parsed->options.verbosity);
  return RunAgent(parsed->options);
}

}  // namespace

int main(int argc, char** argv) {
  // Modules return errors as values; what is left (e.g. std::bad_alloc) ends here, reported.
  try {
    return Main(std::vector<std::string>(argv + (argc > 0 ? 1 : 0), argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "tartand: internal error: " << e.what() << "\n";
    return 1;
  }
}
