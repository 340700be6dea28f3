#include "base/error.h"
#include "cli/workspace.h"
#include "plan/plan.h"

#include <fmt/format.h>

#include <ctime>
#include <iostream>

namespace meridian {

int run_status(const std::vector<std::string>& args) {
  const CommandSpec spec{"status", "--repo URL|PATH [--ref REF] [--path DIR]",
                         "Show every object of the fleet: in sync, out of sync, missing or extra, and its health.",
                         workspace_options(), ""};
  const Options options(spec, args);
  if (options.help()) {
    std::cout << format_help(spec);
    return 0;
  }
  const auto workspace = open_workspace(options);
  PlanOptions plan_options;
  plan_options.predict = false;
  plan_options.prune = true;
  plan_options.allow_mass_prune = true;
  const Plan plan = make_plan(workspace->desired, *workspace->backend, *workspace->store, plan_options);
  std::cout << fmt::format("{} at {} ({})\n\n", plan.repository, plan.commit.substr(0, 12), plan.commit_summary);
  std::cout << fmt::format("{:<14} {:<16} {:<48} {:<12} {}\n", "REGION", "CLUSTER", "OBJECT", "SYNC", "HEALTH");
  size_t out_of_sync = 0;
  for (const PlannedChange& change : plan.changes) {
    std::string sync = "Synced";
    if (change.action == Action::create)
      sync = "Missing";
    else if (change.action == Action::update)
      sync = "OutOfSync";
    else if (change.action == Action::remove)
      sync = "Extra";
    out_of_sync += change.action == Action::unchanged ? 0 : 1;
    const Health health = workspace->backend->health(change.ref);
    std::cout << fmt::format("{:<14} {:<16} {:<48} {:<12} {}{}\n", change.region.empty() ? "-" : change.region,
                             change.ref.cluster.empty() ? "-" : change.ref.cluster, change.ref.display(), sync,
                             to_string(health.status), health.message.empty() ? "" : ": " + health.message);
  }
  std::cout << fmt::format("\n{} objects, {} not in sync with Git\n", plan.changes.size(), out_of_sync);
  return 0;
}

int run_history(const std::vector<std::string>& args) {
  const CommandSpec spec{"history", "[N] [--state-dir DIR]", "Show the last N applies (default 10), newest first, with per-object results.",
                         {{"state-dir", "DIR", "state directory (default $MERIDIAN_STATE_DIR or ./.meridian)"}}, ""};
  const Options options(spec, args);
  if (options.help()) {
    std::cout << format_help(spec);
    return 0;
  }
  size_t limit = 10;
  if (!options.positional().empty()) {
    const std::string& text = options.positional().front();
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
      throw UserError(fmt::format("history: N must be a positive number, got \"{}\"", text));
    limit = std::stoul(text);
  }
  StateStore store(state_dir(options) + "/meridian.db");
  const std::vector<ApplyRecord> records = store.history(limit);
  if (records.empty()) {
    std::cout << "No applies recorded yet.\n";
    return 0;
  }
  for (const ApplyRecord& record : records) {
    char started[32] = "-";
    const std::time_t time = static_cast<std::time_t>(record.started);
    std::strftime(started, sizeof started, "%Y-%m-%d %H:%M:%S", std::gmtime(&time));
    std::cout << fmt::format("#{}  {} UTC  commit {}  trigger {}  {}  {}\n", record.id, started, record.commit.substr(0, 12),
                             record.trigger, record.result, record.summary);
    for (const ObjectResult& object : record.objects)
      std::cout << fmt::format("    {:<12} {:<7} {:<11} {}{}{}\n", object.region.empty() ? "-" : object.region, object.action,
                               object.result, object.display, object.cluster.empty() ? "" : " (cluster " + object.cluster + ")",
                               object.message.empty() ? "" : ": " + object.message);
  }
  return 0;
}

} // namespace meridian
