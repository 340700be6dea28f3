#include "cli/commands.h"

#include "base/error.h"
#include "kustomize/kustomize.h"

#include <fmt/format.h>

#include <iostream>

namespace meridian {
namespace {

CommandSpec render_spec() {
  return {"render", "--repo URL|PATH [--ref REF] [--path DIR]",
          "Print the manifests Meridian would apply, as multi-document YAML: plain files' documents as they\n"
          "are, and for each kustomization directory the documents `kustomize build` prints (--path may name\n"
          "one directly). Renders only: documents that `validate` would reject are printed too.",
          repository_options(),
          "Keys are sorted at every level, as kustomize prints them. Exit status: 0 when everything rendered;\n"
          "1 when a file does not parse or a kustomization does not build (each problem on stderr)."};
}

} // namespace

int run_render(const std::vector<std::string>& args) {
  const CommandSpec spec = render_spec();
  const Options options(spec, args);
  if (options.help()) {
    std::cout << format_help(spec);
    return 0;
  }
  ManifestCache cache;
  const LoadedRepository loaded = load_repository(options, cache);
  const ManifestSet& set = loaded.manifests;
  if (!set.findings.empty()) {
    for (const Finding& finding : set.findings)
      std::cerr << finding.format() << "\n";
    return 1;
  }
  std::vector<const Json*> documents;
  documents.reserve(set.manifests.size());
  for (const Manifest& manifest : set.manifests)
    documents.push_back(manifest.object);
  std::cout << kustomize::to_yaml_stream(documents);
  return 0;
}

CommandSpec render_command_spec() { return render_spec(); }

} // namespace meridian
