// Kustomizations in a fleet repository: built where they sit (bases and overlays, --path naming an
// overlay whose base lies outside it), their files never read as plain manifests, errors as
// findings, and the loop's edit path (find_edit) declining commits that touch a build's inputs.
#include "manifest/manifest.h"

#include "../manifest/manifest_fixture.h"

#include <catch2/catch.hpp>

using namespace manifest_test;

namespace {

const std::string base_kustomization = R"(resources:
- deployment.yaml
configMapGenerator:
- name: web-settings
  literals:
  - mode=base
)";

const std::string base_deployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: web-settings
)";

std::string overlay(const std::string& cluster, const std::string& tag) {
  return "resources:\n- ../../base\nnamespace: shop\nnameSuffix: -" + cluster + "\ncommonAnnotations:\n  meridian.io/cluster: " + cluster +
         "\nimages:\n- name: nginx\n  newTag: \"" + tag + "\"\n";
}

const std::map<std::string, std::string> fleet = {
    {"base/kustomization.yaml", base_kustomization},
    {"base/deployment.yaml", base_deployment},
    {"overlays/hz/kustomization.yaml", overlay("hz", "1.26")},
    {"overlays/sh/kustomization.yaml", overlay("sh", "1.27")},
    {"plain/settings.yaml", config},
};

const Manifest* find(const ManifestSet& set, const std::string& kind, const std::string& name) {
  for (const Manifest& manifest : set.manifests)
    if (manifest.kind == kind && manifest.name == name)
      return &manifest;
  return nullptr;
}

} // namespace

TEST_CASE("kustomize in a repository: overlays are built, their bases and files are not read as plain manifests") {
  FleetRepo repo;
  const std::string commit = repo.commit(fleet, "fleet");
  GitRepository repository = repo.open();
  ManifestCache cache;
  const ManifestSet set = load_manifests(repository, repository.resolve(commit), "", cache);
  INFO(formatted(set.findings).size());
  REQUIRE(set.findings.empty());
  CHECK(set.kustomizations == std::vector<std::string>{"overlays/hz/kustomization.yaml", "overlays/sh/kustomization.yaml"});
  CHECK(set.kustomize_inputs == std::vector<std::string>{"base/deployment.yaml", "base/kustomization.yaml", "overlays/hz/kustomization.yaml",
                                                         "overlays/sh/kustomization.yaml"});
  // Two overlays of (ConfigMap, Deployment) and the plain ConfigMap, in tree order.
  REQUIRE(set.manifests.size() == 5);
  CHECK(set.manifests[4].file == "plain/settings.yaml");
  CHECK(set.manifests[4].kustomization.empty());
  const Manifest* hz = find(set, "Deployment", "web-hz");
  REQUIRE(hz != nullptr);
  CHECK(hz->file == "base/deployment.yaml");
  CHECK(hz->line == 1);
  CHECK(hz->kustomization == "overlays/hz/kustomization.yaml");
  CHECK(hz->cluster == "hz");
  CHECK(hz->namespace_ == "shop");
  CHECK(hz->line_of("/spec/template") == 1); // no text to search: the resource's line
  CHECK(string_member(*find_pointer(*hz->object, "/spec/template/spec/containers/0"), "image") == "nginx:1.26");
  // The generated ConfigMap is renamed (suffix, then content hash) and the Deployment follows it.
  const std::string settings(string_member(*find_pointer(*hz->object, "/spec/template/spec/containers/0/envFrom/0/configMapRef"), "name"));
  CHECK(settings.rfind("web-settings-hz-", 0) == 0);
  const Manifest* generated = find(set, "ConfigMap", settings);
  REQUIRE(generated != nullptr);
  CHECK(generated->file == "base/kustomization.yaml");
  CHECK(generated->line == 4);
  CHECK(find(set, "Deployment", "web-sh") != nullptr);
  CHECK(find(set, "Deployment", "web") == nullptr); // the base alone is not applied
}

TEST_CASE("kustomize in a repository: --path may name an overlay whose base is outside it") {
  FleetRepo repo;
  const std::string commit = repo.commit(fleet, "fleet");
  GitRepository repository = repo.open();
  ManifestCache cache;
  const ManifestSet set = load_manifests(repository, repository.resolve(commit), "overlays/sh", cache);
  REQUIRE(set.findings.empty());
  REQUIRE(set.manifests.size() == 2);
  CHECK(set.manifests[0].name == "web-sh"); // the base's resources, then what its generator made
  CHECK(set.manifests[1].kind == "ConfigMap");
}

TEST_CASE("kustomize in a repository: a build error is a finding at the entry") {
  FleetRepo repo;
  std::map<std::string, std::string> files = fleet;
  files["overlays/sh/kustomization.yaml"] = "resources:\n- ../../base\n- missing.yaml\n";
  const std::string commit = repo.commit(files, "broken");
  GitRepository repository = repo.open();
  ManifestCache cache;
  const ManifestSet set = load_manifests(repository, repository.resolve(commit), "", cache);
  CHECK(formatted(set.findings) == std::vector<std::string>{"overlays/sh/kustomization.yaml:3: resources[1]: \"missing.yaml\": no such file or directory"});
  CHECK(find(set, "Deployment", "web-hz") != nullptr); // the other overlay still builds
}

TEST_CASE("kustomize in a repository: a commit touching a build's input is loaded in full; others still edit in place") {
  FleetRepo repo;
  const std::string first = repo.commit(fleet, "fleet");
  std::map<std::string, std::string> plain_edit = fleet;
  plain_edit["plain/settings.yaml"] = config + "  extra: \"1\"\n";
  const std::string second = repo.commit({{"plain/settings.yaml", plain_edit["plain/settings.yaml"]}}, "plain edit");
  const std::string third = repo.commit({{"base/deployment.yaml", base_deployment + "  replicas: 2\n"}}, "base edit");
  const std::string fourth = repo.commit({{"overlays/hz/notes.txt", "not a manifest, but below an overlay\n"}}, "notes");
  GitRepository repository = repo.open();
  ManifestCache cache;
  ManifestSet set = load_manifests(repository, repository.resolve(first), "", cache);
  REQUIRE(set.findings.empty());

  std::optional<ManifestEdit> edit = find_edit(set, repository, repository.resolve(second), cache);
  REQUIRE(edit.has_value());
  CHECK(edit->changed() == 1);
  apply_edit(set, std::move(*edit), cache);
  check_same_load(set, load_manifests(repository, repository.resolve(second), "", cache));

  CHECK_FALSE(find_edit(set, repository, repository.resolve(third), cache).has_value());
  const ManifestSet rebuilt = load_manifests(repository, repository.resolve(third), "", cache, &set);
  const Manifest* hz = find(rebuilt, "Deployment", "web-hz");
  REQUIRE(hz != nullptr);
  CHECK(find_pointer(*hz->object, "/spec/replicas") != nullptr);
  CHECK_FALSE(find_edit(rebuilt, repository, repository.resolve(fourth), cache).has_value());
}

TEST_CASE("kustomize in a repository: a kustomization at the root owns the whole tree") {
  FleetRepo repo;
  const std::string commit = repo.commit({{"kustomization.yaml", "resources:\n- apps/web.yaml\nnamespace: shop\n"},
                                          {"apps/web.yaml", base_deployment},
                                          {"apps/unlisted.yaml", config}},
                                         "root");
  GitRepository repository = repo.open();
  ManifestCache cache;
  const ManifestSet set = load_manifests(repository, repository.resolve(commit), "", cache);
  REQUIRE(set.findings.empty());
  REQUIRE(set.manifests.size() == 1); // apps/unlisted.yaml is below the kustomization but not listed
  CHECK(set.manifests[0].name == "web");
}

TEST_CASE("kustomize in a repository: a load reuses the builds whose inputs did not change") {
  FleetRepo repo;
  const std::string first = repo.commit(fleet, "fleet");
  const std::string second = repo.commit({{"overlays/hz/kustomization.yaml", overlay("hz", "1.28")}}, "hz bump");
  const std::string third = repo.commit({{"base/deployment.yaml", base_deployment + "  replicas: 2\n"}}, "base edit");
  GitRepository repository = repo.open();
  ManifestCache cache;
  const ManifestSet one = load_manifests(repository, repository.resolve(first), "", cache);
  const ManifestSet two = load_manifests(repository, repository.resolve(second), "", cache, &one);
  const ManifestSet three = load_manifests(repository, repository.resolve(third), "", cache, &two);
  const auto record = [](const ManifestSet& set, const std::string& file) -> const KustomizeBuildRecord* {
    for (const auto& build : set.kustomize_builds)
      if (build->file == file)
        return build.get();
    return nullptr;
  };
  for (const ManifestSet* set : {&one, &two, &three})
    REQUIRE(set->kustomize_builds.size() == 3); // base, overlays/hz, overlays/sh
  // Only hz read its own kustomization: sh and the base are reused, hz is rebuilt.
  CHECK(record(two, "overlays/sh/kustomization.yaml") == record(one, "overlays/sh/kustomization.yaml"));
  CHECK(record(two, "base/kustomization.yaml") == record(one, "base/kustomization.yaml"));
  CHECK(record(two, "overlays/hz/kustomization.yaml") != record(one, "overlays/hz/kustomization.yaml"));
  CHECK(string_member(*find_pointer(*find(two, "Deployment", "web-hz")->object, "/spec/template/spec/containers/0"), "image") == "nginx:1.28");
  // Both overlays read the base: both are rebuilt.
  CHECK(record(three, "overlays/sh/kustomization.yaml") != record(two, "overlays/sh/kustomization.yaml"));
  CHECK(record(three, "overlays/hz/kustomization.yaml") != record(two, "overlays/hz/kustomization.yaml"));
  CHECK(find_pointer(*find(three, "Deployment", "web-sh")->object, "/spec/replicas") != nullptr);
  // A reused build is the same documents: nothing to compare again.
  const ManifestSet again = load_manifests(repository, repository.resolve(third), "", cache, &three);
  CHECK(same_documents(again, three));
}

TEST_CASE("kustomize in a repository: a kustomization under clusters/<name>/ targets that cluster") {
  FleetRepo repo;
  const std::string commit = repo.commit({{"base/kustomization.yaml", base_kustomization},
                                          {"base/deployment.yaml", base_deployment},
                                          {"clusters/hz/kustomization.yaml", "resources:\n- ../../base\n"},
                                          {"clusters/sh/kustomization.yaml", "resources:\n- ../../base\nnamePrefix: sh-\n"}},
                                         "per-cluster kustomizations");
  GitRepository repository = repo.open();
  ManifestCache cache;
  const ManifestSet set = load_manifests(repository, repository.resolve(commit), "", cache);
  REQUIRE(set.findings.empty());
  const Manifest* hz = find(set, "Deployment", "web");
  const Manifest* sh = find(set, "Deployment", "sh-web");
  REQUIRE(hz != nullptr);
  REQUIRE(sh != nullptr);
  CHECK(hz->cluster == "hz");
  CHECK(hz->cluster_from_path);
  CHECK(hz->file == "base/deployment.yaml");
  CHECK(sh->cluster == "sh");
}
