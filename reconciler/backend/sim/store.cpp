#include "backend/sim/store.h"

#include "base/error.h"

#include <fmt/format.h>

namespace meridian::sim {
namespace {

// Long enough for another process's `sim advance 1h` to finish; it holds the write lock meanwhile.
constexpr int kBusyTimeoutMs = 120'000;

[[noreturn]] void fail(sqlite3* db, int rc, const std::string& path, std::string_view doing) {
  const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
    throw TransientError(fmt::format("{}: {}: the simulator state is busy (another meridian process holds it): {}", path, doing, message));
  throw UserError(fmt::format("{}: {}: {}", path, doing, message));
}

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS objects (
  cluster TEXT NOT NULL, grp TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  body TEXT NOT NULL, applied TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (cluster, grp, kind, namespace, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stock (
  region TEXT NOT NULL, instance_type TEXT NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (region, instance_type)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  cluster TEXT NOT NULL, grp TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  type TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL, source TEXT NOT NULL,
  count INTEGER NOT NULL, first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL);
)sql";

ObjectRef ref_from(const Statement& statement, int first) {
  return {statement.text(first), statement.text(first + 1), statement.text(first + 2), statement.text(first + 3),
          statement.text(first + 4)};
}

void bind_ref(Statement& statement, int first, const ObjectRef& ref) {
  statement.bind(first, ref.cluster).bind(first + 1, ref.group).bind(first + 2, ref.kind).bind(first + 3, ref.namespace_).bind(first + 4, ref.name);
}

} // namespace

Statement::Statement(sqlite3* db, std::string_view sql, const std::string& path) : db_(db), path_(path) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  statement_.reset(raw);
  if (rc != SQLITE_OK)
    fail(db, rc, path_, "prepare");
}

Statement& Statement::bind(int index, std::string_view text) {
  const int rc = sqlite3_bind_text(statement_.get(), index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK)
    fail(db_, rc, path_, "bind");
  return *this;
}

Statement& Statement::bind(int index, long long value) {
  const int rc = sqlite3_bind_int64(statement_.get(), index, value);
  if (rc != SQLITE_OK)
    fail(db_, rc, path_, "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(statement_.get());
  if (rc == SQLITE_ROW)
    return true;
  if (rc == SQLITE_DONE)
    return false;
  fail(db_, rc, path_, "query");
}

void Statement::reset() {
  sqlite3_reset(statement_.get());
  sqlite3_clear_bindings(statement_.get());
}

std::string Statement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(statement_.get(), column));
  if (data == nullptr)
    return {};
  return std::string(data, static_cast<size_t>(sqlite3_column_bytes(statement_.get(), column)));
}

long long Statement::integer(int column) const { return sqlite3_column_int64(statement_.get(), column); }

Store::Store(const std::string& path) : path_(path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK)
    fail(raw, rc, path_, "open");
  sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);
  // WAL: readers never block the writer; NORMAL sync keeps every commit atomic across crashes.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  Transaction transaction(*this, true);
  exec(kSchema);
  transaction.commit();
}

void Store::exec(std::string_view sql) {
  char* error = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK)
    return;
  sqlite3_free(error);
  fail(db_.get(), rc, path_, "exec");
}

Store::Transaction::Transaction(Store& store, bool write) : store_(store) {
  store_.exec(write ? "BEGIN IMMEDIATE" : "BEGIN");
}

Store::Transaction::~Transaction() {
  if (open_)
    sqlite3_exec(store_.db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Store::Transaction::commit() {
  store_.exec("COMMIT");
  open_ = false;
}

std::vector<StoredObject> Store::load_objects() {
  Statement statement(db_.get(), "SELECT cluster, grp, kind, namespace, name, body, applied FROM objects", path_);
  std::vector<StoredObject> objects;
  while (statement.step())
    objects.push_back({ref_from(statement, 0), statement.text(5), statement.text(6)});
  return objects;
}

void Store::visit_objects_mentioning(std::string_view group, std::string_view text, const std::function<void(StoredObject&&)>& visit) {
  Statement statement(db_.get(), "SELECT cluster, grp, kind, namespace, name, body, applied FROM objects WHERE grp = ?1 OR instr(body, ?2) > 0",
                      path_);
  statement.bind(1, group).bind(2, text);
  while (statement.step())
    visit({ref_from(statement, 0), statement.text(5), statement.text(6)});
}

std::vector<StoredObject> Store::load_objects_of(const std::set<std::string>& clusters) {
  Statement statement(db_.get(), "SELECT cluster, grp, kind, namespace, name, body, applied FROM objects WHERE cluster = ?1", path_);
  std::vector<StoredObject> objects;
  std::set<std::string> wanted = clusters;
  wanted.insert("");
  for (const std::string& cluster : wanted) {
    statement.reset();
    statement.bind(1, cluster);
    while (statement.step())
      objects.push_back({ref_from(statement, 0), statement.text(5), statement.text(6)});
  }
  statement.reset();
  return objects;
}

std::optional<StoredObject> Store::load_object(const ObjectRef& ref) {
  if (load_object_ == nullptr)
    load_object_ = std::make_unique<Statement>(
        db_.get(), "SELECT body, applied FROM objects WHERE cluster=?1 AND grp=?2 AND kind=?3 AND namespace=?4 AND name=?5", path_);
  Statement& statement = *load_object_;
  statement.reset(); // a statement left stepping would hold its read transaction open
  bind_ref(statement, 1, ref);
  std::optional<StoredObject> result;
  if (statement.step())
    result = StoredObject{ref, statement.text(0), statement.text(1)};
  statement.reset();
  return result;
}

void Store::put_object(const StoredObject& object) {
  Statement statement(db_.get(),
                      "INSERT OR REPLACE INTO objects (cluster, grp, kind, namespace, name, body, applied) VALUES (?1,?2,?3,?4,?5,?6,?7)", path_);
  bind_ref(statement, 1, object.ref);
  statement.bind(6, object.body).bind(7, object.applied);
  statement.step();
}

void Store::delete_object(const ObjectRef& ref) {
  Statement statement(db_.get(), "DELETE FROM objects WHERE cluster=?1 AND grp=?2 AND kind=?3 AND namespace=?4 AND name=?5", path_);
  bind_ref(statement, 1, ref);
  statement.step();
}

std::map<std::string, std::string> Store::load_meta() {
  Statement statement(db_.get(), "SELECT key, value FROM meta", path_);
  std::map<std::string, std::string> meta;
  while (statement.step())
    meta.emplace(statement.text(0), statement.text(1));
  return meta;
}

std::string Store::meta_value(std::string_view key) {
  Statement statement(db_.get(), "SELECT value FROM meta WHERE key = ?1", path_);
  statement.bind(1, key);
  return statement.step() ? statement.text(0) : std::string();
}

void Store::put_meta(std::string_view key, std::string_view value) {
  Statement statement(db_.get(), "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", path_);
  statement.bind(1, key).bind(2, value);
  statement.step();
}

std::map<std::pair<std::string, std::string>, long long> Store::load_stock() {
  Statement statement(db_.get(), "SELECT region, instance_type, count FROM stock", path_);
  std::map<std::pair<std::string, std::string>, long long> stock;
  while (statement.step())
    stock[{statement.text(0), statement.text(1)}] = statement.integer(2);
  return stock;
}

void Store::put_stock(std::string_view region, std::string_view instance_type, long long count) {
  Statement statement(db_.get(), "INSERT OR REPLACE INTO stock (region, instance_type, count) VALUES (?1, ?2, ?3)", path_);
  statement.bind(1, region).bind(2, instance_type).bind(3, count);
  statement.step();
}

std::vector<StoredEvent> Store::load_events() {
  Statement statement(db_.get(),
                      "SELECT id, cluster, grp, kind, namespace, name, type, reason, message, source, count, first_ms, last_ms "
                      "FROM events ORDER BY id",
                      path_);
  std::vector<StoredEvent> events;
  while (statement.step()) {
    events.push_back({statement.integer(0), ref_from(statement, 1), statement.text(6), statement.text(7), statement.text(8),
                      statement.text(9), statement.integer(10), statement.integer(11), statement.integer(12)});
  }
  return events;
}

long long Store::put_event(const StoredEvent& event) {
  if (event.id != 0) {
    Statement statement(db_.get(), "UPDATE events SET count=?1, last_ms=?2, message=?3 WHERE id=?4", path_);
    statement.bind(1, event.count).bind(2, event.last_ms).bind(3, event.message).bind(4, event.id);
    statement.step();
    return event.id;
  }
  Statement statement(db_.get(),
                      "INSERT INTO events (cluster, grp, kind, namespace, name, type, reason, message, source, count, first_ms, last_ms) "
                      "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
                      path_);
  bind_ref(statement, 1, event.involved);
  statement.bind(6, event.type).bind(7, event.reason).bind(8, event.message).bind(9, event.source);
  statement.bind(10, event.count).bind(11, event.first_ms).bind(12, event.last_ms);
  statement.step();
  return sqlite3_last_insert_rowid(db_.get());
}

void Store::prune_events(long long keep) {
  Statement statement(db_.get(), "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?1", path_);
  statement.bind(1, keep);
  statement.step();
}

void Store::clear() { exec("DELETE FROM objects; DELETE FROM meta; DELETE FROM stock; DELETE FROM events;"); }

long long Store::data_version() {
  Statement statement(db_.get(), "PRAGMA data_version", path_);
  statement.step();
  return statement.integer(0);
}

std::string Store::integrity_check() {
  Statement statement(db_.get(), "PRAGMA integrity_check", path_);
  std::string result;
  while (statement.step())
    result += (result.empty() ? "" : "\n") + statement.text(0);
  return result;
}

} // namespace meridian::sim
