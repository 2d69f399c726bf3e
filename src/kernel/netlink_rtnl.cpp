#include "kernel/netlink_rtnl.hpp"

#include <linux/rtnetlink.h>
#include <net/if.h>

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
  return NetlinkRtnl(std::move(sock).value());
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
  return Dump<Route>(nl::RouteDump, "listing routes", nl::ParseRoute, [&filter](const Route& r) {
    return r.table == filter.table && (!filter.protocol || r.protocol == *filter.protocol) &&
           (filter.link_index == 0 || r.link_index == filter.link_index);
  });
}

Status NetlinkRtnl::AddRoute(const Route& route) {
  nl::Request req = nl::RouteRequest(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, route);
  return socket_.Execute(req, "adding route " + route.ToString(LinkName(route.link_index)));
}

Status NetlinkRtnl::ReplaceRoute(const Route& route) {
  nl::Request req = nl::RouteRequest(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, route);
  return socket_.Execute(req, "replacing route " + route.ToString(LinkName(route.link_index)));
}

Status NetlinkRtnl::DeleteRoute(const Route& route) {
  nl::Request req = nl::RouteRequest(RTM_DELROUTE, 0, route);
  return socket_.Execute(req, "deleting route " + route.ToString(LinkName(route.link_index)));
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
