// What an apply records as each object's last applied configuration, when the loop keeps the
// bodies' canonical texts (BodyTexts) and the state store skips the rows it wrote itself: the rows
// must always be what a plain apply would have written, also when another connection (a
// `meridian apply` run next to `meridian run`) wrote the same file in between.
#include "../plan/engine_fixture.h"

using namespace engine_test;

namespace {

std::shared_ptr<const std::string> text(const std::string& value) { return std::make_shared<const std::string>(value); }

long long finish(StateStore& store, const std::vector<AppliedBody>& bodies, const std::vector<std::string>& deleted = {}) {
  const long long id = store.begin_apply("repo", std::string(40, 'a'), "cli");
  store.finish_apply(id, ApplyResult::succeeded, "test", {}, bodies, deleted);
  return id;
}

const std::string owner = "/fleet/repo";

} // namespace

TEST_CASE("finish_apply skips only the bodies this connection wrote, while no other connection wrote", "[apply][store]") {
  TempDir dir;
  const std::string path = (dir.path / "meridian.db").string();
  StateStore mine(path);
  StateStore other(path);
  mine.set_owner(owner);
  other.set_owner(owner);
  const auto x = text(R"({"data":{"key":"x"}})");

  finish(mine, {{"k", x}, {"j", x}});
  CHECK(mine.bodies_written() == 2);
  CHECK(mine.last_applied(owner, "k") == *x);
  CHECK(other.last_applied(owner, "j") == *x);
  mine.set_owner(owner); // as every apply does
  finish(mine, {{"k", x}, {"j", x}});
  CHECK(mine.bodies_written() == 0);

  SECTION("another connection's write is not overwritten by what this one remembers, and is undone by its next apply") {
    finish(other, {{"k", text(R"({"data":{"key":"y"}})")}});
    CHECK(mine.last_applied(owner, "k") == R"({"data":{"key":"y"}})");
    finish(mine, {{"k", x}, {"j", x}});
    CHECK(mine.bodies_written() == 2); // nothing is known after another connection's commit
    CHECK(mine.last_applied(owner, "k") == *x);
    CHECK(other.last_applied(owner, "k") == *x);
  }
  SECTION("another connection's deletion is undone by the next apply") {
    finish(other, {}, {"j"});
    CHECK_FALSE(mine.last_applied(owner, "j"));
    finish(mine, {{"k", x}, {"j", x}});
    CHECK(mine.last_applied(owner, "j") == *x);
  }
  SECTION("a body deleted by this connection is written again when it comes back") {
    finish(mine, {{"k", x}}, {"j"});
    CHECK_FALSE(mine.last_applied(owner, "j"));
    finish(mine, {{"k", x}, {"j", x}});
    CHECK(mine.bodies_written() == 1);
    CHECK(mine.last_applied(owner, "j") == *x);
  }
  SECTION("another text under the same key, shared or a copy of the same content") {
    const auto z = text(R"({"data":{"key":"z"}})");
    finish(mine, {{"k", z}, {"j", text(*x)}});
    CHECK(mine.bodies_written() == 1);
    CHECK(mine.last_applied(owner, "k") == *z);
    CHECK(mine.last_applied(owner, "j") == *x);
  }
  SECTION("another owner: nothing this connection wrote for the first counts") {
    mine.set_owner("/other/repo");
    finish(mine, {{"k", x}});
    CHECK(mine.bodies_written() == 1);
    CHECK(mine.last_applied("/other/repo", "k") == *x);
    CHECK(mine.last_applied(owner, "k") == *x);
  }
}

TEST_CASE("learn_applied: a new connection learns which bodies the store holds, and its first apply writes the others", "[apply][store]") {
  TempDir dir;
  const std::string path = (dir.path / "meridian.db").string();
  const auto x = text(R"({"data":{"key":"x"}})");
  const auto y = text(R"({"data":{"key":"y"}})");
  {
    StateStore earlier(path); // a process that ran before
    earlier.set_owner(owner);
    finish(earlier, {{"same", x}, {"changed", x}, {"gone", x}});
    earlier.set_owner("/other/repo");
    finish(earlier, {{"elsewhere", x}});
  }
  StateStore store(path);
  store.set_owner(owner);
  const std::vector<AppliedBody> bodies = {{"same", text(*x)}, {"changed", y}, {"new", x}, {"elsewhere", x}};

  SECTION("the rows that hold the same text are not written again") {
    store.learn_applied(bodies);
    finish(store, bodies);
    CHECK(store.bodies_written() == 3); // changed, new, and elsewhere (another owner's row is not this owner's)
    CHECK(store.last_applied(owner, "same") == *x);
    CHECK(store.last_applied(owner, "changed") == *y);
    CHECK(store.last_applied(owner, "new") == *x);
    CHECK(store.last_applied(owner, "elsewhere") == *x);
    CHECK(store.last_applied(owner, "gone") == *x); // not in this apply: left as it is
    finish(store, bodies);
    CHECK(store.bodies_written() == 0);
  }
  SECTION("another connection's write after learning makes it all unknown again") {
    store.learn_applied(bodies);
    StateStore other(path);
    other.set_owner(owner);
    finish(other, {{"same", y}});
    finish(store, bodies);
    CHECK(store.bodies_written() == 4);
    CHECK(store.last_applied(owner, "same") == *x);
  }
  SECTION("without learning, the first apply writes every row") {
    finish(store, bodies);
    CHECK(store.bodies_written() == 4);
  }
}

TEST_CASE("BodyTexts writes a body's canonical text once and keeps the texts of one desired state", "[apply]") {
  Engine engine;
  engine.load({{"clusters.yaml", cluster_yaml("hz", "cn-hangzhou")}, {"clusters/hz/config.yaml", configmap_yaml("settings")}});
  const DesiredObject& config = engine.desired().objects.back();
  REQUIRE(config.ref.kind == "ConfigMap");
  BodyTexts texts;
  const auto first = texts.text(config.body);
  CHECK(*first == write_canonical(*config.body));
  CHECK(texts.text(config.body) == first); // the same text, not written again
  auto other = std::make_shared<JsonDocument>();
  other->CopyFrom(*config.body, other->GetAllocator());
  CHECK(texts.text(other) != first); // another body, even with the same content, is its own entry
  CHECK(*texts.text(other) == *first);
  CHECK(texts.size() == 2);
  const std::vector<AppliedBody> bodies = texts.bodies_of(engine.desired());
  REQUIRE(bodies.size() == engine.desired().objects.size());
  CHECK(bodies.back().key == config.ref.key());
  CHECK(bodies.back().text == first); // the text written before, not another
  CHECK(texts.size() == 3);           // and the Cluster's, written now
  texts.retain(engine.desired());
  CHECK(texts.size() == 2);
  CHECK(texts.text(config.body) == first);
  engine.load({{"clusters.yaml", cluster_yaml("hz", "cn-hangzhou")}});
  texts.retain(engine.desired());
  CHECK(texts.size() == 0); // a new state's bodies are other bodies
  CHECK(*first == R"({"apiVersion":"v1","data":{"key":"value"},"kind":"ConfigMap","metadata":{"annotations":{"meridian.io/managed-by":"/fleet/repo",)"
                  R"("meridian.io/tracking-id":"hz:/ConfigMap:default/settings"},"labels":{"meridian.io/owner":"fleet-repo-f28247132f7e435d"},)"
                  R"("name":"settings","namespace":"default"}})");
}

TEST_CASE("applies with kept body texts record what applies without them record", "[apply][store]") {
  const auto files = [](const std::string& value) {
    return Files{{"fleet.yaml", fleet_yaml({"cn-hangzhou"})},
                 {"clusters.yaml", cluster_yaml("hz", "cn-hangzhou")},
                 {"pools.yaml", pool_yaml("hz-pool", "hz", "cn-hangzhou")},
                 {"clusters/hz/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\n"
                                             "data:\n  key: " + value + "\n"},
                 {"clusters/hz/extra.yaml", configmap_yaml("extra")},
                 {"clusters/hz/web.yaml", web_deployment_yaml}};
  };
  Engine engine("edge");
  BodyTexts texts;
  ApplyOptions options;
  options.body_texts = &texts;
  const auto apply_ok = [&] {
    const ApplyReport report = engine.apply(engine.plan(), options);
    INFO(engine.joined_log());
    REQUIRE(report.result == ApplyResult::succeeded);
    texts.retain(engine.desired());
  };
  // Every object's row is the canonical text of its desired body.
  const auto check_rows = [&] {
    for (const DesiredObject& object : engine.desired().objects) {
      INFO(object.ref.key());
      CHECK(engine.store().last_applied(Engine::owner, object.ref.key()) == write_canonical(*object.body));
    }
  };
  engine.load(files("one"));
  apply_ok();
  check_rows();
  CHECK(texts.size() == engine.desired().objects.size());

  engine.load(files("two"));
  apply_ok();
  check_rows();
  apply_ok(); // in sync: every row is known
  CHECK(engine.store().bodies_written() == 0);
  check_rows();
  CHECK(texts.size() == engine.desired().objects.size()); // the first commit's bodies were let go

  // Another connection rewrites an unchanged object's row and deletes another's.
  StateStore other((engine.dir() / "meridian.db").string());
  other.set_owner(Engine::owner);
  const ObjectRef extra{"hz", "", "ConfigMap", "default", "extra"};
  const ObjectRef web{"hz", "apps", "Deployment", "default", "web"};
  const long long id = other.begin_apply("repo", std::string(40, 'b'), "cli");
  other.finish_apply(id, ApplyResult::succeeded, "elsewhere", {}, {{extra.key(), std::make_shared<const std::string>("{}")}}, {web.key()});
  REQUIRE(engine.store().last_applied(Engine::owner, extra.key()) == "{}");
  apply_ok();
  check_rows();
}

TEST_CASE("each object's last-applied body is recorded as it is applied: a crash mid-apply loses none", "[apply][store][crash]") {
  Engine engine;
  Files files = {{"clusters.yaml", cluster_yaml("c1", "cn-hangzhou")},
                 {"clusters/c1/a.yaml", configmap_yaml("a")},
                 {"clusters/c1/b.yaml", configmap_yaml("b")}};
  engine.load(files);
  engine.converge();
  // The next commit sets a new field on `a`, then the process dies while it applies `b`.
  files["clusters/c1/a.yaml"] = replaced(configmap_yaml("a"), "data:\n  key: value\n",
                                         "data:\n  key: value\n  added: yes-set\n");
  files["clusters/c1/b.yaml"] = replaced(configmap_yaml("b"), "key: value", "key: changed");
  engine.load(files);
  RecordingBackend recording(engine.sim());
  bool seen_before_crash = false;
  recording.on_apply = [&](const ObjectRef& ref) {
    if (ref.name != "b")
      return;
    // What another process would find now: `a` recorded, as applied, with its new body.
    StateStore other((engine.dir() / "meridian.db").string());
    const auto body = other.last_applied(Engine::owner, ObjectRef{"c1", "", "ConfigMap", "default", "a"}.key());
    REQUIRE(body);
    CHECK(body->find("yes-set") != std::string::npos);
    const ApplyRecord record = other.history(1).at(0);
    CHECK(record.result == ApplyResult::running);
    REQUIRE(record.objects.size() == 1);
    CHECK(record.objects[0].display == "ConfigMap/default/a");
    CHECK(record.objects[0].result == ObjectOutcome::applied);
    seen_before_crash = true;
    throw std::runtime_error("killed"); // nothing after this point runs: as kill -9 would leave it
  };
  engine.use_backend(&recording);
  CHECK_THROWS_WITH(engine.apply(engine.plan()), "killed");
  CHECK(seen_before_crash);
  engine.use_backend(nullptr);
  // The field is removed from Git: the plan removes it from live, as it was Meridian's.
  files["clusters/c1/a.yaml"] = configmap_yaml("a");
  engine.load(files);
  const Plan plan = engine.plan();
  const auto& fields = change_for(plan, "ConfigMap", "a").fields;
  REQUIRE(fields.size() == 1);
  CHECK(fields[0].pointer == "/data/added");
  CHECK_FALSE(fields[0].after);
}
