#include "backend/udp/udp.hpp"

#include <algorithm>
#include <cctype>

#include "common/log.hpp"

namespace tartan::backend {
namespace {

// Go's encoding/json: an exact-case key wins, else any case-insensitive match.
const nlohmann::json* Field(const nlohmann::json& obj, std::string_view name) {
  if (!obj.is_object()) return nullptr;
  if (auto it = obj.find(std::string(name)); it != obj.end()) return &*it;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& k = it.key();
    if (std::equal(k.begin(), k.end(), name.begin(), name.end(), [](char x, char y) {
          return std::tolower(static_cast<unsigned char>(x)) ==
                 std::tolower(static_cast<unsigned char>(y));
        })) {
      return &*it;
    }
  }
  return nullptr;
}

}  // namespace

Result<UdpConfig> UdpConfig::FromBackend(const nlohmann::json& backend) {
  UdpConfig c;
  if (const auto* v = Field(backend, "Port")) {
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > 65535) {
      return Error::InvalidArgument("Backend.Port must be a whole number in 0-65535, got " +
                                    v->dump());
    }
    if (v->get<int64_t>() != 0) c.port = static_cast<uint16_t>(v->get<int64_t>());
  }
  if (const auto* v = Field(backend, "Offload")) {
    if (!v->is_boolean()) return Error::InvalidArgument("Backend.Offload must be true or false");
    c.offload = v->get<bool>();
  }
  return c;
}

Result<std::unique_ptr<UdpBackend>> UdpBackend::Create(const UdpConfig& config,
                                                       const ExternalInterface& ext,
                                                       net::Ip4Net network, kernel::Rtnl& rtnl) {
  if (ext.mtu <= kUdpOverhead + 68) {
    return Error::InvalidArgument("udp: " + ext.name + "'s MTU " + std::to_string(ext.mtu) +
                                  " leaves no room for the 28-byte IP/UDP header");
  }
  auto dp = udp::DataPlane::Create(ext.iface_addr, config.port, config.offload);
  if (!dp.ok()) return dp.error();
  std::unique_ptr<UdpBackend> be(new UdpBackend(ext, network.Network(), rtnl, std::move(*dp)));
  be->offload_ = config.offload;
  if (Status s = be->OpenDevice(); !s.ok()) return s.error();
  log::Info("udp: " + std::string(kUdpDevice) + " (mtu " + std::to_string(be->mtu_) + ", " +
            std::to_string(be->dataplane_->queues()) + " queues), datagrams on " +
            ext.iface_addr.ToString() + ":" + std::to_string(config.port) +
            (config.offload ? ", offloads on" : ", offloads off"));
  return be;
}

Status UdpBackend::OpenDevice() {
  auto tun =
      kernel::TunDevice::OpenQueues(kUdpDevice, dataplane_->queues(), dataplane_->tun_flags());
  if (!tun.ok()) {
    return Error{tun.error().code,
                 tun.error().message + " (a flanneld or another tartand still holding it?)"};
  }
  auto link = rtnl_.GetLinkByName(tun->front().name());
  if (!link.ok()) return link.error();
  device_index_ = link->index;
  dataplane_->Attach(std::move(*tun));
  return Status::Ok();
}

Status UdpBackend::EnsureDevices(const model::Lease& own, bool& republish) {
  republish = false;  // the lease carries nothing of the device
  LogCounters();
  auto link = rtnl_.GetLinkByName(kUdpDevice);
  if (link.ok() && link->index != device_index_) {
    return Error::FailedPrecondition(std::string(kUdpDevice) + " (index " +
                                     std::to_string(link->index) +
                                     ") is not the TUN device tartand made; remove it");
  }
  if (!link.ok()) {
    if (link.error().code != Error::Code::kNotFound) return link.error();
    log::Warning("udp: " + std::string(kUdpDevice) + " is gone; creating it again");
    dataplane_->Stop();
    if (Status s = OpenDevice(); !s.ok()) return s;
    link = rtnl_.GetLink(device_index_);
    if (!link.ok()) return link.error();
  }
  if (link->mtu != mtu_) {
    if (Status s = rtnl_.SetLinkMtu(device_index_, mtu_); !s.ok()) return s;
  }
  if (!link->up) {
    if (Status s = rtnl_.SetLinkUp(device_index_, true); !s.ok()) return s;
  }
  // <lease .0>/32 and nothing else, as flannel lays it out: the source of packets the host
  // itself sends into the overlay.
  kernel::Address want{net::Ip4Net(own.subnet.ipv4.ip(), 32), device_index_};
  auto addrs = rtnl_.ListAddresses(device_index_);
  if (!addrs.ok()) return addrs.error();
  bool have = false;
  for (const kernel::Address& a : *addrs) {
    if (a.net == want.net) {
      have = true;
    } else if (Status s = rtnl_.DeleteAddress(a); !s.ok()) {
      return s;
    }
  }
  if (!have) {
    if (Status s = rtnl_.AddAddress(want);
        !s.ok() && s.error().code != Error::Code::kAlreadyExists) {
      return s;
    }
  }
  return Status::Ok();
}

Status UdpBackend::Rebind(const ExternalInterface& ext) {
  if (ext.mtu <= kUdpOverhead + 68) {
    return Error::InvalidArgument("udp: " + ext.name + "'s MTU " + std::to_string(ext.mtu) +
                                  " leaves no room for the 28-byte IP/UDP header");
  }
  if (ext.iface_addr != ext_.iface_addr) {
    // The socket is bound to the old address, gone from the host: datagrams could neither
    // leave from it nor arrive at it. The new one is bound first, so a failure keeps the old.
    auto dp = udp::DataPlane::Create(ext.iface_addr, dataplane_->port(), offload_);
    if (!dp.ok()) return dp.error();
    dataplane_->Stop();  // closes flannel0: the kernel removes it
    dataplane_ = std::move(*dp);
    dataplane_->SetPeers(writer_.table());  // the old workers are stopped: not shared
    drops_logged_ = {};
    ext_ = ext;
    mtu_ = ext.mtu - kUdpOverhead;
    if (Status s = OpenDevice(); !s.ok()) return s;
    log::Info("udp: datagrams on " + ext.iface_addr.ToString() + ":" +
              std::to_string(dataplane_->port()) + " now");
    return Status::Ok();
  }
  ext_ = ext;
  mtu_ = ext.mtu - kUdpOverhead;  // set on flannel0 by the next EnsureDevices
  return Status::Ok();
}

void UdpBackend::LogCounters() {
  const udp::Counters& c = dataplane_->counters();
  std::string line;
  for (size_t d = 0; d < drops_logged_.size(); ++d) {
    const uint64_t now = c.drops[d]->value();
    if (now == drops_logged_[d]) continue;
    line += " " + std::string(udp::DropName(static_cast<udp::Drop>(d))) + "=" +
            std::to_string(now) + " (+" + std::to_string(now - drops_logged_[d]) + ")";
    drops_logged_[d] = now;
  }
  if (line.empty()) return;
  log::Info("udp: packets dropped so far:" + line + "; sent " + std::to_string(c.udp_tx.value()) +
            ", received " + std::to_string(c.udp_rx.value()) + " datagrams");
}

std::optional<net::Ip4> UdpBackend::TableAddress(const model::Lease& own, const model::Lease& peer,
                                                 std::vector<std::string>& problems) const {
  if (peer.subnet == own.subnet) return std::nullopt;
  // A udp lease has no BackendType (flannel's and ours); "udp" is accepted as well. A vxlan
  // or host-gw peer would not understand our datagrams.
  if (!peer.attrs.backend_type.empty() && peer.attrs.backend_type != "udp") return std::nullopt;
  return PeerAddress(peer, ext_, "udp", problems);
}

void UdpBackend::HandOver(std::shared_ptr<const udp::PeerTable> table) {
  log::Debug(
      1, "udp: a new table with " + std::to_string(table->size()) + " peers handed to the workers");
  dataplane_->SetPeers(std::move(table));
}

void UdpBackend::Sync(const net::Ip4Net& subnet) const {
  // The smallest key with this IPv4 subnet: nullopt sorts before any IPv6 part.
  auto it = table_peers_.lower_bound(model::SubnetKey{subnet, std::nullopt});
  if (it != table_peers_.end() && it->first.ipv4 == subnet) {
    writer_.Set(subnet, it->second);
  } else {
    writer_.Remove(subnet);
  }
}

DesiredState UdpBackend::Desired(const model::Lease& own,
                                 const std::vector<model::Lease>& peers) const {
  DesiredState out;
  std::map<model::SubnetKey, net::Ip4> want;
  for (const model::Lease& peer : peers) {
    if (auto ip = TableAddress(own, peer, out.problems)) want.emplace(peer.subnet, *ip);
  }
  writer_.SetOwn(own.subnet.ipv4);
  // Only the entries that differ are touched: a full pass publishes nothing when the table is
  // already right, and the workers never see a table without a peer that stays.
  std::vector<net::Ip4Net> changed;
  for (const auto& [key, ip] : table_peers_) {
    auto it = want.find(key);
    if (it == want.end() || it->second != ip) changed.push_back(key.ipv4);
  }
  for (const auto& [key, ip] : want) {
    if (!table_peers_.contains(key)) changed.push_back(key.ipv4);
  }
  table_peers_ = std::move(want);
  for (const net::Ip4Net& subnet : changed) Sync(subnet);
  if (device_index_ != 0) out.routes.push_back(kernel::Route::Direct(network_, device_index_));
  return out;
}

DesiredState UdpBackend::DesiredPeer(const model::Lease& own, const model::Lease& peer) const {
  DesiredState out;
  TableAddress(own, peer, out.problems);
  return out;
}

void UdpBackend::PeerChanged(const model::Lease& own, const model::Lease* before,
                             const model::Lease* after) {
  std::vector<std::string> ignored;
  writer_.SetOwn(own.subnet.ipv4);
  if (before != nullptr) table_peers_.erase(before->subnet);
  if (after != nullptr) {
    if (auto ip = TableAddress(own, *after, ignored)) table_peers_[after->subnet] = *ip;
  }
  // A peer that moved (same subnet, new address) is one in-place update: no moment without it.
  if (before != nullptr && (after == nullptr || before->subnet.ipv4 != after->subnet.ipv4)) {
    Sync(before->subnet.ipv4);
  }
  if (after != nullptr) Sync(after->subnet.ipv4);
}

}  // namespace tartan::backend
