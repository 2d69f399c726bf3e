#include "agent/lease_worker.hpp"

namespace tartan::agent {

LeaseAcquisition::LeaseAcquisition(Params params)
    : thread_([p = std::move(params)](const std::stop_token& own) mutable { Run(p, own); }) {}

void LeaseAcquisition::Run(Params& p, const std::stop_token& own) {
  for (auto& t : p.retired) {
    t.request_stop();
    if (t.joinable()) t.join();
  }
  p.retired.clear();
  std::stop_source either;
  std::stop_callback agent_stop(p.stop, [&either] { either.request_stop(); });
  std::stop_callback own_stop(own, [&either] { either.request_stop(); });
  const std::stop_token stop = either.get_token();
  while (!stop.stop_requested()) {
    auto lease = p.store->AcquireLease(p.config, p.request, stop);
    if (lease.ok()) {
      p.on_lease(std::move(*lease));
      return;
    }
    if (lease.error().code == Error::Code::kCancelled) return;
    p.on_failure(lease.error());
    if (!store::SleepFor(p.retry, stop)) return;
  }
}

}  // namespace tartan::agent
