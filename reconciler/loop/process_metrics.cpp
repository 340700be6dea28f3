#include "loop/process_metrics.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace meridian {
namespace {

std::optional<std::string> read_all(const std::string& path) {
  std::ifstream file(path);
  if (!file)
    return std::nullopt;
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// /proc/<pid>/stat after the command name (which may hold spaces and parentheses: cut at the last
// ')'), split on spaces: field 3 (state) is index 0.
std::vector<std::string> stat_fields(const std::string& text) {
  std::vector<std::string> fields;
  const size_t close = text.rfind(')');
  if (close == std::string::npos)
    return fields;
  std::istringstream rest(text.substr(close + 1));
  for (std::string field; rest >> field;)
    fields.push_back(field);
  return fields;
}

std::optional<double> number(const std::vector<std::string>& fields, size_t stat_field) {
  const size_t index = stat_field - 3;
  if (index >= fields.size())
    return std::nullopt;
  try {
    return std::stod(fields[index]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> boot_time(const std::string& proc_stat) {
  const auto text = read_all(proc_stat);
  if (!text)
    return std::nullopt;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("btime ", 0) == 0)
      return std::stod(line.substr(6));
  return std::nullopt;
}

std::optional<double> max_open_files(const std::string& limits_path) {
  const auto text = read_all(limits_path);
  if (!text)
    return std::nullopt;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("Max open files", 0) != 0)
      continue;
    std::istringstream values(line.substr(std::string("Max open files").size()));
    std::string soft;
    values >> soft;
    if (soft == "unlimited")
      return std::nullopt;
    try {
      return std::stod(soft);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

} // namespace

ProcessFacts read_process_facts(const std::string& proc, const std::string& proc_stat) {
  ProcessFacts facts;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  if (const auto stat = read_all(proc + "/stat")) {
    const std::vector<std::string> fields = stat_fields(*stat);
    const auto utime = number(fields, 14);
    const auto stime = number(fields, 15);
    if (utime && stime)
      facts.cpu_seconds = (*utime + *stime) / ticks;
    if (const auto vsize = number(fields, 23))
      facts.virtual_bytes = *vsize;
    if (const auto rss = number(fields, 24))
      facts.resident_bytes = *rss * page;
    const auto start = number(fields, 22);
    const auto boot = boot_time(proc_stat);
    if (start && boot)
      facts.start_time_seconds = *boot + *start / ticks;
  }
  std::error_code error;
  size_t open = 0;
  for (std::filesystem::directory_iterator entry(proc + "/fd", error), end; !error && entry != end; entry.increment(error))
    ++open;
  if (!error)
    facts.open_fds = static_cast<double>(open);
  facts.max_fds = max_open_files(proc + "/limits");
  return facts;
}

void register_process_metrics(Metrics& metrics) {
  metrics.declare("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", MetricType::counter);
  metrics.declare("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::gauge);
  metrics.declare("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::gauge);
  metrics.declare("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", MetricType::gauge);
  metrics.declare("process_open_fds", "Number of open file descriptors.", MetricType::gauge);
  metrics.declare("process_max_fds", "Maximum number of open file descriptors.", MetricType::gauge);
  metrics.add_collector([](Metrics& target) {
    const ProcessFacts facts = read_process_facts();
    const auto publish = [&](const char* name, const std::optional<double>& value) {
      if (value)
        target.set(name, *value);
      else
        target.clear(name);
    };
    publish("process_cpu_seconds_total", facts.cpu_seconds);
    publish("process_resident_memory_bytes", facts.resident_bytes);
    publish("process_virtual_memory_bytes", facts.virtual_bytes);
    publish("process_start_time_seconds", facts.start_time_seconds);
    publish("process_open_fds", facts.open_fds);
    publish("process_max_fds", facts.max_fds);
  });
}

void register_build_info(Metrics& metrics, const std::string& version, const std::string& commit) {
  metrics.declare("meridian_build_info", "A metric with a constant '1' value labeled by version and commit from which Meridian was built.",
                  MetricType::gauge, {"version", "commit"});
  metrics.set("meridian_build_info", {version, commit}, 1);
}

} // namespace meridian
