#include "loop/loop.h"
#include "loop/trigger.h"

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

using namespace meridian;
using namespace std::chrono_literals;

TEST_CASE("triggers posted during a reconcile coalesce into one follow-up", "[trigger]") {
  TriggerQueue queue;
  // The loop is busy reconciling: five pushes arrive.
  for (int push = 0; push < 5; ++push)
    queue.post(TriggerKind::schedule);
  queue.post(TriggerKind::webhook);
  const auto first = queue.wait_until(TriggerQueue::Clock::now() + 1s);
  REQUIRE(first);
  CHECK(*first == TriggerKind::webhook); // a webhook outranks the schedule when they merge
  CHECK(queue.coalesced() == 5);
  // Nothing else is pending: the next wait runs into its deadline.
  const auto start = TriggerQueue::Clock::now();
  CHECK_FALSE(queue.wait_until(start + 50ms));
  CHECK(TriggerQueue::Clock::now() - start >= 50ms);
}

TEST_CASE("a webhook merged first is not downgraded by a later schedule", "[trigger]") {
  TriggerQueue queue;
  queue.post(TriggerKind::webhook);
  queue.post(TriggerKind::schedule);
  CHECK(queue.wait_until(TriggerQueue::Clock::now() + 1s) == TriggerKind::webhook);
}

TEST_CASE("posts from many threads wake one waiter once", "[trigger]") {
  TriggerQueue queue;
  std::vector<std::thread> posters;
  for (int thread = 0; thread < 8; ++thread)
    posters.emplace_back([&] {
      for (int post = 0; post < 100; ++post)
        queue.post(TriggerKind::webhook);
    });
  for (std::thread& poster : posters)
    poster.join();
  CHECK(queue.wait_until(TriggerQueue::Clock::now() + 1s) == TriggerKind::webhook);
  CHECK_FALSE(queue.wait_until(TriggerQueue::Clock::now() + 20ms));
  CHECK(queue.coalesced() == 799);
}

TEST_CASE("a post wakes a sleeping waiter before its deadline", "[trigger]") {
  TriggerQueue queue;
  std::thread poster([&] {
    std::this_thread::sleep_for(50ms);
    queue.post(TriggerKind::webhook);
  });
  const auto start = TriggerQueue::Clock::now();
  const auto woken = queue.wait_until(start + 10s);
  poster.join();
  CHECK(woken == TriggerKind::webhook);
  CHECK(TriggerQueue::Clock::now() - start < 5s);
}

TEST_CASE("stop wakes the waiter for good", "[trigger]") {
  TriggerQueue queue;
  std::thread stopper([&] {
    std::this_thread::sleep_for(30ms);
    queue.stop();
  });
  CHECK_FALSE(queue.wait_until(TriggerQueue::Clock::now() + 10s));
  stopper.join();
  queue.post(TriggerKind::webhook);
  CHECK_FALSE(queue.wait_until(TriggerQueue::Clock::now() + 10s));
  CHECK(queue.stopped());
}

TEST_CASE("interval jitter stays within ±10% and is reproducible from the seed", "[trigger]") {
  std::mt19937_64 first(42), second(42);
  bool below = false, above = false;
  for (int draw = 0; draw < 1000; ++draw) {
    const auto delay = jittered(60s, 0.1, first);
    CHECK(delay >= 54s);
    CHECK(delay <= 66s);
    below = below || delay < 60s;
    above = above || delay > 60s;
    CHECK(jittered(60s, 0.1, second) == delay);
  }
  CHECK(below);
  CHECK(above);
}

TEST_CASE("self-heal backs off exponentially per set of objects", "[trigger]") {
  HealBackoff backoff(BackoffPolicy{2s, 3, 60s});
  const auto now = HealBackoff::Clock::now();
  const std::string set = "c/apps/DaemonSet/kube-system/agent";
  CHECK(backoff.next_attempt(set) <= now); // the first heal is immediate
  backoff.record_attempt(set, now);
  CHECK(backoff.next_attempt(set) == now + 2s);
  backoff.record_attempt(set, now);
  CHECK(backoff.next_attempt(set) == now + 6s);
  backoff.record_attempt(set, now);
  CHECK(backoff.next_attempt(set) == now + 18s);
  backoff.record_attempt(set, now);
  CHECK(backoff.next_attempt(set) == now + 54s);
  backoff.record_attempt(set, now);
  CHECK(backoff.next_attempt(set) == now + 60s); // capped
  CHECK(backoff.attempts(set) == 5);
  // Another set of objects has its own backoff.
  CHECK(backoff.next_attempt("other") <= now);
  // A clean reconcile forgets the fight.
  backoff.reset();
  CHECK(backoff.next_attempt(set) <= now);
  CHECK(backoff.attempts(set) == 0);
}
