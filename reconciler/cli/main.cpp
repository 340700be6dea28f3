// meridian: the command line. Dispatches to one function per subcommand; prints user errors as
// one line (`meridian: ...`) and exits 1, never with a stack trace.
#include "base/error.h"
#include "cli/commands.h"

#include <fmt/format.h>

#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <map>

#ifndef MERIDIAN_VERSION
#define MERIDIAN_VERSION "unknown"
#endif

namespace {

struct Command {
  std::function<int(const std::vector<std::string>&)> run;
  std::string summary;
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> table = {
      {"validate", {meridian::run_validate, "read and validate the fleet repository at a ref"}},
      {"render", {meridian::run_render, "print the manifests Meridian would apply (kustomizations built) as YAML"}},
      {"plan", {meridian::run_plan, "diff Git against the live fleet and show the ordered changes"}},
      {"apply", {meridian::run_apply, "apply the changes, dependencies first, region by region"}},
      {"status", {meridian::run_status, "show each object's sync state and health"}},
      {"history", {meridian::run_history, "show past applies and their per-object results"}},
      {"run", {meridian::run_run, "keep the fleet equal to Git: reconcile loop, webhooks, status API, metrics"}},
      {"suspend", {meridian::run_suspend, "suspend reconciliation for a maintenance window"}},
      {"resume", {meridian::run_resume, "resume reconciliation after meridian suspend"}},
      {"sim", {meridian::run_sim, "inspect and drive the embedded fleet simulator (init, get, describe, advance)"}},
  };
  return table;
}

void print_usage(std::ostream& out) {
  out << "Usage: meridian <command> [options]\n\n"
         "Meridian keeps a multi-region Kubernetes fleet equal to a Git repository.\n\nCommands:\n";
  for (const auto& [name, command] : commands())
    out << fmt::format("  {:<12} {}\n", name, command.summary);
  out << "\nRun `meridian <command> --help` for a command's options. `meridian --version` prints the version.\n";
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_usage(std::cerr);
    return 1;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << "meridian " << MERIDIAN_VERSION << "\n";
    return 0;
  }
  const auto command = commands().find(args[0]);
  if (command == commands().end()) {
    std::cerr << fmt::format("meridian: unknown command \"{}\" (see meridian --help)\n", args[0]);
    return 1;
  }
  args.erase(args.begin());
  try {
    return command->second.run(args);
  } catch (const meridian::UserError& error) {
    std::cerr << "meridian: " << error.what() << "\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "meridian: internal error: " << error.what() << "\n";
    return 1;
  }
}
