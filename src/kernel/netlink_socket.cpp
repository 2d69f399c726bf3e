#include "kernel/netlink_socket.hpp"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace tartan::kernel {
namespace {

// Large enough for any single datagram the kernel sends: dump skbs are capped at 32 KiB.
constexpr size_t kReceiveBufferSize = 64 * 1024;

}  // namespace

void NetlinkSocket::Closer::operator()(mnl_socket* s) const { mnl_socket_close(s); }

NetlinkSocket::NetlinkSocket(mnl_socket* sock, uint32_t port_id)
    : sock_(sock),
      port_id_(port_id),
      seq_(static_cast<uint32_t>(std::time(nullptr))),
      rx_(kReceiveBufferSize) {}

NetlinkSocket::NetlinkSocket(NetlinkSocket&& other) noexcept = default;
NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&& other) noexcept = default;
NetlinkSocket::~NetlinkSocket() = default;

Result<NetlinkSocket> NetlinkSocket::Open(const std::vector<unsigned>& groups) {
  mnl_socket* raw = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (raw == nullptr) return nl::ErrnoError(errno, "opening netlink socket");
  std::unique_ptr<mnl_socket, Closer> sock(raw);
  if (mnl_socket_bind(raw, 0, MNL_SOCKET_AUTOPID) < 0) {
    return nl::ErrnoError(errno, "binding netlink socket");
  }
  // Best effort: kernels without extended acks still report the errno.
  int on = 1;
  mnl_socket_setsockopt(raw, NETLINK_EXT_ACK, &on, sizeof on);
  mnl_socket_setsockopt(raw, NETLINK_CAP_ACK, &on, sizeof on);
  uint32_t port_id = mnl_socket_get_portid(raw);
  NetlinkSocket out(sock.release(), port_id);
  for (unsigned group : groups) {
    if (Status s = out.JoinGroup(group); !s.ok()) return s.error();
  }
  return out;
}

Status NetlinkSocket::JoinGroup(unsigned group) {
  if (mnl_socket_setsockopt(sock_.get(), NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
    return nl::ErrnoError(errno, "joining netlink group " + std::to_string(group));
  }
  return Status::Ok();
}

int NetlinkSocket::fd() const { return mnl_socket_get_fd(sock_.get()); }

Status NetlinkSocket::SetNonBlocking() {
  int flags = fcntl(fd(), F_GETFL);
  if (flags < 0 || fcntl(fd(), F_SETFL, flags | O_NONBLOCK) < 0) {
    return nl::ErrnoError(errno, "making netlink socket non-blocking");
  }
  return Status::Ok();
}

Status NetlinkSocket::SetReceiveBuffer(int bytes) {
  if (setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) == 0) {
    return Status::Ok();
  }
  if (setsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) < 0) {
    return nl::ErrnoError(errno, "setting netlink receive buffer");
  }
  return Status::Ok();
}

Status NetlinkSocket::Send(nl::Request& req, std::string_view what) {
  if (req.overflowed()) {
    return Error::Internal(std::string(what) + ": request does not fit in a netlink message");
  }
  nlmsghdr* nlh = req.header();
  nlh->nlmsg_seq = ++seq_;
  nlh->nlmsg_pid = 0;
  if (mnl_socket_sendto(sock_.get(), req.data(), req.size()) < 0) {
    return nl::ErrnoError(errno, what);
  }
  return Status::Ok();
}

Status NetlinkSocket::Execute(nl::Request& req, std::string_view what) {
  req.header()->nlmsg_flags |= NLM_F_ACK;
  if (Status s = Send(req, what); !s.ok()) return s;
  return ReceiveUntilDone(seq_, what, [](const nlmsghdr*) {});
}

Status NetlinkSocket::Query(nl::Request& req, std::string_view what,
                            const std::function<void(const nlmsghdr*)>& on_message) {
  // A dump ends with NLMSG_DONE; a plain get ends with the ack asked for here.
  if ((req.header()->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP) {
    req.header()->nlmsg_flags |= NLM_F_ACK;
  }
  if (Status s = Send(req, what); !s.ok()) return s;
  return ReceiveUntilDone(seq_, what, on_message);
}

Status NetlinkSocket::ReceiveUntilDone(uint32_t seq, std::string_view what,
                                       const std::function<void(const nlmsghdr*)>& on_message) {
  bool interrupted = false;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), rx_.data(), rx_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return nl::ErrnoError(errno, what);
    }
    int len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(rx_.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      // Leftovers of an earlier request that gave up early (or kernel-originated messages).
      if (nlh->nlmsg_seq != seq || (nlh->nlmsg_pid != 0 && nlh->nlmsg_pid != port_id_)) continue;
      if ((nlh->nlmsg_flags & NLM_F_DUMP_INTR) != 0) interrupted = true;
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        auto ack = nl::ParseAck(nlh);
        if (!ack) return Error::Internal(std::string(what) + ": truncated netlink error");
        if (ack->error != 0) return nl::ErrnoError(ack->error, what, ack->message);
        return Status::Ok();
      }
      if (nlh->nlmsg_type == NLMSG_DONE) {
        // A failed dump reports its errno in NLMSG_DONE's payload.
        if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(int)) {
          int err;
          std::memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof err);
          if (err < 0) {
            auto ack = nl::ParseAck(nlh);
            return nl::ErrnoError(err, what, ack ? ack->message : "");
          }
        }
        if (interrupted) {
          return Error::Unavailable(std::string(what) +
                                    ": dump interrupted by a concurrent change");
        }
        return Status::Ok();
      }
      if (nlh->nlmsg_type == NLMSG_NOOP || nlh->nlmsg_type == NLMSG_OVERRUN) continue;
      on_message(nlh);
    }
  }
}

Result<NetlinkSocket::Received> NetlinkSocket::ReceiveAvailable(
    const std::function<void(const nlmsghdr*)>& on_message) {
  Received got;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), rx_.data(), rx_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return got;
      if (errno == ENOBUFS) {
        got.overrun = true;
        continue;
      }
      return nl::ErrnoError(errno, "reading netlink notifications");
    }
    int len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(rx_.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_type == NLMSG_NOOP || nlh->nlmsg_type == NLMSG_DONE ||
          nlh->nlmsg_type == NLMSG_ERROR) {
        continue;
      }
      on_message(nlh);
      ++got.messages;
    }
  }
}

}  // namespace tartan::kernel
