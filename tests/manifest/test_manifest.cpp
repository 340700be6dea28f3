// What a commit that changes no document relies on: json_identical (sameness as written),
// same_documents (two ManifestSets hold the same documents, whatever their lines), and
// load_manifests with the previous set (unchanged files keep their Manifests, and the result is
// exactly that of a load without it), on real repositories committed with the git CLI.
#include "manifest/manifest.h"

#include "manifest_fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

using namespace meridian;
using namespace meridian::testing;
using namespace manifest_test;

namespace {

using Texts = std::vector<std::pair<std::string, std::string>>;

JsonDocument parsed_json(const std::string& text) {
  JsonDocument document;
  INFO(text);
  REQUIRE_FALSE(parse_json(text, document));
  return document;
}

//! The only document of `text` as YAML parses it.
const Json& yaml_document(const std::unique_ptr<YamlFile>& file) {
  INFO((file->error ? file->error->message : std::string()));
  REQUIRE_FALSE(file->error);
  REQUIRE(file->documents.size() == 1);
  return file->documents[0].value;
}



Texts base_texts() { return {{"clusters/hz/config.yaml", config}, {"pools.yaml", pools}}; }

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  INFO("replacing " << from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

Texts with(Texts texts, const std::string& file, const std::string& text) {
  for (auto& [path, old] : texts)
    if (path == file) {
      old = text;
      return texts;
    }
  texts.emplace_back(file, text);
  return texts;
}

const Manifest& named(const ManifestSet& set, const std::string& name) {
  for (const Manifest& manifest : set.manifests)
    if (manifest.name == name)
      return manifest;
  FAIL("no manifest named " << name);
  throw std::logic_error("unreachable");
}

} // namespace

TEST_CASE("json_identical: member order and number types count, unlike json_equal", "[manifest][json]") {
  SECTION("the same text is identical") {
    const JsonDocument a = parsed_json(R"({"a":1,"b":[true,null,"x",{"c":1.5}],"d":{}})");
    const JsonDocument b = parsed_json(R"({"a":1,"b":[true,null,"x",{"c":1.5}],"d":{}})");
    CHECK(json_identical(a, b));
    CHECK(json_identical(a, a));
  }
  SECTION("keys swapped: equal, not identical") {
    const JsonDocument a = parsed_json(R"({"a":1,"b":2})");
    const JsonDocument b = parsed_json(R"({"b":2,"a":1})");
    CHECK(json_equal(a, b));
    CHECK_FALSE(json_identical(a, b));
    CHECK_FALSE(json_identical(b, a));
    // Also deep inside an array.
    const JsonDocument c = parsed_json(R"([{"x":{"a":1,"b":2}}])");
    const JsonDocument d = parsed_json(R"([{"x":{"b":2,"a":1}}])");
    CHECK(json_equal(c, d));
    CHECK_FALSE(json_identical(c, d));
  }
  SECTION("1 and 1.0: equal, not identical") {
    const JsonDocument a = parsed_json(R"({"n":1})");
    const JsonDocument b = parsed_json(R"({"n":1.0})");
    CHECK(json_equal(a, b));
    CHECK_FALSE(json_identical(a, b));
    CHECK_FALSE(json_identical(b, a));
    CHECK(json_identical(b, parsed_json(R"({"n":1.0})")));
  }
  SECTION("values that differ are never identical") {
    const std::vector<std::string> texts = {R"({"n":1})",       R"({"n":2})",      R"({"n":"1"})", R"({"n":true})",
                                            R"({"n":false})",   R"({"n":null})",   R"({"n":[]})",  R"({"n":{}})",
                                            R"({"n":[1]})",     R"({"n":{"a":1}})", R"({"n":-1})", R"({"n":1.5})",
                                            R"({"n":"x"})",     R"({"n":"x\u0000y"})", R"({"m":1})", R"({"n":1,"m":1})",
                                            R"({"n":18446744073709551615})", R"({"n":-9223372036854775808})",
                                            R"({"n":-0.0})",    R"({"n":0.0})",    R"({"n":0})"};
    for (size_t i = 0; i < texts.size(); ++i)
      for (size_t j = 0; j < texts.size(); ++j) {
        INFO(texts[i] << " vs " << texts[j]);
        CHECK(json_identical(parsed_json(texts[i]), parsed_json(texts[j])) == (i == j));
      }
  }
  SECTION("an array's order counts") {
    CHECK_FALSE(json_identical(parsed_json("[1,2]"), parsed_json("[2,1]")));
    CHECK_FALSE(json_identical(parsed_json("[1,2]"), parsed_json("[1,2,3]")));
    CHECK_FALSE(json_identical(parsed_json("[1,2,3]"), parsed_json("[1,2]")));
  }
  SECTION("the same integer is identical whichever way it was stored") {
    // The YAML builder stores integers with SetInt64 (SetUint64 above INT64_MAX); rapidjson's own
    // parser and constructors pick int, unsigned, int64 or uint64 by size.
    const auto yaml = parse_yaml("n: 5\nbig: 18446744073709551615\nneg: -7\nhex: 0x1F\n");
    const Json& document = yaml_document(yaml);
    const JsonDocument json = parsed_json(R"({"n":5,"big":18446744073709551615,"neg":-7,"hex":31})");
    CHECK(json_identical(document, json));
    CHECK(json_identical(Json(5), Json(static_cast<int64_t>(5))));
    CHECK(json_identical(Json(5u), Json(static_cast<uint64_t>(5))));
    CHECK(json_identical(Json(5), Json(5u)));
    CHECK(json_identical(Json(-7), Json(static_cast<int64_t>(-7))));
    CHECK_FALSE(json_identical(Json(5), Json(5.0)));
    CHECK_FALSE(json_identical(Json(5), Json(6u)));
    CHECK_FALSE(json_identical(Json(static_cast<uint64_t>(1) << 63), Json(9223372036854775808.0)));
    CHECK(json_equal(Json(static_cast<uint64_t>(1) << 63), Json(9223372036854775808.0)));
  }
  SECTION("YAML spellings of the same value are identical; of 1 and 1.0 they are not") {
    const auto file = parse_yaml("a: 1.0\nb: true\nc: 31\n");
    const Json& plain = yaml_document(file);
    CHECK(json_identical(plain, yaml_document(parse_yaml("a: 1.00\nb: yes\nc: 0x1F\n"))));
    CHECK_FALSE(json_identical(plain, yaml_document(parse_yaml("a: 1\nb: true\nc: 31\n"))));
    CHECK(json_equal(plain, yaml_document(parse_yaml("a: 1\nb: true\nc: 31\n"))));
    CHECK_FALSE(json_identical(plain, yaml_document(parse_yaml("a: 1.0\nb: \"true\"\nc: 31\n"))));
  }
}

TEST_CASE("same_documents: comments, blank lines and empty files do not count; lines may differ", "[manifest]") {
  const ManifestSet before = manifests_from_texts(base_texts());
  REQUIRE(before.manifests.size() == 3);
  REQUIRE(before.findings.empty());
  CHECK(same_documents(before, before));
  CHECK(same_documents(before, manifests_from_texts(base_texts())));

  SECTION("a comment and blank lines move every document of a file") {
    const ManifestSet after =
        manifests_from_texts(with(base_texts(), "pools.yaml", "# one pool per region\n\n" + replaced(pools, "---\n", "\n---\n# Shanghai\n")));
    REQUIRE(after.findings.empty());
    CHECK(named(after, "hz-pool").line == named(before, "hz-pool").line + 2);
    CHECK(named(after, "sh-pool").line == named(before, "sh-pool").line + 4);
    CHECK(same_documents(before, after));
    CHECK(same_documents(after, before));
  }
  SECTION("a trailing comment, another quoting style, a flow style and an empty document") {
    const std::string restyled = "---\n---\n" + replaced(replaced(config, "ratio: \"1\"", "ratio: '1'  # a string"),
                                                         "  name: settings\n  namespace: default\n",
                                                         "  {name: settings, namespace: default}\n");
    const ManifestSet after = manifests_from_texts(with(base_texts(), "clusters/hz/config.yaml", restyled));
    REQUIRE(after.findings.empty());
    CHECK(same_documents(before, after));
  }
  SECTION("an added file with no document, or only comments") {
    Texts texts = base_texts();
    texts.emplace_back("empty.yaml", "");
    texts.emplace_back("notes.yaml", "# to do: more pools\n---\n# nothing yet\n");
    const ManifestSet after = manifests_from_texts(texts);
    REQUIRE(after.findings.empty());
    REQUIRE(after.files == 4);
    CHECK(same_documents(before, after));
  }
  SECTION("a copy of a set shares its documents") {
    const ManifestSet copy = before;
    REQUIRE(copy.manifests[0].object == before.manifests[0].object);
    CHECK(same_documents(before, copy));
  }
}

TEST_CASE("same_documents: any change to what a document says, or where it is, counts", "[manifest]") {
  const ManifestSet before = manifests_from_texts(base_texts());
  const auto differs = [&](const Texts& texts) {
    const ManifestSet after = manifests_from_texts(texts);
    return !same_documents(before, after) && !same_documents(after, before);
  };
  CHECK(differs(with(base_texts(), "pools.yaml", replaced(pools, "desiredSize: 2", "desiredSize: 3"))));
  CHECK(differs(with(base_texts(), "pools.yaml", replaced(pools, "desiredSize: 2", "desiredSize: 2.0"))));
  CHECK(differs(with(base_texts(), "pools.yaml", replaced(pools, "desiredSize: 2", "desiredSize: \"2\""))));
  CHECK(differs(with(base_texts(), "clusters/hz/config.yaml", replaced(config, "ratio: \"1\"", "ratio: 1"))));
  // Keys swapped: json_equal, but not the same document as written.
  CHECK(differs(with(base_texts(), "clusters/hz/config.yaml",
                     replaced(config, "  ratio: \"1\"\n  key: value\n", "  key: value\n  ratio: \"1\"\n"))));
  CHECK(differs(with(base_texts(), "clusters/hz/config.yaml", replaced(config, "kind: ConfigMap\n", "kind: ConfigMap\nimmutable: true\n"))));
  // A document added, removed, or the documents of a file in another order.
  CHECK(differs(with(base_texts(), "pools.yaml", pools + "---\n" + replaced(pools.substr(0, pools.find("---")), "hz-pool", "bj-pool"))));
  CHECK(differs(with(base_texts(), "pools.yaml", pools.substr(0, pools.find("---")))));
  const size_t separator = pools.find("---\n");
  CHECK(differs(with(base_texts(), "pools.yaml", pools.substr(separator + 4) + "---\n" + pools.substr(0, separator))));
  // The same content under another name (a rename: another file, maybe another target cluster).
  CHECK(differs({{"clusters/sh/config.yaml", config}, {"pools.yaml", pools}}));
  CHECK(differs({{"clusters/hz/config.yaml", config}, {"pools.yml", pools}}));
  // A file that does not parse, even one that adds no document.
  Texts broken = base_texts();
  broken.emplace_back("zz-broken.yaml", "a: [1, 2\n");
  REQUIRE_FALSE(manifests_from_texts(broken).findings.empty());
  CHECK(differs(broken));
  const ManifestSet broken_set = manifests_from_texts(broken);
  CHECK_FALSE(same_documents(broken_set, broken_set)); // a set with parse errors is never the same as anything

  SECTION("another repository or path") {
    ManifestSet other = manifests_from_texts(base_texts());
    REQUIRE(same_documents(before, other));
    other.repository = "https://git.example.com/other.git";
    CHECK_FALSE(same_documents(before, other));
    other.repository = before.repository;
    other.path = "fleet";
    CHECK_FALSE(same_documents(before, other));
  }
  SECTION("released documents are never the same, not even as themselves") {
    ManifestSet released = manifests_from_texts(base_texts());
    released.release_documents();
    CHECK_FALSE(same_documents(before, released));
    CHECK_FALSE(same_documents(released, before));
    CHECK_FALSE(same_documents(released, released));
  }
  SECTION("empty sets") {
    const ManifestSet none = manifests_from_texts({});
    CHECK(same_documents(none, manifests_from_texts({{"empty.yaml", "# nothing\n"}})));
    CHECK_FALSE(same_documents(none, before));
  }
}

namespace {



//! The manifests of `set` by file.
std::set<std::string> files_of(const ManifestSet& set) {
  std::set<std::string> out;
  for (const Manifest& manifest : set.manifests)
    out.insert(manifest.file);
  return out;
}

//! The objects (parsed documents) of `set` in file `file`.
std::vector<const Json*> objects_of(const ManifestSet& set, const std::string& file) {
  std::vector<const Json*> out;
  for (const Manifest& manifest : set.manifests)
    if (manifest.file == file)
      out.push_back(manifest.object);
  return out;
}

} // namespace

TEST_CASE("load_manifests with the previous set: unchanged files keep their manifests, the result is a fresh load's",
          "[manifest][git]") {
  FleetRepo fleet;
  const std::string first = fleet.commit({{"fleet.yaml", "apiVersion: meridian.io/v1alpha1\nkind: Fleet\nmetadata:\n  name: fleet\n"},
                                          {"pools.yaml", pools},
                                          {"clusters/hz/config.yaml", config},
                                          {"clusters/hz/more.yml", replaced(config, "name: settings", "name: more")},
                                          {"README.md", "not a manifest\n"}},
                                         "first");
  GitRepository repository = fleet.open();
  ManifestCache first_cache;
  const ManifestSet before = load_manifests(repository, repository.resolve(first), "", first_cache);
  REQUIRE(before.files == 4);
  REQUIRE(before.manifests.size() == 5);
  REQUIRE(before.findings.empty());
  REQUIRE(named(before, "settings").cluster == "hz");

  SECTION("one file changed") {
    const std::string second = fleet.commit({{"pools.yaml", replaced(pools, "desiredSize: 2", "desiredSize: 4")}}, "bigger pool");
    ManifestCache cache; // empty: what is not taken from `before` has to be parsed
    const ManifestSet loaded = load_manifests(repository, repository.resolve(second), "", cache, &before);
    ManifestCache fresh_cache;
    const ManifestSet fresh = load_manifests(repository, repository.resolve(second), "", fresh_cache);
    CHECK(loaded.parsed_files == 1);
    CHECK(fresh.parsed_files == 4);
    check_same_load(loaded, fresh);
    for (size_t i = 0; i < loaded.manifests.size(); ++i) {
      const Manifest& manifest = loaded.manifests[i];
      INFO(manifest.file << " " << manifest.display_name());
      const Manifest& old = before.manifests[i]; // no document moved
      REQUIRE(old.file == manifest.file);
      const bool changed = manifest.file == "pools.yaml";
      CHECK((manifest.object == old.object) == !changed);
      CHECK((manifest.blob == old.blob) == !changed);
      CHECK((manifest.blob_id == old.blob_id) == !changed);
    }
    CHECK_FALSE(same_documents(before, loaded));
    CHECK(find_path(*named(loaded, "hz-pool").object, "spec.desiredSize")->GetInt64() == 4);
  }
  SECTION("a comment-only change: new lines, the same documents") {
    const std::string second = fleet.commit({{"pools.yaml", "# pools\n\n" + pools}}, "comment");
    ManifestCache cache;
    const ManifestSet loaded = load_manifests(repository, repository.resolve(second), "", cache, &before);
    ManifestCache fresh_cache;
    const ManifestSet fresh = load_manifests(repository, repository.resolve(second), "", fresh_cache);
    CHECK(loaded.parsed_files == 1);
    check_same_load(loaded, fresh);
    CHECK(named(loaded, "hz-pool").line == named(before, "hz-pool").line + 2);
    CHECK(named(loaded, "hz-pool").object != named(before, "hz-pool").object);
    CHECK(named(loaded, "settings").object == named(before, "settings").object);
    CHECK(same_documents(before, loaded));
  }
  SECTION("files added, removed, renamed and broken around unchanged ones") {
    fs::remove(fleet.work / "clusters/hz/more.yml");
    fs::rename(fleet.work / "pools.yaml", fleet.work / "clusters/pools.yaml"); // the same blob under another path
    const std::string second = fleet.commit({{"a-first.yaml", replaced(config, "name: settings", "name: first")},
                                             {"clusters/sh/config.yaml", config}, // the same blob as clusters/hz/config.yaml
                                             {"empty.yaml", "# nothing yet\n"},
                                             {"zz-broken.yaml", "a: [1, 2\n"}},
                                            "reshuffle");
    ManifestCache cache;
    const ManifestSet loaded = load_manifests(repository, repository.resolve(second), "", cache, &before);
    ManifestCache fresh_cache;
    const ManifestSet fresh = load_manifests(repository, repository.resolve(second), "", fresh_cache);
    check_same_load(loaded, fresh);
    CHECK(loaded.findings.size() == 1);
    CHECK(files_of(loaded) == std::set<std::string>{"a-first.yaml", "clusters/hz/config.yaml", "clusters/pools.yaml",
                                                   "clusters/sh/config.yaml", "fleet.yaml"});
    // Unchanged paths keep their parse; a renamed or copied blob is another file, read as such.
    CHECK(objects_of(loaded, "fleet.yaml") == objects_of(before, "fleet.yaml"));
    CHECK(objects_of(loaded, "clusters/hz/config.yaml") == objects_of(before, "clusters/hz/config.yaml"));
    CHECK(objects_of(loaded, "clusters/pools.yaml") != objects_of(before, "pools.yaml"));
    CHECK(named(loaded, "settings").cluster == "hz");
    const auto sh = std::find_if(loaded.manifests.begin(), loaded.manifests.end(),
                                 [](const Manifest& manifest) { return manifest.file == "clusters/sh/config.yaml"; });
    REQUIRE(sh != loaded.manifests.end());
    CHECK(sh->cluster == "sh");
    CHECK(sh->object != named(before, "settings").object);
    CHECK(loaded.parsed_files == 5); // all but fleet.yaml and clusters/hz/config.yaml
  }
  SECTION("a file that stops parsing, then parses again") {
    const std::string broken = fleet.commit({{"pools.yaml", pools + "---\na: [1, 2\n"}}, "broken");
    ManifestCache cache;
    const ManifestSet loaded = load_manifests(repository, repository.resolve(broken), "", cache, &before);
    ManifestCache fresh_cache;
    check_same_load(loaded, load_manifests(repository, repository.resolve(broken), "", fresh_cache));
    CHECK(loaded.findings.size() == 1);
    CHECK_FALSE(same_documents(before, loaded));
    // Loaded again on top of the broken set: the file has no manifests there to take.
    const std::string fixed = fleet.commit({{"pools.yaml", pools}}, "fixed");
    ManifestCache again_cache;
    const ManifestSet repaired = load_manifests(repository, repository.resolve(fixed), "", again_cache, &loaded);
    ManifestCache fixed_cache;
    check_same_load(repaired, load_manifests(repository, repository.resolve(fixed), "", fixed_cache));
    CHECK(repaired.parsed_files == 1);
    CHECK(same_documents(before, repaired));
  }
}

TEST_CASE("load_manifests ignores a previous set it cannot stand for", "[manifest][git]") {
  FleetRepo fleet;
  const std::string commit = fleet.commit({{"pools.yaml", pools},
                                           {"fleet/pools.yaml", pools},
                                           {"fleet/clusters/east/config.yaml", config},
                                           {"fleet/other.yaml", replaced(config, "name: settings", "name: other")}},
                                          "layout");
  GitRepository repository = fleet.open();
  const CommitInfo resolved = repository.resolve(commit);

  SECTION("a previous set of the whole tree, for --path fleet") {
    ManifestCache root_cache;
    const ManifestSet root = load_manifests(repository, resolved, "", root_cache);
    REQUIRE(named(root, "settings").cluster.empty()); // clusters/ is not at the root
    ManifestCache cache;
    const ManifestSet loaded = load_manifests(repository, resolved, "fleet", cache, &root);
    ManifestCache fresh_cache;
    const ManifestSet fresh = load_manifests(repository, resolved, "fleet", fresh_cache);
    check_same_load(loaded, fresh);
    CHECK(loaded.parsed_files == 3);
    CHECK(named(loaded, "settings").cluster == "east"); // clusters/<name>/ counts from --path
    CHECK(named(loaded, "settings").object != named(root, "settings").object);
    CHECK_FALSE(same_documents(root, loaded));
  }
  SECTION("a previous set of --path fleet, for the whole tree") {
    ManifestCache fleet_cache;
    const ManifestSet under = load_manifests(repository, resolved, "fleet/", fleet_cache);
    REQUIRE(under.path == "fleet");
    ManifestCache cache;
    const ManifestSet loaded = load_manifests(repository, resolved, "", cache, &under);
    ManifestCache fresh_cache;
    check_same_load(loaded, load_manifests(repository, resolved, "", fresh_cache));
    CHECK(loaded.parsed_files == 3); // pools.yaml and fleet/pools.yaml are one blob
    CHECK(named(loaded, "settings").cluster.empty());
  }
  SECTION("./fleet and . are fleet and the root, as list_files reads them") {
    ManifestCache fleet_cache;
    const ManifestSet under = load_manifests(repository, resolved, "fleet", fleet_cache);
    ManifestCache dotted_cache;
    const ManifestSet dotted = load_manifests(repository, resolved, "./fleet/", dotted_cache);
    CHECK(dotted.path == "fleet");
    check_same_load(dotted, under);
    CHECK(named(dotted, "settings").cluster == "east"); // clusters/<name>/ still counts from --path
    ManifestCache cache;
    CHECK(load_manifests(repository, resolved, "./fleet", cache, &under).parsed_files == 0);
    ManifestCache root_cache;
    ManifestCache dot_cache;
    const ManifestSet dot = load_manifests(repository, resolved, ".", dot_cache);
    CHECK(dot.path.empty());
    check_same_load(dot, load_manifests(repository, resolved, "", root_cache));
  }
  SECTION("the same path spelled with a trailing slash is the same path") {
    ManifestCache fleet_cache;
    const ManifestSet under = load_manifests(repository, resolved, "fleet", fleet_cache);
    ManifestCache cache;
    const ManifestSet loaded = load_manifests(repository, resolved, "fleet/", cache, &under);
    CHECK(loaded.parsed_files == 0);
    check_same_load(loaded, under);
  }
  SECTION("a previous set of another repository with the same files") {
    FleetRepo other;
    other.commit({{"pools.yaml", pools},
                  {"fleet/pools.yaml", pools},
                  {"fleet/clusters/east/config.yaml", config},
                  {"fleet/other.yaml", replaced(config, "name: settings", "name: other")}},
                 "layout");
    GitRepository other_repository = other.open();
    ManifestCache other_cache;
    const ManifestSet elsewhere = load_manifests(other_repository, other_repository.resolve(""), "", other_cache);
    ManifestCache cache;
    const ManifestSet loaded = load_manifests(repository, resolved, "", cache, &elsewhere);
    ManifestCache fresh_cache;
    check_same_load(loaded, load_manifests(repository, resolved, "", fresh_cache));
    CHECK(loaded.parsed_files == 3);
    for (const Manifest& manifest : loaded.manifests)
      for (const Manifest& old : elsewhere.manifests)
        CHECK(manifest.object != old.object);
  }
  SECTION("a previous set whose documents were released") {
    ManifestCache first_cache;
    ManifestSet released = load_manifests(repository, resolved, "", first_cache);
    released.release_documents();
    ManifestCache cache;
    const ManifestSet loaded = load_manifests(repository, resolved, "", cache, &released);
    ManifestCache fresh_cache;
    check_same_load(loaded, load_manifests(repository, resolved, "", fresh_cache));
    CHECK(loaded.parsed_files == 3);
  }
}

TEST_CASE("update_same_documents: a commit with the same documents becomes the set's in place, or nothing changes",
          "[manifest][git]") {
  FleetRepo fleet;
  const std::string first = fleet.commit({{"pools.yaml", pools},
                                          {"clusters/hz/config.yaml", config},
                                          {"clusters/hz/more.yml", replaced(config, "name: settings", "name: more")},
                                          {"README.md", "not a manifest\n"}},
                                         "first");
  GitRepository repository = fleet.open();
  ManifestCache cache;
  ManifestSet set = load_manifests(repository, repository.resolve(first), "", cache);
  REQUIRE(set.manifests.size() == 4);
  const ManifestSet before = set; // a copy: shares the parses, owns its own Manifests
  const Manifest* const addresses = set.manifests.data();

  // What a load of `commit` says, and whether update_same_documents made `set` exactly that.
  const auto check_updated = [&](const std::string& commit) {
    ManifestCache fresh_cache;
    const ManifestSet fresh = load_manifests(repository, repository.resolve(commit), "", fresh_cache);
    REQUIRE(same_documents(before, fresh));
    REQUIRE(update_same_documents(set, repository, repository.resolve(commit), cache));
    check_same_load(set, fresh);
    CHECK(set.manifests.data() == addresses); // in place: desired objects keep pointing at them
  };
  // update_same_documents refuses `commit`, as same_documents does after a load, and leaves the set alone.
  const auto check_refused = [&](const std::string& commit) {
    ManifestCache fresh_cache;
    CHECK_FALSE(same_documents(before, load_manifests(repository, repository.resolve(commit), "", fresh_cache)));
    CHECK_FALSE(update_same_documents(set, repository, repository.resolve(commit), cache));
    check_same_load(set, before);
    for (size_t i = 0; i < set.manifests.size(); ++i)
      CHECK(set.manifests[i].object == before.manifests[i].object);
  };

  SECTION("comments and blank lines in one file: its lines and parse change, nothing else") {
    const std::string second = fleet.commit({{"pools.yaml", "# the pools\n\n" + pools}}, "comment");
    check_updated(second);
    CHECK(set.parsed_files == 1);
    CHECK(named(set, "hz-pool").line == named(before, "hz-pool").line + 2);
    CHECK(named(set, "hz-pool").object != named(before, "hz-pool").object);
    CHECK(named(set, "settings").object == named(before, "settings").object);
  }
  SECTION("files without documents come and go; files outside the manifests change") {
    check_updated(fleet.commit({{"empty.yaml", "# nothing yet\n"}, {"README.md", "still not a manifest\n"}}, "notes"));
    check_updated(fleet.commit({{"empty.yaml", ""}}, "emptier"));
  }
  SECTION("another value or another key order is refused") {
    check_refused(fleet.commit({{"pools.yaml", replaced(pools, "desiredSize: 2", "desiredSize: 3")}}, "value"));
    check_refused(fleet.commit({{"pools.yaml", replaced(pools, "  cluster: hz\n  region: cn-hangzhou\n", "  region: cn-hangzhou\n  cluster: hz\n")}},
                               "key order"));
  }
  SECTION("a new file with a document is refused") {
    check_refused(fleet.commit({{"clusters/hz/extra.yaml", replaced(config, "name: settings", "name: extra")}}, "new"));
  }
  SECTION("a file that does not parse is refused") {
    check_refused(fleet.commit({{"clusters/hz/broken.yaml", "key: [unclosed\n"}}, "broken"));
  }
  SECTION("a renamed or removed file is refused (a renamed one's cluster may differ)") {
    fs::remove(fleet.work / "clusters/hz/more.yml");
    check_refused(fleet.commit({{"clusters/sh/more.yml", replaced(config, "name: settings", "name: more")}}, "moved"));
    fs::remove(fleet.work / "clusters/sh/more.yml");
    check_refused(fleet.commit({}, "removed"));
  }
  SECTION("a set with released documents is never updated") {
    set.release_documents();
    CHECK_FALSE(update_same_documents(set, repository, repository.resolve(fleet.commit({{"pools.yaml", "# c\n" + pools}}, "c")), cache));
    CHECK(set.commit.id == before.commit.id);
  }
}
