// The simulator's SQLite file: WAL and a busy timeout, a kill mid-write leaves a consistent
// state, and two processes writing at once are serialised.
#include "sim_fixture.h"

#include "backend/sim/store.h"

#include <signal.h>
#include <sys/wait.h>

#include <thread>

using namespace sim_test;

namespace {

//! Parses without Catch2 (its macros are not thread-safe).
JsonDocument plain_parse(const std::string& text) {
  JsonDocument document;
  if (parse_json(text, document))
    throw std::runtime_error("bad JSON in test");
  return document;
}

//! Invariants that hold after every complete transaction of the loop in `churn`.
void check_consistent(const std::string& path) {
  sim::Simulator simulator(path);
  CHECK(simulator.integrity_check() == "ok");
  const auto clusters = simulator.list("clusters", "", "");
  // init writes the two fixture clusters and their three IDC nodes in one transaction.
  REQUIRE(clusters.size() == 2);
  CHECK(simulator.list("nodes", "idc-hybrid", "").size() >= 2);
  CHECK(simulator.get({"idc-cluster", "", "Node", "", "idc-master-01"}) != nullptr);
  // A pool's status always counts the nodes written in the same transaction.
  for (const LiveObject& pool : simulator.list("nodepools", "", "")) {
    const Json* total = find_pointer(*pool.object, "/status/totalNodes");
    if (total == nullptr)
      continue;
    long long nodes = 0;
    for (const LiveObject& node : simulator.list("nodes", text_of(*pool.object, "/spec/cluster"), ""))
      nodes += label(*node.object, "alibabacloud.com/nodepool-id") == pool.ref.name ? 1 : 0;
    CHECK(total->GetInt64() == nodes);
  }
  // Every bound pod's node exists.
  for (const LiveObject& pod : simulator.list("pods", "", "")) {
    const std::string node = text_of(*pod.object, "/spec/nodeName");
    if (!node.empty())
      CHECK(simulator.get({pod.ref.cluster, "", "Node", "", node}) != nullptr);
  }
}

//! Writes forever: re-seeds, scales a pool, lets time pass, applies batches of objects.
[[noreturn]] void churn(const std::string& path, const std::string& fixture) {
  sim::Simulator simulator(path);
  const auto pool = parse(R"({"apiVersion":"meridian.io/v1alpha1","kind":"NodePool","metadata":{"name":"np7b30xxx"},
    "spec":{"cluster":"idc-hybrid","region":"cn-hangzhou","type":"ess","instanceTypes":["ecs.g7.large"],"desiredSize":3}})");
  for (int round = 0;; ++round) {
    simulator.init(fixture, "idc.yaml");
    simulator.apply({"", "meridian.io", "NodePool", "", "np7b30xxx"}, *pool, false);
    simulator.wait(std::chrono::seconds(30));
    // Each wait rewrites the pool and its nodes together.
    simulator.apply({"", "meridian.io", "NodePool", "", "np7b30xxx"}, *edited(*pool, R"("desiredSize":3)", R"("desiredSize":1)"), false);
    simulator.wait(std::chrono::seconds(2));
  }
}

} // namespace

TEST_CASE("the state file is in WAL mode with a busy timeout", "[store]") {
  TempDir dir;
  const std::string path = (dir.path / "sim.db").string();
  { sim::Simulator simulator(path); }
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  sim::DatabaseHandle db(raw);
  sqlite3_stmt* statement = nullptr;
  REQUIRE(sqlite3_prepare_v2(db.get(), "PRAGMA journal_mode", -1, &statement, nullptr) == SQLITE_OK);
  sim::StatementHandle handle(statement);
  REQUIRE(sqlite3_step(statement) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(statement, 0))) == "wal");
}

TEST_CASE("a process killed mid-write leaves the previous or the next consistent state", "[store][crash]") {
  TempDir dir;
  const std::string path = (dir.path / "sim.db").string();
  const std::string fixture = slurp(source_path("examples/fixtures/idc.yaml"));
  { sim::Simulator(path).init(fixture, "idc.yaml"); }
  for (const int delay_ms : {5, 40, 120, 250}) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      try {
        churn(path, fixture);
      } catch (...) {
        _exit(3);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    REQUIRE(kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status)); // still writing when killed
    INFO("killed after " << delay_ms << " ms");
    check_consistent(path);
  }
}

TEST_CASE("two processes writing at once are serialised", "[store][concurrency]") {
  TempDir dir;
  const std::string path = (dir.path / "sim.db").string();
  { sim::Simulator(path).init(slurp(source_path("examples/fixtures/idc.yaml")), "idc.yaml"); }
  constexpr int kRounds = 25;
  std::vector<pid_t> children;
  for (const std::string name : {"alpha", "beta"}) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      try {
        sim::Simulator simulator(path);
        for (int round = 0; round < kRounds; ++round) {
          const std::string object_name = name + "-" + std::to_string(round);
          const auto map = parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + object_name +
                                 R"(","namespace":"default"},"data":{"writer":")" + name + R"("}})");
          simulator.apply({"idc-hybrid", "", "ConfigMap", "default", object_name}, *map, false);
          simulator.wait(std::chrono::seconds(1));
        }
        _exit(0);
      } catch (...) {
        _exit(3);
      }
    }
    children.push_back(child);
  }
  for (const pid_t child : children) {
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  sim::Simulator simulator(path);
  CHECK(simulator.integrity_check() == "ok");
  CHECK(simulator.list("configmaps", "idc-hybrid", "default").size() == 2 * kRounds);
  CHECK(simulator.now_ms() == 2 * kRounds * 1000); // no wait was lost to a race
}

TEST_CASE("two threads with their own connections are serialised too", "[store][concurrency]") {
  TempDir dir;
  const std::string path = (dir.path / "sim.db").string();
  { sim::Simulator(path).init(slurp(source_path("examples/fixtures/idc.yaml")), "idc.yaml"); }
  const auto writer = [&](const std::string& name) {
    sim::Simulator simulator(path);
    for (int round = 0; round < 20; ++round) {
      const std::string object_name = name + "-" + std::to_string(round);
      simulator.apply({"idc-hybrid", "", "ConfigMap", "default", object_name},
                      plain_parse(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + object_name + R"(","namespace":"default"}})"),
                      false);
      simulator.wait(std::chrono::seconds(1));
    }
  };
  std::thread first(writer, "one");
  std::thread second(writer, "two");
  first.join();
  second.join();
  sim::Simulator simulator(path);
  CHECK(simulator.list("configmaps", "", "").size() == 40);
  CHECK(simulator.now_ms() == 40'000);
}
