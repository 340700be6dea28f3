// Behaviour of the build that kustomize's adopted cases do not pin down on their own: strategic
// merge by the Kubernetes patch strategy, target selectors, images, replicas, replacements with
// delimiters, the legacy sort, and the YAML kustomize prints.
#include "kustomize/kustomize.h"

#include "base/error.h"

#include <catch2/catch.hpp>

using namespace meridian;

namespace {

const std::string deployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    tier: front
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: web
        image: registry.example.com/shop/web:1.0
        env:
        - name: A
          value: "1"
        - name: B
          value: "2"
        ports:
        - containerPort: 80
      - name: sidecar
        image: envoy@sha256:abc
      volumes:
      - name: cache
        emptyDir: {}
)";

// The YAML of building `app` of `files` (kustomization in app/, the Deployment in app/web.yaml).
std::string render(const std::string& kustomization, const std::map<std::string, std::string>& extra = {}) {
  std::map<std::string, std::string> files = {{"app/kustomization.yaml", kustomization}, {"app/web.yaml", deployment}};
  files.insert(extra.begin(), extra.end());
  const kustomize::MemoryTree tree(files);
  const kustomize::Build build = kustomize::build(tree, "app");
  std::vector<const Json*> documents;
  for (const YamlDocument& document : build.documents->documents)
    documents.push_back(&document.value);
  return kustomize::to_yaml_stream(documents);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

TEST_CASE("kustomize build: strategic merge merges containers, env and ports by key, deletes and replaces") {
  const std::string out = render("resources:\n- web.yaml\npatches:\n- path: patch.yaml\n",
                                 {{"app/patch.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        env:
        - name: B
          value: "20"
        - name: A
          $patch: delete
        - name: C
          value: "3"
        ports:
        - containerPort: 80
          protocol: TCP
      - name: sidecar
        $patch: delete
      volumes:
      - $patch: replace
      - name: data
        emptyDir: {}
)"}});
  CHECK(out == R"(apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    tier: front
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - env:
        - name: B
          value: "20"
        - name: C
          value: "3"
        image: registry.example.com/shop/web:1.0
        name: web
        ports:
        - containerPort: 80
          protocol: TCP
      volumes:
      - emptyDir: {}
        name: data
)");
}

TEST_CASE("kustomize build: a null deletes a field; $patch: delete on the object deletes it") {
  CHECK_FALSE(contains(render("resources:\n- web.yaml\npatchesStrategicMerge:\n- |-\n  apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n"
                              "    name: web\n    labels:\n      tier: null\n"),
                       "tier"));
  CHECK(render("resources:\n- web.yaml\npatchesStrategicMerge:\n- |-\n  apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: web\n"
               "  $patch: delete\n") == "");
}

TEST_CASE("kustomize build: patch targets by label selector, regex name and kind") {
  const std::map<std::string, std::string> more = {{"app/api.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  labels:\n"
                                                                    "    tier: back\nspec:\n  replicas: 1\n"}};
  const std::string patch = "  patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 5\n";
  const std::string by_label = render("resources:\n- web.yaml\n- api.yaml\npatches:\n- target:\n    labelSelector: tier in (back)\n" + patch, more);
  CHECK(contains(by_label, "  name: api\nspec:\n  replicas: 5\n"));
  CHECK(contains(by_label, "replicas: 1\n  template"));
  const std::string by_regex = render("resources:\n- web.yaml\n- api.yaml\npatches:\n- target:\n    kind: Deploy.*\n    name: w.b\n" + patch, more);
  CHECK(contains(by_regex, "replicas: 5\n  template"));
  CHECK(contains(by_regex, "  name: api\nspec:\n  replicas: 1\n"));
  const std::string not_selected = render("resources:\n- web.yaml\n- api.yaml\npatches:\n- target:\n    labelSelector: \"!tier\"\n" + patch, more);
  CHECK_FALSE(contains(not_selected, "replicas: 5"));
}

TEST_CASE("kustomize build: images by name (tag, digest, new name), replicas") {
  const std::string out = render("resources:\n- web.yaml\nimages:\n- name: registry.example.com/shop/web\n  newName: mirror.example.com/web\n"
                                 "  newTag: \"2.0\"\n- name: envoy\n  digest: sha256:def\nreplicas:\n- name: web\n  count: 3\n");
  CHECK(contains(out, "image: mirror.example.com/web:2.0\n"));
  CHECK(contains(out, "image: envoy@sha256:def\n"));
  CHECK(contains(out, "replicas: 3\n"));
}

TEST_CASE("kustomize build: replacements with a delimiter, and create") {
  const std::string out = render(R"(resources:
- web.yaml
- settings.yaml
replacements:
- source:
    kind: ConfigMap
    name: settings
    fieldPath: data.tag
  targets:
  - select:
      kind: Deployment
    fieldPaths:
    - spec.template.spec.containers.[name=web].image
    options:
      delimiter: ':'
      index: 1
  - select:
      kind: Deployment
    fieldPaths:
    - metadata.annotations.tag
    options:
      create: true
)",
                                 {{"app/settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  tag: \"3.1\"\n"}});
  CHECK(contains(out, "image: registry.example.com/shop/web:3.1\n"));
  CHECK(contains(out, "annotations:\n    tag: \"3.1\"\n"));
}

TEST_CASE("kustomize build: sortOptions legacy sorts by kind; the default keeps the listed order") {
  const std::map<std::string, std::string> more = {{"app/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"},
                                                   {"app/svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"}};
  const std::string fifo = render("resources:\n- web.yaml\n- svc.yaml\n- ns.yaml\n", more);
  CHECK(fifo.find("kind: Deployment") < fifo.find("kind: Service"));
  CHECK(fifo.find("kind: Service") < fifo.find("kind: Namespace"));
  const std::string legacy = render("resources:\n- web.yaml\n- svc.yaml\n- ns.yaml\nsortOptions:\n  order: legacy\n", more);
  CHECK(legacy.find("kind: Namespace") < legacy.find("kind: Service"));
  CHECK(legacy.find("kind: Service") < legacy.find("kind: Deployment"));
}

TEST_CASE("kustomize YAML: strings that would read back as something else are quoted") {
  JsonDocument document;
  REQUIRE_FALSE(parse_json(R"({"a":"true","b":"1.5","c":"yes","d":"","e":"plain text","f":"x: y","g":"- z","h":"line\nnext\n","i":"#c","j":null,"k":[],"l":{},"m":3,"n":1.0,"o":2.5,"p":"2001-12-14","q":"0755","r":"1e3"})",
                           document));
  CHECK(kustomize::to_yaml(document) == "a: \"true\"\nb: \"1.5\"\nc: \"yes\"\nd: \"\"\ne: plain text\nf: 'x: y'\ng: '- z'\nh: |\n  line\n  next\ni: '#c'\n"
                                        "j: null\nk: []\nl: {}\nm: 3\n\"n\": 1.0\no: 2.5\np: \"2001-12-14\"\nq: \"0755\"\nr: \"1e3\"\n");
}

namespace {

std::vector<std::string> names_of(const std::map<std::string, std::string>& files, const std::string& directory) {
  const kustomize::MemoryTree tree(files);
  const kustomize::Build build = kustomize::build(tree, directory);
  std::vector<std::string> names;
  for (const YamlDocument& document : build.documents->documents)
    names.emplace_back(string_member(*find_member(document.value, "metadata"), "name"));
  return names;
}

} // namespace

// The values of kustomize's own api/hasher/hasher_test.go and api/krusty/disablenamesuffix_test.go.
TEST_CASE("kustomize build: content hashes are kustomize's") {
  CHECK(names_of({{"k/kustomization.yaml", "configMapGenerator:\n- name: x\n- name: w\n  literals:\n  - one=\nsecretGenerator:\n"
                                           "- name: z\n  type: my-type\n"}},
                 "k") == std::vector<std::string>{"x-6ct58987ht", "w-9g67k2htb6", "z-5gmgkf8578"});
  const std::string kustomization = R"(namePrefix: foo-
nameSuffix: -bar
namespace: ns1
commonLabels:
  app: nginx
resources:
  - deployment.yaml
generatorOptions:
  disableNameSuffixHash: false
secretGenerator:
- name: secret
  literals:
    - DB_USERNAME=admin
    - DB_PASSWORD=somepw
  type: Opaque
- name: nohash
  options:
    disableNameSuffixHash: true
  literals:
    - DB_USERNAME=admin
)";
  const std::string deployment_file = "apiVersion: apps/v1\nmetadata:\n  name: dply1\nkind: Deployment\n";
  CHECK(names_of({{"w/kustomization.yaml", kustomization}, {"w/deployment.yaml", deployment_file}}, "w") ==
        std::vector<std::string>{"foo-dply1-bar", "foo-secret-bar-82c2g5f8f6", "foo-nohash-bar"});
  std::string disabled = kustomization;
  disabled.replace(disabled.find("disableNameSuffixHash: false"), 28, "disableNameSuffixHash: true");
  CHECK(names_of({{"w/kustomization.yaml", disabled}, {"w/deployment.yaml", deployment_file}}, "w") ==
        std::vector<std::string>{"foo-dply1-bar", "foo-secret-bar", "foo-nohash-bar"});
}
