#include "manifest/manifest.h"

#include "base/error.h"
#include "kustomize/kustomize.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace meridian {

std::pair<std::string, std::string> split_api_version(std::string_view api_version) {
  const size_t slash = api_version.find('/');
  if (slash == std::string_view::npos)
    return {"", std::string(api_version)};
  return {std::string(api_version.substr(0, slash)), std::string(api_version.substr(slash + 1))};
}

std::string Manifest::display_name() const {
  const std::string shown_kind = kind.empty() ? "<no kind>" : kind;
  const std::string shown_name = name.empty() ? "<no name>" : name;
  if (namespace_.empty())
    return shown_kind + "/" + shown_name;
  return shown_kind + "/" + namespace_ + "/" + shown_name;
}

int Manifest::line_of(std::string_view pointer) const {
  if (blob == nullptr)
    return line;
  const int found = locate_line(blob->text, document_index, pointer);
  return found > 0 ? found : line;
}

void ManifestSet::release_documents() {
  for (Manifest& manifest : manifests) {
    manifest.object = nullptr;
    manifest.blob.reset();
  }
}

std::shared_ptr<const ParsedBlob> ManifestCache::get(const GitRepository& repository, const TreeFile& file, bool& parsed_now) {
  parsed_now = false;
  if (const auto cached = blobs_.find(file.blob_id); cached != blobs_.end())
    return cached->second;
  auto blob = std::make_shared<ParsedBlob>();
  blob->blob_id = file.blob_id;
  blob->text = repository.read_blob(file.blob_id);
  blob->yaml = parse_yaml(blob->text, limits_);
  parsed_now = true;
  blobs_.emplace(file.blob_id, blob);
  return blob;
}

size_t ManifestCache::prefetch(const GitRepository& repository, const std::vector<TreeFile>& files) {
  std::vector<std::shared_ptr<ParsedBlob>> missing;
  std::unordered_set<std::string> seen;
  for (const TreeFile& file : files) {
    if (blobs_.count(file.blob_id) != 0 || !seen.insert(file.blob_id).second)
      continue;
    auto blob = std::make_shared<ParsedBlob>();
    blob->blob_id = file.blob_id;
    missing.push_back(std::move(blob));
  }
  // Parsing is most of loading a commit and each file parses on its own: spread it over the cores.
  // Reading stays on this thread (one libgit2 repository), and the helpers parse what it has read
  // while it reads on; then it parses too.
  constexpr size_t kFilesPerThread = 64;
  const size_t threads = std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), 8, missing.size() / kFilesPerThread + 1});
  std::mutex mutex;
  std::condition_variable more;
  size_t read = 0;     // missing[0, read) have their text
  bool failed = false; // reading threw: the helpers stop
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t index = next++; index < missing.size(); index = next++) {
      {
        std::unique_lock lock(mutex);
        more.wait(lock, [&] { return read > index || failed; });
        if (failed)
          return;
      }
      missing[index]->yaml = parse_yaml(missing[index]->text, limits_);
    }
  };
  std::vector<std::thread> helpers;
  for (size_t i = 1; i < threads; ++i)
    helpers.emplace_back(work);
  try {
    for (size_t index = 0; index < missing.size(); ++index) {
      std::string text = repository.read_blob(missing[index]->blob_id);
      {
        const std::lock_guard lock(mutex);
        missing[index]->text = std::move(text);
        read = index + 1;
      }
      more.notify_all();
    }
  } catch (...) {
    {
      const std::lock_guard lock(mutex);
      failed = true;
    }
    more.notify_all();
    for (std::thread& helper : helpers)
      helper.join();
    throw;
  }
  work();
  for (std::thread& helper : helpers)
    helper.join();
  for (std::shared_ptr<ParsedBlob>& blob : missing)
    blobs_.emplace(blob->blob_id, std::move(blob));
  return missing.size();
}

void ManifestCache::forget(const std::string& blob_id) { blobs_.erase(blob_id); }

void ManifestCache::retain(const std::vector<Manifest>&, const std::vector<TreeFile>& files) {
  std::unordered_set<std::string> live;
  for (const TreeFile& file : files)
    live.insert(file.blob_id);
  for (auto entry = blobs_.begin(); entry != blobs_.end();)
    entry = live.count(entry->first) != 0 ? std::next(entry) : blobs_.erase(entry);
}

namespace {

// `clusters/<name>/...` below the loaded root names the target cluster.
std::string cluster_from_path(std::string_view file, std::string_view root) {
  std::string_view relative = file;
  if (!root.empty() && relative.substr(0, root.size()) == root && relative.size() > root.size() && relative[root.size()] == '/')
    relative.remove_prefix(root.size() + 1);
  constexpr std::string_view prefix = "clusters/";
  if (relative.substr(0, prefix.size()) != prefix)
    return {};
  relative.remove_prefix(prefix.size());
  const size_t slash = relative.find('/');
  if (slash == std::string_view::npos)
    return {}; // a file directly under clusters/ names no cluster
  return std::string(relative.substr(0, slash));
}

void read_identity(Manifest& manifest, std::string_view root) {
  const Json& object = *manifest.object;
  manifest.api_version = std::string(string_member(object, "apiVersion"));
  std::tie(manifest.group, std::ignore) = split_api_version(manifest.api_version);
  manifest.kind = std::string(string_member(object, "kind"));
  if (const Json* metadata = find_member(object, "metadata")) {
    manifest.name = std::string(string_member(*metadata, "name"));
    manifest.namespace_ = std::string(string_member(*metadata, "namespace"));
  }
  if (manifest.is_meridian_kind())
    return;
  if (const Json* annotation = find_path(object, "metadata.annotations"); annotation != nullptr) {
    if (const Json* selector = find_member(*annotation, cluster_selector_annotation); selector != nullptr && selector->IsString())
      manifest.cluster_selector = std::string(selector->GetString(), selector->GetStringLength());
    const std::string_view cluster = string_member(*annotation, cluster_annotation);
    if (!cluster.empty()) {
      manifest.cluster = std::string(cluster);
      return;
    }
  }
  manifest.cluster = cluster_from_path(manifest.file, root);
  manifest.cluster_from_path = !manifest.cluster.empty();
}

} // namespace

namespace {

// The manifest of one parsed document of `blob` at `path`; its identity read from the document.
Manifest manifest_of(const std::string& path, const std::string& blob_id, const YamlDocument& document,
                     const std::shared_ptr<const ParsedBlob>& blob, std::string_view root) {
  Manifest manifest;
  manifest.file = path;
  manifest.blob_id = blob_id;
  manifest.line = document.line;
  manifest.document_index = document.index;
  manifest.object = &document.value;
  manifest.blob = blob;
  if (document.value.IsObject())
    read_identity(manifest, root);
  return manifest;
}

void add_blob(ManifestSet& set, const std::string& path, const std::string& blob_id, std::shared_ptr<const ParsedBlob> blob) {
  if (blob->yaml->error) {
    set.findings.push_back({path, blob->yaml->error->line, "", "", blob->yaml->error->message, Severity::error});
    return;
  }
  for (const YamlDocument& document : blob->yaml->documents)
    set.manifests.push_back(manifest_of(path, blob_id, document, blob, set.path));
}

} // namespace

namespace {

//! Positions [begin, end) in a set's manifests by file (a file's documents are contiguous).
using FileRanges = std::unordered_map<std::string_view, std::pair<size_t, size_t>>;

//! The ranges of `set`'s files whose documents are all still parsed (not released).
FileRanges ranges_by_file(const ManifestSet& set) {
  FileRanges ranges;
  for (size_t begin = 0, end = 0; begin < set.manifests.size(); begin = end) {
    end = begin + 1;
    while (end < set.manifests.size() && set.manifests[end].file == set.manifests[begin].file)
      ++end;
    if (std::all_of(set.manifests.begin() + static_cast<long>(begin), set.manifests.begin() + static_cast<long>(end),
                    [](const Manifest& manifest) { return manifest.object != nullptr && manifest.kustomization.empty(); }))
      ranges.emplace(set.manifests[begin].file, std::make_pair(begin, end));
  }
  return ranges;
}

} // namespace

namespace {

bool is_kustomization_path(std::string_view path) {
  const size_t slash = path.rfind('/');
  return kustomize::is_kustomization_name(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

bool wanted_or_kustomization(std::string_view name) { return is_manifest_name(name) || kustomize::is_kustomization_name(name); }

std::string_view directory_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
}

bool is_below(std::string_view path, std::string_view directory) {
  return directory.empty() || (path.size() > directory.size() && path.substr(0, directory.size()) == directory && path[directory.size()] == '/');
}

// The files of one commit (the whole repository: bases may sit outside --path), read on demand.
class CommitTree : public kustomize::FileTree {
public:
  CommitTree(const GitRepository& repository, const CommitInfo& commit)
      : repository_(repository), files_(index(repository.list_files(commit.id, "", [](std::string_view) { return true; }))) {}

  std::optional<std::string> read(std::string_view path) const override {
    const std::string blob = blob_of(path);
    reads_["f:" + std::string(path)] = blob;
    if (blob.empty())
      return std::nullopt;
    return repository_.read_blob(blob);
  }
  bool is_directory(std::string_view path) const override {
    const bool directory = has_directory(path);
    reads_["d:" + std::string(path)] = directory ? "1" : "0";
    return directory;
  }
  //! What read() and is_directory() answered since the last call, then forgets it.
  std::map<std::string, std::string> take_reads() const { return std::exchange(reads_, {}); }
  //! True when every answer of `reads` is still the answer for this commit.
  bool same_answers(const std::map<std::string, std::string>& reads) const {
    return std::all_of(reads.begin(), reads.end(), [&](const auto& read) {
      const std::string_view path = std::string_view(read.first).substr(2);
      return read.first[0] == 'f' ? blob_of(path) == read.second : (has_directory(path) ? "1" : "0") == read.second;
    });
  }

private:
  static std::map<std::string, std::string, std::less<>> index(const std::vector<TreeFile>& files) {
    std::map<std::string, std::string, std::less<>> out;
    for (const TreeFile& file : files)
      out.emplace(file.path, file.blob_id);
    return out;
  }
  std::string blob_of(std::string_view path) const {
    const auto found = files_.find(path);
    return found == files_.end() ? std::string() : found->second;
  }
  bool has_directory(std::string_view path) const {
    if (path.empty())
      return true;
    const std::string prefix = std::string(path) + "/";
    const auto next = files_.lower_bound(prefix);
    return next != files_.end() && next->first.compare(0, prefix.size(), prefix) == 0;
  }
  const GitRepository& repository_;
  std::map<std::string, std::string, std::less<>> files_;
  mutable std::map<std::string, std::string> reads_;
};

// A build error as a finding: "file:line: message" (as kustomize/ words its errors) split apart.
Finding build_finding(const std::string& kustomization_file, const std::string& message) {
  static const std::regex placed(R"(^([^:\s]+):(\d+): (.*)$)");
  static const std::regex filed(R"(^([^:\s]+): (.*)$)");
  std::smatch match;
  if (std::regex_match(message, match, placed))
    return {match[1], std::stoi(match[2]), "", "", match[3], Severity::error};
  if (std::regex_match(message, match, filed) && match[1].str().find('/') != std::string::npos)
    return {match[1], 0, "", "", match[2], Severity::error};
  return {kustomization_file, 0, "", "", message, Severity::error};
}

//! The kustomizations of a load: which are built on their own, their builds, and which listed files
//! they own (not read as plain manifests).
struct KustomizeLayout {
  std::map<std::string, std::shared_ptr<const ParsedBlob>> builds; //!< by kustomization file, top ones only
  std::set<std::string> owned;                                     //!< listed files not read as plain manifests
  std::vector<Finding> findings;
  std::vector<std::string> kustomizations;
  std::vector<std::string> inputs;
  std::map<std::string, std::vector<std::string>> sources; //!< by kustomization file: each document's source file
  std::vector<std::shared_ptr<const KustomizeBuildRecord>> records; //!< every build, top or not
};

KustomizeLayout build_kustomizations(const CommitTree& tree, const std::vector<TreeFile>& listed, const ManifestSet* previous) {
  KustomizeLayout layout;
  std::vector<std::string> files;
  std::set<std::string> directories;
  for (const TreeFile& file : listed)
    if (is_kustomization_path(file.path)) {
      // find_kustomization refuses two in one directory: build each directory once.
      if (directories.insert(std::string(directory_of(file.path))).second)
        files.push_back(file.path);
    }
  if (files.empty())
    return layout;
  // The previous load's builds by kustomization file: reused when all they read is unchanged.
  std::map<std::string, std::shared_ptr<const KustomizeBuildRecord>> earlier;
  if (previous != nullptr)
    for (const auto& record : previous->kustomize_builds)
      earlier.emplace(record->file, record);
  std::set<std::string> read_by_builds;
  for (const std::string& file : files) {
    std::shared_ptr<const KustomizeBuildRecord> record;
    if (const auto found = earlier.find(file); found != earlier.end() && tree.same_answers(found->second->reads)) {
      record = found->second;
    } else {
      auto fresh = std::make_shared<KustomizeBuildRecord>();
      fresh->file = file;
      tree.take_reads();
      try {
        kustomize::Build build = kustomize::build(tree, directory_of(file));
        auto blob = std::make_shared<ParsedBlob>();
        blob->blob_id = "kustomize:" + file;
        blob->yaml = std::move(build.documents);
        fresh->output = std::move(blob);
        fresh->sources = std::move(build.files);
        fresh->inputs = std::move(build.inputs);
      } catch (const Error& error) {
        fresh->error = error.what();
      }
      fresh->reads = tree.take_reads();
      record = std::move(fresh);
    }
    if (record->output == nullptr)
      layout.findings.push_back(build_finding(file, record->error));
    for (const std::string& input : record->inputs)
      if (input != file)
        read_by_builds.insert(input);
    layout.records.push_back(std::move(record));
  }
  std::set<std::string> inputs;
  for (const auto& record : layout.records) {
    if (read_by_builds.count(record->file) != 0)
      continue; // a base or a component of another kustomization: built as part of it
    layout.kustomizations.push_back(record->file);
    inputs.insert(record->file);
    if (record->output == nullptr)
      continue;
    inputs.insert(record->inputs.begin(), record->inputs.end());
    layout.builds.emplace(record->file, record->output);
    layout.sources.emplace(record->file, record->sources);
  }
  // A broken base breaks every overlay of it with the same message: report it once.
  std::sort(layout.findings.begin(), layout.findings.end());
  layout.findings.erase(std::unique(layout.findings.begin(), layout.findings.end(),
                                    [](const Finding& a, const Finding& b) { return a.format() == b.format(); }),
                        layout.findings.end());
  layout.inputs.assign(inputs.begin(), inputs.end());
  for (const TreeFile& file : listed) {
    const bool below_kustomization = std::any_of(directories.begin(), directories.end(), [&](const std::string& directory) {
      return is_below(file.path, directory);
    });
    if (below_kustomization || inputs.count(file.path) != 0 || read_by_builds.count(file.path) != 0)
      layout.owned.insert(file.path);
  }
  return layout;
}

void add_build(ManifestSet& set, const std::string& kustomization, const std::shared_ptr<const ParsedBlob>& blob,
               const std::vector<std::string>& sources) {
  for (const YamlDocument& document : blob->yaml->documents) {
    Manifest manifest = manifest_of(sources[document.index], blob->blob_id, document, blob, set.path);
    manifest.kustomization = kustomization;
    // `clusters/<name>/` counts where the kustomization sits, not where its base's files do.
    if (document.value.IsObject() && !manifest.is_meridian_kind() && (manifest.cluster.empty() || manifest.cluster_from_path)) {
      manifest.cluster = cluster_from_path(kustomization, set.path);
      manifest.cluster_from_path = !manifest.cluster.empty();
    }
    set.manifests.push_back(std::move(manifest));
  }
}

} // namespace

ManifestSet load_manifests(const GitRepository& repository, const CommitInfo& commit, std::string_view path,
                           ManifestCache& cache, const ManifestSet* previous) {
  ManifestSet set;
  set.repository = repository.location();
  set.commit = commit;
  // Spelled as list_files reads it: "./fleet/" is "fleet" and "." the root, so that clusters/<name>/
  // counts from the same place and a later load recognises the same path.
  set.path = std::string(path);
  while (!set.path.empty() && set.path.back() == '/')
    set.path.pop_back();
  while (set.path.substr(0, 2) == "./")
    set.path.erase(0, 2);
  if (set.path == ".")
    set.path.clear();
  std::vector<TreeFile> files = repository.list_files(commit.id, set.path, wanted_or_kustomization);
  set.files = files.size();
  KustomizeLayout layout;
  if (std::any_of(files.begin(), files.end(), [](const TreeFile& file) { return is_kustomization_path(file.path); })) {
    const CommitTree tree(repository, commit);
    const bool same_source = previous != nullptr && previous->repository == set.repository && previous->path == set.path;
    layout = build_kustomizations(tree, files, same_source ? previous : nullptr);
    set.findings = std::move(layout.findings);
    set.kustomizations = layout.kustomizations;
    set.kustomize_inputs = layout.inputs;
    set.kustomize_builds = layout.records;
  }
  // What the builds produced takes the place of their kustomization file, in tree order.
  std::vector<TreeFile> plain;
  for (const TreeFile& file : files)
    if (layout.owned.count(file.path) == 0 && is_manifest_name(file.path.substr(file.path.rfind('/') + 1)))
      plain.push_back(file);
  const std::vector<TreeFile> listed = std::move(files);
  files = std::move(plain);
  // The manifests of `previous` by file, for files whose blob is the same (and still parsed).
  FileRanges earlier;
  if (previous != nullptr && previous->repository == set.repository && previous->path == set.path) {
    earlier = ranges_by_file(*previous);
    set.manifests.reserve(previous->manifests.size());
  }
  const auto kept = [&](const TreeFile& file) -> const std::pair<size_t, size_t>* {
    const auto found = earlier.find(file.path);
    return found != earlier.end() && previous->manifests[found->second.first].blob_id == file.blob_id ? &found->second : nullptr;
  };
  std::vector<TreeFile> to_read;
  for (const TreeFile& file : files)
    if (kept(file) == nullptr)
      to_read.push_back(file);
  set.parsed_files = cache.prefetch(repository, to_read);
  if (previous == nullptr) { // sized once: growing it doubles the largest vector of a load
    size_t documents = 0;
    for (const TreeFile& file : files) {
      bool parsed_now = false;
      documents += cache.get(repository, file, parsed_now)->yaml->documents.size();
    }
    for (const auto& [kustomization, blob] : layout.builds)
      documents += blob->yaml->documents.size();
    set.manifests.reserve(documents);
  }
  size_t next_listed = 0;
  const auto add_builds_before = [&](const std::string& bound) {
    for (; next_listed < listed.size() && (bound.empty() || listed[next_listed].path < bound); ++next_listed)
      if (const auto build = layout.builds.find(listed[next_listed].path); build != layout.builds.end())
        add_build(set, build->first, build->second, layout.sources.at(build->first));
  };
  for (const TreeFile& file : files) {
    add_builds_before(file.path);
    if (const auto* range = kept(file)) {
      set.manifests.insert(set.manifests.end(), previous->manifests.begin() + static_cast<long>(range->first),
                           previous->manifests.begin() + static_cast<long>(range->second));
      continue;
    }
    bool parsed_now = false;
    std::shared_ptr<const ParsedBlob> blob = cache.get(repository, file, parsed_now);
    add_blob(set, file.path, file.blob_id, std::move(blob));
  }
  add_builds_before("");
  cache.retain(set.manifests, files);
  return set;
}

bool same_documents(const ManifestSet& a, const ManifestSet& b) {
  if (a.repository != b.repository || a.path != b.path || a.manifests.size() != b.manifests.size() || !a.findings.empty() || !b.findings.empty())
    return false;
  for (size_t i = 0; i < a.manifests.size(); ++i) {
    const Manifest& x = a.manifests[i];
    const Manifest& y = b.manifests[i];
    if (x.object == nullptr || y.object == nullptr || x.file != y.file)
      return false;
    if (x.object != y.object && !json_identical(*x.object, *y.object))
      return false;
  }
  return true;
}

namespace {

// The documents of `path` in `set`: a file's documents are contiguous and files come in tree order,
// which is the byte order of their paths. {npos, npos} when the set has no document of `path`.
std::pair<size_t, size_t> documents_of(const ManifestSet& set, std::string_view path) {
  if (!set.kustomizations.empty()) {
    // Built documents carry their sources' paths, out of tree order: look the plain file up in full.
    const auto plain = [&](const Manifest& manifest) { return manifest.file == path && manifest.kustomization.empty(); };
    const auto begin = std::find_if(set.manifests.begin(), set.manifests.end(), plain);
    auto end = begin;
    while (end != set.manifests.end() && plain(*end))
      ++end;
    if (begin == end)
      return {std::string::npos, std::string::npos};
    return {static_cast<size_t>(begin - set.manifests.begin()), static_cast<size_t>(end - set.manifests.begin())};
  }
  const auto by_file = [](const Manifest& manifest, std::string_view file) { return manifest.file < file; };
  const auto begin = std::lower_bound(set.manifests.begin(), set.manifests.end(), path, by_file);
  auto end = begin;
  while (end != set.manifests.end() && end->file == path)
    ++end;
  if (begin == end)
    return {std::string::npos, std::string::npos};
  return {static_cast<size_t>(begin - set.manifests.begin()), static_cast<size_t>(end - set.manifests.begin())};
}

bool same_identity(const Manifest& a, const Manifest& b) {
  return a.object->IsObject() == b.object->IsObject() && a.api_version == b.api_version && a.group == b.group && a.kind == b.kind &&
         a.name == b.name && a.namespace_ == b.namespace_ && a.cluster == b.cluster && a.cluster_from_path == b.cluster_from_path &&
         a.cluster_selector == b.cluster_selector;
}

} // namespace

size_t ManifestEdit::changed() const {
  return static_cast<size_t>(std::count_if(documents.begin(), documents.end(), [](const Document& document) { return !document.same; }));
}

std::optional<ManifestEdit> find_edit(const ManifestSet& set, const GitRepository& repository, const CommitInfo& commit, ManifestCache& cache) {
  if (!set.findings.empty() || set.repository != repository.location() || set.commit.id.empty())
    return std::nullopt;
  if (std::any_of(set.manifests.begin(), set.manifests.end(), [](const Manifest& manifest) { return manifest.object == nullptr; }))
    return std::nullopt;
  ManifestEdit edit;
  edit.commit = commit;
  edit.files = set.files;
  try {
    // A commit that touches what a kustomization reads (anywhere in the repository: bases may sit
    // outside --path), a kustomization file, or a file below a kustomization's directory is loaded
    // in full, which rebuilds the kustomizations. Simple and correct; the builds are cheap next to
    // parsing.
    if (!set.kustomizations.empty()) {
      for (const TreeChange& change : repository.changed_files(set.commit.id, commit.id, "", [](std::string_view) { return true; })) {
        if (std::binary_search(set.kustomize_inputs.begin(), set.kustomize_inputs.end(), change.path) || is_kustomization_path(change.path))
          return std::nullopt;
        for (const std::string& kustomization : set.kustomizations)
          if (is_below(change.path, directory_of(kustomization)))
            return std::nullopt;
      }
    }
    edit.changes = repository.changed_files(set.commit.id, commit.id, set.path, is_manifest_name);
  } catch (const Error&) {
    return std::nullopt; // the set's commit is gone (a force-push, a pruned mirror): a full load says what is wrong, if anything
  }
  std::vector<TreeFile> to_read;
  for (const TreeChange& change : edit.changes)
    if (!change.new_blob_id.empty())
      to_read.push_back({change.path, change.new_blob_id});
  edit.parsed_files = cache.prefetch(repository, to_read);
  for (const TreeChange& change : edit.changes) {
    const auto [begin, end] = documents_of(set, change.path);
    const size_t before = begin == std::string::npos ? 0 : end - begin;
    if (before != 0 && set.manifests[begin].blob_id != change.old_blob_id)
      return std::nullopt; // not what the set was loaded from
    if (change.new_blob_id.empty()) { // deleted
      if (before != 0)
        return std::nullopt;
      --edit.files;
      continue;
    }
    if (change.old_blob_id.empty())
      ++edit.files;
    bool parsed_now = false;
    std::shared_ptr<const ParsedBlob> blob = cache.get(repository, {change.path, change.new_blob_id}, parsed_now);
    if (blob->yaml->error || blob->yaml->documents.size() != before)
      return std::nullopt; // a parse error, or documents added or removed
    for (size_t index = 0; index < before; ++index) {
      const YamlDocument& document = blob->yaml->documents[index];
      const Manifest& old = set.manifests[begin + index];
      ManifestEdit::Document edited{begin + index, manifest_of(change.path, change.new_blob_id, document, blob, set.path), false};
      const Manifest& manifest = edited.manifest;
      if (!same_identity(old, manifest))
        return std::nullopt;
      edited.same = json_identical(*old.object, *manifest.object);
      // What Meridian's own kinds say shapes other objects (regions, settings, dependencies).
      if (!edited.same && (!manifest.object->IsObject() || manifest.is_meridian_kind()))
        return std::nullopt;
      edit.documents.push_back(std::move(edited));
    }
  }
  return edit;
}

void apply_edit(ManifestSet& set, ManifestEdit edit, ManifestCache& cache) {
  for (ManifestEdit::Document& document : edit.documents)
    set.manifests[document.index] = std::move(document.manifest);
  set.commit = std::move(edit.commit);
  set.files = edit.files;
  set.parsed_files = edit.parsed_files;
  for (const TreeChange& change : edit.changes)
    if (!change.old_blob_id.empty())
      cache.forget(change.old_blob_id); // the set holds what it still uses
}

bool update_same_documents(ManifestSet& set, const GitRepository& repository, const CommitInfo& commit, ManifestCache& cache) {
  std::optional<ManifestEdit> edit = find_edit(set, repository, commit, cache);
  if (!edit || edit->changed() != 0)
    return false;
  apply_edit(set, std::move(*edit), cache);
  return true;
}

ManifestSet manifests_from_texts(const std::vector<std::pair<std::string, std::string>>& files, const YamlLimits& limits) {
  ManifestSet set;
  set.repository = "(memory)";
  set.files = files.size();
  for (const auto& [path, text] : files) {
    auto blob = std::make_shared<ParsedBlob>();
    blob->text = text;
    blob->yaml = parse_yaml(blob->text, limits);
    ++set.parsed_files;
    add_blob(set, path, "", std::move(blob));
  }
  return set;
}

} // namespace meridian
