#include "manifest/yaml_parser.h"

#include <catch2/catch.hpp>

using namespace meridian;

namespace {
std::unique_ptr<YamlFile> parse_ok(std::string_view text) {
  auto file = parse_yaml(text);
  INFO((file->error ? file->error->message : std::string()));
  REQUIRE_FALSE(file->error);
  return file;
}
} // namespace

TEST_CASE("scalars keep the meaning Kubernetes gives them", "[yaml]") {
  const auto file = parse_ok("a: \"1.30\"\nb: 3\nc: true\nd: yes\ne: ~\nf: 1.5\ng: '007'\nh: 0x1F\ni: 1.30.7\nj: -4\n");
  const Json& doc = file->documents.at(0).value;
  CHECK(doc["a"].IsString());
  CHECK(std::string(doc["a"].GetString()) == "1.30");
  CHECK(doc["b"].IsInt64());
  CHECK(doc["b"].GetInt64() == 3);
  CHECK(doc["c"].IsTrue());
  CHECK(doc["d"].IsTrue());
  CHECK(doc["e"].IsNull());
  CHECK(doc["f"].IsDouble());
  CHECK(std::string(doc["g"].GetString()) == "007");
  CHECK(doc["h"].GetInt64() == 31);
  CHECK(std::string(doc["i"].GetString()) == "1.30.7");
  CHECK(doc["j"].GetInt64() == -4);
}

TEST_CASE("multi-document files skip empty documents and keep lines", "[yaml]") {
  const auto file = parse_ok("---\n# only a comment\n---\nkind: A\n---\n\n---\nkind: B\n");
  REQUIRE(file->documents.size() == 2);
  CHECK(file->documents[0].line == 4);
  CHECK(file->documents[1].line == 8);
  CHECK(file->documents[1].index == 1);
}

TEST_CASE("hostile input gives one error with a line", "[yaml]") {
  SECTION("tab indentation") {
    auto file = parse_yaml("a:\n\tb: 1\n");
    REQUIRE(file->error);
    CHECK(file->error->line == 2);
    CHECK(file->error->message.find("tab") != std::string::npos);
  }
  SECTION("duplicate keys") {
    auto file = parse_yaml("a: 1\nb: 2\na: 3\n");
    REQUIRE(file->error);
    CHECK(file->error->line == 3);
    CHECK(file->error->message == "duplicate key \"a\" (first defined at line 1)");
  }
  SECTION("alias bomb") {
    std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    for (char level = 'b'; level <= 'j'; ++level)
      text += std::string(1, level) + ": &" + level + " [*" + char(level - 1) + ", *" + char(level - 1) + ", *" +
              char(level - 1) + ", *" + char(level - 1) + ", *" + char(level - 1) + ", *" + char(level - 1) + ", *" +
              char(level - 1) + ", *" + char(level - 1) + ", *" + char(level - 1) + ", *" + char(level - 1) + "]\n";
    auto file = parse_yaml(text);
    REQUIRE(file->error);
    CHECK(file->error->message.find("alias") != std::string::npos);
  }
  SECTION("deep nesting") {
    auto file = parse_yaml(std::string(100000, '[') + std::string(100000, ']'));
    REQUIRE(file->error);
    CHECK(file->error->message.find("nesting deeper") != std::string::npos);
  }
  SECTION("binary") {
    auto file = parse_yaml(std::string("a: 1\n\0\xff\xfe", 8));
    REQUIRE(file->error);
    CHECK(file->error->line == 2);
    CHECK(file->error->message.find("binary") != std::string::npos);
  }
  SECTION("not UTF-8") {
    auto file = parse_yaml("a: caf\xe9\n");
    REQUIRE(file->error);
    CHECK(file->error->message.find("UTF-8") != std::string::npos);
  }
  SECTION("unclosed quote") {
    auto file = parse_yaml("a: \"open\nb: 2\n");
    REQUIRE(file->error);
    CHECK(file->error->line == 1);
    CHECK(file->error->message.find("unclosed") != std::string::npos);
  }
}

TEST_CASE("aliases and merge keys expand like go-yaml", "[yaml]") {
  const auto file = parse_ok("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n");
  const Json& use = file->documents[0].value["use"];
  CHECK(use["x"].GetInt64() == 1);
  CHECK(use["y"].GetInt64() == 3);
}

TEST_CASE("locate_line finds keys, list items and falls back to the parent", "[yaml]") {
  const std::string text = "---\nkind: A\n---\nkind: B\nspec:\n  units:\n  - resource: idc\n  - resource: ecs\n    max: 4\n";
  CHECK(locate_line(text, 1, "/spec/units/1/max") == 9);
  CHECK(locate_line(text, 1, "/spec/units/0") == 7);
  CHECK(locate_line(text, 1, "/spec/units/1/missing") == 8);
  CHECK(locate_line(text, 0, "/kind") == 2);
}
