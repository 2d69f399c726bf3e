// udp: flannel's userspace encapsulation (compat doc section 7). A TUN device flannel0 with
// <lease .0>/32, the whole Network routed into it, and every packet read from it sent as the
// payload of one UDP datagram to the peer holding the destination's subnet (port 8285 by
// default); datagrams from peers are written back into it. Wire-compatible with flanneld's
// udp backend, whose leases carry no BackendType.
#pragma once

#include <array>
#include <map>
#include <memory>

#include "backend/backend.hpp"
#include "backend/udp/dataplane.hpp"
#include "kernel/rtnl.hpp"

namespace tartan::backend {

// IPv4 (20) and UDP (8) headers around each pod packet.
inline constexpr uint32_t kUdpOverhead = 28;
inline constexpr uint16_t kUdpDefaultPort = 8285;
inline constexpr const char* kUdpDevice = "flannel0";

struct UdpConfig {
  uint16_t port = kUdpDefaultPort;
  // tartan's own key "Offload" (default true): TSO on flannel0 and GRO on the socket. Off, the
  // workers move MTU-sized packets only (for comparison; the wire is the same).
  bool offload = true;
  // Reads Backend.Port (case-insensitive, like flannel; 0 or absent means 8285) and Offload.
  static Result<UdpConfig> FromBackend(const nlohmann::json& backend);
};

class UdpBackend final : public Backend {
 public:
  // Binds the socket on the interface's address and creates flannel0 with its workers. Fails
  // when the port is taken or flannel0 exists and is not ours (a flanneld still running).
  static Result<std::unique_ptr<UdpBackend>> Create(const UdpConfig& config,
                                                    const ExternalInterface& ext,
                                                    net::Ip4Net network, kernel::Rtnl& rtnl);

  std::string_view lease_type() const override { return ""; }  // flannel writes none
  std::string_view name() const override { return "udp"; }
  uint32_t mtu() const override { return mtu_; }
  std::vector<int> owned_links() const override { return {device_index_}; }
  // The route `<Network> dev flannel0`. Also brings the workers' table in line with the peers
  // (entries changed in place where they differ; nothing published when nothing changed).
  DesiredState Desired(const model::Lease& own,
                       const std::vector<model::Lease>& peers) const override;
  // A peer's problems only: udp has no entry per peer, its path is the workers' table.
  DesiredState DesiredPeer(const model::Lease& own, const model::Lease& peer) const override;
  // Updates the one peer in the workers' table, in place: O(1) amortised, whatever the number
  // of peers.
  void PeerChanged(const model::Lease& own, const model::Lease* before,
                   const model::Lease* after) override;
  // Makes flannel0 exist (again, if deleted by hand) with its MTU, address and link up, and
  // logs the drop counters when they moved.
  Status EnsureDevices(const model::Lease& own, bool& republish) override;
  // A new interface address: the socket is bound again on it (new workers, flannel0 made
  // again, the current peer table handed to them); the MTU follows the interface's.
  Status Rebind(const ExternalInterface& ext) override;

  const udp::Counters& counters() const { return dataplane_->counters(); }

 private:
  UdpBackend(ExternalInterface ext, net::Ip4Net network, kernel::Rtnl& rtnl,
             std::unique_ptr<udp::DataPlane> dp)
      : ext_(std::move(ext)),
        network_(network),
        rtnl_(rtnl),
        dataplane_(std::move(dp)),
        mtu_(ext_.mtu - kUdpOverhead),
        writer_([this](std::shared_ptr<const udp::PeerTable> t) { HandOver(std::move(t)); }) {}
  Status OpenDevice();
  void LogCounters();

  ExternalInterface ext_;
  net::Ip4Net network_;
  kernel::Rtnl& rtnl_;
  std::unique_ptr<udp::DataPlane> dataplane_;
  uint32_t mtu_;
  int device_index_ = 0;
  bool offload_ = true;  // UdpConfig::offload, for a data plane made again by Rebind
  // The workers' table, changed in place one peer at a time (ADR 0016, second addendum).
  mutable udp::PeerTableWriter writer_;
  // The peers by lease key. The table holds one entry per IPv4 subnet: two keys that differ
  // only in their IPv6 part share it, the first of them in this order wins.
  mutable std::map<model::SubnetKey, net::Ip4> table_peers_;
  // The peer's entry in the workers' table, or nullopt (not a udp peer, no usable address).
  std::optional<net::Ip4> TableAddress(const model::Lease& own, const model::Lease& peer,
                                       std::vector<std::string>& problems) const;
  // Publishes a table the writer built (a larger one, or for a new own subnet).
  void HandOver(std::shared_ptr<const udp::PeerTable> table);
  // Makes the table's entry for `subnet` what table_peers_ says. O(log n).
  void Sync(const net::Ip4Net& subnet) const;
  std::array<uint64_t, static_cast<size_t>(udp::Drop::kCount)> drops_logged_{};
};

}  // namespace tartan::backend
