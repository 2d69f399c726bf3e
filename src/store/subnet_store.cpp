#include "store/subnet_store.hpp"

#include <condition_variable>
#include <mutex>
#include <random>

#include "common/log.hpp"
#include "common/log_limit.hpp"
#include "store/lease_logic.hpp"
#include "store/lease_watcher.hpp"

namespace tartan::store {

namespace {

class RegistrySubnetStore : public SubnetStore {
 public:
  RegistrySubnetStore(std::shared_ptr<Registry> registry, StoreOptions options)
      : registry_(std::move(registry)), opts_(std::move(options)), garbage_(opts_.log) {}

  void Shutdown() override { registry_->Shutdown(); }

  Result<model::NetworkConfig> GetNetworkConfig(std::stop_token stop,
                                                std::chrono::milliseconds retry) override {
    const std::string key = ConfigKey();
    // Say why on the first miss, at once when the reason changes (etcd came up but the key is
    // missing), and then at a slowing rate -- not on every poll.
    log::RepeatedProblem waiting("network config " + key);
    while (true) {
      auto kv = registry_->Get(key);
      if (kv && *kv) {
        if (auto line = waiting.Succeeded()) Log(*line);
        auto config = model::NetworkConfig::Parse((*kv)->value);
        if (!config) return config.error().Context("network config at " + key);
        return config;
      }
      std::optional<std::string> line;
      if (!kv) {
        line = waiting.Failed("cannot be read, retrying: " + kv.error().message, "unreachable");
      } else {
        // etcd's v2 and v3 key spaces are separate: the likeliest mistake is the other API.
        const bool v2 = registry_->LeaseValueShape() == model::LeaseShape::kV011;
        line = waiting.Failed(
            "not found in " + registry_->Describe() +
                (v2 ? ", waiting. Did you create it with the etcd v2 API? A config written with "
                      "ETCDCTL_API=3 'etcdctl put' is invisible to v2; use ETCDCTL_API=2 "
                      "'etcdctl set'."
                    : ", waiting. Did you create it with the etcd v3 API? A config written with "
                      "ETCDCTL_API=2 'etcdctl set' is invisible to v3; use ETCDCTL_API=3 "
                      "'etcdctl put'."),
            "missing");
      }
      if (line) Log(*line);
      if (!SleepFor(retry, stop)) return Error::Cancelled("stopped while waiting for " + key);
    }
  }

  Result<LeaseSnapshot> ListLeases() override {
    const std::string dir = SubnetsDir(opts_.prefix);
    auto listing = registry_->List(dir);
    if (!listing) return listing.error();
    LeaseSnapshot snap;
    snap.revision = listing->revision;
    for (const KeyValue& kv : listing->kvs) {
      auto lease = ParseLease(kv, dir);
      if (!lease) {
        garbage_.Report(kv, lease.error());
        continue;
      }
      snap.leases.push_back(std::move(lease).value());
    }
    return snap;
  }

  Result<model::Lease> AcquireLease(const model::NetworkConfig& config,
                                    const AcquireRequest& request, std::stop_token stop) override {
    if (!request.attrs.public_ip && !request.attrs.public_ipv6) {
      return Error::InvalidArgument("acquiring a lease needs our public IP");
    }
    auto delay = opts_.backoff.initial;
    log::RepeatedProblem unavailable("acquiring a lease");
    std::string watching_said;
    while (true) {
      std::unique_lock guard_lock(guard_mu_);
      guard_.ClearWatching();
      guard_.set_granted(request.ttl);
      auto lease = AcquireLeaseOnce(*registry_, opts_.prefix, config, request, Random(),
                                    opts_.max_create_attempts, opts_.log, garbage_, &guard_);
      const std::optional<DupIpVerdict> watching = guard_.watching();
      guard_lock.unlock();
      if (!lease && watching) {
        // Said once per lease: the wait is at most DupIpWindow(), the verdict is logged next.
        if (lease.error().message != watching_said) {
          watching_said = lease.error().message;
          Log(watching_said + " (for up to " +
              std::to_string(DupIpWindow(HeartbeatPeriod()).count()) + "s)");
        }
        // One reading per heartbeat sees a refresh; the last one at the window's end.
        const auto now = std::chrono::steady_clock::now();
        const auto next = std::min<std::chrono::steady_clock::time_point>(watching->recheck_at,
                                                                          now + HeartbeatPeriod());
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
        if (!SleepFor(std::max(wait, std::chrono::milliseconds(100)), stop)) {
          return Error::Cancelled("stopped while acquiring a lease");
        }
        continue;
      }
      if (lease || lease.error().code != Error::Code::kUnavailable) {
        if (auto line = unavailable.Succeeded()) Log(*line);
        return lease;
      }
      if (auto line = unavailable.Failed("the store did not answer, retrying with backoff: " +
                                         lease.error().message)) {
        Log(*line);
      }
      if (!SleepFor(delay, stop)) return Error::Cancelled("stopped while acquiring a lease");
      delay = std::min(delay * 2, opts_.backoff.max);
    }
  }

  std::chrono::seconds HeartbeatPeriod() const override {
    return std::max(kMinHeartbeat,
                    opts_.heartbeat.count() > 0 ? opts_.heartbeat : registry_->HeartbeatPeriod());
  }

  Result<model::Lease> RenewLease(const model::Lease& lease) override {
    return RenewLeaseOnce(*registry_, opts_.prefix, lease);
  }

  std::unique_ptr<LeaseWatch> WatchLeases(std::stop_token stop) override {
    return std::make_unique<RegistryLeaseWatch>(registry_, opts_.prefix, opts_.log, opts_.backoff,
                                                stop, opts_.store_check, opts_.on_settled,
                                                opts_.settle_after);
  }

 private:
  std::string ConfigKey() const {
    std::string key = opts_.prefix;
    while (!key.empty() && key.back() == '/') key.pop_back();
    return key + "/config";
  }
  void Log(const std::string& line) const {
    if (opts_.log) opts_.log(line);
  }
  model::RandomIndex Random() {
    if (opts_.random_index) return opts_.random_index;
    return [this](uint64_t n) {
      std::lock_guard lock(rng_mu_);
      return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_);
    };
  }

  std::shared_ptr<Registry> registry_;
  StoreOptions opts_;
  GarbageLog garbage_;
  std::mutex guard_mu_;
  // Its readings persist across calls: the agent retries a refused acquisition, and each
  // attempt adds one, so a holder that stops renewing is noticed.
  SharedIpGuard guard_{HeartbeatPeriod(), std::chrono::seconds(86400)};
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

LogFn StderrLog() {
  return [](std::string_view line) { log::Info(line); };
}

bool SleepFor(std::chrono::milliseconds d, const std::stop_token& stop) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  return !cv.wait_for(lock, stop, d, [] { return false; }) && !stop.stop_requested();
}

std::unique_ptr<SubnetStore> NewSubnetStore(std::shared_ptr<Registry> registry,
                                            StoreOptions options) {
  if (!options.log) options.log = StderrLog();
  return std::make_unique<RegistrySubnetStore>(std::move(registry), std::move(options));
}

Status KeepLeaseAlive(SubnetStore& store, model::Lease lease, std::chrono::seconds margin,
                      std::stop_token stop,
                      const std::function<void(const model::Lease&)>& on_renewed, const LogFn& log,
                      Backoff backoff, std::chrono::seconds heartbeat) {
  using Clock = std::chrono::system_clock;
  auto delay = backoff.initial;
  bool failing = false;
  // The store may stay unreachable for hours: a line when renewals start failing, a few while
  // they do, one when a renewal succeeds again.
  log::RepeatedProblem renewals("renewing the lease " + lease.subnet.ToString());
  while (true) {
    std::chrono::milliseconds wait{0};
    if (failing) {
      wait = delay;
      delay = std::min(delay * 2, backoff.max);
    } else if (lease.expiration) {
      auto due = *lease.expiration - margin;
      wait = std::max(std::chrono::milliseconds(0),
                      std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()));
      // A renewal resets the TTL: done often, it shows other hosts that we are alive.
      if (heartbeat.count() > 0) wait = std::min<std::chrono::milliseconds>(wait, heartbeat);
    } else {
      // A reservation does not expire; check it periodically so a revocation is still noticed.
      wait = std::chrono::minutes(5);
    }
    if (!SleepFor(wait, stop)) return Error::Cancelled("lease renewal stopped");
    auto renewed = store.RenewLease(lease);
    if (renewed) {
      if (auto line = renewals.Succeeded(); line && log) log(*line);
      failing = false;
      delay = backoff.initial;
      lease = std::move(renewed).value();
      if (on_renewed) on_renewed(lease);
      continue;
    }
    if (renewed.error().code == Error::Code::kNotFound) return renewed.error();
    if (auto line = renewals.Failed("retrying with backoff: " + renewed.error().message);
        line && log) {
      log(*line);
    }
    failing = true;
  }
}

}  // namespace tartan::store
