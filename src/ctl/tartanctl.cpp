#include "ctl/tartanctl.hpp"

#include <unistd.h>

#include <chrono>
#include <iostream>

#include "cmd/options.hpp"
#include "ctl/doctor.hpp"
#include "ctl/local.hpp"
#include "ctl/status.hpp"
#include "ctl/status_read.hpp"

namespace tartan::ctl {
namespace {

constexpr int kUsageError = 2;

// Every subcommand's own flags; a flag given to a subcommand that has no use for it is refused.
constexpr cmd::ToolFlag kToolFlags[] = {{"output", false}, {"local", true}};

int UsageError(const std::string& message) {
  std::cerr << "tartanctl: " << message << "\nTry 'tartanctl --help' for more information.\n";
  return kUsageError;
}

int RunStatus(const cmd::ToolCommandLine& cl) {
  const std::string output = cl.Flag("output").value_or("table");
  if (output != "table" && output != "json") {
    return UsageError("--output must be table or json, not \"" + output + "\"");
  }
  if (cl.Flag("local").value_or("false") == "true") {
    auto body = FetchFromAgent(cl.options, "/status");
    if (!body.ok()) {
      std::cerr << "tartanctl status --local: " << body.error().message << "\n";
      return 1;
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    std::cout << (output == "json" ? *body : FormatLocalStatus(*body, now));
    return 0;
  }
  auto input = ReadStatusInput(cl.options);
  if (!input.ok()) {
    std::cerr << "tartanctl status: reading etcd (" << cl.options.etcd_endpoints
              << "): " << input.error().message << "\n";
    return 1;
  }
  const StatusReport report = AnalyzeStatus(*input);
  std::cout << (output == "json" ? FormatStatusJson(report) : FormatStatusTable(report));
  return 0;
}

int RunDoctorCommand(const cmd::ToolCommandLine& cl) {
  if (cl.Flag("output") || cl.Flag("local")) {
    return UsageError("doctor takes no --output or --local");
  }
  if (::geteuid() != 0) {
    std::cerr << "tartanctl doctor: run as root (it reads iptables, routes and sysctls)\n";
    return 1;
  }
  bool failed = false;
  for (const CheckResult& r : RunDoctor(cl.options)) {
    std::cout << FormatCheck(r);
    failed = failed || r.level == Level::kFail;
  }
  return failed ? 1 : 0;
}

}  // namespace

std::string HelpFooter() {
  return "Subcommands:\n"
         "  status [--output=table|json]   the network config and every lease in etcd, with\n"
         "                                 anomalies (two subnets for one host, keys outside\n"
         "                                 the network, garbage, expiring leases, shared "
         "VtepMACs)\n"
         "  status --local [--output=...]  this host's agent, from its health port: ready or\n"
         "                                 why not, its lease, etcd in use, the path to each\n"
         "                                 peer (and why one is unreachable), last repairs\n"
         "  doctor                         (root) checks this host against the cluster: one\n"
         "                                 line per check, OK/WARN/FAIL with the fix; exit 1\n"
         "                                 on FAIL\n"
         "\n"
         "tartanctl takes tartand's own flags, so it runs with the line that runs tartand; it\n"
         "reads these (from the command line, else from their FLANNELD_* variables):\n" +
         cmd::SharedFlagsUsage();
}

std::optional<int> RunSubcommand(std::span<const std::string> args) {
  auto cl = cmd::ParseToolOptions(args, cmd::ProcessEnv(), kToolFlags);
  if (!cl.ok()) {
    // An unknown flag before any subcommand word is main's to report; a bad value is ours.
    bool has_word = false;
    for (const auto& a : args) has_word = has_word || (!a.empty() && a[0] != '-');
    if (!has_word) return std::nullopt;
    return UsageError(cl.error().message);
  }
  if (cl->positional.empty()) return std::nullopt;
  if (cl->request == cmd::Request::kHelp) {
    std::cout << "Usage: tartanctl SUBCOMMAND [FLAG]...\n\n" << HelpFooter();
    return 0;
  }
  if (cl->request == cmd::Request::kVersion) {
    std::cout << "tartanctl v" << cmd::Version() << "\n";
    return 0;
  }
  const std::string& sub = cl->positional.front();
  if (cl->positional.size() > 1) {
    return UsageError("unexpected argument \"" + cl->positional[1] + "\" after " + sub);
  }
  if (sub == "status") return RunStatus(*cl);
  if (sub == "doctor") return RunDoctorCommand(*cl);
  return UsageError("unknown subcommand \"" + sub + "\"");
}

}  // namespace tartan::ctl
