// Data-driven: every folder of examples/ committed into a temporary git repository, loaded and
// validated as `meridian validate` does. examples/broken/EXPECTED.md says which error each broken
// file must produce; every other folder must validate without errors.
#include "validate/validate.h"

#include "../source/git_fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

using namespace meridian;
using namespace meridian::testing;

namespace {

struct Validated {
  ManifestSet set;
  std::vector<Finding> findings;
};

Validated load_and_validate(const fs::path& repo, const std::string& ref = "", const std::string& path = "") {
  GitOptions options;
  options.cache_dir = (repo.parent_path() / "cache").string();
  GitRepository repository = GitRepository::open(repo.string(), options);
  const CommitInfo commit = repository.resolve(ref);
  ManifestCache cache;
  Validated out{load_manifests(repository, commit, path, cache), {}};
  out.findings = validate_manifests(out.set);
  return out;
}

std::string describe(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& finding : findings)
    out += finding.format() + "\n";
  return out;
}

// One row of EXPECTED.md: the files that together show one error, and a substring of it.
struct Expectation {
  std::vector<std::string> files;
  std::string substring;
};

std::vector<std::string> backticked(const std::string& cell) {
  std::vector<std::string> out;
  size_t start = cell.find('`');
  while (start != std::string::npos) {
    const size_t end = cell.find('`', start + 1);
    if (end == std::string::npos)
      break;
    // "`a.yaml + b.yaml`" lists two files in one code span
    std::string span = cell.substr(start + 1, end - start - 1);
    for (size_t plus = span.find(" + "); plus != std::string::npos; plus = span.find(" + ")) {
      out.push_back(span.substr(0, plus));
      span = span.substr(plus + 3);
    }
    out.push_back(span);
    start = cell.find('`', end + 1);
  }
  return out;
}

// Rows look like "| `a.yaml` (+ `b.yaml`) | `substring` | why |".
std::vector<Expectation> read_expectations(const fs::path& file) {
  std::vector<Expectation> rows;
  std::istringstream in(read_text(file));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| `", 0) != 0)
      continue;
    std::vector<std::string> cells;
    size_t start = 1;
    for (size_t bar = line.find('|', start); bar != std::string::npos; bar = line.find('|', start)) {
      cells.push_back(line.substr(start, bar - start));
      start = bar + 1;
    }
    REQUIRE(cells.size() >= 2);
    Expectation row{backticked(cells[0]), {}};
    const std::vector<std::string> substring = backticked(cells[1]);
    INFO(line);
    REQUIRE(substring.size() == 1);
    REQUIRE_FALSE(row.files.empty());
    row.substring = substring[0];
    rows.push_back(std::move(row));
  }
  return rows;
}

// The findings on any of `files` (paths relative to `prefix`) whose text after `file:` holds the substring.
std::vector<Finding> matching(const std::vector<Finding>& findings, const Expectation& row, const std::string& prefix = "") {
  std::vector<Finding> out;
  for (const Finding& finding : findings) {
    const bool on_file = std::any_of(row.files.begin(), row.files.end(), [&](const std::string& f) { return finding.file == prefix + f; });
    // The file name itself must not satisfy the match: look only past "file".
    if (on_file && contains(finding.format().substr(finding.file.size()), row.substring))
      out.push_back(finding);
  }
  return out;
}

void check_row(const std::vector<Finding>& findings, const Expectation& row, const std::string& prefix = "") {
  INFO("expected `" << row.substring << "` on " << prefix + row.files.front() << "\nfindings:\n" << describe(findings));
  const std::vector<Finding> found = matching(findings, row, prefix);
  CHECK_FALSE(found.empty());
  for (const Finding& finding : found) {
    CHECK(finding.severity == Severity::error);
    CHECK(finding.line > 0); // every broken file has a place to point at
    CHECK(one_line(finding.format()));
  }
  if (row.files.size() > 1) // an error across files names every place
    for (const std::string& file : row.files)
      CHECK(std::any_of(found.begin(), found.end(), [&](const Finding& f) { return contains(f.format(), prefix + file); }));
}

std::vector<fs::path> good_example_folders() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(source_path("examples"))) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name == "broken" || name == "fixtures" || contains(name, ".step"))
      continue;
    out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// examples/<name>.step2, .step3, ...: changes committed on top of examples/<name>, in order.
std::vector<fs::path> steps_of(const fs::path& folder) {
  std::vector<fs::path> out;
  for (int step = 2; fs::exists(folder.string() + ".step" + std::to_string(step)); ++step)
    out.emplace_back(folder.string() + ".step" + std::to_string(step));
  return out;
}

} // namespace

TEST_CASE("EXPECTED.md covers every file of examples/broken", "[examples]") {
  const fs::path broken = source_path("examples/broken");
  const std::vector<Expectation> rows = read_expectations(broken / "EXPECTED.md");
  CHECK(rows.size() >= 20);
  std::set<std::string> listed;
  for (const Expectation& row : rows)
    for (const std::string& file : row.files) {
      CHECK(fs::exists(broken / file));
      listed.insert(file);
    }
  for (const auto& entry : fs::directory_iterator(broken)) {
    const std::string name = entry.path().filename().string();
    if (name != "EXPECTED.md") {
      INFO(name << " has no row in EXPECTED.md");
      CHECK(listed.count(name) == 1);
    }
  }
}

TEST_CASE("examples/broken: every error of EXPECTED.md, all files at once", "[examples]") {
  TempDir dir;
  const fs::path broken = source_path("examples/broken");
  const std::string commit = commit_folder(broken, dir / "repo");
  const Validated result = load_and_validate(dir / "repo");
  CHECK(result.set.commit.id == commit);
  CHECK_FALSE(is_valid(result.findings));
  for (const Expectation& row : read_expectations(broken / "EXPECTED.md"))
    check_row(result.findings, row);
}

TEST_CASE("examples/broken: every error of EXPECTED.md, each file on its own", "[examples]") {
  // One commit, one folder per row; --path loads each folder alone.
  TempDir dir;
  const fs::path repo = dir / "repo";
  git_init(repo);
  const fs::path broken = source_path("examples/broken");
  const std::vector<Expectation> rows = read_expectations(broken / "EXPECTED.md");
  for (size_t i = 0; i < rows.size(); ++i) {
    const fs::path folder = repo / ("case-" + std::to_string(i));
    fs::create_directories(folder);
    for (const std::string& file : rows[i].files)
      fs::copy_file(broken / file, folder / file);
  }
  commit_all(repo, "one folder per broken case");

  GitOptions options;
  options.cache_dir = (dir / "cache").string();
  GitRepository repository = GitRepository::open(repo.string(), options);
  const CommitInfo commit = repository.resolve("");
  ManifestCache cache;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string folder = "case-" + std::to_string(i);
    INFO("--path " << folder << " (" << rows[i].files.front() << ")");
    const ManifestSet set = load_manifests(repository, commit, folder, cache);
    const std::vector<Finding> findings = validate_manifests(set);
    CHECK_FALSE(is_valid(findings));
    check_row(findings, rows[i], folder + "/");
  }
}

TEST_CASE("examples/broken: findings are sorted and the same on every run", "[examples]") {
  TempDir dir;
  commit_folder(source_path("examples/broken"), dir / "repo");
  const Validated first = load_and_validate(dir / "repo");
  const Validated second = load_and_validate(dir / "repo");
  CHECK(std::is_sorted(first.findings.begin(), first.findings.end()));
  CHECK(describe(first.findings) == describe(second.findings));
  // Validating the same ManifestSet again gives the same answer too.
  CHECK(describe(validate_manifests(first.set)) == describe(first.findings));
}

TEST_CASE("every good example validates without errors", "[examples]") {
  const std::vector<fs::path> folders = good_example_folders();
  REQUIRE(folders.size() >= 4);
  for (const fs::path& folder : folders) {
    SECTION(folder.filename().string()) {
      TempDir dir;
      const fs::path repo = dir / "repo";
      commit_folder(folder, repo, "base");
      Validated result = load_and_validate(repo);
      INFO(folder.filename().string() << ":\n" << describe(result.findings));
      CHECK(result.set.manifests.size() > 0);
      CHECK(result.set.findings.empty()); // every file parses
      CHECK(is_valid(result.findings));
      // A scenario's later steps are commits on top of it; each state validates.
      for (const fs::path& step : steps_of(folder)) {
        copy_folder(step, repo);
        const std::string commit = commit_all(repo, step.filename().string());
        result = load_and_validate(repo);
        INFO("after " << step.filename().string() << ":\n" << describe(result.findings));
        CHECK(result.set.commit.id == commit);
        CHECK(is_valid(result.findings));
      }
    }
  }
}

TEST_CASE("every example folder is a good example, a step of one, or broken", "[examples]") {
  for (const auto& entry : fs::directory_iterator(source_path("examples"))) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || !contains(name, ".step"))
      continue;
    INFO(name << " is a step of a folder that does not exist");
    CHECK(fs::is_directory(source_path("examples") / name.substr(0, name.find(".step"))));
  }
}
