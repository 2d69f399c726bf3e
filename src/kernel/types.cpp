#include "kernel/types.hpp"

#include <cstdio>

namespace tartan::kernel {
namespace {

std::string Dev(int index, std::string_view name) {
  return name.empty() ? "dev #" + std::to_string(index) : "dev " + std::string(name);
}

std::string Hex(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%02x", v);
  return buf;
}

// iproute2's names for the protocols an operator meets in `ip route`; others as numbers.
std::string ProtocolName(uint8_t protocol) {
  switch (protocol) {
    case kRouteProtocolKernel:
      return "kernel";
    case kRouteProtocolBoot:
      return "boot";
    case 4:
      return "static";
    case 16:
      return "dhcp";
    default:
      return std::to_string(protocol);
  }
}

}  // namespace

Route Route::Via(net::Ip4Net dst, net::Ip4 gw, int link_index) {
  Route r;
  r.dst = dst.Network();
  r.gateway = gw;
  r.link_index = link_index;
  return r;
}

Route Route::ViaOnlink(net::Ip4Net dst, net::Ip4 gw, int link_index) {
  Route r = Via(dst, gw, link_index);
  r.onlink = true;
  return r;
}

Route Route::Direct(net::Ip4Net dst, int link_index) {
  Route r;
  r.dst = dst.Network();
  r.link_index = link_index;
  r.scope = RouteScope::kLink;
  return r;
}

Route Route::Blackhole(net::Ip4Net dst, uint32_t metric) {
  Route r;
  r.dst = dst.Network();
  r.metric = metric;
  r.type = kRouteTypeBlackhole;
  return r;
}

std::string Nexthop::ToString(std::string_view dev) const {
  std::string s = "id " + std::to_string(id);
  if (gateway) s += " via " + gateway->ToString();
  if (link_index != 0) s += " " + Dev(link_index, dev);
  if (onlink) s += " onlink";
  if (protocol != kTartanRouteProtocol) s += " proto " + ProtocolName(protocol);
  return s;
}

std::string Route::ToString(std::string_view dev) const {
  std::string s;
  switch (type) {
    case kRouteTypeUnicast:
      break;
    case kRouteTypeBlackhole:
      s = "blackhole ";
      break;
    case kRouteTypeUnreachable:
      s = "unreachable ";
      break;
    case kRouteTypeProhibit:
      s = "prohibit ";
      break;
    case kRouteTypeThrow:
      s = "throw ";
      break;
    default:
      s = "type " + std::to_string(type) + " ";
  }
  s += dst.ToString();
  if (gateway) s += " via " + gateway->ToString();
  if (link_index != 0) s += " " + Dev(link_index, dev);
  if (onlink) s += " onlink";
  if (table != kMainTable) s += " table " + std::to_string(table);
  if (metric != 0) s += " metric " + std::to_string(metric);
  if (protocol != kTartanRouteProtocol) s += " proto " + ProtocolName(protocol);
  if (scope == RouteScope::kLink) s += " scope link";
  if (scope == RouteScope::kHost) s += " scope host";
  return s;
}

std::string Neighbour::ToString(std::string_view dev) const {
  std::string s = ip.ToString();
  if (!mac.IsZero()) s += " lladdr " + mac.ToString();
  s += " " + Dev(link_index, dev);
  s += permanent() ? " permanent" : " state " + Hex(state);
  return s;
}

std::string FdbEntry::ToString(std::string_view dev) const {
  std::string s = mac.ToString() + " dst " + dst.ToString() + " " + Dev(link_index, dev);
  if (self) s += " self";
  if (permanent) s += " permanent";
  return s;
}

std::string Address::ToString(std::string_view dev) const {
  return net.ToString() + " " + Dev(link_index, dev);
}

std::string Link::ToString() const {
  std::string s = name.empty() ? "#" + std::to_string(index) : name;
  s += " (#" + std::to_string(index);
  if (!kind.empty()) s += ", " + kind;
  if (vxlan) s += " vni " + std::to_string(vxlan->vni);
  if (mtu != 0) s += ", mtu " + std::to_string(mtu);
  s += ")";
  return s;
}

}  // namespace tartan::kernel
