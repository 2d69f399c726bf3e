// Shared helpers for the etcd integration suites.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/etcd_fixture.hpp"
#include "model/lease.hpp"
#include "model/network_config.hpp"
#include "net/ip.hpp"
#include "store/etcd3/client.hpp"
#include "store/subnet_store.hpp"

namespace tartan::testing {

template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Client options for every member of `c`, with its CA and client certificate when it runs TLS.
inline store::etcd3::ClientOptions OptionsFor(const EtcdCluster& c,
                                              std::chrono::milliseconds request_timeout) {
  store::etcd3::ClientOptions o;
  o.endpoints = c.Endpoints();
  o.ca_file = c.ca_file();
  o.cert_file = c.cert_file();
  o.key_file = c.key_file();
  o.request_timeout = request_timeout;
  return o;
}

// The ways a client may meet an etcd with TLS and client certificates: with the right CA and
// its certificate (works), with a CA that signed nothing there, without a certificate.
struct TlsCase {
  const char* name;
  store::etcd3::ClientOptions options;
  bool works;
};
inline std::vector<TlsCase> TlsCases(const EtcdCluster& c) {
  struct Files {
    const char* name;
    std::string ca, cert, key;
    bool works;
  };
  const Files files[] = {
      {"right CA and client certificate", c.ca_file(), c.cert_file(), c.key_file(), true},
      {"wrong CA", c.wrong_ca_file(), c.cert_file(), c.key_file(), false},
      {"no client certificate", c.ca_file(), "", "", false},
  };
  std::vector<TlsCase> out;
  for (const Files& f : files) {
    store::etcd3::ClientOptions o;
    o.endpoints = c.Endpoints();
    o.ca_file = f.ca;
    o.cert_file = f.cert;
    o.key_file = f.key;
    o.request_timeout = std::chrono::milliseconds(3000);
    out.push_back({f.name, o, f.works});
  }
  return out;
}

// Client options for `c` with etcd auth as `user` (none when empty).
inline store::etcd3::ClientOptions UserOptions(const EtcdCluster& c, const std::string& user,
                                               const std::string& password) {
  store::etcd3::ClientOptions o;
  o.endpoints = c.Endpoints();
  o.username = user;
  o.password = password;
  return o;
}

inline model::LeaseAttrs VxlanAttrs(const std::string& ip, const std::string& mac) {
  model::LeaseAttrs a;
  a.public_ip = *net::Ip4::Parse(ip);
  a.backend_type = "vxlan";
  a.backend_data = R"({"VNI":1,"VtepMAC":")" + mac + R"("})";
  return a;
}

inline model::NetworkConfig ParseConfig(const std::string& json) {
  auto c = model::NetworkConfig::Parse(json);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : model::NetworkConfig{};
}

// Collects log lines from any thread.
struct LogSink {
  std::mutex mu;
  std::vector<std::string> lines;
  store::LogFn Fn() {
    return [this](std::string_view l) {
      std::lock_guard lock(mu);
      lines.emplace_back(l);
    };
  }
  bool Contains(const std::string& needle) {
    std::lock_guard lock(mu);
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

inline store::StoreOptions FastOptions(const std::string& prefix, store::LogFn log) {
  store::StoreOptions o;
  o.prefix = prefix;
  o.log = std::move(log);
  o.backoff = {std::chrono::milliseconds(50), std::chrono::milliseconds(500)};
  return o;
}

}  // namespace tartan::testing
