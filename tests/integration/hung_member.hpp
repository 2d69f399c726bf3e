// A stopping agent must not wait for the deadline of a call to a member that accepted the
// connection but never answers (a hung etcd): Client::Shutdown() cancels calls in flight. One
// scenario for both etcd clients.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "common/result.hpp"
#include "fixtures/silent_listener.hpp"
#include "store/etcd_http/options.hpp"

namespace tartan::testing {

// Shutdown() during a Get to a hung member ends it at once, and a later Get is refused. The
// shut-down client goes to `*out` for checks of its own.
template <typename Client>
void ShutdownCancelsACallToAHungMemberAndRefusesLaterOnes(std::shared_ptr<Client>* out) {
  SilentListener hung;
  ASSERT_NE(hung.port, 0);
  store::etcd_http::ClientOptions opts;
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
  *out = *client;
}

}  // namespace tartan::testing
