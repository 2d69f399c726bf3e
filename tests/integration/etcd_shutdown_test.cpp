// A stopping agent must not wait for the deadline of a call to a member that accepted the
// connection but never answers (a hung etcd): Client::Shutdown() cancels calls in flight.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "common/unique_fd.hpp"
#include "store/etcd3/client.hpp"

namespace tartan::store::etcd3 {
namespace {

// A loopback listener that never accepts: the kernel completes the TCP handshake, nothing
// ever speaks HTTP.
struct SilentListener {
  UniqueFd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  uint16_t port = 0;
  SilentListener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    if (::listen(fd.get(), 16) != 0) return;
    socklen_t len = sizeof a;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
};

TEST(EtcdClientShutdown, CancelsACallToAHungMemberAndRefusesLaterOnes) {
  SilentListener hung;
  ASSERT_NE(hung.port, 0);
  ClientOptions opts;
  opts.endpoints = "http://127.0.0.1:" + std::to_string(hung.port);
  opts.request_timeout = std::chrono::seconds(20);
  auto client = Client::Create(opts);
  ASSERT_TRUE(client.ok()) << client.error().message;

  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] {
    // Once the client's connection is queued at the listener, the call is under way (waiting
    // for the member, then in flight): stop then.
    pollfd pfd{hung.fd.get(), POLLIN, 0};
    ::poll(&pfd, 1, 10000);
    (*client)->Shutdown();
  });
  auto got = (*client)->Get("/coreos.com/network/config");
  stopper.join();
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Error::Code::kCancelled) << got.error().message;
  EXPECT_LT(took, std::chrono::seconds(5)) << "waited for the 20 s deadline instead";

  auto later = (*client)->Get("/coreos.com/network/config");
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().code, Error::Code::kCancelled);
}

}  // namespace
}  // namespace tartan::store::etcd3
