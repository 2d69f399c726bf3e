#include "common/metrics.hpp"

#include <charconv>
#include <cmath>

namespace tartan::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::string EscapeLabel(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> labels,
               std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      labels_(std::move(labels)),
      bounds_(std::move(bounds)) {
  // A family without labels has its one sample from the start (0), so a scrape shows it and
  // rate() has a first point before the first event.
  if (labels_.empty()) With({});
}

Family::Child& Family::With(const LabelValues& values) {
  std::lock_guard lock(mu_);
  auto& slot = children_[values];
  if (!slot) {
    slot = std::make_unique<Child>();
    if (type_ == Type::kHistogram) slot->histogram = std::make_unique<Histogram>(bounds_);
  }
  return *slot;
}

Counter& Family::CounterWith(const LabelValues& values) { return With(values).counter; }
Gauge& Family::GaugeWith(const LabelValues& values) { return With(values).gauge; }
Histogram& Family::HistogramWith(const LabelValues& values) { return *With(values).histogram; }

void Family::Clear() {
  std::lock_guard lock(mu_);
  children_.clear();
}

void Family::Render(std::string& out) const {
  // HELP text escapes only \ and newline.
  std::string help;
  for (char c : help_) {
    if (c == '\\') {
      help += "\\\\";
    } else if (c == '\n') {
      help += "\\n";
    } else {
      help += c;
    }
  }
  out += "# HELP " + name_ + " " + help + "\n";
  out += "# TYPE " + name_ + " " +
         (type_ == Type::kCounter ? "counter"
          : type_ == Type::kGauge ? "gauge"
                                  : "histogram") +
         "\n";
  auto labels = [this](const LabelValues& values, const std::string& extra = {}) {
    std::string s;
    for (size_t i = 0; i < labels_.size() && i < values.size(); ++i) {
      s += (s.empty() ? "" : ",") + labels_[i] + "=\"" + EscapeLabel(values[i]) + "\"";
    }
    if (!extra.empty()) s += (s.empty() ? "" : ",") + extra;
    return s.empty() ? s : "{" + s + "}";
  };
  std::lock_guard lock(mu_);
  for (const auto& [values, child] : children_) {
    switch (type_) {
      case Type::kCounter:
        out += name_ + labels(values) + " " + std::to_string(child->counter.value()) + "\n";
        break;
      case Type::kGauge:
        out += name_ + labels(values) + " " + FormatValue(child->gauge.value()) + "\n";
        break;
      case Type::kHistogram: {
        const Histogram& h = *child->histogram;
        const auto counts = h.counts();
        uint64_t cumulative = 0;
        for (size_t i = 0; i < counts.size(); ++i) {
          cumulative += counts[i];
          const std::string le =
              i < h.bounds().size() ? FormatValue(h.bounds()[i]) : std::string("+Inf");
          out += name_ + "_bucket" + labels(values, "le=\"" + le + "\"") + " " +
                 std::to_string(cumulative) + "\n";
        }
        out += name_ + "_sum" + labels(values) + " " + FormatValue(h.sum()) + "\n";
        out += name_ + "_count" + labels(values) + " " + std::to_string(cumulative) + "\n";
        break;
      }
    }
  }
}

Family& Registry::Add(const std::string& name, std::string help, Family::Type type,
                      std::vector<std::string> labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  if (auto it = by_name_.find(name); it != by_name_.end()) return *it->second;
  families_.push_back(
      std::make_unique<Family>(name, std::move(help), type, std::move(labels), std::move(bounds)));
  by_name_[name] = families_.back().get();
  return *families_.back();
}

std::string Registry::Render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& f : families_) f->Render(out);
  return out;
}

Registry& Global() {
  static Registry registry;
  return registry;
}

}  // namespace tartan::metrics

namespace tartan::metrics {

const TartanMetrics& Tartan() {
  using T = Family::Type;
  static const TartanMetrics m{
      Global().Add("tartan_build_info", "tartand's version; always 1", T::kGauge, {"version"}),
      Global().Add("tartan_lease_info", "this host's lease; always 1", T::kGauge,
                   {"subnet", "backend", "public_ip"}),
      Global().Add("tartan_lease_expiry_timestamp_seconds",
                   "Unix time this host's lease runs out unless renewed; 0 for a reservation",
                   T::kGauge),
      Global().Add("tartan_peers", "peer leases by their backend and the path chosen to them",
                   T::kGauge, {"backend", "path"}),
      Global().Add("tartan_kernel_entries",
                   "routes, neighbours and FDB entries the backend wants (desired) and that are "
                   "in the kernel after the last pass (programmed)",
                   T::kGauge, {"kind", "state"}),
      Global().Add("tartan_repairs_total",
                   "kernel entries set or removed to make the kernel match the peers, by kind",
                   T::kCounter, {"kind"}),
      Global().Add("tartan_reconcile_passes_total", "passes comparing the kernel with the peers",
                   T::kCounter),
      Global().Add("tartan_reconcile_duration_seconds", "duration of one reconcile pass",
                   T::kHistogram, {},
                   {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}),
      Global().Add("tartan_etcd_requests_total", "etcd requests by endpoint and result",
                   T::kCounter, {"endpoint", "result"}),
      Global().Add("tartan_watch_restarts_total",
                   "restarts of the watch on the peers' leases after it failed", T::kCounter),
      Global().Add("tartan_lease_renewals_total", "renewals of this host's lease", T::kCounter),
      Global().Add("tartan_firewall_repairs_total", "iptables rules put back in", T::kCounter),
  };
  return m;
}

}  // namespace tartan::metrics
