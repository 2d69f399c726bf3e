// The backend a network config asks for.
#pragma once

#include <memory>

#include "backend/backend.hpp"
#include "kernel/rtnl.hpp"

namespace tartan::backend {

// host-gw (and, as they land, vxlan and udp). Unknown or not-yet-supported types are an error
// that names the type and lists the supported ones.
Result<std::unique_ptr<Backend>> MakeBackend(const model::NetworkConfig& config,
                                             const ExternalInterface& ext, kernel::Rtnl& rtnl);

}  // namespace tartan::backend
