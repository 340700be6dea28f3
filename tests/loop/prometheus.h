// A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line must be a
// HELP, a TYPE or a sample of a declared family; histograms must be cumulative and end at +Inf.
// Shared by the metrics unit test and the `meridian run` integration test.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace meridian::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromText {
  std::map<std::string, std::string> types; //!< family → counter | gauge | histogram | ...
  std::map<std::string, std::string> help;
  std::vector<PromSample> samples;

  //! The value of the one sample with `name` and exactly `labels`; fails when absent.
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    for (const PromSample& sample : samples)
      if (sample.name == name && sample.labels == labels)
        return sample.value;
    FAIL("no sample " << name);
    return 0;
  }
  bool has(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    for (const PromSample& sample : samples)
      if (sample.name == name && sample.labels == labels)
        return true;
    return false;
  }
  //! Sum over every sample of `name` whose labels include `subset`.
  double sum(const std::string& name, const std::map<std::string, std::string>& subset = {}) const {
    double total = 0;
    for (const PromSample& sample : samples) {
      if (sample.name != name)
        continue;
      bool match = true;
      for (const auto& [key, value] : subset)
        match = match && sample.labels.count(key) != 0 && sample.labels.at(key) == value;
      total += match ? sample.value : 0;
    }
    return total;
  }
};

namespace detail {

inline bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

inline double parse_value(const std::string& text) {
  if (text == "+Inf")
    return INFINITY;
  if (text == "-Inf")
    return -INFINITY;
  if (text == "NaN")
    return NAN;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  INFO("value \"" << text << "\"");
  REQUIRE((end != nullptr && *end == '\0' && !text.empty()));
  return value;
}

// The family a sample belongs to: histogram samples carry _bucket, _sum or _count.
inline std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name) != 0)
    return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      if (types.count(base) != 0 && (types.at(base) == "histogram" || types.at(base) == "summary"))
        return base;
    }
  }
  return "";
}

} // namespace detail

//! Parses `text`, REQUIRE-ing that it is well-formed.
inline PromText parse_prometheus(const std::string& text) {
  PromText out;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  REQUIRE((text.empty() || text.back() == '\n'));
  while (std::getline(lines, line)) {
    ++number;
    INFO("line " << number << ": " << line);
    if (line.empty())
      continue;
    if (line.rfind("# ", 0) == 0) {
      std::istringstream words(line.substr(2));
      std::string keyword, name;
      words >> keyword >> name;
      std::string rest;
      std::getline(words >> std::ws, rest);
      if (keyword == "TYPE") {
        REQUIRE((rest == "counter" || rest == "gauge" || rest == "histogram" || rest == "summary" || rest == "untyped"));
        REQUIRE(out.types.count(name) == 0);
        out.types[name] = rest;
      } else if (keyword == "HELP") {
        out.help[name] = rest;
      }
      continue;
    }
    PromSample sample;
    size_t pos = 0;
    while (pos < line.size() && detail::name_char(line[pos], pos == 0))
      ++pos;
    REQUIRE(pos > 0);
    sample.name = line.substr(0, pos);
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        const size_t start = pos;
        while (pos < line.size() && detail::name_char(line[pos], pos == start))
          ++pos;
        const std::string key = line.substr(start, pos - start);
        REQUIRE(!key.empty());
        REQUIRE(line.substr(pos, 2) == "=\"");
        pos += 2;
        std::string value;
        while (pos < line.size() && line[pos] != '"') {
          if (line[pos] == '\\') {
            REQUIRE(pos + 1 < line.size());
            const char escaped = line[pos + 1];
            REQUIRE((escaped == '\\' || escaped == '"' || escaped == 'n'));
            value += escaped == 'n' ? '\n' : escaped;
            pos += 2;
            continue;
          }
          value += line[pos++];
        }
        REQUIRE(pos < line.size());
        ++pos; // closing quote
        REQUIRE(sample.labels.count(key) == 0);
        sample.labels[key] = value;
        if (pos < line.size() && line[pos] == ',')
          ++pos;
      }
      REQUIRE(pos < line.size());
      ++pos; // closing brace
    }
    REQUIRE(pos < line.size());
    REQUIRE(line[pos] == ' ');
    const std::string value = line.substr(pos + 1);
    REQUIRE(value.find(' ') == std::string::npos); // no timestamps from Meridian
    sample.value = detail::parse_value(value);
    REQUIRE(!detail::family_of(sample.name, out.types).empty());
    out.samples.push_back(std::move(sample));
  }
  // Histograms: buckets cumulative, +Inf last and equal to _count.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram")
      continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    for (const PromSample& sample : out.samples) {
      if (sample.name != family + "_bucket")
        continue;
      REQUIRE(sample.labels.count("le") != 0);
      auto labels = sample.labels;
      const double le = detail::parse_value(labels["le"]);
      labels.erase("le");
      buckets[labels].emplace_back(le, sample.value);
    }
    for (const auto& [labels, series] : buckets) {
      INFO("histogram " << family);
      REQUIRE(!series.empty());
      for (size_t i = 1; i < series.size(); ++i) {
        REQUIRE(series[i].first > series[i - 1].first);
        REQUIRE(series[i].second >= series[i - 1].second);
      }
      REQUIRE(std::isinf(series.back().first));
      REQUIRE(out.value(family + "_count", labels) == series.back().second);
      REQUIRE(out.has(family + "_sum", labels));
    }
  }
  return out;
}

} // namespace meridian::testing
