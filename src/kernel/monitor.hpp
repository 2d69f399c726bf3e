// Kernel change notifications, for a reconciler that repairs what someone else changed.
#pragma once

#include <optional>
#include <variant>
#include <vector>

#include "common/result.hpp"
#include "kernel/netlink_socket.hpp"
#include "kernel/types.hpp"

namespace tartan::kernel {

struct KernelEvent {
  enum class Kind {
    kLink,
    kAddress,
    kRoute,
    kNeighbour,
    kFdb,
    // A nexthop object appeared or went (ADR 0021: tartan's routes use them). The kernel
    // removes the routes that use a deleted nexthop without a route notification.
    kNexthop,
    // The kernel dropped notifications (the socket's receive buffer overflowed): what the
    // events say is incomplete, so the reader must re-read the kernel's state in full.
    kResyncNeeded,
  };
  Kind kind = Kind::kResyncNeeded;
  bool removed = false;  // an RTM_DEL* message
  std::variant<std::monostate, Link, Address, Route, Neighbour, FdbEntry, Nexthop> object;
};

// The event carried by one rtnetlink notification; nullopt for messages of no interest
// (IPv6, non-unicast routes, malformed).
std::optional<KernelEvent> ParseEvent(const nlmsghdr* nlh);

// A netlink socket subscribed to link, IPv4 address, IPv4 route, neighbour (ARP and FDB) and
// nexthop (where the kernel has them) changes in the calling thread's network namespace.
// Non-blocking: wait for fd() to become readable with poll/epoll, then Drain().
class NetlinkMonitor {
 public:
  // `receive_buffer` bytes of kernel-side queue; the default rides out a burst of thousands
  // of route changes. Small values exist for tests of the overflow path.
  static Result<NetlinkMonitor> Open(int receive_buffer = 4 << 20);

  int fd() const { return socket_.fd(); }

  // Every event queued so far, oldest first; empty when none. If the kernel dropped some,
  // the list ends with one kResyncNeeded event.
  Result<std::vector<KernelEvent>> Drain();

 private:
  explicit NetlinkMonitor(NetlinkSocket socket) : socket_(std::move(socket)) {}
  NetlinkSocket socket_;
};

}  // namespace tartan::kernel
