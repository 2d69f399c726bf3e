#include "ctl/status_read.hpp"

#include <map>

#include "store/etcd2/client.hpp"
#include "store/etcd3/client.hpp"
#include "store/lease_logic.hpp"

namespace tartan::ctl {
namespace {

store::etcd_http::ClientOptions ClientOptionsOf(const cmd::Options& o) {
  return {.endpoints = o.etcd_endpoints,
          .ca_file = o.etcd_cafile,
          .cert_file = o.etcd_certfile,
          .key_file = o.etcd_keyfile,
          .username = o.etcd_username,
          .password = o.etcd_password};
}

// The config key in one key space: the value, nullopt when absent.
Result<std::optional<std::string>> ReadConfig(store::Registry& r, const std::string& key) {
  auto kv = r.Get(key);
  if (!kv.ok()) return kv.error();
  if (!*kv) return std::optional<std::string>();
  return std::optional<std::string>((*kv)->value);
}

Result<std::vector<RawEntry>> ListV3(store::etcd3::Client& c, const std::string& dir) {
  auto list = c.List(dir);
  if (!list.ok()) return list.error();
  std::map<int64_t, std::optional<int64_t>> ttl;  // one question per etcd lease
  std::vector<RawEntry> out;
  for (const auto& kv : list->kvs) {
    RawEntry e{kv.key, kv.value, kv.lease != 0, std::nullopt};
    if (kv.lease != 0) {
      auto it = ttl.find(kv.lease);
      if (it == ttl.end()) {
        auto left = c.TimeToLive(kv.lease);
        std::optional<int64_t> v;
        if (left.ok()) {
          v = left->count();
        } else if (left.error().code == Error::Code::kNotFound) {
          v = 0;
        } else {
          return left.error();
        }
        it = ttl.emplace(kv.lease, v).first;
      }
      e.ttl_seconds = it->second;
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<RawEntry>> ListV2(store::etcd2::Client& c, const std::string& dir) {
  auto list = c.List(dir);
  if (!list.ok()) return list.error();
  std::vector<RawEntry> out;
  for (const auto& kv : list->kvs) {
    RawEntry e{kv.key, kv.value, kv.lease != 0, std::nullopt};
    // The listing carries no TTLs in Registry terms; the node does.
    auto node = c.GetNode(kv.key);
    if (!node.ok()) return node.error();
    if (*node) {
      e.has_ttl = (*node)->has_ttl;
      if (e.has_ttl) e.ttl_seconds = (*node)->ttl;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

Result<StatusInput> ReadStatusInput(const cmd::Options& options) {
  StatusInput in;
  in.prefix = options.etcd_prefix;
  const std::string config_key = options.etcd_prefix + "/config";
  const std::string dir = store::SubnetsDir(options.etcd_prefix);

  std::shared_ptr<store::etcd3::Client> v3;
  std::shared_ptr<store::etcd2::Client> v2;
  if (options.etcd_api != cmd::EtcdApi::kV2) {
    auto c = store::etcd3::Client::Create(ClientOptionsOf(options));
    if (!c.ok()) return c.error();
    v3 = *c;
  }
  if (options.etcd_api != cmd::EtcdApi::kV3) {
    auto c = store::etcd2::Client::Create(ClientOptionsOf(options));
    if (!c.ok()) return c.error();
    v2 = *c;
  }

  // The same choice as the agent's: v3 when it holds the config (or is forced), else v2 when
  // it does, else the forced or the newer one, whose emptiness is then reported.
  bool use_v3 = v3 != nullptr;
  if (v3) {
    auto config = ReadConfig(*v3, config_key);
    if (!config.ok()) {
      if (!v2) return config.error().Context("etcd v3");
    } else {
      in.config_text = *config;
    }
  }
  if (!in.config_text && v2) {
    auto config = ReadConfig(*v2, config_key);
    if (config.ok() && *config) {
      in.config_text = *config;
      use_v3 = false;
    } else if (config.ok() && !v3) {
      use_v3 = false;
    } else if (!config.ok() && config.error().code != Error::Code::kFailedPrecondition && !v3) {
      return config.error().Context("etcd v2");
    }
  }

  if (use_v3) {
    in.api = "v3";
    auto entries = ListV3(*v3, dir);
    if (!entries.ok()) return entries.error().Context("etcd v3");
    in.entries = std::move(*entries);
    in.endpoint = v3->CurrentEndpoint();
  } else {
    in.api = "v2";
    auto entries = ListV2(*v2, dir);
    if (!entries.ok()) return entries.error().Context("etcd v2");
    in.entries = std::move(*entries);
    in.endpoint = v2->CurrentEndpoint();
  }
  return in;
}

}  // namespace tartan::ctl
