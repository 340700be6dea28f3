// Apply and object outcomes: the names history stores, read back; a name the store does not know.
#include "../support/scratch_dir.h"
#include "base/error.h"
#include "state/outcome.h"
#include "state/store.h"

#include <catch2/catch.hpp>

#include <sqlite3.h>

using namespace meridian;

TEST_CASE("apply results and object outcomes keep the names history has always stored", "[state][outcome]") {
  const std::vector<std::pair<ApplyResult, std::string>> results{{ApplyResult::running, "running"},
                                                                  {ApplyResult::succeeded, "succeeded"},
                                                                  {ApplyResult::failed, "failed"},
                                                                  {ApplyResult::halted, "halted"},
                                                                  {ApplyResult::interrupted, "interrupted"}};
  for (const auto& [result, name] : results) {
    CHECK(to_string(result) == name);
    CHECK(parse_apply_result(name) == result);
  }
  const std::vector<std::pair<ObjectOutcome, std::string>> outcomes{{ObjectOutcome::applied, "applied"},
                                                                    {ObjectOutcome::failed, "failed"},
                                                                    {ObjectOutcome::skipped, "skipped"},
                                                                    {ObjectOutcome::not_started, "not-started"}};
  for (const auto& [outcome, name] : outcomes) {
    CHECK(to_string(outcome) == name);
    CHECK(parse_object_outcome(name) == outcome);
  }
  CHECK_FALSE(parse_apply_result("Succeeded"));
  CHECK_FALSE(parse_apply_result(""));
  CHECK_FALSE(parse_object_outcome("not started"));
}

TEST_CASE("history refuses a result it does not know, naming the file and the row", "[state][outcome]") {
  const testing::ScratchDir dir("meridian-outcome");
  const std::string path = (dir.path / "meridian.db").string();
  long long id = 0;
  {
    StateStore store(path);
    id = store.begin_apply("repo", "abc", "cli");
    store.finish_apply(id, ApplyResult::halted, "1 failed", {{"k", "ConfigMap/default/x", "c1", "r1", "update", ObjectOutcome::skipped, ""}},
                       {}, {});
    const ApplyRecord record = store.history(1).at(0);
    CHECK(record.result == ApplyResult::halted);
    CHECK(record.objects.at(0).result == ObjectOutcome::skipped);
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "UPDATE applies SET result = 'exploded'", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  StateStore store(path);
  CHECK_THROWS_WITH(store.history(1), path + ": applies row " + std::to_string(id) +
                                          ": result: expected running, succeeded, failed, halted or interrupted, got 'exploded'");
}
