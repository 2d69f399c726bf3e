// The SubnetStore flanneld >= v0.18 nodes share: etcd v3 at --etcd-endpoints.
#pragma once

#include <memory>

#include "common/result.hpp"
#include "store/etcd3/client.hpp"
#include "store/subnet_store.hpp"

namespace tartan::store::etcd3 {

// Fails only on bad options (endpoints that do not parse, unreadable TLS files); connecting
// happens lazily and is retried by the store's calls.
Result<std::unique_ptr<SubnetStore>> NewEtcdSubnetStore(const ClientOptions& client,
                                                        StoreOptions store);

}  // namespace tartan::store::etcd3
