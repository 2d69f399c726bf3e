// --etcd-api: which etcd key space (v2 or v3) holds the network and its leases.
//
// etcd keeps two separate key spaces: a key written with the v2 API is invisible to v3 and the
// other way round. flanneld <= 0.17 uses v2, later releases v3, and an operator following an
// older guide writes the config with `etcdctl set` (v2). In auto mode the store looks for
// <prefix>/config in both and works in the one that holds it; v3 wins when both do, so a
// cluster that migrated keeps the newer copy. The choice is made once, when the config is
// first found, and holds for the life of the process: the leases live beside the config.
#pragma once

#include <memory>
#include <string_view>

#include "common/result.hpp"
#include "store/registry.hpp"
#include "store/subnet_store.hpp"

namespace tartan::store {

enum class EtcdApi { kAuto, kV2, kV3 };

std::string_view ToString(EtcdApi api);  // "auto", "v2", "v3"

// A SubnetStore that reads <prefix>/config through the registries `mode` allows, chooses the
// API as above, and from then on is NewSubnetStore(chosen registry, options). Api() is the
// choice ("" until made; the forced API at once in v2/v3 mode). Until the choice the lease
// calls fail with kFailedPrecondition: GetNetworkConfig comes first.
//
// `v2` or `v3` may be null when that API is not available. A v2 registry answering
// kFailedPrecondition (etcd runs without --enable-v2) counts as "v2 holds no config": in auto
// mode such an etcd is simply a v3 store. InvalidArgument when `mode` forces an API whose
// registry is null, or both are null.
Result<std::unique_ptr<SubnetStore>> NewApiSelectingStore(std::shared_ptr<Registry> v2,
                                                          std::shared_ptr<Registry> v3,
                                                          EtcdApi mode, StoreOptions options);

}  // namespace tartan::store
