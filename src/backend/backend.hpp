// A backend turns "my lease + the peers' leases" into the kernel objects that carry pod
// traffic between hosts. It never touches the kernel itself: Desired() is a pure function,
// and the agent's reconciler makes the kernel match it (docs/adr/0004-desired-state.md).
// Device set-up that must happen before the lease is written (a vxlan device whose MAC goes
// into BackendData) is the one exception, done in the backend's factory through the kernel layer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "kernel/types.hpp"
#include "model/lease.hpp"
#include "model/network_config.hpp"
#include "net/ip.hpp"

namespace tartan::backend {

// The host's interface toward the other hosts, as the agent chose it (--iface & co).
struct ExternalInterface {
  int index = 0;
  std::string name;
  uint32_t mtu = 0;
  net::Ip4 iface_addr;  // the interface's own address
  net::Ip4 public_ip;   // --public-ip, else iface_addr
  // The interface's connected IPv4 networks ("192.0.2.11/24" -> 192.0.2.0/24): a peer whose
  // public IP lies in one of them is on the same L2 segment.
  std::vector<net::Ip4Net> connected;

  bool OnLink(net::Ip4 peer) const;
};

struct DesiredState {
  std::vector<kernel::Route> routes;
  std::vector<kernel::Neighbour> neighbours;
  std::vector<kernel::FdbEntry> fdb;
  // Peers that get no entries, each with the reason in an operator's words. The agent logs a
  // line when this set changes (not on every reconcile).
  std::vector<std::string> problems;
};

// The address to reach `peer` at, or nullopt after adding the reason to `problems` when its
// lease has none, or announces our own public IP (a stale lease of this host). `kind` names
// the backend in the message ("host-gw", "vxlan").
std::optional<net::Ip4> PeerAddress(const model::Lease& peer, const ExternalInterface& ext,
                                    std::string_view kind, std::vector<std::string>& problems);

class Backend {
 public:
  virtual ~Backend() = default;
  // The BackendType this host writes into its lease ("host-gw", "vxlan"; udp writes none).
  virtual std::string_view lease_type() const = 0;
  // The type name used for logs and for matching peers.
  virtual std::string_view name() const = 0;
  // BackendData JSON for our lease; empty when the backend has none.
  virtual std::string backend_data() const { return {}; }
  // FLANNEL_MTU: the MTU pods must use on this host.
  virtual uint32_t mtu() const = 0;
  // Links whose neighbour and FDB tables this backend owns entirely (e.g. flannel.1).
  virtual std::vector<int> owned_links() const { return {}; }
  virtual DesiredState Desired(const model::Lease& own,
                               const std::vector<model::Lease>& peers) const = 0;
  // The entries for one peer alone (none for our own lease); Desired() is their union over
  // the peers, in order, plus what belongs to no peer (udp's route for the whole Network). A
  // lease event reprograms that one peer from this (docs/adr/0019-incremental-reconcile.md).
  // Pure, like Desired(); the default asks Desired() about the one peer.
  virtual DesiredState DesiredPeer(const model::Lease& own, const model::Lease& peer) const {
    return Desired(own, {peer});
  }
  // One peer changed (`before` null: added; `after` null: removed; both leases already
  // filtered like Desired()'s): a data plane outside the kernel (udp's workers) learns it here,
  // as Desired() tells it the whole set. Kernel-only backends have nothing to do.
  virtual void PeerChanged(const model::Lease& /*own*/, const model::Lease* /*before*/,
                           const model::Lease* /*after*/) {}

  // Called with our lease before every reconcile pass: creates or repairs what the backend
  // owns beyond routes and entries (a vxlan device deleted or changed by hand, its address).
  // Sets `republish` when backend_data() changed (a recreated device could not keep its MAC)
  // and the lease must be written again so peers learn the new value.
  virtual Status EnsureDevices(const model::Lease& /*own*/, bool& republish) {
    republish = false;
    return Status::Ok();
  }

  // The external interface changed under the running agent (made again with a new index, a
  // new address or MTU): the backend works with `ext` from now on, and its next EnsureDevices
  // rebuilds what depended on the old one. The agent writes the lease again when the public
  // IP moved, and subnet.env when mtu() changed. An error (the new MTU leaves no room for the
  // headers) leaves the backend on the old interface.
  virtual Status Rebind(const ExternalInterface& /*ext*/) { return Status::Ok(); }
};

}  // namespace tartan::backend
