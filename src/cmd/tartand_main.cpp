// tartand: parse flanneld-compatible options, then hand over to the agent.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.hpp"
#include "cmd/options.hpp"
#include "common/log.hpp"
#include "common/sd_notify.hpp"
#include "store/api_select.hpp"
#include "store/etcd2/client.hpp"
#include "store/etcd3/client.hpp"
#include "store/release_memory.hpp"

namespace {

// Exit code for a usage error, as GNU tools and Go's flag package (ExitOnError) use.
constexpr int kUsageError = 2;

// The store over the etcd key spaces --etcd-api may use. Fails only on bad options
// (endpoints, unreadable TLS files); connecting happens lazily, retried by the store's calls.
tartan::Result<std::unique_ptr<tartan::store::SubnetStore>> MakeStore(
    const tartan::cmd::Options& options) {
  const tartan::store::etcd3::ClientOptions client{
      .endpoints = options.etcd_endpoints,
      .ca_file = options.etcd_cafile,
      .cert_file = options.etcd_certfile,
      .key_file = options.etcd_keyfile,
      .username = options.etcd_username,
      .password = options.etcd_password,
  };
  using tartan::cmd::EtcdApi;
  const auto mode = options.etcd_api == EtcdApi::kV2   ? tartan::store::EtcdApi::kV2
                    : options.etcd_api == EtcdApi::kV3 ? tartan::store::EtcdApi::kV3
                                                       : tartan::store::EtcdApi::kAuto;
  // Only the key spaces the mode may use get a client.
  std::shared_ptr<tartan::store::Registry> v2;
  std::shared_ptr<tartan::store::Registry> v3;
  if (mode != tartan::store::EtcdApi::kV3) {
    auto c = tartan::store::etcd2::Client::Create(client);
    if (!c) return c.error();
    v2 = std::move(c).value();
  }
  if (mode != tartan::store::EtcdApi::kV2) {
    auto c = tartan::store::etcd3::Client::Create(client);
    if (!c) return c.error();
    v3 = std::move(c).value();
  }

  tartan::store::StoreOptions store_options;
  store_options.prefix = options.etcd_prefix;
  store_options.log = [](std::string_view line) { tartan::log::Info(line); };
  store_options.on_settled = [](bool startup) { tartan::store::ReleaseMemory(startup); };
  // For tests that must see a dead holder's lease taken over in seconds (docs/adr/0013); not
  // a flanneld flag, so not one of ours either.
  if (const char* hb = std::getenv("TARTAN_LEASE_HEARTBEAT_SECONDS"); hb && *hb) {
    store_options.heartbeat = std::chrono::seconds(std::atoi(hb));
  }
  return tartan::store::NewApiSelectingStore(std::move(v2), std::move(v3), mode,
                                             std::move(store_options));
}

// SIGTERM, SIGINT and SIGQUIT (supervisord's stopsignal=QUIT) all mean "stop cleanly".
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGQUIT}) sigaddset(&set, sig);
  return set;
}

// The stop signals are blocked from main's first instruction (see main), so one that arrives
// while the options are parsed stays pending instead of killing the process with status 143;
// here one thread takes it with sigwait() and asks the agent to stop. Every thread starts
// after the blocking and inherits the mask.
int RunWithSignals(const tartan::cmd::Options& options) {
  const sigset_t set = StopSignals();
  std::stop_source stop;
  std::atomic<bool> signalled{false};
  std::thread signals([set, stop, &signalled]() mutable {
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    signalled = true;
    if (!stop.stop_requested()) {
      tartan::log::Info(std::string("received SIG") + sigabbrev_np(sig) + ": stopping");
      // systemd then shows the unit deactivating, also when the signal was not its own stop.
      if (auto s = tartan::sd::Notify("STOPPING=1"); !s.ok()) tartan::log::Error(s.error().message);
      stop.request_stop();
    }
  });

  auto make_store = [&] { return MakeStore(options); };

  // However the agent ends (a result, or an exception on its way to main's handler), the
  // signal thread is released and joined: a joinable std::thread must never be destroyed.
  struct ReleaseSignals {
    std::stop_source& stop;
    std::thread& thread;
    std::atomic<bool>& signalled;
    ~ReleaseSignals() {
      stop.request_stop();  // first, so the woken thread does not log a stop of its own
      if (!signalled) pthread_kill(thread.native_handle(), SIGTERM);
      thread.join();
    }
  } release{stop, signals, signalled};
  return tartan::agent::RunAgent(options, make_store, stop);
}

int UsageError(const std::string& message) {
  std::cerr << "tartand: " << message << "\nTry 'tartand --help' for more information.\n";
  return kUsageError;
}

int Main(const std::vector<std::string>& args) {
  auto parsed = tartan::cmd::ParseOptions(args, tartan::cmd::ProcessEnv());
  if (!parsed.ok()) return UsageError(parsed.error().message);

  switch (parsed->request) {
    case tartan::cmd::Request::kHelp:
      std::cout << tartan::cmd::Usage("tartand");
      return 0;
    case tartan::cmd::Request::kVersion:
      std::cout << "tartand v" << tartan::cmd::Version() << "\n";
      return 0;
    case tartan::cmd::Request::kRun:
      break;
  }
  if (tartan::Status st = parsed->options.Validate(); !st.ok()) {
    return UsageError(st.error().message);
  }
  tartan::log::SetVerbosity(parsed->options.verbosity);
  return RunWithSignals(parsed->options);
}

}  // namespace

int main(int argc, char** argv) {
  // First of all: a supervisor may stop tartand the moment it started it (a restart loop, a
  // fast rollout). Blocked now, a stop signal waits for the signal thread instead of killing
  // the process; before --help, --version or a usage error it is simply never taken, and the
  // exit status is the one those paths choose. The children the firewall spawns get an empty
  // mask (firewall/command.cpp). What no program can guard is the dynamic loader's time
  // between exec and main (milliseconds, tens on a loaded host): a stop signal then has its
  // default effect unless the supervisor starts us with it blocked, which is kept.
  tartan::store::ConfigureAllocator();  // before any thread
  const sigset_t stop_signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  (void)std::signal(SIGPIPE, SIG_IGN);
  // Modules return errors as values; what is left (e.g. std::bad_alloc) ends here, reported.
  try {
    return Main(std::vector<std::string>(argv + (argc > 0 ? 1 : 0), argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "tartand: internal error: " << e.what() << "\n";
    return 1;
  }
}
