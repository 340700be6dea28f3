#include "backend/kube/lease.h"
#include "base/error.h"
#include "base/printable.h"
#include "cli/workspace.h"
#include "kustomize/kustomize.h"
#include "loop/api.h"
#include "model/shards.h"
#include "plan/plan.h"

#include <fmt/format.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <charconv>
#include <optional>
#include <ctime>
#include <iostream>

namespace meridian {
namespace {

enum class OutputFormat { text, json, yaml };

OutputFormat output_format(const Options& options) {
  const std::string text = options.get_or("output", "text");
  if (text == "text")
    return OutputFormat::text;
  if (text == "json")
    return OutputFormat::json;
  if (text == "yaml")
    return OutputFormat::yaml;
  throw UserError(fmt::format("-o/--output: expected text, json or yaml, got \"{}\"", printable(text)));
}

OptionSpec output_option(const char* schema) {
  return {"output", "text|json|yaml", fmt::format("output format (default text; json and yaml follow schemas/{})", schema), 'o'};
}

// JSON text as YAML (keys sorted, as `kubectl get -o yaml` and `kustomize build` print).
std::string json_as_yaml(const std::string& text) {
  JsonDocument document;
  if (const auto error = parse_json(text, document))
    throw std::runtime_error("status: own JSON does not parse: " + *error);
  return kustomize::to_yaml(document);
}

struct StatusLine {
  const PlannedChange* change;
  std::string sync;
  Health health;
};

//! Suspended is paused on purpose (a CronJob, a rollout held): not a failure for a CI gate.
bool is_unhealthy(const Health& health) {
  return health.status != HealthStatus::healthy && health.status != HealthStatus::suspended;
}

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void member(Writer& writer, const char* name, std::string_view value) {
  writer.Key(name);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

//! One shard as `status --shards` shows it.
struct ShardLine {
  int shard = 0;
  std::optional<std::string> holder; //!< nullopt when the Lease was not read, is free or absent
  std::vector<std::string> clusters;
};

// The shards of --shards N: each cluster's (as `run --shards N` places them) and, with
// --leader-elect-kubeconfig, each shard Lease's holder.
std::vector<ShardLine> shard_lines(const Options& options, const DesiredState& desired, std::string& lease_note) {
  const std::string text = options.get_or("shards", "");
  int shards = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), shards);
  if (error != std::errc() || end != text.data() + text.size() || shards < 1 || shards > 1000)
    throw UserError(fmt::format("--shards: expected a number of shards from 1 to 1000, got \"{}\"", printable(text)));
  const ShardMap map = make_shard_map(desired, shards);
  if (!map.errors.empty())
    throw UserError(map.errors.front());
  std::vector<std::vector<std::string>> clusters = clusters_by_shard(map, desired);
  std::vector<ShardLine> lines;
  for (int shard = 0; shard < shards; ++shard)
    lines.push_back({shard, std::nullopt, std::move(clusters[static_cast<size_t>(shard)])});
  const auto kubeconfig = options.get("leader-elect-kubeconfig");
  const std::string lease_namespace = options.get_or("leader-elect-lease-namespace", "default");
  const std::string lease_name = options.get_or("leader-elect-lease-name", "meridian");
  if (!kubeconfig) {
    lease_note = "holders not read (give --leader-elect-kubeconfig)";
    return lines;
  }
  lease_note = fmt::format("leases {}/{}-shard-*", lease_namespace, lease_name);
  for (ShardLine& line : lines) {
    const auto lock = kube::open_lease_lock(kube::ClusterBinding{*kubeconfig, ""}, lease_namespace, shard_lease_name(lease_name, line.shard),
                                            std::chrono::seconds(10));
    const auto record = lock->get();
    if (record && !record->holder.empty())
      line.holder = record->holder;
  }
  return lines;
}

std::string render_status_json(const Plan& plan, const std::vector<StatusLine>& lines, size_t out_of_sync, size_t unhealthy,
                               const std::optional<std::vector<ShardLine>>& shards) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartObject();
  writer.Key("formatVersion");
  writer.Int(1);
  member(writer, "repository", plan.repository);
  member(writer, "commit", plan.commit);
  member(writer, "commitSummary", plan.commit_summary);
  member(writer, "owner", plan.owner);
  writer.Key("summary");
  writer.StartObject();
  writer.Key("objects");
  writer.Uint64(lines.size());
  writer.Key("outOfSync");
  writer.Uint64(out_of_sync);
  writer.Key("unhealthy");
  writer.Uint64(unhealthy);
  writer.EndObject();
  writer.Key("objects");
  writer.StartArray();
  for (const StatusLine& line : lines) {
    writer.StartObject();
    member(writer, "key", line.change->ref.key());
    member(writer, "object", line.change->ref.display());
    member(writer, "cluster", line.change->ref.cluster);
    member(writer, "region", line.change->region);
    member(writer, "sync", line.sync);
    member(writer, "health", to_string(line.health.status));
    member(writer, "message", line.health.message);
    writer.EndObject();
  }
  writer.EndArray();
  if (shards) {
    writer.Key("shards");
    writer.StartArray();
    for (const ShardLine& shard : *shards) {
      writer.StartObject();
      writer.Key("shard");
      writer.Int(shard.shard);
      writer.Key("holder");
      if (shard.holder)
        writer.String(shard.holder->c_str(), static_cast<rapidjson::SizeType>(shard.holder->size()));
      else
        writer.Null();
      writer.Key("clusters");
      writer.StartArray();
      for (const std::string& cluster : shard.clusters)
        writer.String(cluster.c_str(), static_cast<rapidjson::SizeType>(cluster.size()));
      writer.EndArray();
      writer.EndObject();
    }
    writer.EndArray();
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

} // namespace

CommandSpec status_command_spec() {
  CommandSpec spec{"status", "--repo URL|PATH [--ref REF] [--path DIR] [-o text|json|yaml] [--exit-code]",
                   "Show every object of the fleet: in sync, out of sync, missing or extra, and its health.",
                   workspace_options(),
                   "Exit status: 0, or with --exit-code 2 when an object is not in sync with Git or not healthy\n"
                   "(Progressing, Degraded, Missing; Suspended counts as healthy); 1 on an error."};
  spec.options.push_back(output_option("status.v1.json"));
  spec.options.push_back({"exit-code", "", "exit 2 when anything is out of sync or unhealthy (for CI gates)"});
  spec.options.push_back({"fleet", "NAME", "a fleet of `run --config`: its state under <state-dir>/fleets/NAME, owner NAME unless "
                                          "--owner says otherwise"});
  spec.options.push_back({"shards", "N", "also list the N shards of `run --shards N`: each one's clusters, and with "
                                         "--leader-elect-kubeconfig the holder of its Lease"});
  spec.options.push_back({"leader-elect-kubeconfig", "FILE", "with --shards: kubeconfig of the API server holding the shard Leases"});
  spec.options.push_back({"leader-elect-lease-namespace", "NS", "with --shards: namespace of the shard Leases (default default)"});
  spec.options.push_back({"leader-elect-lease-name", "NAME", "with --shards: the Leases are NAME-shard-<i> (default meridian)"});
  return spec;
}

CommandSpec history_command_spec() {
  return {"history", "[N] [--state-dir DIR] [--fleet NAME] [-o text|json|yaml]",
          "Show the last N applies (default 10), newest first, with per-object results.",
          {{"state-dir", "DIR", "state directory (default $MERIDIAN_STATE_DIR or ./.meridian)"},
           {"fleet", "NAME", "with `run --config`: the fleet's own state, <state-dir>/fleets/NAME"},
           output_option("history.v1.json")},
          ""};
}

int run_status(const std::vector<std::string>& args) {
  const CommandSpec spec = status_command_spec();
  const Options options(spec, args);
  if (options.help()) {
    std::cout << format_help(spec);
    return 0;
  }
  const OutputFormat format = output_format(options);
  const auto workspace = open_workspace(options);
  PlanOptions plan_options;
  plan_options.predict = false;
  plan_options.prune = true;
  plan_options.allow_mass_prune = true;
  const Plan plan = make_plan(workspace->desired(), *workspace->backend, *workspace->store, plan_options);
  std::vector<StatusLine> lines;
  lines.reserve(plan.changes.size());
  size_t out_of_sync = 0;
  size_t unhealthy = 0;
  for (const PlannedChange& change : plan.changes) {
    StatusLine line{&change, std::string(sync_of(change.action)),
                    object_health(*workspace->backend, plan.fleet.health_checks, change.ref,
                                  change.desired != nullptr && change.desired->manifest != nullptr ? change.desired->manifest->api_version : "")};
    out_of_sync += change.action == Action::unchanged ? 0 : 1;
    unhealthy += is_unhealthy(line.health) ? 1 : 0;
    lines.push_back(std::move(line));
  }
  std::optional<std::vector<ShardLine>> shards;
  std::string lease_note;
  if (options.get("shards"))
    shards = shard_lines(options, workspace->desired(), lease_note);
  else
    for (const char* name : {"leader-elect-kubeconfig", "leader-elect-lease-namespace", "leader-elect-lease-name"})
      if (options.flag(name))
        throw UserError(fmt::format("--{}: only with --shards", name));
  if (format == OutputFormat::text) {
    std::cout << fmt::format("{} at {} ({})\n\n", printable(plan.repository), printable(plan.commit.substr(0, 12)),
                             printable(plan.commit_summary));
    std::cout << fmt::format("{:<14} {:<16} {:<48} {:<12} {}\n", "REGION", "CLUSTER", "OBJECT", "SYNC", "HEALTH");
    for (const StatusLine& line : lines) {
      const PlannedChange& change = *line.change;
      std::cout << fmt::format("{:<14} {:<16} {:<48} {:<12} {}{}\n", change.region.empty() ? "-" : printable(change.region),
                               change.ref.cluster.empty() ? "-" : printable(change.ref.cluster), printable(change.ref.display()),
                               line.sync, to_string(line.health.status),
                               line.health.message.empty() ? "" : ": " + printable(line.health.message));
    }
    std::cout << fmt::format("\n{} objects, {} not in sync with Git, {} not healthy\n", plan.changes.size(), out_of_sync, unhealthy);
    if (shards) {
      std::cout << fmt::format("\n{} shards ({})\n{:<6} {:<24} {}\n", shards->size(), lease_note, "SHARD", "HOLDER", "CLUSTERS");
      for (const ShardLine& shard : *shards)
        std::cout << fmt::format("{:<6} {:<24} {}\n", shard.shard, printable(shard.holder.value_or("-")),
                                 shard.clusters.empty() ? "-" : printable(fmt::format("{}", fmt::join(shard.clusters, ", "))));
    }
  } else {
    const std::string json = render_status_json(plan, lines, out_of_sync, unhealthy, shards);
    std::cout << (format == OutputFormat::json ? json : json_as_yaml(json));
  }
  return options.flag("exit-code") && (out_of_sync > 0 || unhealthy > 0) ? 2 : 0;
}

int run_history(const std::vector<std::string>& args) {
  const CommandSpec spec = history_command_spec();
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
  const OutputFormat format = output_format(options);
  StateStore store(state_dir(options) + "/meridian.db");
  const std::vector<ApplyRecord> records = store.history(limit);
  if (format != OutputFormat::text) {
    const std::string json = render_history(records);
    std::cout << (format == OutputFormat::json ? json : json_as_yaml(json));
    return 0;
  }
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
                                       record.trigger, to_string(record.result), record.summary))
              << "\n";
    for (const ObjectResult& object : record.objects)
      std::cout << printable(fmt::format("    {:<12} {:<7} {:<11} {}{}{}", object.region.empty() ? "-" : object.region, object.action,
                                         to_string(object.result), object.display, object.cluster.empty() ? "" : " (cluster " + object.cluster + ")",
                                         object.message.empty() ? "" : ": " + object.message))
                << "\n";
  }
  return 0;
}

} // namespace meridian
