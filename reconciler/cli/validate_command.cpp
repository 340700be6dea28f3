#include "cli/commands.h"

#include "base/error.h"
#include "model/desired.h"
#include "validate/validate.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <fmt/format.h>

#include <iostream>

namespace meridian {
namespace {

CommandSpec validate_spec() {
  CommandSpec spec{"validate", "--repo URL|PATH [--ref REF] [--path DIR] [--format text|json]",
                   "Read every manifest committed at a ref and report every problem at once.", repository_options(),
                   "Exit status: 0 when the manifests are valid (warnings allowed), 1 when they are not or the\n"
                   "repository cannot be read. Only committed content counts: uncommitted edits are ignored."};
  spec.options.push_back({"format", "text|json", "text (default) or a JSON array of findings"});
  return spec;
}

std::string findings_json(const std::vector<Finding>& findings) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartArray();
  for (const Finding& finding : findings) {
    writer.StartObject();
    writer.Key("file");
    writer.String(finding.file.c_str());
    writer.Key("line");
    writer.Int(finding.line);
    writer.Key("object");
    writer.String(finding.object.c_str());
    writer.Key("field");
    writer.String(finding.field.c_str());
    writer.Key("message");
    writer.String(finding.message.c_str());
    writer.Key("severity");
    writer.String(finding.severity == Severity::error ? "error" : "warning");
    writer.EndObject();
  }
  writer.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

} // namespace

int run_validate(const std::vector<std::string>& args) {
  const CommandSpec spec = validate_spec();
  const Options options(spec, args);
  if (options.help()) {
    std::cout << format_help(spec);
    return 0;
  }
  const std::string format = options.get_or("format", "text");
  if (format != "text" && format != "json")
    throw UserError(fmt::format("--format: expected text or json, got \"{}\"", format));
  ManifestCache cache;
  const LoadedRepository loaded = load_repository(options, cache);
  const ManifestSet& set = loaded.manifests;
  std::vector<Finding> findings = validate_manifests(set);
  if (is_valid(findings)) {
    // Dependencies (meridian.io/depends-on, cycles) are checked on the desired state.
    const DesiredState desired = build_desired_state(set, set.repository);
    findings.insert(findings.end(), desired.findings.begin(), desired.findings.end());
    // The desired state repeats the placement warnings validation made (a selector selecting nothing).
    std::sort(findings.begin(), findings.end());
    findings.erase(std::unique(findings.begin(), findings.end(),
                               [](const Finding& a, const Finding& b) { return !(a < b) && !(b < a) && a.severity == b.severity; }),
                   findings.end());
  }
  size_t errors = 0;
  for (const Finding& finding : findings)
    errors += finding.severity == Severity::error ? 1 : 0;
  if (format == "json") {
    std::cerr << fmt::format("commit {}\n", set.commit.id);
    std::cout << findings_json(findings) << "\n";
    return errors == 0 ? 0 : 1;
  }
  std::cout << fmt::format("commit {} ({})\n", set.commit.id, set.commit.summary);
  for (const Finding& finding : findings)
    std::cout << finding.format() << "\n";
  const size_t warnings = findings.size() - errors;
  if (errors == 0) {
    std::cout << fmt::format("valid: {} manifests in {} files{}\n", set.manifests.size(), set.files,
                             warnings == 0 ? "" : fmt::format(", {} warning{}", warnings, warnings == 1 ? "" : "s"));
    return 0;
  }
  std::cout << fmt::format("invalid: {} error{}, {} warning{} in {} manifests\n", errors, errors == 1 ? "" : "s", warnings,
                           warnings == 1 ? "" : "s", set.manifests.size());
  return 1;
}

CommandSpec validate_command_spec() { return validate_spec(); }

} // namespace meridian
