// The registry's exact text exposition (format 0.0.4) for each metric type, label escaping,
// and that children are stable and updates from many threads add up.
#include "common/metrics.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace tessera::common {
namespace {

TEST(MetricsTest, Counter) {
  Registry r;
  Family<Counter>& f = r.AddCounter("tessera_requests_total", "Requests served.");
  f.Get()->Inc();
  f.Get()->Inc(2);
  f.Get()->Inc(-5);  // ignored: counters only go up
  EXPECT_EQ(r.Exposition(),
            "# HELP tessera_requests_total Requests served.\n"
            "# TYPE tessera_requests_total counter\n"
            "tessera_requests_total 3\n");
}

TEST(MetricsTest, UnusedCounterIsZero) {
  Registry r;
  r.AddCounter("a_total", "A.");
  EXPECT_EQ(r.Exposition(), "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n");
}

TEST(MetricsTest, LabelledGauge) {
  Registry r;
  Family<Gauge>& f = r.AddGauge("tessera_raft_term", "Current term.", {"group", "node"});
  f.WithLabels({"2", "b"})->Set(7);
  f.WithLabels({"10", "a"})->Set(1.5);
  f.WithLabels({"10", "a"})->Add(-3);
  EXPECT_EQ(r.Exposition(),
            "# HELP tessera_raft_term Current term.\n"
            "# TYPE tessera_raft_term gauge\n"
            "tessera_raft_term{group=\"10\",node=\"a\"} -1.5\n"
            "tessera_raft_term{group=\"2\",node=\"b\"} 7\n");
}

TEST(MetricsTest, LabelledFamilyWithoutChildrenIsOmitted) {
  Registry r;
  r.AddGauge("g", "G.", {"group"});
  EXPECT_EQ(r.Exposition(), "");
}

TEST(MetricsTest, Histogram) {
  Registry r;
  Family<Histogram>& f = r.AddHistogram("tessera_apply_seconds", "Apply time.", {}, {0.25, 1, 2.5});
  Histogram* h = f.Get();
  h->Observe(0.125);
  h->Observe(0.25);  // le is inclusive
  h->Observe(0.5);
  h->Observe(4);
  EXPECT_EQ(r.Exposition(),
            "# HELP tessera_apply_seconds Apply time.\n"
            "# TYPE tessera_apply_seconds histogram\n"
            "tessera_apply_seconds_bucket{le=\"0.25\"} 2\n"
            "tessera_apply_seconds_bucket{le=\"1\"} 3\n"
            "tessera_apply_seconds_bucket{le=\"2.5\"} 3\n"
            "tessera_apply_seconds_bucket{le=\"+Inf\"} 4\n"
            "tessera_apply_seconds_sum 4.875\n"
            "tessera_apply_seconds_count 4\n");
}

TEST(MetricsTest, LabelledHistogram) {
  Registry r;
  Family<Histogram>& f = r.AddHistogram("p_seconds", "P.", {"group"}, {1, 2});
  f.WithLabels({"1"})->Observe(1.5);
  EXPECT_EQ(r.Exposition(),
            "# HELP p_seconds P.\n"
            "# TYPE p_seconds histogram\n"
            "p_seconds_bucket{group=\"1\",le=\"1\"} 0\n"
            "p_seconds_bucket{group=\"1\",le=\"2\"} 1\n"
            "p_seconds_bucket{group=\"1\",le=\"+Inf\"} 1\n"
            "p_seconds_sum{group=\"1\"} 1.5\n"
            "p_seconds_count{group=\"1\"} 1\n");
}

TEST(MetricsTest, LabelAndHelpEscaping) {
  Registry r;
  Family<Gauge>& f = r.AddGauge("esc", "Back\\slash and\nnewline \"quoted\".", {"v"});
  f.WithLabels({"a\\b\"c\nd"})->Set(1);
  EXPECT_EQ(r.Exposition(),
            "# HELP esc Back\\\\slash and\\nnewline \"quoted\".\n"
            "# TYPE esc gauge\n"
            "esc{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsTest, FamiliesSortedByName) {
  Registry r;
  r.AddGauge("zz", "Z.").Get()->Set(1);
  r.AddCounter("aa_total", "A.");
  EXPECT_EQ(r.Exposition(),
            "# HELP aa_total A.\n# TYPE aa_total counter\naa_total 0\n"
            "# HELP zz Z.\n# TYPE zz gauge\nzz 1\n");
}

TEST(MetricsTest, ValueFormatting) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(42), "42");
  EXPECT_EQ(FormatMetricValue(0.25), "0.25");
  EXPECT_EQ(FormatMetricValue(-2.5), "-2.5");
  // Go's strconv 'g' shortest form, as client_golang writes it.
  EXPECT_EQ(FormatMetricValue(0.0001), "0.0001");
  EXPECT_EQ(FormatMetricValue(0.00001), "1e-05");
  EXPECT_EQ(FormatMetricValue(123456), "123456");
  EXPECT_EQ(FormatMetricValue(1e6), "1e+06");
  EXPECT_EQ(FormatMetricValue(2537840), "2.53784e+06");
  EXPECT_EQ(FormatMetricValue(1.5e300), "1.5e+300");
  EXPECT_EQ(FormatMetricValue(-1e-300), "-1e-300");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(MetricsTest, ReRegistrationReturnsSameFamilyAndStableChildren) {
  Registry r;
  Family<Gauge>& a = r.AddGauge("g", "G.", {"group"});
  Family<Gauge>& b = r.AddGauge("g", "G.", {"group"});
  EXPECT_EQ(&a, &b);
  Gauge* g1 = a.WithLabels({"1"});
  for (int i = 0; i < 100; ++i) a.WithLabels({std::to_string(i + 2)});
  EXPECT_EQ(g1, b.WithLabels({"1"}));
}

TEST(MetricsTest, ReRegistrationWithOtherTypeAborts) {
  Registry r;
  r.AddGauge("g", "G.");
  EXPECT_DEATH(r.AddCounter("g", "G."), "registered again");
  EXPECT_DEATH(r.AddGauge("g", "G.", {"x"}), "registered again");
  EXPECT_DEATH(r.AddGauge("bad-name", "B."), "invalid metric name");
  EXPECT_DEATH(r.AddHistogram("h", "H.", {"le"}, {1}), "invalid label name");
  EXPECT_DEATH(r.AddGauge("l", "L.", {"a"}).WithLabels({}), "label values");
}

TEST(MetricsTest, ConcurrentUpdatesAddUp) {
  Registry r;
  Family<Counter>& c = r.AddCounter("c_total", "C.", {"t"});
  Family<Histogram>& h = r.AddHistogram("h", "H.", {}, {0.5});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.WithLabels({"x"})->Inc();
        h.Get()->Observe(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(c.WithLabels({"x"})->Value(), 40000);
  EXPECT_EQ(h.Get()->Sum(), 40000);
  EXPECT_EQ(h.Get()->BucketCounts(), (std::vector<uint64_t>{0, 40000}));
}

TEST(MetricsTest, DefaultRegistryIsOneObject) { EXPECT_EQ(&DefaultRegistry(), &DefaultRegistry()); }

}  // namespace
}  // namespace tessera::common
