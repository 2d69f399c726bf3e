#include "kernel/netlink_rtnl.hpp"

#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <algorithm>

#include "kernel/sysctl.hpp"

namespace tartan::kernel {
namespace {

// A dump interrupted by a concurrent change is simply asked again; the kernel tables of one
// node change rarely enough that a handful of attempts always suffices in practice.
constexpr int kDumpAttempts = 5;

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

std::string LinkName(int index) {
  char buf[IF_NAMESIZE] = {};
  if (index > 0 && if_indextoname(static_cast<unsigned>(index), buf) != nullptr) return buf;
  return "#" + std::to_string(index);
}

Result<NetlinkRtnl> NetlinkRtnl::Open() {
  auto sock = NetlinkSocket::Open();
  if (!sock.ok()) return sock.error();
  NetlinkRtnl rtnl(std::move(sock).value());
  // Nexthop objects came with Linux 5.3; before, RTM_GETNEXTHOP is an unknown request.
  nl::Request probe = nl::NexthopDump();
  rtnl.nexthops_ = rtnl.socket_.Query(probe, "listing nexthops", [](const nlmsghdr*) {}).ok();
  return rtnl;
}

template <typename T, typename Parse, typename Keep>
Result<std::vector<T>> NetlinkRtnl::Dump(nl::Request (*make)(), std::string_view what, Parse parse,
                                         Keep keep) {
  for (int attempt = 1;; ++attempt) {
    std::vector<T> out;
    nl::Request req = make();
    Status s = socket_.Query(req, what, [&](const nlmsghdr* nlh) {
      std::optional<T> v = parse(nlh);
      if (v && keep(*v)) out.push_back(std::move(*v));
    });
    if (s.ok()) return out;
    if (s.error().code != Error::Code::kUnavailable || attempt == kDumpAttempts) return s.error();
  }
}

// ----------------------------------------------------------------------------------- links

Result<Link> NetlinkRtnl::GetLink(int index) {
  std::optional<Link> found;
  nl::Request req = nl::LinkGetByIndex(index);
  Status s = socket_.Query(req, "getting link #" + std::to_string(index),
                           [&](const nlmsghdr* nlh) { found = nl::ParseLink(nlh); });
  if (!s.ok()) return s.error();
  if (!found) return Error::Internal("getting link #" + std::to_string(index) + ": no answer");
  return *found;
}

Result<Link> NetlinkRtnl::GetLinkByName(std::string_view name) {
  std::string what = "getting link " + Quoted(name);
  if (name.empty() || name.size() >= IF_NAMESIZE) {
    return Error::InvalidArgument(what + ": not a valid interface name");
  }
  std::optional<Link> found;
  nl::Request req = nl::LinkGetByName(name);
  Status s = socket_.Query(req, what, [&](const nlmsghdr* nlh) { found = nl::ParseLink(nlh); });
  if (!s.ok()) return s.error();
  if (!found) return Error::Internal(what + ": no answer");
  return *found;
}

Result<std::vector<Link>> NetlinkRtnl::ListLinks() {
  return Dump<Link>(nl::LinkDump, "listing links", nl::ParseLink, [](const Link&) { return true; });
}

Result<Link> NetlinkRtnl::CreateLink(const Link& spec) {
  std::string what =
      "creating " + (spec.vxlan ? std::string("vxlan") : spec.kind) + " link " + Quoted(spec.name);
  if (spec.name.empty() || spec.name.size() >= IF_NAMESIZE) {
    return Error::InvalidArgument(what + ": not a valid interface name");
  }
  if (spec.vxlan) {
    what += " (vni " + std::to_string(spec.vxlan->vni);
    if (spec.vxlan->local) what += " local " + spec.vxlan->local->ToString();
    if (spec.vxlan->underlay_index != 0) what += " dev " + LinkName(spec.vxlan->underlay_index);
    what += " dstport " + std::to_string(spec.vxlan->port) + ")";
  }
  nl::Request req = nl::LinkCreate(spec);
  if (Status s = socket_.Execute(req, what); !s.ok()) return s.error();
  return GetLinkByName(spec.name);
}

Status NetlinkRtnl::SetLinkUp(int index, bool up) {
  nl::Request req = nl::LinkChange(index, up, std::nullopt, std::nullopt);
  return socket_.Execute(req,
                         std::string("setting link ") + LinkName(index) + (up ? " up" : " down"));
}

Status NetlinkRtnl::SetLinkMtu(int index, uint32_t mtu) {
  nl::Request req = nl::LinkChange(index, std::nullopt, mtu, std::nullopt);
  return socket_.Execute(req, "setting mtu " + std::to_string(mtu) + " on link " + LinkName(index));
}

Status NetlinkRtnl::SetLinkMac(int index, const net::Mac& mac) {
  nl::Request req = nl::LinkChange(index, std::nullopt, std::nullopt, mac);
  return socket_.Execute(req, "setting address " + mac.ToString() + " on link " + LinkName(index));
}

Status NetlinkRtnl::DeleteLink(int index) {
  nl::Request req = nl::LinkDelete(index);
  return socket_.Execute(req, "deleting link " + LinkName(index));
}

// ------------------------------------------------------------------------------- addresses

Result<std::vector<Address>> NetlinkRtnl::ListAddresses(int link_index) {
  return Dump<Address>(
      nl::AddressDump, "listing addresses", nl::ParseAddress,
      [link_index](const Address& a) { return link_index == 0 || a.link_index == link_index; });
}

Status NetlinkRtnl::AddAddress(const Address& addr) {
  nl::Request req = nl::AddressRequest(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, addr);
  return socket_.Execute(req, "adding address " + addr.ToString(LinkName(addr.link_index)));
}

Status NetlinkRtnl::DeleteAddress(const Address& addr) {
  nl::Request req = nl::AddressRequest(RTM_DELADDR, 0, addr);
  return socket_.Execute(req, "deleting address " + addr.ToString(LinkName(addr.link_index)));
}

// ---------------------------------------------------------------------------------- routes

Result<std::vector<Route>> NetlinkRtnl::ListRoutes(const RouteFilter& filter) {
  if (nexthops_) {
    // With compat mode off, route messages carry only the nexthop's id: tartan then puts its
    // routes in the classic way, and replaces those it finds without a gateway.
    auto mode = Sysctl().Read("net/ipv4/nexthop_compat_mode");
    compat_ = !mode.ok() || *mode != "0";
  }
  // Ids from an interrupted attempt may be among them: a superset only keeps a nexthop longer.
  std::vector<uint32_t> used;
  auto parse = [&used](const nlmsghdr* nlh) {
    uint32_t nexthop = 0;
    std::optional<Route> r = nl::ParseRoute(nlh, &nexthop);
    if (r && nexthop != 0) used.push_back(nexthop);  // whoever's route it is, in any table
    return r;
  };
  auto routes = Dump<Route>(nl::RouteDump, "listing routes", parse, [&filter](const Route& r) {
    return r.table == filter.table && (!filter.protocol || r.protocol == *filter.protocol) &&
           (filter.link_index == 0 || r.link_index == filter.link_index);
  });
  if (routes.ok()) {
    std::sort(used.begin(), used.end());
    used.erase(std::unique(used.begin(), used.end()), used.end());
    listed_nexthops_ = std::move(used);
    used_since_listing_.clear();
    listed_ = true;
  }
  return routes;
}

std::optional<uint32_t> NetlinkRtnl::EnsureNexthop(const Route& route) {
  if (!uses_nexthops() || route.type != kRouteTypeUnicast || !route.gateway ||
      route.link_index == 0 || route.protocol != kTartanRouteProtocol) {
    return std::nullopt;
  }
  Nexthop nh;
  nh.id = route.gateway->value();
  if (nh.id == 0) return std::nullopt;
  nh.gateway = route.gateway;
  nh.link_index = route.link_index;
  nh.onlink = route.onlink;
  auto used = [&] {
    used_since_listing_.push_back(nh.id);
    std::erase(dropped_, nh.id);
    return nh.id;
  };
  nl::Request req = nl::NexthopRequest(RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_EXCL, nh);
  // The words of a failure are not used: the classic request follows and says them.
  Status s = socket_.Execute(req, "adding nexthop");
  if (s.ok()) return used();
  if (s.error().code != Error::Code::kAlreadyExists) {
    // The kernel refused it (an unreachable gateway, a device gone): the classic request
    // gets the same refusal, in the words operators know from `ip route`.
    return std::nullopt;
  }
  // Ours from before (another route through the same gateway, an earlier run): use it. Anyone
  // else's, or ours pointing elsewhere (changed by hand): left alone, classic route.
  std::optional<Nexthop> have;
  nl::Request get = nl::NexthopGet(nh.id);
  Status g = socket_.Query(get, "getting nexthop",
                           [&](const nlmsghdr* nlh) { have = nl::ParseNexthop(nlh); });
  if (g.ok() && have && *have == nh) return used();
  return std::nullopt;
}

Status NetlinkRtnl::WriteRoute(const Route& route, uint16_t flags, std::string_view verb) {
  const std::string what =
      std::string(verb) + " route " + route.ToString(LinkName(route.link_index));
  const std::optional<uint32_t> nexthop = EnsureNexthop(route);
  nl::Request req = nl::RouteRequest(RTM_NEWROUTE, flags, route, nexthop.value_or(0));
  return socket_.Execute(req, what);
}

Status NetlinkRtnl::AddRoute(const Route& route) {
  return WriteRoute(route, NLM_F_CREATE | NLM_F_EXCL, "adding");
}

Status NetlinkRtnl::ReplaceRoute(const Route& route) {
  return WriteRoute(route, NLM_F_CREATE | NLM_F_REPLACE, "replacing");
}

Status NetlinkRtnl::DeleteRoute(const Route& route) {
  Route match = route;
  if (nexthops_ && route.protocol == kTartanRouteProtocol) {
    // tartan's route in this slot (table, dst, metric), whether it refers to a nexthop or not:
    // the kernel matches a route of the nexthop form only when no gateway or device is given.
    match.gateway.reset();
    match.link_index = 0;
    match.onlink = false;
  }
  nl::Request req = nl::RouteRequest(RTM_DELROUTE, 0, match);
  return socket_.Execute(req, "deleting route " + route.ToString(LinkName(route.link_index)));
}

Status NetlinkRtnl::DropUnusedNexthops() {
  dropped_.clear();
  // Only right after a listing: without one, which nexthops routes use is not known.
  if (!nexthops_ || !listed_) return Status::Ok();
  std::sort(used_since_listing_.begin(), used_since_listing_.end());
  std::vector<Nexthop> unused;
  nl::Request req = nl::NexthopDump();
  Status s = socket_.Query(req, "listing nexthops", [&](const nlmsghdr* nlh) {
    std::optional<Nexthop> nh = nl::ParseNexthop(nlh);
    if (!nh || nh->protocol != kTartanRouteProtocol) return;
    if (std::binary_search(listed_nexthops_.begin(), listed_nexthops_.end(), nh->id)) return;
    if (std::binary_search(used_since_listing_.begin(), used_since_listing_.end(), nh->id)) {
      return;
    }
    unused.push_back(*nh);
  });
  if (!s.ok()) return s;
  // Until the next listing, which says again what routes use.
  std::vector<uint32_t>().swap(listed_nexthops_);
  listed_ = false;
  Status first = Status::Ok();
  for (const Nexthop& nh : unused) {
    nl::Request del = nl::NexthopRequest(RTM_DELNEXTHOP, 0, nh);
    Status d = socket_.Execute(del, "deleting nexthop " + nh.ToString(LinkName(nh.link_index)));
    if (d.ok() || d.error().code == Error::Code::kNotFound) {
      dropped_.push_back(nh.id);
    } else if (first.ok()) {
      first = d;
    }
  }
  return first;
}

bool NetlinkRtnl::NexthopRemovalExpected(uint32_t id) const {
  return std::find(dropped_.begin(), dropped_.end(), id) != dropped_.end();
}

Result<RouteLookup> NetlinkRtnl::LookupRoute(net::Ip4 dst) {
  std::string what = "looking up the route to " + dst.ToString();
  std::optional<RouteLookup> found;
  nl::Request req = nl::RouteGet(dst);
  Status s =
      socket_.Query(req, what, [&](const nlmsghdr* nlh) { found = nl::ParseRouteLookup(nlh); });
  if (!s.ok()) return s.error();
  if (!found) return Error::Internal(what + ": no answer");
  return *found;
}

// ------------------------------------------------------------------ neighbours and the FDB

Result<std::vector<Neighbour>> NetlinkRtnl::ListNeighbours(int link_index) {
  return Dump<Neighbour>(
      nl::NeighbourDump, "listing neighbours", nl::ParseNeighbour,
      [link_index](const Neighbour& n) { return link_index == 0 || n.link_index == link_index; });
}

Status NetlinkRtnl::ReplaceNeighbour(const Neighbour& n) {
  nl::Request req = nl::NeighbourRequest(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, n);
  return socket_.Execute(req, "replacing neighbour " + n.ToString(LinkName(n.link_index)));
}

Status NetlinkRtnl::DeleteNeighbour(const Neighbour& n) {
  nl::Request req = nl::NeighbourRequest(RTM_DELNEIGH, 0, n);
  return socket_.Execute(req, "deleting neighbour " + n.ToString(LinkName(n.link_index)));
}

Result<std::vector<FdbEntry>> NetlinkRtnl::ListFdb(int link_index) {
  return Dump<FdbEntry>(
      nl::FdbDump, "listing fdb entries", nl::ParseFdb,
      [link_index](const FdbEntry& e) { return link_index == 0 || e.link_index == link_index; });
}

Status NetlinkRtnl::AppendFdb(const FdbEntry& e) {
  nl::Request req = nl::FdbRequest(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, e);
  return socket_.Execute(req, "appending fdb entry " + e.ToString(LinkName(e.link_index)));
}

Status NetlinkRtnl::ReplaceFdb(const FdbEntry& e) {
  nl::Request req = nl::FdbRequest(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, e);
  return socket_.Execute(req, "replacing fdb entry " + e.ToString(LinkName(e.link_index)));
}

Status NetlinkRtnl::DeleteFdb(const FdbEntry& e) {
  nl::Request req = nl::FdbRequest(RTM_DELNEIGH, 0, e);
  return socket_.Execute(req, "deleting fdb entry " + e.ToString(LinkName(e.link_index)));
}

}  // namespace tartan::kernel
