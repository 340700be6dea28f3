// kustomize's own test cases (api/krusty/*_test.go in kubernetes-sigs/kustomize), as data: each
// folder of cases/ holds the files of the test (tree/), the directory it builds (build), and what
// `kustomize build` printed (expected.yaml, compared byte for byte) or a part of the error it must
// fail with (error). kustomize's test harness keeps resources in the order they were listed (no
// legacy sort), so these builds do too. cases/README.md says where each case comes from.
#include "kustomize/kustomize.h"

#include "base/error.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace meridian;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

kustomize::MemoryTree load_tree(const fs::path& root) {
  kustomize::MemoryTree tree;
  for (const auto& entry : fs::recursive_directory_iterator(root))
    if (entry.is_regular_file())
      tree.add(fs::relative(entry.path(), root).generic_string(), read_text(entry.path()));
  return tree;
}

std::vector<fs::path> cases() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(fs::path(MERIDIAN_SOURCE_ROOT) / "tests/kustomize/cases"))
    if (entry.is_directory())
      out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_CASE("kustomize conformance: there are cases to run") { REQUIRE(cases().size() >= 20); }

TEST_CASE("kustomize conformance: each case builds as kustomize builds it") {
  for (const fs::path& directory : cases()) {
    DYNAMIC_SECTION(directory.filename().string()) {
      const kustomize::MemoryTree tree = load_tree(directory / "tree");
      const std::string target = trim(read_text(directory / "build"));
      kustomize::BuildOptions options;
      options.legacy_order = false;
      if (fs::exists(directory / "error")) {
        const std::string expected = trim(read_text(directory / "error"));
        try {
          kustomize::build(tree, target, options);
          FAIL("expected an error containing: " << expected);
        } catch (const Error& error) {
          INFO("error: " << error.what());
          CHECK(std::string(error.what()).find(expected) != std::string::npos);
        }
        continue;
      }
      const std::string expected = read_text(directory / "expected.yaml");
      std::string actual;
      try {
        const kustomize::Build build = kustomize::build(tree, target, options);
        std::vector<const Json*> documents;
        for (const YamlDocument& document : build.documents->documents)
          documents.push_back(&document.value);
        actual = kustomize::to_yaml_stream(documents);
      } catch (const Error& error) {
        FAIL("build failed: " << error.what());
      }
      if (actual != expected) // beside the build, for diff(1): Catch wraps long lines
        std::ofstream(directory.filename().string() + ".actual.yaml", std::ios::binary) << actual;
      INFO("expected:\n" << expected << "\nactual (also in " << directory.filename().string() << ".actual.yaml):\n" << actual);
      CHECK(actual == expected);
    }
  }
}
