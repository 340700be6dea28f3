// The simulator's SQLite file: every object, the logical clock, stock and events.
//
// One `objects` table keyed by (cluster, grp, kind, namespace, name) holds each object as JSON with
// the configuration Meridian last applied to it; `meta` holds the clock, counters and the fixture;
// `stock` the instances left per region and type; `events` what controllers reported. The file is
// in WAL mode with a busy timeout, and every change happens inside one `BEGIN IMMEDIATE`
// transaction: a crash leaves the previous or the next state, and two processes take turns.
// A Store is one connection; it is not thread-safe (open one per thread).
#pragma once

#include "backend/backend.h"

#include <sqlite3.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::sim {

struct DatabaseCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using DatabaseHandle = std::unique_ptr<sqlite3, DatabaseCloser>;
using StatementHandle = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

//! One prepared statement; columns and parameters are 0-based / 1-based as in SQLite.
class Statement {
public:
  Statement(sqlite3* db, std::string_view sql, const std::string& path);

  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, long long value);
  //! True while a row is available.
  bool step();
  void reset();
  std::string text(int column) const;
  long long integer(int column) const;

private:
  sqlite3* db_;
  StatementHandle statement_;
  const std::string& path_;
};

//! A stored object row.
struct StoredObject {
  ObjectRef ref;
  std::string body;    //!< JSON text
  std::string applied; //!< JSON text Meridian last applied, "" when none
};

//! A Kubernetes Event, deduplicated like the API server does (count and last time).
struct StoredEvent {
  long long id = 0; //!< 0 until written
  ObjectRef involved;
  std::string type;   //!< Normal | Warning
  std::string reason;
  std::string message;
  std::string source; //!< default-scheduler, daemonset-controller, ...
  long long count = 1;
  long long first_ms = 0;
  long long last_ms = 0;
};

class Store {
public:
  //! Opens (creating when absent) the database at `path`; throws UserError when it is not one.
  explicit Store(const std::string& path);

  const std::string& path() const { return path_; }

  //! A transaction that rolls back unless committed. Write transactions take the lock up front.
  class Transaction {
  public:
    Transaction(Store& store, bool write);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

  private:
    Store& store_;
    bool open_ = true;
  };

  std::vector<StoredObject> load_objects();
  //! Fleet-level objects (cluster "") and the Kubernetes objects of `clusters` (primary-key ranges).
  std::vector<StoredObject> load_objects_of(const std::set<std::string>& clusters);
  //! Objects of `group` plus those whose JSON text contains `text` (SQLite filters the rows, so
  //! the pods and nodes that make up most of a fleet are never copied out).
  //! Calls `visit` with each of them, one row at a time.
  void visit_objects_mentioning(std::string_view group, std::string_view text, const std::function<void(StoredObject&&)>& visit);
  std::optional<StoredObject> load_object(const ObjectRef& ref);
  void put_object(const StoredObject& object);
  void delete_object(const ObjectRef& ref);

  std::map<std::string, std::string> load_meta();
  //! One value of `meta`, "" when absent.
  std::string meta_value(std::string_view key);
  void put_meta(std::string_view key, std::string_view value);

  std::map<std::pair<std::string, std::string>, long long> load_stock();
  void put_stock(std::string_view region, std::string_view instance_type, long long count);

  std::vector<StoredEvent> load_events();
  //! Inserts (id 0) or updates an event; returns its id.
  long long put_event(const StoredEvent& event);
  //! Keeps the newest `keep` events.
  void prune_events(long long keep);

  //! Empties every table (inside the caller's transaction).
  void clear();

  //! PRAGMA data_version: changes when another connection commits (never for this one's commits).
  long long data_version();

  //! "ok" when `PRAGMA integrity_check` finds nothing wrong, else what it found.
  std::string integrity_check();

  void exec(std::string_view sql);

private:
  friend class Transaction;
  std::string path_;
  DatabaseHandle db_; // declared before statements: finalized after them
  std::unique_ptr<Statement> load_object_; //!< prepared once: plan reads every object by key
};

} // namespace meridian::sim
