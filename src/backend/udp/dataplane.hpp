// The udp backend's workers: packets between flannel0 and the UDP socket, in batches
// (recvmmsg/sendmmsg), decided by packet.hpp. One worker per direction: flannel0 -> peers and
// peers -> flannel0.
//
// The peer table is an immutable PeerTable published with a generation number. A worker
// checks the number once per batch (one atomic load) and takes the new table only when it
// changed, so the packet path holds no lock and peer changes apply between two batches,
// without pausing traffic. Buffers are allocated once per worker: no allocation per packet.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backend/udp/packet.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "kernel/tun.hpp"
#include "net/ip.hpp"

namespace tartan::backend::udp {

class DataPlane {
 public:
  // Binds the UDP socket to `bind`:`port` (flannel binds the interface's address).
  // `offload`: UDP GRO on the socket, and TUN devices opened through tun_flags() get
  // IFF_VNET_HDR with TSO (offload.hpp); the wire is the same either way.
  static Result<std::unique_ptr<DataPlane>> Create(net::Ip4 bind, uint16_t port, bool offload);
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // The flags to open flannel0 with (IFF_VNET_HDR when offloading).
  int tun_flags() const;
  // Runs the workers on `tun` (the data plane owns it from now on); workers on an earlier
  // device are stopped first (a device deleted by hand and made again). Turns the TUN's
  // offloads on; when the kernel refuses, the workers run without (said in the log).
  void Attach(kernel::TunDevice tun);
  // Stops the workers and closes the TUN (the kernel removes the device).
  void Stop();
  // Publishes a new peer table; the workers pick it up at their next batch.
  void SetPeers(std::shared_ptr<const PeerTable> table);

  const Counters& counters() const { return counters_; }
  uint16_t port() const { return port_; }

 private:
  DataPlane(UniqueFd sock, UniqueFd stop, uint16_t port, bool offload, bool gro)
      : sock_(std::move(sock)), stop_(std::move(stop)), port_(port), offload_(offload), gro_(gro) {}

  // A worker's view of the current table: refreshed when the generation moved.
  class TableView {
   public:
    explicit TableView(DataPlane& dp) : dp_(dp) {}
    const PeerTable& Get();

   private:
    DataPlane& dp_;
    uint64_t generation_ = ~uint64_t{0};
    std::shared_ptr<const PeerTable> table_;
  };

  void TunToUdp(int tun);
  void UdpToTun(int tun);

  UniqueFd sock_;
  UniqueFd stop_;  // eventfd: readable while the workers must stop
  uint16_t port_;
  bool offload_;
  bool gro_;           // the socket hands over coalesced datagrams (UDP_GRO)
  bool vnet_ = false;  // the current TUN carries a virtio_net_hdr before each packet
  std::optional<kernel::TunDevice> tun_;
  std::vector<std::thread> workers_;

  std::mutex table_mu_;  // guards table_ itself; taken only when the generation moved
  std::shared_ptr<const PeerTable> table_ = std::make_shared<PeerTable>();
  std::atomic<uint64_t> generation_{0};

  Counters counters_;
};

}  // namespace tartan::backend::udp
