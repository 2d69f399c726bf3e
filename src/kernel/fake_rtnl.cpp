#include "kernel/fake_rtnl.hpp"

#include <algorithm>
#include <tuple>

namespace tartan::kernel {

std::optional<Error> FakeRtnl::Injected(const std::string& op) {
  auto it = failures_.find(op);
  if (it == failures_.end()) return std::nullopt;
  Error e = std::move(it->second);
  failures_.erase(it);
  return e;
}

Status FakeRtnl::NeedLink(int index, const std::string& what) const {
  if (links_.count(index) == 0) return Error::NotFound(what + ": No such device");
  return Status::Ok();
}

int FakeRtnl::AddLinkForTest(Link link) {
  if (link.index == 0) link.index = next_index_;
  next_index_ = std::max(next_index_, link.index + 1);
  int index = link.index;
  links_[index] = std::move(link);
  return index;
}

Result<Link> FakeRtnl::GetLink(int index) {
  if (auto e = Injected("GetLink")) return *e;
  auto it = links_.find(index);
  if (it == links_.end()) {
    return Error::NotFound("getting link #" + std::to_string(index) + ": No such device");
  }
  return it->second;
}

Result<Link> FakeRtnl::GetLinkByName(std::string_view name) {
  if (auto e = Injected("GetLinkByName")) return *e;
  for (const auto& [index, link] : links_) {
    if (link.name == name) return link;
  }
  return Error::NotFound("getting link \"" + std::string(name) + "\": No such device");
}

Result<std::vector<Link>> FakeRtnl::ListLinks() {
  if (auto e = Injected("ListLinks")) return *e;
  std::vector<Link> out;
  for (const auto& [index, link] : links_) out.push_back(link);
  return out;
}

Result<Link> FakeRtnl::CreateLink(const Link& spec) {
  if (auto e = Injected("CreateLink")) return *e;
  for (const auto& [index, link] : links_) {
    if (link.name == spec.name) {
      return Error::AlreadyExists("creating link \"" + spec.name + "\": File exists");
    }
  }
  ++mutations_;
  Link link = spec;
  link.index = 0;
  link.up = false;
  if (link.vxlan) link.kind = "vxlan";
  if (link.mtu == 0) link.mtu = 1500;
  if (link.mac.IsZero()) link.mac = net::Mac::LocallyAdministered(0x5a5a00 + next_index_);
  int index = AddLinkForTest(link);
  return links_[index];
}

Status FakeRtnl::SetLinkUp(int index, bool up) {
  if (auto e = Injected("SetLinkUp")) return *e;
  if (Status s = NeedLink(index, "setting link up"); !s.ok()) return s;
  ++mutations_;
  links_[index].up = up;
  return Status::Ok();
}

Status FakeRtnl::SetLinkMtu(int index, uint32_t mtu) {
  if (auto e = Injected("SetLinkMtu")) return *e;
  if (Status s = NeedLink(index, "setting mtu"); !s.ok()) return s;
  ++mutations_;
  links_[index].mtu = mtu;
  return Status::Ok();
}

Status FakeRtnl::SetLinkMac(int index, const net::Mac& mac) {
  if (auto e = Injected("SetLinkMac")) return *e;
  if (Status s = NeedLink(index, "setting address"); !s.ok()) return s;
  ++mutations_;
  links_[index].mac = mac;
  return Status::Ok();
}

Status FakeRtnl::DeleteLink(int index) {
  if (auto e = Injected("DeleteLink")) return *e;
  if (Status s = NeedLink(index, "deleting link"); !s.ok()) return s;
  ++mutations_;
  links_.erase(index);
  std::erase_if(addresses_, [&](const Address& a) { return a.link_index == index; });
  std::erase_if(routes_, [&](const auto& kv) { return kv.second.link_index == index; });
  std::erase_if(neighbours_, [&](const auto& kv) { return kv.first.first == index; });
  std::erase_if(fdb_, [&](const FdbEntry& f) { return f.link_index == index; });
  return Status::Ok();
}

Result<std::vector<Address>> FakeRtnl::ListAddresses(int link_index) {
  if (auto e = Injected("ListAddresses")) return *e;
  std::vector<Address> out;
  for (const Address& a : addresses_) {
    if (link_index == 0 || a.link_index == link_index) out.push_back(a);
  }
  return out;
}

Status FakeRtnl::AddAddress(const Address& addr) {
  if (auto e = Injected("AddAddress")) return *e;
  std::string what = "adding address " + addr.ToString();
  if (Status s = NeedLink(addr.link_index, what); !s.ok()) return s;
  if (std::find(addresses_.begin(), addresses_.end(), addr) != addresses_.end()) {
    return Error::AlreadyExists(what + ": File exists");
  }
  ++mutations_;
  addresses_.push_back(addr);
  return Status::Ok();
}

Status FakeRtnl::DeleteAddress(const Address& addr) {
  if (auto e = Injected("DeleteAddress")) return *e;
  auto it = std::find(addresses_.begin(), addresses_.end(), addr);
  if (it == addresses_.end()) {
    return Error::NotFound("deleting address " + addr.ToString() +
                           ": Cannot assign requested address");
  }
  ++mutations_;
  addresses_.erase(it);
  return Status::Ok();
}

Result<std::vector<Route>> FakeRtnl::ListRoutes(const RouteFilter& filter) {
  if (auto e = Injected("ListRoutes")) return *e;
  std::vector<Route> out;
  for (const auto& [key, r] : routes_) {
    if (r.table == filter.table && (!filter.protocol || r.protocol == *filter.protocol) &&
        (filter.link_index == 0 || r.link_index == filter.link_index)) {
      out.push_back(r);
    }
  }
  return out;
}

Status FakeRtnl::AddRoute(const Route& route) {
  if (auto e = Injected("AddRoute")) return *e;
  std::string what = "adding route " + route.ToString();
  if (route.link_index != 0) {
    if (Status s = NeedLink(route.link_index, what); !s.ok()) return s;
  }
  Route r = route;
  r.dst = r.dst.Network();
  RouteKey key{r.table, r.dst, r.metric};
  if (routes_.count(key) != 0) return Error::AlreadyExists(what + ": File exists");
  ++mutations_;
  routes_[key] = r;
  return Status::Ok();
}

Status FakeRtnl::ReplaceRoute(const Route& route) {
  if (auto e = Injected("ReplaceRoute")) return *e;
  if (route.link_index != 0) {
    if (Status s = NeedLink(route.link_index, "replacing route " + route.ToString()); !s.ok()) {
      return s;
    }
  }
  ++mutations_;
  Route r = route;
  r.dst = r.dst.Network();
  routes_[RouteKey{r.table, r.dst, r.metric}] = r;
  return Status::Ok();
}

Status FakeRtnl::DeleteRoute(const Route& route) {
  if (auto e = Injected("DeleteRoute")) return *e;
  auto it = routes_.find(RouteKey{route.table, route.dst.Network(), route.metric});
  // Like the kernel: protocol, gateway and link must match when the request names them.
  if (it == routes_.end() || (route.protocol != 0 && it->second.protocol != route.protocol) ||
      (route.gateway && it->second.gateway != route.gateway) ||
      (route.link_index != 0 && it->second.link_index != route.link_index)) {
    return Error::NotFound("deleting route " + route.ToString() + ": No such process");
  }
  ++mutations_;
  routes_.erase(it);
  return Status::Ok();
}

Result<RouteLookup> FakeRtnl::LookupRoute(net::Ip4 dst) {
  if (auto e = Injected("LookupRoute")) return *e;
  const Route* best = nullptr;
  for (const auto& [key, r] : routes_) {
    if (r.table != kMainTable || !r.dst.Contains(dst)) continue;
    if (best == nullptr || r.dst.prefix_len() > best->dst.prefix_len() ||
        (r.dst.prefix_len() == best->dst.prefix_len() && r.metric < best->metric)) {
      best = &r;
    }
  }
  const Address* connected = nullptr;
  for (const Address& a : addresses_) {
    if (a.net.Network().Contains(dst) &&
        (connected == nullptr || a.net.prefix_len() > connected->net.prefix_len())) {
      connected = &a;
    }
  }
  if (connected != nullptr &&
      (best == nullptr || connected->net.prefix_len() >= best->dst.prefix_len())) {
    return RouteLookup{std::nullopt, connected->link_index, connected->net.ip()};
  }
  if (best == nullptr) {
    return Error::FailedPrecondition("looking up the route to " + dst.ToString() +
                                     ": Network is unreachable");
  }
  return RouteLookup{best->gateway, best->link_index, std::nullopt};
}

Result<std::vector<Neighbour>> FakeRtnl::ListNeighbours(int link_index) {
  if (auto e = Injected("ListNeighbours")) return *e;
  std::vector<Neighbour> out;
  for (const auto& [key, n] : neighbours_) {
    if (link_index == 0 || n.link_index == link_index) out.push_back(n);
  }
  return out;
}

Status FakeRtnl::ReplaceNeighbour(const Neighbour& n) {
  if (auto e = Injected("ReplaceNeighbour")) return *e;
  if (Status s = NeedLink(n.link_index, "replacing neighbour " + n.ToString()); !s.ok()) return s;
  ++mutations_;
  neighbours_[{n.link_index, n.ip}] = n;
  return Status::Ok();
}

Status FakeRtnl::DeleteNeighbour(const Neighbour& n) {
  if (auto e = Injected("DeleteNeighbour")) return *e;
  if (neighbours_.erase({n.link_index, n.ip}) == 0) {
    return Error::NotFound("deleting neighbour " + n.ToString() + ": No such file or directory");
  }
  ++mutations_;
  return Status::Ok();
}

Result<std::vector<FdbEntry>> FakeRtnl::ListFdb(int link_index) {
  if (auto e = Injected("ListFdb")) return *e;
  std::vector<FdbEntry> out;
  for (const FdbEntry& f : fdb_) {
    if (link_index == 0 || f.link_index == link_index) out.push_back(f);
  }
  return out;
}

Status FakeRtnl::AppendFdb(const FdbEntry& e) {
  if (auto err = Injected("AppendFdb")) return *err;
  std::string what = "appending fdb entry " + e.ToString();
  if (Status s = NeedLink(e.link_index, what); !s.ok()) return s;
  if (std::find(fdb_.begin(), fdb_.end(), e) != fdb_.end()) {
    return Error::AlreadyExists(what + ": File exists");
  }
  ++mutations_;
  fdb_.push_back(e);
  return Status::Ok();
}

Status FakeRtnl::ReplaceFdb(const FdbEntry& e) {
  if (auto err = Injected("ReplaceFdb")) return *err;
  if (Status s = NeedLink(e.link_index, "replacing fdb entry " + e.ToString()); !s.ok()) return s;
  ++mutations_;
  std::erase_if(fdb_,
                [&](const FdbEntry& f) { return f.link_index == e.link_index && f.mac == e.mac; });
  fdb_.push_back(e);
  return Status::Ok();
}

Status FakeRtnl::DeleteFdb(const FdbEntry& e) {
  if (auto err = Injected("DeleteFdb")) return *err;
  auto it = std::find_if(fdb_.begin(), fdb_.end(), [&](const FdbEntry& f) {
    return f.link_index == e.link_index && f.mac == e.mac && f.dst == e.dst;
  });
  if (it == fdb_.end()) {
    return Error::NotFound("deleting fdb entry " + e.ToString() + ": No such file or directory");
  }
  ++mutations_;
  fdb_.erase(it);
  return Status::Ok();
}

}  // namespace tartan::kernel
