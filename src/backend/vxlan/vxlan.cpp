#include "backend/vxlan/vxlan.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/log.hpp"

namespace tartan::backend {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Go's encoding/json: an exact-case key wins, else any case-insensitive match.
const nlohmann::json* Field(const nlohmann::json& obj, std::string_view name) {
  if (!obj.is_object()) return nullptr;
  if (auto it = obj.find(std::string(name)); it != obj.end()) return &*it;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (EqualsIgnoreCase(it.key(), name)) return &*it;
  }
  return nullptr;
}

Result<int64_t> IntField(const nlohmann::json& v, std::string_view name, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) {
    return Error::InvalidArgument("Backend." + std::string(name) + " must be a whole number");
  }
  int64_t n = v.get<int64_t>();
  if (n < lo || n > hi) {
    return Error::InvalidArgument("Backend." + std::string(name) + " " + std::to_string(n) +
                                  " is out of range " + std::to_string(lo) + "-" +
                                  std::to_string(hi));
  }
  return n;
}

Result<bool> BoolField(const nlohmann::json& v, std::string_view name) {
  if (!v.is_boolean()) {
    return Error::InvalidArgument("Backend." + std::string(name) + " must be true or false");
  }
  return v.get<bool>();
}

}  // namespace

Result<VxlanConfig> VxlanConfig::FromBackend(const nlohmann::json& backend) {
  VxlanConfig c;
  if (const auto* v = Field(backend, "VNI")) {
    auto n = IntField(*v, "VNI", 0, 16777215);
    if (!n.ok()) return n.error();
    c.vni = static_cast<uint32_t>(*n);
  }
  if (const auto* v = Field(backend, "Port")) {
    auto n = IntField(*v, "Port", 0, 65535);
    if (!n.ok()) return n.error();
    c.port = *n == 0 ? kernel::kVxlanDefaultPort : static_cast<uint16_t>(*n);
  }
  if (const auto* v = Field(backend, "MTU")) {
    auto n = IntField(*v, "MTU", 0, 65535);
    if (!n.ok()) return n.error();
    if (*n != 0) {
      if (*n < 576)
        return Error::InvalidArgument("Backend.MTU " + std::to_string(*n) + " is below 576");
      c.mtu = static_cast<uint32_t>(*n);
    }
  }
  struct {
    const char* name;
    bool* out;
  } flags[] = {{"GBP", &c.gbp}, {"Learning", &c.learning}, {"DirectRouting", &c.direct_routing}};
  for (auto& f : flags) {
    if (const auto* v = Field(backend, f.name)) {
      auto b = BoolField(*v, f.name);
      if (!b.ok()) return b.error();
      *f.out = *b;
    }
  }
  if (const auto* v = Field(backend, "TxChecksumOffload")) {
    if (v->is_boolean()) {
      c.tx_checksum_offload = v->get<bool>() ? TxChecksumOffload::kOn : TxChecksumOffload::kOff;
    } else if (v->is_string() && EqualsIgnoreCase(v->get<std::string>(), "auto")) {
      c.tx_checksum_offload = TxChecksumOffload::kAuto;
    } else {
      return Error::InvalidArgument("Backend.TxChecksumOffload must be true, false or \"auto\"");
    }
  }
  return c;
}

bool KernelNeedsTxChecksumWorkaround(std::string_view release) {
  int major = 0, minor = 0;
  auto [p1, e1] = std::from_chars(release.data(), release.data() + release.size(), major);
  if (e1 != std::errc{} || p1 == release.data() + release.size() || *p1 != '.') return false;
  auto [p2, e2] = std::from_chars(p1 + 1, release.data() + release.size(), minor);
  if (e2 != std::errc{}) return false;
  return major < 5 || (major == 5 && minor < 7);
}

Result<std::unique_ptr<VxlanBackend>> VxlanBackend::Create(
    const VxlanConfig& config, const ExternalInterface& ext, kernel::Rtnl& rtnl,
    std::function<uint64_t()> random,
    std::function<Status(const std::string& dev, bool on)> set_tx_offload,
    std::string_view kernel_release) {
  bool offload_off = config.tx_checksum_offload == VxlanConfig::TxChecksumOffload::kOff ||
                     (config.tx_checksum_offload == VxlanConfig::TxChecksumOffload::kAuto &&
                      KernelNeedsTxChecksumWorkaround(kernel_release));
  std::unique_ptr<VxlanBackend> be(new VxlanBackend(config, ext, rtnl, std::move(random),
                                                    std::move(set_tx_offload), offload_off));
  be->device_name_ = "flannel." + std::to_string(config.vni);
  auto mtu = DeviceMtu(config, ext);
  if (!mtu.ok()) return mtu.error();
  be->mtu_ = *mtu;
  if (offload_off) {
    log::Info(std::string("vxlan: TX checksum offload will be turned off on ") + be->device_name_ +
              (config.tx_checksum_offload == VxlanConfig::TxChecksumOffload::kOff
                   ? " (TxChecksumOffload false)"
                   : " (kernel " + std::string(kernel_release) +
                         " < 5.7 corrupts checksums of double-NATed vxlan packets)"));
  }
  if (Status s = be->EnsureDevice(); !s.ok()) return s.error();
  return be;
}

Result<uint32_t> VxlanBackend::DeviceMtu(const VxlanConfig& config, const ExternalInterface& ext) {
  // Backend.MTU, like the interface's MTU it replaces, is the size of the outer packets (as in
  // flannel); the device is smaller by the 50 bytes of outer Ethernet, IPv4, UDP and VXLAN
  // headers, so a full-size pod packet still fits once encapsulated.
  const uint32_t outer = config.mtu.value_or(ext.mtu);
  if (outer <= kVxlanOverhead) {
    return Error::InvalidArgument(
        (config.mtu ? "Backend.MTU " : "interface " + ext.name + " MTU ") + std::to_string(outer) +
        " leaves no room for vxlan's " + std::to_string(kVxlanOverhead) + " bytes of headers");
  }
  return outer - kVxlanOverhead;
}

Status VxlanBackend::Rebind(const ExternalInterface& ext) {
  auto mtu = DeviceMtu(config_, ext);
  if (!mtu.ok()) return mtu.error();
  // Only the device's attributes are compared (Compatible), so the device bound to the old
  // link or address is replaced at the next pass; mac_ is set, so the new one keeps the MAC
  // peers know and the lease needs no update for it. (A deleted underlay took the device
  // with it: then it is simply made again.)
  ext_ = ext;
  mtu_ = *mtu;
  return Status::Ok();
}

kernel::Link VxlanBackend::Spec() const {
  kernel::Link spec;
  spec.name = device_name_;
  spec.kind = "vxlan";
  spec.mtu = mtu_;
  spec.mac = mac_;
  kernel::VxlanAttrs v;
  v.vni = config_.vni;
  // flanneld sources VXLAN from the interface's own address; the public IP (which may be a
  // NAT address the host does not own) is only what peers are told, in the lease.
  v.local = ext_.iface_addr;
  v.underlay_index = ext_.index;
  v.port = config_.port;
  v.learning = config_.learning;
  v.gbp = config_.gbp;
  spec.vxlan = v;
  return spec;
}

bool VxlanBackend::Compatible(const kernel::Link& link) const {
  if (link.kind != "vxlan" || !link.vxlan) return false;
  const kernel::Link spec = Spec();
  const kernel::VxlanAttrs& want = *spec.vxlan;
  const kernel::VxlanAttrs& have = *link.vxlan;
  return have.vni == want.vni && have.local == want.local &&
         have.underlay_index == want.underlay_index && have.port == want.port &&
         have.learning == want.learning && have.gbp == want.gbp;
}

Status VxlanBackend::EnsureDevice() {
  auto link = rtnl_.GetLinkByName(device_name_);
  bool created = false;
  if (link.ok() && !Compatible(*link)) {
    // Expected, not alarming: the device still points at the external interface as it was
    // before it changed (Rebind), or was left by a run with other settings. Making it again
    // (with the MAC peers know) is how it follows; nothing is lost that the next pass does not
    // restore.
    log::Info("vxlan: replacing " + link->ToString() +
              ": made for another external interface, address or config; now vni " +
              std::to_string(config_.vni) + ", local " + ext_.iface_addr.ToString() + ", dev " +
              ext_.name + ", port " + std::to_string(config_.port));
    if (mac_.IsZero()) mac_ = link->mac;  // keep the MAC peers already know, if we can
    if (Status s = rtnl_.DeleteLink(link->index); !s.ok()) return s;
    link = Error::NotFound(device_name_);
  }
  if (!link.ok()) {
    if (link.error().code != Error::Code::kNotFound) return link.error();
    kernel::Link spec = Spec();
    if (spec.mac.IsZero()) spec.mac = net::Mac::LocallyAdministered(random_());
    auto made = rtnl_.CreateLink(spec);
    if (!made.ok()) return made.error();
    link = *made;
    created = true;
    log::Info("vxlan: created " + made->ToString() + " mac " + made->mac.ToString());
  }
  device_index_ = link->index;
  if (mac_.IsZero()) {
    mac_ = link->mac;
  } else if (link->mac != mac_) {
    if (Status s = rtnl_.SetLinkMac(device_index_, mac_); !s.ok()) {
      // Keep what the device has; the lease is re-published with it.
      log::Warning("vxlan: could not restore MAC " + mac_.ToString() + " on " + device_name_ +
                   ": " + s.error().message + "; publishing " + link->mac.ToString());
      mac_ = link->mac;
    }
  }
  if (link->mtu != mtu_) {
    if (Status s = rtnl_.SetLinkMtu(device_index_, mtu_); !s.ok()) return s;
  }
  if (!link->up) {
    if (Status s = rtnl_.SetLinkUp(device_index_, true); !s.ok()) return s;
  }
  if (created && offload_off_ && set_tx_offload_) {
    if (Status s = set_tx_offload_(device_name_, false); !s.ok()) {
      log::Warning("vxlan: turning TX checksum offload off on " + device_name_ + ": " +
                   s.error().message);
    }
  }
  return Status::Ok();
}

Status VxlanBackend::EnsureDevices(const model::Lease& own, bool& republish) {
  const net::Mac before = mac_;
  if (Status s = EnsureDevice(); !s.ok()) return s;
  republish = mac_ != before;

  // The device carries <lease .0>/32 and nothing else (flannel's layout; the address is the
  // source of packets the host itself sends into the overlay).
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

std::string VxlanBackend::backend_data() const {
  return "{\"VNI\":" + std::to_string(config_.vni) + ",\"VtepMAC\":\"" + mac_.ToString() + "\"}";
}

DesiredState VxlanBackend::Desired(const model::Lease& own,
                                   const std::vector<model::Lease>& peers) const {
  return VxlanDesired(config_, ext_, device_index_, own, peers);
}

DesiredState VxlanBackend::DesiredPeer(const model::Lease& own, const model::Lease& peer) const {
  DesiredState out;
  VxlanAppendPeer(config_, ext_, device_index_, own, peer, out);
  return out;
}

DesiredState VxlanDesired(const VxlanConfig& config, const ExternalInterface& ext, int device_index,
                          const model::Lease& own, const std::vector<model::Lease>& peers) {
  DesiredState out;
  for (const model::Lease& peer : peers) VxlanAppendPeer(config, ext, device_index, own, peer, out);
  return out;
}

void VxlanAppendPeer(const VxlanConfig& config, const ExternalInterface& ext, int device_index,
                     const model::Lease& own, const model::Lease& peer, DesiredState& out) {
  if (peer.subnet == own.subnet || peer.attrs.backend_type != "vxlan") return;
  const auto address = PeerAddress(peer, ext, "vxlan", out.problems);
  if (!address) return;
  const net::Ip4 ip = *address;
  const std::string subnet = peer.subnet.ipv4.ToString();
  if (config.direct_routing && ext.OnLink(ip)) {
    out.routes.push_back(kernel::Route::Via(peer.subnet.ipv4, ip, ext.index));
    return;
  }
  // BackendData: {"VNI":1,"VtepMAC":"…"} now, {"VtepMAC":"…"} from flannel v0.11.
  std::optional<net::Mac> mac;
  auto data = nlohmann::json::parse(peer.attrs.backend_data, nullptr, /*allow_exceptions=*/false);
  if (const auto* m = Field(data, "VtepMAC"); m && m->is_string()) {
    if (auto parsed = net::Mac::Parse(m->get<std::string>()); parsed.ok()) mac = *parsed;
  }
  if (!mac) {
    out.problems.push_back(
        "vxlan peer " + subnet + " at " + ip.ToString() + " has no valid VtepMAC in BackendData (" +
        (peer.attrs.backend_data.empty() ? "empty" : peer.attrs.backend_data) + "); no route");
    return;
  }
  const net::Ip4 vtep = peer.subnet.ipv4.ip();  // the peer's flannel.<VNI> holds <subnet .0>/32
  out.neighbours.push_back(kernel::Neighbour{vtep, *mac, device_index});
  out.fdb.push_back(kernel::FdbEntry{*mac, ip, device_index});
  out.routes.push_back(kernel::Route::ViaOnlink(peer.subnet.ipv4, vtep, device_index));
}

}  // namespace tartan::backend
