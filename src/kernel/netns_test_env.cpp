#include "kernel/netns_test_env.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tartan::kernel::netns {
namespace {

bool g_private = false;
std::string g_reason = "network namespace not set up yet";

ino_t NetnsInode() {
  struct stat st {};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) return 0;
  return st.st_ino;
}

class PrivateNetns : public ::testing::Environment {
 public:
  void SetUp() override {
    if (::geteuid() != 0) {
      g_reason = "kernel tests need root (CAP_NET_ADMIN) to create a network namespace";
      return;
    }
    ino_t before = NetnsInode();
    if (::unshare(CLONE_NEWNET) != 0) {
      g_reason = std::string("unshare(CLONE_NEWNET) failed: ") + std::strerror(errno);
      return;
    }
    ino_t after = NetnsInode();
    if (before == 0 || after == 0 || before == after) {
      g_reason = "could not verify that the network namespace changed; refusing to run";
      return;
    }
    g_private = true;
    // The loopback device starts down in a new namespace; route lookups to local addresses
    // need it up.
    int status = 0;
    Shell("ip link set lo up", &status);
  }
};

[[maybe_unused]] const auto* const g_env =
    ::testing::AddGlobalTestEnvironment(new PrivateNetns);  // gtest takes ownership

}  // namespace

bool InPrivateNetns() { return g_private; }
const std::string& SkipReason() { return g_reason; }

std::string Shell(const std::string& command, int* status) {
  std::string out;
  // Never run anything unless isolated: a stray `ip` command must not touch the host.
  if (!g_private) {
    if (status != nullptr) *status = -1;
    return out;
  }
  FILE* p = ::popen(("(" + command + ") 2>/dev/null").c_str(), "r");
  if (p == nullptr) {
    if (status != nullptr) *status = -1;
    return out;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = ::pclose(p);
  if (status != nullptr) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

nlohmann::json IpJson(const std::string& args) {
  auto j = nlohmann::json::parse(Shell("ip -j " + args), nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json::array() : j;
}

nlohmann::json BridgeJson(const std::string& args) {
  auto j = nlohmann::json::parse(Shell("bridge -j " + args), nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json::array() : j;
}

}  // namespace tartan::kernel::netns
