// tartanctl's subcommands. tartanctl's main keeps --help, --version and its usage errors and
// hands everything with a subcommand word to RunSubcommand.
#pragma once

#include <optional>
#include <span>
#include <string>

namespace tartan::ctl {

// Runs the subcommand named on the command line (argv without the program name) and returns
// its exit status; nullopt when the line names none or does not parse, for main to report.
std::optional<int> RunSubcommand(std::span<const std::string> args);

// The subcommand list and the shared flags, for the end of tartanctl --help.
std::string HelpFooter();

}  // namespace tartan::ctl
