#include "backend/udp/dataplane.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel/message.hpp"

namespace tartan::backend::udp {
namespace {

// Packets per batch: enough to amortise a syscall over many packets, small enough that a
// batch stays in the cache.
constexpr size_t kBatch = 64;
// Room for any IPv4 packet (and, later, a GSO super-packet).
constexpr size_t kSlot = 65536;
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

Result<std::unique_ptr<DataPlane>> DataPlane::Create(net::Ip4 bind, uint16_t port) {
  const std::string where = bind.ToString() + ":" + std::to_string(port);
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return kernel::nl::ErrnoError(errno, "udp: creating the socket");
  SetBuffer(sock.get(), SO_RCVBUFFORCE, SO_RCVBUF);
  SetBuffer(sock.get(), SO_SNDBUFFORCE, SO_SNDBUF);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(bind.value());
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    return kernel::nl::ErrnoError(
        errno, "udp: binding " + where + " (is flanneld or another tartand running here?)");
  }
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return kernel::nl::ErrnoError(errno, "udp: eventfd");
  return std::unique_ptr<DataPlane>(new DataPlane(std::move(sock), std::move(stop), port));
}

DataPlane::~DataPlane() { Stop(); }

void DataPlane::Stop() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(stop_.get(), &one, sizeof one);
  for (auto& t : workers_) t.join();
  workers_.clear();
  uint64_t drained = 0;
  [[maybe_unused]] ssize_t r = ::read(stop_.get(), &drained, sizeof drained);
  tun_.reset();
}

void DataPlane::Attach(kernel::TunDevice tun) {
  Stop();
  tun_.emplace(std::move(tun));
  const int fd = tun_->fd();
  workers_.emplace_back([this, fd] { TunToUdp(fd); });
  workers_.emplace_back([this, fd] { UdpToTun(fd); });
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

void DataPlane::TunToUdp(int tun) {
  std::vector<uint8_t> buf(kBatch * kSlot);
  std::vector<mmsghdr> msgs(kBatch);
  std::vector<iovec> iov(kBatch);
  std::vector<sockaddr_in> to(kBatch);
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  std::array<uint64_t, static_cast<size_t>(Drop::kCount)> drops{};
  TableView view(*this);
  for (size_t i = 0; i < kBatch; ++i) {
    to[i].sin_family = AF_INET;
    to[i].sin_port = htons(port_);
    msgs[i].msg_hdr.msg_name = &to[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  while (true) {
    pollfd fds[2] = {{tun, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (Stopping(fds[1])) return;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return;  // device gone
    const PeerTable& table = view.Get();
    size_t n = 0;
    uint64_t read_count = 0, icmp_count = 0;
    while (n < kBatch) {
      uint8_t* slot = &buf[n * kSlot];
      const ssize_t r = ::read(tun, slot, kSlot);
      if (r <= 0) break;  // EAGAIN: drained
      ++read_count;
      const Verdict v = FromTun({slot, static_cast<size_t>(r)}, table, icmp);
      switch (v.action) {
        case Verdict::Action::kPass:
          iov[n] = {slot, v.length};
          to[n].sin_addr.s_addr = htonl(v.peer);
          ++n;
          break;
        case Verdict::Action::kIcmp:
          ++drops[static_cast<size_t>(v.reason)];
          if (::write(tun, icmp.data(), v.length) == static_cast<ssize_t>(v.length)) ++icmp_count;
          break;
        case Verdict::Action::kDrop:
          ++drops[static_cast<size_t>(v.reason)];
          break;
      }
    }
    size_t sent = 0;
    while (sent < n) {
      const int r = ::sendmmsg(sock_.get(), &msgs[sent], static_cast<unsigned>(n - sent), 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        // This one message failed (no route to that peer, say): drop it, send the rest.
        ++drops[static_cast<size_t>(Drop::kSendFailed)];
        ++sent;
        continue;
      }
      sent += static_cast<size_t>(r);
    }
    counters_.tun_rx.fetch_add(read_count, std::memory_order_relaxed);
    counters_.udp_tx.fetch_add(n, std::memory_order_relaxed);
    counters_.icmp_tx.fetch_add(icmp_count, std::memory_order_relaxed);
    for (size_t d = 0; d < drops.size(); ++d) {
      if (drops[d] != 0) counters_.drops[d].fetch_add(std::exchange(drops[d], 0));
    }
  }
}

void DataPlane::UdpToTun(int tun) {
  std::vector<uint8_t> buf(kBatch * kSlot);
  std::vector<mmsghdr> msgs(kBatch);
  std::vector<iovec> iov(kBatch);
  std::vector<sockaddr_in> from(kBatch);
  std::array<uint8_t, kIcmpErrorMax> icmp{};
  std::array<uint64_t, static_cast<size_t>(Drop::kCount)> drops{};
  TableView view(*this);
  for (size_t i = 0; i < kBatch; ++i) {
    iov[i] = {&buf[i * kSlot], kSlot};
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  while (true) {
    pollfd fds[2] = {{sock_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (Stopping(fds[1])) return;
    for (size_t i = 0; i < kBatch; ++i) msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    const int got = ::recvmmsg(sock_.get(), msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (got <= 0) continue;
    const PeerTable& table = view.Get();
    uint64_t written = 0, icmp_count = 0;
    for (int i = 0; i < got; ++i) {
      uint8_t* slot = &buf[static_cast<size_t>(i) * kSlot];
      const uint32_t sender = ntohl(from[i].sin_addr.s_addr);
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        ++drops[static_cast<size_t>(Drop::kMalformed)];
        continue;
      }
      const Verdict v = FromPeer(sender, {slot, msgs[i].msg_len}, table, icmp);
      switch (v.action) {
        case Verdict::Action::kPass:
          if (::write(tun, slot, v.length) == static_cast<ssize_t>(v.length)) {
            ++written;
          } else {
            ++drops[static_cast<size_t>(Drop::kSendFailed)];
          }
          break;
        case Verdict::Action::kIcmp:
          ++drops[static_cast<size_t>(v.reason)];
          if (::sendto(sock_.get(), icmp.data(), v.length, MSG_DONTWAIT,
                       reinterpret_cast<const sockaddr*>(&from[i]), sizeof from[i]) >= 0) {
            ++icmp_count;
          }
          break;
        case Verdict::Action::kDrop:
          ++drops[static_cast<size_t>(v.reason)];
          break;
      }
    }
    counters_.udp_rx.fetch_add(static_cast<uint64_t>(got), std::memory_order_relaxed);
    counters_.tun_tx.fetch_add(written, std::memory_order_relaxed);
    counters_.icmp_tx.fetch_add(icmp_count, std::memory_order_relaxed);
    for (size_t d = 0; d < drops.size(); ++d) {
      if (drops[d] != 0) counters_.drops[d].fetch_add(std::exchange(drops[d], 0));
    }
  }
}

}  // namespace tartan::backend::udp
