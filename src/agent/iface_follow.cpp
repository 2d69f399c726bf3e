#include "agent/iface_follow.hpp"

#include <vector>

namespace tartan::agent {
namespace {

std::string Nets(const std::vector<net::Ip4Net>& nets) {
  std::string out;
  for (const auto& n : nets) out += (out.empty() ? "" : " ") + n.ToString();
  return out.empty() ? "none" : out;
}

}  // namespace

IfaceDecision DecideIface(const backend::ExternalInterface& in_use, bool waiting,
                          const IfaceNow& now) {
  IfaceDecision d;
  if (!now.selected.ok()) {
    d.action = IfaceDecision::Action::kWait;
    // Deleted (the common case: the link is being made again) is told apart from a link that
    // exists but does not qualify (no address yet, MTU 0), so /readyz says which.
    d.reason = now.name_exists ? "interface " + in_use.name + " is not usable (" +
                                     now.selected.error().message + "); waiting for it"
                               : "interface " + in_use.name + " is gone; waiting for it (" +
                                     now.selected.error().message + ")";
    return d;
  }
  const backend::ExternalInterface& sel = *now.selected;
  if (!now.up) {
    // Down, the kernel has dropped the routes through it and refuses new ones: programming
    // would fail on every pass.
    d.action = IfaceDecision::Action::kWait;
    d.reason = "interface " + sel.name + " is down; waiting for it to come up";
    return d;
  }
  std::string changes;
  auto note = [&changes](const std::string& what, const std::string& from, const std::string& to) {
    changes += (changes.empty() ? "" : ", ") + what + " " + from + " -> " + to;
  };
  if (sel.name != in_use.name) note("interface", in_use.name, sel.name);
  if (sel.index != in_use.index) {
    note("index", std::to_string(in_use.index), std::to_string(sel.index));
  }
  if (sel.iface_addr != in_use.iface_addr) {
    note("address", in_use.iface_addr.ToString(), sel.iface_addr.ToString());
  }
  if (sel.public_ip != in_use.public_ip) {
    note("public IP", in_use.public_ip.ToString(), sel.public_ip.ToString());
  }
  if (sel.mtu != in_use.mtu) note("mtu", std::to_string(in_use.mtu), std::to_string(sel.mtu));
  if (sel.connected != in_use.connected) {
    note("connected networks", Nets(in_use.connected), Nets(sel.connected));
  }
  if (changes.empty()) {
    d.action = waiting ? IfaceDecision::Action::kResume : IfaceDecision::Action::kKeep;
    return d;
  }
  d.action = IfaceDecision::Action::kRebind;
  d.ext = sel;
  d.changes = std::move(changes);
  d.public_ip_changed = sel.public_ip != in_use.public_ip;
  return d;
}

IfaceNow LookAtInterface(kernel::Rtnl& rtnl, const IfaceChoice& choice,
                         const backend::ExternalInterface& in_use) {
  IfaceNow now;
  const bool by_route = choice.iface.empty() && choice.iface_regex.empty();
  auto same = by_route ? rtnl.GetLink(in_use.index) : Result<kernel::Link>(Error::NotFound(""));
  if (same.ok() && same->name == in_use.name) {
    now.selected = DescribeInterface(rtnl, *same, std::nullopt, choice);
  } else {
    now.selected = SelectExternalInterface(rtnl, choice);
  }
  if (now.selected.ok()) {
    auto link = rtnl.GetLink(now.selected->index);
    now.up = link.ok() && link->up;
  }
  auto named = rtnl.GetLinkByName(in_use.name);
  // An error other than "no such link" says nothing about its existence: not called gone.
  now.name_exists = named.ok() || named.error().code != Error::Code::kNotFound;
  return now;
}

bool MayConcernInterface(const kernel::KernelEvent& e, const backend::ExternalInterface& in_use,
                         bool waiting) {
  using Kind = kernel::KernelEvent::Kind;
  switch (e.kind) {
    case Kind::kResyncNeeded:
      return true;
    case Kind::kLink:
      if (waiting) return true;
      if (const auto* l = std::get_if<kernel::Link>(&e.object)) {
        return l->index == in_use.index || l->name == in_use.name;
      }
      return true;
    case Kind::kAddress:
      if (waiting) return true;
      if (const auto* a = std::get_if<kernel::Address>(&e.object)) {
        return a->link_index == in_use.index;
      }
      return true;
    case Kind::kRoute:
      // A default route coming back matters to a choice made by it; otherwise routes (most of
      // them our own) do not move the interface.
      return waiting;
    case Kind::kNeighbour:
    case Kind::kFdb:
    case Kind::kNexthop:
      return false;
  }
  return true;
}

}  // namespace tartan::agent
