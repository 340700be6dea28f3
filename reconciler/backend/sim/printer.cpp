// What `meridian sim get` and `sim describe` print: kubectl's columns and layout.
#include "backend/sim/sim.h"

#include "backend/sim/world.h"
#include "base/error.h"
#include "kube_rules/quantity.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace meridian::sim {
namespace {

using Row = std::vector<std::string>;

//! Columns padded like kubectl's tabwriter: each as wide as its widest cell plus three spaces.
std::string render(const std::vector<Row>& rows) {
  std::vector<size_t> widths;
  for (const Row& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t column = 0; column < row.size(); ++column)
      widths[column] = std::max(widths[column], row[column].size());
  }
  std::string out;
  for (const Row& row : rows) {
    std::string line;
    for (size_t column = 0; column < row.size(); ++column) {
      line += row[column];
      if (column + 1 < row.size())
        line += std::string(widths[column] - row[column].size() + 3, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string age(const Json& object, long long now) {
  const auto created = parse_time(text_at(object, "metadata.creationTimestamp"));
  return created ? human_duration(now - *created) : "<unknown>";
}

std::string or_none(const std::string& text) { return text.empty() ? "<none>" : text; }

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const std::string& part : parts)
    out += (out.empty() ? "" : std::string(separator)) + part;
  return out;
}

std::vector<std::string> strings(const Json* value) {
  std::vector<std::string> out;
  if (value == nullptr || !value->IsArray())
    return out;
  for (const auto& item : value->GetArray()) {
    if (item.IsString())
      out.emplace_back(item.GetString());
  }
  return out;
}

std::string node_roles(const Json& node) {
  std::set<std::string> roles;
  for (const auto& [key, value] : string_map_at(node, "metadata.labels")) {
    constexpr std::string_view prefix = "node-role.kubernetes.io/";
    if (key.rfind(prefix, 0) == 0 && key.size() > prefix.size())
      roles.insert(key.substr(prefix.size()));
    else if (key == "kubernetes.io/role" && !value.empty())
      roles.insert(value);
  }
  return roles.empty() ? "<none>" : join({roles.begin(), roles.end()}, ",");
}

std::string node_status(const Json& node) {
  std::string status = node_ready(node) ? "Ready" : "NotReady";
  const Json* unschedulable = find_path(node, "spec.unschedulable");
  if (unschedulable != nullptr && unschedulable->IsTrue())
    status += ",SchedulingDisabled";
  return status;
}

std::string internal_ip(const Json& node) {
  const Json* addresses = find_path(node, "status.addresses");
  if (addresses == nullptr || !addresses->IsArray())
    return "<none>";
  for (const auto& address : addresses->GetArray()) {
    if (string_member(address, "type") == "InternalIP")
      return text_at(address, "address");
  }
  return "<none>";
}

bool system_label(const std::string& key) {
  return key.rfind("beta.kubernetes.io/", 0) == 0 || key.rfind("failure-domain.beta.kubernetes.io/", 0) == 0 ||
         key.rfind("topology.kubernetes.io/", 0) == 0 || key == "kubernetes.io/arch" || key == "kubernetes.io/os" ||
         key == "kubernetes.io/hostname" || key == std::string(kInstanceTypeLabel);
}

std::string labels_text(const std::map<std::string, std::string>& labels, bool skip_system) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : labels) {
    if (!skip_system || !system_label(key))
      parts.push_back(key + "=" + value);
  }
  return parts.empty() ? "<none>" : join(parts, ",");
}

std::string pod_status(const Json& pod) {
  if (pod_terminating(pod))
    return "Terminating";
  const std::string phase = pod_phase(pod);
  if (phase == "Pending" && !text_at(pod, "spec.nodeName").empty())
    return "ContainerCreating";
  return phase;
}

std::string pod_ready_column(const Json& pod) {
  const Json* containers = find_path(pod, "spec.containers");
  const size_t total = containers != nullptr && containers->IsArray() ? containers->Size() : 0;
  size_t ready = 0;
  if (const Json* statuses = find_path(pod, "status.containerStatuses"); statuses != nullptr && statuses->IsArray()) {
    for (const auto& status : statuses->GetArray()) {
      const Json* flag = find_member(status, "ready");
      ready += flag != nullptr && flag->IsTrue() ? 1 : 0;
    }
  }
  return fmt::format("{}/{}", ready, total);
}

std::string containers_column(const Json& object, std::string_view field) {
  std::vector<std::string> values;
  if (const Json* containers = find_path(object, "spec.template.spec.containers"); containers != nullptr && containers->IsArray()) {
    for (const auto& container : containers->GetArray())
      values.push_back(text_at(container, field));
  }
  return or_none(join(values, ","));
}

std::string selector_column(const Json& object, std::string_view path) {
  return labels_text(string_map_at(object, path), false);
}

std::string number(const Json& object, std::string_view path) { return std::to_string(int_at(object, path, 0)); }

//! Header and cells of one kind's table.
Row header_for(const std::string& kind, const std::string& group, bool wide) {
  if (group == kFleetGroup && kind == "Cluster")
    return wide ? Row{"NAME", "TYPE", "REGION", "STATE", "VERSION", "AGE", "CLUSTER-ID", "ADDONS"}
                : Row{"NAME", "TYPE", "REGION", "STATE", "VERSION", "AGE"};
  if (group == kFleetGroup && kind == "NodePool")
    return wide ? Row{"NAME", "CLUSTER", "REGION", "TYPE", "STATE", "DESIRED", "READY", "AGE", "INSTANCE-TYPES", "MESSAGE"}
                : Row{"NAME", "CLUSTER", "REGION", "TYPE", "STATE", "DESIRED", "READY", "AGE"};
  if (group.empty() && kind == "Node")
    return wide ? Row{"NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "INSTANCE-TYPE", "REGION", "LABELS"}
                : Row{"NAME", "STATUS", "ROLES", "AGE", "VERSION"};
  if (group.empty() && kind == "Pod")
    return wide ? Row{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"} : Row{"NAME", "READY", "STATUS", "RESTARTS", "AGE"};
  if (kind == "DaemonSet")
    return wide ? Row{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"}
                : Row{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"};
  if (group == "apps" && kind == "Deployment")
    return wide ? Row{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"}
                : Row{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"};
  if (group == "apps" && kind == "ReplicaSet")
    return wide ? Row{"NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"}
                : Row{"NAME", "DESIRED", "CURRENT", "READY", "AGE"};
  if (group.empty() && kind == "Namespace")
    return {"NAME", "STATUS", "AGE"};
  if (group.empty() && kind == "ConfigMap")
    return {"NAME", "DATA", "AGE"};
  return {"NAME", "AGE"};
}

Row cells_for(const ObjectRef& ref, const Json& object, bool wide, long long now) {
  const std::string& kind = ref.kind;
  const std::string& group = ref.group;
  const std::string name = ref.name;
  if (group == kFleetGroup && kind == "Cluster") {
    Row row{name, text_at(object, "spec.type"), text_at(object, "spec.region"), text_at(object, "status.state"),
            or_none(text_at(object, "status.currentVersion", text_at(object, "spec.kubernetesVersion"))), age(object, now)};
    if (wide) {
      row.push_back(or_none(text_at(object, "status.clusterId")));
      row.push_back(or_none(join(strings(find_path(object, "spec.addons")), ",")));
    }
    return row;
  }
  if (group == kFleetGroup && kind == "NodePool") {
    Row row{name, text_at(object, "spec.cluster"), text_at(object, "spec.region"), text_at(object, "spec.type", "ess"),
            text_at(object, "status.state"), number(object, "status.desiredNodes"), number(object, "status.healthyNodes"), age(object, now)};
    if (wide) {
      row.push_back(or_none(join(strings(find_path(object, "spec.instanceTypes")), ",")));
      row.push_back(or_none(text_at(object, "status.message")));
    }
    return row;
  }
  if (group.empty() && kind == "Node") {
    Row row{name, node_status(object), node_roles(object), age(object, now), text_at(object, "status.nodeInfo.kubeletVersion")};
    if (wide) {
      const auto labels = string_map_at(object, "metadata.labels");
      const auto type = labels.find(std::string(kInstanceTypeLabel));
      const auto region = labels.find(std::string(kRegionLabel));
      row.push_back(internal_ip(object));
      row.push_back(type == labels.end() ? "<none>" : type->second);
      row.push_back(region == labels.end() ? "<none>" : region->second);
      row.push_back(labels_text(labels, true));
    }
    return row;
  }
  if (group.empty() && kind == "Pod") {
    Row row{name, pod_ready_column(object), pod_status(object), "0", age(object, now)};
    if (wide) {
      row.push_back(or_none(text_at(object, "status.podIP")));
      row.push_back(or_none(text_at(object, "spec.nodeName")));
    }
    return row;
  }
  if (kind == "DaemonSet") {
    Row row{name,
            number(object, "status.desiredNumberScheduled"),
            number(object, "status.currentNumberScheduled"),
            number(object, "status.numberReady"),
            number(object, "status.updatedNumberScheduled"),
            number(object, "status.numberAvailable"),
            selector_column(object, "spec.template.spec.nodeSelector"),
            age(object, now)};
    if (wide) {
      row.push_back(containers_column(object, "name"));
      row.push_back(containers_column(object, "image"));
      row.push_back(selector_column(object, "spec.selector.matchLabels"));
    }
    return row;
  }
  if (group == "apps" && kind == "Deployment") {
    Row row{name, fmt::format("{}/{}", int_at(object, "status.readyReplicas", 0), int_at(object, "spec.replicas", 1)),
            number(object, "status.updatedReplicas"), number(object, "status.availableReplicas"), age(object, now)};
    if (wide) {
      row.push_back(containers_column(object, "name"));
      row.push_back(containers_column(object, "image"));
      row.push_back(selector_column(object, "spec.selector.matchLabels"));
    }
    return row;
  }
  if (group == "apps" && kind == "ReplicaSet") {
    Row row{name, number(object, "spec.replicas"), number(object, "status.replicas"), number(object, "status.readyReplicas"), age(object, now)};
    if (wide) {
      row.push_back(containers_column(object, "name"));
      row.push_back(containers_column(object, "image"));
      row.push_back(selector_column(object, "spec.selector.matchLabels"));
    }
    return row;
  }
  if (group.empty() && kind == "Namespace")
    return {name, "Active", age(object, now)};
  if (group.empty() && kind == "ConfigMap") {
    const Json* data = find_member(object, "data");
    return {name, std::to_string(data != nullptr && data->IsObject() ? data->MemberCount() : 0), age(object, now)};
  }
  return {name, age(object, now)};
}

// ---- YAML ----

bool plain_safe(std::string_view text) {
  if (text.empty() || text.front() == ' ' || text.back() == ' ')
    return false;
  static const std::set<std::string, std::less<>> kReserved = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n",
                                                                "True", "False", "Yes", "No", "On", "Off", "Null", "NULL", "TRUE", "FALSE"};
  if (kReserved.count(text) != 0)
    return false;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@`").find(text.front()) != std::string_view::npos)
    return false;
  if (text.find(": ") != std::string_view::npos || text.find(" #") != std::string_view::npos || text.back() == ':')
    return false;
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20)
      return false;
  }
  // Anything that reads as a number stays a string only when quoted.
  const bool numeric = std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E' || c == '_';
  });
  return !numeric && !(text.size() > 1 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o'));
}

std::string yaml_scalar(const Json& value) {
  if (value.IsString()) {
    const std::string_view text(value.GetString(), value.GetStringLength());
    return plain_safe(text) ? std::string(text) : write_compact(value);
  }
  if (value.IsNull())
    return "null";
  return write_compact(value);
}

std::string yaml_key(std::string_view key) {
  if (plain_safe(key))
    return std::string(key);
  Json text(rapidjson::StringRef(key.data(), key.size()));
  return write_compact(text);
}

void emit_yaml(const Json& value, size_t indent, std::string& out);

std::vector<const Json::Member*> sorted_members(const Json& value) {
  std::vector<const Json::Member*> members;
  for (const auto& member : value.GetObject())
    members.push_back(&member);
  std::sort(members.begin(), members.end(), [](const Json::Member* a, const Json::Member* b) {
    return std::string_view(a->name.GetString(), a->name.GetStringLength()) < std::string_view(b->name.GetString(), b->name.GetStringLength());
  });
  return members;
}

bool is_empty_container(const Json& value) {
  return (value.IsObject() && value.MemberCount() == 0) || (value.IsArray() && value.Empty());
}

//! One "key: value" or "- value" entry whose first line continues `prefix`.
void emit_entry(const std::string& prefix, const Json& value, size_t indent, std::string& out) {
  if (is_empty_container(value)) {
    out += prefix + (value.IsObject() ? " {}\n" : " []\n");
    return;
  }
  if (value.IsObject()) {
    out += prefix + "\n";
    emit_yaml(value, indent + 2, out);
    return;
  }
  if (value.IsArray()) {
    out += prefix + "\n";
    emit_yaml(value, indent, out); // kubectl keeps list items at the key's indentation
    return;
  }
  out += prefix + " " + yaml_scalar(value) + "\n";
}

void emit_yaml(const Json& value, size_t indent, std::string& out) {
  const std::string pad(indent, ' ');
  if (value.IsObject()) {
    for (const Json::Member* member : sorted_members(value))
      emit_entry(pad + yaml_key({member->name.GetString(), member->name.GetStringLength()}) + ":", member->value, indent, out);
    return;
  }
  if (value.IsArray()) {
    for (const auto& item : value.GetArray()) {
      if (item.IsObject() && item.MemberCount() > 0) {
        std::string nested;
        emit_yaml(item, indent + 2, nested);
        out += pad + "- " + nested.substr(indent + 2);
        continue;
      }
      if (item.IsArray() && !item.Empty()) {
        std::string nested;
        emit_yaml(item, indent + 2, nested);
        out += pad + "- " + nested.substr(indent + 2);
        continue;
      }
      out += pad + "- " + (is_empty_container(item) ? (item.IsObject() ? "{}" : "[]") : yaml_scalar(item)) + "\n";
    }
    return;
  }
  out += pad + yaml_scalar(value) + "\n";
}

// ---- describe ----

std::string describe_map(std::string_view title, const std::map<std::string, std::string>& map, size_t width = 14) {
  std::string out = fmt::format("{:<{}}", std::string(title) + ":", width);
  if (map.empty())
    return out + "<none>\n";
  bool first = true;
  for (const auto& [key, value] : map) {
    out += (first ? "" : std::string(width, ' ')) + key + "=" + value + "\n";
    first = false;
  }
  return out;
}

std::string describe_events(World& world, const ObjectRef& ref) {
  const std::vector<const StoredEvent*> events = world.events_for(ref);
  if (events.empty())
    return "Events:       <none>\n";
  std::vector<Row> rows = {{"  Type", "Reason", "Age", "From", "Message"}, {"  ----", "------", "----", "----", "-------"}};
  for (const StoredEvent* event : events) {
    std::string when = human_duration(world.now() - event->last_ms);
    if (event->count > 1)
      when = fmt::format("{} (x{} over {})", when, event->count, human_duration(world.now() - event->first_ms));
    rows.push_back({"  " + event->type, event->reason, when, event->source, event->message});
  }
  return "Events:\n" + render(rows);
}

std::string resource_lines(const std::map<std::string, std::string>& resources) {
  std::string out;
  for (const auto& [key, value] : resources)
    out += fmt::format("  {}:{}{}\n", key, std::string(std::max<size_t>(1, 20 - key.size()), ' '), value);
  return out;
}

std::string taints_text(const Json* taints, size_t width) {
  std::vector<std::string> lines;
  if (taints != nullptr && taints->IsArray()) {
    for (const auto& taint : taints->GetArray()) {
      const std::string value = text_at(taint, "value");
      lines.push_back(fmt::format("{}{}:{}", text_at(taint, "key"), value.empty() ? "" : "=" + value, text_at(taint, "effect")));
    }
  }
  if (lines.empty())
    return "<none>\n";
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i)
    out += (i == 0 ? "" : std::string(width, ' ')) + lines[i] + "\n";
  return out;
}

std::string milli_text(long long milli, bool memory) {
  if (memory) {
    const long long bytes = milli / 1000;
    if (bytes % (1LL << 30) == 0)
      return fmt::format("{}Gi", bytes >> 30);
    if (bytes % (1LL << 20) == 0)
      return fmt::format("{}Mi", bytes >> 20);
    return fmt::format("{}Ki", bytes >> 10);
  }
  return milli % 1000 == 0 ? std::to_string(milli / 1000) : fmt::format("{}m", milli);
}

long long pod_request(const Json& pod, std::string_view resource) {
  long long total = 0;
  if (const Json* containers = find_path(pod, "spec.containers"); containers != nullptr && containers->IsArray()) {
    for (const auto& container : containers->GetArray()) {
      const Json* requests = find_path(container, "resources.requests");
      const Json* amount = requests == nullptr ? nullptr : find_member(*requests, resource);
      if (amount == nullptr) {
        const Json* limits = find_path(container, "resources.limits");
        amount = limits == nullptr ? nullptr : find_member(*limits, resource);
      }
      if (amount != nullptr)
        total += rules::quantity_milli(*amount).value_or(0);
    }
  }
  return total;
}

std::string describe_node(World& world, Object& node) {
  const Json& body = node.body();
  std::string out;
  out += fmt::format("{:<20}{}\n", "Name:", node.ref.name);
  out += fmt::format("{:<20}{}\n", "Cluster:", node.ref.cluster);
  out += fmt::format("{:<20}{}\n", "Roles:", node_roles(body));
  out += describe_map("Labels", string_map_at(body, "metadata.labels"), 20);
  out += describe_map("Annotations", string_map_at(body, "metadata.annotations"), 20);
  out += fmt::format("{:<20}{}\n", "CreationTimestamp:", text_at(body, "metadata.creationTimestamp"));
  out += fmt::format("{:<20}{}", "Taints:", taints_text(find_path(body, "spec.taints"), 20));
  const Json* unschedulable = find_path(body, "spec.unschedulable");
  out += fmt::format("{:<20}{}\n", "Unschedulable:", unschedulable != nullptr && unschedulable->IsTrue() ? "true" : "false");
  out += "Conditions:\n";
  std::vector<Row> conditions = {{"  Type", "Status", "LastTransitionTime", "Reason", "Message"}, {"  ----", "------", "------------------", "------", "-------"}};
  if (const Json* listed = find_path(body, "status.conditions"); listed != nullptr && listed->IsArray()) {
    for (const auto& condition : listed->GetArray())
      conditions.push_back({"  " + text_at(condition, "type"), text_at(condition, "status"), or_none(text_at(condition, "lastTransitionTime")),
                            text_at(condition, "reason"), text_at(condition, "message")});
  }
  out += render(conditions);
  out += "Addresses:\n";
  if (const Json* addresses = find_path(body, "status.addresses"); addresses != nullptr && addresses->IsArray()) {
    for (const auto& address : addresses->GetArray())
      out += fmt::format("  {}:  {}\n", text_at(address, "type"), text_at(address, "address"));
  }
  out += "Capacity:\n" + resource_lines(string_map_at(body, "status.capacity"));
  out += "Allocatable:\n" + resource_lines(string_map_at(body, "status.allocatable"));
  out += "System Info:\n";
  for (const auto& [key, value] : string_map_at(body, "status.nodeInfo"))
    out += fmt::format("  {}:  {}\n", key, value);
  if (const std::string provider = text_at(body, "spec.providerID"); !provider.empty())
    out += fmt::format("{:<20}{}\n", "ProviderID:", provider);
  std::vector<Object*> pods;
  for (Object* pod : world.list(node.ref.cluster, "", "Pod")) {
    const std::string phase = pod_phase(pod->body());
    if (text_at(pod->body(), "spec.nodeName") == node.ref.name && phase != "Succeeded" && phase != "Failed")
      pods.push_back(pod);
  }
  const auto allocatable = string_map_at(body, "status.allocatable");
  const auto capacity_of = [&](const std::string& resource) {
    const auto found = allocatable.find(resource);
    return found == allocatable.end() ? 0LL : rules::parse_quantity_milli(found->second).value_or(0);
  };
  out += fmt::format("Non-terminated Pods:          ({} in total)\n", pods.size());
  std::vector<Row> pod_rows = {{"  Namespace", "Name", "CPU Requests", "Memory Requests", "GPU Requests", "Age"},
                               {"  ---------", "----", "------------", "---------------", "------------", "---"}};
  long long cpu = 0, memory = 0, gpu = 0;
  for (Object* pod : pods) {
    const long long pod_cpu = pod_request(pod->body(), "cpu");
    const long long pod_memory = pod_request(pod->body(), "memory");
    const long long pod_gpu = pod_request(pod->body(), "nvidia.com/gpu");
    cpu += pod_cpu;
    memory += pod_memory;
    gpu += pod_gpu;
    pod_rows.push_back({"  " + pod->ref.namespace_, pod->ref.name, milli_text(pod_cpu, false), milli_text(pod_memory, true),
                        milli_text(pod_gpu, false), age(pod->body(), world.now())});
  }
  out += render(pod_rows);
  const auto percent = [](long long used, long long total) { return total <= 0 ? 0LL : used * 100 / total; };
  out += "Allocated resources:\n";
  std::vector<Row> allocated = {{"  Resource", "Requests"}, {"  --------", "--------"}};
  allocated.push_back({"  cpu", fmt::format("{} ({}%)", milli_text(cpu, false), percent(cpu, capacity_of("cpu")))});
  allocated.push_back({"  memory", fmt::format("{} ({}%)", milli_text(memory, true), percent(memory, capacity_of("memory")))});
  if (allocatable.count("nvidia.com/gpu") != 0)
    allocated.push_back({"  nvidia.com/gpu", fmt::format("{} ({}%)", milli_text(gpu, false), percent(gpu, capacity_of("nvidia.com/gpu")))});
  out += render(allocated);
  out += describe_events(world, node.ref);
  return out;
}

std::string describe_pod(World& world, Object& pod) {
  const Json& body = pod.body();
  std::string out;
  out += fmt::format("{:<18}{}\n", "Name:", pod.ref.name);
  out += fmt::format("{:<18}{}\n", "Namespace:", pod.ref.namespace_);
  out += fmt::format("{:<18}{}\n", "Cluster:", pod.ref.cluster);
  const std::string node = text_at(body, "spec.nodeName");
  const std::string host_ip = text_at(body, "status.hostIP");
  out += fmt::format("{:<18}{}\n", "Node:", node.empty() ? "<none>" : host_ip.empty() ? node : node + "/" + host_ip);
  if (const std::string start = text_at(body, "status.startTime"); !start.empty())
    out += fmt::format("{:<18}{}\n", "Start Time:", start);
  out += describe_map("Labels", string_map_at(body, "metadata.labels"), 18);
  out += describe_map("Annotations", string_map_at(body, "metadata.annotations"), 18);
  out += fmt::format("{:<18}{}\n", "Status:", pod_phase(body));
  out += fmt::format("{:<18}{}\n", "IP:", text_at(body, "status.podIP"));
  if (const auto owner = controller_of(body))
    out += fmt::format("{:<18}{}/{}\n", "Controlled By:", owner->kind, owner->name);
  out += "Containers:\n";
  if (const Json* containers = find_path(body, "spec.containers"); containers != nullptr && containers->IsArray()) {
    for (const auto& container : containers->GetArray()) {
      out += fmt::format("  {}:\n", text_at(container, "name"));
      out += fmt::format("    Image:      {}\n", text_at(container, "image"));
      for (const std::string_view section : {"limits", "requests"}) {
        const auto values = string_map_at(container, fmt::format("resources.{}", section));
        if (values.empty())
          continue;
        out += fmt::format("    {}:\n", section == "limits" ? "Limits" : "Requests");
        for (const auto& [key, value] : values)
          out += fmt::format("      {}:  {}\n", key, value);
      }
    }
  }
  out += "Conditions:\n";
  std::vector<Row> conditions = {{"  Type", "Status"}};
  if (const Json* listed = find_path(body, "status.conditions"); listed != nullptr && listed->IsArray()) {
    for (const auto& condition : listed->GetArray())
      conditions.push_back({"  " + text_at(condition, "type"), text_at(condition, "status")});
  }
  out += render(conditions);
  out += describe_map("Node-Selectors", string_map_at(body, "spec.nodeSelector"), 18);
  std::vector<std::string> tolerations;
  if (const Json* listed = find_path(body, "spec.tolerations"); listed != nullptr && listed->IsArray()) {
    for (const auto& toleration : listed->GetArray()) {
      const std::string key = text_at(toleration, "key");
      const std::string op = text_at(toleration, "operator", "Equal");
      const std::string value = text_at(toleration, "value");
      const std::string effect = text_at(toleration, "effect");
      std::string text = key.empty() ? std::string() : key;
      if (op == "Equal" && !value.empty())
        text += "=" + value;
      if (!effect.empty())
        text += ":" + effect;
      if (op == "Exists")
        text += " op=Exists";
      tolerations.push_back(text);
    }
  }
  out += fmt::format("{:<18}", "Tolerations:");
  if (tolerations.empty())
    out += "<none>\n";
  for (size_t i = 0; i < tolerations.size(); ++i)
    out += (i == 0 ? "" : std::string(18, ' ')) + tolerations[i] + "\n";
  out += describe_events(world, pod.ref);
  return out;
}

std::string describe_generic(World& world, Object& object) {
  std::string out = fmt::format("{:<14}{}\n", "Name:", object.ref.name);
  if (!object.ref.namespace_.empty())
    out += fmt::format("{:<14}{}\n", "Namespace:", object.ref.namespace_);
  if (!object.ref.cluster.empty())
    out += fmt::format("{:<14}{}\n", "Cluster:", object.ref.cluster);
  out += fmt::format("{:<14}{}\n", "Kind:", object.ref.kind);
  out += to_yaml(object.body());
  out += describe_events(world, object.ref);
  return out;
}

} // namespace

std::string human_duration(long long ms) {
  const long long seconds = ms / 1000;
  if (seconds < -1)
    return "<invalid>";
  if (seconds < 0)
    return "0s";
  if (seconds < 60 * 2)
    return fmt::format("{}s", seconds);
  const long long minutes = seconds / 60;
  if (minutes < 10) {
    const long long rest = seconds % 60;
    return rest == 0 ? fmt::format("{}m", minutes) : fmt::format("{}m{}s", minutes, rest);
  }
  if (minutes < 60 * 3)
    return fmt::format("{}m", minutes);
  const long long hours = minutes / 60;
  if (hours < 8) {
    const long long rest = minutes % 60;
    return rest == 0 ? fmt::format("{}h", hours) : fmt::format("{}h{}m", hours, rest);
  }
  if (hours < 48)
    return fmt::format("{}h", hours);
  if (hours < 24 * 8) {
    const long long rest = hours % 24;
    return rest == 0 ? fmt::format("{}d", hours / 24) : fmt::format("{}d{}h", hours / 24, rest);
  }
  if (hours < 24 * 365 * 2)
    return fmt::format("{}d", hours / 24);
  if (hours < 24 * 365 * 8) {
    const long long days = hours / 24 % 365;
    return days == 0 ? fmt::format("{}y", hours / 24 / 365) : fmt::format("{}y{}d", hours / 24 / 365, days);
  }
  return fmt::format("{}y", hours / 24 / 365);
}

std::string to_yaml(const Json& value) {
  std::string out;
  if (value.IsObject() || value.IsArray()) {
    if (is_empty_container(value))
      return value.IsObject() ? "{}\n" : "[]\n";
    emit_yaml(value, 0, out);
    return out;
  }
  return yaml_scalar(value) + "\n";
}

std::string Simulator::format_table(const std::vector<LiveObject>& objects, const TableOptions& options) {
  if (objects.empty())
    return {};
  const long long now = now_ms();
  // One table per kind, in the order the kinds first appear (kubectl prints a table per resource).
  std::vector<std::pair<std::string, std::string>> kinds;
  for (const LiveObject& object : objects) {
    const std::pair<std::string, std::string> kind{object.ref.group, object.ref.kind};
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
      kinds.push_back(kind);
  }
  std::string out;
  for (const auto& [group, kind] : kinds) {
    std::vector<Row> rows;
    Row header = header_for(kind, group, options.wide);
    const bool namespaced = std::any_of(objects.begin(), objects.end(), [&](const LiveObject& object) {
      return object.ref.group == group && object.ref.kind == kind && !object.ref.namespace_.empty();
    });
    const bool show_namespace = options.show_namespace && namespaced;
    if (show_namespace)
      header.insert(header.begin(), "NAMESPACE");
    if (options.show_cluster && !(group == kFleetGroup))
      header.insert(header.begin(), "CLUSTER");
    rows.push_back(header);
    for (const LiveObject& object : objects) {
      if (object.ref.group != group || object.ref.kind != kind)
        continue;
      Row row = cells_for(object.ref, *object.object, options.wide, now);
      if (show_namespace)
        row.insert(row.begin(), object.ref.namespace_);
      if (options.show_cluster && !(group == kFleetGroup))
        row.insert(row.begin(), object.ref.cluster);
      rows.push_back(row);
    }
    if (!out.empty())
      out += "\n";
    out += render(rows);
  }
  return out;
}

std::string Simulator::describe(const ObjectRef& ref) {
  Store::Transaction transaction(*store_, false);
  World world(*store_);
  Object* object = world.find(ref);
  if (object == nullptr)
    throw UserError(fmt::format("{}: not found{}", ref.display(), ref.cluster.empty() ? "" : " in cluster " + ref.cluster));
  if (ref.group.empty() && ref.kind == "Node")
    return describe_node(world, *object);
  if (ref.group.empty() && ref.kind == "Pod")
    return describe_pod(world, *object);
  return describe_generic(world, *object);
}

} // namespace meridian::sim
