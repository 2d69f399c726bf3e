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
#include "agent/system_deps.hpp"
#include "cmd/options.hpp"
#include "cmd/tartand_wiring.hpp"
#include "common/log.hpp"
#include "common/sd_notify.hpp"
#include "store/release_memory.hpp"

namespace {

// Exit code for a usage error, as GNU tools and Go's flag package (ExitOnError) use.
constexpr int kUsageError = 2;

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
  auto config = tartan::cmd::AgentConfig(options);
  if (!config.ok()) {
    tartan::log::Error(config.error().message);
    return 1;
  }
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
  // The real kernel, notifications, iptables and clock; the store is made by the agent (after
  // the health server is up) through the factory.
  auto system = tartan::agent::OpenSystemDeps();
  if (!system.ok()) {
    tartan::log::Error(system.error().message);
    return 1;
  }
  const tartan::agent::Deps deps =
      (*system)->View([&options] { return tartan::cmd::MakeStore(options); });
  return tartan::agent::RunAgent(*config, deps, stop);
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
