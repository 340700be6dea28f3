// What a user sees when a kustomization is wrong: one line naming the kustomization file (with the
// line of the entry), the entry and why. Nothing crashes.
#include "kustomize/kustomize.h"

#include "base/error.h"

#include <catch2/catch.hpp>

using namespace meridian;

namespace {

const std::string deployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.25
)";

// The message of the error building `directory` of `files` throws (fails the test when it builds).
std::string build_error(const std::map<std::string, std::string>& files, const std::string& directory = "app") {
  const kustomize::MemoryTree tree(files);
  try {
    kustomize::build(tree, directory);
  } catch (const Error& error) {
    return error.what();
  }
  FAIL("the build succeeded");
  return {};
}

} // namespace

TEST_CASE("kustomize errors: a missing resource names the kustomization, line and entry") {
  const std::string message = build_error({{"app/kustomization.yaml", "resources:\n- deployment.yaml\n- missing.yaml\n"},
                                           {"app/deployment.yaml", deployment}});
  CHECK(message == "app/kustomization.yaml:3: resources[1]: \"missing.yaml\": no such file or directory");
}

TEST_CASE("kustomize errors: a file outside the kustomization's directory is refused (load restrictions)") {
  const std::string message = build_error({{"app/kustomization.yaml", "resources:\n- ../shared/deployment.yaml\n"},
                                           {"shared/deployment.yaml", deployment}});
  CHECK(message.find("app/kustomization.yaml:2: resources[0]: \"../shared/deployment.yaml\": security: file 'shared/deployment.yaml' is "
                     "not in or below 'app'") == 0);
  // Patches and generator files too.
  CHECK(build_error({{"app/kustomization.yaml", "resources:\n- deployment.yaml\npatches:\n- path: ../patch.yaml\n"},
                     {"app/deployment.yaml", deployment},
                     {"patch.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"}})
            .find("app/kustomization.yaml:4: patches[0].path: \"../patch.yaml\": security:") == 0);
  CHECK(build_error({{"app/kustomization.yaml", "configMapGenerator:\n- name: settings\n  files:\n  - ../secret.txt\n"}, {"secret.txt", "x"}})
            .find("app/kustomization.yaml:4: configMapGenerator[0].files[0]: \"../secret.txt\": security:") == 0);
}

TEST_CASE("kustomize errors: a base directory outside the kustomization is allowed") {
  const kustomize::MemoryTree tree({{"overlay/kustomization.yaml", "resources:\n- ../base\n"},
                                    {"base/kustomization.yaml", "resources:\n- deployment.yaml\n"},
                                    {"base/deployment.yaml", deployment}});
  CHECK(kustomize::build(tree, "overlay").documents->documents.size() == 1);
}

TEST_CASE("kustomize errors: remote bases are refused") {
  for (const std::string remote : {"github.com/kubernetes-sigs/kustomize/examples/multibases?ref=v1.0.6",
                                   "https://github.com/example/fleet//base", "git@github.com:example/fleet.git"}) {
    const std::string message = build_error({{"app/kustomization.yaml", "resources:\n- " + remote + "\n"}});
    CHECK(message == "app/kustomization.yaml:2: resources[0]: \"" + remote +
                         "\": remote bases are not supported: Meridian builds only from the repository it reads (vendor the base into the "
                         "repository)");
  }
}

TEST_CASE("kustomize errors: a path out of the repository is refused") {
  CHECK(build_error({{"app/kustomization.yaml", "resources:\n- ../../etc\n"}}) ==
        "app/kustomization.yaml:2: resources[0]: \"../../etc\": points outside the repository");
}

TEST_CASE("kustomize errors: a JSON 6902 patch that does not apply names the patch, object and operation") {
  const std::string message = build_error({{"app/kustomization.yaml", "resources:\n- deployment.yaml\npatches:\n- target:\n    kind: Deployment\n"
                                                                      "  patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 3\n"},
                                           {"app/deployment.yaml", deployment}});
  CHECK(message == "app/kustomization.yaml:4: patches[0]: Deployment/web: operation [0] (replace /spec/replicas): path \"/spec/replicas\": no "
                   "field \"replicas\" to replace");
}

TEST_CASE("kustomize errors: a strategic merge patch that matches nothing") {
  const std::string message = build_error({{"app/kustomization.yaml", "resources:\n- deployment.yaml\npatchesStrategicMerge:\n- patch.yaml\n"},
                                           {"app/deployment.yaml", deployment},
                                           {"app/patch.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 2\n"}});
  CHECK(message == "app/kustomization.yaml:4: patchesStrategicMerge[0]: no resource matches strategic merge patch Deployment/api");
}

TEST_CASE("kustomize errors: a patch that does not parse") {
  const std::string message = build_error({{"app/kustomization.yaml", "resources:\n- deployment.yaml\npatches:\n- path: patch.yaml\n"},
                                           {"app/deployment.yaml", deployment},
                                           {"app/patch.yaml", "spec: [unclosed\n"}});
  CHECK(message.find("app/kustomization.yaml:4: patches[0]: patch does not parse: line ") == 0);
}

TEST_CASE("kustomize errors: a resource that does not parse names its own file and line") {
  const std::string message = build_error({{"app/kustomization.yaml", "resources:\n- deployment.yaml\n"},
                                           {"app/deployment.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n"}});
  CHECK(message.find("app/deployment.yaml:") == 0);
}

TEST_CASE("kustomize errors: a resource without a name") {
  CHECK(build_error({{"app/kustomization.yaml", "resources:\n- cm.yaml\n"}, {"app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\ndata: {}\n"}}) ==
        "app/cm.yaml:1: ConfigMap: metadata.name: required field is missing");
}

TEST_CASE("kustomize errors: fields Meridian does not build, and unknown fields, are named") {
  CHECK(build_error({{"app/kustomization.yaml", "vars:\n- name: X\n"}}) ==
        "app/kustomization.yaml:1: vars: not supported by Meridian's kustomize build (see README, Kustomize)");
  CHECK(build_error({{"app/kustomization.yaml", "resource:\n- a.yaml\n"}}) == "app/kustomization.yaml:1: resource: unknown field of a kustomization");
  CHECK(build_error({{"app/kustomization.yaml", "resources: deployment.yaml\n"}}) ==
        "app/kustomization.yaml:1: resources: expected a list of strings, got string");
}

TEST_CASE("kustomize errors: generators") {
  CHECK(build_error({{"app/kustomization.yaml", "configMapGenerator:\n- name: settings\n  literals:\n  - novalue\n"}}) ==
        "app/kustomization.yaml:4: configMapGenerator[0].literals[0]: \"novalue\": expected KEY=VALUE");
  CHECK(build_error({{"app/kustomization.yaml", "configMapGenerator:\n- name: settings\n  envs:\n  - app.env\n"}, {"app/app.env", "A=1\nHOME\n"}}) ==
        "app/kustomization.yaml:4: configMapGenerator[0].envs[0]: \"app.env\" line 2: expected KEY=VALUE, got \"HOME\" (Meridian never reads "
        "its own environment)");
  CHECK(build_error({{"app/kustomization.yaml", "configMapGenerator:\n- literals:\n  - a=b\n"}}) ==
        "app/kustomization.yaml:2: configMapGenerator[0]: name: required field is missing");
  CHECK(build_error({{"app/kustomization.yaml", "configMapGenerator:\n- name: x\n  behavior: merge\n  literals:\n  - a=b\n"}}) ==
        "app/kustomization.yaml:3: configMapGenerator[0].behavior: merge: no ConfigMap \"x\" to merge in the resources");
  CHECK(build_error({{"app/kustomization.yaml", "configMapGenerator:\n- name: x\n  literals:\n  - a=b\n  - a=c\n"}}) ==
        "app/kustomization.yaml:5: configMapGenerator[0].literals[1]: key \"a\" is given twice");
}

TEST_CASE("kustomize errors: bases and components") {
  CHECK(build_error({{"app/kustomization.yaml", "resources:\n- ../base\n"}, {"base/deployment.yaml", deployment}}) ==
        "app/kustomization.yaml:2: resources[0]: directory \"base\" holds no kustomization.yaml, kustomization.yml or Kustomization");
  CHECK(build_error({{"app/kustomization.yaml", "resources:\n- ../app\n"}}) == "app/kustomization.yaml:2: resources[0]: cycle: \"app\" includes itself");
  CHECK(build_error({{"app/kustomization.yaml", "resources:\n- ../extra\n"},
                     {"extra/kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"}}) ==
        "app/kustomization.yaml:2: resources[0]: \"extra\" is a Component: list it under components, not resources");
  CHECK(build_error({{"app/kustomization.yaml", "components:\n- ../extra\n"}, {"extra/kustomization.yaml", "resources: []\n"}}) ==
        "app/kustomization.yaml:2: components[0]: \"../extra\": expected kind Component in extra/kustomization.yaml");
  CHECK(build_error({{"app/deployment.yaml", deployment}}) == "app: no kustomization.yaml, kustomization.yml or Kustomization in this directory");
  CHECK(build_error({{"app/kustomization.yaml", "resources: []\n"}, {"app/Kustomization", "resources: []\n"}}).find("found several kustomization files") !=
        std::string::npos);
}

TEST_CASE("kustomize errors: two resources with one identity") {
  const std::string message = build_error({{"app/kustomization.yaml", "resources:\n- a.yaml\n- b.yaml\n"}, {"app/a.yaml", deployment},
                                           {"app/b.yaml", deployment}});
  CHECK(message == "app/kustomization.yaml:3: resources[1]: may not add resource with an already registered id: Deployment/web (from "
                   "app/b.yaml:1, already from app/a.yaml:1)");
}

TEST_CASE("kustomize errors: a target with a bad label selector") {
  CHECK(build_error({{"app/kustomization.yaml", "resources:\n- d.yaml\npatches:\n- target:\n    labelSelector: \"a in b\"\n  patch: |-\n"
                                                "    - op: add\n      path: /x\n      value: 1\n"},
                     {"app/d.yaml", deployment}}) ==
        "app/kustomization.yaml:5: patches[0].target.labelSelector: \"a in b\": not a label selector: found 'b', expected: '('");
}

TEST_CASE("kustomize errors: every field of the wrong shape is a one-line error naming the kustomization") {
  const std::vector<std::string> bad = {
      "resources: [1]\n", "resources: {a: b}\n", "namespace: [x]\n", "namePrefix: {a: b}\n", "commonLabels: [a]\n",
      "commonLabels:\n  a: [b]\n", "commonAnnotations: x\n", "labels: x\n", "labels: [x]\n", "labels:\n- pairs: x\n",
      "labels:\n- pairs: {a: b}\n  fields: x\n", "labels:\n- pairs: {a: b}\n  fields: [{kind: X}]\n", "images: x\n", "images: [x]\n",
      "images: [{newTag: x}]\n", "replicas: [{name: web}]\n", "replicas: [{name: web, count: -1}]\n", "replicas: [{count: 1}]\n",
      "patches: x\n", "patches: [x]\n", "patches: [{}]\n", "patches: [{path: a, patch: b}]\n", "patches: [{patch: 'x: y', target: x}]\n",
      "patches: [{patch: 'x: y', target: {foo: bar}}]\n", "patches: [{patch: '[1]'}]\n", "patches: [{patch: 'a: b'}]\n",
      "patches: [{patch: '', target: {kind: Deployment}}]\n", "patches: [{patch: '- op: add', target: {kind: Deployment}}]\n",
      "patches: [{patch: '- {op: move, path: /a, from: /nope}', target: {kind: Deployment}}]\n",
      "patches: [{patch: '- {op: frob, path: /a}', target: {kind: Deployment}}]\n",
      "patches: [{patch: '- {op: add, path: a, value: 1}', target: {kind: Deployment}}]\n",
      "patches: [{patch: '- {op: add, path: /spec/template/spec/containers/9, value: 1}', target: {kind: Deployment}}]\n",
      "patches: [{patch: '- 1', target: {kind: Deployment}}]\n", "patches: [{patch: 'kind: Deployment\nmetadata: {name: web}\n$bogus: 1', target: {kind: Deployment}}]\n",
      "patchesStrategicMerge: x\n", "patchesStrategicMerge: [missing.yaml]\n", "patchesStrategicMerge: ['[1, 2]']\n",
      "patchesJson6902: [{path: p.yaml}]\n", "patchesJson6902: [{target: {kind: Deployment}}]\n",
      "patchesJson6902: [{target: {kind: Deployment}, patch: 'a: b'}]\n", "configMapGenerator: x\n", "configMapGenerator: [x]\n",
      "configMapGenerator: [{name: x, literals: x}]\n", "configMapGenerator: [{name: x, literals: [1]}]\n",
      "configMapGenerator: [{name: x, files: [missing]}]\n", "configMapGenerator: [{name: x, files: ['=a']}]\n",
      "configMapGenerator: [{name: x, behavior: sideways}]\n", "configMapGenerator: [{name: x, options: x}]\n",
      "configMapGenerator: [{name: x, options: {disableNameSuffixHash: maybe}}]\n", "configMapGenerator: [{name: x, options: {color: red}}]\n",
      "configMapGenerator: [{name: x, literals: ['bad key=1']}]\n", "secretGenerator: [{name: x, envs: [missing.env]}]\n",
      "generatorOptions: x\n", "components: [1]\n", "components: [missing]\n", "components: [https://example.com/c]\n",
      "replacements: x\n", "replacements: [{}]\n", "replacements: [{source: {kind: Nope}, targets: []}]\n",
      "replacements: [{source: {kind: Deployment, fieldPath: spec.nope}, targets: []}]\n",
      "replacements: [{source: {kind: Deployment}, targets: x}]\n", "replacements: [{source: {kind: Deployment}, targets: [{}]}]\n",
      "replacements: [{source: {kind: Deployment}, targets: [{select: {kind: Deployment}, fieldPaths: [spec.nope]}]}]\n",
      "replacements: [{path: missing.yaml}]\n", "sortOptions: {order: random}\n", "kind: Deployment\n",
      "apiVersion: v2\n", "- a\n- b\n", "a: b\n---\nc: d\n", "resources: [web.yaml]\nnamespace: [a]\n", "bases: [../nope]\n",
      "resources: ['']\n", "resources: [web.yaml, web.yaml]\n", "crds: [a]\n", "openapi: {}\n"};
  for (const std::string& kustomization : bad) {
    INFO(kustomization);
    const kustomize::MemoryTree tree({{"app/kustomization.yaml", "resources: [web.yaml]\n"}, {"app/web.yaml", deployment}});
    kustomize::MemoryTree broken({{"app/kustomization.yaml", kustomization.find("resources") == std::string::npos
                                                                  ? "resources: [web.yaml]\n" + kustomization
                                                                  : kustomization},
                                  {"app/web.yaml", deployment}});
    std::string message;
    try {
      kustomize::build(broken, "app");
    } catch (const Error& error) {
      message = error.what();
    }
    CHECK(message.rfind("app/", 0) == 0);
    CHECK(message.find('\n') == std::string::npos);
  }
}
