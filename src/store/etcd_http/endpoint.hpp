// --etcd-endpoints parsing: "http://10.0.0.1:2379,https://etcd.example:2379". Shared by the
// etcd v3 and v2 clients.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace tartan::store::etcd_http {

struct Endpoint {
  std::string url;   // as given, for messages
  std::string host;  // without brackets for IPv6 literals
  int port = 2379;
  bool tls = false;

  // "host:port" ("[::1]:2379" for IPv6), as HTTP's Host header wants it.
  std::string Target() const;
  bool operator==(const Endpoint&) const = default;
};

// Comma-separated URLs with scheme http or https; a missing port means 2379. Empty entries
// are ignored; no entries at all is an error.
Result<std::vector<Endpoint>> ParseEndpoints(std::string_view text);

}  // namespace tartan::store::etcd_http
