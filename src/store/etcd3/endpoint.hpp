// The endpoint list is shared by the etcd v3 and v2 clients (store/etcd_http/endpoint.hpp);
// these names keep callers of the v3 client's spelling working.
#pragma once

#include "store/etcd_http/endpoint.hpp"

namespace tartan::store::etcd3 {

using etcd_http::Endpoint;
using etcd_http::ParseEndpoints;

}  // namespace tartan::store::etcd3
