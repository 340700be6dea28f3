// The scheduler model against the real kube-scheduler: every case of scheduler_cases/ (Nodes, then
// Pods and ReplicaSets in the order they were created) is played through sched::schedule and must
// give the placements and FailedScheduling messages that kube-scheduler v1.26 gave in the test kit
// (scheduler_cases/*.expected, written by scheduler_capture.sh).
#include "kube_sched/scheduler.h"
#include "manifest/yaml_parser.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace meridian;
using namespace meridian::sched;

namespace {

const std::filesystem::path kCases = std::filesystem::path(MERIDIAN_SOURCE_ROOT) / "tests/backend/sim/scheduler_cases";

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void set_member(Json& object, std::string_view key, Json value, JsonAllocator& allocator) {
  if (Json* existing = const_cast<Json*>(find_member(object, key))) {
    *existing = std::move(value);
    return;
  }
  object.AddMember(Json(key.data(), static_cast<rapidjson::SizeType>(key.size()), allocator), value, allocator);
}

Json string_value(std::string_view text, JsonAllocator& allocator) {
  return Json(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
}

//! Plays one case: owns the pods it makes and the snapshot the scheduler sees.
class CasePlayer {
public:
  explicit CasePlayer(const std::filesystem::path& file) : file_(file), yaml_(parse_yaml(read_text(file))) {
    INFO(file.string());
    REQUIRE(yaml_ != nullptr);
    REQUIRE_FALSE(yaml_->error.has_value());
  }

  //! The outcome lines, as scheduler_capture.sh writes them.
  std::string play() {
    std::string outcome;
    for (const YamlDocument& document : yaml_->documents) {
      const std::string_view kind = string_member(document.value, "kind");
      const std::string name(string_member(*find_member(document.value, "metadata"), "name"));
      if (kind == "Node") {
        snapshot_.nodes.push_back(&document.value);
        continue;
      }
      std::vector<JsonDocument*> pods;
      if (kind == "Pod") {
        pods.push_back(&make_pod(document.value, nullptr, name));
        if (!string_member(*find_member(document.value, "spec"), "nodeName").empty()) {
          snapshot_.pods.push_back(pods.back());
          continue;
        }
      } else if (kind == "ReplicaSet") {
        const Json* replicas = find_path(document.value, "spec.replicas");
        for (int index = 0; replicas != nullptr && index < replicas->GetInt(); ++index)
          pods.push_back(&make_pod(*find_path(document.value, "spec.template"), &document.value,
                                   name + "-" + std::to_string(index)));
      } else {
        FAIL(file_.string() << ": kind " << kind << " is not one of Node, Pod, ReplicaSet");
      }
      outcome += place(std::string(kind) + "/" + name, pods);
    }
    return outcome;
  }

private:
  //! A Pod in namespace "sched" from a Pod manifest or a ReplicaSet's template (owned by `owner`).
  JsonDocument& make_pod(const Json& source, const Json* owner, const std::string& name) {
    JsonDocument& pod = pods_.emplace_back();
    pod.CopyFrom(source, pod.GetAllocator());
    auto& allocator = pod.GetAllocator();
    if (!pod.IsObject())
      pod.SetObject();
    set_member(pod, "kind", string_value("Pod", allocator), allocator);
    if (find_member(pod, "metadata") == nullptr)
      set_member(pod, "metadata", Json(rapidjson::kObjectType), allocator);
    Json& metadata = pod["metadata"];
    set_member(metadata, "name", string_value(name, allocator), allocator);
    set_member(metadata, "namespace", string_value("sched", allocator), allocator);
    set_member(metadata, "creationTimestamp", string_value("2026-01-01T00:00:00Z", allocator), allocator);
    if (owner != nullptr) {
      Json reference(rapidjson::kObjectType);
      set_member(reference, "apiVersion", string_value("apps/v1", allocator), allocator);
      set_member(reference, "kind", string_value("ReplicaSet", allocator), allocator);
      set_member(reference, "name", string_value(string_member(*find_member(*owner, "metadata"), "name"), allocator), allocator);
      set_member(reference, "controller", Json(true), allocator);
      Json references(rapidjson::kArrayType);
      references.PushBack(reference, allocator);
      set_member(metadata, "ownerReferences", std::move(references), allocator);
    }
    return pod;
  }

  //! Schedules `pods` one by one, binding each placed one, and returns its outcome lines.
  std::string place(const std::string& workload, const std::vector<JsonDocument*>& pods) {
    std::map<std::string, int> bound;
    std::map<std::string, int> pending;
    for (JsonDocument* pod : pods) {
      const ScheduleDecision decision = schedule(*pod, snapshot_);
      if (decision.node.empty()) {
        ++pending[decision.message];
        continue;
      }
      ++bound[decision.node];
      auto& allocator = pod->GetAllocator();
      set_member((*pod)["spec"], "nodeName", string_value(decision.node, allocator), allocator);
      snapshot_.pods.push_back(pod);
    }
    std::vector<std::string> lines;
    for (const auto& [node, count] : bound)
      lines.push_back(workload + " " + node + " " + std::to_string(count));
    for (const auto& [message, count] : pending)
      lines.push_back(workload + " Pending " + std::to_string(count) + ": " + message);
    std::sort(lines.begin(), lines.end());
    std::string text;
    for (const std::string& line : lines)
      text += line + "\n";
    return text;
  }

  std::filesystem::path file_;
  std::unique_ptr<YamlFile> yaml_;
  std::deque<JsonDocument> pods_;
  ClusterSnapshot snapshot_;
};

std::string expected_outcome(const std::filesystem::path& file) {
  std::istringstream in(read_text(file));
  std::string text;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#')
      text += line + "\n";
  }
  return text;
}

std::vector<std::filesystem::path> case_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(kCases)) {
    if (entry.path().extension() == ".yaml")
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace

TEST_CASE("the scheduler model places pods as kube-scheduler v1.26 did in the test kit") {
  const std::vector<std::filesystem::path> files = case_files();
  REQUIRE(files.size() >= 15);
  int agreed = 0;
  for (const std::filesystem::path& file : files) {
    std::filesystem::path expected_file = file;
    expected_file.replace_extension(".expected");
    INFO("case " << file.filename().string());
    REQUIRE(std::filesystem::exists(expected_file));
    const std::string expected = expected_outcome(expected_file);
    REQUIRE_FALSE(expected.empty());
    CasePlayer player(file);
    const std::string actual = player.play();
    CHECK(actual == expected);
    agreed += actual == expected ? 1 : 0;
  }
  WARN(agreed << " of " << files.size() << " cases agree with kube-scheduler");
}
