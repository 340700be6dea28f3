#include "base/error.h"
#include "cli/workspace.h"
#include "plan/plan.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

namespace meridian {
namespace {

CommandSpec plan_spec() {
  CommandSpec spec{"plan", "--repo URL|PATH [--ref REF] [--path DIR] [--format text|json|markdown] [--out FILE] [--detailed-exitcode]",
                   "Diff the desired state in Git against the live fleet and show the ordered changes (a dry run).",
                   workspace_options(),
                   "Exit status (as Terraform): 0 success, 1 error (the server refusing a change in its dry run included),\n"
                   "and with --detailed-exitcode 2 when there are changes or objects a prune guard kept."};
  spec.options.push_back({"format", "text|json|markdown", "report format (default text; json follows schemas/plan.v1.json)"});
  spec.options.push_back({"out", "FILE", "write the report to FILE instead of standard output"});
  spec.options.push_back({"detailed-exitcode", "", "exit 2 when the plan has changes (or a prune guard kept objects Git no longer has)"});
  spec.options.push_back({"prune", "", "plan the deletion of managed objects that Git no longer has"});
  spec.options.push_back({"allow-mass-prune", "", "allow pruning more than half of the managed objects"});
  spec.options.push_back({"no-forecast", "", "skip the pod-placement forecast (it simulates the rollout; large new fleets take longest)"});
  return spec;
}

} // namespace

ReportFormat parse_report_format(const std::string& format) {
  if (format == "text")
    return ReportFormat::text;
  if (format == "json")
    return ReportFormat::json;
  if (format == "markdown" || format == "md")
    return ReportFormat::markdown;
  throw UserError(fmt::format("--format: expected text, json or markdown, got \"{}\"", format));
}

namespace {

//! Writes the plan beside `path` and renames it into place, so a reader never sees half a plan. A
//! path that exists and is not a regular file (/dev/null, a pipe, /dev/stdout) is written in
//! place: renaming over it would replace the device or pipe with a file.
void write_plan_file(const std::string& path, const std::string& text) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  const bool in_place = !error && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status);
  const std::string target = in_place ? path : path + ".partial";
  {
    std::ofstream file(target, std::ios::binary | std::ios::trunc);
    file << text;
    file.flush();
    if (!file)
      throw UserError(fmt::format("{}: cannot write the plan: {}", path, std::strerror(errno)));
  }
  if (!in_place && std::rename(target.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::remove(target.c_str());
    throw UserError(fmt::format("{}: cannot write the plan: {}", path, std::strerror(saved)));
  }
}

} // namespace

int run_plan(const std::vector<std::string>& args) {
  const CommandSpec spec = plan_spec();
  const Options options(spec, args);
  if (options.help()) {
    std::cout << format_help(spec);
    return 0;
  }
  const ReportFormat format = parse_report_format(options.get_or("format", "text"));
  const auto workspace = open_workspace(options);
  PlanOptions plan_options;
  plan_options.prune = options.flag("prune");
  plan_options.allow_mass_prune = options.flag("allow-mass-prune");
  plan_options.predict = !options.flag("no-forecast");
  const Plan plan = make_plan(workspace->desired(), *workspace->backend, *workspace->store, plan_options);
  if (const auto out = options.get("out")) {
    write_plan_file(*out, render_plan(plan, format, false));
    std::cerr << fmt::format("plan written to {} ({})\n", *out, plan.has_changes() ? "changes" : "no changes");
  } else {
    std::cout << render_plan(plan, format, format == ReportFormat::text && use_color(options, STDOUT_FILENO));
  }
  if (plan.count_errors() > 0)
    return 1; // the report names each refusal; the apply would fail
  return options.flag("detailed-exitcode") && plan.differs_from_git() ? 2 : 0;
}

CommandSpec plan_command_spec() { return plan_spec(); }

} // namespace meridian
