// `meridian render`, the binary run as a user runs it: every adopted kustomize case committed into
// a git repository renders exactly what kustomize printed; the example fleet renders and its
// errors are one line each with file and line.
#include "../source/git_fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

using namespace meridian::testing;

namespace {

ProcessResult run_meridian(const std::vector<std::string>& args, const fs::path& cwd) {
  std::vector<std::string> argv = {MERIDIAN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, cwd, {"MERIDIAN_STATE_DIR"});
}


} // namespace

TEST_CASE("meridian render prints what kustomize build printed for every adopted case", "[kustomize]") {
  std::vector<fs::path> cases;
  for (const auto& entry : fs::directory_iterator(source_path("tests/kustomize/cases")))
    if (entry.is_directory() && fs::exists(entry.path() / "expected.yaml"))
      cases.push_back(entry.path());
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 20);
  for (const fs::path& directory : cases) {
    DYNAMIC_SECTION(directory.filename().string()) {
      TempDir dir;
      commit_folder(directory / "tree", dir / "repo");
      std::vector<std::string> args = {"render", "--repo", (dir / "repo").string()};
      const std::string target = trim(read_text(directory / "build"));
      if (!target.empty() && target != ".")
        args.insert(args.end(), {"--path", target});
      const ProcessResult result = run_meridian(args, dir.path());
      INFO("stderr: " << result.err);
      CHECK(result.status == 0);
      CHECK(result.out == read_text(directory / "expected.yaml"));
    }
  }
}

TEST_CASE("meridian render on the example fleet: overlays built, plain files as they are", "[kustomize]") {
  TempDir dir;
  commit_folder(source_path("examples/kustomize-overlays"), dir / "repo");
  const ProcessResult whole = run_meridian({"render", "--repo", (dir / "repo").string()}, dir.path());
  INFO(whole.err);
  REQUIRE(whole.status == 0);
  // Fleet, three Clusters, three NodePools, per overlay Namespace, Deployment, Service, ConfigMap, and
  // agents/: a Namespace and a DaemonSet placed by cluster selectors (render prints them once, as written).
  CHECK(std::count(whole.out.begin(), whole.out.end(), '\n') > 100);
  size_t documents = 1;
  for (size_t at = whole.out.find("\n---\n"); at != std::string::npos; at = whole.out.find("\n---\n", at + 1))
    ++documents;
  CHECK(documents == 17);
  const ProcessResult overlay = run_meridian({"render", "--repo", (dir / "repo").string(), "--path", "overlays/cn-hangzhou"}, dir.path());
  REQUIRE(overlay.status == 0);
  CHECK(overlay.out.find("image: nginx:1.27\n") != std::string::npos);
  CHECK(overlay.out.find("replicas: 4\n") != std::string::npos);
  CHECK(overlay.out.find("meridian.io/cluster: web-hangzhou\n") != std::string::npos);
  CHECK(overlay.out.find("meridian.io/cluster: web-shanghai") == std::string::npos);
}

TEST_CASE("meridian render: a kustomization that does not build is one line per problem, exit 1", "[kustomize]") {
  TempDir dir;
  const fs::path repo = dir / "repo";
  copy_folder(source_path("examples/kustomize-overlays"), repo);
  {
    std::ofstream out(repo / "overlays/cn-shanghai/kustomization.yaml", std::ios::app);
    out << "patches:\n- path: missing.yaml\n";
  }
  git_init(repo);
  commit_all(repo, "broken overlay");
  const ProcessResult result = run_meridian({"render", "--repo", repo.string()}, dir.path());
  CHECK(result.status == 1);
  CHECK(result.out.empty());
  CHECK(result.err == "overlays/cn-shanghai/kustomization.yaml:14: patches[0].path: \"missing.yaml\": no such file\n");
  const ProcessResult validate = run_meridian({"validate", "--repo", repo.string()}, dir.path());
  CHECK(validate.status == 1);
  CHECK(validate.out.find("overlays/cn-shanghai/kustomization.yaml:14: patches[0].path: \"missing.yaml\": no such file\n") != std::string::npos);
}
