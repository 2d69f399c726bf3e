// Test support for root-only kernel tests: every test binary that links netns_test_env.cpp
// moves itself into a brand-new network namespace before the first test runs, so nothing it
// creates can reach the host's namespace and everything vanishes with the process.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace tartan::kernel::netns {

// True once the process (its only thread) runs in a namespace of its own, verified by the
// namespace inode having changed. Tests must GTEST_SKIP() with SkipReason() otherwise.
bool InPrivateNetns();
const std::string& SkipReason();

// Runs a shell command (in the private namespace, inherited by the child) and returns its
// stdout; `status` gets the exit status.
std::string Shell(const std::string& command, int* status = nullptr);
// `ip -j <args>` / `bridge -j <args>` parsed; an empty array when the output is not JSON.
nlohmann::json IpJson(const std::string& args);
nlohmann::json BridgeJson(const std::string& args);

}  // namespace tartan::kernel::netns

#define TARTAN_REQUIRE_PRIVATE_NETNS()                       \
  do {                                                       \
    if (!::tartan::kernel::netns::InPrivateNetns()) {        \
      GTEST_SKIP() << ::tartan::kernel::netns::SkipReason(); \
    }                                                        \
  } while (0)
