#include "common/metrics.hpp"

#include <gtest/gtest.h>

namespace tartan::metrics {
namespace {

TEST(Metrics, RendersTheTextFormat) {
  Registry r;
  auto& c = r.Add("t_requests_total", "requests\nby result", Family::Type::kCounter, {"result"});
  c.CounterWith({"ok"}).Inc(3);
  c.CounterWith({"say \"hi\"\\"}).Inc();
  r.Add("t_temp", "a gauge", Family::Type::kGauge).GaugeWith().Set(0.25);
  auto& h = r.Add("t_seconds", "a histogram", Family::Type::kHistogram, {}, {0.1, 1});
  h.HistogramWith().Observe(0.05);
  h.HistogramWith().Observe(0.5);
  h.HistogramWith().Observe(5);
  EXPECT_EQ(r.Render(),
            "# HELP t_requests_total requests\\nby result\n"
            "# TYPE t_requests_total counter\n"
            "t_requests_total{result=\"ok\"} 3\n"
            "t_requests_total{result=\"say \\\"hi\\\"\\\\\"} 1\n"
            "# HELP t_temp a gauge\n"
            "# TYPE t_temp gauge\n"
            "t_temp 0.25\n"
            "# HELP t_seconds a histogram\n"
            "# TYPE t_seconds histogram\n"
            "t_seconds_bucket{le=\"0.1\"} 1\n"
            "t_seconds_bucket{le=\"1\"} 2\n"
            "t_seconds_bucket{le=\"+Inf\"} 3\n"
            "t_seconds_sum 5.55\n"
            "t_seconds_count 3\n");
}

TEST(Metrics, ClearDropsChildrenAndAddIsIdempotent) {
  Registry r;
  auto& g = r.Add("t_peers", "peers", Family::Type::kGauge, {"path"});
  g.GaugeWith({"vxlan"}).Set(2);
  g.Clear();
  g.GaugeWith({"host-gw"}).Set(1);
  EXPECT_EQ(&r.Add("t_peers", "again", Family::Type::kGauge, {"path"}), &g);
  EXPECT_EQ(r.Render(),
            "# HELP t_peers peers\n# TYPE t_peers gauge\nt_peers{path=\"host-gw\"} 1\n");
}

TEST(Metrics, ValueFormat) {
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(0.001), "0.001");
  EXPECT_EQ(FormatValue(1.7e9), "1.7e+09");  // shortest round trip; Go's ParseFloat reads it
}

TEST(Metrics, TartanFamiliesAreRegisteredOnce) {
  const auto& a = Tartan();
  const auto& b = Tartan();
  EXPECT_EQ(&a.repairs, &b.repairs);
  EXPECT_NE(Global().Render().find("# TYPE tartan_reconcile_duration_seconds histogram"),
            std::string::npos);
}

}  // namespace
}  // namespace tartan::metrics
