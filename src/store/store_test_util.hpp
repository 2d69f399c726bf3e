// Helpers shared by the store's unit tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "model/lease.hpp"
#include "model/network_config.hpp"
#include "net/ip.hpp"

namespace tartan::store::testing {

// Polls `pred` every millisecond until it holds or `timeout` passes.
template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline model::NetworkConfig Config(const std::string& json) {
  auto c = model::NetworkConfig::Parse(json);
  EXPECT_TRUE(c.ok()) << json << ": " << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : model::NetworkConfig{};
}

inline model::LeaseAttrs Attrs(const std::string& public_ip, const std::string& mac = "") {
  model::LeaseAttrs a;
  a.public_ip = *net::Ip4::Parse(public_ip);
  a.backend_type = "vxlan";
  if (!mac.empty()) a.backend_data = R"({"VNI":1,"VtepMAC":")" + mac + R"("})";
  return a;
}

inline model::SubnetKey Subnet(const std::string& key_segment) {
  auto k = model::SubnetKey::Parse(key_segment);
  EXPECT_TRUE(k.ok()) << key_segment;
  return k.ok() ? *k : model::SubnetKey{};
}

}  // namespace tartan::store::testing
