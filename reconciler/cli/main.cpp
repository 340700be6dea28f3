// meridian: the command line. Dispatches to one function per subcommand; prints user errors as
// one line (`meridian: ...`) and exits 1, never with a stack trace.
#include "base/error.h"
#include "base/log.h"
#include "cli/build_info.h"
#include "cli/commands.h"
#include "cli/completion.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <optional>

namespace {

struct Command {
  std::function<int(const std::vector<std::string>&)> run;
  std::string summary;
  std::function<meridian::CommandSpec()> spec; //!< its options (--help, help, completion)
};

const std::map<std::string, Command>& commands() {
  using namespace meridian;
  static const std::map<std::string, Command> table = {
      {"validate", {run_validate, "read and validate the fleet repository at a ref", validate_command_spec}},
      {"render", {run_render, "print the manifests Meridian would apply (kustomizations built) as YAML", render_command_spec}},
      {"plan", {run_plan, "diff Git against the live fleet and show the ordered changes", plan_command_spec}},
      {"apply", {run_apply, "apply the changes, dependencies first, region by region", apply_command_spec}},
      {"status", {run_status, "show each object's sync state and health", status_command_spec}},
      {"history", {run_history, "show past applies and their per-object results", history_command_spec}},
      {"run", {run_run, "keep the fleet equal to Git: reconcile loop, webhooks, status API, metrics", run_command_spec}},
      {"suspend", {run_suspend, "suspend reconciliation for a maintenance window", suspend_command_spec}},
      {"resume", {run_resume, "resume reconciliation after meridian suspend", resume_command_spec}},
      {"sim", {run_sim, "inspect and drive the embedded fleet simulator (init, get, describe, advance)", sim_command_spec}},
  };
  return table;
}

std::vector<meridian::OptionSpec> global_options() {
  return {{"log-format", "text|json", "event log format on stderr (default text)"},
          {"log-level", "debug|info|warn|error", "lowest level of the event log (default info)"}};
}

void print_usage(std::ostream& out) {
  out << "Usage: meridian [--log-format text|json] [--log-level LEVEL] <command> [options]\n\n"
         "Meridian keeps a multi-region Kubernetes fleet equal to a Git repository.\n\nCommands:\n";
  for (const auto& [name, command] : commands())
    out << fmt::format("  {:<12} {}\n", name, command.summary);
  out << fmt::format("  {:<12} {}\n", "version", "print the version, the Git commit and the build date");
  out << fmt::format("  {:<12} {}\n", "help", "show a command's options (meridian help <command>)");
  out << fmt::format("  {:<12} {}\n", "completion", "print a shell completion script (bash, zsh or fish)");
  out << "\nGlobal options (before or after the command):\n";
  for (const meridian::OptionSpec& option : global_options())
    out << fmt::format("  --{:<34} {}\n", option.name + " " + option.value_name, option.help);
  out << "\nRun `meridian help <command>` (or `meridian <command> --help`) for a command's options.\n";
}

meridian::CommandSpec version_spec() {
  return {"version", "[-o text|json]", "Print the version, the Git commit and the build date of this binary.",
          {{"output", "text|json", "output format (default text; json: {\"version\", \"commit\", \"buildDate\"})", 'o'}},
          "The commit ends in -dirty when the build had uncommitted changes; the date is SOURCE_DATE_EPOCH\n"
          "when the build set it (reproducible builds), else when this commit was first built."};
}

int print_version(const std::vector<std::string>& args) {
  const meridian::CommandSpec spec = version_spec();
  const meridian::Options options(spec, args);
  if (options.help()) {
    std::cout << meridian::format_help(spec);
    return 0;
  }
  if (!options.positional().empty())
    throw meridian::UserError(fmt::format("version: unexpected argument \"{}\"", options.positional().front()));
  const meridian::BuildInfo& info = meridian::build_info();
  const std::string format = options.get_or("output", "text");
  if (format == "json") {
    std::cout << fmt::format("{{\"version\": \"{}\", \"commit\": \"{}\", \"buildDate\": \"{}\"}}\n", info.version, info.commit,
                             info.date);
    return 0;
  }
  if (format != "text")
    throw meridian::UserError(fmt::format("version: -o/--output: expected text or json, got \"{}\"", format));
  std::cout << fmt::format("meridian {}\ncommit: {}\nbuilt: {}\n", info.version, info.commit, info.date);
  return 0;
}

std::vector<meridian::CompletionCommand> completion_table() {
  std::vector<meridian::CompletionCommand> table;
  for (const auto& [name, command] : commands()) {
    const meridian::CommandSpec spec = command.spec();
    meridian::CompletionCommand entry{name, command.summary, spec.options, {}};
    if (name == "sim")
      for (const meridian::CommandSpec& sub : meridian::sim_subcommand_specs())
        entry.subcommands.push_back({sub.name.substr(sub.name.find(' ') + 1), sub.summary, sub.options, {}});
    table.push_back(std::move(entry));
  }
  table.push_back({"version", "print the version, the Git commit and the build date", version_spec().options, {}});
  table.push_back({"help", "show a command's options", {}, {}});
  table.push_back({"completion", "print a shell completion script", {}, {}});
  std::sort(table.begin(), table.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return table;
}

// The global flags --log-format and --log-level, taken out of `args` wherever they are (before or
// after the command); everything after a lone `--` is left alone.
void take_global_flags(std::vector<std::string>& args) {
  std::optional<std::string> format;
  std::optional<std::string> level;
  for (size_t i = 0; i < args.size();) {
    if (args[i] == "--")
      break;
    std::optional<std::string>* target = nullptr;
    std::string name;
    for (const auto& [flag, slot] : {std::pair<const char*, std::optional<std::string>*>{"--log-format", &format}, {"--log-level", &level}}) {
      if (args[i] == flag || args[i].rfind(std::string(flag) + "=", 0) == 0) {
        target = slot;
        name = flag;
      }
    }
    if (target == nullptr) {
      ++i;
      continue;
    }
    if (args[i].size() > name.size()) {
      *target = args[i].substr(name.size() + 1);
      args.erase(args.begin() + static_cast<long>(i));
      continue;
    }
    if (i + 1 >= args.size())
      throw meridian::UserError(fmt::format("{} needs a value ({})", name, name == "--log-format" ? "text or json" : "debug, info, warn or error"));
    *target = args[i + 1];
    args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
  }
  const auto parsed_format = meridian::parse_log_format(format.value_or("text"));
  if (!parsed_format)
    throw meridian::UserError(fmt::format("--log-format: expected text or json, got \"{}\"", *format));
  const auto parsed_level = meridian::parse_log_level(level.value_or("info"));
  if (!parsed_level)
    throw meridian::UserError(fmt::format("--log-level: expected debug, info, warn or error, got \"{}\"", *level));
  meridian::configure_log(*parsed_format, *parsed_level);
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    take_global_flags(args);
  } catch (const meridian::Error& error) {
    std::cerr << "meridian: " << error.what() << "\n";
    return 1;
  }
  if (args.empty()) {
    print_usage(std::cerr);
    return 1;
  }
  // `meridian help <command> [subcommand]` is `meridian <command> [subcommand] --help`.
  if (args[0] == "help" && args.size() > 1) {
    args.erase(args.begin());
    args.push_back("--help");
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (args[0] == "--version") {
    std::cout << "meridian " << meridian::build_info().version << "\n";
    return 0;
  }
  try {
    if (args[0] == "version")
      return print_version(std::vector<std::string>(args.begin() + 1, args.end()));
    if (args[0] == "completion") {
      if (args.size() != 2)
        throw meridian::UserError("completion: expected one shell: meridian completion bash|zsh|fish");
      std::cout << meridian::completion_script(args[1], completion_table(), global_options());
      return 0;
    }
    const auto command = commands().find(args[0]);
    if (command == commands().end()) {
      std::cerr << fmt::format("meridian: unknown command \"{}\" (see meridian --help)\n", args[0]);
      return 1;
    }
    args.erase(args.begin());
    return command->second.run(args);
  } catch (const meridian::Error& error) {
    std::cerr << "meridian: " << error.what() << "\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "meridian: internal error: " << error.what() << "\n";
    return 1;
  }
}
