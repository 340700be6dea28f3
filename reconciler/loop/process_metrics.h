// The standard process metrics of Prometheus client libraries (client_golang's process collector,
// the Python client's ProcessCollector), read from /proc/self at every scrape:
//
//   process_cpu_seconds_total       counter  user and system CPU time (stat utime + stime)
//   process_resident_memory_bytes   gauge    resident set size (stat rss × page size)
//   process_virtual_memory_bytes    gauge    virtual memory size (stat vsize)
//   process_start_time_seconds      gauge    start time since the unix epoch (btime + starttime)
//   process_open_fds                gauge    entries of /proc/self/fd
//   process_max_fds                 gauge    soft limit "Max open files" of /proc/self/limits
//
// A file that cannot be read leaves its samples out of that scrape.
#pragma once

#include "loop/metrics.h"

#include <optional>
#include <string>

namespace meridian {

//! What /proc says about this process.
struct ProcessFacts {
  std::optional<double> cpu_seconds;
  std::optional<double> resident_bytes;
  std::optional<double> virtual_bytes;
  std::optional<double> start_time_seconds;
  std::optional<double> open_fds;
  std::optional<double> max_fds;
};

//! Reads the facts from `proc` (a /proc/<pid> directory) and `proc_stat` (/proc/stat, for btime).
ProcessFacts read_process_facts(const std::string& proc = "/proc/self", const std::string& proc_stat = "/proc/stat");

//! Declares the families and registers a collector that reads /proc/self before each render.
void register_process_metrics(Metrics& metrics);

//! Declares `meridian_build_info{version,commit}` (always 1), as Prometheus' own `*_build_info`.
void register_build_info(Metrics& metrics, const std::string& version, const std::string& commit);

} // namespace meridian
