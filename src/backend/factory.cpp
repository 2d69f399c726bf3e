#include "backend/factory.hpp"

#include <sys/utsname.h>

#include <random>

#include "backend/hostgw/hostgw.hpp"
#include "backend/udp/udp.hpp"
#include "backend/vxlan/ethtool.hpp"
#include "backend/vxlan/vxlan.hpp"

namespace tartan::backend {

Result<std::unique_ptr<Backend>> MakeBackend(const model::NetworkConfig& config,
                                             const ExternalInterface& ext, kernel::Rtnl& rtnl) {
  if (config.backend_type == "host-gw") {
    auto be = HostGwBackend::Create(ext);
    if (!be.ok()) return be.error();
    return std::unique_ptr<Backend>(std::move(*be));
  }
  if (config.backend_type == "vxlan") {
    auto vc = VxlanConfig::FromBackend(config.backend);
    if (!vc.ok()) return vc.error();
    utsname uts{};
    ::uname(&uts);
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    auto be = VxlanBackend::Create(
        *vc, ext, rtnl, [rng] { return (*rng)(); }, SetTxChecksumOffload, uts.release);
    if (!be.ok()) return be.error();
    return std::unique_ptr<Backend>(std::move(*be));
  }
  if (config.backend_type == "udp") {
    auto uc = UdpConfig::FromBackend(config.backend);
    if (!uc.ok()) return uc.error();
    if (!config.network) return Error::InvalidArgument("udp: the config has no Network");
    auto be = UdpBackend::Create(*uc, ext, *config.network, rtnl);
    if (!be.ok()) return be.error();
    return std::unique_ptr<Backend>(std::move(*be));
  }
  return Error::InvalidArgument("backend type \"" + config.backend_type +
                                "\" is not supported by this tartand (supported: host-gw, "
                                "vxlan, udp)");
}

}  // namespace tartan::backend
