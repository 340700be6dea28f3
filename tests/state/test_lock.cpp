// The state directory's lock, taken by real processes (fork), and a killed apply whose pid is now
// another process's.
#include "../support/scratch_dir.h"
#include "base/error.h"
#include "state/lock.h"
#include "state/store.h"

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace meridian;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

//! Named for the files it leaves when a test is killed.
struct TempDir : meridian::testing::ScratchDir {
  TempDir() : ScratchDir("meridian-lock") {}
};

std::string refusal(StateLock& lock, std::chrono::milliseconds timeout) {
  try {
    lock.acquire(timeout);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

void sql(const fs::path& database, const std::string& statement) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(database.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
}

} // namespace

TEST_CASE("a second holder of the state lock is refused, naming the first", "[state][lock]") {
  TempDir dir;
  auto first = make_file_lock(dir.path.string(), "meridian apply");
  first->acquire(0ms);
  auto second = make_file_lock(dir.path.string(), "meridian run");
  const std::string message = refusal(*second, 0ms);
  INFO(message);
  CHECK(message.find(dir.path.string() + "/lock: the state directory is in use by pid " + std::to_string(getpid())) == 0);
  CHECK(message.find("(meridian apply, since ") != std::string::npos);
  CHECK(message.find("waited 0s (--lock-timeout)") != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);

  // Waiting: refused after the timeout, or taken as soon as the first lets go.
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(refusal(*second, 300ms).empty());
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);
  std::thread releaser([&] {
    std::this_thread::sleep_for(200ms);
    first->release();
  });
  CHECK(refusal(*second, 5000ms).empty());
  releaser.join();
  const auto holder = second->holder();
  REQUIRE(holder);
  CHECK(holder->command == "meridian run");
  CHECK(holder->pid == getpid());
}

TEST_CASE("a killed holder leaves the state lock free", "[state][lock]") {
  TempDir dir;
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto lock = make_file_lock(dir.path.string(), "meridian apply");
    lock->acquire(0ms);
    const char byte = 'x';
    [[maybe_unused]] auto written = write(ready[1], &byte, 1);
    pause();
    _exit(0);
  }
  char byte = 0;
  REQUIRE(read(ready[0], &byte, 1) == 1);
  auto mine = make_file_lock(dir.path.string(), "meridian apply");
  const std::string message = refusal(*mine, 0ms);
  CHECK(message.find("in use by pid " + std::to_string(child)) != std::string::npos);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  CHECK(refusal(*mine, 0ms).empty());
  close(ready[0]);
  close(ready[1]);
}

TEST_CASE("an apply whose pid now names another process is interrupted, not running", "[state][lock]") {
  TempDir dir;
  const fs::path database = dir.path / "meridian.db";
  long long id = 0;
  {
    StateStore store(database.string());
    id = store.begin_apply("repo", "c", "cli");
  }
  // This process is alive and recorded it: still running.
  {
    StateStore store(database.string());
    CHECK(store.history(1).at(0).result == ApplyResult::running);
  }
  // The same pid, but started at another time: a new process took the pid (PID 1 of a restarted container).
  sql(database, "UPDATE applies SET pid_start = pid_start + 1 WHERE id = " + std::to_string(id));
  StateStore store(database.string());
  const ApplyRecord record = store.history(1).at(0);
  CHECK(record.result == ApplyResult::interrupted);
}
