// A small metrics registry for /metrics (Prometheus text format 0.0.4).
//
// Cheap by construction: a counter or gauge is one atomic, a histogram a fixed array of atomics;
// the hot path holds a reference to its child and never takes a lock. Labelled children are
// created under the family's mutex (once per label set, looked up at most once per agent pass).
// The text is rendered only when scraped.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tartan::metrics {

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Per bucket (not cumulative), the +Inf bucket last.
  std::vector<uint64_t> counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

using LabelValues = std::vector<std::string>;

// One metric name with its HELP, TYPE and labelled children.
class Family {
 public:
  enum class Type { kCounter, kGauge, kHistogram };
  Family(std::string name, std::string help, Type type, std::vector<std::string> labels,
         std::vector<double> bounds = {});

  // The child for these label values (as many as the family has labels), created on first use;
  // the reference stays valid until Clear().
  Counter& CounterWith(const LabelValues& values = {});
  Gauge& GaugeWith(const LabelValues& values = {});
  Histogram& HistogramWith(const LabelValues& values = {});
  // Drops every child: for gauges describing a set that changes (peers by path, lease info).
  // Callers must not keep references to children across a Clear().
  void Clear();

  void Render(std::string& out) const;

 private:
  struct Child {
    Counter counter;
    Gauge gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Child& With(const LabelValues& values);

  std::string name_, help_;
  Type type_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<Child>> children_;
};

class Registry {
 public:
  // Registers a family; names are unique (a second registration returns the first family).
  Family& Add(const std::string& name, std::string help, Family::Type type,
              std::vector<std::string> labels = {}, std::vector<double> bounds = {});
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
  std::map<std::string, Family*> by_name_;
};

// The process's registry, rendered by the health server's /metrics.
Registry& Global();

// "1.5", "0.001", "+Inf": the shortest text that reads back as `v`.
std::string FormatValue(double v);
// A label value with \, " and newline escaped.
std::string EscapeLabel(std::string_view v);

}  // namespace tartan::metrics

namespace tartan::metrics {

// tartand's metrics (README, "Metrics"), registered in Global() on first use.
struct TartanMetrics {
  Family& build_info;         // gauge {version} 1
  Family& lease_info;         // gauge {subnet, backend, public_ip} 1
  Family& lease_expiry;       // gauge: Unix time the lease runs out; 0 for a reservation
  Family& peers;              // gauge {backend, path}
  Family& entries;            // gauge {kind=route|neighbour|fdb, state=desired|programmed}
  Family& repairs;            // counter {kind}: kernel entries tartan set or removed
  Family& reconcile_passes;   // counter
  Family& reconcile_seconds;  // histogram
  Family& etcd_requests;      // counter {endpoint, result}
  Family& watch_restarts;     // counter
  Family& lease_renewals;     // counter
  Family& firewall_repairs;   // counter
};
const TartanMetrics& Tartan();

}  // namespace tartan::metrics
