#include "base/error.h"
#include "base/printable.h"
#include "cli/workspace.h"
#include "plan/plan.h"

#include <fmt/format.h>

#include <charconv>
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
  std::cout << fmt::format("{} at {} ({})\n\n", printable(plan.repository), printable(plan.commit.substr(0, 12)),
                           printable(plan.commit_summary));
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
    const Health health = object_health(*workspace->backend, plan.fleet.health_checks, change.ref,
                                        change.desired != nullptr && change.desired->manifest != nullptr ? change.desired->manifest->api_version : "");
    std::cout << fmt::format("{:<14} {:<16} {:<48} {:<12} {}{}\n", change.region.empty() ? "-" : printable(change.region),
                             change.ref.cluster.empty() ? "-" : printable(change.ref.cluster), printable(change.ref.display()), sync,
                             to_string(health.status), health.message.empty() ? "" : ": " + printable(health.message));
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
    constexpr size_t most = 1'000'000;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size() || limit == 0 || limit > most)
      throw UserError(fmt::format("history: N must be a number from 1 to {}, got \"{}\"", most, printable(text)));
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
    // The store may hold anything an older version or another program wrote: printed escaped.
    std::cout << printable(fmt::format("#{}  {} UTC  commit {}  trigger {}  {}  {}", record.id, started, record.commit.substr(0, 12),
                                       record.trigger, record.result, record.summary))
              << "\n";
    for (const ObjectResult& object : record.objects)
      std::cout << printable(fmt::format("    {:<12} {:<7} {:<11} {}{}{}", object.region.empty() ? "-" : object.region, object.action,
                                         object.result, object.display, object.cluster.empty() ? "" : " (cluster " + object.cluster + ")",
                                         object.message.empty() ? "" : ": " + object.message))
                << "\n";
  }
  return 0;
}

} // namespace meridian
