#include "backend/hostgw/hostgw.hpp"

#include <algorithm>

namespace tartan::backend {

std::optional<net::Ip4> PeerAddress(const model::Lease& peer, const ExternalInterface& ext,
                                    std::string_view kind, std::vector<std::string>& problems) {
  const std::string who = std::string(kind) + " peer " + peer.subnet.ipv4.ToString();
  if (!peer.attrs.public_ip) {
    problems.push_back(who + " has no PublicIP in its lease; no route");
    return std::nullopt;
  }
  if (*peer.attrs.public_ip == ext.public_ip) {
    problems.push_back(who + " announces our own public IP " + ext.public_ip.ToString() +
                       " (a stale lease of this host?); no route");
    return std::nullopt;
  }
  return peer.attrs.public_ip;
}

bool ExternalInterface::OnLink(net::Ip4 peer) const {
  return std::any_of(connected.begin(), connected.end(),
                     [&](const net::Ip4Net& n) { return n.Contains(peer); });
}

namespace {

Status CheckPublicIpIsOwn(const ExternalInterface& ext) {
  if (ext.public_ip != ext.iface_addr) {
    return Error::InvalidArgument("host-gw: the public IP " + ext.public_ip.ToString() +
                                  " is not an address of " + ext.name + " (" +
                                  ext.iface_addr.ToString() +
                                  "); host-gw needs peers to route to this host's own "
                                  "interface address, so drop --public-ip or use vxlan");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<HostGwBackend>> HostGwBackend::Create(const ExternalInterface& ext) {
  if (Status s = CheckPublicIpIsOwn(ext); !s.ok()) return s.error();
  return std::unique_ptr<HostGwBackend>(new HostGwBackend(ext));
}

Status HostGwBackend::Rebind(const ExternalInterface& ext) {
  if (Status s = CheckPublicIpIsOwn(ext); !s.ok()) return s;
  // Routes are planned from ext_ on every pass: the next one puts them on the new index.
  ext_ = ext;
  return Status::Ok();
}

DesiredState HostGwBackend::Desired(const model::Lease& own,
                                    const std::vector<model::Lease>& peers) const {
  DesiredState out;
  for (const model::Lease& peer : peers) AppendPeer(own, peer, out);
  return out;
}

DesiredState HostGwBackend::DesiredPeer(const model::Lease& own, const model::Lease& peer) const {
  DesiredState out;
  AppendPeer(own, peer, out);
  return out;
}

void HostGwBackend::AppendPeer(const model::Lease& own, const model::Lease& peer,
                               DesiredState& out) const {
  if (peer.subnet == own.subnet) return;
  // Like flannel, a host-gw host routes only to peers that announced host-gw: a vxlan or udp
  // peer expects encapsulated traffic it would not get from a plain route.
  if (peer.attrs.backend_type != "host-gw") return;
  const auto address = PeerAddress(peer, ext_, "host-gw", out.problems);
  if (!address) return;
  const net::Ip4 gw = *address;
  if (!ext_.OnLink(gw)) {
    out.problems.push_back("host-gw peer " + peer.subnet.ipv4.ToString() + " at " + gw.ToString() +
                           " is not on-link from " + ext_.name +
                           ": host-gw needs every host on one L2 segment (use vxlan with "
                           "DirectRouting for routed networks); no route");
    return;
  }
  out.routes.push_back(kernel::Route::Via(peer.subnet.ipv4, gw, ext_.index));
}

}  // namespace tartan::backend
