// The pure half of the CNI plugin: the runtime's environment, flannel's plugin configuration,
// subnet.env, and the delegate configuration built from them. No I/O except ReadFlannelEnv.
//
// Configuration-compatible with flannel's `type: flannel` plugin (docs/adr/0017): the same
// keys, defaults and delegate rendering, so a flannel config file works unchanged.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cni/cni_error.hpp"
#include "model/subnet_env.hpp"

namespace tartan::cni {

inline constexpr char kDefaultSubnetFile[] = "/run/flannel/subnet.env";
inline constexpr char kDefaultDataDir[] = "/var/lib/cni/flannel";

// Spec versions this plugin accepts in a configuration; the highest is what VERSION reports.
// 1.1.0 (GC, STATUS) is not claimed: the reference plugins it delegates to (Debian's 1.1.1)
// do not speak it.
const std::vector<std::string>& SupportedVersions();
// {"cniVersion":"1.0.0","supportedVersions":[...]}
std::string VersionJson();

// The CNI_* variables of one invocation.
struct Invocation {
  std::string command;  // ADD, DEL, CHECK, VERSION
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string args;
  std::string path;  // CNI_PATH, ':'-separated
};

using Getenv = std::function<const char*(const char*)>;
// Reads and validates the variables the command needs (the spec's table: CNI_NETNS is
// optional for DEL). Missing (or empty) ones -> code 4 naming all of them; a container id that is
// not [a-zA-Z0-9][a-zA-Z0-9_.-]* (it names a file in dataDir) -> 4; an interface name the kernel
// would refuse -> 4. CNI_COMMAND alone is checked for VERSION.
CniResult<Invocation> ReadInvocation(const Getenv& getenv);

// flannel's plugin configuration (the keys flannel reads; everything else is ignored).
struct NetConf {
  std::string cni_version;  // as given; "" when absent
  std::string name;
  std::string subnet_file = kDefaultSubnetFile;
  std::string data_dir = kDefaultDataDir;
  nlohmann::json delegate;        // object or null
  nlohmann::json ipam;            // object or null: the base of the delegate's ipam
  nlohmann::json runtime_config;  // object or null
  nlohmann::json prev_result;     // CHECK's input; null otherwise
};

// Decodes stdin. Not JSON / wrong type for a known key -> 6; no or bad name -> 7.
CniResult<NetConf> ParseNetConf(std::string_view stdin_text);

// The configuration's cniVersion is one we speak ("" means 0.1.0, as the spec's decoder
// has it); otherwise code 1 naming both sides. CHECK further needs >= 0.4.0.
CniStatus CheckVersion(const std::string& cni_version, const std::string& command);

// The rules flannel applies to `delegate` before an ADD: `type`, if given, is a string;
// `name` and `ipam` are not given (flannel sets both). Violations -> 7.
CniStatus ValidateDelegate(const NetConf& conf);

// Reads subnet.env for the plugin: missing file -> 11 (tartand has not written it yet: retry
// later); unreadable -> 5; malformed, or without FLANNEL_NETWORK/SUBNET (v4 or v6),
// FLANNEL_MTU and FLANNEL_IPMASQ -> 6. The parser is tartan's own (model/subnet_env).
CniResult<model::SubnetEnv> ReadFlannelEnv(const std::string& path);
// The same checks on text already read (for tests and ReadFlannelEnv).
CniResult<model::SubnetEnv> ParseFlannelEnv(std::string_view text, const std::string& path);

// flannel's delegate rendering: the user's `delegate` object, with
//   name       = conf.name (always), cniVersion = conf.cniVersion (when given),
//   runtimeConfig = conf.runtimeConfig (when given),
//   type       = "bridge"              unless given,
//   ipMasq     = !FLANNEL_IPMASQ       unless given,
//   mtu        = FLANNEL_MTU           unless given,
//   isGateway  = true                  unless given (bridge only),
//   ipam       = conf.ipam (or {}) with type "host-local" unless given,
//                ranges = [[{subnet: FLANNEL_SUBNET as network}], [{subnet: IPv6 subnet}]],
//                routes = conf.ipam.routes + [{dst: FLANNEL_NETWORK}, {dst: IPv6 network}].
// A non-array or malformed ipam.routes -> 7.
CniResult<nlohmann::json> BuildDelegate(const NetConf& conf, const model::SubnetEnv& env);

// The delegate's plugin name from a rendered (or saved) delegate; must be a bare file name
// (it is looked up in CNI_PATH) -> 7 otherwise.
CniResult<std::string> DelegateType(const nlohmann::json& delegate);

}  // namespace tartan::cni
