// The udp backend's workers: packets between flannel0 and the UDP sockets, in batches
// (recvmmsg/sendmmsg), decided by packet.hpp.
//
// Multi-queue (ADR 0016 addendum): flannel0 has one queue per worker pair (IFF_MULTI_QUEUE;
// the kernel picks a packet's queue by its flow hash) and each pair has its own UDP socket,
// all bound to the same address and port through SO_REUSEPORT (the kernel picks a datagram's
// socket by a hash of the peer's address and port). Queue i's pair is one thread reading
// queue i and sending on socket i, and one receiving on socket i and writing into queue i.
// Every flow stays on one thread each way, so nothing is reordered.
//
// The peer table is a PeerTable published with a generation number. A worker checks the
// number once per batch (one atomic load) and takes the new table only when it changed, so the
// packet path holds no lock. A peer change is written into the published table in place (its
// slots are atomics, packet.hpp) and seen by the workers' next lookups; a new table is
// published only when the old one is full or our own subnet changed. Nothing pauses traffic.
// Buffers are allocated once per worker: no allocation per packet. Counts are kept per batch on the
// worker's stack and added to the /metrics counters once per batch.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/udp/packet.hpp"
#include "common/metrics.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "kernel/tun.hpp"
#include "net/ip.hpp"

namespace tartan::backend::udp {

// The data plane's counters on /metrics (children of the families registered on first use):
//   tartan_udp_tun_packets_total{direction="read|written"}   packets through flannel0 (a
//                                                            TSO/GRO packet counts once)
//   tartan_udp_datagrams_total{direction="sent|received"}    datagrams on the wire
//   tartan_udp_bytes_total{direction="sent|received"}        their payload bytes
//   tartan_udp_icmp_errors_total                             ICMP errors answered
//   tartan_udp_dropped_total{reason}                         drops by reason (packet.hpp)
//   tartan_udp_queues                                        flannel0's queues (worker pairs)
struct Counters {
  metrics::Counter& tun_rx;
  metrics::Counter& tun_tx;
  metrics::Counter& udp_tx;
  metrics::Counter& udp_rx;
  metrics::Counter& bytes_tx;
  metrics::Counter& bytes_rx;
  metrics::Counter& icmp_tx;
  std::array<metrics::Counter*, static_cast<size_t>(Drop::kCount)> drops;
  metrics::Gauge& queues;
};
// The process's counters (all data planes add to the same ones).
Counters& GlobalCounters();
// The reason label: DropName with '_' for '-' (Prometheus style).
std::string DropLabel(Drop d);

class DataPlane {
 public:
  // The most worker pairs: beyond this, more queues mostly add threads waking up.
  static constexpr size_t kMaxQueues = 8;

  // Binds `queues` UDP sockets to `bind`:`port` (flannel binds the interface's address), one
  // per worker pair (SO_REUSEPORT when more than one). `queues` 0: one per CPU this process
  // may run on, at most kMaxQueues. `offload`: UDP GRO on the sockets, and TUN devices opened
  // through tun_flags() get IFF_VNET_HDR with TSO (offload.hpp); the wire is the same either
  // way.
  static Result<std::unique_ptr<DataPlane>> Create(net::Ip4 bind, uint16_t port, bool offload,
                                                   size_t queues = 0);
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  // The flags to open flannel0 with (IFF_VNET_HDR when offloading).
  int tun_flags() const;
  // How many TUN queues to open (kernel::TunDevice::OpenQueues): one per worker pair.
  size_t queues() const { return socks_.size(); }
  // Runs the workers on `tun`'s queues (the data plane owns them from now on; queue i pairs
  // with socket i, and every socket and queue gets its worker even when the counts differ,
  // pairing round robin); workers on an earlier device
  // are stopped first (a device deleted by hand and made again). Turns the TUN's offloads on;
  // when the kernel refuses, the workers run without (said in the log).
  void Attach(std::vector<kernel::TunDevice> tun);
  // Stops the workers and closes the TUN (the kernel removes the device).
  void Stop();
  // Publishes a new peer table; the workers pick it up at their next batch. Changes made in
  // place to a published table (PeerTableWriter) need no call.
  void SetPeers(std::shared_ptr<const PeerTable> table);

  const Counters& counters() const { return counters_; }
  uint16_t port() const { return port_; }

 private:
  DataPlane(std::vector<UniqueFd> socks, UniqueFd stop, uint16_t port, bool offload, bool gro)
      : socks_(std::move(socks)),
        stop_(std::move(stop)),
        port_(port),
        offload_(offload),
        gro_(gro) {}

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

  void TunToUdp(int tun, int sock);
  void UdpToTun(int sock, int tun);

  std::vector<UniqueFd> socks_;
  UniqueFd stop_;  // eventfd: readable while the workers must stop
  uint16_t port_;
  bool offload_;
  bool gro_;           // the sockets hand over coalesced datagrams (UDP_GRO)
  bool vnet_ = false;  // the current TUN carries a virtio_net_hdr before each packet
  std::vector<kernel::TunDevice> tun_;
  std::vector<std::thread> workers_;

  std::mutex table_mu_;  // guards table_ itself; taken only when the generation moved
  std::shared_ptr<const PeerTable> table_ = std::make_shared<PeerTable>();
  std::atomic<uint64_t> generation_{0};

  Counters& counters_ = GlobalCounters();
};

}  // namespace tartan::backend::udp
