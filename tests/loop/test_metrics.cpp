#include "loop/metrics.h"

#include "prometheus.h"

#include <catch2/catch.hpp>

using namespace meridian;
using meridian::testing::parse_prometheus;

TEST_CASE("counters, gauges and histograms render as Prometheus text and parse back", "[metrics]") {
  Metrics metrics;
  metrics.declare("meridian_reconcile_total", "Reconciles by result.", MetricType::counter, {"result"});
  metrics.declare("meridian_reconcile_duration_seconds", "Time a reconcile took.", MetricType::histogram, {"result"},
                  {0.1, 1, 10});
  metrics.declare("meridian_git_fetch_errors_total", "Fetch errors.", MetricType::counter);
  metrics.declare("meridian_objects", "Objects by sync and health.", MetricType::gauge, {"sync", "health"});
  metrics.add("meridian_reconcile_total", {"succeeded"});
  metrics.add("meridian_reconcile_total", {"succeeded"});
  metrics.add("meridian_reconcile_total", {"failed"});
  metrics.observe("meridian_reconcile_duration_seconds", {"succeeded"}, 0.05);
  metrics.observe("meridian_reconcile_duration_seconds", {"succeeded"}, 0.5);
  metrics.observe("meridian_reconcile_duration_seconds", {"succeeded"}, 100);
  metrics.set("meridian_objects", {"Synced", "healthy"}, 7);
  metrics.set("meridian_objects", {"OutOfSync", "degraded"}, 1);

  const std::string text = metrics.render();
  const auto parsed = parse_prometheus(text);
  CHECK(parsed.types.at("meridian_reconcile_total") == "counter");
  CHECK(parsed.types.at("meridian_reconcile_duration_seconds") == "histogram");
  CHECK(parsed.types.at("meridian_objects") == "gauge");
  CHECK(parsed.help.at("meridian_reconcile_total") == "Reconciles by result.");
  CHECK(parsed.value("meridian_reconcile_total", {{"result", "succeeded"}}) == 2);
  CHECK(parsed.value("meridian_reconcile_total", {{"result", "failed"}}) == 1);
  CHECK(parsed.value("meridian_git_fetch_errors_total") == 0); // unlabelled families exist from the start
  CHECK(parsed.value("meridian_reconcile_duration_seconds_bucket", {{"result", "succeeded"}, {"le", "0.1"}}) == 1);
  CHECK(parsed.value("meridian_reconcile_duration_seconds_bucket", {{"result", "succeeded"}, {"le", "1"}}) == 2);
  CHECK(parsed.value("meridian_reconcile_duration_seconds_bucket", {{"result", "succeeded"}, {"le", "10"}}) == 2);
  CHECK(parsed.value("meridian_reconcile_duration_seconds_bucket", {{"result", "succeeded"}, {"le", "+Inf"}}) == 3);
  CHECK(parsed.value("meridian_reconcile_duration_seconds_count", {{"result", "succeeded"}}) == 3);
  CHECK(parsed.value("meridian_reconcile_duration_seconds_sum", {{"result", "succeeded"}}) == Approx(100.55));
  CHECK(parsed.value("meridian_objects", {{"sync", "Synced"}, {"health", "healthy"}}) == 7);

  // Deterministic: the same records render the same bytes, samples sorted by label values.
  CHECK(metrics.render() == text);
  CHECK(text.find("result=\"failed\"") < text.find("result=\"succeeded\""));

  metrics.clear("meridian_objects");
  CHECK_FALSE(parse_prometheus(metrics.render()).has("meridian_objects", {{"sync", "Synced"}, {"health", "healthy"}}));
}

TEST_CASE("label values are escaped", "[metrics]") {
  Metrics metrics;
  metrics.declare("m", "a \\ help\nline", MetricType::gauge, {"l"});
  metrics.set("m", {"quote \" backslash \\ newline \n"}, 1);
  const std::string text = metrics.render();
  CHECK(text.find(R"(m{l="quote \" backslash \\ newline \n"} 1)") != std::string::npos);
  CHECK(text.find("# HELP m a \\\\ help\\nline\n") != std::string::npos);
  const auto parsed = parse_prometheus(text);
  CHECK(parsed.value("m", {{"l", "quote \" backslash \\ newline \n"}}) == 1);
}

TEST_CASE("numbers are written as Prometheus reads them", "[metrics]") {
  Metrics metrics;
  metrics.declare("g", "g", MetricType::gauge, {"k"});
  metrics.set("g", {"int"}, 1700000000);
  metrics.set("g", {"fraction"}, 0.25);
  const std::string text = metrics.render();
  CHECK(text.find("g{k=\"int\"} 1700000000\n") != std::string::npos);
  CHECK(text.find("g{k=\"fraction\"} 0.25\n") != std::string::npos);
}

TEST_CASE("several registries render as one exposition with a fleet label", "[metrics]") {
  Metrics process;
  process.declare("process_open_fds", "Number of open file descriptors.", MetricType::gauge);
  process.set("process_open_fds", 7);
  Metrics edge;
  Metrics core;
  for (Metrics* fleet : {&edge, &core}) {
    fleet->declare("meridian_reconcile_total", "Reconciles by result.", MetricType::counter, {"result"});
    fleet->declare("meridian_plan_duration_seconds", "Time to plan.", MetricType::histogram, {}, {1});
  }
  edge.add("meridian_reconcile_total", {"succeeded"}, 2);
  core.add("meridian_reconcile_total", {"failed"});
  core.observe("meridian_plan_duration_seconds", {}, 0.5);
  const std::string text = Metrics::render_merged({{"", &process}, {"edge", &edge}, {"core", &core}}, "fleet");
  CHECK(text ==
        "# HELP process_open_fds Number of open file descriptors.\n"
        "# TYPE process_open_fds gauge\n"
        "process_open_fds 7\n"
        "# HELP meridian_reconcile_total Reconciles by result.\n"
        "# TYPE meridian_reconcile_total counter\n"
        "meridian_reconcile_total{fleet=\"edge\",result=\"succeeded\"} 2\n"
        "meridian_reconcile_total{fleet=\"core\",result=\"failed\"} 1\n"
        "# HELP meridian_plan_duration_seconds Time to plan.\n"
        "# TYPE meridian_plan_duration_seconds histogram\n"
        "meridian_plan_duration_seconds_bucket{fleet=\"edge\",le=\"1\"} 0\n"
        "meridian_plan_duration_seconds_bucket{fleet=\"edge\",le=\"+Inf\"} 0\n"
        "meridian_plan_duration_seconds_sum{fleet=\"edge\"} 0\n"
        "meridian_plan_duration_seconds_count{fleet=\"edge\"} 0\n"
        "meridian_plan_duration_seconds_bucket{fleet=\"core\",le=\"1\"} 1\n"
        "meridian_plan_duration_seconds_bucket{fleet=\"core\",le=\"+Inf\"} 1\n"
        "meridian_plan_duration_seconds_sum{fleet=\"core\"} 0.5\n"
        "meridian_plan_duration_seconds_count{fleet=\"core\"} 1\n");
  CHECK_NOTHROW(parse_prometheus(text));
}

TEST_CASE("collectors refresh samples before a render", "[metrics]") {
  Metrics metrics;
  metrics.declare("process_open_fds", "Number of open file descriptors.", MetricType::gauge);
  int calls = 0;
  metrics.add_collector([&calls](Metrics& target) { target.set("process_open_fds", ++calls); });
  CHECK(metrics.value("process_open_fds") == 0);
  metrics.collect();
  metrics.collect();
  CHECK(metrics.value("process_open_fds") == 2);
}
