// Two hosts must not share a subnet because they were given the same public IP (issue #10,
// docs/adr/0013). flannel reuses any lease whose PublicIP is ours; tartan only does so when
// the lease is provably ours (the owner record written at acquisition), or when nobody has
// refreshed it for two heartbeat periods (its owner is gone: our own reboot, or a host that
// left). A lease that someone keeps refreshing belongs to a running host: it is not taken.
//
// The decision is a pure function of what was observed; the store collects the observations
// (Registry::RemainingTtl) and the agent keeps the record beside subnet.env.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "model/lease.hpp"

namespace tartan::store {

// One reading of the seconds a live lease has left, and when we took it (steady clock).
struct TtlSample {
  std::chrono::steady_clock::time_point at;
  std::chrono::seconds remaining{0};
};

struct DupIpInput {
  // The owner record names this very key and lease identity: the lease is ours.
  bool recorded_as_ours = false;
  // Readings of this lease (same key, same identity), oldest first.
  std::vector<TtlSample> samples;
  // The TTL a refresh resets the lease to. etcd does not say it for v2 keys; the callers use
  // the TTL they grant themselves (flannel's 24 h). A lease granted with more looks fresher
  // than it is (we wait longer); one granted with less may be taken over early, as before.
  std::chrono::seconds granted{86400};
  // How often a running tartand refreshes its lease; two periods without a refresh mean the
  // owner is gone.
  std::chrono::seconds heartbeat{10};
  std::chrono::steady_clock::time_point now;
};

struct DupIpVerdict {
  enum class Kind {
    kOurs,            // recorded as ours: reuse at once
    kOwnerGone,       // not refreshed within the window: take it over
    kWatch,           // refreshed recently, not yet seen refreshed again: look again later
    kOtherHostAlive,  // seen refreshed while we watched: another running host owns it
  };
  Kind kind = Kind::kWatch;
  // kWatch/kOtherHostAlive: when the window since the last refresh ends (look again then).
  std::chrono::steady_clock::time_point recheck_at;
  // The estimated time since the lease was last refreshed.
  std::chrono::seconds since_refresh{0};
};

// Rules. A reading says the lease was last refreshed at `at - (granted - remaining)`; between
// refreshes that estimate stays put (within etcd's whole seconds and our request's latency,
// kDupIpTolerance), whatever `granted` really is; a refresh moves it forward by at least one
// heartbeat. So:
// - an estimate later than every earlier one by more than the tolerance is a refresh seen
//   while watching;
// - the owner is gone when the latest estimate is at least DupIpWindow() before `now`;
//   otherwise a refresh seen while watching means another live host.
DupIpVerdict DecideDupIp(const DupIpInput& in);

inline constexpr std::chrono::seconds kDupIpTolerance{2};
// The heartbeat must move the estimate by more than the tolerance.
inline constexpr std::chrono::seconds kMinHeartbeat{3};
// The window after which an unrefreshed lease is taken over.
std::chrono::seconds DupIpWindow(std::chrono::seconds heartbeat);

// What tartand remembers about the lease it holds, in a file beside subnet.env (whose format
// is flannel's and is read by CNI): the subnet and the store's identity of the lease
// (Registry::OwnerToken: the etcd v3 lease ID, the v2 key's createdIndex).
struct OwnerRecord {
  model::SubnetKey subnet;
  int64_t token = 0;

  std::string Format() const;
  static Result<OwnerRecord> Parse(std::string_view text);
  bool operator==(const OwnerRecord&) const = default;
};

// "<subnet file>.lease"
std::string OwnerRecordPath(const std::string& subnet_file);
// Atomic (temp file + rename); the directory must exist (subnet.env's, written first).
Status WriteOwnerRecord(const std::string& path, const OwnerRecord& record);
// kNotFound when absent; kInvalidArgument when unreadable garbage.
Result<OwnerRecord> ReadOwnerRecord(const std::string& path);

}  // namespace tartan::store
