// The SubnetStore flanneld <= v0.17 nodes share: the etcd v2 key space at --etcd-endpoints
// (docs/adr/0011).
#pragma once

#include <memory>

#include "common/result.hpp"
#include "store/etcd2/client.hpp"
#include "store/subnet_store.hpp"

namespace tartan::store::etcd2 {

// Fails only on bad options (endpoints that do not parse, unreadable TLS files); connecting
// happens lazily and is retried by the store's calls.
Result<std::unique_ptr<SubnetStore>> NewEtcdSubnetStore(const ClientOptions& client,
                                                        StoreOptions store);

}  // namespace tartan::store::etcd2
