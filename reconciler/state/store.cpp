#include "state/store.h"

#include "base/error.h"

#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace meridian {
namespace {

struct StatementDeleter {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

Statement prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK)
    throw UserError(fmt::format("state store: {}", sqlite3_errmsg(db)));
  return Statement(raw);
}

void bind_text(sqlite3_stmt* statement, int index, const std::string& text) {
  sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

//! A result read back from history: one this version does not know is an error naming the row.
ApplyResult stored_apply_result(const std::string& path, long long id, const std::string& name) {
  if (const auto result = parse_apply_result(name))
    return *result;
  throw UserError(fmt::format("{}: applies row {}: result: expected running, succeeded, failed, halted or interrupted, got '{}'",
                              path, id, name));
}

ObjectOutcome stored_object_outcome(const std::string& path, long long id, const std::string& name) {
  if (const auto outcome = parse_object_outcome(name))
    return *outcome;
  throw UserError(fmt::format("{}: apply_objects of apply {}: result: expected applied, failed, skipped or not-started, got '{}'",
                              path, id, name));
}

std::string column(sqlite3_stmt* statement, int index) {
  const auto* text = sqlite3_column_text(statement, index);
  return text == nullptr ? "" : reinterpret_cast<const char*>(text);
}

void step_done(sqlite3* db, sqlite3_stmt* statement) {
  if (sqlite3_step(statement) != SQLITE_DONE)
    throw UserError(fmt::format("state store: {}", sqlite3_errmsg(db)));
}

// When the process `pid` started (field 22 of /proc/<pid>/stat, clock ticks after boot); 0 when
// unknown. With the pid it names one process: a pid is reused, a pid and a start time are not.
long long process_start(long long pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t name_end = stat.rfind(')'); // the command name may hold spaces and parentheses
  if (name_end == std::string::npos)
    return 0;
  std::istringstream fields(stat.substr(name_end + 2));
  std::string field;
  for (int index = 3; index <= 22 && fields >> field; ++index)
    if (index == 22)
      return std::atoll(field.c_str());
  return 0;
}

// The process that recorded a run is still running it: its pid is alive and, when its start
// time was recorded, it is the same process (a killed apply's pid may now be someone else's, or
// PID 1 of a restarted container).
bool process_alive(long long pid, long long started) {
  if (pid <= 0 || (kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM))
    return false;
  return started == 0 || process_start(pid) == started;
}

// The directory of the store, created 0700 (an existing one is left as it is: it may be the user's).
void make_state_directory(const std::filesystem::path& directory) {
  if (directory.empty() || std::filesystem::exists(directory))
    return;
  std::error_code ignored;
  std::filesystem::create_directories(directory, ignored);
  ::chmod(directory.c_str(), 0700);
}

// The database and its companions are only ever the owner's: created 0600, and tightened if an
// earlier version made them 0644. (SQLite gives -wal and -shm the database file's mode.)
void make_private_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0)
    ::close(fd);
  ::chmod(path.c_str(), 0600);
}

// The state directory's HMAC key: 32 random bytes, made once (written aside and linked into place,
// so that two processes starting together agree on one key).
std::string load_hmac_key(const std::filesystem::path& directory) {
  const std::filesystem::path path = directory / "hmac.key";
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (key.size() != 32)
        throw UserError(fmt::format("{}: not a Meridian key (32 bytes); remove it to make a new one", path.string()));
      ::chmod(path.c_str(), 0600);
      return key;
    }
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
      throw UserError("state store: no random bytes for the HMAC key");
    const std::string aside = fmt::format("{}.{}", path.string(), getpid());
    const int fd = ::open(aside.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      throw UserError(fmt::format("{}: cannot create the HMAC key: {}", path.string(), std::strerror(errno)));
    const bool written = ::write(fd, bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes);
    ::close(fd);
    if (written)
      ::link(aside.c_str(), path.c_str()); // fails when another process made it first: read theirs
    ::unlink(aside.c_str());
  }
  throw UserError(fmt::format("{}: cannot create the HMAC key", path.string()));
}

// ObjectRef::key() is cluster/group/kind/namespace/name.
bool is_sensitive_key(std::string_view key) {
  const size_t group = key.find('/');
  return group != std::string_view::npos && key.substr(group, 9) == "//Secret/";
}

} // namespace

StateStore::StateStore(const std::string& path) : path_(path) {
  const std::filesystem::path directory = std::filesystem::path(path).parent_path();
  make_state_directory(directory);
  make_private_file(path);
  for (const char* companion : {"-wal", "-shm"})
    if (std::filesystem::exists(path + companion))
      ::chmod((path + companion).c_str(), 0600);
  hmac_key_ = load_hmac_key(directory.empty() ? std::filesystem::path(".") : directory);
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK)
    throw UserError(fmt::format("{}: cannot open the state store: {}", path, sqlite3_errmsg(db_)));
  sqlite3_busy_timeout(db_, 30'000);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec("CREATE TABLE IF NOT EXISTS applies (id INTEGER PRIMARY KEY AUTOINCREMENT, repository TEXT, commit_id TEXT, "
       "trigger TEXT, started INTEGER, finished INTEGER, result TEXT, summary TEXT, pid INTEGER)");
  exec("CREATE TABLE IF NOT EXISTS apply_objects (apply_id INTEGER, position INTEGER, key TEXT, display TEXT, cluster TEXT, "
       "region TEXT, action TEXT, result TEXT, message TEXT, PRIMARY KEY (apply_id, position))");
  exec("CREATE TABLE IF NOT EXISTS applied (owner TEXT, key TEXT, body TEXT, PRIMARY KEY (owner, key))");
  if (!has_column("applies", "pid_start"))
    exec("ALTER TABLE applies ADD COLUMN pid_start INTEGER DEFAULT 0");
  // Runs whose process is gone were interrupted (killed, or the machine stopped).
  Statement running = prepare(db_, "SELECT id, pid, pid_start FROM applies WHERE result = 'running'");
  std::vector<long long> dead;
  while (sqlite3_step(running.get()) == SQLITE_ROW)
    if (!process_alive(sqlite3_column_int64(running.get(), 1), sqlite3_column_int64(running.get(), 2)))
      dead.push_back(sqlite3_column_int64(running.get(), 0));
  running.reset();
  for (const long long id : dead)
    exec(fmt::format("UPDATE applies SET result = 'interrupted', summary = 'the process stopped before the apply finished' "
                     "WHERE id = {}", id).c_str());
}

StateStore::~StateStore() {
  sqlite3_finalize(last_applied_);
  sqlite3_close(db_);
}

void StateStore::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error != nullptr ? error : "unknown error";
    sqlite3_free(error);
    throw UserError(fmt::format("{}: state store: {}", path_, message));
  }
}

long long StateStore::begin_apply(const std::string& repository, const std::string& commit, const std::string& trigger) {
  Statement insert = prepare(db_, "INSERT INTO applies (repository, commit_id, trigger, started, finished, result, summary, pid, "
                                  "pid_start) VALUES (?, ?, ?, ?, 0, 'running', '', ?, ?)");
  bind_text(insert.get(), 1, repository);
  bind_text(insert.get(), 2, commit);
  bind_text(insert.get(), 3, trigger);
  sqlite3_bind_int64(insert.get(), 4, static_cast<long long>(std::time(nullptr)));
  sqlite3_bind_int64(insert.get(), 5, static_cast<long long>(getpid()));
  sqlite3_bind_int64(insert.get(), 6, process_start(getpid()));
  step_done(db_, insert.get());
  return sqlite3_last_insert_rowid(db_);
}

bool StateStore::has_column(const char* table, const char* column_name) {
  Statement info = prepare(db_, fmt::format("PRAGMA table_info({})", table).c_str());
  while (sqlite3_step(info.get()) == SQLITE_ROW)
    if (column(info.get(), 1) == column_name)
      return true;
  return false;
}

long long StateStore::data_version() {
  Statement pragma = prepare(db_, "PRAGMA data_version");
  return sqlite3_step(pragma.get()) == SQLITE_ROW ? sqlite3_column_int64(pragma.get(), 0) : -1;
}

void StateStore::finish_apply(long long id, ApplyResult result, const std::string& summary,
                              const std::vector<ObjectResult>& objects, const std::vector<AppliedBody>& applied_bodies,
                              const std::vector<std::string>& deleted_keys) {
  exec("BEGIN IMMEDIATE");
  try {
    // Inside the write transaction: no other connection can commit until this one ends.
    if (data_version() != written_version_)
      written_.clear();
    Statement update = prepare(db_, "UPDATE applies SET finished = ?, result = ?, summary = ? WHERE id = ?");
    sqlite3_bind_int64(update.get(), 1, static_cast<long long>(std::time(nullptr)));
    bind_text(update.get(), 2, std::string(to_string(result)));
    bind_text(update.get(), 3, summary);
    sqlite3_bind_int64(update.get(), 4, id);
    step_done(db_, update.get());
    Statement insert = prepare(db_, "INSERT OR REPLACE INTO apply_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    int position = 0;
    for (const ObjectResult& object : objects) {
      sqlite3_reset(insert.get());
      sqlite3_bind_int64(insert.get(), 1, id);
      sqlite3_bind_int(insert.get(), 2, position++);
      bind_text(insert.get(), 3, object.key);
      bind_text(insert.get(), 4, object.display);
      bind_text(insert.get(), 5, object.cluster);
      bind_text(insert.get(), 6, object.region);
      bind_text(insert.get(), 7, object.action);
      bind_text(insert.get(), 8, std::string(to_string(object.result)));
      bind_text(insert.get(), 9, object.message);
      step_done(db_, insert.get());
    }
    // Most bodies are those of unchanged objects, the same as stored: rewriting them would dirty
    // every page of the table on each apply, and asking costs a statement per object.
    Statement remember = prepare(db_, "INSERT INTO applied VALUES (?, ?, ?) ON CONFLICT (owner, key) DO UPDATE "
                                      "SET body = excluded.body WHERE body IS NOT excluded.body");
    std::vector<const AppliedBody*> written;
    for (const AppliedBody& body : applied_bodies) {
      if (const auto known = written_.find(body.key);
          known != written_.end() && (known->second == body.text || *known->second == *body.text))
        continue;
      sqlite3_reset(remember.get());
      bind_text(remember.get(), 1, owner_);
      bind_text(remember.get(), 2, body.key);
      std::string scratch;
      bind_text(remember.get(), 3, stored_text(body.key, *body.text, scratch));
      step_done(db_, remember.get());
      written.push_back(&body);
    }
    Statement forget = prepare(db_, "DELETE FROM applied WHERE owner = ? AND key = ?");
    for (const std::string& key : deleted_keys) {
      sqlite3_reset(forget.get());
      bind_text(forget.get(), 1, owner_);
      bind_text(forget.get(), 2, key);
      step_done(db_, forget.get());
    }
    const long long version = data_version(); // what it stays after this commit: the version moves with others' commits only
    exec("COMMIT");
    for (const AppliedBody* body : written)
      written_[body->key] = body->text;
    for (const std::string& key : deleted_keys)
      written_.erase(key);
    written_version_ = version;
    bodies_written_ = written.size();
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    written_.clear();
    throw;
  }
}

std::string StateStore::digest(std::string_view value) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), hmac_key_.data(), static_cast<int>(hmac_key_.size()), reinterpret_cast<const unsigned char*>(value.data()),
       value.size(), mac, &length);
  std::string hex;
  for (unsigned int i = 0; i < 6 && i < length; ++i)
    hex += fmt::format("{:02x}", mac[i]);
  return hex;
}

const std::string& StateStore::stored_text(const std::string& key, const std::string& body, std::string& scratch) const {
  if (!is_sensitive_key(key))
    return body;
  JsonDocument document;
  if (parse_json(body, document))
    throw std::logic_error("state store: an applied body is not JSON");
  scratch = redacted_canonical(document, digester());
  return scratch;
}

void StateStore::record_object(long long id, int position, const ObjectResult& object, const AppliedBody* body, bool deleted) {
  exec("BEGIN IMMEDIATE");
  try {
    if (data_version() != written_version_)
      written_.clear();
    Statement insert = prepare(db_, "INSERT OR REPLACE INTO apply_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    sqlite3_bind_int64(insert.get(), 1, id);
    sqlite3_bind_int(insert.get(), 2, position);
    bind_text(insert.get(), 3, object.key);
    bind_text(insert.get(), 4, object.display);
    bind_text(insert.get(), 5, object.cluster);
    bind_text(insert.get(), 6, object.region);
    bind_text(insert.get(), 7, object.action);
    bind_text(insert.get(), 8, std::string(to_string(object.result)));
    bind_text(insert.get(), 9, object.message);
    step_done(db_, insert.get());
    if (body != nullptr) {
      Statement remember = prepare(db_, "INSERT INTO applied VALUES (?, ?, ?) ON CONFLICT (owner, key) DO UPDATE SET body = excluded.body");
      std::string scratch;
      bind_text(remember.get(), 1, owner_);
      bind_text(remember.get(), 2, body->key);
      bind_text(remember.get(), 3, stored_text(body->key, *body->text, scratch));
      step_done(db_, remember.get());
    }
    if (deleted) {
      Statement forget = prepare(db_, "DELETE FROM applied WHERE owner = ? AND key = ?");
      bind_text(forget.get(), 1, owner_);
      bind_text(forget.get(), 2, object.key);
      step_done(db_, forget.get());
    }
    const long long version = data_version();
    exec("COMMIT");
    if (body != nullptr)
      written_[body->key] = body->text;
    if (deleted)
      written_.erase(object.key);
    written_version_ = version;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    written_.clear();
    throw;
  }
}

std::vector<ApplyRecord> StateStore::history(size_t limit) {
  std::vector<ApplyRecord> records;
  Statement select = prepare(db_, "SELECT id, repository, commit_id, trigger, started, finished, result, summary FROM applies "
                                  "ORDER BY id DESC LIMIT ?");
  sqlite3_bind_int64(select.get(), 1, static_cast<long long>(limit));
  while (sqlite3_step(select.get()) == SQLITE_ROW) {
    ApplyRecord record;
    record.id = sqlite3_column_int64(select.get(), 0);
    record.repository = column(select.get(), 1);
    record.commit = column(select.get(), 2);
    record.trigger = column(select.get(), 3);
    record.started = sqlite3_column_int64(select.get(), 4);
    record.finished = sqlite3_column_int64(select.get(), 5);
    record.result = stored_apply_result(path_, record.id, column(select.get(), 6));
    record.summary = column(select.get(), 7);
    records.push_back(std::move(record));
  }
  Statement objects = prepare(db_, "SELECT key, display, cluster, region, action, result, message FROM apply_objects "
                                   "WHERE apply_id = ? ORDER BY position");
  for (ApplyRecord& record : records) {
    sqlite3_reset(objects.get());
    sqlite3_bind_int64(objects.get(), 1, record.id);
    while (sqlite3_step(objects.get()) == SQLITE_ROW)
      record.objects.push_back({column(objects.get(), 0), column(objects.get(), 1), column(objects.get(), 2),
                                column(objects.get(), 3), column(objects.get(), 4),
                                stored_object_outcome(path_, record.id, column(objects.get(), 5)), column(objects.get(), 6)});
  }
  return records;
}

void StateStore::learn_applied(const std::vector<AppliedBody>& bodies) {
  std::unordered_map<std::string_view, const AppliedBody*> wanted;
  wanted.reserve(bodies.size());
  for (const AppliedBody& body : bodies)
    wanted.emplace(body.key, &body);
  exec("BEGIN"); // one snapshot: the rows and the version they are read at
  try {
    const long long version = data_version();
    if (version != written_version_)
      written_.clear();
    Statement select = prepare(db_, "SELECT key, body FROM applied WHERE owner = ?");
    bind_text(select.get(), 1, owner_);
    while (sqlite3_step(select.get()) == SQLITE_ROW) {
      const auto* key = reinterpret_cast<const char*>(sqlite3_column_text(select.get(), 0));
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(select.get(), 1));
      if (key == nullptr || text == nullptr)
        continue;
      const auto found = wanted.find(std::string_view(key, static_cast<size_t>(sqlite3_column_bytes(select.get(), 0))));
      std::string scratch;
      if (found != wanted.end() && std::string_view(text, static_cast<size_t>(sqlite3_column_bytes(select.get(), 1))) ==
                                       stored_text(found->second->key, *found->second->text, scratch))
        written_[found->second->key] = found->second->text;
    }
    select.reset();
    exec("COMMIT");
    written_version_ = version;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    written_.clear();
    throw;
  }
}

std::optional<std::string> StateStore::last_applied(const std::string& owner, const std::string& key) {
  if (last_applied_ == nullptr)
    last_applied_ = prepare(db_, "SELECT body FROM applied WHERE owner = ? AND key = ?").release();
  sqlite3_reset(last_applied_);
  bind_text(last_applied_, 1, owner);
  bind_text(last_applied_, 2, key);
  std::optional<std::string> body;
  if (sqlite3_step(last_applied_) == SQLITE_ROW)
    body = column(last_applied_, 0);
  sqlite3_reset(last_applied_); // a statement left on a row would hold its read transaction open
  return body;
}

std::string StateStore::revision() {
  Statement select = prepare(db_, "SELECT id, finished, result FROM applies ORDER BY id DESC LIMIT 1");
  if (sqlite3_step(select.get()) != SQLITE_ROW)
    return "none";
  return column(select.get(), 0) + "/" + column(select.get(), 1) + "/" + column(select.get(), 2);
}

std::vector<std::string> StateStore::applied_keys(const std::string& owner) {
  Statement select = prepare(db_, "SELECT key FROM applied WHERE owner = ? ORDER BY key");
  bind_text(select.get(), 1, owner);
  std::vector<std::string> keys;
  while (sqlite3_step(select.get()) == SQLITE_ROW)
    keys.push_back(column(select.get(), 0));
  return keys;
}

} // namespace meridian
