#include "apply/apply.h"
#include "base/error.h"
#include "base/printable.h"
#include "cli/workspace.h"

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <unistd.h>

namespace meridian {

ReportFormat parse_report_format(const std::string& format);

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void request_stop(int) { stop_requested.store(true); }

CommandSpec apply_spec() {
  CommandSpec spec{"apply", "--repo URL|PATH [--ref REF] [--path DIR] [--auto-approve] [--plan FILE] [--prune]",
                   "Apply the changes that make the live fleet equal to Git: dependencies first, then region by region.",
                   workspace_options(),
                   "The plan is always recomputed against live state first. Without --auto-approve, apply shows the plan\n"
                   "and asks on a terminal; it refuses to run unattended. Ctrl-C stops after the current object and\n"
                   "records the apply as interrupted. Exit status: 0 when every region is healthy, 1 otherwise."};
  spec.options.push_back({"auto-approve", "", "apply without asking"});
  spec.options.push_back({"plan", "FILE", "apply only if this saved JSON plan is still what a new plan would do"});
  spec.options.push_back({"prune", "", "delete managed objects that Git no longer has"});
  spec.options.push_back({"allow-mass-prune", "", "allow pruning more than half of the managed objects"});
  spec.options.push_back(lock_timeout_option());
  spec.options.push_back({"no-forecast", "", "skip the pod-placement forecast (it simulates the rollout; large new fleets take longest)"});
  return spec;
}

bool confirm() {
  std::cout << "\nApply these changes? Only 'yes' is accepted: " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "yes";
}

} // namespace

int run_apply(const std::vector<std::string>& args) {
  const CommandSpec spec = apply_spec();
  const Options options(spec, args);
  if (options.help()) {
    std::cout << format_help(spec);
    return 0;
  }
  // Held from the plan to the end of the apply: another apply or run in between would plan against
  // live state this one is changing.
  const auto lock = lock_state_dir(options, "meridian apply");
  const auto workspace = open_workspace(options);
  PlanOptions plan_options;
  plan_options.prune = options.flag("prune");
  plan_options.allow_mass_prune = options.flag("allow-mass-prune");
  plan_options.predict = !options.flag("no-forecast");
  const Plan plan = make_plan(workspace->desired(), *workspace->backend, *workspace->store, plan_options);
  if (const auto saved_path = options.get("plan")) {
    const SavedPlan saved = read_saved_plan(*saved_path);
    if (saved.commit != plan.commit)
      throw UserError(fmt::format("{}: saved plan is stale: it was made for commit {}, the ref now resolves to {}; run meridian plan again",
                                  *saved_path, saved.commit.substr(0, 12), plan.commit.substr(0, 12)));
    if (saved.fingerprint != plan.fingerprint)
      throw UserError(fmt::format("{}: saved plan is stale: the live fleet changed since it was made, so applying now would do "
                                  "something else; run meridian plan again", *saved_path));
  }
  const bool color = use_color(options, STDOUT_FILENO);
  std::cout << render_plan(plan, ReportFormat::text, color);
  if (const size_t errors = plan.count_errors(); errors > 0)
    throw UserError(fmt::format("{} change{} refused by the server's dry run or an ownership conflict (listed above); nothing was applied", errors,
                                errors == 1 ? "" : "s"));
  if (!plan.has_changes())
    return 0;
  if (!options.flag("auto-approve")) {
    if (isatty(STDIN_FILENO) == 0)
      throw UserError("refusing to apply without --auto-approve: standard input is not a terminal to ask on");
    if (!confirm()) {
      std::cout << "Apply cancelled.\n";
      return 1;
    }
  }
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  ApplyOptions apply_options;
  apply_options.interrupted = &stop_requested;
  // Names of objects to delete come from live state, which anyone may have written: escaped.
  apply_options.progress = [](const std::string& line) { std::cout << printable(line) << "\n" << std::flush; };
  const ApplyReport report = apply_plan(plan, workspace->desired(), *workspace->backend, *workspace->store, apply_options);
  std::cout << "\nRegions:\n";
  for (const RegionResult& region : report.regions)
    std::cout << printable(fmt::format("  wave {} {:<16} {}{}", region.wave, region.region.empty() ? "-" : region.region,
                                       to_string(region.outcome), region.reason.empty() ? "" : ": " + region.reason))
              << "\n";
  std::cout << fmt::format("\nApply #{} {}: {}.\n", report.record_id, to_string(report.result), report.summary());
  return report.result == ApplyResult::succeeded ? 0 : 1;
}

CommandSpec apply_command_spec() { return apply_spec(); }

} // namespace meridian
