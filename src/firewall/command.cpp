#include "firewall/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/unique_fd.hpp"

extern char** environ;

namespace tartan::firewall {
namespace {

using Clock = std::chrono::steady_clock;

std::string Describe(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

Error ErrnoError(const std::string& what, int err) {
  std::string m = what + ": " + std::strerror(err);
  if (err == ENOENT) return Error::NotFound(m);
  if (err == EACCES || err == EPERM) return Error::PermissionDenied(m);
  return Error::Internal(m);
}

bool SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// posix_spawn's C objects, destroyed on every exit path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  bool actions_ok = false;
  bool attr_ok = false;
  SpawnSetup() {
    actions_ok = posix_spawn_file_actions_init(&actions) == 0;
    attr_ok = posix_spawnattr_init(&attr) == 0;
  }
  ~SpawnSetup() {
    if (actions_ok) posix_spawn_file_actions_destroy(&actions);
    if (attr_ok) posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

int Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

Result<CommandOutput> SpawnCommandRunner::Run(const std::vector<std::string>& argv,
                                              std::string_view input) {
  if (argv.empty() || argv[0].empty()) return Error::InvalidArgument("empty command");
  const std::string what = Describe(argv);

  // stdin is one end of a socketpair rather than a pipe so that writing to a child that exited
  // early fails with EPIPE (MSG_NOSIGNAL) instead of raising SIGPIPE in the agent.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoError(what + ": socketpair", errno);
  }
  UniqueFd in_parent(sv[0]), in_child(sv[1]);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoError(what + ": pipe", errno);
  UniqueFd out_parent(p[0]), out_child(p[1]);
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoError(what + ": pipe", errno);
  UniqueFd err_parent(p[0]), err_child(p[1]);
  if (!SetNonBlocking(in_parent.get()) || !SetNonBlocking(out_parent.get()) ||
      !SetNonBlocking(err_parent.get())) {
    return ErrnoError(what + ": fcntl", errno);
  }

  SpawnSetup setup;
  if (!setup.actions_ok || !setup.attr_ok) return Error::Internal(what + ": posix_spawn init");
  posix_spawn_file_actions_adddup2(&setup.actions, in_child.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, out_child.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, err_child.get(), STDERR_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Descriptors the agent opened without O_CLOEXEC (a library's socket) stay out of the tool.
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1);
#endif
  // The agent blocks termination signals to read them from a signalfd; a blocked or ignored
  // disposition would be inherited across exec and make the tool unkillable by the timeout path.
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&setup.attr, &empty);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  // Resolved here rather than by posix_spawnp: where posix_spawn falls back to fork (valgrind,
  // old libcs) an exec failure only shows as exit code 127, indistinguishable from the tool's.
  const char* path_env = std::getenv("PATH");
  const auto program =
      FindExecutable(argv[0], path_env ? path_env : "/usr/sbin:/usr/bin:/sbin:/bin");
  if (!program) return Error::NotFound("cannot run " + argv[0] + ": not found in PATH");
  pid_t pid = -1;
  const int rc =
      ::posix_spawn(&pid, program->c_str(), &setup.actions, &setup.attr, cargv.data(), environ);
  if (rc != 0) return ErrnoError("cannot run " + argv[0], rc);
  in_child.reset();
  out_child.reset();
  err_child.reset();

  CommandOutput result;
  size_t written = 0;
  if (input.empty()) in_parent.reset();
  const auto deadline = Clock::now() + timeout_;
  std::array<char, 16384> buf;
  while (out_parent.valid() || err_parent.valid()) {
    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    auto add = [&](const UniqueFd& fd, short events) {
      if (fd.valid()) fds[n++] = pollfd{fd.get(), events, 0};
    };
    add(out_parent, POLLIN);
    add(err_parent, POLLIN);
    add(in_parent, POLLOUT);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const int ready = left <= 0 ? 0 : ::poll(fds.data(), n, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      const int err = errno;
      ::kill(pid, SIGKILL);
      Reap(pid);
      if (ready < 0) return ErrnoError(what + ": poll", err);
      return Error::Unavailable(what + ": no answer after " + std::to_string(timeout_.count()) +
                                " ms, killed");
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const int fd = fds[i].fd;
      if (in_parent.valid() && fd == in_parent.get()) {
        const ssize_t w =
            ::send(fd, input.data() + written, input.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) written += static_cast<size_t>(w);
        // EPIPE: the tool stopped reading (it failed early); its stderr says why.
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
          in_parent.reset();
        }
        continue;
      }
      UniqueFd& src = (out_parent.valid() && fd == out_parent.get()) ? out_parent : err_parent;
      std::string& dst = (&src == &out_parent) ? result.out : result.err;
      const ssize_t r = ::read(fd, buf.data(), buf.size());
      if (r > 0) {
        dst.append(buf.data(), static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        src.reset();
      }
    }
  }
  in_parent.reset();
  result.exit_code = Reap(pid);
  if (result.exit_code < 0) return Error::Internal(what + ": waitpid failed");
  return result;
}

std::optional<std::string> FindExecutable(std::string_view name, std::string_view path) {
  auto usable = [](const std::string& candidate) {
    struct stat st {};
    return ::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(candidate.c_str(), X_OK) == 0;
  };
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string_view::npos) {
    std::string candidate(name);
    if (usable(candidate)) return candidate;
    return std::nullopt;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    std::string dir(path.substr(start, end - start));
    if (dir.empty()) dir = ".";  // an empty PATH element means the current directory
    std::string candidate = dir + "/" + std::string(name);
    if (usable(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace tartan::firewall
