// Prometheus metrics of the long-running process, rendered in text exposition format 0.0.4.
//
// A small registry: families are declared once (name, help, type, label names, buckets), samples
// are keyed by label values. Rendering is deterministic: families in declaration order, samples
// sorted by label values. Thread-safe: the loop records, HTTP threads render.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace meridian {

enum class MetricType { counter, gauge, histogram };

class Metrics {
public:
  using Labels = std::vector<std::string>; //!< values, in the order of the family's label names

  //! Declares a family; an unlabelled counter or gauge starts at 0 so that it is always exported.
  void declare(const std::string& name, const std::string& help, MetricType type, std::vector<std::string> label_names = {},
               std::vector<double> buckets = {});

  //! Adds `delta` to a counter (or gauge).
  void add(const std::string& name, const Labels& labels = {}, double delta = 1);
  void set(const std::string& name, const Labels& labels, double value);
  void set(const std::string& name, double value) { set(name, {}, value); }
  //! Records one observation in a histogram.
  void observe(const std::string& name, const Labels& labels, double value);
  //! Makes a labelled sample exist (at 0) without changing it, so that rates start from zero.
  void touch(const std::string& name, const Labels& labels);
  //! Drops every sample of a family (gauges that are recomputed as a whole, such as object counts).
  void clear(const std::string& name);

  //! The current value of a counter or gauge sample (0 when absent); for tests and the log.
  double value(const std::string& name, const Labels& labels = {}) const;

  //! Registers a function that refreshes samples (process_* from /proc) when collect() runs.
  void add_collector(std::function<void(Metrics&)> collector);
  //! Runs the collectors; the HTTP server calls it before each render.
  void collect();

  //! Text exposition format 0.0.4.
  std::string render() const;

  //! Several registries as one exposition: each family once (HELP and TYPE from the first
  //! registry that declares it, families in order of first declaration), every sample of a
  //! registry with `label="<its name>"` first among its labels; a registry named "" adds no
  //! label (process-wide families). Registries in the order given.
  static std::string render_merged(const std::vector<std::pair<std::string, const Metrics*>>& registries, const std::string& label);

private:
  struct Sample {
    double value = 0;
    std::vector<double> bucket_counts; //!< per bucket (not cumulative); histograms only
    double sum = 0;
    double count = 0;
  };
  struct Family {
    std::string name;
    std::string help;
    MetricType type = MetricType::counter;
    std::vector<std::string> label_names;
    std::vector<double> buckets;
    std::map<Labels, Sample> samples;
  };
  Family& family(const std::string& name);
  Sample& sample(Family& family, const Labels& labels);

  static void render_family(std::string& out, const Family& family, const std::string& label, const std::string& value);

  mutable std::mutex mutex_;
  std::vector<Family> families_;
  std::vector<std::function<void(Metrics&)>> collectors_;
};

//! Escapes a label value for the text format (backslash, double quote, newline).
std::string escape_label_value(const std::string& value);

} // namespace meridian
