#include "cmd/options.hpp"

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <memory>
#include <set>
#include <utility>

#include "common/version.hpp"

namespace tartan::cmd {

std::string_view Version() { return tartan::Version(); }

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    // Read while tartand is still single-threaded, before the agent starts.
    const char* v = std::getenv(std::string(name).c_str());  // NOLINT(concurrency-mt-unsafe)
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string ToString(const IpAddr& ip) {
  return std::visit([](const auto& a) { return a.ToString(); }, ip);
}

namespace {

// Quotes a value for an error message; control bytes become \xNN so a stray byte from an
// environment file is visible.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Go's strconv.ParseBool, which flanneld's boolean flags use.
std::optional<bool> ParseGoBool(std::string_view v) {
  static constexpr std::string_view kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
  static constexpr std::string_view kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (auto t : kTrue) {
    if (v == t) return true;
  }
  for (auto f : kFalse) {
    if (v == f) return false;
  }
  return std::nullopt;
}

// A decimal integer. Go's flag package reads "010" as octal 8; rather than silently
// disagree with a flanneld config, a leading zero is refused.
Result<int64_t> ParseDecimal(std::string_view v) {
  bool negative = false;
  if (!v.empty() && (v.front() == '+' || v.front() == '-')) {
    negative = v.front() == '-';
    v.remove_prefix(1);
  }
  if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos) {
    return Error::InvalidArgument("not a whole number");
  }
  if (v.size() > 1 && v.front() == '0') {
    return Error::InvalidArgument("a leading zero is ambiguous (Go reads it as octal); drop it");
  }
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() ||
      n > uint64_t{std::numeric_limits<int64_t>::max()}) {
    return Error::InvalidArgument("number out of range");
  }
  return negative ? -static_cast<int64_t>(n) : static_cast<int64_t>(n);
}

Result<int64_t> ParseInRange(std::string_view v, int64_t lo, int64_t hi, std::string_view what) {
  auto n = ParseDecimal(v);
  if (!n.ok()) return n;
  if (*n < lo || *n > hi) {
    return Error::InvalidArgument("must be " + std::string(what));
  }
  return n;
}

Result<IpAddr> ParseIpAddr(std::string_view v) {
  if (auto v4 = net::Ip4::Parse(v); v4.ok()) return IpAddr(*v4);
  if (auto v6 = net::Ip6::Parse(v); v6.ok()) return IpAddr(*v6);
  return Error::InvalidArgument("not an IP address");
}

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

Result<EtcdEndpoint> ParseEtcdEndpoint(std::string_view text) {
  EtcdEndpoint ep;
  ep.url = std::string(text);
  const std::string lower = ToLower(text);
  std::string_view rest;
  if (lower.starts_with("http://")) {
    rest = text.substr(7);
  } else if (lower.starts_with("https://")) {
    ep.tls = true;
    rest = text.substr(8);
  } else if (lower.find("://") != std::string::npos) {
    return Error::InvalidArgument("etcd endpoint " + Quote(text) +
                                  " has an unsupported scheme: use http:// or https://");
  } else {
    return Error::InvalidArgument("etcd endpoint " + Quote(text) +
                                  " needs a scheme: write http://" + std::string(text) +
                                  " or https://" + std::string(text));
  }

  std::string_view authority = rest.substr(0, rest.find('/'));
  std::string_view path = rest.substr(authority.size());
  if (!path.empty() && path != "/") {
    return Error::InvalidArgument("etcd endpoint " + Quote(text) +
                                  " has a path; give only scheme://host:port");
  }
  if (authority.find('@') != std::string_view::npos) {
    return Error::InvalidArgument("etcd endpoint " + Quote(text) +
                                  " carries credentials; use --etcd-username/--etcd-password");
  }

  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Error::InvalidArgument("etcd endpoint " + Quote(text) + " has no closing ']'");
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Error::InvalidArgument("etcd endpoint " + Quote(text) +
                                      " has text after ']' that is not a :port");
      }
      has_port = true;
      port = after.substr(1);
    }
    if (!net::Ip6::Parse(host).ok()) {
      return Error::InvalidArgument("etcd endpoint " + Quote(text) +
                                    " has an invalid IPv6 address in brackets");
    }
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string::npos) {
      return Error::InvalidArgument(
          "etcd endpoint " + Quote(text) +
          ": an IPv6 address must be in brackets, e.g. http://[fd00::1]:2379");
    }
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
    }
    if (host.empty()) {
      return Error::InvalidArgument("etcd endpoint " + Quote(text) + " has no host");
    }
    for (char c : host) {
      if (!IsHostNameChar(c)) {
        return Error::InvalidArgument("etcd endpoint " + Quote(text) +
                                      " has an invalid character in its host name");
      }
    }
    // "10.4.7.300" is a typo of an address, not a host name to look up in DNS.
    const bool numeric = host.find_first_not_of("0123456789.") == std::string_view::npos;
    if (numeric && !net::Ip4::Parse(host).ok()) {
      return Error::InvalidArgument("etcd endpoint " + Quote(text) +
                                    " has an invalid IPv4 address");
    }
  }
  ep.host = std::string(host);

  if (has_port) {
    auto p = ParseDecimal(port);
    if (!p.ok() || *p < 1 || *p > 65535) {
      return Error::InvalidArgument("etcd endpoint " + Quote(text) +
                                    " has an invalid port (want 1-65535)");
    }
    ep.port = static_cast<uint16_t>(*p);
  }
  return ep;
}

// ---- The flag table: the one list of flags, used by the parser and by --help. ----

using Apply = Status (*)(Options&, std::string_view value);

enum class Special { kNone, kHelp, kVersion };

struct Flag {
  std::string_view name;  // without dashes
  bool is_bool;           // Go syntax: takes no separate value argument
  bool from_env;          // falls back to FLANNELD_<NAME>
  std::string_view group;
  std::string_view type;          // for --help
  std::string_view default_text;  // for --help; empty: none
  std::string_view help;
  Apply apply;  // nullptr: accepted and ignored
  Special special = Special::kNone;
};

template <auto Member>
Status SetString(Options& o, std::string_view v) {
  o.*Member = std::string(v);
  return {};
}

template <auto Member>
Status Append(Options& o, std::string_view v) {
  (o.*Member).emplace_back(v);
  return {};
}

template <auto Member>
Status SetBool(Options& o, std::string_view v) {
  auto b = ParseGoBool(v);
  if (!b) return Error::InvalidArgument("not a boolean (use true or false)");
  o.*Member = *b;
  return {};
}

Status CheckBool(Options&, std::string_view v) {
  if (!ParseGoBool(v)) return Error::InvalidArgument("not a boolean (use true or false)");
  return {};
}

Status Ignore(Options&, std::string_view) { return {}; }

constexpr std::string_view kGroupEtcd = "etcd";
constexpr std::string_view kGroupIface = "Interface and addresses";
constexpr std::string_view kGroupAgent = "Agent";
constexpr std::string_view kGroupKube =
    "Kubernetes subnet manager (accepted for flanneld compatibility; not supported)";
constexpr std::string_view kGroupLog = "Logging";
constexpr std::string_view kGroupGlog =
    "glog flags (accepted for flanneld compatibility and ignored; tartand logs to stderr)";

const std::vector<Flag>& Flags() {
  static const std::vector<Flag> flags = {
      {"etcd-endpoints", false, true, kGroupEtcd, "URLS", kDefaultEtcdEndpoints,
       "comma-separated list of etcd endpoints (http:// or https://)",
       +[](Options& o, std::string_view v) -> Status {
         auto list = ParseEtcdEndpoints(v);
         if (!list.ok()) return list.error();
         o.etcd_endpoints = std::string(v);
         o.etcd_endpoint_list = std::move(*list);
         return {};
       }},
      {"etcd-prefix", false, true, kGroupEtcd, "PATH", "/coreos.com/network",
       "etcd key prefix of the network config and the subnet leases",
       &SetString<&Options::etcd_prefix>},
      {"etcd-keyfile", false, true, kGroupEtcd, "FILE", "", "TLS client key file for etcd",
       &SetString<&Options::etcd_keyfile>},
      {"etcd-certfile", false, true, kGroupEtcd, "FILE", "", "TLS client certificate file for etcd",
       &SetString<&Options::etcd_certfile>},
      {"etcd-cafile", false, true, kGroupEtcd, "FILE", "",
       "TLS certificate authority file for etcd", &SetString<&Options::etcd_cafile>},
      {"etcd-username", false, true, kGroupEtcd, "NAME", "", "username for etcd authentication",
       &SetString<&Options::etcd_username>},
      {"etcd-password", false, true, kGroupEtcd, "SECRET", "", "password for etcd authentication",
       &SetString<&Options::etcd_password>},
      {"etcd-api", false, true, kGroupEtcd, "auto|v2|v3", "auto",
       "etcd API (key space) of the network config and leases; auto: whichever holds "
       "<prefix>/config, v3 if both do",
       +[](Options& o, std::string_view v) -> Status {
         if (v == "auto") {
           o.etcd_api = EtcdApi::kAuto;
         } else if (v == "v2") {
           o.etcd_api = EtcdApi::kV2;
         } else if (v == "v3") {
           o.etcd_api = EtcdApi::kV3;
         } else {
           return Error::InvalidArgument("must be auto, v2 or v3");
         }
         return {};
       }},

      {"iface", false, true, kGroupIface, "NAME|IP", "",
       "interface (name or address) for inter-host traffic; repeat to try several in order",
       &Append<&Options::iface>},
      {"iface-regex", false, true, kGroupIface, "REGEX", "",
       "regex matched against interface addresses, then names; repeatable; tried after --iface",
       &Append<&Options::iface_regex>},
      {"iface-can-reach", false, true, kGroupIface, "IP", "",
       "use the interface the kernel would route to this address through",
       +[](Options& o, std::string_view v) -> Status {
         auto ip = ParseIpAddr(v);
         if (!ip.ok()) return ip.error();
         o.iface_can_reach = *ip;
         return {};
       }},
      {"public-ip", false, true, kGroupIface, "IPV4", "",
       "IPv4 address other nodes reach this node at (default: the interface's address)",
       +[](Options& o, std::string_view v) -> Status {
         auto ip = net::Ip4::Parse(v);
         if (!ip.ok()) {
           if (net::Ip6::Parse(v).ok()) {
             return Error::InvalidArgument("an IPv6 address; give it with --public-ipv6");
           }
           return Error::InvalidArgument("not an IPv4 address");
         }
         o.public_ip = *ip;
         return {};
       }},
      {"public-ipv6", false, true, kGroupIface, "IPV6", "",
       "IPv6 address other nodes reach this node at",
       +[](Options& o, std::string_view v) -> Status {
         auto ip = net::Ip6::Parse(v);
         if (!ip.ok()) return Error::InvalidArgument("not an IPv6 address");
         o.public_ipv6 = *ip;
         return {};
       }},

      {"subnet-file", false, true, kGroupAgent, "FILE", "/run/flannel/subnet.env",
       "file the FLANNEL_* environment (subnet, MTU, ...) is written to",
       &SetString<&Options::subnet_file>},
      {"subnet-lease-renew-margin", false, true, kGroupAgent, "MINUTES", "60",
       "renew the 24 h subnet lease this many minutes before it expires (1-1439)",
       +[](Options& o, std::string_view v) -> Status {
         auto n = ParseInRange(v, 1, 1439, "from 1 to 1439 minutes (the lease lives 24 hours)");
         if (!n.ok()) return n.error();
         o.subnet_lease_renew_margin_minutes = static_cast<int>(*n);
         return {};
       }},
      {"ip-masq", true, true, kGroupAgent, "BOOL", "false",
       "masquerade traffic from the overlay network to destinations outside it",
       &SetBool<&Options::ip_masq>},
      {"ip-masq-fully-random-disable", true, true, kGroupAgent, "BOOL", "false",
       "masquerade without --random-fully (by default it is used where iptables and the kernel "
       "support it)",
       &SetBool<&Options::ip_masq_fully_random_disable>},
      {"ip-blackhole-route", true, true, kGroupAgent, "BOOL", "false",
       "add a blackhole route for this host's subnet: traffic to its unassigned addresses is "
       "dropped instead of leaving by the default route (a connected route, e.g. of the pod "
       "bridge, still wins)",
       &SetBool<&Options::ip_blackhole_route>},
      {"keep-pod-source", true, true, kGroupAgent, "BOOL", "true",
       "keep pod addresses on pod-to-pod traffic: a first nat POSTROUTING rule stops other "
       "MASQUERADE rules (docker's) from rewriting them, with or without --ip-masq",
       &SetBool<&Options::keep_pod_source>},
      {"iptables-resync", false, true, kGroupAgent, "SECONDS", "5",
       "how often the firewall rules are checked and repaired",
       +[](Options& o, std::string_view v) -> Status {
         auto n = ParseInRange(v, 1, std::numeric_limits<int>::max(), "at least 1 second");
         if (!n.ok()) return n.error();
         o.iptables_resync_seconds = static_cast<int>(*n);
         return {};
       }},
      {"iptables-forward-rules", true, true, kGroupAgent, "BOOL", "true",
       "add ACCEPT rules for the overlay network to the FORWARD chain",
       &SetBool<&Options::iptables_forward_rules>},
      {"healthz-ip", false, true, kGroupAgent, "IP", "0.0.0.0",
       "address the health server listens on",
       +[](Options& o, std::string_view v) -> Status {
         auto ip = ParseIpAddr(v);
         if (!ip.ok()) return ip.error();
         o.healthz_ip = *ip;
         return {};
       }},
      {"healthz-port", false, true, kGroupAgent, "PORT", "0",
       "port of the health server (/healthz, /readyz); 0 turns it off",
       +[](Options& o, std::string_view v) -> Status {
         auto n = ParseInRange(v, 0, 65535, "from 0 to 65535 (0 turns the health server off)");
         if (!n.ok()) return n.error();
         o.healthz_port = static_cast<uint16_t>(*n);
         return {};
       }},

      {"kube-subnet-mgr", true, true, kGroupKube, "BOOL", "false",
       "take the subnet from the Kubernetes API (tartan refuses: it uses etcd)",
       &SetBool<&Options::kube_subnet_mgr>},
      {"kube-api-url", false, true, kGroupKube, "URL", "", "Kubernetes API server URL",
       &SetString<&Options::kube_api_url>},
      {"kubeconfig-file", false, true, kGroupKube, "FILE", "", "kubeconfig file",
       &SetString<&Options::kubeconfig_file>},
      {"kube-annotation-prefix", false, true, kGroupKube, "PREFIX", "flannel.alpha.coreos.com",
       "Kubernetes node annotation prefix", &SetString<&Options::kube_annotation_prefix>},
      {"set-node-network-unavailable", true, true, kGroupKube, "BOOL", "true",
       "clear the node's NetworkUnavailable condition when ready",
       &SetBool<&Options::set_node_network_unavailable>},
      {"net-config-path", false, true, kGroupKube, "FILE", "/etc/kube-flannel/net-conf.json",
       "network config file of the Kubernetes subnet manager",
       &SetString<&Options::net_config_path>},

      {"v", false, true, kGroupLog, "LEVEL", "0",
       "log verbosity: 0 logs what an operator needs, higher adds debug detail",
       +[](Options& o, std::string_view v) -> Status {
         auto n = ParseInRange(v, 0, std::numeric_limits<int>::max(), "0 or more");
         if (!n.ok()) return n.error();
         o.verbosity = static_cast<int>(*n);
         return {};
       }},
      {"version", true, false, kGroupLog, "", "", "print the version and exit", &CheckBool,
       Special::kVersion},
      {"help", true, false, kGroupLog, "", "", "print this help and exit", &CheckBool,
       Special::kHelp},
      {"h", true, false, kGroupLog, "", "", "print this help and exit", &CheckBool, Special::kHelp},

      // flanneld copies -vmodule and -log_backtrace_at from glog; the others are glog flags
      // that deployment scripts written for other Go daemons commonly pass along.
      {"vmodule", false, false, kGroupGlog, "SPEC", "", "ignored", &Ignore},
      {"log_backtrace_at", false, false, kGroupGlog, "FILE:LINE", "", "ignored", &Ignore},
      {"logtostderr", true, false, kGroupGlog, "BOOL", "", "ignored", &CheckBool},
      {"alsologtostderr", true, false, kGroupGlog, "BOOL", "", "ignored", &CheckBool},
      {"log_dir", false, false, kGroupGlog, "DIR", "", "ignored", &Ignore},
      {"stderrthreshold", false, false, kGroupGlog, "SEVERITY", "", "ignored", &Ignore},
  };
  return flags;
}

const Flag* FindFlag(std::string_view name) {
  for (const Flag& f : Flags()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string EnvName(std::string_view flag) {
  std::string out = "FLANNELD_";
  for (char c : flag) {
    if (c == '-') {
      out += '_';
    } else if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c - 'a' + 'A');
    } else {
      out += c;
    }
  }
  return out;
}

std::string UnknownFlagMessage(std::string_view dashes, std::string_view name) {
  std::string msg = "unknown flag " + std::string(dashes) + std::string(name);
  // "--public_ip" for "--public-ip" is the common slip.
  std::string dashed(name);
  for (char& c : dashed) {
    if (c == '_') c = '-';
  }
  if (dashed != name && FindFlag(dashed) != nullptr) msg += " (did you mean --" + dashed + "?)";
  return msg;
}

}  // namespace

Result<std::vector<EtcdEndpoint>> ParseEtcdEndpoints(std::string_view list) {
  std::vector<EtcdEndpoint> out;
  size_t start = 0;
  while (true) {
    const size_t comma = list.find(',', start);
    std::string_view entry = Trim(list.substr(start, comma - start));
    if (entry.empty()) {
      return Error::InvalidArgument("empty entry in etcd endpoint list " + Quote(list));
    }
    auto ep = ParseEtcdEndpoint(entry);
    if (!ep.ok()) return ep.error();
    out.push_back(std::move(*ep));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

Status Options::Validate() const {
  if (kube_subnet_mgr) {
    return Error::InvalidArgument(
        "--kube-subnet-mgr is not supported: tartan has no Kubernetes subnet manager; keep the "
        "network config and leases in etcd (drop --kube-subnet-mgr, pass --etcd-endpoints)");
  }
  if (etcd_endpoint_list.empty()) {
    return Error::InvalidArgument("--etcd-endpoints is empty: give at least one etcd URL");
  }
  if (subnet_lease_renew_margin_minutes < 1 || subnet_lease_renew_margin_minutes > 1439) {
    return Error::InvalidArgument(
        "--subnet-lease-renew-margin=" + std::to_string(subnet_lease_renew_margin_minutes) +
        " must be from 1 to 1439 minutes (the lease lives 24 hours)");
  }
  if (iptables_resync_seconds < 1) {
    return Error::InvalidArgument("--iptables-resync=" + std::to_string(iptables_resync_seconds) +
                                  " must be at least 1 second");
  }
  if (verbosity < 0) {
    return Error::InvalidArgument("-v=" + std::to_string(verbosity) + " must be 0 or more");
  }
  // The interface is chosen by an IPv4 route lookup; the interface that reaches an IPv6
  // address may not carry the host's IPv4 traffic at all. Ignoring the flag would silently
  // fall back to the default route's interface, possibly the wrong network: refuse instead.
  // (With --iface or --iface-regex given, --iface-can-reach is not consulted, as in flanneld.)
  if (iface_can_reach && std::holds_alternative<net::Ip6>(*iface_can_reach) && iface.empty() &&
      iface_regex.empty()) {
    return Error::InvalidArgument(
        "--iface-can-reach=" + ToString(*iface_can_reach) +
        " is an IPv6 address: tartand routes IPv4 and finds the interface with an IPv4 route "
        "lookup; give an IPv4 address reached through the interface you want, or name it with "
        "--iface");
  }
  // Go's tls.LoadX509KeyPair needs both halves; flanneld fails only when it first dials.
  if (etcd_keyfile.empty() != etcd_certfile.empty()) {
    return Error::InvalidArgument(
        "--etcd-keyfile and --etcd-certfile go together: give both or neither");
  }
  return {};
}

namespace {

// What differs between tartand's and tartanctl's command line.
struct ParseMode {
  std::string_view program = "tartand";
  bool positional = false;         // collect words that are not flags instead of refusing
  std::span<const ToolFlag> tool;  // the tool's own flags
  bool (*from_env)(std::string_view) = nullptr;  // nullptr: every flag with from_env
};

struct Parsed {
  CommandLine cl;
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> tool_flags;
};

Result<Parsed> ParseArgs(std::span<const std::string> args, const EnvLookup& env,
                         const ParseMode& mode) {
  Parsed out;
  CommandLine& cl = out.cl;
  const std::string program(mode.program);
  std::set<std::string_view> given;
  bool version = false;
  // Set after a boolean flag without "=value", to explain a following "false".
  const Flag* previous_bare_bool = nullptr;

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      if (mode.positional) {
        out.positional.insert(out.positional.end(), args.begin() + static_cast<long>(i) + 1,
                              args.end());
        break;
      }
      if (i + 1 < args.size()) {
        return Error::InvalidArgument("unexpected argument " + Quote(args[i + 1]) +
                                      " after \"--\": " + program +
                                      " takes no arguments, only flags");
      }
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      if (mode.positional) {
        out.positional.push_back(arg);
        continue;
      }
      std::string msg = "unexpected argument " + Quote(arg) + ": " + program + " takes only flags";
      if (previous_bare_bool != nullptr) {
        msg += " (a boolean flag takes its value only after '=': --" +
               std::string(previous_bare_bool->name) + "=" + arg + ")";
      } else {
        msg += " (write --name=value)";
      }
      return Error::InvalidArgument(msg);
    }
    previous_bare_bool = nullptr;
    const size_t dashes = arg[1] == '-' ? 2 : 1;
    std::string_view body = std::string_view(arg).substr(dashes);
    if (body.empty() || body.front() == '-' || body.front() == '=') {
      return Error::InvalidArgument("bad flag syntax: " + Quote(arg));
    }
    const size_t eq = body.find('=');
    const std::string_view name = body.substr(0, eq);
    std::optional<std::string_view> value;
    if (eq != std::string_view::npos) value = body.substr(eq + 1);

    // The tool's own flags come first: a tool may give a tartand flag name its own meaning.
    const ToolFlag* tool = nullptr;
    for (const ToolFlag& t : mode.tool) {
      if (t.name == name) tool = &t;
    }
    const Flag* flag = tool == nullptr ? FindFlag(name) : nullptr;
    if (tool == nullptr && flag == nullptr) {
      return Error::InvalidArgument(UnknownFlagMessage(arg.substr(0, dashes), name));
    }
    const bool is_bool = tool != nullptr ? tool->is_bool : flag->is_bool;
    const std::string_view flag_name = tool != nullptr ? tool->name : flag->name;
    std::string_view v;
    if (is_bool) {
      v = value.value_or("true");
      if (!value && flag != nullptr) previous_bare_bool = flag;
    } else if (value) {
      v = *value;
    } else if (i + 1 < args.size()) {
      // Go takes the next argument as the value even when it starts with '-'.
      v = args[++i];
    } else {
      return Error::InvalidArgument("flag --" + std::string(flag_name) + " needs a value: --" +
                                    std::string(flag_name) + "=VALUE");
    }
    if (tool != nullptr) {
      if (is_bool && !ParseGoBool(v)) {
        return Error::InvalidArgument("invalid value " + Quote(v) + " for flag --" +
                                      std::string(flag_name) +
                                      ": not a boolean (use true or false)");
      }
      out.tool_flags.emplace_back(std::string(flag_name), std::string(v));
      continue;
    }

    Status st = flag->apply(cl.options, v);
    if (!st.ok()) {
      return Error::InvalidArgument("invalid value " + Quote(v) + " for flag --" +
                                    std::string(flag->name) + ": " + st.error().message);
    }
    given.insert(flag->name);
    if (flag->special != Special::kNone) {
      const bool on = ParseGoBool(v).value_or(false);
      if (on && flag->special == Special::kHelp) {
        cl.request = Request::kHelp;
        return out;
      }
      if (flag->special == Special::kVersion) version = on;
    }
  }

  if (version) {
    cl.request = Request::kVersion;
    return out;
  }

  for (const Flag& flag : Flags()) {
    if (!flag.from_env || given.contains(flag.name)) continue;
    if (mode.from_env != nullptr && !mode.from_env(flag.name)) continue;
    const std::string var = EnvName(flag.name);
    std::optional<std::string> value = env ? env(var) : std::nullopt;
    if (!value || value->empty()) continue;
    Status st = flag.apply(cl.options, *value);
    if (!st.ok()) {
      return Error::InvalidArgument("invalid value " + Quote(*value) + " in environment variable " +
                                    var + " (flag --" + std::string(flag.name) +
                                    "): " + st.error().message);
    }
  }
  return out;
}

}  // namespace

Result<CommandLine> ParseOptions(std::span<const std::string> args, const EnvLookup& env) {
  auto parsed = ParseArgs(args, env, ParseMode{});
  if (!parsed.ok()) return parsed.error();
  return std::move(parsed->cl);
}

bool IsSharedFlag(std::string_view name) {
  static constexpr std::string_view kShared[] = {
      "etcd-endpoints", "etcd-prefix",   "etcd-keyfile",    "etcd-certfile",
      "etcd-cafile",    "etcd-username", "etcd-password",   "etcd-api",
      "iface",          "iface-regex",   "iface-can-reach", "public-ip",
      "subnet-file",    "healthz-ip",    "healthz-port",    "v"};
  for (auto s : kShared) {
    if (s == name) return true;
  }
  return false;
}

std::optional<std::string> ToolCommandLine::Flag(std::string_view name) const {
  std::optional<std::string> last;
  for (const auto& [n, v] : tool_flags) {
    if (n == name) last = v;
  }
  return last;
}

Result<ToolCommandLine> ParseToolOptions(std::span<const std::string> args, const EnvLookup& env,
                                         std::span<const ToolFlag> tool) {
  ParseMode mode;
  mode.program = "tartanctl";
  mode.positional = true;
  mode.tool = tool;
  mode.from_env = &IsSharedFlag;
  auto parsed = ParseArgs(args, env, mode);
  if (!parsed.ok()) return parsed.error();
  ToolCommandLine out;
  out.request = parsed->cl.request;
  out.options = std::move(parsed->cl.options);
  out.positional = std::move(parsed->positional);
  out.tool_flags = std::move(parsed->tool_flags);
  return out;
}

namespace {

// Lays flags out the way Go's flag.PrintDefaults does, which flanneld users know: the flag
// and its value type on one line, the explanation indented below, then default and variable.
class FlagsFormatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App*, std::string name) const override {
    return "Usage: " + name + " [FLAG]...\n";
  }
  std::string make_description(const CLI::App*) const override { return ""; }
  std::string make_option(const CLI::Option* opt, bool) const override {
    std::string out = "  " + opt->get_name(false, true);
    if (!opt->get_type_name().empty()) out += " " + opt->get_type_name();
    out += "\n        " + opt->get_description();
    std::string notes;
    if (!opt->get_default_str().empty()) notes = "default " + opt->get_default_str();
    if (!opt->get_envname().empty()) {
      notes += (notes.empty() ? "" : "; ") + std::string("env ") + opt->get_envname();
    }
    if (!notes.empty()) out += "\n        (" + notes + ")";
    return out + "\n";
  }
};

}  // namespace

namespace {

// Lists the table's flags (those `keep` accepts) on `app`, in the table's order and groups.
void AddFlags(CLI::App& app, bool (*keep)(std::string_view)) {
  for (const Flag& f : Flags()) {
    if (f.name == "h") continue;  // shown as "-h, --help"
    if (keep != nullptr && !keep(f.name)) continue;
    std::string names = f.name.size() == 1 ? "-" + std::string(f.name) : "--" + std::string(f.name);
    if (f.name == "help") names = "-h,--help";
    CLI::Option* opt = f.is_bool ? app.add_flag(names) : app.add_option(names);
    // A boolean that defaults to true is turned off only by "=false"; say so.
    if (f.is_bool && f.default_text == "true") opt->type_name("[=BOOL]");
    if (!f.is_bool) opt->type_name(std::string(f.type));
    if (!f.default_text.empty() && f.default_text != "false") {
      opt->default_str(std::string(f.default_text));
    }
    opt->description(std::string(f.help));
    if (f.from_env) opt->envname(EnvName(f.name));
    opt->group(std::string(f.group));
  }
}

}  // namespace

std::string SharedFlagsUsage() {
  CLI::App app("", "tartanctl");
  app.formatter(std::make_shared<FlagsFormatter>());
  app.set_help_flag();
  AddFlags(app, &IsSharedFlag);
  std::string text = app.help();
  // Only the flag list: the usage line belongs to the caller.
  if (size_t nl = text.find('\n'); nl != std::string::npos) text.erase(0, nl + 1);
  return text;
}

std::string Usage(std::string_view program) {
  CLI::App app("", std::string(program));
  app.formatter(std::make_shared<FlagsFormatter>());
  app.set_help_flag();  // listed from the table below, with the other flags
  app.footer(
      "Flags use Go syntax, as flanneld's do: --name=value, --name value, -name=value or\n"
      "-name value; a boolean flag is --name or --name=false (not \"--name false\").\n"
      "A flag not on the command line is read from its FLANNELD_* variable when set\n"
      "(e.g. FLANNELD_PUBLIC_IP=10.4.7.21, FLANNELD_IP_MASQ=true); the command line wins.\n"
      "Exit status: 2 on a usage error; 0 after --help or --version.");
  AddFlags(app, nullptr);
  return app.help();
}

}  // namespace tartan::cmd
