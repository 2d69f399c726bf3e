#include "agent/agent.hpp"

#include <poll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <system_error>
#include <thread>
#include <variant>

#include "agent/config_change.hpp"
#include "agent/iface_follow.hpp"
#include "agent/iface_select.hpp"
#include "agent/lease_worker.hpp"
#include "agent/observe.hpp"
#include "agent/pass_limiter.hpp"
#include "agent/peer_apply.hpp"
#include "agent/peer_table.hpp"
#include "agent/periodic_pass.hpp"
#include "agent/reconciler.hpp"
#include "backend/factory.hpp"
#include "common/log.hpp"
#include "common/log_limit.hpp"
#include "common/metrics.hpp"
#include "common/sd_notify.hpp"
#include "common/unique_fd.hpp"
#include "common/version.hpp"
#include "http/health_server.hpp"
#include "model/lease_filter.hpp"
#include "model/subnet_env.hpp"

namespace tartan::agent {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Full passes asked for by kernel notifications (docs/adr/0019): this many at once, then one
// per interval while they keep coming (a fight with another route controller).
constexpr int kKernelPassBurst = 4;
constexpr auto kKernelPassInterval = 250ms;
// The periodic full pass waits for this gap after the last lease event (see PeriodicPass), at
// most one resync period.
constexpr auto kPeriodicPassQuiet = 50ms;
// How long /status waits for the loop to finish what it is doing before it answers with the
// snapshot it rendered last.
constexpr auto kStatusWait = 250ms;
// The metric of the --ip-blackhole-route route. The pod bridge's connected route for the same
// subnet (cni0 or docker0 with the subnet's .1, metric 0) must keep winning while the bridge
// has its address, so the blackhole sits at a metric no network manager gives a device route;
// it is a route of its own beside that one (the kernel keys routes by destination and metric)
// and only carries the subnet when nothing else does: before the first pod, bridge deleted.
constexpr uint32_t kBlackholeMetric = 1000000;

// -v=1: the loop's steps that took this long are said, with what they kept waiting (how long
// lease events sat in the inbox): the lease-to-route delay's share that is tartan's.
constexpr auto kSlowStep = 2ms;

std::string Millis(Clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", std::chrono::duration<double, std::milli>(d).count());
  return buf;
}

// Times the loop's steps of one wake-up (real time, for the log only; off below -v=1).
class StepTimer {
 public:
  explicit StepTimer(bool on) : on_(on), at_(on ? Clock::now() : Clock::time_point{}) {}
  bool on() const { return on_; }
  void Mark(std::string_view step) {
    if (!on_) return;
    const auto now = Clock::now();
    if (now - at_ >= kSlowStep)
      log::Debug(1, "loop: " + std::string(step) + " took " + Millis(now - at_));
    at_ = now;
  }

 private:
  bool on_;
  Clock::time_point at_;
};

struct Revoked {
  Error why;
};
struct WatchFailed {
  Error why;
};
// The network config as re-read while running (see Config::config_recheck).
struct ConfigRead {
  Result<model::NetworkConfig> config;
};
// From the lease acquisition (lease_worker.hpp): the lease, or one failed attempt.
struct LeaseAcquired {
  model::Lease lease;
};
struct AcquireFailed {
  Error why;
};
// From the firewall check run off the loop (FirewallWorker): the keeper it checked, the report.
struct RulesChecked {
  uint64_t keeper = 0;  // which keeper (Agent::rules_serial_) was checked
  Result<firewall::EnsureReport> report;
};
// Each item carries the generation of the threads that posted it: after a re-acquisition or a
// watch restart, what the old threads still posted is stale and dropped.
struct InboxItem {
  uint64_t generation = 0;
  std::variant<store::LeaseBatch, Revoked, WatchFailed, ConfigRead, LeaseAcquired, AcquireFailed,
               RulesChecked>
      payload;
};

// What the store threads hand to the agent's thread; readable through an eventfd for poll().
class Inbox {
 public:
  Inbox() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  int fd() const { return fd_.get(); }
  void Push(InboxItem item) {
    {
      std::lock_guard lock(mu_);
      if (items_.empty()) oldest_ = std::chrono::steady_clock::now();
      items_.push_back(std::move(item));
    }
    Wake();
  }
  void Wake() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof one);
  }
  // Everything posted so far; `posted` tells when the oldest of it was (for -v=1).
  std::deque<InboxItem> Take(std::chrono::steady_clock::time_point& posted) {
    uint64_t count = 0;
    [[maybe_unused]] ssize_t n = ::read(fd_.get(), &count, sizeof count);
    std::lock_guard lock(mu_);
    posted = oldest_;
    return std::exchange(items_, {});
  }

 private:
  UniqueFd fd_;
  std::mutex mu_;
  std::deque<InboxItem> items_;
  std::chrono::steady_clock::time_point oldest_{};
};

// Runs the periodic firewall check on a thread of its own: iptables-save (and -restore when
// something is missing) are child processes that take 10-50 ms, and the lease events and
// kernel notifications that arrive meanwhile would wait behind them on the loop. One check at
// a time; its result is posted to the loop (RulesChecked).
class FirewallWorker {
 public:
  explicit FirewallWorker(Inbox& inbox)
      : inbox_(inbox), thread_([this](const std::stop_token& stop) { Run(stop); }) {}
  ~FirewallWorker() { Stop(); }
  FirewallWorker(const FirewallWorker&) = delete;
  FirewallWorker& operator=(const FirewallWorker&) = delete;
  // Starts a check of `keeper` unless one is running; false when one is.
  bool Check(std::shared_ptr<FirewallKeeper> keeper, uint64_t serial) {
    {
      std::lock_guard lock(mu_);
      if (job_ || running_) return false;
      job_ = std::move(keeper);
      serial_ = serial;
    }
    cv_.notify_all();
    return true;
  }
  // Waits for the check in progress, if any (before the loop uses a keeper itself).
  void WaitIdle() {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return !job_ && !running_; });
  }
  void Stop() {
    thread_.request_stop();
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run(const std::stop_token& stop) {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, stop, [this] { return job_ != nullptr; });
      if (stop.stop_requested()) return;
      auto keeper = std::exchange(job_, nullptr);
      const uint64_t serial = serial_;
      running_ = true;
      lock.unlock();
      auto report = keeper->Ensure();
      keeper.reset();
      inbox_.Push({0, RulesChecked{serial, std::move(report)}});
      lock.lock();
      running_ = false;
      idle_.notify_all();
    }
  }

  Inbox& inbox_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::condition_variable_any idle_;
  std::shared_ptr<FirewallKeeper> job_;
  uint64_t serial_ = 0;
  bool running_ = false;
  std::jthread thread_;  // last: started once the members above exist
};

// /readyz, /status and the readiness observer (Deps::on_readiness) told the same.
class Health {
 public:
  explicit Health(std::function<void(bool, const std::string&)> observer)
      : observer_(std::move(observer)) {}
  Status Start(net::Ip4 ip, uint16_t port) { return server_.Start(ip, port); }
  uint16_t port() const { return server_.port(); }
  void SetReady() {
    server_.SetReady();
    if (observer_) observer_(true, {});
  }
  void SetNotReady(const std::string& reason) {
    server_.SetNotReady(reason);
    if (observer_) observer_(false, reason);
  }
  void SetDetail(std::string detail) { server_.SetDetail(std::move(detail)); }
  void SetAnomalies(std::vector<std::string> a) { server_.SetAnomalies(std::move(a)); }
  void SetStatusJson(std::string json) { server_.SetStatusJson(std::move(json)); }
  void SetStatusProvider(std::function<std::string()> provider) {
    server_.SetStatusProvider(std::move(provider));
  }
  void Stop() { server_.Stop(); }

 private:
  http::HealthServer server_;
  std::function<void(bool, const std::string&)> observer_;
};

class Agent {
 public:
  Agent(const Config& config, const Deps& deps, std::stop_source stop)
      : opts_(config),
        deps_(deps),
        make_store_(deps.make_store),
        clock_(*deps.clock),
        rtnl_(deps.rtnl),
        stop_(std::move(stop)),
        health_(deps.on_readiness) {}
  // /status renders from the members below on the health server's thread: stop it first.
  ~Agent() { health_.Stop(); }
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;
  int Run();

 private:
  bool Setup();  // interface, store, config, backend; false on fatal error or stop
  // Takes the lease (again) off the loop (docs/adr/0018): the current watch and keeper are
  // stopped (joined by the acquisition's thread), what they still post is dropped, and the
  // loop goes on repairing from the last known peers until LeaseAcquired arrives. `reason`
  // is shown on /readyz meanwhile.
  void Reacquire(const std::string& reason);
  store::AcquireRequest LeaseRequest() const;
  void OnLease(model::Lease lease);  // rules, subnet.env, owner record, then watch and keeper
  void OnAcquireFailed(const Error& why);
  // Ready only with a lease in hand and the peers listed since it was taken.
  bool MayBeReady() const { return !acquiring_ && peers_listed_; }
  void StartThreads();  // the watch and the keeper of the current lease, a new generation
  void StartWatch(uint64_t generation);
  void StartKeeper(uint64_t generation);
  void StopThreads();
  // The thread that re-reads the network config; it lives from the first lease to the end.
  void StartConfigWatch();
  void HandleConfig(ConfigRead& read);
  void Loop();
  void Handle(InboxItem& item);
  void Revoke(const std::string& why);
  void Fatal(const std::string& why);
  void Reconcile();
  // --ip-blackhole-route: our subnet, dropped unless a more preferred route carries it.
  kernel::Route OwnSubnetBlackhole() const;
  // Whether a kernel notification can concern what tartan programs.
  bool Relevant(const kernel::KernelEvent& e) const;
  void NotReady(const std::string& reason);
  // Runs the interface choice again (see iface_follow.hpp): rebinds the backend to the
  // interface as it is now and writes the lease again when the public IP moved, or waits.
  void FollowInterface();
  // A problem an operator or a retry can cure: say it (when it starts, then less and less
  // often while it lasts, see log::RepeatedProblem), show it on /readyz, wait a bit. `kind`
  // names the cause, so that a different cause is logged at once.
  void RetryLater(log::RepeatedProblem& problem, const std::string& why,
                  std::string_view kind = {});
  // RetryLater without the wait, for retries made off the loop.
  void SayRetrying(log::RepeatedProblem& problem, const std::string& why,
                   std::string_view kind = {});
  // --ip-masq / --keep-pod-source / --iptables-forward-rules: creates the rule keeper for the
  // current lease on first use and repairs what is missing, on the loop (at a new lease:
  // flannel's order, the rules before subnet.env).
  void EnsureRules();
  // The same on firewall_worker_'s thread, for the periodic check; the report comes back to
  // the loop as RulesChecked.
  void CheckRulesOffLoop();
  // The keeper for the current lease, made on first use; false when no rules are kept or
  // it could not be made.
  bool PrepareRules();
  bool RulesFailed(const std::string& why);  // said once per cause, shown on readiness
  void RulesReport(const Result<firewall::EnsureReport>& report);
  bool Wait(std::chrono::milliseconds d) { return store::SleepFor(d, stop_.get_token()); }
  // What is drawn from the kernel's notifications; null when there are none.
  KernelEventSource* event_source() const { return deps_.events; }
  // For /readyz while the config is missing: which key space(s) --etcd-api looks in.
  std::string WhereConfigIsSought() const;

  const Config& opts_;
  const Deps& deps_;
  const StoreFactory& make_store_;
  const agent::Clock& clock_;
  kernel::Rtnl* rtnl_;
  std::stop_source stop_;

  Health health_;
  std::unique_ptr<Reconciler> reconciler_;
  backend::ExternalInterface ext_;
  bool iface_dirty_ = false;  // a kernel event may have changed what the choice finds
  std::string iface_wait_;    // why the interface is not usable; empty while it is
  std::unique_ptr<store::SubnetStore> store_;
  // A stop cancels store calls in flight (declared after store_: destroyed before it).
  std::optional<std::stop_callback<std::function<void()>>> store_stop_;
  model::NetworkConfig config_;
  std::unique_ptr<backend::Backend> backend_;
  model::Lease lease_;

  Inbox inbox_;
  std::stop_source threads_stop_;
  std::jthread watch_thread_;
  std::jthread keeper_thread_;
  std::jthread config_thread_;
  std::unique_ptr<LeaseAcquisition> acquisition_;
  bool acquiring_ = false;          // from Reacquire() until LeaseAcquired
  bool reacquire_pending_ = false;  // asked again while acquiring (new backend data)
  bool leased_ = false;             // a lease was taken once: rules_ and lease_ are set
  bool peers_listed_ = false;       // a snapshot of the peers arrived since the last lease
  // The stored config a "restart needed" line was last logged for: said once per change.
  std::optional<model::NetworkConfig> config_reported_;
  uint64_t generation_ = 0;

  // The leases of the network; a lease event reprograms the peers it changed and nothing else.
  PeerTable peers_;
  PathCounts path_counts_;
  bool have_snapshot_ = false;
  // etcd was restored or wiped and our lease is not taken again yet: the owner record's subnet
  // alone names our lease (store::AcquireRequest::after_store_reset, docs/adr/0014).
  bool after_store_reset_ = false;
  bool dirty_ = false;         // a full pass is due now (snapshot, periodic check)
  bool kernel_dirty_ = false;  // a full pass is due, as soon as kernel_passes_ allows
  PassLimiter kernel_passes_{kKernelPassBurst, kKernelPassInterval};
  std::optional<PeriodicPass> periodic_;      // from the loop's start
  uint64_t problems_version_ = ~uint64_t{0};  // the reconciler's problems last shown on /readyz
  // Held by the loop while it works; /status renders the agent's state under it (on the health
  // server's thread), so a scrape costs O(peers) and a lease event does not.
  std::timed_mutex state_mu_;
  bool status_provider_ = false;
  std::string status_last_;  // the last /status rendered (health server thread only)
  // Renders /status from the current state (under state_mu_).
  std::string RenderStatus();
  bool ready_ = false;
  std::string device_error_;
  // Set when the agent stops itself because it cannot go on (exit code 1, not 0).
  bool fatal_ = false;
  // Shared with firewall_worker_ while it checks the rules off the loop.
  std::shared_ptr<FirewallKeeper> rules_;
  uint64_t rules_serial_ = 0;  // counts the keepers made: a check's report names its keeper
  std::string rules_error_;
  // Declared after inbox_ and rules_: stopped (joined) before they go.
  FirewallWorker firewall_worker_{inbox_};
  std::string random_fully_note_;  // last said about MASQUERADE --random-fully
  std::deque<Change> changes_;     // the last kernel and firewall repairs, for /status

  // Failures retried in a loop, each logged when it starts, at a slowing rate while it lasts,
  // and once when it ends.
  log::RepeatedProblem config_problem_{"waiting for a usable network config"};
  log::RepeatedProblem lease_problem_{"acquiring a lease"};
  log::RepeatedProblem watch_problem_{"watching the peers' leases"};
  log::RepeatedProblem recheck_problem_{
      "re-reading the network config (the running config stays in use)"};
};

void Agent::Fatal(const std::string& why) {
  log::Error(why + "; exiting so that the supervisor restarts tartand");
  fatal_ = true;
  stop_.request_stop();
}

void Agent::SayRetrying(log::RepeatedProblem& problem, const std::string& why,
                        std::string_view kind) {
  if (auto line = problem.Failed(why, kind)) {
    const auto ms = opts_.retry_period.count();
    log::Error(*line + " (retrying every " +
               (ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms") +
               ")");
  }
  NotReady(log::Cut(why, 4 * log::kMaxQuoted));  // /readyz shows it; the causes are cut already
}

void Agent::RetryLater(log::RepeatedProblem& problem, const std::string& why,
                       std::string_view kind) {
  SayRetrying(problem, why, kind);
  Wait(opts_.retry_period);
}

std::string Agent::WhereConfigIsSought() const {
  switch (opts_.etcd_api) {
    case store::EtcdApi::kV2:
      return "etcd v2 API, --etcd-api=v2";
    case store::EtcdApi::kV3:
      return "etcd v3 API, --etcd-api=v3";
    case store::EtcdApi::kAuto:
      break;
  }
  return "--etcd-api=auto: the v3 and the v2 key spaces";
}

void Agent::NotReady(const std::string& reason) {
  health_.SetNotReady(reason);
  ready_ = false;
}

int Agent::Run() {
  log::Info("tartand v" + std::string(tartan::Version()) + " starting");
  metrics::Tartan().build_info.GaugeWith({std::string(tartan::Version())}).Set(1);
  if (opts_.healthz_port != 0) {
    Status s = health_.Start(opts_.healthz_ip, opts_.healthz_port);
    if (!s.ok()) {
      log::Error(s.error().message);
      return 1;
    }
    log::Info("serving /healthz, /readyz, /metrics and /status on " + opts_.healthz_ip.ToString() +
              ":" + std::to_string(health_.port()));
  }
  if (!Setup()) return stop_.stop_requested() ? 0 : 1;
  // The first acquisition too runs off the loop: /readyz says why it waits, kernel events are
  // read (nothing to repair before the first peers), a stop ends it at once.
  Reacquire("acquiring a lease");
  Loop();
  acquisition_.reset();
  firewall_worker_.Stop();
  StopThreads();
  config_thread_.request_stop();
  if (config_thread_.joinable()) config_thread_.join();
  log::Info("stopped; routes, devices and the lease stay in place for the next start");
  return fatal_ ? 1 : 0;
}

bool Agent::Setup() {
  reconciler_ = std::make_unique<Reconciler>(*rtnl_);

  auto ext = SelectExternalInterface(*rtnl_, opts_.iface);
  if (!ext.ok()) {
    log::Error("choosing the external interface: " + ext.error().message);
    return false;
  }
  ext_ = *ext;
  log::Info("using interface " + ext_.name + " (index " + std::to_string(ext_.index) +
            ", address " + ext_.iface_addr.ToString() + ", mtu " + std::to_string(ext_.mtu) +
            "), public IP " + ext_.public_ip.ToString());

  auto st = make_store_();
  if (!st.ok()) {
    log::Error("connecting to the store: " + st.error().message);
    return false;
  }
  store_ = std::move(*st);
  store_stop_.emplace(stop_.get_token(), std::function<void()>([this] { store_->Shutdown(); }));

  while (!stop_.stop_requested()) {
    NotReady("waiting for the network config in etcd (" + WhereConfigIsSought() + ")");
    auto config = store_->GetNetworkConfig(stop_.get_token());
    if (!config.ok()) {
      if (config.error().code == Error::Code::kCancelled) return false;
      RetryLater(config_problem_, config.error().message, "config");
      continue;
    }
    if (const std::string api = store_->Api(); !api.empty()) {
      health_.SetDetail("etcd API: " + api);
    }
    // Refused like an invalid config: said, shown on /readyz, re-read until it is usable.
    if (Status st = model::CheckTartanSupports(*config); !st.ok()) {
      RetryLater(config_problem_, "network config: " + st.error().message, "unsupported");
      continue;
    }
    auto be = backend::MakeBackend(*config, ext_, *rtnl_);
    if (!be.ok()) {
      RetryLater(config_problem_, "backend: " + be.error().message, "backend");
      continue;
    }
    if (auto line = config_problem_.Succeeded()) log::Info(*line);
    config_ = std::move(*config);
    backend_ = std::move(*be);
    log::Info("network " + (config_.network ? config_.network->ToString() : std::string("-")) +
              ", backend " + std::string(backend_->name()));
    return true;
  }
  return false;
}

store::AcquireRequest Agent::LeaseRequest() const {
  store::AcquireRequest req;
  req.attrs.public_ip = ext_.public_ip;
  req.attrs.backend_type = std::string(backend_->lease_type());
  req.attrs.backend_data = backend_->backend_data();
  if (auto prev = model::ReadSubnetEnv(opts_.subnet_file); prev.ok() && prev->subnet) {
    req.previous_subnet = model::SubnetKey{*prev->subnet, prev->ipv6_subnet};
  }
  // A live lease with our public IP is reused at once only when this record names it; one
  // that another host keeps renewing is refused (docs/adr/0013).
  req.guard_shared_ip = true;
  if (auto rec = store::ReadOwnerRecord(store::OwnerRecordPath(opts_.subnet_file)); rec.ok()) {
    req.owner = *rec;
  }
  req.after_store_reset = after_store_reset_;
  return req;
}

void Agent::Reacquire(const std::string& reason) {
  if (acquiring_) {
    reacquire_pending_ = true;  // what is asked now (new backend data) is taken after this one
    return;
  }
  acquiring_ = true;
  NotReady(reason);
  // Stale from here on: what the old watch and keeper still post, and their snapshot.
  const uint64_t gen = ++generation_;
  peers_listed_ = false;
  threads_stop_.request_stop();
  LeaseAcquisition::Params p;
  p.store = store_.get();
  p.config = config_;
  p.request = LeaseRequest();
  p.retired.push_back(std::move(watch_thread_));
  p.retired.push_back(std::move(keeper_thread_));
  p.retry = opts_.retry_period;
  p.stop = stop_.get_token();
  p.on_lease = [this, gen](model::Lease l) { inbox_.Push({gen, LeaseAcquired{std::move(l)}}); };
  p.on_failure = [this, gen](const Error& e) { inbox_.Push({gen, AcquireFailed{e}}); };
  acquisition_.reset();  // the previous one posted its lease and ended: joined at once
  acquisition_ = std::make_unique<LeaseAcquisition>(std::move(p));
}

void Agent::OnAcquireFailed(const Error& why) {
  if (why.code == Error::Code::kAlreadyExists) {
    // Another host holds our public IP: said when it starts and then less often, shown on
    // /readyz; each retry reads the holder's TTL again and takes over once it stops.
    health_.SetAnomalies({"duplicate public IP: " + why.message});
    SayRetrying(lease_problem_, why.message, "shared public IP");
    return;
  }
  SayRetrying(lease_problem_, why.message);
}

void Agent::OnLease(model::Lease lease) {
  acquiring_ = false;
  health_.SetAnomalies({});
  if (auto line = lease_problem_.Succeeded()) log::Info(*line);
  if (leased_ && lease.subnet != lease_.subnet) {
    // Taken again after a revocation or an etcd restore, but another host holds our old
    // subnet now: pods started with the old subnet.env have addresses no peer routes here.
    log::Warning("our subnet changed from " + lease_.subnet.ToString() + " to " +
                 lease.subnet.ToString() + " (the old one is held by another host); " +
                 opts_.subnet_file + " is rewritten, pods started before need restarting");
  }
  lease_ = std::move(lease);
  leased_ = true;
  RecordLease(lease_, ext_.public_ip.ToString());
  log::Info("lease acquired: subnet=" + lease_.subnet.ipv4.ToString() +
            (lease_.is_reservation() ? " (reservation)" : "") +
            " public_ip=" + ext_.public_ip.ToString());

  // flannel's order: the rules are in before subnet.env tells docker/CNI to start pods.
  rules_.reset();
  EnsureRules();

  model::SubnetEnv env;
  env.network = config_.network;
  env.subnet = lease_.subnet.ipv4;
  if (config_.enable_ipv6) {
    env.ipv6_network = config_.ipv6_network;
    env.ipv6_subnet = lease_.subnet.ipv6;
  }
  env.mtu = static_cast<int>(backend_->mtu());
  env.ipmasq = opts_.ip_masq;
  if (Status s = model::WriteSubnetEnv(opts_.subnet_file, env); !s.ok()) {
    Fatal("writing " + opts_.subnet_file + ": " + s.error().message);
    return;
  }
  log::Info(
      "wrote " + opts_.subnet_file + " (FLANNEL_SUBNET " +
      net::Ip4Net(net::Ip4(lease_.subnet.ipv4.ip().value() + 1), lease_.subnet.ipv4.prefix_len())
          .ToString() +
      ", FLANNEL_MTU " + std::to_string(env.mtu) + ")");
  const std::string record_path = store::OwnerRecordPath(opts_.subnet_file);
  if (Status s = store::WriteOwnerRecord(record_path, {lease_.subnet, lease_.owner_token});
      !s.ok()) {
    // Not fatal: without it a restart waits out the heartbeat window before reusing the lease.
    log::Warning("writing " + record_path + ": " + s.error().message);
  }
  after_store_reset_ = false;
  NotReady("waiting for the peers' leases");
  StartThreads();
  if (!config_thread_.joinable()) StartConfigWatch();
  if (reacquire_pending_) {
    reacquire_pending_ = false;
    Reacquire("publishing the new backend data in our lease");
  }
}

void Agent::StartThreads() {
  threads_stop_ = std::stop_source();
  const uint64_t gen = ++generation_;
  StartWatch(gen);
  StartKeeper(gen);
}

void Agent::StartWatch(uint64_t gen) {
  watch_thread_ = std::jthread([this, gen, token = threads_stop_.get_token()] {
    auto watch = store_->WatchLeases(token);
    while (!token.stop_requested()) {
      auto batch = watch->Next();
      if (!batch.ok()) {
        if (batch.error().code == Error::Code::kCancelled) return;
        inbox_.Push({gen, WatchFailed{batch.error()}});
        return;
      }
      inbox_.Push({gen, std::move(*batch)});
    }
  });
}

void Agent::StartKeeper(uint64_t gen) {
  keeper_thread_ = std::jthread([this, gen, lease = lease_, token = threads_stop_.get_token()] {
    Status s = store::KeepLeaseAlive(
        *store_, lease, std::chrono::minutes(opts_.subnet_lease_renew_margin_minutes), token,
        [](const model::Lease& l) {
          log::Debug(1, "lease renewed: subnet=" + l.subnet.ipv4.ToString());
          metrics::Tartan().lease_renewals.CounterWith().Inc();
          if (l.expiration) {
            metrics::Tartan().lease_expiry.GaugeWith().Set(static_cast<double>(
                std::chrono::duration_cast<std::chrono::seconds>(l.expiration->time_since_epoch())
                    .count()));
          }
        },
        [](std::string_view line) { log::Info(line); }, store::Backoff{},
        store_->HeartbeatPeriod());
    if (!s.ok() && s.error().code != Error::Code::kCancelled) {
      inbox_.Push({gen, Revoked{s.error()}});
    }
  });
}

void Agent::StartConfigWatch() {
  // Posted with generation 0: a config read stays valid across watch restarts.
  config_thread_ = std::jthread([this, period = opts_.config_recheck](const std::stop_token& own) {
    // Stops with the agent, or when Run() asks this thread alone.
    std::stop_source both;
    std::stop_callback agent_stop(stop_.get_token(), [&both] { both.request_stop(); });
    std::stop_callback thread_stop(own, [&both] { both.request_stop(); });
    while (store::SleepFor(period, both.get_token())) {
      // While the key is missing this waits (and the store says so) until it is back.
      auto config = store_->GetNetworkConfig(both.get_token());
      if (!config.ok() && config.error().code == Error::Code::kCancelled) return;
      inbox_.Push({0, ConfigRead{std::move(config)}});
    }
  });
}

void Agent::HandleConfig(ConfigRead& read) {
  if (!read.config.ok()) {
    if (auto line = recheck_problem_.Failed(read.config.error().message)) log::Warning(*line);
    return;
  }
  if (auto line = recheck_problem_.Succeeded()) log::Info(*line);
  const model::NetworkConfig& stored = *read.config;
  const ConfigChange change = DecideConfigChange(config_, stored, lease_.subnet.ipv4);
  switch (change.action) {
    case ConfigChange::Action::kNone:
      if (config_reported_) {
        log::Info("network config in etcd is the running one again; no restart needed");
        config_reported_.reset();
      }
      return;
    case ConfigChange::Action::kApply:
      log::Info(change.message);
      config_ = stored;
      config_reported_.reset();
      return;
    case ConfigChange::Action::kRestartNeeded:
      if (config_reported_ &&
          DecideConfigChange(*config_reported_, stored, lease_.subnet.ipv4).action ==
              ConfigChange::Action::kNone) {
        return;  // already said for this config
      }
      log::Warning(change.message);
      config_reported_ = stored;
      return;
  }
}

void Agent::StopThreads() {
  threads_stop_.request_stop();
  if (watch_thread_.joinable()) watch_thread_.join();
  if (keeper_thread_.joinable()) keeper_thread_.join();
}

void Agent::Loop() {
  KernelEventSource* monitor = event_source();
  // Wake the loop when a stop is requested.
  std::stop_callback wake(stop_.get_token(), [this] { inbox_.Wake(); });

  periodic_.emplace(opts_.resync_period, kPeriodicPassQuiet, opts_.resync_period, clock_.Now());
  const auto rules_period = std::chrono::seconds(std::max(1, opts_.iptables_resync_seconds));
  auto next_rules = clock_.Now() + rules_period;
  while (!stop_.stop_requested()) {
    pollfd fds[2] = {{inbox_.fd(), POLLIN, 0}, {monitor ? monitor->fd() : -1, POLLIN, 0}};
    auto wake_at = std::min(periodic_->RunAt(), next_rules);
    // A pass the rate limit put off wakes the loop when it is allowed (not while the
    // interface is gone: the pass waits for it, and the loop with it).
    if (kernel_dirty_ && have_snapshot_ && iface_wait_.empty()) {
      wake_at = std::min(wake_at, kernel_passes_.NextAllowed());
    }
    auto timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(wake_at - clock_.Now()) + 1ms;
    int n = ::poll(fds, 2, static_cast<int>(std::max<int64_t>(0, timeout.count())));
    StepTimer steps(log::Verbosity() >= 1);
    std::unique_lock state_lock(state_mu_);
    steps.Mark("waiting for /status to render");
    if (n < 0 && errno != EINTR) {
      Fatal("poll: " + std::system_category().message(errno));
      return;
    }
    if (stop_.stop_requested()) break;
    if (fds[0].revents & POLLIN) {
      Clock::time_point posted;
      auto items = inbox_.Take(posted);
      if (steps.on() && !items.empty() && Clock::now() - posted >= kSlowStep) {
        log::Debug(1, "loop: " + std::to_string(items.size()) +
                          " inbox item(s), the first posted " + Millis(Clock::now() - posted) +
                          " ago");
      }
      for (auto& item : items) Handle(item);
      steps.Mark("handling " + std::to_string(items.size()) + " inbox item(s)");
    }
    if (monitor && (fds[1].revents & POLLIN)) {
      auto events = monitor->Drain();
      if (!events.ok()) {
        kernel_dirty_ = true;
        iface_dirty_ = true;
      } else {
        // Our own changes come back as events too: only what tartan did not do itself (an
        // entry deleted by hand, another program's route) asks for a full pass.
        for (const auto& e : *events) {
          kernel_dirty_ = kernel_dirty_ || (Relevant(e) && reconciler_->Unexpected(e));
          iface_dirty_ = iface_dirty_ || MayConcernInterface(e, ext_, !iface_wait_.empty());
        }
      }
      steps.Mark("reading kernel events");
    }
    // An incremental change that needs the kernel's view (another peer wants the same entry).
    if (reconciler_->full_pass_needed()) kernel_dirty_ = true;
    if (periodic_->Due(clock_.Now())) {
      dirty_ = true;
      iface_dirty_ = true;
      periodic_->Ran(clock_.Now());
    }
    if (clock_.Now() >= next_rules) {
      CheckRulesOffLoop();
      next_rules = clock_.Now() + rules_period;
      steps.Mark("starting the firewall check");
    }
    if (iface_dirty_) {
      FollowInterface();
      steps.Mark("checking the interface");
    }
    // Without a usable interface nothing could be programmed: the pass waits (dirty_ stays
    // set) for the interface to come back; the peers' routes already in place stay.
    if (have_snapshot_ && iface_wait_.empty() &&
        (dirty_ || (kernel_dirty_ && kernel_passes_.TryTake(clock_.Now())))) {
      Reconcile();
      steps.Mark("a full pass");
    }
  }
  log::Info("stop requested");
}

void Agent::FollowInterface() {
  iface_dirty_ = false;
  const IfaceDecision d =
      DecideIface(ext_, !iface_wait_.empty(), LookAtInterface(*rtnl_, opts_.iface, ext_));
  auto wait = [this](const std::string& reason) {
    if (reason != iface_wait_) log::Warning(reason);
    iface_wait_ = reason;
    NotReady(reason);
  };
  switch (d.action) {
    case IfaceDecision::Action::kKeep:
      return;
    case IfaceDecision::Action::kWait:
      wait(d.reason);
      return;
    case IfaceDecision::Action::kResume:
      log::Info("interface " + ext_.name + " is usable again");
      iface_wait_.clear();
      dirty_ = true;
      return;
    case IfaceDecision::Action::kRebind:
      break;
  }
  const uint32_t mtu_before = backend_->mtu();
  if (Status s = backend_->Rebind(d.ext); !s.ok()) {
    wait("interface " + d.ext.name + " changed (" + d.changes +
         ") and cannot be used: " + s.error().message + "; waiting for it to change again");
    return;
  }
  log::Info("interface " + ext_.name + " changed: " + d.changes + "; using " + d.ext.name +
            " (index " + std::to_string(d.ext.index) + ", address " + d.ext.iface_addr.ToString() +
            ", mtu " + std::to_string(d.ext.mtu) + ")");
  ext_ = d.ext;
  iface_wait_.clear();
  dirty_ = true;
  if (d.public_ip_changed || backend_->mtu() != mtu_before) {
    // Peers reach us at the public IP of our lease, and pods size their MTU from subnet.env:
    // both are written again by taking the lease again (the same subnet, named by the owner
    // record), as for a changed VtepMAC.
    std::string what;
    if (d.public_ip_changed) what = "public IP " + ext_.public_ip.ToString();
    if (backend_->mtu() != mtu_before) {
      what += (what.empty() ? "" : ", ") + std::string("FLANNEL_MTU ") +
              std::to_string(backend_->mtu());
    }
    log::Warning("now " + what + "; updating the lease and " + opts_.subnet_file);
    // The devices on the new interface first: this host's traffic flows again while the
    // lease is written.
    if (have_snapshot_) Reconcile();
    Reacquire("publishing the new " + what + " in our lease");
  }
}

void Agent::Handle(InboxItem& item) {
  if (auto* read = std::get_if<ConfigRead>(&item.payload)) {
    HandleConfig(*read);
    return;
  }
  if (auto* rules = std::get_if<RulesChecked>(&item.payload)) {
    // A keeper replaced since (a new lease) was checked for a subnet no longer ours.
    if (rules_ && rules->keeper == rules_serial_) RulesReport(rules->report);
    return;
  }
  if (item.generation != generation_) return;  // posted by threads since replaced
  if (auto* acquired = std::get_if<LeaseAcquired>(&item.payload)) {
    OnLease(std::move(acquired->lease));
    return;
  }
  if (auto* failed = std::get_if<AcquireFailed>(&item.payload)) {
    OnAcquireFailed(failed->why);
    return;
  }
  if (auto* b = std::get_if<store::LeaseBatch>(&item.payload); b && b->is_snapshot) {
    peers_listed_ = true;
  }
  if (auto* batch = std::get_if<store::LeaseBatch>(&item.payload)) {
    if (auto line = watch_problem_.Succeeded()) log::Info(*line);
    peers_.SetOwn(lease_);
    const PeerDelta delta = peers_.Apply(*batch);
    if (batch->is_snapshot) {
      log::Info("peers: " + std::to_string(peers_.size()) + " leases in the network");
      have_snapshot_ = true;
    }
    for (auto& e : batch->events) {
      if (e.lease.subnet == lease_.subnet) continue;  // said with the verdict below
      const std::string what =
          e.lease.subnet.ipv4.ToString() +
          " public_ip=" + (e.lease.attrs.public_ip ? e.lease.attrs.public_ip->ToString() : "-") +
          " backend=" +
          (e.lease.attrs.backend_type.empty() ? "udp" : log::Cut(e.lease.attrs.backend_type, 64));
      // A key no lease of the network can have is not a peer: the reconciler warns about it
      // once (FilterLeases), so its events are only worth a debug line.
      std::string line;
      switch (e.type) {
        case store::LeaseEvent::Type::kAdded:
          line = "peer added: " + what;
          break;
        case store::LeaseEvent::Type::kChanged:
          line = "peer changed: " + what;
          break;
        case store::LeaseEvent::Type::kRemoved:
          line = "peer removed: " + what;
          break;
      }
      if (!model::LeaseSubnetProblem(config_, e.lease.subnet)) {
        log::Info(line);
      } else {
        log::Debug(1, line + " (not a valid lease key; ignored)");
      }
    }
    if (delta.own.store_reset) after_store_reset_ = true;
    if (batch->is_snapshot || !device_error_.empty()) {
      dirty_ = true;  // a whole new table, or devices to repair first: one full pass
    } else if (!delta.changes.empty() && have_snapshot_) {
      // The changed peers only: their entries before and after, no dump (docs/adr/0019).
      auto stats = ApplyPeerChanges(
          delta.changes, {config_, *backend_, lease_, *reconciler_, path_counts_, ext_.index});
      // More may follow: the periodic pass waits for a gap rather than delay them.
      if (periodic_) periodic_->LeaseEvent(clock_.Now());
      KeepChanges(changes_, stats.changes, std::chrono::system_clock::now());
      if (reconciler_->problems_version() != problems_version_) {
        problems_version_ = reconciler_->problems_version();
        health_.SetAnomalies(reconciler_->problems());
      }
    }
    // Our key deleted (by an operator, or expired while etcd was unreachable): the peers have
    // dropped their routes to us, so take the lease again now rather than at the next renewal.
    if (delta.own.own_gone) Revoke("our key " + lease_.subnet.ToString() + " " + delta.own.fate);
  } else if (auto* revoked = std::get_if<Revoked>(&item.payload)) {
    Revoke(revoked->why.message);
  } else if (auto* failed = std::get_if<WatchFailed>(&item.payload)) {
    if (auto line = watch_problem_.Failed(failed->why.message)) {
      log::Error(*line + " (restarting the watch)");
    }
    metrics::Tartan().watch_restarts.CounterWith().Inc();
    // The watch thread ended after posting this: joined at once. The keeper goes on, and the
    // loop goes on repairing from the last known peers until the new watch's snapshot.
    if (watch_thread_.joinable()) watch_thread_.join();
    StartWatch(generation_);
  }
}

void Agent::Revoke(const std::string& why) {
  log::Error("lease " + lease_.subnet.ipv4.ToString() + " was revoked (" + why +
             "); acquiring it again");
  // The peer table stays: routes and devices are repaired from it until the new watch's
  // snapshot replaces it.
  Reacquire("lease revoked; acquiring it again");
}

bool Agent::PrepareRules() {
  firewall::MasqOptions mo;
  mo.masquerade = opts_.ip_masq;
  // Independent of --ip-masq: docker's own MASQUERADE rule rewrites pod-to-pod sources on
  // hosts that never asked tartan to masquerade anything (docs/adr/0008).
  mo.keep_pod_source = opts_.keep_pod_source;
  mo.forward_rules = opts_.iptables_forward_rules;
  mo.random_fully = !opts_.ip_masq_fully_random_disable;
  if (!mo.keeps_anything()) return false;  // no iptables-save every resync for nothing
  if (!leased_) return false;              // the rules name our subnet: none before the lease
  if (!rules_) {
    if (!deps_.make_firewall) return RulesFailed("no firewall rule keeper");
    auto m = deps_.make_firewall(*config_.network, lease_.subnet.ipv4, mo);
    if (!m.ok()) return RulesFailed(m.error().message);
    rules_ = std::move(*m);
    ++rules_serial_;
    // Said once, not at every re-acquisition of the lease.
    if (rules_->random_fully_note() != random_fully_note_) {
      random_fully_note_ = rules_->random_fully_note();
      if (!random_fully_note_.empty()) log::Warning("iptables: " + random_fully_note_);
    }
  }
  return true;
}

bool Agent::RulesFailed(const std::string& why) {
  if (rules_error_ != why)
    log::Error("iptables: " + why + "; retrying every " +
               std::to_string(opts_.iptables_resync_seconds) + "s");
  rules_error_ = why;
  return false;
}

void Agent::RulesReport(const Result<firewall::EnsureReport>& report) {
  if (!report.ok()) {
    RulesFailed(report.error().message);
    return;
  }
  if (!rules_error_.empty()) log::Info("iptables: rules are in again");
  rules_error_.clear();
  for (const auto& line : report->repairs) log::Info("iptables: " + line);
  metrics::Tartan().firewall_repairs.CounterWith().Inc(report->repairs.size());
  KeepChanges(changes_, report->repairs, std::chrono::system_clock::now());
}

void Agent::EnsureRules() {
  // Not beside a check the worker runs: two keepers' iptables-restore must not interleave.
  firewall_worker_.WaitIdle();
  if (PrepareRules()) RulesReport(rules_->Ensure());
}

void Agent::CheckRulesOffLoop() {
  // A check still running is not doubled; the next period asks again.
  if (PrepareRules()) firewall_worker_.Check(rules_, rules_serial_);
}

bool Agent::Relevant(const kernel::KernelEvent& e) const {
  // Our own changes come back as events too; a pass that finds nothing to do costs one dump.
  // What cannot concern us is dropped: neighbour churn on cni0 or eth0 on a busy node would
  // otherwise cost a full pass per ARP state change.
  using Kind = kernel::KernelEvent::Kind;
  auto owned = [this](int link) {
    for (int o : backend_->owned_links()) {
      if (o == link) return true;
    }
    return false;
  };
  auto ours = [&](int link) { return link == ext_.index || owned(link); };
  switch (e.kind) {
    case Kind::kResyncNeeded:
    case Kind::kRoute:
    case Kind::kNexthop:
      return true;
    case Kind::kLink:
      // A link of ours changed, or one appeared/vanished that could be (flannel.1 recreated).
      if (const auto* l = std::get_if<kernel::Link>(&e.object)) return ours(l->index) || e.removed;
      return true;
    case Kind::kAddress:
      if (const auto* a = std::get_if<kernel::Address>(&e.object)) return ours(a->link_index);
      return true;
    case Kind::kNeighbour:
      if (const auto* n = std::get_if<kernel::Neighbour>(&e.object)) return owned(n->link_index);
      return true;
    case Kind::kFdb:
      if (const auto* f = std::get_if<kernel::FdbEntry>(&e.object)) return owned(f->link_index);
      return true;
  }
  return true;
}

kernel::Route Agent::OwnSubnetBlackhole() const {
  return kernel::Route::Blackhole(lease_.subnet.ipv4, kBlackholeMetric);
}

void Agent::Reconcile() {
  dirty_ = false;
  kernel_dirty_ = false;
  const auto started = Clock::now();
  bool republish = false;
  if (Status s = backend_->EnsureDevices(lease_, republish); !s.ok()) {
    if (device_error_ != s.error().message) log::Error("backend devices: " + s.error().message);
    device_error_ = s.error().message;
    NotReady("backend devices: " + s.error().message);
    return;
  }
  if (!device_error_.empty()) log::Info("backend devices recovered");
  device_error_.clear();
  if (republish) {
    // The device could not keep its MAC: peers must learn the new one from our lease.
    log::Warning("backend data changed to " + backend_->backend_data() + "; updating the lease");
    Reacquire("publishing the new backend data in our lease");
    return;
  }
  // Keys that no lease of this network can have ("0.0.0.0-0", the underlay's subnet, the whole
  // Network) never reach the backend; they are reported with the backend's own problems.
  // The valid ones are copied once, into a vector sized up front (FilterLeases over a copy of
  // all of them copied each lease twice and grew its vector push by push: at 5000 peers,
  // megabytes copied and page-faulted in on the loop every pass).
  std::vector<model::Lease> invalid;
  model::FilteredLeases filtered;
  filtered.valid.reserve(peers_.size());
  for (const auto& [key, l] : peers_.leases()) {
    (model::LeaseSubnetProblem(config_, l.subnet) ? invalid : filtered.valid).push_back(l);
  }
  filtered.skipped = model::FilterLeases(config_, invalid).skipped;
  auto desired = backend_->Desired(lease_, filtered.valid);
  const size_t peer_routes = desired.routes.size();
  if (opts_.ip_blackhole_route) desired.routes.push_back(OwnSubnetBlackhole());
  desired.problems.insert(desired.problems.end(), filtered.skipped.begin(), filtered.skipped.end());
  auto stats = reconciler_->Apply(desired, backend_->owned_links());
  if (!stats.ok()) {
    log::Error("reconciling: " + stats.error().message);
    NotReady("programming routes: " + stats.error().message);
    return;
  }
  problems_version_ = reconciler_->problems_version();
  health_.SetAnomalies(reconciler_->problems());
  // For /metrics; later lease events keep the gauges up to date peer by peer.
  auto paths = PeerPaths(lease_, filtered.valid, desired, ext_.index, backend_->name());
  RecordPass(paths, desired, *stats, std::chrono::duration<double>(Clock::now() - started).count());
  path_counts_.Reset(paths);
  KeepChanges(changes_, stats->changes, std::chrono::system_clock::now());
  if (!status_provider_) {
    // tartanctl status --local: rendered when asked for, from the state of that moment.
    status_provider_ = true;
    health_.SetStatusProvider([this] {
      std::unique_lock lock(state_mu_, std::defer_lock);
      if (lock.try_lock_for(kStatusWait)) status_last_ = RenderStatus();
      return status_last_;
    });
  }
  // Ready once a pass could read and program the kernel; a peer whose entries the kernel
  // refuses is logged (and retried), not allowed to keep this host unready forever.
  if (!ready_ && rules_error_.empty() && MayBeReady()) {
    ready_ = true;
    health_.SetReady();
    log::Info("ready: " + std::to_string(peer_routes) + " peer routes programmed");
    // Under systemd (Type=notify): units ordered after tartand start now, subnet.env exists.
    if (Status s = sd::Notify("READY=1\nSTATUS=ready"); !s.ok()) log::Error(s.error().message);
  }
}

std::string Agent::RenderStatus() {
  std::vector<PeerPath> paths;
  paths.reserve(peers_.size());
  for (const auto& [key, l] : peers_.leases()) {
    if (key == lease_.subnet || model::LeaseSubnetProblem(config_, key)) continue;
    auto d = PeerEntries(config_, *backend_, lease_, l);
    for (auto& p : PeerPaths(lease_, {l}, d, ext_.index, backend_->name())) {
      paths.push_back(std::move(p));
    }
  }
  return StatusJson({std::string(tartan::Version()), opts_.etcd_endpoints, store_->Api(), ext_.name,
                     ext_.public_ip.ToString(), std::string(backend_->name()), lease_,
                     std::move(paths), &changes_});
}

}  // namespace

int RunAgent(const Config& config, const Deps& deps, std::stop_source stop) {
  Agent agent(config, deps, std::move(stop));
  return agent.Run();
}

}  // namespace tartan::agent
