// Registry, families and the Prometheus text rendering. Updates are lock-free atomics; the
// family mutex is taken only to create a child or to render.
#include "common/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>

namespace tessera::common {
namespace {

[[noreturn]] void MetricsMisuse(const std::string& what) {
  std::fprintf(stderr, "metrics: %s\n", what.c_str());
  std::abort();
}

bool ValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

void AtomicAdd(std::atomic<double>& a, double n) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed)) {
  }
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `{a="x",b="y"}` with an optional extra `le` pair; empty when there is nothing to show.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const std::string* le = nullptr) {
  if (names.empty() && le == nullptr) return std::string();
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (le != nullptr) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
  return out;
}

void AppendSample(std::string* out, const std::string& name, const std::string& labels,
                  const std::string& value) {
  *out += name;
  *out += labels;
  *out += ' ';
  *out += value;
  *out += '\n';
}

}  // namespace

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // As Go's strconv.FormatFloat(v, 'g', -1, 64), which the reference client uses, so that
  // le="0.0001" matches other exporters: shortest digits, exponent form when the decimal
  // exponent is below -4 or at least 6.
  char buf[64];
  auto sci = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  if (sci.ec != std::errc()) return "NaN";
  const std::string_view text(buf, static_cast<size_t>(sci.ptr - buf));
  const size_t e = text.find('e');
  int exponent = 0;
  std::from_chars(text.data() + e + (text[e + 1] == '+' ? 2 : 1), text.data() + text.size(),
                  exponent);
  if (exponent < -4 || exponent >= 6) return std::string(text);
  auto fixed = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  if (fixed.ec != std::errc()) return "NaN";
  return std::string(buf, fixed.ptr);
}

std::string EscapeLabelValue(std::string_view v) {
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

void Counter::Inc(double n) {
  if (!(n >= 0)) return;
  AtomicAdd(value_, n);
}

void Gauge::Add(double n) { AtomicAdd(value_, n); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;  // le is inclusive
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
  return out;
}

FamilyBase::FamilyBase(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void FamilyBase::Render(std::string* out) const {
  std::string body;
  RenderChildren(&body);
  if (body.empty()) return;
  *out += "# HELP " + name_ + ' ' + EscapeHelp(help_) + '\n';
  *out += "# TYPE " + name_ + ' ' + type() + '\n';
  *out += body;
}

void FamilyBase::CheckLabelCount(const std::vector<std::string>& values) const {
  if (values.size() != label_names_.size()) {
    MetricsMisuse(name_ + ": " + std::to_string(values.size()) + " label values for " +
                  std::to_string(label_names_.size()) + " label names");
  }
}

template <typename T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), std::move(label_names)),
      bounds_(std::move(bounds)) {
  // A family without labels has its one child from the start, so it is exported as 0.
  if (label_names_.empty()) Get();
}

template <typename T>
T* Family<T>::WithLabels(const std::vector<std::string>& values) {
  CheckLabelCount(values);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    std::unique_ptr<T> child;
    if constexpr (std::is_same_v<T, Histogram>) {
      child = std::make_unique<Histogram>(bounds_);
    } else {
      child = std::make_unique<T>();
    }
    it = children_.emplace(values, std::move(child)).first;
  }
  return it->second.get();
}

template <>
const char* Family<Counter>::type() const {
  return "counter";
}
template <>
const char* Family<Gauge>::type() const {
  return "gauge";
}
template <>
const char* Family<Histogram>::type() const {
  return "histogram";
}

template <typename T>
void Family<T>::RenderChildren(std::string* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, child] : children_) {
    const std::string labels = LabelSet(label_names_, values);
    if constexpr (std::is_same_v<T, Histogram>) {
      const std::vector<uint64_t> counts = child->BucketCounts();
      uint64_t cumulative = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        const std::string le =
            i < bounds_.size() ? FormatMetricValue(bounds_[i]) : std::string("+Inf");
        AppendSample(out, name_ + "_bucket", LabelSet(label_names_, values, &le),
                     std::to_string(cumulative));
      }
      AppendSample(out, name_ + "_sum", labels, FormatMetricValue(child->Sum()));
      AppendSample(out, name_ + "_count", labels, std::to_string(cumulative));
    } else {
      AppendSample(out, name_, labels, FormatMetricValue(child->Value()));
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <typename T>
Family<T>& Registry::Add(std::string_view name, std::string_view help,
                         std::vector<std::string> label_names, std::vector<double> bounds) {
  const std::string n(name);
  if (!ValidName(n, /*allow_colon=*/true)) MetricsMisuse("invalid metric name '" + n + "'");
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& l = label_names[i];
    if (!ValidName(l, /*allow_colon=*/false) || l.starts_with("__") ||
        (std::is_same_v<T, Histogram> && l == "le")) {
      MetricsMisuse(n + ": invalid label name '" + l + "'");
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[j] == l) MetricsMisuse(n + ": duplicate label name '" + l + "'");
    }
  }
  if constexpr (std::is_same_v<T, Histogram>) {
    if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
    for (size_t i = 0; i < bounds.size(); ++i) {
      if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
        MetricsMisuse(n + ": bucket bounds must be finite and strictly increasing");
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(n);
  if (it != families_.end()) {
    auto* existing = dynamic_cast<Family<T>*>(it->second.get());
    if (existing == nullptr || existing->label_names() != label_names ||
        existing->bounds() != bounds) {
      MetricsMisuse(n + ": registered again with a different type, labels or buckets");
    }
    return *existing;
  }
  auto family =
      std::make_unique<Family<T>>(n, std::string(help), std::move(label_names), std::move(bounds));
  Family<T>& ref = *family;
  families_.emplace(n, std::move(family));
  return ref;
}

Family<Counter>& Registry::AddCounter(std::string_view name, std::string_view help,
                                      std::vector<std::string> label_names) {
  return Add<Counter>(name, help, std::move(label_names), {});
}

Family<Gauge>& Registry::AddGauge(std::string_view name, std::string_view help,
                                  std::vector<std::string> label_names) {
  return Add<Gauge>(name, help, std::move(label_names), {});
}

Family<Histogram>& Registry::AddHistogram(std::string_view name, std::string_view help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  return Add<Histogram>(name, help, std::move(label_names), std::move(bounds));
}

bool Registry::AddCollector(std::string_view key, std::function<void()> collect) {
  std::lock_guard<std::mutex> lock(mu_);
  return collectors_.emplace(std::string(key), std::move(collect)).second;
}

std::string Registry::Exposition() const {
  {
    std::lock_guard<std::mutex> collecting(collect_mu_);
    std::vector<std::function<void()>> collectors;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [key, collect] : collectors_) collectors.push_back(collect);
    }
    for (const auto& collect : collectors) collect();  // they set gauges: not under mu_
  }
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, family] : families_) family->Render(&out);
  return out;
}

Registry& DefaultRegistry() {
  static Registry registry;
  return registry;
}

}  // namespace tessera::common
