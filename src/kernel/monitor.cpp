#include "kernel/monitor.hpp"

#include <linux/rtnetlink.h>

namespace tartan::kernel {

std::optional<KernelEvent> ParseEvent(const nlmsghdr* nlh) {
  KernelEvent ev;
  switch (nlh->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      if (auto link = nl::ParseLink(nlh)) {
        ev.kind = KernelEvent::Kind::kLink;
        ev.removed = nlh->nlmsg_type == RTM_DELLINK;
        ev.object = std::move(*link);
        return ev;
      }
      return std::nullopt;
    case RTM_NEWADDR:
    case RTM_DELADDR:
      if (auto addr = nl::ParseAddress(nlh)) {
        ev.kind = KernelEvent::Kind::kAddress;
        ev.removed = nlh->nlmsg_type == RTM_DELADDR;
        ev.object = *addr;
        return ev;
      }
      return std::nullopt;
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      if (auto route = nl::ParseRoute(nlh)) {
        ev.kind = KernelEvent::Kind::kRoute;
        ev.removed = nlh->nlmsg_type == RTM_DELROUTE;
        ev.object = *route;
        return ev;
      }
      return std::nullopt;
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH:
      ev.removed = nlh->nlmsg_type == RTM_DELNEIGH;
      if (auto n = nl::ParseNeighbour(nlh)) {
        ev.kind = KernelEvent::Kind::kNeighbour;
        ev.object = *n;
        return ev;
      }
      if (auto e = nl::ParseFdb(nlh)) {
        ev.kind = KernelEvent::Kind::kFdb;
        ev.object = *e;
        return ev;
      }
      return std::nullopt;
    case RTM_NEWNEXTHOP:
    case RTM_DELNEXTHOP:
      if (auto nh = nl::ParseNexthop(nlh)) {
        ev.kind = KernelEvent::Kind::kNexthop;
        ev.removed = nlh->nlmsg_type == RTM_DELNEXTHOP;
        ev.object = *nh;
        return ev;
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

Result<NetlinkMonitor> NetlinkMonitor::Open(int receive_buffer) {
  auto sock =
      NetlinkSocket::Open({RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_NEIGH});
  if (!sock.ok()) return sock.error();
  // Kernels before 5.3 have no nexthop objects and no such group; tartan then installs no
  // nexthops either (NetlinkRtnl), so there is nothing to hear.
  (void)sock->JoinGroup(RTNLGRP_NEXTHOP);
  if (Status s = sock->SetNonBlocking(); !s.ok()) return s.error();
  if (Status s = sock->SetReceiveBuffer(receive_buffer); !s.ok()) return s.error();
  return NetlinkMonitor(std::move(sock).value());
}

Result<std::vector<KernelEvent>> NetlinkMonitor::Drain() {
  std::vector<KernelEvent> events;
  auto got = socket_.ReceiveAvailable([&](const nlmsghdr* nlh) {
    if (auto ev = ParseEvent(nlh)) events.push_back(std::move(*ev));
  });
  if (!got.ok()) return got.error();
  // Where in the sequence the loss happened is unknown, so the marker goes last: a reader
  // that applies events in order and then resyncs ends up with the kernel's true state.
  if (got->overrun) events.push_back(KernelEvent{KernelEvent::Kind::kResyncNeeded, false, {}});
  return events;
}

}  // namespace tartan::kernel
