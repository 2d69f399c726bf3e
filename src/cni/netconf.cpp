#include "cni/netconf.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

#include "common/unique_fd.hpp"

namespace tartan::cni {

using nlohmann::json;

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r: returns the message, in buf or static.
  return ::strerror_r(err, buf, sizeof buf);
}

CniError FromError(const Error& e) {
  switch (e.code) {
    case Error::Code::kInvalidArgument:
      return CniError::Make(ErrorCode::kDecodingFailure, e.message);
    case Error::Code::kNotFound:
    case Error::Code::kUnavailable:
    case Error::Code::kDeadlineExceeded:
      return CniError::Make(ErrorCode::kTryAgainLater, e.message);
    case Error::Code::kPermissionDenied:
      return CniError::Make(ErrorCode::kIoFailure, e.message);
    default:
      return CniError::Make(ErrorCode::kInternal, e.message);
  }
}

std::string ErrorJson(const CniError& e, const std::string& cni_version) {
  json out = {{"cniVersion", cni_version.empty() ? SupportedVersions().back() : cni_version},
              {"code", e.code},
              {"msg", e.msg}};
  if (!e.details.empty()) out["details"] = e.details;
  // Messages can quote a file's bytes; replace rather than throw on invalid UTF-8.
  return out.dump(4, ' ', false, json::error_handler_t::replace) + "\n";
}

const std::vector<std::string>& SupportedVersions() {
  static const std::vector<std::string> kVersions = {"0.1.0", "0.2.0", "0.3.0",
                                                     "0.3.1", "0.4.0", "1.0.0"};
  return kVersions;
}

std::string VersionJson() {
  json out = {{"cniVersion", SupportedVersions().back()},
              {"supportedVersions", SupportedVersions()}};
  return out.dump() + "\n";
}

namespace {

// [a-zA-Z0-9][a-zA-Z0-9_.-]*: the spec's rule for container ids and network names. A
// container id that passes cannot climb out of dataDir ("." and ".." fail the first char).
bool ValidName(std::string_view s) {
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s.front()))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

std::optional<CniError> ValidateIfName(const std::string& n) {
  auto bad = [](std::string m, std::string d = {}) {
    return CniError::Make(ErrorCode::kInvalidEnvironment, std::move(m), std::move(d));
  };
  if (n.empty()) return bad("interface name is empty");
  if (n.size() > 15) return bad("interface name is too long", "at most 15 characters");
  if (n == "." || n == "..") return bad("interface name is . or ..");
  for (char c : n) {
    if (c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c))) {
      return bad("interface name contains / or : or whitespace characters");
    }
  }
  return std::nullopt;
}

// "1.0.0" -> {1,0,0}; nullopt for anything else.
std::optional<std::array<int, 3>> ParseSemver(const std::string& v) {
  std::array<int, 3> out{};
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    size_t start = pos;
    while (pos < v.size() && std::isdigit(static_cast<unsigned char>(v[pos]))) ++pos;
    if (pos == start || pos - start > 4) return std::nullopt;
    out[i] = std::stoi(v.substr(start, pos - start));
    if (i < 2) {
      if (pos >= v.size() || v[pos] != '.') return std::nullopt;
      ++pos;
    }
  }
  if (pos != v.size()) return std::nullopt;
  return out;
}

}  // namespace

CniResult<Invocation> ReadInvocation(const Getenv& getenv) {
  auto get = [&](const char* name) {
    const char* v = getenv(name);
    return std::string(v ? v : "");
  };
  Invocation inv;
  inv.command = get("CNI_COMMAND");
  inv.container_id = get("CNI_CONTAINERID");
  inv.netns = get("CNI_NETNS");
  inv.ifname = get("CNI_IFNAME");
  inv.args = get("CNI_ARGS");
  inv.path = get("CNI_PATH");

  const bool attach = inv.command == "ADD" || inv.command == "CHECK" || inv.command == "DEL";
  std::vector<std::string> missing;
  if (inv.command.empty()) missing.push_back("CNI_COMMAND");
  if (attach) {
    if (inv.container_id.empty()) missing.push_back("CNI_CONTAINERID");
    if (inv.netns.empty() && inv.command != "DEL") missing.push_back("CNI_NETNS");
    if (inv.ifname.empty()) missing.push_back("CNI_IFNAME");
    if (inv.path.empty()) missing.push_back("CNI_PATH");
  }
  if (!missing.empty()) {
    std::string joined;
    for (const auto& m : missing) joined += (joined.empty() ? "" : ",") + m;
    return CniError::Make(ErrorCode::kInvalidEnvironment,
                          "required env variables [" + joined + "] missing");
  }
  if (!attach) return inv;  // VERSION, or an unknown command the caller reports
  if (!ValidName(inv.container_id)) {
    return CniError::Make(ErrorCode::kInvalidEnvironment, "invalid characters in containerID",
                          inv.container_id);
  }
  if (auto e = ValidateIfName(inv.ifname)) return *e;
  return inv;
}

CniResult<NetConf> ParseNetConf(std::string_view stdin_text) {
  json root;
  try {
    root = json::parse(stdin_text);
  } catch (const json::exception& e) {
    return CniError::Make(ErrorCode::kDecodingFailure,
                          std::string("error decoding network config: ") + e.what());
  }
  if (!root.is_object()) {
    return CniError::Make(ErrorCode::kDecodingFailure,
                          "error decoding network config: not a JSON object");
  }
  NetConf conf;
  auto decode_error = [](const std::string& key, const char* want) {
    return CniError::Make(ErrorCode::kDecodingFailure,
                          "failed to load netconf: \"" + key + "\" must be " + want);
  };
  // A key given as null reads as absent, as Go's decoder has it.
  auto string_key = [&](const char* key, std::string& out) -> std::optional<CniError> {
    auto it = root.find(key);
    if (it == root.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) return decode_error(key, "a string");
    out = it->get<std::string>();
    return std::nullopt;
  };
  auto object_key = [&](const char* key, json& out) -> std::optional<CniError> {
    auto it = root.find(key);
    if (it == root.end() || it->is_null()) return std::nullopt;
    if (!it->is_object()) return decode_error(key, "an object");
    out = *it;
    return std::nullopt;
  };
  for (auto [key, out] : {std::pair<const char*, std::string*>{"cniVersion", &conf.cni_version},
                          {"name", &conf.name},
                          {"subnetFile", &conf.subnet_file},
                          {"dataDir", &conf.data_dir}}) {
    if (auto e = string_key(key, *out)) return *e;
  }
  for (auto [key, out] : {std::pair<const char*, json*>{"delegate", &conf.delegate},
                          {"ipam", &conf.ipam},
                          {"runtimeConfig", &conf.runtime_config},
                          {"prevResult", &conf.prev_result}}) {
    if (auto e = object_key(key, *out)) return *e;
  }
  // flannel's decoder takes "" for subnetFile/dataDir as given, and then fails on the
  // empty path; say so up front instead.
  if (conf.subnet_file.empty() || conf.data_dir.empty()) {
    return CniError::Make(ErrorCode::kInvalidNetworkConfig,
                          "subnetFile and dataDir must not be empty");
  }
  if (conf.name.empty()) {
    return CniError::Make(ErrorCode::kInvalidNetworkConfig, "missing network name");
  }
  if (!ValidName(conf.name)) {
    return CniError::Make(ErrorCode::kInvalidNetworkConfig,
                          "invalid characters found in network name", conf.name);
  }
  return conf;
}

CniStatus CheckVersion(const std::string& cni_version, const std::string& command) {
  const std::string v = cni_version.empty() ? "0.1.0" : cni_version;
  const auto& supported = SupportedVersions();
  bool known = false;
  for (const auto& s : supported) known = known || s == v;
  if (!known) {
    std::string list;
    for (const auto& s : supported) list += (list.empty() ? "\"" : " \"") + s + "\"";
    return CniError::Make(ErrorCode::kIncompatibleVersion, "incompatible CNI versions",
                          "config is \"" + v + "\", plugin supports [" + list + "]");
  }
  if (command == "CHECK") {
    auto sv = ParseSemver(v);
    if (!sv || *sv < std::array<int, 3>{0, 4, 0}) {
      return CniError::Make(ErrorCode::kIncompatibleVersion, "config version does not allow CHECK");
    }
  }
  return CniStatus::Ok();
}

CniStatus ValidateDelegate(const NetConf& conf) {
  if (!conf.delegate.is_object()) return CniStatus::Ok();
  auto bad = [](const char* m) { return CniError::Make(ErrorCode::kInvalidNetworkConfig, m); };
  if (conf.delegate.contains("type") && !conf.delegate["type"].is_string()) {
    return bad("'delegate' dictionary, if present, must have (string) 'type' field");
  }
  if (conf.delegate.contains("name")) {
    return bad("'delegate' dictionary must not have 'name' field, it'll be set by flannel");
  }
  if (conf.delegate.contains("ipam")) {
    return bad("'delegate' dictionary must not have 'ipam' field, it'll be set by flannel");
  }
  return CniStatus::Ok();
}

namespace {

// The KEY of each KEY=VALUE line, read as model::SubnetEnv::Parse reads it.
std::vector<std::string> KeysOf(std::string_view text) {
  std::vector<std::string> keys;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
      s.remove_suffix(1);
    }
    return s;
  };
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.substr(0, 7) == "export ") line = trim(line.substr(7));
    size_t eq = line.find('=');
    if (eq != std::string_view::npos) keys.emplace_back(trim(line.substr(0, eq)));
  }
  return keys;
}

}  // namespace

CniResult<model::SubnetEnv> ParseFlannelEnv(std::string_view text, const std::string& path) {
  auto env = model::SubnetEnv::Parse(text);
  if (!env) {
    return CniError::Make(ErrorCode::kDecodingFailure, path + ": " + env.error().message);
  }
  // SubnetEnv defaults FLANNEL_MTU/FLANNEL_IPMASQ; flannel's plugin refuses a file without
  // them, since a guessed MTU or masquerade setting breaks pods quietly.
  auto keys = KeysOf(text);
  auto has = [&](const char* k) {
    for (const auto& key : keys) {
      if (key == k) return true;
    }
    return false;
  };
  std::vector<std::string> missing;
  if (!env->network && !env->ipv6_network) {
    missing.insert(missing.end(), {"FLANNEL_NETWORK", "FLANNEL_IPV6_NETWORK"});
  }
  if (!env->subnet && !env->ipv6_subnet) {
    missing.insert(missing.end(), {"FLANNEL_SUBNET", "FLANNEL_IPV6_SUBNET"});
  }
  if (!has("FLANNEL_MTU")) missing.push_back("FLANNEL_MTU");
  if (!has("FLANNEL_IPMASQ")) missing.push_back("FLANNEL_IPMASQ");
  if (!missing.empty()) {
    std::string joined;
    for (const auto& m : missing) joined += (joined.empty() ? "" : ", ") + m;
    return CniError::Make(ErrorCode::kDecodingFailure, path + " is missing " + joined);
  }
  return std::move(env).value();
}

CniResult<model::SubnetEnv> ReadFlannelEnv(const std::string& path) {
  // Read here rather than with model::ReadSubnetEnv: the presence checks need the text.
  constexpr size_t kMax = size_t{64} * 1024;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    std::string msg = "reading " + path + ": " + ErrnoText(err);
    if (err == ENOENT) {
      return CniError::Make(ErrorCode::kTryAgainLater, msg,
                            "tartand (or flanneld) writes it once it holds a subnet lease");
    }
    return CniError::Make(ErrorCode::kIoFailure, msg);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return CniError::Make(ErrorCode::kIoFailure, "reading " + path + ": " + ErrnoText(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMax) {
      return CniError::Make(ErrorCode::kDecodingFailure,
                            "reading " + path + ": larger than " + std::to_string(kMax) + " bytes");
    }
  }
  return ParseFlannelEnv(text, path);
}

CniResult<json> BuildDelegate(const NetConf& conf, const model::SubnetEnv& env) {
  json d = conf.delegate.is_object() ? conf.delegate : json::object();
  if (conf.runtime_config.is_object()) d["runtimeConfig"] = conf.runtime_config;
  d["name"] = conf.name;
  if (!d.contains("type")) d["type"] = "bridge";
  if (!d.contains("ipMasq")) d["ipMasq"] = !env.ipmasq;  // masquerade here unless tartand does
  if (!d.contains("mtu")) d["mtu"] = env.mtu;
  if (d["type"] == "bridge" && !d.contains("isGateway")) d["isGateway"] = true;
  if (!conf.cni_version.empty()) d["cniVersion"] = conf.cni_version;

  json ipam = conf.ipam.is_object() ? conf.ipam : json::object();
  if (!ipam.contains("type")) ipam["type"] = "host-local";
  json ranges = json::array();
  if (env.subnet) ranges.push_back({{{"subnet", env.subnet->Network().ToString()}}});
  if (env.ipv6_subnet) ranges.push_back({{{"subnet", env.ipv6_subnet->Network().ToString()}}});
  ipam["ranges"] = ranges;

  json routes = json::array();
  if (auto it = ipam.find("routes"); it != ipam.end() && !it->is_null()) {
    if (!it->is_array()) {
      return CniError::Make(ErrorCode::kInvalidNetworkConfig,
                            "failed to read IPAM routes: ipam.routes must be an array");
    }
    for (const auto& r : *it) {
      if (!r.is_object() || !r.contains("dst") || !r["dst"].is_string()) {
        return CniError::Make(ErrorCode::kInvalidNetworkConfig,
                              "failed to read IPAM routes: each route needs a \"dst\" string",
                              r.dump());
      }
      routes.push_back(r);
    }
  }
  if (env.network) routes.push_back({{"dst", env.network->Network().ToString()}});
  if (env.ipv6_network) routes.push_back({{"dst", env.ipv6_network->Network().ToString()}});
  ipam["routes"] = routes;
  d["ipam"] = ipam;
  return d;
}

CniResult<std::string> DelegateType(const json& delegate) {
  auto it = delegate.find("type");
  if (it == delegate.end() || !it->is_string()) {
    return CniError::Make(ErrorCode::kInvalidNetworkConfig, "delegate has no (string) type");
  }
  std::string type = it->get<std::string>();
  if (type.empty() || type == "." || type == ".." || type.find('/') != std::string::npos) {
    return CniError::Make(ErrorCode::kInvalidNetworkConfig,
                          "delegate type \"" + type + "\" is not a plugin name");
  }
  return type;
}

}  // namespace tartan::cni
