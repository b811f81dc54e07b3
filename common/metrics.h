// A small process-wide metrics registry (counters, gauges, histograms with labels) rendered
// as Prometheus text exposition format 0.0.4; prometheus-cpp is not packaged here.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::common {

// Monotonic; Inc with a negative amount is ignored.
class Counter {
 public:
  void Inc(double n = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double n);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Fixed upper bounds (strictly increasing, finite); +Inf is implicit.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket (not cumulative) counts; the last one is the +Inf overflow bucket.
  std::vector<uint64_t> BucketCounts() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// The parts shared by every family; Registry renders through it.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  virtual const char* type() const = 0;
  // Appends the # HELP / # TYPE lines and every child's samples; nothing if no child exists.
  void Render(std::string* out) const;

 protected:
  virtual void RenderChildren(std::string* out) const = 0;
  // Aborts (a programming error) when the number of values differs from the label names.
  void CheckLabelCount(const std::vector<std::string>& values) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;  // guards the children maps of the subclasses
};

// One metric name with its label names; each distinct label-value tuple is a child.
template <typename T>
class Family final : public FamilyBase {
 public:
  // For histograms `bounds` are the bucket bounds; ignored otherwise.
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {});

  // The child for these label values (in label-name order), created on first use. The
  // pointer stays valid as long as the registry.
  T* WithLabels(const std::vector<std::string>& values);
  // The child of a family without labels.
  T* Get() { return WithLabels({}); }

  const char* type() const override;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  void RenderChildren(std::string* out) const override;

  const std::vector<double> bounds_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;  // guarded by mu_
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registering a name again with the same type, label names (and bounds) returns the
  // existing family; any other mismatch, or an invalid name, aborts.
  Family<Counter>& AddCounter(std::string_view name, std::string_view help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string_view name, std::string_view help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string_view name, std::string_view help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);

  // Text format 0.0.4, families sorted by name, children by label values. Runs the
  // collectors first.
  std::string Exposition() const;

  // `collect` runs at the start of every Exposition (on the scraping thread) to refresh
  // values that are read rather than counted, e.g. from /proc. Returns false (and adds
  // nothing) when a collector was already added under `key`.
  bool AddCollector(std::string_view key, std::function<void()> collect);

 private:
  template <typename T>
  Family<T>& Add(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                 std::vector<double> bounds);

  mutable std::mutex mu_;  // guards families_ and collectors_
  std::map<std::string, std::unique_ptr<FamilyBase>, std::less<>> families_;
  std::map<std::string, std::function<void()>, std::less<>> collectors_;
  mutable std::mutex collect_mu_;  // one scrape's collectors at a time
};

// The process-wide registry (the one piece of global mutable state STYLE.md allows).
Registry& DefaultRegistry();

// Exposed for tests: a sample value as Prometheus writes it (shortest round-trip, +Inf,
// -Inf, NaN) and a label value escaped (backslash, double quote, newline).
std::string FormatMetricValue(double v);
std::string EscapeLabelValue(std::string_view v);

}  // namespace tessera::common
