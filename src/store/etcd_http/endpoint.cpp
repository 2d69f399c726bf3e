#include "store/etcd_http/endpoint.hpp"

#include <charconv>

namespace tartan::store::etcd_http {

std::string Endpoint::Target() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Result<Endpoint> ParseOne(std::string_view url) {
  Endpoint ep;
  ep.url = std::string(url);
  std::string_view rest;
  // Schemes are case-insensitive (RFC 3986; Go's url.Parse, and so flanneld, lowercases them).
  std::string scheme(url.substr(0, 8));
  for (char& c : scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (scheme.starts_with("http://")) {
    rest = url.substr(7);
  } else if (scheme.starts_with("https://")) {
    rest = url.substr(8);
    ep.tls = true;
  } else {
    return Error::InvalidArgument("etcd endpoint \"" + ep.url +
                                  "\" must start with http:// or https://");
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") {
      return Error::InvalidArgument("etcd endpoint \"" + ep.url + "\" must not have a path");
    }
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (rest.starts_with("[")) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) {
      return Error::InvalidArgument("etcd endpoint \"" + ep.url + "\": unclosed '['");
    }
    ep.host = std::string(rest.substr(1, close - 1));
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Error::InvalidArgument("etcd endpoint \"" + ep.url + "\": junk after ']'");
      }
      port = after.substr(1);
    }
  } else {
    auto colon = rest.rfind(':');
    if (colon != std::string_view::npos && rest.find(':') != colon) {
      return Error::InvalidArgument("etcd endpoint \"" + ep.url +
                                    "\": IPv6 addresses must be in brackets");
    }
    ep.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (ep.host.empty()) return Error::InvalidArgument("etcd endpoint \"" + ep.url + "\": no host");
  if (!port.empty() || rest.ends_with(":")) {
    int p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p < 1 || p > 65535) {
      return Error::InvalidArgument("etcd endpoint \"" + ep.url + "\": bad port \"" +
                                    std::string(port) + "\"");
    }
    ep.port = p;
  }
  return ep;
}

}  // namespace

Result<std::vector<Endpoint>> ParseEndpoints(std::string_view text) {
  std::vector<Endpoint> out;
  while (true) {
    auto comma = text.find(',');
    auto item = Trim(text.substr(0, comma));
    if (!item.empty()) {
      auto ep = ParseOne(item);
      if (!ep) return ep.error();
      out.push_back(std::move(ep).value());
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (out.empty()) return Error::InvalidArgument("no etcd endpoints given");
  return out;
}

}  // namespace tartan::store::etcd_http
