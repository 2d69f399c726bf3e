// An etcd v3 client over etcd's v3 JSON gateway (HTTP/1.1, `/v3/...`; see gateway.hpp and
// docs/adr/0010): the Registry primitives plus the few raw operations tests and tools need.
// Speaks to one member at a time and fails over to the next endpoint when a call finds its
// member unreachable, leaderless or timing out. Presents a client certificate and verifies the
// server against --etcd-cafile for https:// endpoints; authenticates with
// --etcd-username/--etcd-password and re-authenticates when etcd says the token expired.
//
// Everything crossing this header is a tartan value, and every failure is an Error whose
// message names the endpoint and the cause.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "store/etcd3/endpoint.hpp"
#include "store/etcd_http/options.hpp"
#include "store/registry.hpp"

namespace tartan::store::etcd3 {

// The options are shared with the v2 client (store/etcd_http/options.hpp).
using ClientOptions = etcd_http::ClientOptions;

class Client : public Registry {
 public:
  // Parses endpoints and loads the TLS files; does not connect (calls connect as needed).
  static Result<std::shared_ptr<Client>> Create(const ClientOptions& options);
  ~Client() override;

  Result<std::optional<KeyValue>> Get(const std::string& key) override;
  Result<RangeResult> List(const std::string& prefix) override;
  Result<LeaseGrant> GrantLease(std::chrono::seconds ttl) override;
  Status RevokeLease(int64_t id) override;
  Result<std::chrono::seconds> KeepAlive(int64_t id) override;
  Result<std::optional<int64_t>> PutIf(const std::string& key, const std::string& value,
                                       int64_t lease, int64_t expected_mod_revision) override;
  Result<std::unique_ptr<RegistryWatch>> Watch(const std::string& prefix,
                                               int64_t start_revision) override;
  // LeaseTimeToLive of the key's lease: a read, no raft write.
  Result<std::optional<std::chrono::seconds>> RemainingTtl(const KeyValue& kv) override;
  // A count-only range of `key`: header.cluster_id and header.revision.
  Result<StoreMark> Probe(const std::string& key) override;
  std::string Describe() const override;
  void Shutdown() override;

  // Raw operations. Put returns the new revision; Delete the revision and how many keys went.
  Result<int64_t> Put(const std::string& key, const std::string& value, int64_t lease = 0);
  Result<int64_t> Delete(const std::string& key, bool prefix = false);
  Status Compact(int64_t revision);
  // Remaining TTL of an etcd lease; kNotFound when it has expired or was revoked.
  Result<std::chrono::seconds> TimeToLive(int64_t id);
  // The endpoint the next call goes to first (the last one that answered).
  std::string CurrentEndpoint() const;

  struct Impl;  // opaque; public only so the watch stream in client.cpp can share it

 private:
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// "prefix" -> the smallest key greater than every key starting with prefix (etcd range_end).
std::string PrefixRangeEnd(const std::string& prefix);

}  // namespace tartan::store::etcd3
