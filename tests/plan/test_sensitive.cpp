// A Secret's values never appear in a plan (text, Markdown, JSON) nor in the state store: a keyed
// hash stands for each, and the state files are the owner's alone.
#include "engine_fixture.h"

#include <sqlite3.h>
#include <sys/stat.h>

using namespace engine_test;

namespace {

const std::string secret_v1 = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: default\n"
                              "data:\n  token: czNjcjN0LXRva2Vu\nstringData:\n  password: hunter2-plain\n  user: admin-plain\n";

Files secret_files(const std::string& secret) {
  return {{"clusters.yaml", cluster_yaml("c1", "cn-hangzhou")}, {"clusters/c1/secret.yaml", secret}};
}

void check_no_value(const std::string& text, const std::vector<std::string>& values) {
  for (const std::string& value : values) {
    INFO(text);
    CHECK(text.find(value) == std::string::npos);
  }
}

std::string all_formats(const Plan& plan) {
  return render_plan(plan, ReportFormat::text, false) + render_plan(plan, ReportFormat::markdown, false) +
         render_plan(plan, ReportFormat::json, false);
}

std::string stored_bodies(const fs::path& database) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(database.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* select = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT body FROM applied", -1, &select, nullptr) == SQLITE_OK);
  std::string bodies;
  while (sqlite3_step(select) == SQLITE_ROW)
    bodies += reinterpret_cast<const char*>(sqlite3_column_text(select, 0)) + std::string("\n");
  sqlite3_finalize(select);
  sqlite3_close(db);
  return bodies;
}

mode_t mode_of(const fs::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 0777;
}

} // namespace

TEST_CASE("a Secret's values are shown as keyed hashes in every plan format", "[plan][sensitive]") {
  Engine engine;
  engine.load(secret_files(secret_v1));
  const Plan created = engine.plan();
  const std::string reports = all_formats(created);
  check_no_value(reports, {"czNjcjN0LXRva2Vu", "hunter2-plain", "admin-plain"});
  CHECK(reports.find("data.token: \"(sensitive, hmac ") != std::string::npos);
  CHECK(reports.find("stringData.password: \"(sensitive, hmac ") != std::string::npos);
  // Two plans of the same values agree; the hash is 12 hex digits.
  CHECK(all_formats(engine.plan()) == reports);
  const auto& fields = change_for(created, "Secret", "db").fields;
  REQUIRE(fields.size() >= 3);
  for (const FieldChange& field : fields)
    if (field.pointer.rfind("/data/", 0) == 0 || field.pointer.rfind("/stringData/", 0) == 0)
      CHECK(field.after->size() == std::string("\"(sensitive, hmac 0123456789ab)\"").size());

  engine.converge();
  check_no_value(stored_bodies(engine.dir() / "meridian.db"), {"czNjcjN0LXRva2Vu", "hunter2-plain", "admin-plain"});

  // A changed value: before and after differ, neither in clear.
  engine.load(secret_files(replaced(secret_v1, "hunter2-plain", "correct-horse")));
  const Plan updated = engine.plan();
  REQUIRE(changes_of(updated) == std::vector<std::string>{"update Secret/default/db"});
  const auto& changed = change_for(updated, "Secret", "db").fields;
  REQUIRE(changed.size() == 1);
  CHECK(changed[0].pointer == "/stringData/password");
  CHECK(*changed[0].before != *changed[0].after);
  check_no_value(all_formats(updated), {"hunter2-plain", "correct-horse", "czNjcjN0LXRva2Vu"});
  engine.converge();
  check_no_value(stored_bodies(engine.dir() / "meridian.db"), {"correct-horse"});
}

TEST_CASE("a key removed from a Secret is still found from its hashed last-applied body", "[plan][sensitive]") {
  Engine engine;
  engine.load(secret_files(secret_v1));
  engine.converge();
  engine.load(secret_files(replaced(secret_v1, "  user: admin-plain\n", "")));
  const Plan plan = engine.plan();
  REQUIRE(changes_of(plan) == std::vector<std::string>{"update Secret/default/db"});
  const auto& fields = change_for(plan, "Secret", "db").fields;
  REQUIRE(fields.size() == 1);
  CHECK(fields[0].pointer == "/stringData/user");
  CHECK_FALSE(fields[0].after);
  check_no_value(all_formats(plan), {"admin-plain"});
  engine.converge();
  CHECK_FALSE(engine.plan().has_changes());
}

TEST_CASE("state files are the owner's: directory 0700, database and key 0600", "[state][sensitive]") {
  TempDir root;
  const fs::path directory = root.path / "state";
  {
    StateStore store((directory / "meridian.db").string());
    CHECK(store.digest("x") == store.digest("x"));
    CHECK(store.digest("x").size() == 12);
    store.begin_apply("repo", "c", "cli");
  }
  CHECK(mode_of(directory) == 0700);
  CHECK(mode_of(directory / "meridian.db") == 0600);
  CHECK(mode_of(directory / "hmac.key") == 0600);
  for (const char* companion : {"meridian.db-wal", "meridian.db-shm"})
    if (fs::exists(directory / companion))
      CHECK(mode_of(directory / companion) == 0600);
  // A database an earlier version left 0644 is tightened; the key stays the same across opens.
  ::chmod((directory / "meridian.db").c_str(), 0644);
  std::string first;
  {
    StateStore store((directory / "meridian.db").string());
    first = store.digest("value");
  }
  CHECK(mode_of(directory / "meridian.db") == 0600);
  StateStore again((directory / "meridian.db").string());
  CHECK(again.digest("value") == first);
  // Another state directory has another key: its hashes say nothing about these.
  StateStore other((root.path / "other" / "meridian.db").string());
  CHECK(other.digest("value") != first);
}

TEST_CASE("Fleet.spec.sensitiveFields hides the values of the fields it names, in any kind", "[plan][sensitive]") {
  Engine engine;
  const std::string fleet = fleet_yaml({"cn-hangzhou"}, 1, true, "10m",
                                       "  sensitiveFields:\n    - kind: ConfigMap\n      name: app\n      jsonPointers: [/data/password]\n");
  const std::string app = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: default\n"
                          "data:\n  password: opensesame-plain\n  mode: visible-plain\n";
  Files files = {{"clusters.yaml", cluster_yaml("c1", "cn-hangzhou")}, {"fleet.yaml", fleet}, {"clusters/c1/app.yaml", app}};
  engine.load(files);
  const std::string created = all_formats(engine.plan());
  check_no_value(created, {"opensesame-plain"});
  CHECK(created.find("visible-plain") != std::string::npos); // what the rule does not name stays visible
  CHECK(created.find("data.password: \"(sensitive, hmac ") != std::string::npos);
  engine.converge();

  files["clusters/c1/app.yaml"] = replaced(app, "opensesame-plain", "other-secret-plain");
  engine.load(files);
  const Plan updated = engine.plan();
  const auto& fields = change_for(updated, "ConfigMap", "app").fields;
  REQUIRE(fields.size() == 1);
  CHECK(*fields[0].before != *fields[0].after);
  check_no_value(all_formats(updated), {"opensesame-plain", "other-secret-plain"});
  // Another ConfigMap is not named by the rule: shown as it is.
  files["clusters/c1/other.yaml"] = replaced(replaced(app, "name: app", "name: other"), "opensesame-plain", "shown-plain");
  engine.load(files);
  CHECK(all_formats(engine.plan()).find("shown-plain") != std::string::npos);
}
