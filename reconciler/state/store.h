// The state store: history of applies and what Meridian last applied to each object.
//
// One SQLite file (<state-dir>/meridian.db, WAL, busy timeout so that two processes serialise).
// An apply is recorded as `running` when it starts, object by object as it applies them (result and
// last-applied body in one transaction), and finished in one transaction with every per-object result; a run whose process died is found `running` with a dead pid (or a pid now
// another process's: the process's start time is recorded with it) and is reported as `interrupted`. Not thread-safe: one StateStore per thread.
//
// The state directory is created 0700 and the database (with its -wal and -shm) 0600. Beside it,
// `hmac.key` (0600, 32 random bytes made once) keys `digest`, the short hash that stands for a
// sensitive value (base/sensitive.h); last-applied bodies of Secrets are stored with their values
// replaced by it (diff needs only their keys, to find fields removed since).
#pragma once

#include "base/json.h"
#include "base/sensitive.h"
#include "state/outcome.h"

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
  ObjectOutcome result = ObjectOutcome::not_started;
  std::string message;
};

struct ApplyRecord {
  long long id = 0;
  std::string repository;
  std::string commit;
  std::string trigger;   //!< cli | schedule | webhook | self-heal
  long long started = 0; //!< unix seconds
  long long finished = 0;
  ApplyResult result = ApplyResult::running;
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
  void finish_apply(long long id, ApplyResult result, const std::string& summary,
                    const std::vector<ObjectResult>& objects, const std::vector<AppliedBody>& applied_bodies,
                    const std::vector<std::string>& deleted_keys);

  //! Records one object of apply `id` as it is applied, in one transaction: its result (at
  //! `position` of the objects finish_apply will record) and its last applied body (`body`), or
  //! that it is gone (`deleted`). A process killed mid-apply loses nothing it applied: a field later
  //! removed from Git is still known to be Meridian's. finish_apply writes the same rows again.
  void record_object(long long id, int position, const ObjectResult& object, const AppliedBody* body, bool deleted);

  //! Reads the owner's last-applied rows once and remembers which of `bodies` they already hold,
  //! as if this connection had written them: the next finish_apply skips those. For a process
  //! that applies commit after commit (`meridian run`), whose first apply would otherwise write
  //! every row; called between reconciles, not on the way to a rollout.
  void learn_applied(const std::vector<AppliedBody>& bodies);

  //! How many last-applied bodies the last finish_apply wrote (the rest were known to be stored).
  size_t bodies_written() const { return bodies_written_; }

  //! HMAC-SHA256 of `value` under this state directory's key, the first 12 hex digits.
  std::string digest(std::string_view value) const;
  //! `digest` as a Digest function (valid while this store lives).
  Digest digester() const {
    return [this](std::string_view value) { return digest(value); };
  }

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
  bool has_column(const char* table, const char* column_name);
  long long data_version();
  //! The bodies this connection wrote to `applied` for owner_, by key, as of data_version
  //! `written_version_`; another connection's commit makes them unknown.
  std::unordered_map<std::string, std::shared_ptr<const std::string>> written_;
  long long written_version_ = -1;
  size_t bodies_written_ = 0;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* last_applied_ = nullptr; //!< finalized before db_ is closed
  //! The text stored for `body`: with sensitive values hashed when `key` names a Secret.
  const std::string& stored_text(const std::string& key, const std::string& body, std::string& scratch) const;
  std::string path_;
  std::string owner_;
  std::string hmac_key_;
};

} // namespace meridian
