// /healthz and /readyz for supervisors and orchestrators (compat doc section 11).
//
// /healthz answers 200 as soon as the process serves; /readyz answers 200 once the agent says
// it is ready, else 503 with the reason (e.g. "waiting for a lease: etcd unreachable"), so an
// operator's `curl` shows what is wrong. One thread, poll()-driven, woken by an eventfd to stop.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "net/ip.hpp"

namespace tartan::http {

// At most this many anomaly lines on /readyz; the rest are counted ("... and 3 more").
inline constexpr size_t kMaxReadyzAnomalies = 10;

// The whole HTTP exchange as a pure function: request text in, response text out. The /readyz
// body is "ok" or "not ready: <reason>"; then a non-empty `detail` line (a standing fact such as
// "etcd API: v3"); then one "anomaly: <text>" line per anomaly (things in etcd or the kernel
// that tartan refuses to act on, e.g. a lease key outside the Network). Neither changes the
// status code.
//
// /metrics answers with `metrics()` (Prometheus text format 0.0.4), 404 when it is empty.
// /status answers {"ready":..., "reason":..., "detail":..., "anomalies":[...], "agent":<status>}
// for `tartanctl status --local`, where `status_json` is the agent's own snapshot (a JSON
// object, "null" while it has none).
std::string HandleRequest(const std::string& request, bool ready,
                          const std::string& not_ready_reason, const std::string& detail = {},
                          const std::vector<std::string>& anomalies = {},
                          const std::function<std::string()>& metrics = {},
                          const std::string& status_json = {});

// `s` as a JSON string literal, quotes included; bytes that are not UTF-8 text are escaped
// as \u00XX, so the output is valid JSON whatever `s` holds.
std::string JsonString(std::string_view s);

class HealthServer {
 public:
  HealthServer() = default;
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;
  ~HealthServer() { Stop(); }

  // Binds ip:port (port 0 picks a free one, see port()) and starts serving.
  Status Start(net::Ip4 ip, uint16_t port);
  void Stop();
  uint16_t port() const { return port_; }

  // Ready with no reason, or not ready with the reason shown by /readyz.
  void SetReady();
  void SetNotReady(std::string reason);
  // A standing fact shown under /readyz's first line (e.g. "etcd API: v3"); "" for none.
  void SetDetail(std::string detail);
  // Replaces the anomaly lines shown by /readyz (see HandleRequest).
  void SetAnomalies(std::vector<std::string> anomalies);
  bool ready() const { return ready_.load(); }
  // The agent's snapshot for /status (a JSON object); /metrics renders metrics::Global().
  void SetStatusJson(std::string json);
  // Renders the /status snapshot when /status is asked for (on this server's thread), instead
  // of SetStatusJson's text: an agent with thousands of peers then does that work per scrape,
  // not per change. Must be thread-safe and return quickly.
  void SetStatusProvider(std::function<std::string()> provider);

 private:
  void Serve();
  void Answer(int client_fd);

  UniqueFd listen_fd_;
  UniqueFd wake_fd_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::atomic<bool> ready_{false};
  std::mutex mu_;
  std::string not_ready_reason_ = "starting";
  std::string detail_;
  std::vector<std::string> anomalies_;
  std::string status_json_;
  std::function<std::string()> status_provider_;
};

}  // namespace tartan::http
