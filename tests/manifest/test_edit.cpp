// What a commit edits in a ManifestSet, on real repositories committed with the git CLI:
// GitRepository::changed_files (the manifest files two commits' trees hold differently, as list_files
// sees them), find_edit (accepts a commit only when every changed file keeps its documents in number,
// order and identity, and Meridian's own kinds change only in comments and layout) and apply_edit
// (the set becomes exactly what load_manifests of the commit gives, in place).
#include "manifest/manifest.h"

#include "base/error.h"

#include "manifest_fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <tuple>

using namespace meridian;
using namespace meridian::testing;
using namespace manifest_test;

namespace {

const std::string fleet_yaml = R"(apiVersion: meridian.io/v1alpha1
kind: Fleet
metadata:
  name: fleet
spec:
  prune: false
)";

const std::string cluster_yaml = R"(apiVersion: meridian.io/v1alpha1
kind: Cluster
metadata:
  name: hz
spec:
  type: Managed
  region: cn-hangzhou
)";



const std::string web = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    meridian.io/cluster: sh
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.25
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
  annotations:
    meridian.io/cluster: sh
spec:
  ports:
    - port: 80
)";

const std::string service_json = R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop",
  "annotations": {"meridian.io/cluster": "sh"}}, "spec": {"ports": [{"port": 8080}]}}
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  INFO("replacing " << from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

const Manifest& named(const ManifestSet& set, const std::string& kind, const std::string& name) {
  for (const Manifest& manifest : set.manifests)
    if (manifest.kind == kind && manifest.name == name)
      return manifest;
  FAIL("no manifest " << kind << "/" << name);
  throw std::logic_error("unreachable");
}

size_t index_of(const ManifestSet& set, const std::string& kind, const std::string& name) {
  return static_cast<size_t>(&named(set, kind, name) - set.manifests.data());
}



bool same_identity(const Manifest& a, const Manifest& b) {
  return a.file == b.file && a.api_version == b.api_version && a.group == b.group && a.kind == b.kind && a.name == b.name &&
         a.namespace_ == b.namespace_ && a.cluster == b.cluster && a.cluster_from_path == b.cluster_from_path &&
         a.object->IsObject() == b.object->IsObject();
}

//! What find_edit's contract says of two loads: `after` is an edit of `before` when neither has
//! findings, every document keeps its file, position and identity, and a document of Meridian's own
//! kinds (or one that is not a mapping) keeps its content as written. Computed from full loads, so it
//! does not depend on how find_edit finds the changed files.
bool is_edit(const ManifestSet& before, const ManifestSet& after) {
  if (!before.findings.empty() || !after.findings.empty() || before.manifests.size() != after.manifests.size())
    return false;
  for (size_t i = 0; i < before.manifests.size(); ++i) {
    const Manifest& a = before.manifests[i];
    const Manifest& b = after.manifests[i];
    if (!same_identity(a, b))
      return false;
    if (!json_identical(*a.object, *b.object) && (!b.object->IsObject() || b.is_meridian_kind()))
      return false;
  }
  return true;
}

//! What changed_files should say: the difference of list_files on both commits.
std::vector<TreeChange> listed_difference(const GitRepository& repository, const std::string& from, const std::string& to,
                                          const std::string& subdir) {
  std::map<std::string, std::pair<std::string, std::string>> by_path;
  for (const TreeFile& file : repository.list_files(from, subdir, is_manifest_name))
    by_path[file.path].first = file.blob_id;
  for (const TreeFile& file : repository.list_files(to, subdir, is_manifest_name))
    by_path[file.path].second = file.blob_id;
  std::vector<TreeChange> out;
  for (const auto& [path, blobs] : by_path)
    if (blobs.first != blobs.second)
      out.push_back({path, blobs.first, blobs.second});
  return out;
}

std::string shown(const std::vector<TreeChange>& changes) {
  std::string out;
  for (const TreeChange& change : changes)
    out += change.path + " " + (change.old_blob_id.empty() ? "-" : change.old_blob_id.substr(0, 8)) + " -> " +
           (change.new_blob_id.empty() ? "-" : change.new_blob_id.substr(0, 8)) + "\n";
  return out;
}

using ChangeTuple = std::tuple<std::string, std::string, std::string>;

std::vector<ChangeTuple> tuples(const std::vector<TreeChange>& changes) {
  std::vector<ChangeTuple> out;
  for (const TreeChange& change : changes)
    out.emplace_back(change.path, change.old_blob_id, change.new_blob_id);
  return out;
}

void check_changes(const std::vector<TreeChange>& actual, const std::vector<TreeChange>& expected) {
  INFO("actual:\n" << shown(actual) << "expected:\n" << shown(expected));
  CHECK(tuples(actual) == tuples(expected));
}

std::vector<std::string> paths_of(const std::vector<TreeChange>& changes) {
  std::vector<std::string> out;
  for (const TreeChange& change : changes)
    out.push_back(change.path);
  return out;
}

//! find_edit accepts `commit` for `set`; apply_edit then makes `set` what a fresh load of the commit
//! is, in place, leaving every manifest outside the changed files as it was. Returns the edit.
ManifestEdit check_accepted(ManifestSet& set, const GitRepository& repository, const std::string& commit, ManifestCache& cache) {
  const CommitInfo info = repository.resolve(commit);
  ManifestCache fresh_cache;
  const ManifestSet fresh = load_manifests(repository, info, set.path, fresh_cache);
  CHECK(is_edit(set, fresh)); // the test's commit is an edit as the contract says
  const ManifestSet before = set; // a copy: shares the parses, owns its own Manifests
  const Manifest* const addresses = set.manifests.data();

  std::optional<ManifestEdit> found = find_edit(set, repository, info, cache);
  REQUIRE(found.has_value());
  const ManifestEdit edit = *found;
  check_same_load(set, before); // find_edit leaves the set as it is
  CHECK(edit.commit.id == info.id);
  CHECK(edit.files == fresh.files);
  check_changes(edit.changes, listed_difference(repository, before.commit.id, info.id, set.path));
  // Every document of every changed file, by index, each with the commit's content.
  std::set<std::string> changed_paths;
  for (const TreeChange& change : edit.changes)
    changed_paths.insert(change.path);
  std::vector<size_t> expected_indices;
  for (size_t i = 0; i < before.manifests.size(); ++i)
    if (changed_paths.count(before.manifests[i].file) != 0)
      expected_indices.push_back(i);
  std::vector<size_t> indices;
  for (const ManifestEdit::Document& document : edit.documents)
    indices.push_back(document.index);
  CHECK(indices == expected_indices);
  size_t changed = 0;
  for (const ManifestEdit::Document& document : edit.documents) {
    REQUIRE(document.index < fresh.manifests.size());
    INFO("document " << document.index << " " << document.manifest.file << " " << document.manifest.display_name());
    REQUIRE(document.manifest.object != nullptr);
    CHECK(json_identical(*document.manifest.object, *fresh.manifests[document.index].object));
    CHECK(document.same == json_identical(*before.manifests[document.index].object, *fresh.manifests[document.index].object));
    changed += document.same ? 0 : 1;
  }
  CHECK(edit.changed() == changed);

  apply_edit(set, *found, cache);
  check_same_load(set, fresh);
  CHECK(set.manifests.data() == addresses); // in place: whoever points at a manifest still does
  std::set<size_t> edited(indices.begin(), indices.end());
  for (size_t i = 0; i < set.manifests.size(); ++i) {
    INFO("manifest " << i << ": " << set.manifests[i].file << " " << set.manifests[i].display_name());
    if (edited.count(i) != 0) {
      // The edited documents point into the commit's parse of their file.
      CHECK(set.manifests[i].object != before.manifests[i].object);
      CHECK(set.manifests[i].blob != before.manifests[i].blob);
      CHECK(set.manifests[i].blob_id != before.manifests[i].blob_id);
    } else {
      CHECK(set.manifests[i].object == before.manifests[i].object);
      CHECK(set.manifests[i].blob == before.manifests[i].blob);
    }
  }
  // The applied set stands for its commit as a previous set too.
  ManifestCache again_cache;
  check_same_load(load_manifests(repository, info, set.path, again_cache, &set), fresh);
  return edit;
}

//! find_edit refuses `commit` for `set`, and so does update_same_documents, which leaves `set` alone.
void check_refused(ManifestSet& set, const GitRepository& repository, const std::string& commit, ManifestCache& cache) {
  const CommitInfo info = repository.resolve(commit);
  const ManifestSet before = set;
  const Manifest* const addresses = set.manifests.data();
  CHECK_FALSE(find_edit(set, repository, info, cache).has_value());
  CHECK_FALSE(update_same_documents(set, repository, info, cache));
  CHECK(set.commit.id == before.commit.id);
  CHECK(set.files == before.files);
  CHECK(set.manifests.data() == addresses);
  REQUIRE(set.manifests.size() == before.manifests.size());
  for (size_t i = 0; i < set.manifests.size(); ++i) {
    CHECK(set.manifests[i].object == before.manifests[i].object);
    CHECK(set.manifests[i].blob_id == before.manifests[i].blob_id);
    CHECK(set.manifests[i].line == before.manifests[i].line);
  }
}

//! check_refused, for a commit the contract refuses (checked against fresh loads).
void check_not_an_edit(ManifestSet& set, const GitRepository& repository, const std::string& commit, ManifestCache& cache) {
  ManifestCache fresh_cache;
  const ManifestSet fresh = load_manifests(repository, repository.resolve(commit), set.path, fresh_cache);
  CHECK_FALSE(is_edit(set, fresh));
  check_refused(set, repository, commit, cache);
}

// The fleet most find_edit tests start from.
const std::map<std::string, std::string> base_files = {
    {"fleet.yaml", fleet_yaml},
    {"clusters.yaml", cluster_yaml},
    {"pools.yaml", pools},
    {"clusters/hz/config.yaml", config},
    {"apps/web.yaml", web},
    {"apps/api.json", service_json},
    {"notes.yaml", "# nothing here yet\n"},
    {"README.md", "not a manifest\n"},
};

struct EditFixture {
  FleetRepo fleet;
  std::string first = fleet.commit(base_files, "first");
  GitRepository repository = fleet.open();
  ManifestCache cache;
  ManifestSet set = load_manifests(repository, repository.resolve(first), "", cache);

  EditFixture() {
    REQUIRE(set.findings.empty());
    REQUIRE(set.files == 7);
    REQUIRE(set.manifests.size() == 8);
  }
};

} // namespace

// ---------------------------------------------------------------------------------------------
// changed_files

TEST_CASE("changed_files: modified, added and deleted manifests, blob ids from both commits", "[source][git][edit]") {
  FleetRepo fleet;
  const std::string first = fleet.commit({{"a.yaml", "a: 1\n"},
                                          {"b.yaml", "b: 1\n"},
                                          {"dir/c.yml", "c: 1\n"},
                                          {"dir/deep/d.json", "{\"d\": 1}\n"},
                                          {"README.md", "readme\n"}},
                                         "first");
  fs::remove(fleet.work / "b.yaml");
  const std::string second = fleet.commit({{"a.yaml", "a: 2\n"},
                                           {"dir/deep/e.yaml", "e: 1\n"},
                                           {"README.md", "readme, changed\n"},
                                           {"notes.txt", "not a manifest either\n"}},
                                          "second");
  GitRepository repository = fleet.open();

  const std::vector<TreeChange> forward = repository.changed_files(first, second, "", is_manifest_name);
  check_changes(forward, {{"a.yaml", fleet.blob(first, "a.yaml"), fleet.blob(second, "a.yaml")},
                          {"b.yaml", fleet.blob(first, "b.yaml"), ""},
                          {"dir/deep/e.yaml", "", fleet.blob(second, "dir/deep/e.yaml")}});
  check_changes(forward, listed_difference(repository, first, second, ""));

  SECTION("the other way round: added and deleted swap") {
    check_changes(repository.changed_files(second, first, "", is_manifest_name),
                  {{"a.yaml", fleet.blob(second, "a.yaml"), fleet.blob(first, "a.yaml")},
                   {"b.yaml", "", fleet.blob(first, "b.yaml")},
                   {"dir/deep/e.yaml", fleet.blob(second, "dir/deep/e.yaml"), ""}});
  }
  SECTION("the same commit, or another commit with the same tree: nothing") {
    CHECK(repository.changed_files(first, first, "", is_manifest_name).empty());
    CHECK(repository.changed_files(second, second, "", is_manifest_name).empty());
    const std::string empty = fleet.commit({}, "no change"); // --allow-empty: the same tree
    REQUIRE(empty != second);
    CHECK(repository.changed_files(second, empty, "", is_manifest_name).empty());
  }
  SECTION("only names `wanted` accepts, which it sees without their folders") {
    std::vector<std::string> seen;
    const auto json_only = [&](std::string_view name) {
      seen.emplace_back(name);
      return name.size() > 5 && name.substr(name.size() - 5) == ".json";
    };
    CHECK(repository.changed_files(first, second, "", json_only).empty()); // d.json did not change
    const std::string third = fleet.commit({{"dir/deep/d.json", "{\"d\": 2}\n"}, {"a.yaml", "a: 3\n"}}, "third");
    seen.clear();
    check_changes(repository.changed_files(second, third, "", json_only),
                  {{"dir/deep/d.json", fleet.blob(second, "dir/deep/d.json"), fleet.blob(third, "dir/deep/d.json")}});
    CHECK(std::find(seen.begin(), seen.end(), "d.json") != seen.end());
    for (const std::string& name : seen)
      CHECK(name.find('/') == std::string::npos);
    const auto nothing = [](std::string_view) { return false; };
    CHECK(repository.changed_files(first, third, "", nothing).empty());
  }
  SECTION("commits that are not there are errors") {
    CHECK_THROWS_AS(repository.changed_files(first, std::string(40, '0'), "", is_manifest_name), UserError);
    CHECK_THROWS_AS(repository.changed_files("not-a-commit", second, "", is_manifest_name), UserError);
  }
}

TEST_CASE("changed_files: sorted by path, byte order, across folders", "[source][git][edit]") {
  FleetRepo fleet;
  const std::vector<std::string> paths = {"Z.yaml",     "a-b.yaml", "a.yaml",      "a/z.yaml", "a/b/c.yaml",
                                          "a0.yaml",    "b.yaml",   "a.b/x.yml",   "\xc3\xa9.yaml", "\xc3\xbc/x.yaml"}; // é.yaml, ü/x.yaml
  std::map<std::string, std::string> files;
  for (const std::string& path : paths)
    files[path] = "path: " + path + "\n";
  files["keep.yaml"] = "kept: true\n";
  const std::string first = fleet.commit(files, "first");
  for (auto& [path, text] : files)
    if (path != "keep.yaml")
      text += "changed: true\n";
  const std::string second = fleet.commit(files, "second");
  GitRepository repository = fleet.open();

  const std::vector<TreeChange> changes = repository.changed_files(first, second, "", is_manifest_name);
  std::vector<std::string> expected = paths;
  std::sort(expected.begin(), expected.end());
  CHECK(paths_of(changes) == expected);
  CHECK(paths_of(changes) ==
        std::vector<std::string>{"Z.yaml", "a-b.yaml", "a.b/x.yml", "a.yaml", "a/b/c.yaml", "a/z.yaml", "a0.yaml", "b.yaml",
                                 "\xc3\xa9.yaml", "\xc3\xbc/x.yaml"}); // bytes above 0x7f last, as unsigned
  check_changes(changes, listed_difference(repository, first, second, ""));
  // The same order as list_files lists the files (tree order), which find_edit relies on.
  std::vector<std::string> listed;
  for (const TreeFile& file : repository.list_files(second, "", is_manifest_name))
    if (file.path != "keep.yaml")
      listed.push_back(file.path);
  CHECK(listed == expected);
}

TEST_CASE("changed_files: nested folders added, removed and changed deep down", "[source][git][edit]") {
  FleetRepo fleet;
  const std::string first = fleet.commit({{"top.yaml", "top: 1\n"},
                                          {"old/one.yaml", "one: 1\n"},
                                          {"old/two/three.yaml", "three: 1\n"},
                                          {"deep/a/b/c/d.yaml", "d: 1\n"},
                                          {"deep/a/b/c/same.yaml", "same: 1\n"},
                                          {"deep/a/other.yaml", "other: 1\n"}},
                                         "first");
  fs::remove_all(fleet.work / "old");
  const std::string second = fleet.commit({{"new/x/y/z.yaml", "z: 1\n"}, {"new/w.yml", "w: 1\n"}, {"deep/a/b/c/d.yaml", "d: 2\n"}}, "second");
  GitRepository repository = fleet.open();
  check_changes(repository.changed_files(first, second, "", is_manifest_name),
                {{"deep/a/b/c/d.yaml", fleet.blob(first, "deep/a/b/c/d.yaml"), fleet.blob(second, "deep/a/b/c/d.yaml")},
                 {"new/w.yml", "", fleet.blob(second, "new/w.yml")},
                 {"new/x/y/z.yaml", "", fleet.blob(second, "new/x/y/z.yaml")},
                 {"old/one.yaml", fleet.blob(first, "old/one.yaml"), ""},
                 {"old/two/three.yaml", fleet.blob(first, "old/two/three.yaml"), ""}});
  // A file replaced by a folder of the same name.
  fs::remove(fleet.work / "top.yaml");
  const std::string third = fleet.commit({{"top.yaml/inner.yaml", "inner: 1\n"}}, "file to folder");
  check_changes(repository.changed_files(second, third, "", is_manifest_name),
                {{"top.yaml", fleet.blob(second, "top.yaml"), ""}, {"top.yaml/inner.yaml", "", fleet.blob(third, "top.yaml/inner.yaml")}});
  check_changes(repository.changed_files(second, third, "", is_manifest_name), listed_difference(repository, second, third, ""));
}

TEST_CASE("changed_files: under a subdir, spelled as --path is, paths from the root", "[source][git][edit]") {
  FleetRepo fleet;
  const std::string first = fleet.commit({{"outside.yaml", "o: 1\n"},
                                          {"fleet/a.yaml", "a: 1\n"},
                                          {"fleet/clusters/east/b.yaml", "b: 1\n"},
                                          {"fleetwood/c.yaml", "c: 1\n"},
                                          {"other/fleet/d.yaml", "d: 1\n"}},
                                         "first");
  const std::string second = fleet.commit({{"outside.yaml", "o: 2\n"},
                                           {"fleet/a.yaml", "a: 2\n"},
                                           {"fleet/clusters/east/b.yaml", "b: 2\n"},
                                           {"fleet/clusters/west/new.yaml", "n: 1\n"},
                                           {"fleetwood/c.yaml", "c: 2\n"},
                                           {"other/fleet/d.yaml", "d: 2\n"}},
                                          "second");
  GitRepository repository = fleet.open();
  const std::vector<TreeChange> expected = {
      {"fleet/a.yaml", fleet.blob(first, "fleet/a.yaml"), fleet.blob(second, "fleet/a.yaml")},
      {"fleet/clusters/east/b.yaml", fleet.blob(first, "fleet/clusters/east/b.yaml"), fleet.blob(second, "fleet/clusters/east/b.yaml")},
      {"fleet/clusters/west/new.yaml", "", fleet.blob(second, "fleet/clusters/west/new.yaml")}};
  for (const std::string subdir : {"fleet", "./fleet/", "fleet/", "./fleet"}) {
    INFO("subdir " << subdir);
    check_changes(repository.changed_files(first, second, subdir, is_manifest_name), expected);
  }
  check_changes(repository.changed_files(first, second, "fleet/clusters", is_manifest_name),
                {expected[1], expected[2]});
  for (const std::string root : {"", ".", "./"}) {
    INFO("subdir '" << root << "'");
    CHECK(repository.changed_files(first, second, root, is_manifest_name).size() == 6);
  }
  check_changes(repository.changed_files(first, second, "fleet", is_manifest_name), listed_difference(repository, first, second, "fleet"));

  SECTION("changes only outside the subdir: nothing") {
    const std::string third = fleet.commit({{"outside.yaml", "o: 3\n"}, {"fleetwood/c.yaml", "c: 3\n"}}, "third");
    CHECK(repository.changed_files(second, third, "fleet", is_manifest_name).empty());
    CHECK(repository.changed_files(second, third, "", is_manifest_name).size() == 2);
  }
  SECTION("a subdir missing on either side, or a file, is an error") {
    fs::remove_all(fleet.work / "fleet");
    const std::string gone = fleet.commit({{"fleet", "now a file\n"}}, "gone");
    CHECK_THROWS_AS(repository.changed_files(first, second, "nowhere", is_manifest_name), UserError);
    CHECK_THROWS_AS(repository.changed_files(second, gone, "fleet", is_manifest_name), UserError);
    CHECK_THROWS_AS(repository.changed_files(gone, second, "fleet", is_manifest_name), UserError);
    CHECK_THROWS_AS(repository.changed_files(first, second, "outside.yaml", is_manifest_name), UserError);
  }
}

TEST_CASE("changed_files: only regular files count; a file turned into a symlink is deleted", "[source][git][edit]") {
  FleetRepo fleet;
  const std::string first = fleet.commit({{"a.yaml", "a: 1\n"}, {"b.yaml", "b: 1\n"}, {"c.yaml", "c: 1\n"}}, "first");
  GitRepository repository = fleet.open();

  SECTION("regular file → symlink → regular file") {
    fleet.symlink("a.yaml", "b.yaml");
    const std::string linked = commit_all(fleet.work, "a is a link");
    REQUIRE(git(fleet.work, {"ls-tree", linked, "a.yaml"}).substr(0, 6) == "120000");
    check_changes(repository.changed_files(first, linked, "", is_manifest_name), {{"a.yaml", fleet.blob(first, "a.yaml"), ""}});
    check_changes(repository.changed_files(first, linked, "", is_manifest_name), listed_difference(repository, first, linked, ""));
    // A link pointing elsewhere changes nothing list_files sees.
    fleet.symlink("a.yaml", "c.yaml");
    const std::string relinked = commit_all(fleet.work, "a links to c");
    CHECK(repository.changed_files(linked, relinked, "", is_manifest_name).empty());
    fs::remove(fleet.work / "a.yaml");
    const std::string regular = fleet.commit({{"a.yaml", "a: 2\n"}}, "a is a file again");
    check_changes(repository.changed_files(relinked, regular, "", is_manifest_name), {{"a.yaml", "", fleet.blob(regular, "a.yaml")}});
  }
  SECTION("a new symlink with a manifest's name is no manifest") {
    fleet.symlink("link.yaml", "a.yaml");
    fleet.symlink("dir/link.yml", "../b.yaml");
    const std::string linked = commit_all(fleet.work, "links");
    CHECK(repository.changed_files(first, linked, "", is_manifest_name).empty());
    CHECK(repository.changed_files(linked, first, "", is_manifest_name).empty());
  }
  SECTION("a submodule (gitlink) with a manifest's name is no manifest") {
    git(fleet.work, {"update-index", "--add", "--cacheinfo", "160000," + first + ",vendor/sub.yaml"});
    git(fleet.work, {"commit", "-q", "-m", "submodule"});
    const std::string with_submodule = git(fleet.work, {"rev-parse", "HEAD"});
    REQUIRE(git(fleet.work, {"ls-tree", "-r", with_submodule, "vendor"}).substr(0, 6) == "160000");
    CHECK(repository.changed_files(first, with_submodule, "", is_manifest_name).empty());
    // Another commit of the submodule.
    git(fleet.work, {"update-index", "--cacheinfo", "160000," + with_submodule + ",vendor/sub.yaml"});
    git(fleet.work, {"commit", "-q", "-m", "submodule moved"});
    const std::string moved = git(fleet.work, {"rev-parse", "HEAD"});
    CHECK(repository.changed_files(with_submodule, moved, "", is_manifest_name).empty());
    CHECK(repository.changed_files(moved, first, "", is_manifest_name).empty());
  }
  SECTION("the executable bit alone changes nothing; with the content it is a modification") {
    fs::permissions(fleet.work / "b.yaml", fs::perms::owner_exec, fs::perm_options::add);
    const std::string executable = commit_all(fleet.work, "chmod +x");
    REQUIRE(git(fleet.work, {"ls-tree", executable, "b.yaml"}).substr(0, 6) == "100755");
    CHECK(repository.changed_files(first, executable, "", is_manifest_name).empty());
    const std::string edited = fleet.commit({{"b.yaml", "b: 2\n"}}, "edited");
    check_changes(repository.changed_files(first, edited, "", is_manifest_name),
                  {{"b.yaml", fleet.blob(first, "b.yaml"), fleet.blob(edited, "b.yaml")}});
  }
}

// ---------------------------------------------------------------------------------------------
// find_edit and apply_edit: accepted

TEST_CASE("find_edit: a value changed in a ConfigMap is applied in place, as a load gives it", "[manifest][git][edit]") {
  EditFixture f;
  const size_t at = index_of(f.set, "ConfigMap", "settings");
  const std::string second = f.fleet.commit({{"clusters/hz/config.yaml", replaced(config, "ratio: \"1\"", "ratio: \"2\"")}}, "ratio");
  const ManifestEdit edit = check_accepted(f.set, f.repository, second, f.cache);
  REQUIRE(edit.documents.size() == 1);
  CHECK(edit.documents[0].index == at);
  CHECK_FALSE(edit.documents[0].same);
  CHECK(edit.changed() == 1);
  CHECK(edit.parsed_files == 1);
  CHECK(f.set.parsed_files == 1);
  CHECK(f.set.commit.summary == "ratio");
  CHECK(std::string(string_member(*find_path(*f.set.manifests[at].object, "data"), "ratio")) == "2");
  CHECK(f.set.manifests[at].cluster == "hz");
  CHECK(f.set.manifests[at].cluster_from_path);
}

TEST_CASE("find_edit: a Deployment's replicas, next to a Service that stays the same", "[manifest][git][edit]") {
  EditFixture f;
  const size_t deployment = index_of(f.set, "Deployment", "web");
  const size_t service = index_of(f.set, "Service", "web");
  REQUIRE(service == deployment + 1);
  const std::string second = f.fleet.commit({{"apps/web.yaml", replaced(web, "replicas: 2", "replicas: 5")}}, "scale");
  const ManifestEdit edit = check_accepted(f.set, f.repository, second, f.cache);
  REQUIRE(edit.documents.size() == 2); // every document of the changed file
  CHECK(edit.documents[0].index == deployment);
  CHECK_FALSE(edit.documents[0].same);
  CHECK(edit.documents[1].index == service);
  CHECK(edit.documents[1].same);
  CHECK(edit.changed() == 1);
  CHECK(find_path(*f.set.manifests[deployment].object, "spec.replicas")->GetInt64() == 5);
  CHECK(f.set.manifests[deployment].cluster == "sh");

  SECTION("then the image, in a later commit: edits apply one after another") {
    const std::string third = f.fleet.commit({{"apps/web.yaml", replaced(replaced(web, "replicas: 2", "replicas: 5"), "nginx:1.25", "nginx:1.27")}},
                                             "image");
    CHECK(check_accepted(f.set, f.repository, third, f.cache).changed() == 1);
    SECTION("and back to the first commit") {
      const ManifestEdit back = check_accepted(f.set, f.repository, f.first, f.cache);
      CHECK(back.changed() == 1);
      CHECK(find_path(*f.set.manifests[deployment].object, "spec.replicas")->GetInt64() == 2);
    }
  }
  SECTION("keys in another order: the same object, another document as written") {
    const std::string swapped =
        replaced(web, "  name: web\n  namespace: shop\n  annotations:\n    meridian.io/cluster: sh\nspec:\n  replicas: 2\n",
                 "  namespace: shop\n  name: web\n  annotations:\n    meridian.io/cluster: sh\nspec:\n  replicas: 2\n");
    CHECK(check_accepted(f.set, f.repository, f.fleet.commit({{"apps/web.yaml", swapped}}, "swapped"), f.cache).changed() == 1);
  }
}

TEST_CASE("find_edit: several files at once, with a JSON file and a comment in Meridian's own kinds", "[manifest][git][edit]") {
  EditFixture f;
  const std::string second = f.fleet.commit({{"clusters/hz/config.yaml", replaced(config, "key: value", "key: other")},
                                             {"apps/web.yaml", replaced(web, "replicas: 2", "replicas: 3")},
                                             {"apps/api.json", replaced(service_json, "8080", "9090")},
                                             {"pools.yaml", "# two pools\n" + replaced(pools, "---\n", "---\n# Shanghai\n")},
                                             {"README.md", "still not a manifest\n"}},
                                            "several");
  const ManifestEdit edit = check_accepted(f.set, f.repository, second, f.cache);
  CHECK(paths_of(edit.changes) == std::vector<std::string>{"apps/api.json", "apps/web.yaml", "clusters/hz/config.yaml", "pools.yaml"});
  CHECK(edit.documents.size() == 6);
  CHECK(edit.changed() == 3);
  CHECK(edit.parsed_files == 4);
  for (const ManifestEdit::Document& document : edit.documents)
    CHECK(document.same == (document.manifest.kind == "NodePool" || (document.manifest.kind == "Service" && document.manifest.file == "apps/web.yaml")));
}

TEST_CASE("find_edit: comments and layout only: nothing changed, every document the same", "[manifest][git][edit]") {
  EditFixture f;
  const std::string restyled = replaced(replaced(config, "ratio: \"1\"", "ratio: '1'  # a string"), "  name: settings\n  namespace: default\n",
                                        "  {name: settings, namespace: default}\n");
  const std::string second = f.fleet.commit({{"fleet.yaml", "# the fleet\n\n" + fleet_yaml},
                                             {"clusters.yaml", replaced(cluster_yaml, "type: Managed", "type: Managed # for now")},
                                             {"pools.yaml", "\n\n" + pools + "# end\n"},
                                             {"clusters/hz/config.yaml", "---\n" + restyled}},
                                            "comments");
  const ManifestSet before = f.set;
  const ManifestEdit edit = check_accepted(f.set, f.repository, second, f.cache);
  CHECK(edit.changed() == 0);
  CHECK(edit.documents.size() == 5);
  for (const ManifestEdit::Document& document : edit.documents)
    CHECK(document.same);
  CHECK(named(f.set, "Fleet", "fleet").line == named(before, "Fleet", "fleet").line + 2);
  CHECK(named(f.set, "NodePool", "sh-pool").line == named(before, "NodePool", "sh-pool").line + 2);
  CHECK(same_documents(before, f.set));
}

TEST_CASE("find_edit: files without documents come and go", "[manifest][git][edit]") {
  EditFixture f;
  SECTION("an empty file added, then removed") {
    const std::string added = f.fleet.commit({{"empty.yaml", ""}}, "empty");
    const ManifestEdit edit = check_accepted(f.set, f.repository, added, f.cache);
    CHECK(edit.files == 8);
    CHECK(f.set.files == 8);
    REQUIRE(edit.changes.size() == 1);
    CHECK(edit.changes[0].old_blob_id.empty());
    CHECK(edit.documents.empty());
    const std::string removed = f.fleet.remove({"empty.yaml"}, "no empty");
    CHECK(check_accepted(f.set, f.repository, removed, f.cache).files == 7);
    CHECK(f.set.files == 7);
  }
  SECTION("a comment-only file emptied, renamed, removed; one with empty documents added") {
    check_accepted(f.set, f.repository, f.fleet.commit({{"notes.yaml", ""}}, "emptied"), f.cache);
    git(f.fleet.work, {"mv", "notes.yaml", "apps/notes.yml"});
    const ManifestEdit renamed = check_accepted(f.set, f.repository, commit_all(f.fleet.work, "renamed"), f.cache);
    CHECK(renamed.changes.size() == 2);
    CHECK(renamed.files == 7);
    check_accepted(f.set, f.repository, f.fleet.commit({{"docs.yaml", "---\n# later\n---\n"}}, "empty documents"), f.cache);
    CHECK(f.set.files == 8);
    CHECK(check_accepted(f.set, f.repository, f.fleet.remove({"apps/notes.yml", "docs.yaml"}, "removed"), f.cache).files == 6);
  }
  SECTION("a file without documents turned into a symlink") {
    f.fleet.symlink("notes.yaml", "fleet.yaml");
    CHECK(check_accepted(f.set, f.repository, commit_all(f.fleet.work, "link"), f.cache).files == 6);
  }
  SECTION("the executable bit, and the same commit: no change at all") {
    fs::permissions(f.fleet.work / "pools.yaml", fs::perms::owner_exec, fs::perm_options::add);
    const ManifestEdit edit = check_accepted(f.set, f.repository, commit_all(f.fleet.work, "chmod"), f.cache);
    CHECK(edit.changes.empty());
    CHECK(edit.documents.empty());
    const std::string same = f.set.commit.id;
    CHECK(check_accepted(f.set, f.repository, same, f.cache).changes.empty());
  }
}

TEST_CASE("find_edit: a set of --path fleet: changes inside count, from the root; changes outside do not", "[manifest][git][edit]") {
  FleetRepo fleet;
  const std::string first = fleet.commit({{"pools.yaml", pools},
                                          {"fleet/pools.yaml", pools},
                                          {"fleet/clusters/east/config.yaml", config},
                                          {"fleet/apps/web.yaml", web}},
                                         "layout");
  GitRepository repository = fleet.open();
  ManifestCache cache;
  ManifestSet set = load_manifests(repository, repository.resolve(first), "./fleet/", cache);
  REQUIRE(set.path == "fleet");
  REQUIRE(set.manifests.size() == 5);
  REQUIRE(named(set, "ConfigMap", "settings").cluster == "east");

  const std::string second = fleet.commit({{"fleet/clusters/east/config.yaml", replaced(config, "ratio: \"1\"", "ratio: \"3\"")},
                                           {"pools.yaml", pools + "---\n" + config}}, // outside: a document added
                                          "inside and outside");
  const ManifestEdit edit = check_accepted(set, repository, second, cache);
  CHECK(paths_of(edit.changes) == std::vector<std::string>{"fleet/clusters/east/config.yaml"});
  CHECK(edit.changed() == 1);
  CHECK(named(set, "ConfigMap", "settings").cluster == "east");
  CHECK(named(set, "ConfigMap", "settings").cluster_from_path);

  const std::string third = fleet.commit({{"pools.yaml", "broken: [1, 2\n"}}, "outside only");
  const ManifestEdit outside = check_accepted(set, repository, third, cache);
  CHECK(outside.changes.empty());
  CHECK(outside.documents.empty());

  // Inside, a document added is still refused.
  check_not_an_edit(set, repository, fleet.commit({{"fleet/pools.yaml", pools + "---\n" + config}}, "inside"), cache);

  SECTION("a commit without the folder: no edit (a load says what is wrong)") {
    fs::remove_all(fleet.work / "fleet");
    const std::string gone = commit_all(fleet.work, "gone");
    ManifestCache fresh_cache;
    CHECK_THROWS_AS(load_manifests(repository, repository.resolve(gone), "fleet", fresh_cache), UserError);
    check_refused(set, repository, gone, cache);
    CHECK(set.commit.id == third);
  }
}

TEST_CASE("find_edit: files found by path among names with bytes above 0x7f", "[manifest][git][edit]") {
  FleetRepo fleet;
  const std::string e_acute = "\xc3\xa9";
  const std::map<std::string, std::string> files = {{"a.yaml", config},
                                                    {e_acute + ".yaml", replaced(config, "name: settings", "name: accent")},
                                                    {"z.yaml", replaced(config, "name: settings", "name: zed")},
                                                    {"z/" + e_acute + "/deep.yaml", replaced(config, "name: settings", "name: deep")}};
  const std::string first = fleet.commit(files, "first");
  GitRepository repository = fleet.open();
  ManifestCache cache;
  ManifestSet set = load_manifests(repository, repository.resolve(first), "", cache);
  REQUIRE(set.manifests.size() == 4);
  REQUIRE(set.manifests.back().file == e_acute + ".yaml"); // tree order is byte order
  const std::string second = fleet.commit({{e_acute + ".yaml", replaced(replaced(config, "name: settings", "name: accent"), "key: value", "key: 2")},
                                           {"z/" + e_acute + "/deep.yaml", replaced(replaced(config, "name: settings", "name: deep"), "key: value", "key: 3")}},
                                          "edited");
  const ManifestEdit edit = check_accepted(set, repository, second, cache);
  CHECK(edit.changed() == 2);
  CHECK(paths_of(edit.changes) == std::vector<std::string>{"z/" + e_acute + "/deep.yaml", e_acute + ".yaml"});
}

// ---------------------------------------------------------------------------------------------
// find_edit: refused

TEST_CASE("find_edit refuses a commit that adds, removes or reorders documents in a file", "[manifest][git][edit]") {
  EditFixture f;
  SECTION("a document added") {
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"clusters/hz/config.yaml", config + "---\n" + replaced(config, "settings", "more")}}, "add"),
                      f.cache);
  }
  SECTION("a document removed") {
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"apps/web.yaml", web.substr(0, web.find("---"))}}, "remove"), f.cache);
  }
  SECTION("two documents swapped") {
    const size_t separator = web.find("---\n");
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"apps/web.yaml", web.substr(separator + 4) + "---\n" + web.substr(0, separator)}}, "swap"),
                      f.cache);
  }
  SECTION("a document in a file that had none") {
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"notes.yaml", "# nothing here yet\n" + replaced(config, "settings", "notes")}}, "fill"),
                      f.cache);
  }
}

TEST_CASE("find_edit refuses files with documents that appear, disappear or move", "[manifest][git][edit]") {
  EditFixture f;
  SECTION("a new file with a document") {
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"clusters/hz/extra.yaml", replaced(config, "settings", "extra")}}, "new"), f.cache);
  }
  SECTION("a deleted file with documents") {
    check_not_an_edit(f.set, f.repository, f.fleet.remove({"apps/api.json"}, "deleted"), f.cache);
  }
  SECTION("a renamed file, even with the same content") {
    git(f.fleet.work, {"mv", "apps/web.yaml", "apps/web.yml"});
    check_not_an_edit(f.set, f.repository, commit_all(f.fleet.work, "renamed"), f.cache);
  }
  SECTION("a file moved to another cluster's folder") {
    fs::create_directories(f.fleet.work / "clusters/sh");
    git(f.fleet.work, {"mv", "clusters/hz/config.yaml", "clusters/sh/config.yaml"});
    check_not_an_edit(f.set, f.repository, commit_all(f.fleet.work, "moved"), f.cache);
  }
  SECTION("a file with documents turned into a symlink") {
    f.fleet.symlink("apps/api.json", "../clusters.yaml");
    check_not_an_edit(f.set, f.repository, commit_all(f.fleet.work, "link"), f.cache);
  }
}

TEST_CASE("find_edit refuses a document whose identity changed", "[manifest][git][edit]") {
  EditFixture f;
  const std::string file = "clusters/hz/config.yaml";
  const std::map<std::string, std::string> edits = {
      {"kind", replaced(config, "kind: ConfigMap", "kind: Secret")},
      {"apiVersion", replaced(config, "apiVersion: v1", "apiVersion: v2")},
      {"name", replaced(config, "name: settings", "name: renamed")},
      {"namespace", replaced(config, "namespace: default", "namespace: other")},
      {"namespace removed", replaced(config, "  namespace: default\n", "")},
      {"cluster annotation added", replaced(config, "  namespace: default\n", "  namespace: default\n  annotations:\n    meridian.io/cluster: sh\n")},
  };
  for (const auto& [what, text] : edits) {
    DYNAMIC_SECTION(what) { check_not_an_edit(f.set, f.repository, f.fleet.commit({{file, text}}, what), f.cache); }
  }
  SECTION("cluster annotation changed") {
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"apps/web.yaml", replaced(web, "meridian.io/cluster: sh", "meridian.io/cluster: bj")}}, "bj"),
                      f.cache);
  }
  SECTION("cluster annotation removed") {
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"apps/api.json", replaced(service_json, R"("meridian.io/cluster": "sh")", R"("team": "a")")}}, "x"),
                      f.cache);
  }
  SECTION("Deployment kind changed to StatefulSet") {
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"apps/web.yaml", replaced(web, "kind: Deployment", "kind: StatefulSet")}}, "sts"), f.cache);
  }
}

TEST_CASE("find_edit refuses a value changed in Meridian's own kinds, and accepts a comment there", "[manifest][git][edit]") {
  EditFixture f;
  const std::map<std::string, std::pair<std::string, std::string>> edits = {
      {"NodePool desiredSize", {"pools.yaml", replaced(pools, "desiredSize: 1", "desiredSize: 4")}},
      {"NodePool keys reordered", {"pools.yaml", replaced(pools, "  cluster: sh\n  region: cn-shanghai\n", "  region: cn-shanghai\n  cluster: sh\n")}},
      {"NodePool 2 as 2.0", {"pools.yaml", replaced(pools, "desiredSize: 2", "desiredSize: 2.0")}},
      {"Cluster region", {"clusters.yaml", replaced(cluster_yaml, "region: cn-hangzhou", "region: cn-beijing")}},
      {"Fleet prune", {"fleet.yaml", replaced(fleet_yaml, "prune: false", "prune: true")}},
      {"Fleet spec added", {"fleet.yaml", fleet_yaml + "  rollout:\n    maxParallelRegions: 1\n"}},
  };
  for (const auto& [what, edit] : edits) {
    DYNAMIC_SECTION(what) { check_not_an_edit(f.set, f.repository, f.fleet.commit({{edit.first, edit.second}}, what), f.cache); }
  }
  SECTION("with a ConfigMap value in the same commit, still refused") {
    check_not_an_edit(f.set, f.repository,
                      f.fleet.commit({{"clusters/hz/config.yaml", replaced(config, "key: value", "key: v2")},
                                      {"clusters.yaml", replaced(cluster_yaml, "type: Managed", "type: Registered")}},
                                     "both"),
                      f.cache);
  }
  SECTION("comments in each of them are accepted") {
    const ManifestEdit edit = check_accepted(
        f.set, f.repository,
        f.fleet.commit({{"pools.yaml", replaced(pools, "desiredSize: 1", "desiredSize: 1 # one is enough")},
                        {"clusters.yaml", "# registered later\n" + cluster_yaml},
                        {"fleet.yaml", replaced(fleet_yaml, "prune: false", "prune: no")}},
                       "comments"),
        f.cache);
    CHECK(edit.documents.size() == 4);
    CHECK(edit.changed() == 0);
  }
}

TEST_CASE("find_edit refuses a file that does not parse", "[manifest][git][edit]") {
  EditFixture f;
  SECTION("a changed file") {
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"apps/web.yaml", web + "---\nbroken: [1, 2\n"}}, "broken"), f.cache);
  }
  SECTION("a file without documents") {
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"notes.yaml", "key: [unclosed\n"}}, "broken"), f.cache);
  }
  SECTION("a new file") {
    check_not_an_edit(f.set, f.repository, f.fleet.commit({{"zz-broken.yaml", "a: [1, 2\n"}}, "broken"), f.cache);
  }
}

TEST_CASE("find_edit refuses a document that is not a mapping unless only its layout changed", "[manifest][git][edit]") {
  FleetRepo fleet;
  const std::string list = "- apiVersion: v1\n  kind: ConfigMap\n";
  const std::string first = fleet.commit({{"list.yaml", list}, {"config.yaml", config}}, "first");
  GitRepository repository = fleet.open();
  ManifestCache cache;
  ManifestSet set = load_manifests(repository, repository.resolve(first), "", cache);
  REQUIRE(set.findings.empty());
  REQUIRE(set.manifests.size() == 2);
  check_not_an_edit(set, repository, fleet.commit({{"list.yaml", list + "- another\n"}}, "longer list"), cache);
  check_not_an_edit(set, repository, fleet.commit({{"list.yaml", "scalar\n"}}, "scalar"), cache);
  check_not_an_edit(set, repository, fleet.commit({{"list.yaml", config}}, "mapping"), cache);
  CHECK(check_accepted(set, repository, fleet.commit({{"list.yaml", "# a list\n" + list}}, "comment"), cache).changed() == 0);
}

TEST_CASE("find_edit refuses sets it cannot stand for", "[manifest][git][edit]") {
  EditFixture f;
  const std::string comment = f.fleet.commit({{"apps/web.yaml", "# web\n" + web}}, "comment");
  const CommitInfo info = f.repository.resolve(comment);
  REQUIRE(find_edit(f.set, f.repository, info, f.cache).has_value()); // so that each case below is what refuses

  SECTION("a set with findings: a file that did not parse at load") {
    const std::string broken = f.fleet.commit({{"zz-broken.yaml", "a: [1, 2\n"}}, "broken");
    ManifestCache cache;
    ManifestSet set = load_manifests(f.repository, f.repository.resolve(broken), "", cache);
    REQUIRE(set.findings.size() == 1);
    check_refused(set, f.repository, f.fleet.commit({{"apps/web.yaml", "# web, again\n" + web}}, "comment again"), cache);
    check_refused(set, f.repository, broken, cache); // not even its own commit
    // Fixing the broken file is a load's job too.
    check_refused(set, f.repository, f.fleet.remove({"zz-broken.yaml"}, "fixed"), cache);
  }
  SECTION("released documents") {
    f.set.release_documents();
    CHECK_FALSE(find_edit(f.set, f.repository, info, f.cache).has_value());
    CHECK_FALSE(update_same_documents(f.set, f.repository, info, f.cache));
    CHECK(f.set.commit.id == f.first);
    for (const Manifest& manifest : f.set.manifests)
      CHECK(manifest.object == nullptr);
  }
  SECTION("another repository with the very same commits (a clone)") {
    const fs::path clone = f.fleet.dir / "clone";
    git(f.fleet.dir.path(), {"clone", "-q", f.fleet.work.string(), clone.string()});
    GitOptions options;
    options.cache_dir = (f.fleet.dir / "cache2").string();
    options.netrc_file = (f.fleet.dir / "no-netrc").string();
    GitRepository other = GitRepository::open(clone.string(), options);
    REQUIRE(other.resolve(comment).id == comment);
    check_refused(f.set, other, comment, f.cache);
  }
  SECTION("a set whose commit the repository does not have (gone after a force-push)") {
    ManifestSet orphan = f.set;
    orphan.commit.id = std::string(40, 'f');
    check_refused(orphan, f.repository, comment, f.cache);
  }
  SECTION("a set from texts, with no repository or commit") {
    ManifestSet texts = manifests_from_texts({{"apps/web.yaml", web}});
    texts.repository = f.repository.location();
    check_refused(texts, f.repository, comment, f.cache);
  }
}

namespace {

std::string raw_id(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

} // namespace

// A blob stored with the legacy mode 100664 (older git wrote it; git fsck accepts it) is a regular
// file to list_files (libgit2 normalises a tree entry's mode) and must be one to changed_files too,
// whose diff reports the mode as stored: an edit or a deletion of such a file is a change.
TEST_CASE("changed_files and find_edit on a file stored with the legacy mode 100664", "[source][git][edit]") {
  FleetRepo fleet;
  const std::string first = fleet.commit({{"config.yaml", config}, {"pools.yaml", pools}}, "regular modes");
  const std::string old_blob = fleet.blob(first, "config.yaml");
  const std::string pools_blob = fleet.blob(first, "pools.yaml");
  write_file(fleet.dir / "edited-config", replaced(config, "key: value", "key: edited"));
  const std::string new_blob = git(fleet.work, {"hash-object", "-w", (fleet.dir / "edited-config").string()});
  // Trees as older git wrote them: `git mktree` would normalize the mode, so the bytes are written as is.
  const auto tree = [&](const std::string& config_blob) {
    std::string bytes;
    if (!config_blob.empty())
      bytes += std::string("100664 config.yaml") + '\0' + raw_id(config_blob);
    bytes += std::string("100644 pools.yaml") + '\0' + raw_id(pools_blob);
    write_file(fleet.dir / "tree", bytes);
    return git(fleet.work, {"hash-object", "-t", "tree", "-w", "--literally", (fleet.dir / "tree").string()});
  };
  const std::string legacy = git(fleet.work, {"commit-tree", tree(old_blob), "-p", first, "-m", "legacy mode"});
  const std::string edited = git(fleet.work, {"commit-tree", tree(new_blob), "-p", legacy, "-m", "legacy mode, edited"});
  const std::string removed = git(fleet.work, {"commit-tree", tree(""), "-p", edited, "-m", "legacy file removed"});
  REQUIRE(git(fleet.work, {"cat-file", "-p", edited}).find("tree") == 0);
  GitRepository repository = fleet.open();

  // list_files (and so load_manifests) reads config.yaml as a regular file in every commit.
  const std::vector<TreeChange> listed = listed_difference(repository, legacy, edited, "");
  REQUIRE(tuples(listed) == tuples({{"config.yaml", old_blob, new_blob}}));
  REQUIRE(listed_difference(repository, first, legacy, "").empty());
  REQUIRE(tuples(listed_difference(repository, edited, removed, "")) == tuples({{"config.yaml", new_blob, ""}}));

  // Expected: what list_files says. Actual: nothing for the edit and the removal; a deletion for the
  // mode change alone.
  CHECK(tuples(repository.changed_files(legacy, edited, "", is_manifest_name)) == tuples(listed));
  CHECK(repository.changed_files(first, legacy, "", is_manifest_name).empty());
  CHECK(tuples(repository.changed_files(edited, removed, "", is_manifest_name)) == tuples({{"config.yaml", new_blob, ""}}));

  ManifestCache cache;
  ManifestSet set = load_manifests(repository, repository.resolve(legacy), "", cache);
  REQUIRE(set.findings.empty());
  REQUIRE(set.manifests.size() == 3);
  ManifestCache fresh_cache;
  const ManifestSet fresh = load_manifests(repository, repository.resolve(edited), "", fresh_cache);
  REQUIRE(is_edit(set, fresh)); // a value changed in a ConfigMap
  std::optional<ManifestEdit> edit = find_edit(set, repository, repository.resolve(edited), cache);
  REQUIRE(edit.has_value());
  // Expected: the ConfigMap's document edited. Actual: no change found, the old document kept.
  CHECK(edit->changed() == 1);
  apply_edit(set, std::move(*edit), cache);
  CHECK(set.commit.id == edited);
  CHECK(named(set, "ConfigMap", "settings").blob_id == new_blob);
  CHECK(same_documents(set, fresh));

  // Removing the file is not an edit (its document goes): expected nullopt, actually accepted.
  ManifestCache removed_cache;
  const ManifestSet edited_set = load_manifests(repository, repository.resolve(edited), "", removed_cache);
  ManifestCache gone_cache;
  REQUIRE_FALSE(is_edit(edited_set, load_manifests(repository, repository.resolve(removed), "", gone_cache)));
  CHECK(!find_edit(edited_set, repository, repository.resolve(removed), removed_cache).has_value());
}

// ---------------------------------------------------------------------------------------------
// apply_edit and update_same_documents

TEST_CASE("apply_edit: other manifests keep their object and blob; edited ones point into the new parse", "[manifest][git][edit]") {
  EditFixture f;
  const ManifestSet before = f.set;
  const Manifest* const settings = &named(f.set, "ConfigMap", "settings");
  const Json* const pool_object = named(f.set, "NodePool", "hz-pool").object;
  const std::string second = f.fleet.commit({{"clusters/hz/config.yaml", replaced(config, "key: value", "key: other")}}, "value");
  std::optional<ManifestEdit> edit = find_edit(f.set, f.repository, f.repository.resolve(second), f.cache);
  REQUIRE(edit.has_value());
  REQUIRE(edit->documents.size() == 1);
  const std::shared_ptr<const ParsedBlob> new_blob = edit->documents[0].manifest.blob;
  REQUIRE(new_blob != nullptr);
  CHECK(new_blob->blob_id == f.fleet.blob(second, "clusters/hz/config.yaml"));
  apply_edit(f.set, std::move(*edit), f.cache);

  CHECK(&named(f.set, "ConfigMap", "settings") == settings); // the same Manifest, updated
  CHECK(settings->blob == new_blob);
  CHECK(settings->object == &new_blob->yaml->documents[0].value);
  CHECK(settings->blob_id == new_blob->blob_id);
  CHECK(std::string(string_member(*find_path(*settings->object, "data"), "key")) == "other");
  CHECK(named(f.set, "NodePool", "hz-pool").object == pool_object);
  for (size_t i = 0; i < f.set.manifests.size(); ++i)
    if (&f.set.manifests[i] != settings) {
      CHECK(f.set.manifests[i].object == before.manifests[i].object);
      CHECK(f.set.manifests[i].blob == before.manifests[i].blob);
      CHECK(f.set.manifests[i].line == before.manifests[i].line);
    }
  // The copy taken before still holds the old document, alive.
  CHECK(std::string(string_member(*find_path(*named(before, "ConfigMap", "settings").object, "data"), "key")) == "value");
}

TEST_CASE("update_same_documents: true for a comment, false for a value", "[manifest][git][edit]") {
  EditFixture f;
  const ManifestSet before = f.set;
  const std::string value = f.fleet.commit({{"apps/web.yaml", replaced(web, "replicas: 2", "replicas: 9")}}, "value");
  CHECK_FALSE(update_same_documents(f.set, f.repository, f.repository.resolve(value), f.cache));
  CHECK(f.set.commit.id == f.first);
  CHECK(find_path(*named(f.set, "Deployment", "web").object, "spec.replicas")->GetInt64() == 2);
  // find_edit accepts what update_same_documents does not: the document's content changed.
  std::optional<ManifestEdit> edit = find_edit(f.set, f.repository, f.repository.resolve(value), f.cache);
  REQUIRE(edit.has_value());
  CHECK(edit->changed() == 1);

  // A comment on top of the first commit's content (the value back to 2).
  const std::string comment = f.fleet.commit({{"apps/web.yaml", "# scaled by hand\n" + web}}, "comment");
  const Manifest* const addresses = f.set.manifests.data();
  REQUIRE(update_same_documents(f.set, f.repository, f.repository.resolve(comment), f.cache));
  ManifestCache fresh_cache;
  check_same_load(f.set, load_manifests(f.repository, f.repository.resolve(comment), "", fresh_cache));
  CHECK(f.set.manifests.data() == addresses);
  CHECK(named(f.set, "Deployment", "web").line == named(before, "Deployment", "web").line + 1);
  CHECK(named(f.set, "Deployment", "web").object != named(before, "Deployment", "web").object);
}

// ---------------------------------------------------------------------------------------------
// A walk of random commits: find_edit accepts exactly the edits the contract describes, and each
// applied edit is a fresh load.

namespace {

struct Doc {
  std::string kind = "ConfigMap";
  std::string name;
  std::string namespace_;
  std::string cluster; // annotation
  int value = 0;
  int comments = 0;
};

struct FileModel {
  std::vector<Doc> docs;
  int comments = 0;
  bool broken = false;
};

std::string api_version_of(const std::string& kind) {
  if (kind == "NodePool" || kind == "Cluster")
    return "meridian.io/v1alpha1";
  if (kind == "Deployment")
    return "apps/v1";
  return "v1";
}

std::string render(const Doc& doc) {
  std::string out;
  for (int i = 0; i < doc.comments; ++i)
    out += "# note " + std::to_string(i) + "\n";
  out += "apiVersion: " + api_version_of(doc.kind) + "\nkind: " + doc.kind + "\nmetadata:\n  name: " + doc.name + "\n";
  const bool meridian = api_version_of(doc.kind).rfind("meridian.io/", 0) == 0;
  if (!meridian && !doc.namespace_.empty())
    out += "  namespace: " + doc.namespace_ + "\n";
  if (!meridian && !doc.cluster.empty())
    out += "  annotations:\n    meridian.io/cluster: " + doc.cluster + "\n";
  if (doc.kind == "ConfigMap" || doc.kind == "Secret")
    out += "data:\n  value: \"" + std::to_string(doc.value) + "\"\n";
  else if (doc.kind == "Deployment")
    out += "spec:\n  replicas: " + std::to_string(doc.value) + "\n";
  else if (doc.kind == "NodePool")
    out += "spec:\n  cluster: hz\n  desiredSize: " + std::to_string(doc.value) + "\n";
  else
    out += "spec:\n  region: r" + std::to_string(doc.value) + "\n";
  return out;
}

std::string render(const FileModel& file) {
  std::string out;
  for (int i = 0; i < file.comments; ++i)
    out += "# file note " + std::to_string(i) + "\n";
  for (size_t i = 0; i < file.docs.size(); ++i)
    out += (i == 0 ? "" : "---\n") + render(file.docs[i]);
  if (file.broken)
    out += "---\nbroken: [1, 2\n";
  return out;
}

} // namespace

TEST_CASE("find_edit over a walk of random commits agrees with the contract; applied edits are fresh loads", "[manifest][git][edit]") {
  const std::string root = GENERATE(as<std::string>{}, "", "fleet");
  INFO("--path '" << root << "'");
  const std::string prefix = root.empty() ? "" : root + "/";
  std::mt19937 random(20261202);
  const auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random); };
  const std::vector<std::string> kinds = {"ConfigMap", "Deployment", "Secret", "NodePool", "Cluster"};
  const std::vector<std::string> folders = {"", "apps/", "clusters/hz/", "clusters/sh/", "deep/a/b/"};

  std::map<std::string, FileModel> model;
  int serial = 0;
  const auto new_doc = [&] {
    Doc doc;
    doc.kind = kinds[pick(kinds.size())];
    doc.name = "object-" + std::to_string(serial++);
    doc.namespace_ = pick(2) == 0 ? "default" : "";
    doc.cluster = pick(3) == 0 ? "bj" : "";
    doc.value = static_cast<int>(pick(5));
    return doc;
  };
  const auto new_path = [&] {
    return folders[pick(folders.size())] + "file-" + std::to_string(serial++) + (pick(4) == 0 ? ".yml" : ".yaml");
  };
  for (int i = 0; i < 6; ++i) {
    FileModel file;
    for (size_t d = 0, n = 1 + pick(3); d < n; ++d)
      file.docs.push_back(new_doc());
    model[new_path()] = file;
  }
  model["notes.yaml"] = FileModel{{}, 1, false};

  FleetRepo fleet;
  const auto write = [&](const std::string& message) {
    for (const auto& [path, file] : model)
      write_file(fleet.work / (prefix + path), render(file));
    write_file(fleet.work / "outside.yaml", "step: " + message + "\n"); // never under --path fleet
    return commit_all(fleet.work, message);
  };
  const auto any_file = [&]() -> std::map<std::string, FileModel>::iterator {
    auto it = model.begin();
    std::advance(it, static_cast<long>(pick(model.size())));
    return it;
  };
  const auto any_doc = [&]() -> Doc* {
    std::vector<Doc*> docs;
    for (auto& [path, file] : model)
      for (Doc& doc : file.docs)
        docs.push_back(&doc);
    return docs.empty() ? nullptr : docs[pick(docs.size())];
  };

  std::string commit = write("start");
  GitRepository repository = fleet.open();
  ManifestCache cache;
  ManifestSet set = load_manifests(repository, repository.resolve(commit), root, cache);
  size_t accepted = 0, refused = 0, changed_documents = 0;

  for (int step = 0; step < 60; ++step) {
    const std::string message = "step " + std::to_string(step);
    std::string done;
    for (size_t n = 0, count = 1 + pick(2); n < count; ++n) {
      const size_t what = pick(20);
      Doc* doc = any_doc();
      if (what < 5 && doc != nullptr) {
        ++doc->value;
        done += "value; ";
      } else if (what < 9 && doc != nullptr) {
        ++doc->comments;
        done += "document comment; ";
      } else if (what < 11) {
        ++any_file()->second.comments;
        done += "file comment; ";
      } else if (what == 11) {
        any_file()->second.docs.push_back(new_doc());
        done += "document added; ";
      } else if (what == 12) {
        auto file = any_file();
        if (!file->second.docs.empty())
          file->second.docs.erase(file->second.docs.begin() + static_cast<long>(pick(file->second.docs.size())));
        done += "document removed; ";
      } else if (what == 13) {
        FileModel file;
        file.comments = 1;
        if (pick(2) == 0)
          file.docs.push_back(new_doc());
        model[new_path()] = file;
        done += "file added; ";
      } else if (what == 14 && model.size() > 2) {
        auto file = any_file();
        fs::remove(fleet.work / (prefix + file->first));
        model.erase(file);
        done += "file deleted; ";
      } else if (what == 15 && model.size() > 2) {
        auto file = any_file();
        FileModel moved = file->second;
        fs::remove(fleet.work / (prefix + file->first));
        model.erase(file);
        model[new_path()] = moved;
        done += "file renamed; ";
      } else if (what == 16 && doc != nullptr) {
        switch (pick(4)) {
        case 0: doc->name += "-x"; break;
        case 1: doc->namespace_ = doc->namespace_.empty() ? "other" : ""; break;
        case 2: doc->cluster = doc->cluster.empty() ? "sh" : ""; break;
        default: doc->kind = doc->kind == "ConfigMap" ? "Secret" : "ConfigMap"; break;
        }
        done += "identity; ";
      } else if (what == 17) {
        auto file = any_file();
        file->second.broken = !file->second.broken;
        done += "broken toggled; ";
      } else if (what == 18) {
        auto file = any_file();
        if (file->second.docs.size() > 1)
          std::swap(file->second.docs.front(), file->second.docs.back());
        done += "documents swapped; ";
      } else {
        done += "outside only; ";
      }
    }
    // Broken files do not stay long, so that most steps start from a set without findings.
    if (pick(2) == 0)
      for (auto& [path, file] : model)
        file.broken = false;
    commit = write(message);
    INFO(message << ": " << done);
    const CommitInfo info = repository.resolve(commit);
    ManifestCache fresh_cache;
    const ManifestSet fresh = load_manifests(repository, info, root, fresh_cache);
    const bool expected = is_edit(set, fresh);
    const Manifest* const addresses = set.manifests.data();
    std::optional<ManifestEdit> edit = find_edit(set, repository, info, cache);
    CHECK(edit.has_value() == expected);
    if (edit) {
      ++accepted;
      changed_documents += edit->changed();
      check_changes(edit->changes, listed_difference(repository, set.commit.id, commit, root));
      apply_edit(set, std::move(*edit), cache);
      check_same_load(set, fresh);
      CHECK(set.manifests.data() == addresses);
    } else {
      ++refused;
      set = load_manifests(repository, info, root, cache, &set);
      check_same_load(set, fresh);
    }
  }
  // The walk went through both branches, and accepted edits that change content.
  CHECK(accepted >= 10);
  CHECK(refused >= 10);
  CHECK(changed_documents >= 5);
}
