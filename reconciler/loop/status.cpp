#include "loop/status.h"

#include "base/log.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

namespace meridian {
namespace {

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void key(Writer& writer, const char* name) { writer.Key(name); }

void string(Writer& writer, const char* name, const std::string& value) {
  writer.Key(name);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void string_or_null(Writer& writer, const char* name, const std::string& value) {
  writer.Key(name);
  if (value.empty())
    writer.Null();
  else
    writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void time_or_null(Writer& writer, const char* name, long long unix_seconds) {
  string_or_null(writer, name, unix_seconds > 0 ? format_utc(unix_seconds) : "");
}

void commit(Writer& writer, const char* name, const std::optional<CommitStatus>& value) {
  writer.Key(name);
  if (!value) {
    writer.Null();
    return;
  }
  writer.StartObject();
  string(writer, "id", value->id);
  string(writer, "summary", value->summary);
  time_or_null(writer, "time", value->time);
  writer.EndObject();
}

} // namespace

void StatusBoard::update(const std::function<void(LoopStatus&)>& change) {
  const std::lock_guard lock(mutex_);
  change(status_);
  ++version_;
}

std::string StatusBoard::status_json() const {
  std::unique_lock lock(mutex_);
  if (json_version_ == version_)
    return json_;
  const LoopStatus status = status_;
  const long long version = version_;
  lock.unlock();
  std::string text = render_status_json(status);
  lock.lock();
  if (version == version_) {
    json_ = text;
    json_version_ = version;
  }
  return text;
}

std::string StatusBoard::status_summary_json() const {
  const std::lock_guard lock(mutex_);
  return render_status_json(status_, false);
}

LoopStatus StatusBoard::snapshot() const {
  const std::lock_guard lock(mutex_);
  return status_;
}

void StatusBoard::set_plan(std::string plan_json) {
  const std::lock_guard lock(mutex_);
  plan_json_ = std::move(plan_json);
}

std::string StatusBoard::plan() const {
  const std::lock_guard lock(mutex_);
  return plan_json_;
}

std::string render_status_json(const LoopStatus& status, bool objects) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartObject();
  string(writer, "repository", status.repository);
  string(writer, "ref", status.ref);
  string(writer, "path", status.path);
  string(writer, "interval", status.interval);
  key(writer, "selfHeal");
  writer.Bool(status.self_heal);
  key(writer, "prune");
  writer.Bool(status.prune);
  string(writer, "phase", status.phase);
  key(writer, "suspended");
  writer.Bool(status.suspended);
  string_or_null(writer, "suspendedReason", status.suspended ? status.suspended_reason : "");
  time_or_null(writer, "suspendedSince", status.suspended ? status.suspended_since : 0);
  key(writer, "leaderElection");
  if (status.leader_election) {
    writer.StartObject();
    string(writer, "lease", status.leader_election->lease);
    string(writer, "identity", status.leader_election->identity);
    string_or_null(writer, "holder", status.leader_election->holder);
    key(writer, "leader");
    writer.Bool(status.leader_election->leader);
    writer.EndObject();
  } else {
    writer.Null();
  }
  key(writer, "sharding");
  if (status.sharding) {
    writer.StartObject();
    string(writer, "leases", status.sharding->leases);
    string(writer, "identity", status.sharding->identity);
    key(writer, "liveReplicas");
    writer.Int(status.sharding->live_replicas);
    key(writer, "held");
    writer.StartArray();
    for (const ShardStatus& shard : status.sharding->shards)
      if (shard.held)
        writer.Int(shard.shard);
    writer.EndArray();
    key(writer, "shards");
    writer.StartArray();
    for (const ShardStatus& shard : status.sharding->shards) {
      writer.StartObject();
      key(writer, "shard");
      writer.Int(shard.shard);
      string_or_null(writer, "holder", shard.holder);
      key(writer, "held");
      writer.Bool(shard.held);
      key(writer, "clusters");
      writer.StartArray();
      for (const std::string& cluster : shard.clusters)
        writer.String(cluster.c_str(), static_cast<rapidjson::SizeType>(cluster.size()));
      writer.EndArray();
      writer.EndObject();
    }
    writer.EndArray();
    writer.EndObject();
  } else {
    writer.Null();
  }
  commit(writer, "lastFetchedCommit", status.last_fetched);
  time_or_null(writer, "lastFetchTime", status.last_fetch_time);
  commit(writer, "lastAppliedCommit", status.last_applied);
  string_or_null(writer, "lastAppliedResult", status.last_applied_result);
  string_or_null(writer, "invalidCommit", status.invalid_commit);

  key(writer, "rollout");
  writer.StartObject();
  key(writer, "active");
  writer.Bool(status.rollout.active);
  string_or_null(writer, "commit", status.rollout.commit);
  string_or_null(writer, "trigger", status.rollout.trigger);
  key(writer, "wave");
  writer.Int(status.rollout.wave);
  key(writer, "waves");
  writer.Int(status.rollout.waves);
  string_or_null(writer, "region", status.rollout.region);
  string_or_null(writer, "object", status.rollout.object);
  key(writer, "progress");
  writer.StartObject();
  key(writer, "done");
  writer.Uint64(status.rollout.done);
  key(writer, "total");
  writer.Uint64(status.rollout.total);
  writer.EndObject();
  time_or_null(writer, "started", status.rollout.started);
  writer.EndObject();

  if (objects) {
    key(writer, "objects");
    writer.StartArray();
  }
  static const std::vector<ObjectStatus> no_objects;
  for (const ObjectStatus& object : objects ? status.objects : no_objects) {
    writer.StartObject();
    string(writer, "key", object.key);
    string(writer, "object", object.display);
    string(writer, "cluster", object.cluster);
    string(writer, "region", object.region);
    string(writer, "sync", object.sync);
    string(writer, "health", object.health);
    string(writer, "message", object.message);
    writer.EndObject();
  }
  if (objects)
    writer.EndArray();

  key(writer, "drift");
  writer.StartObject();
  key(writer, "count");
  writer.Uint64(status.drift.size());
  if (objects) {
    key(writer, "objects");
    writer.StartArray();
  }
  static const std::vector<DriftStatus> no_drift;
  for (const DriftStatus& drift : objects ? status.drift : no_drift) {
    writer.StartObject();
    string(writer, "key", drift.key);
    string(writer, "object", drift.display);
    string(writer, "cluster", drift.cluster);
    string(writer, "region", drift.region);
    string(writer, "change", drift.change);
    key(writer, "fields");
    writer.StartArray();
    for (const std::string& field : drift.fields)
      writer.String(field.data(), static_cast<rapidjson::SizeType>(field.size()));
    writer.EndArray();
    writer.EndObject();
  }
  if (objects)
    writer.EndArray();
  time_or_null(writer, "selfHealNextAttempt", status.self_heal_next_attempt);
  writer.EndObject();

  string_or_null(writer, "lastError", status.last_error);
  time_or_null(writer, "lastErrorTime", status.last_error_time);
  key(writer, "lastReconcile");
  if (status.last_reconcile) {
    const ReconcileStatus& last = *status.last_reconcile;
    writer.StartObject();
    string(writer, "trigger", last.trigger);
    string(writer, "result", last.result);
    string(writer, "message", last.message);
    time_or_null(writer, "started", last.started);
    time_or_null(writer, "finished", last.finished);
    key(writer, "durationSeconds");
    writer.Double(last.seconds);
    key(writer, "planSeconds");
    if (last.plan_seconds)
      writer.Double(*last.plan_seconds);
    else
      writer.Null();
    writer.EndObject();
  } else {
    writer.Null();
  }
  key(writer, "reconciles");
  writer.Uint64(status.reconciles);
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

} // namespace meridian
