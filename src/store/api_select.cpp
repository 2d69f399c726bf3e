#include "store/api_select.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>

namespace tartan::store {
namespace {

Error NotChosen() {
  return Error::FailedPrecondition(
      "the etcd API is not chosen yet: the network config must be read first");
}

class NotChosenWatch : public LeaseWatch {
 public:
  Result<LeaseBatch> Next() override { return NotChosen(); }
};

// What one read of <prefix>/config in one key space found.
struct Look {
  enum class Found { kNotLooked, kPresent, kAbsent, kDisabled, kFailed };
  Found found = Found::kNotLooked;
  std::string error;  // kDisabled, kFailed
};

// `v2`: the v2 client's answer to an etcd without --enable-v2 is kFailedPrecondition.
Look LookIn(Registry* registry, const std::string& key, bool v2) {
  if (registry == nullptr) return {};
  auto kv = registry->Get(key);
  if (kv) return {*kv ? Look::Found::kPresent : Look::Found::kAbsent, {}};
  if (v2 && kv.error().code == Error::Code::kFailedPrecondition) {
    return {Look::Found::kDisabled, kv.error().message};
  }
  return {Look::Found::kFailed, kv.error().message};
}

class ApiSelectingStore : public SubnetStore {
 public:
  ApiSelectingStore(std::shared_ptr<Registry> v2, std::shared_ptr<Registry> v3, EtcdApi mode,
                    StoreOptions options)
      : v2_(mode == EtcdApi::kV3 ? nullptr : std::move(v2)),
        v3_(mode == EtcdApi::kV2 ? nullptr : std::move(v3)),
        mode_(mode),
        opts_(std::move(options)) {
    if (mode_ == EtcdApi::kV2) Choose(EtcdApi::kV2);
    if (mode_ == EtcdApi::kV3) Choose(EtcdApi::kV3);
  }

  void Shutdown() override {
    if (v2_) v2_->Shutdown();
    if (v3_) v3_->Shutdown();
  }

  std::string Api() const override {
    std::lock_guard lock(mu_);
    return api_;
  }

  Result<model::NetworkConfig> GetNetworkConfig(std::stop_token stop,
                                                std::chrono::milliseconds retry) override {
    if (announced_) return inner_->GetNetworkConfig(stop, retry);
    const std::string key = ConfigKey();
    // Like the plain store: say why on the first miss, when the reason changes, and then about
    // once a minute -- not on every poll.
    const int every = std::max<int>(1, static_cast<int>(std::chrono::seconds(60) / retry));
    int since_log = 0;
    std::string last_reason;
    while (true) {
      const Look v3 = LookIn(v3_.get(), key, false);
      const Look v2 = LookIn(v2_.get(), key, true);
      using F = Look::Found;
      std::optional<EtcdApi> choice;
      if (v3.found == F::kPresent) {
        choice = EtcdApi::kV3;
      } else if (v2.found == F::kPresent && (v3.found == F::kAbsent || !v3_)) {
        // Only once v3 answered: a v3 copy, had it one, would win.
        choice = EtcdApi::kV2;
      }
      if (choice) {
        if (mode_ == EtcdApi::kAuto) Choose(*choice);
        Announce(*choice, key, v3.found == F::kPresent && v2.found == F::kPresent);
        return inner_->GetNetworkConfig(stop, retry);
      }

      auto [reason, line] = Waiting(key, v2, v3);
      if (reason != last_reason || ++since_log >= every) {
        since_log = 0;
        last_reason = reason;
        Log(line);
      }
      if (!SleepFor(retry, stop)) return Error::Cancelled("stopped while waiting for " + key);
    }
  }

  Result<LeaseSnapshot> ListLeases() override {
    if (!inner_) return NotChosen();
    return inner_->ListLeases();
  }

  Result<model::Lease> AcquireLease(const model::NetworkConfig& config,
                                    const AcquireRequest& request, std::stop_token stop) override {
    if (!inner_) return NotChosen();
    return inner_->AcquireLease(config, request, stop);
  }

  std::chrono::seconds HeartbeatPeriod() const override {
    return inner_ ? inner_->HeartbeatPeriod() : std::chrono::seconds(0);
  }

  Result<model::Lease> RenewLease(const model::Lease& lease) override {
    if (!inner_) return NotChosen();
    return inner_->RenewLease(lease);
  }

  std::unique_ptr<LeaseWatch> WatchLeases(std::stop_token stop) override {
    if (!inner_) return std::make_unique<NotChosenWatch>();
    return inner_->WatchLeases(stop);
  }

 private:
  Registry& RegistryOf(EtcdApi api) const { return api == EtcdApi::kV2 ? *v2_ : *v3_; }

  void Choose(EtcdApi api) {
    inner_ = NewSubnetStore(api == EtcdApi::kV2 ? v2_ : v3_, opts_);
    std::lock_guard lock(mu_);
    api_ = std::string(ToString(api));
  }

  void Announce(EtcdApi api, const std::string& key, bool both) {
    announced_ = true;
    std::string line = "using the etcd " + std::string(ToString(api)) + " API";
    if (mode_ != EtcdApi::kAuto) line += " (--etcd-api=" + std::string(ToString(mode_)) + ")";
    line += ": network config found at " + key + " in " + RegistryOf(api).Describe();
    if (both) {
      line +=
          "; the etcd v2 key space holds a config too, which is ignored (v3 wins; delete the v2 "
          "copy, or pass --etcd-api=v2 to use it)";
    }
    Log(line);
  }

  // Why we are still waiting: a reason (what changes it resets the rate limit) and the line.
  std::pair<std::string, std::string> Waiting(const std::string& key, const Look& v2,
                                              const Look& v3) const {
    using F = Look::Found;
    for (const auto& [look, api] : {std::pair{&v3, "v3"}, std::pair{&v2, "v2"}}) {
      if (look->found != F::kFailed) continue;
      std::string line = "cannot read network config " + key;
      if (mode_ == EtcdApi::kAuto && v2_ && v3_)
        line += " with the etcd " + std::string(api) + " API";
      return {std::string("failed ") + api, line + ", retrying: " + look->error};
    }
    if (v2.found == F::kDisabled && mode_ == EtcdApi::kV2) {
      return {"v2 disabled",
              "cannot read network config " + key + " with the etcd v2 API, retrying: " + v2.error +
                  ". etcd serves the v2 API only when started with --enable-v2; a cluster "
                  "written with the v3 API needs --etcd-api=v3 (or auto)"};
    }
    const std::string where = "network config " + key + " not found in ";
    if (v3.found == F::kAbsent && v2.found == F::kAbsent) {
      return {"missing both",
              where + v3_->Describe() +
                  ", neither in the etcd v3 nor in the v2 key space; waiting. Create it with "
                  "ETCDCTL_API=3 'etcdctl put' (v3), or with ETCDCTL_API=2 'etcdctl set' (v2, "
                  "which etcd serves only when started with --enable-v2)."};
    }
    if (v3.found == F::kAbsent) {
      // v2 not available (disabled, or no v2 client): this is a v3 store, nothing more to say.
      return {"missing v3",
              where + v3_->Describe() +
                  ", waiting. Did you create it with the etcd v3 API? A config written with "
                  "ETCDCTL_API=2 'etcdctl set' is invisible to v3; use ETCDCTL_API=3 'etcdctl "
                  "put'."};
    }
    return {"missing v2",
            where + v2_->Describe() +
                " (etcd v2 key space), waiting. Create it with ETCDCTL_API=2 "
                "'etcdctl set'; a config written with ETCDCTL_API=3 'etcdctl put' is invisible "
                "to v2."};
  }

  std::string ConfigKey() const {
    std::string key = opts_.prefix;
    while (!key.empty() && key.back() == '/') key.pop_back();
    return key + "/config";
  }
  void Log(const std::string& line) const {
    if (opts_.log) opts_.log(line);
  }

  const std::shared_ptr<Registry> v2_;
  const std::shared_ptr<Registry> v3_;
  const EtcdApi mode_;
  const StoreOptions opts_;
  // Set by the caller of GetNetworkConfig before any lease call (the agent's order).
  std::unique_ptr<SubnetStore> inner_;
  bool announced_ = false;
  mutable std::mutex mu_;
  std::string api_;  // guarded by mu_: Api() may be asked from another thread
};

}  // namespace

std::string_view ToString(EtcdApi api) {
  switch (api) {
    case EtcdApi::kAuto:
      return "auto";
    case EtcdApi::kV2:
      return "v2";
    case EtcdApi::kV3:
      return "v3";
  }
  return "?";
}

Result<std::unique_ptr<SubnetStore>> NewApiSelectingStore(std::shared_ptr<Registry> v2,
                                                          std::shared_ptr<Registry> v3,
                                                          EtcdApi mode, StoreOptions options) {
  if (mode == EtcdApi::kV2 && !v2) {
    return Error::InvalidArgument("--etcd-api=v2: this tartand has no etcd v2 client");
  }
  if (mode == EtcdApi::kV3 && !v3) {
    return Error::InvalidArgument("--etcd-api=v3: this tartand has no etcd v3 client");
  }
  if (!v2 && !v3) return Error::InvalidArgument("no etcd client: neither v2 nor v3");
  if (!options.log) options.log = StderrLog();
  return std::unique_ptr<SubnetStore>(
      std::make_unique<ApiSelectingStore>(std::move(v2), std::move(v3), mode, std::move(options)));
}

}  // namespace tartan::store
