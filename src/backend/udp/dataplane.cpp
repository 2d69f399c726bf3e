#include "backend/udp/dataplane.hpp"

#include <arpa/inet.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "backend/udp/offload.hpp"
#include "common/log.hpp"
#include "kernel/message.hpp"

namespace tartan::backend::udp {
namespace {

// Packets per batch: enough to amortise a syscall over many packets, small enough that a
// batch stays in the cache.
constexpr size_t kBatch = 64;
// Room for any IPv4 packet (a TSO packet from the TUN included) and its virtio_net_hdr.
constexpr size_t kSlot = 65536 + 64;
// Room for the headers of a TSO packet cut into MTU-sized packets: up to 120 bytes for each of
// at most 64 KiB / 536 segments (the payloads stay where the TUN read put them).
constexpr size_t kMaxSegmentsPerPacket = 123;
constexpr size_t kHdrSlot = kMaxSegmentsPerPacket * 120;
// The most UDP payload one UDP_SEGMENT send may carry (IPv4 total length limit), and the most
// segments the kernel accepts in one (UDP_MAX_SEGMENTS on older kernels).
constexpr size_t kMaxGsoBytes = 65535 - 20 - 8;
constexpr size_t kMaxGsoSegments = 64;
// Socket buffers: a burst of a few ms at 10 Gbit/s, so a scheduling delay does not drop.
constexpr int kSocketBuffer = 8 << 20;

void SetBuffer(int fd, int force, int plain) {
  // The FORCE variants ignore net.core.*mem_max but need CAP_NET_ADMIN.
  if (::setsockopt(fd, SOL_SOCKET, force, &kSocketBuffer, sizeof kSocketBuffer) != 0) {
    ::setsockopt(fd, SOL_SOCKET, plain, &kSocketBuffer, sizeof kSocketBuffer);
  }
}

bool Stopping(const pollfd& stop) { return (stop.revents & POLLIN) != 0; }

}  // namespace

Counters& GlobalCounters() {
  using T = metrics::Family::Type;
  static Counters c = [] {
    auto& reg = metrics::Global();
    auto& tun = reg.Add("tartan_udp_tun_packets_total",
                        "udp backend: packets read from (read) and written into (written) "
                        "flannel0; a TSO or GRO packet of up to 64 KiB counts once",
                        T::kCounter, {"direction"});
    auto& dgrams = reg.Add("tartan_udp_datagrams_total",
                           "udp backend: datagrams sent to and received from peers", T::kCounter,
                           {"direction"});
    auto& bytes = reg.Add("tartan_udp_bytes_total",
                          "udp backend: payload bytes of the datagrams sent and received",
                          T::kCounter, {"direction"});
    auto& icmp =
        reg.Add("tartan_udp_icmp_errors_total",
                "udp backend: ICMP errors answered (net-unreachable, time-exceeded)", T::kCounter);
    auto& dropped =
        reg.Add("tartan_udp_dropped_total", "udp backend: packets and datagrams dropped, by reason",
                T::kCounter, {"reason"});
    auto& queues = reg.Add("tartan_udp_queues",
                           "udp backend: flannel0's queues, each with its worker pair", T::kGauge);
    Counters out{tun.CounterWith({"read"}),
                 tun.CounterWith({"written"}),
                 dgrams.CounterWith({"sent"}),
                 dgrams.CounterWith({"received"}),
                 bytes.CounterWith({"sent"}),
                 bytes.CounterWith({"received"}),
                 icmp.CounterWith(),
                 {},
                 queues.GaugeWith()};
    // Every reason from the start at 0: a scrape shows them and rate() has a first point.
    for (size_t d = 0; d < out.drops.size(); ++d) {
      out.drops[d] = &dropped.CounterWith({DropLabel(static_cast<Drop>(d))});
    }
    return out;
  }();
  return c;
}

std::string DropLabel(Drop d) {
  std::string s(DropName(d));
  for (char& ch : s) {
    if (ch == '-') ch = '_';
  }
  return s;
}

namespace {

// The CPUs this process may run on (its affinity mask, which a cgroup's cpuset narrows).
size_t UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<size_t>(n);
  }
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<size_t>(n) : 1;
}

Result<UniqueFd> BoundSocket(const sockaddr_in& sa, bool reuseport, const std::string& where) {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return kernel::nl::ErrnoError(errno, "udp: creating the socket");
  SetBuffer(sock.get(), SO_RCVBUFFORCE, SO_RCVBUF);
  SetBuffer(sock.get(), SO_SNDBUFFORCE, SO_SNDBUF);
  const int one = 1;
  if (reuseport && ::setsockopt(sock.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return kernel::nl::ErrnoError(errno, "udp: SO_REUSEPORT on " + where);
  }
  if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    return kernel::nl::ErrnoError(
        errno, "udp: binding " + where + " (is flanneld or another tartand running here?)");
  }
  return sock;
}

}  // namespace

Result<std::unique_ptr<DataPlane>> DataPlane::Create(net::Ip4 bind, uint16_t port, bool offload,
                                                     size_t queues) {
  const std::string where = bind.ToString() + ":" + std::to_string(port);
  if (queues == 0) {
    queues = std::min(UsableCpus(), kMaxQueues);
    // For comparisons (bench/udp.sh): TARTAN_UDP_QUEUES=<1..8> overrides the count.
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read-only, nothing sets the environment
    if (const char* env = std::getenv("TARTAN_UDP_QUEUES")) {
      const long q = std::strtol(env, nullptr, 10);
      if (q >= 1 && q <= static_cast<long>(kMaxQueues)) queues = static_cast<size_t>(q);
    }
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(bind.value());
  std::vector<UniqueFd> socks;
  if (queues > 1) {
    // A socket without SO_REUSEPORT first, closed again: the reuseport group would otherwise
    // welcome a second tartand's sockets on the same port instead of refusing it. (flanneld's
    // socket has no SO_REUSEPORT: binding next to it fails either way.)
    auto probe = BoundSocket(sa, false, where);
    if (!probe.ok()) return probe.error();
  }
  for (size_t q = 0; q < queues; ++q) {
    auto sock = BoundSocket(sa, queues > 1, where);
    if (!sock.ok()) return sock.error();
    socks.push_back(std::move(*sock));
  }
  bool gro = false;
  if (offload) {
    const int one = 1;
    gro = true;
    for (const UniqueFd& s : socks) {
      gro = gro && ::setsockopt(s.get(), SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
    }
    if (!gro) {
      log::Warning("udp: UDP_GRO unavailable; receiving datagrams one by one");
      const int zero = 0;
      for (const UniqueFd& s : socks) ::setsockopt(s.get(), SOL_UDP, UDP_GRO, &zero, sizeof zero);
    }
  }
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return kernel::nl::ErrnoError(errno, "udp: eventfd");
  GlobalCounters().queues.Set(static_cast<double>(queues));
  return std::unique_ptr<DataPlane>(
      new DataPlane(std::move(socks), std::move(stop), port, offload, gro));
}

DataPlane::~DataPlane() { Stop(); }

int DataPlane::tun_flags() const { return offload_ ? IFF_VNET_HDR : 0; }

void DataPlane::Stop() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(stop_.get(), &one, sizeof one);
  for (auto& t : workers_) t.join();
  workers_.clear();
  uint64_t drained = 0;
  [[maybe_unused]] ssize_t r = ::read(stop_.get(), &drained, sizeof drained);
  tun_.clear();
}

void DataPlane::Attach(std::vector<kernel::TunDevice> tun) {
  Stop();
  tun_ = std::move(tun);
  if (tun_.empty()) return;
  vnet_ = false;
  if (offload_) {
    // The header size and the offloads are the device's, set through any of its queues.
    const int fd = tun_.front().fd();
    int size = sizeof(VnetHdr);
    const unsigned offloads = TUN_F_CSUM | TUN_F_TSO4;
    if (::ioctl(fd, TUNSETVNETHDRSZ, &size) == 0 && ::ioctl(fd, TUNSETOFFLOAD, offloads) == 0) {
      vnet_ = true;
    } else {
      // Opened with IFF_VNET_HDR all the same: the header stays, all zero (no offload).
      log::Warning("udp: the kernel refused TSO on the TUN (" +
                   std::system_category().message(errno) + "); packets come MTU-sized");
      vnet_ = true;
      ::ioctl(fd, TUNSETOFFLOAD, 0u);
    }
  }
  // Every socket is read (the kernel hashes peers onto all of them), every queue is read.
  for (size_t q = 0; q < std::max(tun_.size(), socks_.size()); ++q) {
    const int fd = tun_[q % tun_.size()].fd();
    const int sock = socks_[q % socks_.size()].get();
    if (q < tun_.size()) workers_.emplace_back([this, fd, sock] { TunToUdp(fd, sock); });
    if (q < socks_.size()) workers_.emplace_back([this, fd, sock] { UdpToTun(sock, fd); });
  }
}

void DataPlane::SetPeers(std::shared_ptr<const PeerTable> table) {
  {
    std::lock_guard lock(table_mu_);
    table_ = std::move(table);
  }
  generation_.fetch_add(1, std::memory_order_release);
}

const PeerTable& DataPlane::TableView::Get() {
  const uint64_t g = dp_.generation_.load(std::memory_order_acquire);
  if (g != generation_) {
    std::lock_guard lock(dp_.table_mu_);
    table_ = dp_.table_;
    generation_ = g;
  }
  return *table_;
}

namespace {

// Per-batch counts, added to the shared counters once per batch (no shared cache line
// written per packet).
struct BatchCounts {
  uint64_t in = 0, out = 0, bytes = 0, icmp = 0;
  std::array<uint64_t, static_cast<size_t>(Drop::kCount)> drops{};
  void Count(udp::Drop d) { ++drops[static_cast<size_t>(d)]; }
  void AddTo(metrics::Counter& in_c, metrics::Counter& out_c, metrics::Counter& bytes_c,
             Counters& c) {
    if (in != 0) in_c.Inc(in);
    if (out != 0) out_c.Inc(out);
    if (bytes != 0) bytes_c.Inc(bytes);
    if (icmp != 0) c.icmp_tx.Inc(icmp);
    for (size_t d = 0; d < drops.size(); ++d) {
      if (drops[d] != 0) c.drops[d]->Inc(drops[d]);
    }
    *this = {};
  }
};

// Writes one packet into the TUN, behind a virtio_net_hdr when `vnet` (checksums valid).
bool WritePacket(int tun, bool vnet, const uint8_t* p, size_t len) {
  VnetHdr h;
  h.flags = kVnetDataValid;
  iovec iov[2] = {{&h, sizeof h}, {const_cast<uint8_t*>(p), len}};
  const ssize_t want = static_cast<ssize_t>(len + (vnet ? sizeof h : 0));
  return ::writev(tun, vnet ? iov : iov + 1, vnet ? 2 : 1) == want;
}

}  // namespace

void DataPlane::TunToUdp(int tun, int sock) {
  const bool vnet = vnet_;
  const size_t hdr = vnet ? sizeof(VnetHdr) : 0;
  // Each packet read may become two sends (a TSO packet over the UDP_SEGMENT limit).
  constexpr size_t kMsgs = 2 * kBatch + 2;
  std::vector<uint8_t> buf(kBatch * kSlot);
  std::vector<uint8_t> out(vnet ? kBatch * kHdrSlot : 0);
  std::vector<mmsghdr> msgs(kMsgs);
  std::vector<iovec> iov(kMsgs);
  // A segmented packet's iovecs: [header, payload] per segment, no payload copied.
  std::vector<iovec> seg_iov(vnet ? kBatch * 2 * kMaxSegmentsPerPacket : 0);
  std::vector<sockaddr_in> to(kMsgs);
  constexpr size_t kCmsg = CMSG_SPACE(sizeof(uint16_t));
  std::vector<uint8_t> control(kMsgs * kCmsg);
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  BatchCounts counts;
  TableView view(*this);
  // One message: `len` bytes in `iovcnt` iovecs at `v` to `peer`; cut into `seg`-byte
  // datagrams by the kernel when seg != 0.
  auto queue_iov = [&](size_t& n, iovec* v, size_t iovcnt, size_t len, uint32_t peer, size_t seg) {
    mmsghdr& m = msgs[n];
    m = {};
    counts.bytes += len;
    to[n] = {};
    to[n].sin_family = AF_INET;
    to[n].sin_port = htons(port_);
    to[n].sin_addr.s_addr = htonl(peer);
    m.msg_hdr.msg_name = &to[n];
    m.msg_hdr.msg_namelen = sizeof(sockaddr_in);
    m.msg_hdr.msg_iov = v;
    m.msg_hdr.msg_iovlen = iovcnt;
    if (seg != 0 && seg < len) {
      m.msg_hdr.msg_control = &control[n * kCmsg];
      m.msg_hdr.msg_controllen = kCmsg;
      cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto s16 = static_cast<uint16_t>(seg);
      std::memcpy(CMSG_DATA(c), &s16, sizeof s16);
    }
    ++n;
  };
  auto queue = [&](size_t& n, uint8_t* p, size_t len, uint32_t peer) {
    iov[n] = {p, len};
    queue_iov(n, &iov[n], 1, len, peer, 0);
  };
  while (true) {
    pollfd fds[2] = {{tun, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (Stopping(fds[1])) return;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return;  // device gone
    const PeerTable& table = view.Get();
    size_t n = 0, datagrams = 0;
    for (size_t b = 0; b < kBatch; ++b) {
      uint8_t* slot = &buf[b * kSlot];
      const ssize_t r = ::read(tun, slot, kSlot);
      if (r <= static_cast<ssize_t>(hdr)) break;  // EAGAIN: drained
      ++counts.in;
      std::span<uint8_t> pkt(slot + hdr, static_cast<size_t>(r) - hdr);
      VnetHdr vh;
      if (vnet) std::memcpy(&vh, slot, sizeof vh);
      if (vnet && vh.gso_type == kGsoNone && (vh.flags & kVnetNeedsCsum) &&
          !FinishChecksum(pkt, vh.csum_start, vh.csum_offset)) {
        counts.Count(Drop::kMalformed);
        continue;
      }
      const Verdict v = FromTun(pkt, table, icmp);
      if (v.action == Verdict::Action::kIcmp) {
        counts.Count(v.reason);
        if (WritePacket(tun, vnet, icmp.data(), v.length)) ++counts.icmp;
        continue;
      }
      if (v.action == Verdict::Action::kDrop) {
        counts.Count(v.reason);
        continue;
      }
      if (!vnet || vh.gso_type == kGsoNone) {
        queue(n, pkt.data(), v.length, v.peer);
        ++datagrams;
        continue;
      }
      if ((vh.gso_type & 0x7f) != kGsoTcp4) {
        counts.Count(Drop::kMalformed);
        continue;
      }
      // A TSO packet: cut into the packets the wire carries (headers written here, payloads
      // left in place), sent in as few calls as the UDP_SEGMENT limits allow.
      uint8_t* h = &out[b * kHdrSlot];
      const SegmentPlan plan = SegmentTcp4Headers(pkt.first(v.length), vh.gso_size, {h, kHdrSlot});
      // (At most kMaxSegmentsPerPacket: room for their iovecs, and at most two messages.)
      if (plan.count == 0 || plan.count > kMaxSegmentsPerPacket) {
        counts.Count(Drop::kMalformed);
        continue;
      }
      const size_t seg_len = plan.header_len + plan.mss;
      const size_t per = std::min(kMaxGsoSegments, kMaxGsoBytes / seg_len);
      iovec* segs = &seg_iov[b * 2 * kMaxSegmentsPerPacket];
      for (size_t first = 0; first < plan.count; first += per) {
        const size_t last = std::min(plan.count, first + per);
        iovec* start = segs;
        size_t bytes = 0;
        for (size_t i = first; i < last; ++i) {
          const size_t chunk = std::min(plan.mss, plan.payload - i * plan.mss);
          *segs++ = {h + i * plan.header_len, plan.header_len};
          *segs++ = {pkt.data() + plan.header_len + i * plan.mss, chunk};
          bytes += plan.header_len + chunk;
        }
        queue_iov(n, start, static_cast<size_t>(segs - start), bytes, v.peer, seg_len);
      }
      datagrams += plan.count;
    }
    size_t sent = 0;
    while (sent < n) {
      const int r = ::sendmmsg(sock, &msgs[sent], static_cast<unsigned>(n - sent), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        // This one message failed (no route to that peer, say): drop it, send the rest.
        counts.Count(Drop::kSendFailed);
        for (size_t k = 0; k < msgs[sent].msg_hdr.msg_iovlen; ++k) {
          counts.bytes -= msgs[sent].msg_hdr.msg_iov[k].iov_len;
        }
        ++sent;
        continue;
      }
      sent += static_cast<size_t>(r);
    }
    counts.out = datagrams;
    counts.AddTo(counters_.tun_rx, counters_.udp_tx, counters_.bytes_tx, counters_);
  }
}

void DataPlane::UdpToTun(int sock, int tun) {
  const bool vnet = vnet_;
  std::vector<uint8_t> buf(kBatch * kSlot);
  std::vector<mmsghdr> msgs(kBatch);
  std::vector<iovec> iov(kBatch);
  std::vector<sockaddr_in> from(kBatch);
  constexpr size_t kCmsg = CMSG_SPACE(sizeof(int));
  std::vector<uint8_t> control(kBatch * kCmsg);
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  BatchCounts counts;
  TcpCoalescer coalescer;
  TableView view(*this);
  for (size_t i = 0; i < kBatch; ++i) {
    iov[i] = {&buf[i * kSlot], kSlot};
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  auto flush = [&] {
    if (coalescer.empty()) return;
    const TcpCoalescer::Output o = coalescer.Flush();
    if (::writev(tun, o.iov, o.iovcnt) > 0) {
      ++counts.out;
    } else {
      counts.Count(Drop::kTunWriteFailed);
    }
  };
  while (true) {
    pollfd fds[2] = {{sock, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (Stopping(fds[1])) return;
    for (size_t i = 0; i < kBatch; ++i) {
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      msgs[i].msg_hdr.msg_control = gro_ ? &control[i * kCmsg] : nullptr;
      msgs[i].msg_hdr.msg_controllen = gro_ ? kCmsg : 0;
    }
    const int got = ::recvmmsg(sock, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (got <= 0) continue;
    const PeerTable& table = view.Get();
    for (int i = 0; i < got; ++i) {
      uint8_t* slot = &buf[static_cast<size_t>(i) * kSlot];
      const uint32_t sender = ntohl(from[i].sin_addr.s_addr);
      msghdr& mh = msgs[i].msg_hdr;
      counts.bytes += msgs[i].msg_len;
      if (mh.msg_flags & MSG_TRUNC) {
        counts.Count(Drop::kMalformed);
        continue;
      }
      // With UDP_GRO one message may hold several datagrams of `seg` bytes (the last shorter).
      size_t seg = msgs[i].msg_len;
      if (gro_) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
          if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int s = 0;
            std::memcpy(&s, CMSG_DATA(c), sizeof s);
            if (s > 0) seg = static_cast<size_t>(s);
          }
        }
      }
      for (size_t off = 0; off < msgs[i].msg_len; off += seg) {
        const size_t len = std::min(seg, msgs[i].msg_len - off);
        ++counts.in;
        std::span<uint8_t> pkt(slot + off, len);
        const Verdict v = FromPeer(sender, pkt, table, icmp);
        if (v.action == Verdict::Action::kIcmp) {
          counts.Count(v.reason);
          if (::sendto(sock, icmp.data(), v.length, MSG_DONTWAIT,
                       reinterpret_cast<const sockaddr*>(&from[i]), sizeof from[i]) >= 0) {
            ++counts.icmp;
          }
          continue;
        }
        if (v.action == Verdict::Action::kDrop) {
          counts.Count(v.reason);
          continue;
        }
        pkt = pkt.first(v.length);
        if (vnet) {
          if (coalescer.Offer(pkt)) continue;
          flush();
          if (coalescer.Offer(pkt)) continue;
        }
        if (WritePacket(tun, vnet, pkt.data(), pkt.size())) {
          ++counts.out;
        } else {
          counts.Count(Drop::kTunWriteFailed);
        }
      }
    }
    flush();
    counts.AddTo(counters_.udp_rx, counters_.tun_tx, counters_.bytes_rx, counters_);
  }
}

}  // namespace tartan::backend::udp
