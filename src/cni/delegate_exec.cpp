#include "cni/delegate_exec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/unique_fd.hpp"

extern char** environ;

namespace tartan::cni {
namespace {

constexpr size_t kMaxOutput = size_t{16} * 1024 * 1024;

CniError Internal(std::string msg) { return CniError::Make(ErrorCode::kInternal, std::move(msg)); }

// The delegate's error, as the runtime libraries read it: its JSON error object if it
// printed one, else whatever it printed.
CniError DelegateFailure(const std::string& out, const std::string& why) {
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("code") && j["code"].is_number_unsigned() &&
      j.contains("msg") && j["msg"].is_string()) {
    CniError e{j["code"].get<uint32_t>(), j["msg"].get<std::string>(), ""};
    if (j.contains("details") && j["details"].is_string()) e.details = j["details"];
    return e;
  }
  if (out.empty()) return Internal("plugin failed with no error message (" + why + ")");
  return Internal("plugin failed (" + why +
                  ") and its output is not a CNI error: " + out.substr(0, 512));
}

}  // namespace

CniResult<std::string> FindPlugin(const std::string& name, const std::string& cni_path) {
  std::vector<std::string> dirs;
  size_t start = 0;
  while (start <= cni_path.size()) {
    size_t colon = cni_path.find(':', start);
    if (colon == std::string::npos) colon = cni_path.size();
    if (colon > start) dirs.push_back(cni_path.substr(start, colon - start));
    start = colon + 1;
  }
  for (const auto& dir : dirs) {
    std::string candidate = dir;
    candidate += '/';
    candidate += name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return Internal("failed to find plugin \"" + name + "\" in path [" + cni_path + "]");
}

CniResult<std::string> ExecPlugin(const std::string& plugin, const std::string& command,
                                  const std::string& stdin_data) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + ErrnoText(errno));
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return Internal(std::string("pipe: ") + ErrnoText(errno));
  UniqueFd out_r(out[0]), out_w(out[1]);

  // The same environment, with the delegated command (a DEL replayed after a failed ADD
  // runs under CNI_COMMAND=ADD).
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "CNI_COMMAND=", 12) != 0) env_strings.emplace_back(*e);
  }
  env_strings.push_back("CNI_COMMAND=" + command);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string argv0 = plugin;
  char* argv[] = {argv0.data(), nullptr};

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The plugin starts with default signal handling and mask, whatever this process ignores.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, plugin.c_str(), &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Internal("starting " + plugin + ": " + ErrnoText(rc));
  in_r.reset();
  out_w.reset();

  // Feed stdin and drain stdout together: a plugin may answer before reading all of its
  // input, and neither side then blocks on a full pipe.
  std::string output;
  size_t written = 0;
  if (stdin_data.empty()) in_w.reset();
  bool too_much = false;
  while (out_r) {
    pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {in_w ? in_w.get() : -1, POLLOUT, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in_w && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = ::write(in_w.get(), stdin_data.data() + written, stdin_data.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      // EPIPE: the plugin closed its stdin; what it makes of that is in its exit status.
      if ((n < 0 && errno != EINTR && errno != EAGAIN) || written == stdin_data.size()) {
        in_w.reset();
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[8192];
      ssize_t n = ::read(out_r.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        out_r.reset();
      } else if (output.size() + static_cast<size_t>(n) > kMaxOutput) {
        too_much = true;
        out_r.reset();
      } else {
        output.append(buf, static_cast<size_t>(n));
      }
    }
  }
  in_w.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Internal(std::string("waiting for plugin: ") + ErrnoText(errno));
  }
  if (too_much) return Internal(plugin + " printed more than 16 MiB");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return output;
  std::string why = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                      : "killed by signal " + std::to_string(WTERMSIG(status));
  return DelegateFailure(output, why);
}

}  // namespace tartan::cni
