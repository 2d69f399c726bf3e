// etcd store scaling: for N simulated nodes in one process against one local etcd (started by
// the test fixture), (a) the wall time for N nodes to acquire leases, and (b) the delay from a
// lease being written (one Put, as the last step of a peer's acquisition) to every watcher
// seeing it. Every watcher holds its own HTTP/1.1 connection to etcd, as real nodes do.
//
// --api selects the key space: v3 (etcd's v3 JSON gateway, store/etcd3) or v2 (the /v2/keys
// API, store/etcd2, etcd started with --enable-v2). Each (api, N) gets a fresh etcd. With more
// than one api, a table of ratios to the first one follows.
//
// usage: store_bench [N ...] [--api=v3,v2] [--acquire-threads=16] [--max-watchers=1000]
//                    [--writes=20]
// Default N: 100 1000 5000; default api: v3. Each watcher is one thread blocked on a watch stream
// (and one socket), so the watcher count is capped (--max-watchers) to stay polite on small shared
// machines; the open-files limit is raised to its hard limit for the sockets.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/etcd_fixture.hpp"
#include "store/etcd2/client.hpp"
#include "store/etcd3/client.hpp"
#include "store/subnet_store.hpp"

using namespace tartan;
using Clock = std::chrono::steady_clock;

namespace {

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(i, v.size() - 1)];
}

model::LeaseAttrs Attrs(int node) {
  model::LeaseAttrs a;
  a.public_ip = net::Ip4(static_cast<uint32_t>(0xC6120000u + static_cast<uint32_t>(node)));
  a.backend_type = "vxlan";
  char mac[64];
  (void)snprintf(mac, sizeof mac, R"({"VNI":1,"VtepMAC":"02:00:00:%02x:%02x:%02x"})",
                 (node >> 16) & 255, (node >> 8) & 255, node & 255);
  a.backend_data = mac;
  return a;
}

struct Row {
  double acquire_ms = 0;
  int watchers = 0;
  double median_ms = 0;
  double p99_ms = 0;
  int failed = 0;
};

// A registry for `api` plus the plain put a peer's acquisition ends with (the value in the
// shape that key space's flanneld writes).
struct Backend {
  std::shared_ptr<store::Registry> registry;
  std::function<bool(const std::string& key, const model::LeaseAttrs&)> put;
};

Result<Backend> Connect(const std::string& api, const std::string& endpoints) {
  store::etcd_http::ClientOptions co;
  co.endpoints = endpoints;
  if (api == "v2") {
    auto c = store::etcd2::Client::Create(co);
    if (!c) return c.error();
    std::shared_ptr<store::etcd2::Client> client = *c;
    return Backend{client, [client](const std::string& key, const model::LeaseAttrs& a) {
                     return client->Set(key, a.ToJson(model::LeaseShape::kV011)).ok();
                   }};
  }
  auto c = store::etcd3::Client::Create(co);
  if (!c) return c.error();
  std::shared_ptr<store::etcd3::Client> client = *c;
  return Backend{client, [client](const std::string& key, const model::LeaseAttrs& a) {
                   return client->Put(key, a.ToJson()).ok();
                 }};
}

std::optional<Row> Run(const std::string& api, int n, int acquire_threads, int max_watchers,
                       int writes) {
  testing::EtcdOptions eo;
  eo.enable_v2 = api == "v2";
  auto cluster = testing::EtcdCluster::Start(eo);
  if (!cluster) {
    (void)fprintf(stderr, "etcd: %s\n", cluster.error().message.c_str());
    return std::nullopt;
  }
  auto backend = Connect(api, (*cluster)->Endpoints());
  if (!backend) {
    (void)fprintf(stderr, "client: %s\n", backend.error().message.c_str());
    return std::nullopt;
  }
  store::StoreOptions so;
  so.log = [](std::string_view) {};
  auto st = store::NewSubnetStore(backend->registry, so);
  auto cfg = model::NetworkConfig::Parse(R"({"Network":"10.0.0.0/8","SubnetLen":24})");
  if (!cfg) {
    (void)fprintf(stderr, "config: %s\n", cfg.error().message.c_str());
    return std::nullopt;
  }

  // (a) N acquisitions from `acquire_threads` concurrent workers.
  std::atomic<int> next{0}, failed{0};
  const auto t0 = Clock::now();
  {
    std::vector<std::jthread> workers;
    workers.reserve(static_cast<size_t>(acquire_threads));
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
  watchers.reserve(static_cast<size_t>(w));
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
    (void)snprintf(key, sizeof key, "/coreos.com/network/subnets/11.%d.%d.0-24", k / 256, k % 256);
    if (!backend->put(key, Attrs(n + k))) ++failed;
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(60),
                [&] { return delays[static_cast<size_t>(k)].size() >= static_cast<size_t>(w); });
  }
  stop.request_stop();
  watchers.clear();
  std::vector<double> all;
  for (auto& d : delays) all.insert(all.end(), d.begin(), d.end());
  Row row{acquire_ms, w, Percentile(all, 0.5), Percentile(all, 0.99), failed.load()};
  // A write not seen by every watcher within the deadline counts as a failure.
  for (auto& d : delays) {
    if (d.size() < static_cast<size_t>(w)) ++row.failed;
  }
  (void)printf("| %s | %5d | %9.0f | %8.0f | %5d | %8.2f | %7.2f | %d |\n", api.c_str(), n,
               acquire_ms, n / (acquire_ms / 1000.0), w, row.median_ms, row.p99_ms, row.failed);
  (void)fflush(stdout);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> ns;
  std::vector<std::string> apis;
  int acquire_threads = 16, max_watchers = 1000, writes = 20;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--api=", 0) == 0) {
      std::stringstream list(a.substr(6));
      for (std::string api; std::getline(list, api, ',');) {
        if (api != "v2" && api != "v3") {
          (void)fprintf(stderr, "--api: v2 or v3, not '%s'\n", api.c_str());
          return 2;
        }
        apis.push_back(api);
      }
    } else if (a.rfind("--acquire-threads=", 0) == 0) {
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
  if (apis.empty()) apis = {"v3"};
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  (void)printf(
      "| api | N | acquire all (ms) | leases/s | watchers | watch delay median (ms) | p99 (ms) | "
      "failures |\n");
  (void)printf("|---|---|---|---|---|---|---|---|\n");
  (void)fflush(stdout);
  int rc = 0;
  std::map<std::pair<std::string, int>, Row> rows;
  // For each N the apis back to back, so that the compared runs see the same machine load.
  for (int n : ns) {
    for (const auto& api : apis) {
      auto row = Run(api, n, acquire_threads, max_watchers, writes);
      if (!row || row->failed) rc = 1;
      if (row) rows[{api, n}] = *row;
    }
  }
  if (apis.size() > 1) {
    const std::string& base = apis.front();
    (void)printf("\n| N | ratio | acquire all | watch delay median | p99 |\n");
    (void)printf("|---|---|---|---|---|\n");
    for (int n : ns) {
      auto b = rows.find({base, n});
      if (b == rows.end()) continue;
      for (size_t i = 1; i < apis.size(); ++i) {
        auto r = rows.find({apis[i], n});
        if (r == rows.end()) continue;
        auto ratio = [](double x, double y) { return y > 0 ? x / y : 0.0; };
        (void)printf("| %5d | %s/%s | %.2f | %.2f | %.2f |\n", n, apis[i].c_str(), base.c_str(),
                     ratio(r->second.acquire_ms, b->second.acquire_ms),
                     ratio(r->second.median_ms, b->second.median_ms),
                     ratio(r->second.p99_ms, b->second.p99_ms));
      }
    }
  }
  return rc;
}
