// An rtnetlink socket: the one place where tartan's netlink bytes meet the kernel.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "kernel/message.hpp"

struct mnl_socket;

namespace tartan::kernel {

// Owns one NETLINK_ROUTE socket (closed on destruction; movable, not copyable) and its
// sequence numbers. Not thread-safe: one socket per thread, or a lock around it.
class NetlinkSocket {
 public:
  // Opens a socket bound to the calling thread's network namespace, with extended acks on so
  // errors carry the kernel's own explanation. `groups` are RTNLGRP_* multicast groups to join
  // (empty for a request socket).
  static Result<NetlinkSocket> Open(const std::vector<unsigned>& groups = {});

  NetlinkSocket(NetlinkSocket&& other) noexcept;
  NetlinkSocket& operator=(NetlinkSocket&& other) noexcept;
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  ~NetlinkSocket();

  // Sends `req` (NLM_F_ACK is added) and waits for the kernel's ack. On failure the error
  // reads "<what>: <strerror>[ (<kernel message>)]", e.g. "adding route 10.244.3.0/24 via
  // 192.0.2.3 dev eth0: Network is unreachable".
  Status Execute(nl::Request& req, std::string_view what);

  // Sends a get or dump request and calls `on_message` for each answer message until the
  // kernel signals the end. A dump the kernel reports as interrupted (NLM_F_DUMP_INTR: the
  // table changed meanwhile) fails with Unavailable so the caller can start over.
  Status Query(nl::Request& req, std::string_view what,
               const std::function<void(const nlmsghdr*)>& on_message);

  // Reads whatever is queued without blocking (after SetNonBlocking) and calls `on_message`
  // for each message, until the queue is empty. ENOBUFS -- the kernel dropped notifications
  // because the receive buffer overflowed -- sets `overrun` and reading goes on.
  struct Received {
    size_t messages = 0;
    bool overrun = false;
  };
  Result<Received> ReceiveAvailable(const std::function<void(const nlmsghdr*)>& on_message);

  // Joins one more RTNLGRP_* multicast group after Open.
  Status JoinGroup(unsigned group);
  Status SetNonBlocking();
  // Asks for a receive buffer of `bytes` (SO_RCVBUFFORCE when permitted, else SO_RCVBUF).
  Status SetReceiveBuffer(int bytes);

  int fd() const;
  uint32_t port_id() const { return port_id_; }

 private:
  NetlinkSocket(mnl_socket* sock, uint32_t port_id);
  Status Send(nl::Request& req, std::string_view what);
  Status ReceiveUntilDone(uint32_t seq, std::string_view what,
                          const std::function<void(const nlmsghdr*)>& on_message);

  struct Closer {
    void operator()(mnl_socket* s) const;
  };
  std::unique_ptr<mnl_socket, Closer> sock_;
  uint32_t port_id_ = 0;
  uint32_t seq_ = 0;
  std::vector<char> rx_;
};

}  // namespace tartan::kernel
