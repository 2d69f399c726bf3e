#include "cni/plugin.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "cni/delegate_exec.hpp"
#include "common/unique_fd.hpp"

namespace tartan::cni {

using nlohmann::json;

CniResult<std::string> RunDelegate(const std::string& type, const std::string& cni_path,
                                   const std::string& command, const std::string& conf) {
  auto path = FindPlugin(type, cni_path);
  if (!path) return path.error();
  return ExecPlugin(*path, command, conf);
}

namespace {

CniError IoError(const std::string& what, const std::string& path, int err) {
  return CniError::Make(ErrorCode::kIoFailure, what + " " + path + ": " + ErrnoText(err));
}

// mkdir -p; directories it creates get `mode`.
CniStatus MakeDirs(const std::string& dir, mode_t mode) {
  std::vector<std::string> to_create;
  std::string cur = dir;
  while (!cur.empty() && cur != "/" && cur != ".") {
    struct stat st {};
    if (::stat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return IoError("creating directory", cur, ENOTDIR);
      break;
    }
    if (errno != ENOENT) return IoError("checking directory", cur, errno);
    to_create.push_back(cur);
    size_t slash = cur.find_last_of('/');
    if (slash == std::string::npos) break;
    cur = cur.substr(0, slash);
  }
  for (auto it = to_create.rbegin(); it != to_create.rend(); ++it) {
    if (::mkdir(it->c_str(), mode) != 0 && errno != EEXIST) {
      return IoError("creating directory", *it, errno);
    }
  }
  return CniStatus::Ok();
}

std::string SavedPath(const std::string& data_dir, const std::string& container_id) {
  return data_dir + "/" + container_id;
}

// The saved delegate, or nullopt when there is none.
CniResult<std::optional<std::string>> LoadSaved(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>();
    return IoError("reading", path, errno);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("reading", path, errno);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > size_t{4} * 1024 * 1024) {
      return CniError::Make(ErrorCode::kDecodingFailure, path + " is larger than 4 MiB");
    }
  }
  return std::optional<std::string>(std::move(text));
}

struct Ctx {
  const Invocation& inv;
  const NetConf& conf;
  const DelegateRunner& runner;
  Output& output;
};

CniStatus Add(Ctx& c) {
  if (auto s = ValidateDelegate(c.conf); !s) return s;
  // Everything that can fail on the configuration or subnet.env fails before anything is
  // written or any delegate runs: a refused ADD leaves nothing behind.
  auto env = ReadFlannelEnv(c.conf.subnet_file);
  if (!env) return env.error();
  auto delegate = BuildDelegate(c.conf, *env);
  if (!delegate) return delegate.error();
  auto type = DelegateType(*delegate);
  if (!type) return type.error();
  const std::string bytes = delegate->dump();
  // A delegate that is not installed fails here, before the saved file exists: its DEL
  // could never run, and the runtime's DEL would fail for good.
  if (auto found = FindPlugin(*type, c.inv.path); !found) return found.error();

  if (auto s = SaveDelegate(c.conf.data_dir, c.inv.container_id, bytes); !s) return s;
  auto result = c.runner(*type, c.inv.path, "ADD", bytes);
  if (!result) {
    // Undo what the delegate may have half-made (a veth, an address reservation). Kept on
    // a failed undo: the runtime's DEL replays it.
    auto undo = c.runner(*type, c.inv.path, "DEL", bytes);
    if (undo) ::unlink(SavedPath(c.conf.data_dir, c.inv.container_id).c_str());
    return result.error().Context("delegate " + *type + " ADD failed");
  }
  auto parsed = json::parse(*result, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return CniError::Make(ErrorCode::kDecodingFailure,
                          "delegate " + *type + " ADD printed no JSON result",
                          result->substr(0, 512));
  }
  c.output.out = *result;
  return CniStatus::Ok();
}

CniStatus Del(Ctx& c) {
  const std::string path = SavedPath(c.conf.data_dir, c.inv.container_id);
  auto saved = LoadSaved(path);
  if (!saved) return saved.error();
  if (!*saved) return CniStatus::Ok();  // never added here, or already deleted
  auto delegate = json::parse(**saved, nullptr, false);
  if (delegate.is_discarded() || !delegate.is_object()) {
    // Nothing can be replayed from it; flannel also reports success here (the veth goes
    // with the container's namespace). The file is removed so it does not linger.
    c.output.err += "tartan-cni: ignoring unreadable saved delegate " + path + "\n";
    ::unlink(path.c_str());
    return CniStatus::Ok();
  }
  auto type = DelegateType(delegate);
  if (!type) return type.error();
  auto result = c.runner(*type, c.inv.path, "DEL", **saved);
  if (!result) return result.error().Context("delegate " + *type + " DEL failed");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return IoError("removing", path, errno);
  return CniStatus::Ok();
}

}  // namespace

json WithRouteGateways(json result) {
  auto routes = result.find("routes");
  auto ips = result.find("ips");
  if (routes == result.end() || !routes->is_array() || ips == result.end() || !ips->is_array()) {
    return result;
  }
  auto is_v6 = [](const json& s) {
    return s.is_string() && s.get<std::string>().find(':') != std::string::npos;
  };
  for (auto& r : *routes) {
    if (!r.is_object() || r.contains("gw") || !r.contains("dst")) continue;
    for (const auto& ip : *ips) {
      if (ip.is_object() && ip.contains("address") && ip.contains("gateway") &&
          is_v6(ip["address"]) == is_v6(r["dst"])) {
        r["gw"] = ip["gateway"];
        break;
      }
    }
  }
  return result;
}

namespace {

CniStatus Check(Ctx& c) {
  if (!c.conf.prev_result.is_object()) {
    return CniError::Make(ErrorCode::kInvalidNetworkConfig, "CHECK needs prevResult");
  }
  const std::string path = SavedPath(c.conf.data_dir, c.inv.container_id);
  auto saved = LoadSaved(path);
  if (!saved) return saved.error();
  if (!*saved) {
    return CniError::Make(ErrorCode::kUnknownContainer,
                          "no network added for container " + c.inv.container_id, path);
  }
  auto delegate = json::parse(**saved, nullptr, false);
  if (delegate.is_discarded() || !delegate.is_object()) {
    return CniError::Make(ErrorCode::kDecodingFailure, "saved delegate " + path + " is not JSON");
  }
  auto type = DelegateType(delegate);
  if (!type) return type.error();
  // The delegate's result is what this plugin returned, so the runtime's prevResult is the
  // delegate's own.
  delegate["prevResult"] = WithRouteGateways(c.conf.prev_result);
  if (!c.conf.cni_version.empty()) delegate["cniVersion"] = c.conf.cni_version;
  auto result = c.runner(*type, c.inv.path, "CHECK", delegate.dump());
  if (!result) return result.error().Context("delegate " + *type + " CHECK failed");
  return CniStatus::Ok();
}

}  // namespace

CniStatus SaveDelegate(const std::string& data_dir, const std::string& container_id,
                       const std::string& conf) {
  if (auto s = MakeDirs(data_dir, 0700); !s) return s;
  const std::string path = SavedPath(data_dir, container_id);
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return IoError("creating", tmp, errno);
  size_t done = 0;
  while (done < conf.size()) {
    ssize_t n = ::write(fd.get(), conf.data() + done, conf.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::unlink(tmp.c_str());
      return IoError("writing", tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return IoError("writing", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return IoError("renaming over", path, err);
  }
  return CniStatus::Ok();
}

Output Run(const Getenv& getenv, std::string_view stdin_text, const DelegateRunner& runner,
           const std::string& about) {
  Output output;
  std::string version_for_errors;
  auto fail = [&](const CniError& e) {
    output.exit_code = 1;
    output.out = ErrorJson(e, version_for_errors);
    return output;
  };

  const char* cmd = getenv("CNI_COMMAND");
  if (cmd == nullptr || *cmd == '\0') {
    output.err = about + "\nCNI protocol versions supported: ";
    const auto& versions = SupportedVersions();
    for (size_t i = 0; i < versions.size(); ++i) output.err += (i ? ", " : "") + versions[i];
    output.err += "\n";
    return output;
  }
  auto inv = ReadInvocation(getenv);
  if (!inv) return fail(inv.error());
  if (inv->command == "VERSION") {
    output.out = VersionJson();
    return output;
  }
  if (inv->command != "ADD" && inv->command != "DEL" && inv->command != "CHECK") {
    return fail(
        CniError::Make(ErrorCode::kInvalidEnvironment, "unknown CNI_COMMAND: " + inv->command));
  }
  auto conf = ParseNetConf(stdin_text);
  if (!conf) return fail(conf.error());
  version_for_errors = conf->cni_version;
  if (auto s = CheckVersion(conf->cni_version, inv->command); !s) return fail(s.error());

  Ctx ctx{*inv, *conf, runner, output};
  CniStatus status = inv->command == "ADD"   ? Add(ctx)
                     : inv->command == "DEL" ? Del(ctx)
                                             : Check(ctx);
  if (!status) return fail(status.error());
  return output;
}

}  // namespace tartan::cni
