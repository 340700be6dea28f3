// The fleet loader (see load.h).
#include "model/load.h"

#include <fmt/format.h>

namespace meridian {

FleetLoad FleetLoader::load(const GitRepository& repository, const CommitInfo& commit, std::unique_ptr<LoadedFleet>& last) {
  FleetLoad result;
  if (last) {
    std::optional<ManifestEdit> edit = find_edit(last->set, repository, commit, cache_);
    if (edit && edit->changed() == 0) {
      apply_edit(last->set, std::move(*edit), cache_);
      rebase_desired_state(last->desired, last->set, last->set);
      result.path = FleetLoad::Path::unchanged;
      result.fleet = std::move(last);
      return result;
    }
    if (edit && is_valid(validate_edit(last->set, *edit, SchemaSet::builtin(), &memo_))) {
      if (std::optional<DesiredEdit> objects = prepare_desired_edit(last->desired, last->set, *edit)) {
        result.edited_documents = edit->changed();
        result.edited_files = edit->changes.size();
        apply_edit(last->set, std::move(*edit), cache_);
        apply_desired_edit(last->desired, std::move(*objects), last->set);
        result.path = FleetLoad::Path::edited;
        result.fleet = std::move(last);
        return result;
      }
    }
  }
  auto fleet = std::make_unique<LoadedFleet>();
  fleet->set = load_manifests(repository, commit, path_, cache_, last ? &last->set : nullptr);
  std::vector<Finding> findings = validate_manifests(fleet->set, SchemaSet::builtin(), &memo_);
  if (is_valid(findings)) {
    fleet->desired = build_desired_state(fleet->set, owner_, last ? &last->desired : nullptr);
    findings.insert(findings.end(), fleet->desired.findings.begin(), fleet->desired.findings.end());
  }
  if (!is_valid(findings)) {
    result.findings = std::move(findings);
    return result;
  }
  result.fleet = std::move(fleet);
  return result;
}

std::string invalid_manifests_message(std::string_view where, std::string_view not_done, const std::vector<Finding>& findings,
                                      bool multiline) {
  std::vector<std::string> errors;
  for (const Finding& finding : findings)
    if (finding.severity == Severity::error)
      errors.push_back(finding.format());
  std::string message = fmt::format("{}: the manifests are invalid, nothing was {} ({} error{}):", where, not_done, errors.size(),
                                    errors.size() == 1 ? "" : "s");
  for (size_t index = 0; index < errors.size(); ++index)
    message += (multiline ? "\n  " : index == 0 ? " " : "; ") + errors[index];
  return message;
}

} // namespace meridian
