// The floors tools/bench compares Meridian against, measured on the same bytes:
//
//   bench_floor read-parse REPO REF   every *.yaml/*.yml blob of REF read with libgit2, then parsed
//                                     with libyaml's event parser (no tree built)
//   bench_floor sqlite-write DB REPO REF [EVERY]
//                                     one JSON-sized row per YAML document (every EVERY-th
//                                     document) inserted into a fresh SQLite table shaped like the
//                                     simulator's, in one transaction
//
// Prints one JSON object of figures (seconds, bytes, counts) on stdout.
#include <git2.h>
#include <sqlite3.h>
#include <yaml.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "bench_floor: %s\n", message.c_str());
  std::exit(2);
}

void check_git(int rc, const char* doing) {
  if (rc < 0) {
    const git_error* error = git_error_last();
    die(std::string(doing) + ": " + (error != nullptr ? error->message : "libgit2 error"));
  }
}

bool is_manifest_name(std::string_view name) {
  return name.ends_with(".yaml") || name.ends_with(".yml");
}

struct Walk {
  std::vector<git_oid> blobs;
};

int collect(const char*, const git_tree_entry* entry, void* payload) {
  if (git_tree_entry_type(entry) == GIT_OBJECT_BLOB && is_manifest_name(git_tree_entry_name(entry)))
    static_cast<Walk*>(payload)->blobs.push_back(*git_tree_entry_id(entry));
  return 0;
}

// Reads every manifest blob of `ref` (listing the tree included), as Meridian's source stage does.
std::vector<std::string> read_blobs(const char* path, const char* ref, double& seconds) {
  const auto start = Clock::now();
  git_repository* repository = nullptr;
  check_git(git_repository_open(&repository, path), "open");
  git_object* commit = nullptr;
  check_git(git_revparse_single(&commit, repository, ref), "resolve");
  git_tree* tree = nullptr;
  check_git(git_commit_tree(&tree, reinterpret_cast<git_commit*>(commit)), "tree");
  Walk walk;
  check_git(git_tree_walk(tree, GIT_TREEWALK_PRE, collect, &walk), "walk");
  std::vector<std::string> texts;
  texts.reserve(walk.blobs.size());
  for (const git_oid& id : walk.blobs) {
    git_blob* blob = nullptr;
    check_git(git_blob_lookup(&blob, repository, &id), "blob");
    texts.emplace_back(static_cast<const char*>(git_blob_rawcontent(blob)), static_cast<size_t>(git_blob_rawsize(blob)));
    git_blob_free(blob);
  }
  git_tree_free(tree);
  git_object_free(commit);
  git_repository_free(repository);
  seconds = seconds_since(start);
  return texts;
}

// Parses `text` with libyaml's event parser; returns the number of events (documents through `documents`).
size_t parse_events(const std::string& text, size_t& documents) {
  yaml_parser_t parser;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  size_t events = 0;
  while (true) {
    yaml_event_t event;
    if (yaml_parser_parse(&parser, &event) == 0)
      die(std::string("libyaml: ") + (parser.problem != nullptr ? parser.problem : "parse error"));
    const yaml_event_type_t type = event.type;
    yaml_event_delete(&event);
    ++events;
    documents += type == YAML_DOCUMENT_START_EVENT ? 1 : 0;
    if (type == YAML_STREAM_END_EVENT)
      break;
  }
  yaml_parser_delete(&parser);
  return events;
}

// The documents of a multi-document file, split at "---" lines (the generator writes no other).
std::vector<std::string_view> split_documents(const std::string& text) {
  std::vector<std::string_view> documents;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find("\n---\n", start);
    if (end == std::string::npos)
      end = text.size();
    documents.emplace_back(text.data() + start, end - start);
    start = end + 5;
  }
  return documents;
}

void check_sqlite(sqlite3* db, int rc, const char* doing) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    die(std::string(doing) + ": " + sqlite3_errmsg(db));
}

int read_parse(const char* path, const char* ref) {
  git_libgit2_init();
  double read_seconds = 0;
  const std::vector<std::string> texts = read_blobs(path, ref, read_seconds);
  size_t bytes = 0;
  for (const std::string& text : texts)
    bytes += text.size();
  const auto start = Clock::now();
  size_t events = 0;
  size_t documents = 0;
  for (const std::string& text : texts)
    events += parse_events(text, documents);
  const double parse_seconds = seconds_since(start);
  std::printf("{\"read_s\": %.6f, \"parse_s\": %.6f, \"files\": %zu, \"bytes\": %zu, \"documents\": %zu, \"events\": %zu}\n",
              read_seconds, parse_seconds, texts.size(), bytes, documents, events);
  git_libgit2_shutdown();
  return 0;
}

int sqlite_write(const char* db_path, const char* path, const char* ref, size_t every) {
  git_libgit2_init();
  double read_seconds = 0;
  const std::vector<std::string> texts = read_blobs(path, ref, read_seconds);
  std::remove(db_path);
  sqlite3* db = nullptr;
  check_sqlite(db, sqlite3_open(db_path, &db), "open");
  check_sqlite(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                    "CREATE TABLE objects (cluster TEXT NOT NULL, grp TEXT NOT NULL, kind TEXT NOT NULL,"
                                    " namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, applied TEXT NOT NULL DEFAULT '',"
                                    " PRIMARY KEY (cluster, grp, kind, namespace, name)) WITHOUT ROWID;",
                                    nullptr, nullptr, nullptr), "schema");
  const auto start = Clock::now();
  check_sqlite(db, sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), "begin");
  sqlite3_stmt* insert = nullptr;
  check_sqlite(db, sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO objects VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &insert, nullptr),
               "prepare");
  size_t rows = 0;
  size_t index = 0;
  for (size_t file = 0; file < texts.size(); ++file) {
    for (const std::string_view document : split_documents(texts[file])) {
      if (index++ % every != 0)
        continue;
      const std::string name = "object-" + std::to_string(index);
      const std::string cluster = "cluster-" + std::to_string(file);
      sqlite3_bind_text(insert, 1, cluster.data(), static_cast<int>(cluster.size()), SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 2, "apps", 4, SQLITE_STATIC);
      sqlite3_bind_text(insert, 3, "Deployment", 10, SQLITE_STATIC);
      sqlite3_bind_text(insert, 4, "default", 7, SQLITE_STATIC);
      sqlite3_bind_text(insert, 5, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
      // body and applied: the document's bytes twice, as the simulator stores body and last-applied JSON.
      sqlite3_bind_text(insert, 6, document.data(), static_cast<int>(document.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 7, document.data(), static_cast<int>(document.size()), SQLITE_STATIC);
      check_sqlite(db, sqlite3_step(insert), "insert");
      sqlite3_reset(insert);
      ++rows;
    }
  }
  sqlite3_finalize(insert);
  check_sqlite(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "commit");
  const double write_seconds = seconds_since(start);
  sqlite3_close(db);
  std::printf("{\"write_s\": %.6f, \"rows\": %zu}\n", write_seconds, rows);
  git_libgit2_shutdown();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "read-parse") == 0)
    return read_parse(argv[2], argv[3]);
  if ((argc == 5 || argc == 6) && std::strcmp(argv[1], "sqlite-write") == 0)
    return sqlite_write(argv[2], argv[3], argv[4], argc == 6 ? std::stoul(argv[5]) : 1);
  std::fprintf(stderr, "usage: bench_floor read-parse REPO REF\n       bench_floor sqlite-write DB REPO REF [EVERY]\n");
  return 2;
}
