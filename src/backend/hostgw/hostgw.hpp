// host-gw: one plain route per peer subnet via the peer's public IP on the external
// interface (compat doc section 7). Hosts must share an L2 segment; no encapsulation.
#pragma once

#include <memory>

#include "backend/backend.hpp"

namespace tartan::backend {

class HostGwBackend final : public Backend {
 public:
  // Fails when the public IP is not the interface's own address: peers would send to an
  // address that is not on this host's link (flannel refuses this too).
  static Result<std::unique_ptr<HostGwBackend>> Create(const ExternalInterface& ext);

  std::string_view lease_type() const override { return "host-gw"; }
  std::string_view name() const override { return "host-gw"; }
  uint32_t mtu() const override { return ext_.mtu; }
  DesiredState Desired(const model::Lease& own,
                       const std::vector<model::Lease>& peers) const override;
  // Refused, like Create, when the public IP is not the interface's address.
  Status Rebind(const ExternalInterface& ext) override;
  DesiredState DesiredPeer(const model::Lease& own, const model::Lease& peer) const override;

 private:
  explicit HostGwBackend(ExternalInterface ext) : ext_(std::move(ext)) {}
  void AppendPeer(const model::Lease& own, const model::Lease& peer, DesiredState& out) const;
  ExternalInterface ext_;
};

}  // namespace tartan::backend
