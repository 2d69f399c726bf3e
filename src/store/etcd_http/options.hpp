// What an etcd client is given by tartand's --etcd-* flags; the same for the v3 and v2 APIs.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "store/etcd_http/endpoint.hpp"

namespace tartan::store::etcd_http {

struct ClientOptions {
  std::string endpoints = "http://127.0.0.1:4001,http://127.0.0.1:2379";  // flannel's default
  std::string ca_file;    // PEM; verifies https:// servers (system roots when empty)
  std::string cert_file;  // PEM client certificate, presented when set
  std::string key_file;   // PEM key of cert_file
  std::string username;   // etcd auth, off when empty
  std::string password;
  // Deadline of each unary call. Bounds how long a stop request can wait on a call in flight.
  std::chrono::milliseconds request_timeout{5000};
  // The endpoints already parsed (tartand parses --etcd-endpoints once, with the other flags);
  // when non-empty, used as they are and `endpoints` is not parsed again. Initialized here, so
  // that designated initializers may leave it out (-Wmissing-field-initializers).
  std::vector<Endpoint> endpoint_list{};
};

}  // namespace tartan::store::etcd_http
