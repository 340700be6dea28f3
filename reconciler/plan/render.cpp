#include "plan/plan.h"

#include "base/error.h"
#include "base/printable.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace meridian {
namespace {

struct Palette {
  bool on = false;
  std::string wrap(std::string_view code, std::string_view text) const {
    return on ? fmt::format("\033[{}m{}\033[0m", code, text) : std::string(text);
  }
  std::string green(std::string_view text) const { return wrap("32", text); }
  std::string yellow(std::string_view text) const { return wrap("33", text); }
  std::string red(std::string_view text) const { return wrap("31", text); }
  std::string bold(std::string_view text) const { return wrap("1", text); }
};

std::string symbol(Action action) {
  switch (action) {
  case Action::create:
    return "+";
  case Action::update:
    return "~";
  case Action::remove:
    return "-";
  case Action::unchanged:
    return " ";
  }
  return "?";
}

std::string colored(const Palette& palette, Action action, std::string_view text) {
  if (action == Action::create)
    return palette.green(text);
  if (action == Action::update)
    return palette.yellow(text);
  if (action == Action::remove)
    return palette.red(text);
  return std::string(text);
}

std::string object_label(const ObjectRef& ref) {
  return printable(ref.cluster.empty() ? ref.display() : fmt::format("{} (cluster {})", ref.display(), ref.cluster));
}

std::string field_line(const FieldChange& field) {
  const std::string path = printable(pointer_to_field(field.pointer));
  if (!field.before)
    return fmt::format("{}: {}", path, *field.after);
  if (!field.after)
    return fmt::format("{}: {} → (removed)", path, *field.before);
  return fmt::format("{}: {} → {}", path, *field.before, *field.after);
}

std::string summary_line(const Plan& plan) {
  return fmt::format("Plan: {} to create, {} to update, {} to delete, {} unchanged.", plan.count(Action::create),
                     plan.count(Action::update), plan.count(Action::remove), plan.count(Action::unchanged));
}

std::string error_line(const Plan& plan) {
  const size_t errors = plan.count_errors();
  return fmt::format("Plan failed: {} change{} refused (by the server's dry run or an ownership conflict); apply would fail.", errors, errors == 1 ? "" : "s");
}

// A plan whose only difference from Git is what a prune guard kept: it is not "in sync".
std::string withheld_line(const Plan& plan) {
  return fmt::format("No changes will be made, but the live fleet does not match Git: {} object{} no longer in Git {} kept by a "
                     "prune guard (see Warnings).",
                     plan.withheld, plan.withheld == 1 ? "" : "s", plan.withheld == 1 ? "is" : "are");
}

std::string forecast_line(const PlacementForecast& forecast) {
  const std::string name = printable(forecast.workload.display());
  const std::string where = forecast.workload.cluster.empty() ? "" : fmt::format(" (cluster {})", printable(forecast.workload.cluster));
  if (!forecast.message.empty())
    return fmt::format("{}{}: {}", name, where, forecast.message);
  return fmt::format("{}{}: {} pod{} will run", name, where, forecast.pods, forecast.pods == 1 ? "" : "s");
}

std::string render_text(const Plan& plan, const Palette& palette) {
  std::string out = fmt::format("Plan for {} at {} ({}), backend {}\n", printable(plan.repository), printable(plan.commit.substr(0, 12)),
                                printable(plan.commit_summary), plan.backend);
  for (size_t wave = 0; wave < plan.waves.size(); ++wave) {
    std::string body;
    for (const PlannedChange& change : plan.changes) {
      if (change.wave != static_cast<int>(wave) || change.action == Action::unchanged)
        continue;
      body += "  " + colored(palette, change.action, fmt::format("{} {} {}", symbol(change.action), to_string(change.action),
                                                                 object_label(change.ref)));
      body += change.region.empty() ? "" : fmt::format(" [{}]", printable(change.region));
      body += change.note.empty() ? "\n" : fmt::format(": {}\n", printable(change.note));
      if (!change.error.empty())
        body += "      " + palette.red("! " + printable(change.error)) + "\n";
      if (change.action == Action::update)
        for (const FieldChange& field : change.fields)
          body += "      " + field_line(field) + "\n";
      if (change.region_rollout)
        body += fmt::format("      rolls out region by region inside the cluster: {}\n", fmt::join(change.rollout_regions, " → "));
    }
    if (!body.empty())
      out += "\n" + palette.bold(printable(fmt::format("Wave {}: {}", wave + 1, fmt::join(plan.waves[wave], ", ")))) + "\n" + body;
  }
  if (!plan.forecasts.empty()) {
    out += "\n" + palette.bold("Pods") + "\n";
    for (const PlacementForecast& forecast : plan.forecasts)
      out += "  " + (forecast.pending > 0 ? palette.yellow(forecast_line(forecast)) : forecast_line(forecast)) + "\n";
  }
  if (!plan.warnings.empty()) {
    out += "\n" + palette.bold("Warnings") + "\n";
    for (const std::string& warning : plan.warnings)
      out += "  " + printable(warning) + "\n";
  }
  if (const size_t errors = plan.count_errors(); errors > 0) {
    out += "\n" + palette.bold("Errors") + "\n";
    for (const PlannedChange& change : plan.changes)
      if (!change.error.empty())
        out += "  " + palette.red(printable(change.error)) + "\n";
    out += "\n" + summary_line(plan) + "\n" + error_line(plan) + "\n";
    return out;
  }
  out += "\n" + (plan.has_changes() ? summary_line(plan) : plan.withheld > 0 ? withheld_line(plan) : std::string("No changes. The live fleet matches Git.")) + "\n";
  return out;
}

std::string render_markdown(const Plan& plan) {
  std::string out = fmt::format("### Meridian plan for `{}`\n\nCommit `{}` ({}), backend `{}`.\n\n", printable(plan.repository),
                                printable(plan.commit.substr(0, 12)), printable(plan.commit_summary), plan.backend);
  out += "| wave | region | create | update | delete | unchanged |\n|---:|---|---:|---:|---:|---:|\n";
  for (size_t wave = 0; wave < plan.waves.size(); ++wave)
    for (const std::string& region : plan.waves[wave]) {
      size_t counts[4] = {0, 0, 0, 0};
      for (const PlannedChange& change : plan.changes)
        if (change.region == region)
          ++counts[static_cast<int>(change.action)];
      out += fmt::format("| {} | {} | {} | {} | {} | {} |\n", wave + 1, region.empty() ? "(none)" : printable(region), counts[0], counts[1],
                         counts[2], counts[3]);
    }
  out += "\n";
  for (const PlannedChange& change : plan.changes) {
    if (change.action == Action::unchanged)
      continue;
    out += fmt::format("<details><summary><code>{} {}</code> {}{}</summary>\n\n", symbol(change.action), object_label(change.ref),
                       to_string(change.action), change.region.empty() ? "" : fmt::format(" in {}", change.region));
    if (!change.note.empty())
      out += printable(change.note) + "\n\n";
    if (!change.error.empty())
      out += "**Error:** `" + printable(change.error) + "`\n\n";
    if (!change.fields.empty()) {
      out += "```diff\n";
      for (const FieldChange& field : change.fields) {
        const std::string path = printable(pointer_to_field(field.pointer));
        if (field.before)
          out += fmt::format("- {}: {}\n", path, *field.before);
        if (field.after)
          out += fmt::format("+ {}: {}\n", path, *field.after);
      }
      out += "```\n";
    }
    if (change.region_rollout)
      out += fmt::format("\nRolls out region by region inside the cluster: {}.\n", fmt::join(change.rollout_regions, " → "));
    out += "</details>\n\n";
  }
  if (!plan.forecasts.empty()) {
    out += "**Pods**\n\n";
    for (const PlacementForecast& forecast : plan.forecasts)
      out += "- " + forecast_line(forecast) + "\n";
    out += "\n";
  }
  for (const std::string& warning : plan.warnings)
    out += "> ⚠️ " + printable(warning) + "\n";
  if (!plan.warnings.empty())
    out += "\n";
  if (plan.count_errors() > 0)
    out += "**" + error_line(plan) + "**\n\n";
  out += "**" + (plan.has_changes() ? summary_line(plan) : plan.withheld > 0 ? withheld_line(plan) : std::string("No changes.")) + "**\n";
  return out;
}

template <typename Writer> void write_string(Writer& writer, const char* key, std::string_view value) {
  writer.Key(key);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

template <typename Writer> void write_raw_json(Writer& writer, const char* key, const std::string& json) {
  writer.Key(key);
  writer.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

std::string render_json(const Plan& plan) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartObject();
  writer.Key("formatVersion");
  writer.Int(Plan::format_version);
  write_string(writer, "repository", plan.repository);
  write_string(writer, "commit", plan.commit);
  write_string(writer, "commitSummary", plan.commit_summary);
  write_string(writer, "path", plan.path);
  write_string(writer, "owner", plan.owner);
  write_string(writer, "backend", plan.backend);
  write_string(writer, "fingerprint", plan.fingerprint);
  writer.Key("hasChanges");
  writer.Bool(plan.has_changes());
  if (plan.withheld > 0) {
    writer.Key("withheld");
    writer.Uint64(plan.withheld);
  }
  writer.Key("summary");
  writer.StartObject();
  for (const Action action : {Action::create, Action::update, Action::remove, Action::unchanged}) {
    writer.Key(std::string(to_string(action)).c_str());
    writer.Uint64(plan.count(action));
  }
  writer.EndObject();
  writer.Key("waves");
  writer.StartArray();
  for (size_t wave = 0; wave < plan.waves.size(); ++wave) {
    writer.StartObject();
    writer.Key("wave");
    writer.Uint64(wave + 1);
    writer.Key("regions");
    writer.StartArray();
    for (const std::string& region : plan.waves[wave])
      writer.String(region.c_str());
    writer.EndArray();
    writer.EndObject();
  }
  writer.EndArray();
  writer.Key("changes");
  writer.StartArray();
  for (const PlannedChange& change : plan.changes) {
    if (change.action == Action::unchanged)
      continue;
    writer.StartObject();
    writer.Key("wave");
    writer.Int(change.wave + 1);
    write_string(writer, "region", change.region);
    write_string(writer, "cluster", change.ref.cluster);
    write_string(writer, "group", change.ref.group);
    write_string(writer, "kind", change.ref.kind);
    write_string(writer, "namespace", change.ref.namespace_);
    write_string(writer, "name", change.ref.name);
    write_string(writer, "action", to_string(change.action));
    if (!change.note.empty())
      write_string(writer, "note", change.note);
    if (!change.error.empty())
      write_string(writer, "error", change.error);
    writer.Key("fields");
    writer.StartArray();
    for (const FieldChange& field : change.fields) {
      writer.StartObject();
      write_string(writer, "path", pointer_to_field(field.pointer));
      write_string(writer, "pointer", field.pointer);
      if (field.before)
        write_raw_json(writer, "before", *field.before);
      if (field.after)
        write_raw_json(writer, "after", *field.after);
      writer.EndObject();
    }
    writer.EndArray();
    if (change.region_rollout) {
      writer.Key("rolloutRegions");
      writer.StartArray();
      for (const std::string& region : change.rollout_regions)
        writer.String(region.c_str());
      writer.EndArray();
    }
    writer.EndObject();
  }
  writer.EndArray();
  writer.Key("forecasts");
  writer.StartArray();
  for (const PlacementForecast& forecast : plan.forecasts) {
    writer.StartObject();
    write_string(writer, "cluster", forecast.workload.cluster);
    write_string(writer, "kind", forecast.workload.kind);
    write_string(writer, "namespace", forecast.workload.namespace_);
    write_string(writer, "name", forecast.workload.name);
    writer.Key("pods");
    writer.Int(forecast.pods);
    writer.Key("pending");
    writer.Int(forecast.pending);
    write_string(writer, "message", forecast_line(forecast));
    writer.EndObject();
  }
  writer.EndArray();
  writer.Key("warnings");
  writer.StartArray();
  for (const std::string& warning : plan.warnings)
    writer.String(warning.c_str());
  writer.EndArray();
  writer.Key("errors");
  writer.StartArray();
  for (const PlannedChange& change : plan.changes)
    if (!change.error.empty())
      writer.String(change.error.c_str());
  writer.EndArray();
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

} // namespace

std::string render_plan(const Plan& plan, ReportFormat format, bool color) {
  switch (format) {
  case ReportFormat::text:
    return render_text(plan, Palette{color});
  case ReportFormat::markdown:
    return render_markdown(plan);
  case ReportFormat::json:
    return render_json(plan);
  }
  return {};
}

SavedPlan read_saved_plan(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw UserError(fmt::format("{}: cannot read the saved plan", path));
  std::stringstream text;
  text << in.rdbuf();
  JsonDocument document;
  if (auto error = parse_json(text.str(), document))
    throw UserError(fmt::format("{}: not a JSON plan: {}", path, *error));
  const Json* version = find_member(document, "formatVersion");
  if (version == nullptr || !version->IsInt() || version->GetInt() != Plan::format_version)
    throw UserError(fmt::format("{}: formatVersion: expected {} (a plan written by `meridian plan --format json`)", path,
                                Plan::format_version));
  return {std::string(string_member(document, "commit")), std::string(string_member(document, "fingerprint")),
          std::string(string_member(document, "repository"))};
}

} // namespace meridian
