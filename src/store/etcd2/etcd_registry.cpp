#include "store/etcd2/etcd_registry.hpp"

namespace tartan::store::etcd2 {

Result<std::unique_ptr<SubnetStore>> NewEtcdSubnetStore(const ClientOptions& client,
                                                        StoreOptions store) {
  auto c = Client::Create(client);
  if (!c) return c.error();
  return NewSubnetStore(std::move(c).value(), std::move(store));
}

}  // namespace tartan::store::etcd2
