// The v3 client against a scripted loopback server (no etcd): how it authenticates when
// several callers need a token at once.
#include "store/etcd3/client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "store/etcd_http/loopback_server.hpp"

namespace tartan::store::etcd3 {
namespace {

using etcd_http::testing::LoopbackServer;
using etcd_http::testing::Script;

// A member that never answers authentication: the callers waiting for a token share the one
// attempt's outcome instead of queueing behind a lock held across it, one timeout each.
TEST(Etcd3Client, ConcurrentCallersShareOneAuthenticationAndNoLockIsHeldAcrossIt) {
  std::atomic<int> auths{0};
  LoopbackServer server([&](const std::string& req) {
    if (req.find("/v3/auth/authenticate") != std::string::npos) {
      ++auths;
      return Script::Hang();
    }
    return Script::Reply(200, R"({"header":{"revision":"1"}})");
  });
  ClientOptions o;
  o.endpoints = server.url();
  o.username = "flannel";
  o.password = "secret";
  o.request_timeout = std::chrono::milliseconds(600);
  auto c = Client::Create(o);
  ASSERT_TRUE(c.ok()) << c.error().message;

  constexpr int kCallers = 4;
  std::atomic<int> failed{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&] {
      if (!(*c)->Get("/coreos.com/network/config").ok()) ++failed;
    });
  }
  for (auto& t : callers) t.join();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(failed.load(), kCallers);
  EXPECT_EQ(auths.load(), 1);
  // Serialised behind a lock, the callers would take one timeout each (2.4 s).
  EXPECT_LT(took, std::chrono::milliseconds(1500));
  (*c)->Shutdown();
}

}  // namespace
}  // namespace tartan::store::etcd3
