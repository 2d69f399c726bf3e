// Reads what `tartanctl status` shows from etcd, through the same clients and the same
// --etcd-api choice as tartand (store/api_select.hpp): auto reads the key space holding
// <prefix>/config, v3 when both do.
#pragma once

#include "cmd/options.hpp"
#include "common/result.hpp"
#include "ctl/status.hpp"
#include "store/registry.hpp"

namespace tartan::ctl {

// From the registries given (either may be null: that API is not read). TTLs: v3 asks etcd for
// each distinct lease's time to live, v2 reads each node's TTL.
Result<StatusInput> ReadStatusInput(const cmd::Options& options);

}  // namespace tartan::ctl
