// Runs the built tartand and tartanctl binaries and checks exit codes and output streams.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef TARTAND_PATH
#error "TARTAND_PATH must name the built tartand binary"
#endif
#ifndef TARTANCTL_PATH
#error "TARTANCTL_PATH must name the built tartanctl binary"
#endif

namespace {

struct RunResult {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A private scratch directory, removed when the test ends whatever happens.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tartan-cmd-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs `binary args...` with exactly the environment `env` (so FLANNELD_* variables of
// whoever runs the tests cannot leak in); stdout and stderr go to files, which cannot
// deadlock the way two pipes read in turn can.
RunResult RunBinary(const std::string& binary, const std::vector<std::string>& args,
                    const std::vector<std::string>& env = {}) {
  RunResult result;
  ScratchDir dir;
  if (dir.path().empty()) {
    ADD_FAILURE() << "mkdtemp failed";
    return result;
  }
  const std::string out_path = (dir.path() / "stdout").string();
  const std::string err_path = (dir.path() / "stderr").string();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);

  std::vector<std::string> argv_store = {binary};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store = env;
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << binary << ": " << rc;
    return result;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ADD_FAILURE() << "waitpid: " << errno;
      return result;
    }
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(TartandBinary, VersionPrintsToStdoutAndExitsZero) {
  const RunResult r = RunBinary(TARTAND_PATH, {"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("tartand v")) << r.out;
  EXPECT_EQ(r.err, "");
}

// The version is the build's (git describe, cmake/TartanVersion.cmake), not a constant.
TEST(TartandBinary, VersionIsTheBuildVersion) {
  const RunResult r = RunBinary(TARTAND_PATH, {"--version"});
  EXPECT_EQ(r.out, std::string("tartand v") + TARTAN_EXPECTED_VERSION + "\n");
}

TEST(TartandBinary, HelpPrintsUsageToStdoutAndExitsZero) {
  for (const char* flag : {"--help", "-h", "-help"}) {
    SCOPED_TRACE(flag);
    const RunResult r = RunBinary(TARTAND_PATH, {flag});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(Contains(r.out, "--etcd-endpoints")) << r.out;
    EXPECT_TRUE(Contains(r.out, "FLANNELD_PUBLIC_IP")) << r.out;
    EXPECT_EQ(r.err, "");
  }
}

TEST(TartandBinary, UsageErrorsExitTwoWithAHintOnStderr) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string want;
  };
  const Case cases[] = {
      {{"--bogus"}, {}, "unknown flag --bogus"},
      {{"--ip-masq", "false"}, {}, "unexpected argument \"false\""},
      {{"--healthz-port=70000"}, {}, "--healthz-port"},
      {{}, {"FLANNELD_HEALTHZ_PORT=abc"}, "FLANNELD_HEALTHZ_PORT"},
      {{"--kube-subnet-mgr"}, {}, "--kube-subnet-mgr is not supported"},
      {{"--etcd-api=v4"}, {}, "must be auto, v2 or v3"},
      {{}, {"FLANNELD_ETCD_API=3"}, "FLANNELD_ETCD_API"},
      {{"--iface-can-reach=fd00::1"}, {}, "is an IPv6 address"},
      {{}, {"FLANNELD_IFACE_CAN_REACH=2001:db8::1"}, "is an IPv6 address"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.want);
    const RunResult r = RunBinary(TARTAND_PATH, c.args, c.env);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(r.err.starts_with("tartand: ")) << r.err;
    EXPECT_TRUE(Contains(r.err, c.want)) << r.err;
    EXPECT_TRUE(Contains(r.err, "Try 'tartand --help'")) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

// Starts tartand so that it keeps running until stopped: the loopback interface, an etcd
// endpoint nothing listens on (it waits for the network config), output to /dev/null. The
// child's initial signal mask is `mask`. Returns the PID, or -1 after a test failure.
pid_t SpawnWaitingTartand(const std::filesystem::path& dir, const sigset_t& mask,
                          std::vector<std::string> env = {}) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &mask);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<std::string> store = {TARTAND_PATH, "--etcd-endpoints=http://127.0.0.1:1",
                                    "--iface=lo", "--subnet-file=" + (dir / "subnet.env").string()};
  std::vector<char*> argv;
  for (auto& a : store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, TARTAND_PATH, &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn: " << rc;
    return -1;
  }
  return pid;
}

// "exited 0", "exited 1", "killed by signal 15".
std::string WaitStatus(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return "waitpid failed";
  }
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Whether /proc/<pid>/status shows `sig` in the blocked mask (SigBlk, hex, bit sig-1).
bool Blocks(pid_t pid, int sig) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("SigBlk:", 0) != 0) continue;
    const uint64_t mask = std::stoull(line.substr(7), nullptr, 16);
    return (mask >> (sig - 1)) & 1;
  }
  return false;
}

constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGQUIT};

// A stop signal that is already pending when main starts (sent the moment exec returned, while
// the dynamic loader still runs) is a clean stop: exit 0, every time. The child starts with
// the signal blocked, as the loader phase is the one stretch no program can guard itself;
// from main's first instruction on, tartand keeps it blocked and takes it.
TEST(TartandBinary, StopSignalPendingAtStartExitsZero) {
  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  sigset_t blocked;
  sigemptyset(&blocked);
  for (int sig : kStopSignals) sigaddset(&blocked, sig);
  for (int i = 0; i < 50; ++i) {
    const int sig = kStopSignals[i % 3];
    SCOPED_TRACE("run " + std::to_string(i) + ", signal " + std::to_string(sig));
    const pid_t pid = SpawnWaitingTartand(dir.path(), blocked);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(kill(pid, sig), 0);
    EXPECT_EQ(WaitStatus(pid), "exited 0");
  }
}

// A stop signal sent as soon as main has blocked the stop signals -- while the options are
// parsed, the signal thread starts, the agent opens netlink -- is a clean stop, every time.
// The child starts with an empty mask, so only tartand's own blocking protects it.
TEST(TartandBinary, StopSignalInTheFirstMillisecondsOfMainExitsZero) {
  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  sigset_t none;
  sigemptyset(&none);
  for (int i = 0; i < 50; ++i) {
    const int sig = kStopSignals[i % 3];
    SCOPED_TRACE("run " + std::to_string(i) + ", signal " + std::to_string(sig));
    const pid_t pid = SpawnWaitingTartand(dir.path(), none);
    ASSERT_GT(pid, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!Blocks(pid, sig) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    ASSERT_TRUE(Blocks(pid, sig)) << "tartand never blocked the stop signals";
    ASSERT_EQ(kill(pid, sig), 0);
    EXPECT_EQ(WaitStatus(pid), "exited 0");
  }
}

TEST(TartanctlBinary, VersionAndHelpExitZero) {
  const RunResult v = RunBinary(TARTANCTL_PATH, {"--version"});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_TRUE(v.out.starts_with("tartanctl v")) << v.out;
  // Both binaries report the one build version.
  const RunResult d = RunBinary(TARTAND_PATH, {"--version"});
  EXPECT_EQ(v.out.substr(std::string("tartanctl").size()),
            d.out.substr(std::string("tartand").size()));

  const RunResult h = RunBinary(TARTANCTL_PATH, {"--help"});
  EXPECT_EQ(h.exit_code, 0) << h.err;
  EXPECT_TRUE(Contains(h.out, "tartanctl")) << h.out;
  EXPECT_TRUE(Contains(h.out, "--version")) << h.out;
}

TEST(TartanctlBinary, UnknownSubcommandOrFlagExitsTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  const Case cases[] = {
      {{"frobnicate"}, "unknown subcommand \"frobnicate\""},
      {{"--bogus"}, "unknown flag --bogus"},
      {{}, "no subcommand given"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.want);
    const RunResult r = RunBinary(TARTANCTL_PATH, c.args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(Contains(r.err, c.want)) << r.err;
    EXPECT_TRUE(Contains(r.err, "Try 'tartanctl --help'")) << r.err;
  }
}

// Under systemd (Type=notify) a stop signal is announced with STOPPING=1 on $NOTIFY_SOCKET;
// READY=1 never comes while tartand waits for etcd. A datagram socket stands in for systemd.
TEST(TartandBinary, StopSignalNotifiesStoppingOnNotifySocket) {
  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string socket_path = (dir.path() / "notify").string();
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(socket_path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);

  sigset_t none;
  sigemptyset(&none);
  const pid_t pid = SpawnWaitingTartand(dir.path(), none, {"NOTIFY_SOCKET=" + socket_path});
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Blocks(pid, SIGTERM) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  EXPECT_EQ(WaitStatus(pid), "exited 0");

  // tartand has exited: whatever it sent is queued.
  std::vector<std::string> got;
  char buf[256];
  ssize_t n = 0;
  while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) >= 0) got.emplace_back(buf, n);
  close(fd);
  EXPECT_EQ(got, std::vector<std::string>{"STOPPING=1"});
}

}  // namespace
