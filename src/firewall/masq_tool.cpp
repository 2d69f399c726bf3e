// tartan_masq_tool: drives MasqManager by hand, for the e2e scenario and for operators who want
// to see what tartand would do to iptables.
//
//   tartan_masq_tool apply|check|plan|remove <Network> <pod subnet> [--no-masq]
//                    [--no-forward] [--no-keep-source] [--no-random-fully]
//
// apply: Ensure() once; prints each repair, then "restores=<n>".
// check: prints what Ensure() would repair; exit 0 when nothing, 3 when something.
// plan:  prints the iptables-restore scripts Ensure() would run.
// remove: Remove(); prints what was removed.
// Exit 1 on errors (the message on stderr), 2 on usage errors.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "firewall/masq_manager.hpp"

namespace {

int Usage() {
  std::fputs(
      "usage: tartan_masq_tool apply|check|plan|remove <Network> <pod subnet> [--no-masq] "
      "[--no-forward] [--no-keep-source] [--no-random-fully]\n",
      stderr);
  return 2;
}

int Fail(const tartan::Error& e) {
  std::fprintf(stderr, "tartan_masq_tool: %s\n", e.message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using tartan::firewall::MasqManager;
  using tartan::firewall::MasqOptions;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.size() < 3) return Usage();
  MasqOptions options;
  for (size_t i = 3; i < args.size(); ++i) {
    if (args[i] == "--no-masq") {
      options.masquerade = false;
    } else if (args[i] == "--no-forward") {
      options.forward_rules = false;
    } else if (args[i] == "--no-keep-source") {
      options.keep_pod_source = false;
    } else if (args[i] == "--no-random-fully") {
      options.random_fully = false;
    } else {
      return Usage();
    }
  }
  auto network = tartan::net::Ip4Net::Parse(args[1]);
  if (!network.ok()) return Fail(network.error());
  auto subnet = tartan::net::Ip4Net::Parse(args[2]);
  if (!subnet.ok()) return Fail(subnet.error());
  auto manager = MasqManager::Create(*network, *subnet, options);
  if (!manager.ok()) return Fail(manager.error());

  const std::string_view cmd = args[0];
  if (cmd == "apply" || cmd == "remove") {
    auto report = cmd == "apply" ? manager->Ensure() : manager->Remove();
    if (!report.ok()) return Fail(report.error());
    for (const auto& line : report->repairs) std::printf("%s\n", line.c_str());
    std::printf("restores=%d\n", report->restores);
    return 0;
  }
  if (cmd == "check" || cmd == "plan") {
    auto plans = manager->Plan();
    if (!plans.ok()) return Fail(plans.error());
    bool any = false;
    for (const auto& plan : *plans) {
      any = any || !plan.empty();
      if (cmd == "plan") {
        std::fputs(plan.script.c_str(), stdout);
      } else {
        for (const auto& line : plan.repairs) std::printf("%s\n", line.c_str());
      }
    }
    return cmd == "check" && any ? 3 : 0;
  }
  return Usage();
}
