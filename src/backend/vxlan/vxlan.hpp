// vxlan: the kernel VXLAN device flannel.<VNI> with a permanent neighbour and FDB entry per
// peer, and DirectRouting's plain routes for peers on the same L2 segment (compat doc
// section 7). Wire-compatible with flanneld: same device, port, VNI, MAC publication.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "backend/backend.hpp"
#include "kernel/rtnl.hpp"

namespace tartan::backend {

// Outer Ethernet (14), IPv4 (20), UDP (8) and VXLAN (8) headers around each pod packet.
inline constexpr uint32_t kVxlanOverhead = 50;

// The Backend object's vxlan keys, with flannel's defaults.
struct VxlanConfig {
  uint32_t vni = 1;
  uint16_t port = kernel::kVxlanDefaultPort;  // 0 in the config means the kernel's 8472
  bool gbp = false;
  bool learning = false;
  bool direct_routing = false;
  // Backend.MTU: the MTU of the outer packets (flannel v0.21.3+; v0.20 ignores the key), so
  // flannel.<VNI> and FLANNEL_MTU get mtu - kVxlanOverhead. Default: the external interface's.
  std::optional<uint32_t> mtu;
  // Turn TX checksum offload off on the device: the fix for kernels before 5.7, where vxlan
  // packets that kube-proxy double-NATs leave with a bad checksum (connections stall for
  // 63 s). kAuto does it only on such kernels, since offload off costs throughput.
  enum class TxChecksumOffload { kAuto, kOn, kOff };
  TxChecksumOffload tx_checksum_offload = TxChecksumOffload::kAuto;

  // Reads VNI, Port, GBP, Learning, DirectRouting, MTU (case-insensitive like flannel) and
  // tartan's "TxChecksumOffload": "auto" | true | false.
  static Result<VxlanConfig> FromBackend(const nlohmann::json& backend);
};

// Whether TX checksum offload must be disabled on a kernel of release `uname_release`
// ("5.4.0-150-generic"): true before 5.7, where the double-NAT checksum bug exists.
bool KernelNeedsTxChecksumWorkaround(std::string_view uname_release);

// The routes, neighbours and FDB entries a vxlan host wants for `peers`, its device being
// `device_index`: VxlanBackend::Desired, as a pure function of its inputs so that
// `tartanctl doctor` computes the same entries from etcd and the kernel without a backend.
DesiredState VxlanDesired(const VxlanConfig& config, const ExternalInterface& ext, int device_index,
                          const model::Lease& own, const std::vector<model::Lease>& peers);
// One peer's share of VxlanDesired, appended to `out` (the incremental path, docs/adr/0019).
void VxlanAppendPeer(const VxlanConfig& config, const ExternalInterface& ext, int device_index,
                     const model::Lease& own, const model::Lease& peer, DesiredState& out);

class VxlanBackend final : public Backend {
 public:
  // Creates flannel.<VNI> (or reuses a compatible one, keeping its MAC; an incompatible one is
  // replaced), sets its MTU and brings it up. `random` supplies MAC bits (injected for tests).
  // `set_tx_offload(index, on)` applies the offload choice (ethtool); may be empty in tests.
  static Result<std::unique_ptr<VxlanBackend>> Create(
      const VxlanConfig& config, const ExternalInterface& ext, kernel::Rtnl& rtnl,
      std::function<uint64_t()> random,
      std::function<Status(const std::string& dev, bool on)> set_tx_offload,
      std::string_view kernel_release);

  std::string_view lease_type() const override { return "vxlan"; }
  std::string_view name() const override {
    return config_.direct_routing ? "vxlan (DirectRouting)" : "vxlan";
  }
  std::string backend_data() const override;  // {"VNI":1,"VtepMAC":"…"}
  uint32_t mtu() const override { return mtu_; }
  std::vector<int> owned_links() const override { return {device_index_}; }
  DesiredState Desired(const model::Lease& own,
                       const std::vector<model::Lease>& peers) const override;
  DesiredState DesiredPeer(const model::Lease& own, const model::Lease& peer) const override;
  Status EnsureDevices(const model::Lease& own, bool& republish) override;
  // Takes the new interface (and the MTU it implies); the next EnsureDevices replaces
  // flannel.<VNI> when its underlay link or local address no longer match, keeping its MAC.
  Status Rebind(const ExternalInterface& ext) override;

  const std::string& device_name() const { return device_name_; }
  const net::Mac& mac() const { return mac_; }

 private:
  VxlanBackend(VxlanConfig config, ExternalInterface ext, kernel::Rtnl& rtnl,
               std::function<uint64_t()> random,
               std::function<Status(const std::string&, bool)> set_tx_offload, bool offload_off)
      : config_(config),
        ext_(std::move(ext)),
        rtnl_(rtnl),
        random_(std::move(random)),
        set_tx_offload_(std::move(set_tx_offload)),
        offload_off_(offload_off) {}

  kernel::Link Spec() const;
  bool Compatible(const kernel::Link& link) const;
  // Makes the device exist, compatible, with our MAC if possible, MTU set and up.
  Status EnsureDevice();
  // The device MTU for outer packets of Backend.MTU, else of `ext`'s MTU.
  static Result<uint32_t> DeviceMtu(const VxlanConfig& config, const ExternalInterface& ext);

  VxlanConfig config_;
  ExternalInterface ext_;
  kernel::Rtnl& rtnl_;
  std::function<uint64_t()> random_;
  std::function<Status(const std::string&, bool)> set_tx_offload_;
  bool offload_off_ = false;
  std::string device_name_;
  int device_index_ = 0;
  net::Mac mac_;
  uint32_t mtu_ = 0;
};

}  // namespace tartan::backend
