#include "cmd/tartand_wiring.hpp"

#include <charconv>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "common/log.hpp"
#include "store/api_select.hpp"
#include "store/etcd2/client.hpp"
#include "store/etcd3/client.hpp"
#include "store/release_memory.hpp"

namespace tartan::cmd {
namespace {

store::EtcdApi StoreApi(EtcdApi api) {
  switch (api) {
    case EtcdApi::kV2:
      return store::EtcdApi::kV2;
    case EtcdApi::kV3:
      return store::EtcdApi::kV3;
    case EtcdApi::kAuto:
      break;
  }
  return store::EtcdApi::kAuto;
}

// A positive number of seconds from the environment, for tests that cannot wait for the
// production period (as TARTAN_LEASE_HEARTBEAT_SECONDS); not a flanneld flag.
std::optional<std::chrono::seconds> EnvSeconds(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): nothing sets it
  if (v == nullptr) return std::nullopt;
  int n = 0;
  const std::string_view text(v);
  if (std::from_chars(text.data(), text.data() + text.size(), n).ec != std::errc() || n < 1) {
    return std::nullopt;
  }
  return std::chrono::seconds(n);
}

}  // namespace

Result<agent::Config> AgentConfig(const Options& o) {
  agent::Config c;
  c.etcd_endpoints = o.etcd_endpoints;
  c.etcd_api = StoreApi(o.etcd_api);
  c.iface.iface = o.iface;
  c.iface.iface_regex = o.iface_regex;
  if (o.iface_can_reach) {
    if (const auto* v4 = std::get_if<net::Ip4>(&*o.iface_can_reach)) c.iface.can_reach = *v4;
  }
  c.iface.public_ip = o.public_ip;
  c.subnet_file = o.subnet_file;
  c.subnet_lease_renew_margin_minutes = o.subnet_lease_renew_margin_minutes;
  c.ip_masq = o.ip_masq;
  c.ip_masq_fully_random_disable = o.ip_masq_fully_random_disable;
  c.ip_blackhole_route = o.ip_blackhole_route;
  c.keep_pod_source = o.keep_pod_source;
  c.iptables_resync_seconds = o.iptables_resync_seconds;
  c.iptables_forward_rules = o.iptables_forward_rules;
  c.healthz_port = o.healthz_port;
  if (o.healthz_port != 0) {
    const auto* v4 = std::get_if<net::Ip4>(&o.healthz_ip);
    if (v4 == nullptr) {
      return Error::InvalidArgument("--healthz-ip: only an IPv4 address is supported, got " +
                                    ToString(o.healthz_ip));
    }
    c.healthz_ip = *v4;
  }
  if (auto s = EnvSeconds("TARTAN_CONFIG_RECHECK_SECONDS")) c.config_recheck = *s;
  return c;
}

Result<std::unique_ptr<store::SubnetStore>> MakeStore(const Options& options) {
  store::etcd3::ClientOptions client{
      .endpoints = options.etcd_endpoints,
      .ca_file = options.etcd_cafile,
      .cert_file = options.etcd_certfile,
      .key_file = options.etcd_keyfile,
      .username = options.etcd_username,
      .password = options.etcd_password,
  };
  // Parsed once, by ParseOptions; the clients take the list as it is.
  for (const EtcdEndpoint& e : options.etcd_endpoint_list) {
    client.endpoint_list.push_back(store::etcd_http::Endpoint{
        .url = e.url, .host = e.host, .port = e.port.value_or(2379), .tls = e.tls});
  }
  const store::EtcdApi mode = StoreApi(options.etcd_api);
  // Only the key spaces the mode may use get a client.
  std::shared_ptr<store::Registry> v2;
  std::shared_ptr<store::Registry> v3;
  if (mode != store::EtcdApi::kV3) {
    auto c = store::etcd2::Client::Create(client);
    if (!c) return c.error();
    v2 = std::move(c).value();
  }
  if (mode != store::EtcdApi::kV2) {
    auto c = store::etcd3::Client::Create(client);
    if (!c) return c.error();
    v3 = std::move(c).value();
  }

  store::StoreOptions store_options;
  store_options.prefix = options.etcd_prefix;
  store_options.log = [](std::string_view line) { log::Info(line); };
  // Hands freed memory back once the start-up listing or a burst of events is applied.
  store_options.on_settled = [](bool startup) { store::ReleaseMemory(startup); };
  // For tests that must see a dead holder's lease taken over in seconds (docs/adr/0013).
  if (auto hb = EnvSeconds("TARTAN_LEASE_HEARTBEAT_SECONDS")) store_options.heartbeat = *hb;
  return store::NewApiSelectingStore(std::move(v2), std::move(v3), mode, std::move(store_options));
}

}  // namespace tartan::cmd
