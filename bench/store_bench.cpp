// etcd store scaling: for N simulated nodes in one process against one local etcd (started by
// the test fixture), (a) the wall time for N nodes to acquire leases, and (b) the delay from a
// lease being written (one Put, as the last step of a peer's acquisition) to every watcher
// seeing it. Every watcher holds its own HTTP/1.1 connection to etcd's v3 gateway, as real
// nodes do.
//
// usage: store_bench [N ...] [--acquire-threads=16] [--max-watchers=1000] [--writes=20]
// Default N: 100 1000 5000. Each watcher is one thread blocked on a watch stream (and one
// socket), so the watcher count is capped (--max-watchers) to stay polite on small shared
// machines; the open-files limit is raised to its hard limit for the sockets.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/etcd_fixture.hpp"
#include "store/etcd3/client.hpp"
#include "store/subnet_store.hpp"

using namespace tartan;
using Clock = std::chrono::steady_clock;

namespace {

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

model::LeaseAttrs Attrs(int node) {
  model::LeaseAttrs a;
  a.public_ip = net::Ip4(static_cast<uint32_t>(0xC6120000u + static_cast<uint32_t>(node)));
  a.backend_type = "vxlan";
  char mac[64];
  snprintf(mac, sizeof mac, R"({"VNI":1,"VtepMAC":"02:00:00:%02x:%02x:%02x"})", (node >> 16) & 255,
           (node >> 8) & 255, node & 255);
  a.backend_data = mac;
  return a;
}

int Run(int n, int acquire_threads, int max_watchers, int writes) {
  auto cluster = testing::EtcdCluster::Start();
  if (!cluster) {
    fprintf(stderr, "etcd: %s\n", cluster.error().message.c_str());
    return 1;
  }
  store::etcd3::ClientOptions co;
  co.endpoints = (*cluster)->Endpoints();
  auto client = store::etcd3::Client::Create(co);
  if (!client) return 1;
  store::StoreOptions so;
  so.log = [](std::string_view) {};
  auto st = store::NewSubnetStore(*client, so);
  auto cfg = model::NetworkConfig::Parse(R"({"Network":"10.0.0.0/8","SubnetLen":24})");
  if (!cfg) {
    fprintf(stderr, "config: %s\n", cfg.error().message.c_str());
    return 1;
  }

  // (a) N acquisitions from `acquire_threads` concurrent workers.
  std::atomic<int> next{0}, failed{0};
  const auto t0 = Clock::now();
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < acquire_threads; ++t) {
      workers.emplace_back([&] {
        for (int i = next++; i < n; i = next++) {
          if (!st->AcquireLease(*cfg, {Attrs(i), std::nullopt}, {})) ++failed;
        }
      });
    }
  }
  const double acquire_ms = Ms(Clock::now() - t0);

  // (b) W watchers; `writes` leases written one at a time, each awaited by all watchers.
  const int w = std::min(n, max_watchers);
  std::stop_source stop;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::vector<double>> delays(static_cast<size_t>(writes));
  std::atomic<int> ready{0};
  std::atomic<int64_t> write_start_ns{0};
  std::atomic<int> current_write{-1};
  std::vector<std::jthread> watchers;
  for (int i = 0; i < w; ++i) {
    watchers.emplace_back([&] {
      auto watch = st->WatchLeases(stop.get_token());
      if (!watch->Next()) return;  // snapshot
      ++ready;
      cv.notify_all();
      while (true) {
        auto b = watch->Next();
        if (!b) return;
        const auto now = Clock::now().time_since_epoch().count();
        const int k = current_write.load();
        if (k < 0) continue;
        std::lock_guard lock(mu);
        delays[static_cast<size_t>(k)].push_back(static_cast<double>(now - write_start_ns) / 1e6);
        cv.notify_all();
      }
    });
  }
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::minutes(5), [&] { return ready == w; });
  }
  for (int k = 0; k < writes; ++k) {
    {
      std::lock_guard lock(mu);
      current_write = k;
      write_start_ns = Clock::now().time_since_epoch().count();
    }
    // A plain put, as a peer's acquisition ends: the clock covers write + watch delivery only.
    char key[64];
    snprintf(key, sizeof key, "/coreos.com/network/subnets/11.%d.%d.0-24", k / 256, k % 256);
    if (!(*client)->Put(key, Attrs(n + k).ToJson())) ++failed;
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(60),
                [&] { return delays[static_cast<size_t>(k)].size() >= static_cast<size_t>(w); });
  }
  stop.request_stop();
  watchers.clear();
  std::vector<double> all;
  for (auto& d : delays) all.insert(all.end(), d.begin(), d.end());
  printf("| %5d | %9.0f | %8.0f | %5d | %8.2f | %7.2f | %d |\n", n, acquire_ms,
         n / (acquire_ms / 1000.0), w, Percentile(all, 0.5), Percentile(all, 0.99), failed.load());
  fflush(stdout);
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> ns;
  int acquire_threads = 16, max_watchers = 1000, writes = 20;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--acquire-threads=", 0) == 0) {
      acquire_threads = std::stoi(a.substr(18));
    } else if (a.rfind("--max-watchers=", 0) == 0) {
      max_watchers = std::stoi(a.substr(15));
    } else if (a.rfind("--writes=", 0) == 0) {
      writes = std::stoi(a.substr(9));
    } else {
      ns.push_back(std::stoi(a));
    }
  }
  if (ns.empty()) ns = {100, 1000, 5000};
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  printf(
      "| N | acquire all (ms) | leases/s | watchers | watch delay median (ms) | p99 (ms) | "
      "failures |\n");
  printf("|---|---|---|---|---|---|---|\n");
  int rc = 0;
  for (int n : ns) rc |= Run(n, acquire_threads, max_watchers, writes);
  return rc;
}
