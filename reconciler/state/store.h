// The state store: history of applies and what Meridian last applied to each object.
//
// One SQLite file (<state-dir>/meridian.db, WAL, busy timeout so that two processes serialise).
// An apply is recorded as `running` when it starts and finished in one transaction with every
// per-object result; a run whose process died is found `running` with a dead pid and is reported
// as `interrupted`. Not thread-safe: one StateStore per thread.
#pragma once

#include "base/json.h"

#include <memory>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace meridian {

struct ObjectResult {
  std::string key;      //!< ObjectRef::key()
  std::string display;  //!< Kind/namespace/name
  std::string cluster;
  std::string region;
  std::string action;   //!< create | update | delete | unchanged
  std::string result;   //!< applied | failed | skipped | not-started
  std::string message;
};

struct ApplyRecord {
  long long id = 0;
  std::string repository;
  std::string commit;
  std::string trigger;   //!< cli | schedule | webhook | self-heal
  long long started = 0; //!< unix seconds
  long long finished = 0;
  std::string result;    //!< running | succeeded | failed | interrupted | halted
  std::string summary;
  std::vector<ObjectResult> objects;
};

//! The configuration applied to one object, to record as its last applied (canonical JSON). The
//! text may be shared: StateStore keeps it to know what it wrote.
struct AppliedBody {
  std::string key; //!< ObjectRef::key()
  std::shared_ptr<const std::string> text;
};

class StateStore {
public:
  //! Opens (creating when needed) the store at `path`.
  explicit StateStore(const std::string& path);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  //! Records the start of an apply; returns its id.
  long long begin_apply(const std::string& repository, const std::string& commit, const std::string& trigger);
  //! Records the outcome and per-object results, and the last applied configuration of every
  //! object applied successfully (removing those deleted), all in one transaction. A body this
  //! store wrote itself, the same since, while no other connection has written the database
  //! (PRAGMA data_version), is not written again: an apply records every object of the fleet.
  void finish_apply(long long id, const std::string& result, const std::string& summary,
                    const std::vector<ObjectResult>& objects, const std::vector<AppliedBody>& applied_bodies,
                    const std::vector<std::string>& deleted_keys);

  //! Reads the owner's last-applied rows once and remembers which of `bodies` they already hold,
  //! as if this connection had written them: the next finish_apply skips those. For a process
  //! that applies commit after commit (`meridian run`), whose first apply would otherwise write
  //! every row; called between reconciles, not on the way to a rollout.
  void learn_applied(const std::vector<AppliedBody>& bodies);

  //! How many last-applied bodies the last finish_apply wrote (the rest were known to be stored).
  size_t bodies_written() const { return bodies_written_; }

  //! Changes whenever an apply starts or finishes (so whenever the last-applied bodies may have).
  std::string revision();

  //! The last `limit` applies, newest first, with their object results.
  std::vector<ApplyRecord> history(size_t limit);

  //! What Meridian last applied to `key` (canonical JSON), if anything. The statement is prepared
  //! once: plan asks for every object of the fleet.
  std::optional<std::string> last_applied(const std::string& owner, const std::string& key);
  //! Every key Meridian has applied for `owner` and not deleted since, sorted.
  std::vector<std::string> applied_keys(const std::string& owner);
  void set_owner(std::string owner) {
    if (owner != owner_)
      written_.clear();
    owner_ = std::move(owner);
  }

private:
  void exec(const char* sql);
  long long data_version();
  //! The bodies this connection wrote to `applied` for owner_, by key, as of data_version
  //! `written_version_`; another connection's commit makes them unknown.
  std::unordered_map<std::string, std::shared_ptr<const std::string>> written_;
  long long written_version_ = -1;
  size_t bodies_written_ = 0;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* last_applied_ = nullptr; //!< finalized before db_ is closed
  std::string path_;
  std::string owner_;
};

} // namespace meridian
