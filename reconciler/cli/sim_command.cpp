// `meridian sim`: seed, inspect and disturb the embedded fleet simulator, kubectl-style.
#include "cli/commands.h"

#include "backend/sim/sim.h"
#include "base/duration.h"
#include "base/error.h"
#include "manifest/yaml_parser.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <iostream>
#include <set>
#include <sstream>

namespace meridian {
namespace {

const OptionSpec kStateDir{"state-dir", "DIR", "where the simulator state lives (sim.db); default $MERIDIAN_STATE_DIR or ./.meridian"};
const OptionSpec kCluster{"cluster", "NAME", "only objects of this cluster"};
const OptionSpec kNamespace{"namespace", "NS", "only objects of this namespace (default: all)", 'n'};

CommandSpec sim_spec() {
  return {"sim", "<init|reset|get|describe|advance|apply|delete> ...", "Seed, inspect and disturb the embedded fleet simulator.",
          {kStateDir},
          "Subcommands:\n"
          "  init --fixture FILE          replace the simulated fleet with a fixture (see examples/fixtures)\n"
          "  reset                        start over from the fixture last given to init\n"
          "  get KIND [NAME]              list objects like kubectl get (-o wide|yaml|json|name)\n"
          "  describe KIND NAME           show one object with its events (nodes, pods, any kind)\n"
          "  advance DURATION             let simulated time pass (e.g. 30s, 5m): controllers run\n"
          "  apply -f FILE                change live objects behind Meridian's back (drift)\n"
          "  delete KIND NAME             delete a live object behind Meridian's back\n"
          "\n"
          "KIND is a resource name as kubectl spells it: clusters, nodepools, nodes, pods, daemonsets,\n"
          "deployments, replicasets, configmaps, namespaces, resourcepolicies, events, or any stored kind\n"
          "(plural, singular or short name; daemonsets.apps.kruise.io picks one group).\n"
          "Run `meridian sim <subcommand> --help` for its options."};
}

CommandSpec init_spec() {
  return {"sim init", "--fixture FILE [--state-dir DIR]", "Replace the simulated fleet with the one a fixture describes.",
          {{"fixture", "FILE", "YAML fixture: stock, existing clusters and nodes, existing objects"}, kStateDir}, ""};
}

CommandSpec reset_spec() {
  return {"sim reset", "[--state-dir DIR]", "Start over from the fixture last given to `sim init` (simulated time back to 0).", {kStateDir}, ""};
}

CommandSpec get_spec() {
  return {"sim get",
          "KIND [NAME] [-o wide|yaml|json|name] [--cluster C] [-n NS]",
          "List simulated objects the way kubectl get does.",
          {{"output", "wide|yaml|json|name", "output format (default: a table)", 'o'}, kCluster, kNamespace, kStateDir},
          "Objects of every namespace are listed unless -n is given; a CLUSTER column appears when they\n"
          "come from more than one cluster."};
}

CommandSpec describe_spec() {
  return {"sim describe", "KIND NAME [--cluster C] [-n NS]", "Show one simulated object with its events, like kubectl describe.",
          {kCluster, kNamespace, kStateDir}, ""};
}

CommandSpec advance_spec() {
  return {"sim advance", "DURATION", "Let simulated time pass (30s, 5m, 1h); controllers run every simulated second.", {kStateDir}, ""};
}

CommandSpec apply_spec() {
  return {"sim apply",
          "-f FILE [--cluster C]",
          "Change live objects as another tool would (kubectl apply), to model drift.",
          {{"filename", "FILE", "YAML or JSON manifests", 'f'}, {"cluster", "NAME", "target cluster for objects without meridian.io/cluster"}, kStateDir},
          "Fields are merged into the live objects; Meridian's last applied configuration is kept, so the\n"
          "next `meridian plan` shows the drift."};
}

CommandSpec delete_spec() {
  return {"sim delete", "KIND NAME [--cluster C] [-n NS]", "Delete a live object behind Meridian's back (controllers react on advance).",
          {kCluster, kNamespace, kStateDir}, ""};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw UserError(fmt::format("{}: cannot read the file", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string database_path(const Options& options) { return state_dir(options) + "/sim.db"; }

//! The simulator of an initialised state directory.
sim::Simulator open_existing(const Options& options) {
  const std::string path = database_path(options);
  if (!std::filesystem::exists(path))
    throw UserError(fmt::format("{}: no simulated fleet here (run meridian sim init --fixture FILE first)", path));
  return sim::Simulator(path);
}

bool print_help(const CommandSpec& spec, const Options& options) {
  if (options.help())
    std::cout << format_help(spec);
  return options.help();
}

std::string pretty_json(const Json& value) { return write_canonical(value, true); }

//! The objects of `resource` named `name` (all when empty) that the filters select.
std::vector<LiveObject> select(sim::Simulator& simulator, const std::string& resource, const std::string& name, const Options& options) {
  std::vector<LiveObject> objects = simulator.list(resource, options.get_or("cluster", ""), options.get_or("namespace", ""));
  if (name.empty())
    return objects;
  std::vector<LiveObject> named;
  for (LiveObject& object : objects) {
    if (object.ref.name == name)
      named.push_back(std::move(object));
  }
  if (named.empty())
    throw UserError(fmt::format("{} \"{}\" not found{}", resource, name,
                                options.get("cluster") ? fmt::format(" in cluster {}", *options.get("cluster")) : std::string()));
  return named;
}

//! Exactly one object, or a UserError asking for --cluster / -n.
LiveObject select_one(sim::Simulator& simulator, const std::string& resource, const std::string& name, const Options& options) {
  std::vector<LiveObject> objects = select(simulator, resource, name, options);
  if (objects.size() == 1)
    return std::move(objects.front());
  std::set<std::string> places;
  for (const LiveObject& object : objects)
    places.insert(object.ref.cluster + (object.ref.namespace_.empty() ? "" : "/" + object.ref.namespace_));
  std::string joined;
  for (const std::string& place : places)
    joined += (joined.empty() ? "" : ", ") + place;
  throw UserError(fmt::format("{} \"{}\" exists in several places ({}): choose one with --cluster and -n", resource, name, joined));
}

std::string kubectl_kind(const ObjectRef& ref) {
  std::string kind = ref.kind;
  std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ref.group.empty() ? kind : kind + "." + ref.group;
}

int print_events(sim::Simulator& simulator, const Options& options) {
  const std::string cluster = options.get_or("cluster", "");
  const std::string ns = options.get_or("namespace", "");
  const long long now = simulator.now_ms();
  std::vector<sim::EventRecord> events = simulator.events(nullptr);
  std::stable_sort(events.begin(), events.end(), [](const sim::EventRecord& a, const sim::EventRecord& b) { return a.last_ms < b.last_ms; });
  std::vector<std::vector<std::string>> rows = {{"CLUSTER", "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}};
  for (const sim::EventRecord& event : events) {
    if ((!cluster.empty() && event.involved.cluster != cluster) || (!ns.empty() && event.involved.namespace_ != ns))
      continue;
    rows.push_back({event.involved.cluster.empty() ? "-" : event.involved.cluster, sim::human_duration(now - event.last_ms), event.type,
                    event.reason, fmt::format("{}/{}", kubectl_kind(event.involved), event.involved.name), event.message});
  }
  if (rows.size() == 1) {
    std::cerr << "No resources found\n";
    return 0;
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows)
    for (size_t column = 0; column < row.size(); ++column)
      widths[column] = std::max(widths[column], row[column].size());
  for (const auto& row : rows) {
    std::string line;
    for (size_t column = 0; column < row.size(); ++column)
      line += column + 1 < row.size() ? fmt::format("{:<{}}", row[column], widths[column] + 3) : row[column];
    std::cout << line << "\n";
  }
  return 0;
}

int run_get(const std::vector<std::string>& args) {
  const CommandSpec spec = get_spec();
  const Options options(spec, args);
  if (print_help(spec, options))
    return 0;
  const auto& positional = options.positional();
  if (positional.empty() || positional.size() > 2)
    throw UserError("meridian sim get: expected KIND [NAME] (see meridian sim get --help)");
  const std::string output = options.get_or("output", "");
  if (!output.empty() && output != "wide" && output != "yaml" && output != "json" && output != "name")
    throw UserError(fmt::format("-o: expected wide, yaml, json or name, got \"{}\"", output));
  sim::Simulator simulator = open_existing(options);
  if (positional[0] == "events" || positional[0] == "event" || positional[0] == "ev")
    return print_events(simulator, options);
  const std::string name = positional.size() == 2 ? positional[1] : std::string();
  const std::vector<LiveObject> objects = select(simulator, positional[0], name, options);
  if (objects.empty()) {
    const std::string ns = options.get_or("namespace", "");
    std::cerr << (ns.empty() ? std::string("No resources found\n") : fmt::format("No resources found in {} namespace.\n", ns));
    return 0;
  }
  if (output == "yaml" || output == "json") {
    JsonDocument list(rapidjson::kObjectType);
    const Json* single = nullptr;
    if (!name.empty() && objects.size() == 1) {
      single = objects.front().object.get();
    } else {
      JsonAllocator& allocator = list.GetAllocator();
      list.AddMember("apiVersion", "v1", allocator);
      list.AddMember("kind", "List", allocator);
      Json items(rapidjson::kArrayType);
      for (const LiveObject& object : objects)
        items.PushBack(Json(*object.object, allocator), allocator);
      list.AddMember("items", items, allocator);
    }
    const Json& value = single != nullptr ? *single : list;
    std::cout << (output == "yaml" ? sim::to_yaml(value) : pretty_json(value) + "\n");
    return 0;
  }
  if (output == "name") {
    for (const LiveObject& object : objects)
      std::cout << kubectl_kind(object.ref) << "/" << object.ref.name << "\n";
    return 0;
  }
  std::set<std::string> clusters;
  for (const LiveObject& object : objects)
    clusters.insert(object.ref.cluster);
  sim::TableOptions table;
  table.wide = output == "wide";
  table.show_cluster = clusters.size() > 1;
  table.show_namespace = !options.get("namespace");
  std::cout << simulator.format_table(objects, table);
  return 0;
}

int run_describe(const std::vector<std::string>& args) {
  const CommandSpec spec = describe_spec();
  const Options options(spec, args);
  if (print_help(spec, options))
    return 0;
  if (options.positional().size() != 2)
    throw UserError("meridian sim describe: expected KIND NAME (see meridian sim describe --help)");
  sim::Simulator simulator = open_existing(options);
  const LiveObject object = select_one(simulator, options.positional()[0], options.positional()[1], options);
  std::cout << simulator.describe(object.ref);
  return 0;
}

int run_advance(const std::vector<std::string>& args) {
  const CommandSpec spec = advance_spec();
  const Options options(spec, args);
  if (print_help(spec, options))
    return 0;
  if (options.positional().size() != 1)
    throw UserError("meridian sim advance: expected one DURATION such as 30s or 5m");
  const auto duration = parse_duration(options.positional()[0]);
  if (!duration || duration->count() < 0)
    throw UserError(fmt::format("meridian sim advance: \"{}\" is not a duration (expected e.g. 30s, 5m, 1h30m)", options.positional()[0]));
  sim::Simulator simulator = open_existing(options);
  simulator.wait(*duration);
  std::cout << fmt::format("simulated time is now {} (+{})\n", sim::human_duration(simulator.now_ms()), format_duration(*duration));
  return 0;
}

int run_sim_apply(const std::vector<std::string>& args) {
  const CommandSpec spec = apply_spec();
  const Options options(spec, args);
  if (print_help(spec, options))
    return 0;
  const auto file = options.get("filename");
  if (!file || !options.positional().empty())
    throw UserError("meridian sim apply: expected -f FILE (see meridian sim apply --help)");
  const std::string text = read_file(*file);
  const auto parsed = parse_yaml(text);
  if (parsed->error)
    throw UserError(fmt::format("{}:{}: {}", *file, parsed->error->line, parsed->error->message));
  sim::Simulator simulator = open_existing(options);
  for (const YamlDocument& document : parsed->documents) {
    ObjectRef ref;
    try {
      ref = simulator.ref_for(document.value, options.get_or("cluster", ""));
    } catch (const Error& error) {
      throw UserError(fmt::format("{}:{}: {}", *file, document.line, error.what()));
    }
    const auto before = simulator.get(ref);
    std::shared_ptr<const JsonDocument> after;
    try {
      after = simulator.apply_foreign(ref, document.value);
    } catch (const TransientError&) {
      throw;
    } catch (const UserError& error) {
      throw UserError(fmt::format("{}:{}: {}", *file, document.line, error.what()));
    }
    const std::string verb = before == nullptr ? "created" : json_equal(*before, *after) ? "unchanged" : "configured";
    std::cout << fmt::format("{}/{} {}\n", kubectl_kind(ref), ref.name, verb);
  }
  return 0;
}

int run_sim_delete(const std::vector<std::string>& args) {
  const CommandSpec spec = delete_spec();
  const Options options(spec, args);
  if (print_help(spec, options))
    return 0;
  if (options.positional().size() != 2)
    throw UserError("meridian sim delete: expected KIND NAME (see meridian sim delete --help)");
  sim::Simulator simulator = open_existing(options);
  const LiveObject object = select_one(simulator, options.positional()[0], options.positional()[1], options);
  simulator.delete_foreign(object.ref);
  std::cout << fmt::format("{} \"{}\" deleted\n", kubectl_kind(object.ref), object.ref.name);
  return 0;
}

int run_init(const std::vector<std::string>& args) {
  const CommandSpec spec = init_spec();
  const Options options(spec, args);
  if (print_help(spec, options))
    return 0;
  const auto fixture = options.get("fixture");
  if (!fixture || !options.positional().empty())
    throw UserError("meridian sim init: expected --fixture FILE (see meridian sim init --help)");
  const std::string text = read_file(*fixture);
  std::error_code error;
  std::filesystem::create_directories(state_dir(options), error);
  if (error)
    throw UserError(fmt::format("{}: cannot create the state directory: {}", state_dir(options), error.message()));
  sim::Simulator simulator(database_path(options));
  simulator.init(text, *fixture);
  const auto clusters = simulator.list("clusters", "", "");
  const auto nodes = simulator.list("nodes", "", "");
  std::cout << fmt::format("simulated fleet initialised from {}: {} cluster{}, {} node{} ({})\n", *fixture, clusters.size(),
                           clusters.size() == 1 ? "" : "s", nodes.size(), nodes.size() == 1 ? "" : "s", database_path(options));
  return 0;
}

int run_reset(const std::vector<std::string>& args) {
  const CommandSpec spec = reset_spec();
  const Options options(spec, args);
  if (print_help(spec, options))
    return 0;
  if (!options.positional().empty())
    throw UserError("meridian sim reset: takes no arguments");
  sim::Simulator simulator = open_existing(options);
  simulator.reset();
  std::cout << fmt::format("simulated fleet reset ({})\n", database_path(options));
  return 0;
}

} // namespace

int run_sim(const std::vector<std::string>& args) {
  using Subcommand = int (*)(const std::vector<std::string>&);
  static const std::map<std::string, Subcommand> kSubcommands = {
      {"init", run_init},       {"reset", run_reset},         {"get", run_get},          {"describe", run_describe},
      {"advance", run_advance}, {"apply", run_sim_apply},     {"delete", run_sim_delete}};
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << format_help(sim_spec());
    return args.empty() ? 1 : 0;
  }
  const auto found = kSubcommands.find(args[0]);
  if (found == kSubcommands.end())
    throw UserError(fmt::format("meridian sim: unknown subcommand \"{}\" (see meridian sim --help)", args[0]));
  return found->second(std::vector<std::string>(args.begin() + 1, args.end()));
}

CommandSpec sim_command_spec() { return sim_spec(); }

std::vector<CommandSpec> sim_subcommand_specs() {
  return {init_spec(), reset_spec(), get_spec(), describe_spec(), advance_spec(), apply_spec(), delete_spec()};
}

} // namespace meridian
