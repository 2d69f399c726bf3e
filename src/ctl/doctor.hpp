// `tartanctl doctor` (root, on a host): reads the leases in etcd and this host's firewall,
// sysctls, links, routes, neighbours, FDB, TX offload, subnet.env and the agent's /status, runs
// the checks of doctor_checks.hpp and prints one line per check. Exit status 1 when any check
// FAILs, else 0.
#pragma once

#include <vector>

#include "cmd/options.hpp"
#include "ctl/doctor_checks.hpp"

namespace tartan::ctl {

std::vector<CheckResult> RunDoctor(const cmd::Options& options);

}  // namespace tartan::ctl
