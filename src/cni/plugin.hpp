// The plugin's commands (ADD, DEL, CHECK, VERSION) over an injectable delegate runner, so
// the whole protocol is testable without the reference plugins or root.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cni/cni_error.hpp"
#include "cni/netconf.hpp"

namespace tartan::cni {

// Runs delegate plugin `type` (looked up in `cni_path`) with `command` and `conf` on stdin.
using DelegateRunner =
    std::function<CniResult<std::string>(const std::string& type, const std::string& cni_path,
                                         const std::string& command, const std::string& conf)>;

// The real runner: FindPlugin + ExecPlugin.
CniResult<std::string> RunDelegate(const std::string& type, const std::string& cni_path,
                                   const std::string& command, const std::string& conf);

struct Output {
  int exit_code = 0;
  std::string out;  // stdout: the result, VERSION's answer, or the error JSON
  std::string err;  // stderr: the about line, notes
};

// One invocation, as the spec's skeleton runs it: environment checks, then the configuration's
// decode and version checks, then the command.
//   ADD    reads subnet.env, renders the delegate, saves it to <dataDir>/<container id>,
//          runs the delegate's ADD and prints its result. A failed delegate ADD is undone
//          (the delegate's DEL replayed, the saved file removed once that succeeds).
//   DEL    replays the saved delegate's DEL and removes the file; no saved file (never
//          added, or already deleted) is success, as the spec asks of DEL.
//   CHECK  runs the saved delegate's CHECK with the runtime's prevResult; no saved file -> 3.
//   VERSION prints the supported versions.
// Without CNI_COMMAND it prints `about` and the versions to stderr and exits 0.
Output Run(const Getenv& getenv, std::string_view stdin_text, const DelegateRunner& runner,
           const std::string& about);

// A result whose routes without "gw" get the gateway of the result's first address of their
// family: the route the delegate's ADD installed (the IPAM code routes via the gateway when a
// route names none). CHECK hands the delegate this form, since the bridge plugin before
// v1.3.0 (Debian's 1.1.1) looks for a gateway-less route in the table and never finds it
// (containernetworking/plugins#886), so every CHECK of flannel's rendering failed.
nlohmann::json WithRouteGateways(nlohmann::json result);

// <dataDir>/<container id>: written atomically (temp file, rename), directory 0700 and file
// 0600, as flannel keeps them (the configuration can carry secrets for the delegate).
CniStatus SaveDelegate(const std::string& data_dir, const std::string& container_id,
                       const std::string& conf);

}  // namespace tartan::cni
