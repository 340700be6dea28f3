#include "loop/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace meridian {
namespace {

std::string_view type_name(MetricType type) {
  switch (type) {
  case MetricType::counter:
    return "counter";
  case MetricType::gauge:
    return "gauge";
  case MetricType::histogram:
    return "histogram";
  }
  return "untyped";
}

// Go's strconv.FormatFloat as Prometheus writes it: integers without a fraction, +Inf/-Inf/NaN.
std::string format_number(double value) {
  if (std::isnan(value))
    return "NaN";
  if (std::isinf(value))
    return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

std::string escape_help(const std::string& help) {
  std::string out;
  for (const char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string label_set(const std::string& first_name, const std::string& first_value, const std::vector<std::string>& names,
                      const std::vector<std::string>& values, const std::string& extra_name = {}, const std::string& extra_value = {}) {
  std::vector<std::string> pairs;
  if (!first_name.empty())
    pairs.push_back(fmt::format("{}=\"{}\"", first_name, escape_label_value(first_value)));
  for (size_t i = 0; i < names.size() && i < values.size(); ++i)
    pairs.push_back(fmt::format("{}=\"{}\"", names[i], escape_label_value(values[i])));
  if (!extra_name.empty())
    pairs.push_back(fmt::format("{}=\"{}\"", extra_name, extra_value));
  if (pairs.empty())
    return "";
  return fmt::format("{{{}}}", fmt::join(pairs, ","));
}

} // namespace

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void Metrics::declare(const std::string& name, const std::string& help, MetricType type, std::vector<std::string> label_names,
                      std::vector<double> buckets) {
  const std::lock_guard lock(mutex_);
  std::sort(buckets.begin(), buckets.end());
  Family declared{name, help, type, std::move(label_names), std::move(buckets), {}};
  if (declared.label_names.empty())
    sample(declared, {});
  families_.push_back(std::move(declared));
}

Metrics::Family& Metrics::family(const std::string& name) {
  for (Family& family : families_)
    if (family.name == name)
      return family;
  throw std::logic_error("metric not declared: " + name);
}

Metrics::Sample& Metrics::sample(Family& family, const Labels& labels) {
  if (labels.size() != family.label_names.size())
    throw std::logic_error("metric " + family.name + ": wrong number of label values");
  Sample& found = family.samples[labels];
  if (family.type == MetricType::histogram && found.bucket_counts.empty())
    found.bucket_counts.assign(family.buckets.size(), 0);
  return found;
}

void Metrics::add(const std::string& name, const Labels& labels, double delta) {
  const std::lock_guard lock(mutex_);
  sample(family(name), labels).value += delta;
}

void Metrics::set(const std::string& name, const Labels& labels, double value) {
  const std::lock_guard lock(mutex_);
  sample(family(name), labels).value = value;
}

void Metrics::observe(const std::string& name, const Labels& labels, double value) {
  const std::lock_guard lock(mutex_);
  Family& histogram = family(name);
  Sample& observed = sample(histogram, labels);
  for (size_t bucket = 0; bucket < histogram.buckets.size(); ++bucket)
    if (value <= histogram.buckets[bucket]) {
      ++observed.bucket_counts[bucket];
      break;
    }
  observed.sum += value;
  ++observed.count;
}

void Metrics::touch(const std::string& name, const Labels& labels) {
  const std::lock_guard lock(mutex_);
  sample(family(name), labels);
}

void Metrics::clear(const std::string& name) {
  const std::lock_guard lock(mutex_);
  family(name).samples.clear();
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  const std::lock_guard lock(mutex_);
  for (const Family& family : families_) {
    if (family.name != name)
      continue;
    const auto found = family.samples.find(labels);
    return found == family.samples.end() ? 0 : found->second.value;
  }
  return 0;
}

void Metrics::add_collector(std::function<void(Metrics&)> collector) {
  const std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

void Metrics::collect() {
  std::vector<std::function<void(Metrics&)>> collectors;
  {
    const std::lock_guard lock(mutex_);
    collectors = collectors_;
  }
  for (const auto& collector : collectors)
    collector(*this);
}

void Metrics::render_family(std::string& out, const Family& family, const std::string& first, const std::string& value) {
  const auto labels_of = [&](const Labels& labels, const std::string& extra_name = {}, const std::string& extra_value = {}) {
    return label_set(first, value, family.label_names, labels, extra_name, extra_value);
  };
  for (const auto& [labels, sample] : family.samples) {
    if (family.type != MetricType::histogram) {
      out += fmt::format("{}{} {}\n", family.name, labels_of(labels), format_number(sample.value));
      continue;
    }
    double cumulative = 0;
    for (size_t bucket = 0; bucket < family.buckets.size(); ++bucket) {
      cumulative += sample.bucket_counts[bucket];
      out += fmt::format("{}_bucket{} {}\n", family.name, labels_of(labels, "le", format_number(family.buckets[bucket])),
                         format_number(cumulative));
    }
    out += fmt::format("{}_bucket{} {}\n", family.name, labels_of(labels, "le", "+Inf"), format_number(sample.count));
    out += fmt::format("{}_sum{} {}\n", family.name, labels_of(labels), format_number(sample.sum));
    out += fmt::format("{}_count{} {}\n", family.name, labels_of(labels), format_number(sample.count));
  }
}

std::string Metrics::render() const {
  const std::lock_guard lock(mutex_);
  std::string out;
  for (const Family& family : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family.name, escape_help(family.help), family.name, type_name(family.type));
    render_family(out, family, "", "");
  }
  return out;
}

std::string Metrics::render_merged(const std::vector<std::pair<std::string, const Metrics*>>& registries, const std::string& label) {
  std::vector<std::unique_lock<std::mutex>> locks;
  for (const auto& registry : registries)
    locks.emplace_back(registry.second->mutex_);
  std::vector<const Family*> order;
  for (const auto& registry : registries)
    for (const Family& family : registry.second->families_)
      if (std::none_of(order.begin(), order.end(), [&](const Family* seen) { return seen->name == family.name; }))
        order.push_back(&family);
  std::string out;
  for (const Family* declared : order) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", declared->name, escape_help(declared->help), declared->name,
                       type_name(declared->type));
    for (const auto& [name, registry] : registries)
      for (const Family& family : registry->families_)
        if (family.name == declared->name)
          render_family(out, family, name.empty() ? std::string() : label, name);
  }
  return out;
}

} // namespace meridian
