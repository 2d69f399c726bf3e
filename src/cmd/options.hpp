// tartand's command line: every flanneld flag, with flanneld's names, defaults, Go flag syntax
// and FLANNELD_* environment fallback, so that an existing flanneld unit file, supervisord
// program or DaemonSet runs tartand unchanged.
//
// Parsing is a pure function of the argument list and an injected environment lookup; it
// never prints and never exits. The caller (tartand's main) decides what to print and which
// exit code to use from the returned Request.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.hpp"
#include "net/ip.hpp"

namespace tartan::cmd {

// The tartan version ("0.1.0-3-gabc1234"): tartan::Version(), see common/version.hpp.
std::string_view Version();

// Returns the value of an environment variable, or nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
// The real process environment (getenv).
EnvLookup ProcessEnv();

// Either address family; for flags that flanneld parses with Go's net.ParseIP.
using IpAddr = std::variant<net::Ip4, net::Ip6>;
std::string ToString(const IpAddr& ip);

// One entry of --etcd-endpoints.
struct EtcdEndpoint {
  std::string url;   // as given, e.g. "https://10.4.7.12:2379"
  bool tls = false;  // https://
  std::string host;  // name or address; an IPv6 literal without its brackets
  // Absent when the URL names no port; the store layer picks the scheme's default.
  std::optional<uint16_t> port;

  bool operator==(const EtcdEndpoint&) const = default;
};

// Splits a comma-separated endpoint list as flanneld does (no other separator) and checks
// each entry: scheme http:// or https://, a host, an optional port, no path beyond "/".
// Blanks around an entry are dropped; an empty entry is an error.
Result<std::vector<EtcdEndpoint>> ParseEtcdEndpoints(std::string_view list);

inline constexpr std::string_view kDefaultEtcdEndpoints =
    "http://127.0.0.1:4001,http://127.0.0.1:2379";

// --etcd-api: which etcd key space holds the network (auto: the one holding its config).
enum class EtcdApi { kAuto, kV2, kV3 };

struct Options {
  // etcd. etcd_endpoint_list is etcd_endpoints parsed; ParseOptions keeps the two in step.
  std::string etcd_endpoints{kDefaultEtcdEndpoints};
  std::vector<EtcdEndpoint> etcd_endpoint_list = ParseEtcdEndpoints(kDefaultEtcdEndpoints).value();
  std::string etcd_prefix = "/coreos.com/network";
  std::string etcd_keyfile;
  std::string etcd_certfile;
  std::string etcd_cafile;
  std::string etcd_username;
  std::string etcd_password;
  EtcdApi etcd_api = EtcdApi::kAuto;

  // External interface choice, in flanneld's order: iface entries, then regexes, then
  // can-reach, else the interface of the default route.
  std::vector<std::string> iface;  // names or addresses
  std::vector<std::string> iface_regex;
  std::optional<IpAddr> iface_can_reach;

  std::string subnet_file = "/run/flannel/subnet.env";
  std::optional<net::Ip4> public_ip;
  std::optional<net::Ip6> public_ipv6;
  int subnet_lease_renew_margin_minutes = 60;  // 1..1439: the lease lives 24 h

  bool ip_masq = false;
  // flanneld's --ip-masq-fully-random-disable: MASQUERADE without --random-fully even where
  // iptables and the kernel support it.
  bool ip_masq_fully_random_disable = false;
  // flanneld's --ip-blackhole-route: a blackhole route for this host's own subnet, so that
  // traffic to its unassigned addresses is dropped here instead of following the default route.
  bool ip_blackhole_route = false;
  // Keeps pod-to-pod traffic un-NATed even when another rule (docker's) would masquerade it.
  bool keep_pod_source = true;
  int iptables_resync_seconds = 5;
  bool iptables_forward_rules = true;

  IpAddr healthz_ip = net::Ip4();  // 0.0.0.0
  uint16_t healthz_port = 0;       // 0: no health server

  // Kubernetes subnet manager: accepted so flanneld command lines parse, refused by Validate().
  bool kube_subnet_mgr = false;
  std::string kube_api_url;
  std::string kubeconfig_file;
  std::string kube_annotation_prefix = "flannel.alpha.coreos.com";
  bool set_node_network_unavailable = true;
  std::string net_config_path = "/etc/kube-flannel/net-conf.json";

  int verbosity = 0;  // -v: 0 logs operator events only, higher adds debug detail

  // Checks what a value-by-value parse cannot: ranges (for Options built in code), flag
  // combinations, and features tartan does not have. On failure the message names the flag
  // and says what to do instead.
  Status Validate() const;

  bool operator==(const Options&) const = default;
};

// What the command line asks for. kHelp and kVersion win over running; main prints.
enum class Request { kRun, kHelp, kVersion };

struct CommandLine {
  Request request = Request::kRun;
  Options options;
};

// Parses tartand's arguments (argv without the program name).
//
// Go flag syntax, as flanneld accepts it: "--name=value", "--name value", "-name=value",
// "-name value"; a boolean only as "--name" or "--name=<bool>" (Go's strconv.ParseBool
// spellings). "--" ends the flags. Any argument that is not a flag is an error: in Go,
// "--ip-masq false" leaves ip-masq true and turns "false" into an ignored positional
// argument, a silent surprise we refuse instead. A repeated flag keeps its last value,
// except --iface and --iface-regex, which collect every value in order.
//
// Each flag not given on the command line is then read from FLANNELD_<NAME> (upper case,
// '-' as '_'; e.g. FLANNELD_PUBLIC_IP); an empty variable counts as unset, as in flanneld.
// A variable fills a list flag with one entry: a regex may contain commas.
//
// "-h"/"--help" returns kHelp as soon as it is seen (like Go); "--version" returns kVersion
// after the command line parsed and before the environment is read, so a bad FLANNELD_*
// variable does not hide the version.
//
// On failure the error (kInvalidArgument) names the flag or the variable and the value.
Result<CommandLine> ParseOptions(std::span<const std::string> args, const EnvLookup& env);

// The --help text: usage line, syntax notes, every flag with its default and variable.
std::string Usage(std::string_view program = "tartand");

// ---- tartanctl's command line: tartand's own flags, from the same table. ----

// Whether tartanctl reads this tartand flag (name without dashes): the etcd flags, --etcd-prefix,
// --subnet-file, --healthz-ip/--healthz-port, the --iface* and --public-ip flags, -v. Only these
// fall back to their FLANNELD_* variables in tartanctl; every other tartand flag is accepted on
// its command line (checked and ignored), so that an operator runs tartanctl with the very line
// that runs tartand.
bool IsSharedFlag(std::string_view name);

// A flag of the tool itself (e.g. --output, --local), in the same Go syntax.
struct ToolFlag {
  std::string_view name;  // without dashes
  bool is_bool = false;
};

struct ToolCommandLine {
  Request request = Request::kRun;
  Options options;
  std::vector<std::string> positional;  // the subcommand and its arguments, in order
  // The tool flags given, by name; a boolean given bare is "true". The last value wins.
  std::vector<std::pair<std::string, std::string>> tool_flags;

  // The last value of a tool flag, or nullopt when not given.
  std::optional<std::string> Flag(std::string_view name) const;
};

// Parses tartanctl's arguments with ParseOptions' syntax and rules, and additionally: words
// that are not flags are collected in `positional` (anywhere on the line), `tool` flags are
// collected in `tool_flags`, and only IsSharedFlag flags are read from FLANNELD_* variables.
Result<ToolCommandLine> ParseToolOptions(std::span<const std::string> args, const EnvLookup& env,
                                         std::span<const ToolFlag> tool);

// The --help section listing the shared flags (with defaults and variables) for `program`.
std::string SharedFlagsUsage();

}  // namespace tartan::cmd
