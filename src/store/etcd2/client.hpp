// An etcd v2 client (the `/v2/keys` API flanneld <= v0.17 keeps its config and leases in):
// the Registry primitives over the same transport as the v3 client (store/etcd_http/: member
// failover, TLS with client certificates, Shutdown), plus the raw operations tests need.
// HTTP basic authentication when a username is given. See docs/adr/0011 for how v2's keys with
// TTLs map onto the Registry's leases and revisions:
//   - revision = etcd's v2 index (a node's modifiedIndex; a listing's X-Etcd-Index);
//   - GrantLease hands out a client-side pseudo-lease (id -> TTL); PutIf with it writes the key
//     with that TTL, KeepAlive refreshes the TTL only while the key is still the one we wrote
//     (compare-and-swap on its modifiedIndex), RevokeLease deletes only that key;
//   - KeyValue.lease is our pseudo-lease for the key we wrote, a negative id for any other key
//     with a TTL, 0 for a key without one (a reservation).
// Lease values are written in flannel v0.11's shape (model::LeaseShape::kV011).
//
// A member that does not serve v2 (etcd without --enable-v2) makes calls fail with
// kFailedPrecondition; every failure names the endpoint and the cause.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "store/etcd2/codec.hpp"
#include "store/etcd_http/options.hpp"
#include "store/registry.hpp"

namespace tartan::store::etcd2 {

// The same options as the v3 client's (etcd3::ClientOptions is this type).
using ClientOptions = etcd_http::ClientOptions;

class Client : public Registry {
 public:
  // Parses endpoints and loads the TLS files; does not connect (calls connect as needed).
  static Result<std::shared_ptr<Client>> Create(const ClientOptions& options);
  ~Client() override;

  Result<std::optional<KeyValue>> Get(const std::string& key) override;
  // `prefix` is a directory ("<prefix>/subnets/"): its keys, recursively, that start with it.
  Result<RangeResult> List(const std::string& prefix) override;
  Result<LeaseGrant> GrantLease(std::chrono::seconds ttl) override;
  Status RevokeLease(int64_t id) override;
  Result<std::chrono::seconds> KeepAlive(int64_t id) override;
  Result<std::optional<int64_t>> PutIf(const std::string& key, const std::string& value,
                                       int64_t lease, int64_t expected_mod_revision) override;
  Result<std::unique_ptr<RegistryWatch>> Watch(const std::string& prefix,
                                               int64_t start_revision) override;
  // The node's `ttl`, read with a quorum GET; std::nullopt when the node is gone, has no TTL,
  // or was deleted and created again since `kv` was listed (another createdIndex).
  Result<std::optional<std::chrono::seconds>> RemainingTtl(const KeyValue& kv) override;
  // The key's createdIndex: a pseudo-lease lives in one process only, while createdIndex
  // survives our own refreshes and compare-and-swap re-writes (docs/adr/0013).
  int64_t OwnerToken(const KeyValue& kv) const override { return kv.create_revision; }
  // A v2 refresh is a raft write (it wakes no watcher): less often than v3's keep-alive.
  std::chrono::seconds HeartbeatPeriod() const override { return std::chrono::seconds(60); }
  // A quorum GET of `key`: X-Etcd-Cluster-Id and X-Etcd-Index.
  Result<StoreMark> Probe(const std::string& key) override;
  model::LeaseShape LeaseValueShape() const override { return model::LeaseShape::kV011; }
  std::string Describe() const override;
  void Shutdown() override;

  // Raw operations. Set writes key=value, with a TTL unless `ttl` is 0 (permanent), and
  // returns its modifiedIndex. Delete removes a key (a directory and all below it with
  // `recursive`) and returns the deletion's index; kNotFound when absent.
  Result<int64_t> Set(const std::string& key, const std::string& value,
                      std::chrono::seconds ttl = std::chrono::seconds(0));
  Result<int64_t> Delete(const std::string& key, bool recursive = false);
  // The node as etcd holds it (TTL included); std::nullopt when absent.
  Result<std::optional<codec::Node>> GetNode(const std::string& key);
  // The endpoint the next call goes to first (the last one that answered).
  std::string CurrentEndpoint() const;

  struct Impl;  // opaque; public only so the watch in client.cpp can share it

 private:
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace tartan::store::etcd2
