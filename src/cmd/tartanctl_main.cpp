// tartanctl: the operator's tool. The subcommands live in src/ctl; main keeps --help,
// --version and the usage errors of a line without a subcommand.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cmd/options.hpp"
#include "ctl/tartanctl.hpp"

namespace {

constexpr int kUsageError = 2;

int UsageError(const std::string& message) {
  std::cerr << "tartanctl: " << message << "\nTry 'tartanctl --help' for more information.\n";
  return kUsageError;
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  if (auto status = tartan::ctl::RunSubcommand(args)) return *status;

  CLI::App app("tartanctl: inspect a tartan (flannel-compatible) overlay network.", "tartanctl");
  bool version = false;
  app.add_flag("--version", version, "print the version and exit");
  // Leftovers are reported by us, so an unknown word reads "unknown subcommand".
  app.allow_extras();
  app.footer(tartan::ctl::HelpFooter());

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    return UsageError(e.what());
  }

  if (version) {
    std::cout << "tartanctl v" << tartan::cmd::Version() << "\n";
    return 0;
  }
  const auto extras = app.remaining();
  if (!extras.empty()) {
    const std::string& first = extras.front();
    if (first.starts_with('-')) return UsageError("unknown flag " + first);
    return UsageError("unknown subcommand \"" + first + "\"");
  }
  return UsageError("no subcommand given");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "tartanctl: internal error: " << e.what() << "\n";
    return 1;
  }
}
