#include "cli/fleets_config.h"

#include "base/duration.h"
#include "base/error.h"
#include "base/json.h"
#include "manifest/yaml_parser.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace meridian {
namespace {

class ConfigReader {
public:
  ConfigReader(std::string path, std::string text) : path_(std::move(path)), text_(std::move(text)) {}

  [[noreturn]] void fail(const std::string& pointer, const std::string& field, const std::string& message) const {
    throw UserError(fmt::format("{}:{}: {}: {}", path_, locate_line(text_, 0, pointer), field, message));
  }

  std::string string_at(const Json& value, const std::string& pointer, const std::string& field) const {
    if (!value.IsString())
      fail(pointer, field, fmt::format("expected a string, got {}", describe_value(value)));
    return value.GetString();
  }

  bool bool_at(const Json& value, const std::string& pointer, const std::string& field) const {
    if (!value.IsBool())
      fail(pointer, field, fmt::format("expected true or false, got {}", describe_value(value)));
    return value.GetBool();
  }

  std::string file_at(const Json& value, const std::string& pointer, const std::string& field) const {
    const std::string name = string_at(value, pointer, field);
    if (name.empty())
      fail(pointer, field, "expected a file name");
    const std::filesystem::path file = std::filesystem::path(name).is_relative()
                                           ? std::filesystem::absolute(path_).parent_path() / name
                                           : std::filesystem::path(name);
    if (!std::filesystem::is_regular_file(file))
      fail(pointer, field, fmt::format("{}: no such file", file.string()));
    return file.string();
  }

  const std::string& path() const { return path_; }
  const std::string& text() const { return text_; }

private:
  std::string path_;
  std::string text_;
};

bool is_fleet_name(const std::string& name) {
  if (name.empty() || name.size() > 63 || !std::isalnum(static_cast<unsigned char>(name.front())) ||
      !std::isalnum(static_cast<unsigned char>(name.back())))
    return false;
  return name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
}

void read_credentials(const ConfigReader& reader, const Json& value, const std::string& pointer, const std::string& field,
                      FleetConfig& fleet) {
  if (!value.IsObject())
    reader.fail(pointer, field, fmt::format("expected a mapping of sshKeyFile, netrcFile, webhookSecretFile, got {}", describe_value(value)));
  for (const auto& member : value.GetObject()) {
    const std::string key = member.name.GetString();
    const std::string at = pointer + "/" + key;
    const std::string name = field + "." + key;
    if (key == "sshKeyFile")
      fleet.ssh_key_file = reader.file_at(member.value, at, name);
    else if (key == "netrcFile")
      fleet.netrc_file = reader.file_at(member.value, at, name);
    else if (key == "webhookSecretFile")
      fleet.webhook_secret_file = reader.file_at(member.value, at, name);
    else
      reader.fail(at, name, "unknown field (expected sshKeyFile, netrcFile or webhookSecretFile: files, never the secrets themselves)");
  }
}

FleetConfig read_fleet(const ConfigReader& reader, const Json& value, size_t index) {
  const std::string pointer = fmt::format("/fleets/{}", index);
  const std::string field = fmt::format("fleets[{}]", index);
  if (!value.IsObject())
    reader.fail(pointer, field, fmt::format("expected a mapping with name and repository, got {}", describe_value(value)));
  FleetConfig fleet;
  fleet.line = locate_line(reader.text(), 0, pointer);
  for (const auto& member : value.GetObject()) {
    const std::string key = member.name.GetString();
    const std::string at = pointer + "/" + key;
    const std::string name = field + "." + key;
    if (key == "name") {
      fleet.name = reader.string_at(member.value, at, name);
      if (!is_fleet_name(fleet.name))
        reader.fail(at, name, fmt::format("expected at most 63 lower-case letters, digits and '-', starting and ending with a letter or "
                                          "digit, got \"{}\"",
                                          fleet.name));
    } else if (key == "repository") {
      fleet.repository = reader.string_at(member.value, at, name);
      if (fleet.repository.empty())
        reader.fail(at, name, "expected a path or URL");
    } else if (key == "ref") {
      fleet.ref = reader.string_at(member.value, at, name);
    } else if (key == "path") {
      fleet.path = reader.string_at(member.value, at, name);
    } else if (key == "interval") {
      const std::string text = reader.string_at(member.value, at, name);
      const auto interval = parse_duration(text);
      if (!interval || *interval < std::chrono::seconds(1))
        reader.fail(at, name, fmt::format("expected a duration of at least 1s such as 30s, 1m or 1h30m, got \"{}\"", text));
      fleet.interval = *interval;
    } else if (key == "backend") {
      fleet.backend = reader.string_at(member.value, at, name);
      if (fleet.backend != "sim" && fleet.backend != "kube")
        reader.fail(at, name, fmt::format("expected sim or kube, got \"{}\"", fleet.backend));
    } else if (key == "kubeConfig") {
      fleet.kube_config = reader.file_at(member.value, at, name);
    } else if (key == "owner") {
      fleet.owner = reader.string_at(member.value, at, name);
      if (fleet.owner.empty() || fleet.owner.size() > 63 ||
          fleet.owner.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != std::string::npos ||
          !std::isalnum(static_cast<unsigned char>(fleet.owner.front())) || !std::isalnum(static_cast<unsigned char>(fleet.owner.back())))
        reader.fail(at, name, fmt::format("expected a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
                                          "letter or digit, got \"{}\"",
                                          fleet.owner));
    } else if (key == "suspend") {
      fleet.suspend = reader.bool_at(member.value, at, name);
    } else if (key == "selfHeal") {
      fleet.self_heal = reader.bool_at(member.value, at, name);
    } else if (key == "prune") {
      fleet.prune = reader.bool_at(member.value, at, name);
    } else if (key == "credentials") {
      read_credentials(reader, member.value, at, name, fleet);
    } else {
      reader.fail(at, name, "unknown field (expected name, repository, ref, path, interval, backend, kubeConfig, owner, suspend, "
                            "selfHeal, prune or credentials)");
    }
  }
  if (fleet.name.empty())
    reader.fail(pointer, field + ".name", "required: the fleet's name");
  if (fleet.repository.empty())
    reader.fail(pointer, field + ".repository", "required: the fleet repository (a path or a URL)");
  if (!fleet.kube_config.empty() && fleet.backend != "kube")
    reader.fail(pointer + "/kubeConfig", field + ".kubeConfig", "only with backend: kube");
  if (fleet.owner.empty())
    fleet.owner = fleet.name;
  return fleet;
}

} // namespace

FleetsConfig load_fleets_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw UserError(fmt::format("--config {}: cannot read the file", path));
  std::ostringstream text;
  text << in.rdbuf();
  const ConfigReader reader(path, text.str());
  const auto file = parse_yaml(reader.text());
  if (file->error)
    throw UserError(fmt::format("{}:{}: {}", path, file->error->line, file->error->message));
  if (file->documents.size() != 1)
    throw UserError(fmt::format("{}:1: expected one YAML document with fleets, got {}", path, file->documents.size()));
  const Json& root = file->documents[0].value;
  if (!root.IsObject())
    reader.fail("", "(top level)", fmt::format("expected a mapping with fleets, got {}", describe_value(root)));
  FleetsConfig config;
  config.file = path;
  bool has_fleets = false;
  for (const auto& member : root.GetObject()) {
    const std::string key = member.name.GetString();
    if (key == "apiVersion") {
      if (!member.value.IsString() || std::string(member.value.GetString()) != "meridian.io/v1alpha1")
        reader.fail("/apiVersion", "apiVersion", "expected meridian.io/v1alpha1");
    } else if (key == "kind") {
      if (!member.value.IsString() || std::string(member.value.GetString()) != "FleetSet")
        reader.fail("/kind", "kind", "expected FleetSet");
    } else if (key == "fleets") {
      has_fleets = true;
      if (!member.value.IsArray() || member.value.Empty())
        reader.fail("/fleets", "fleets", "expected a list of at least one fleet");
      for (size_t index = 0; index < member.value.Size(); ++index)
        config.fleets.push_back(read_fleet(reader, member.value[static_cast<rapidjson::SizeType>(index)], index));
    } else {
      reader.fail("/" + key, key, "unknown field (expected apiVersion, kind, fleets)");
    }
  }
  if (!has_fleets)
    reader.fail("", "fleets", "required: a list of fleets");
  std::set<std::string> names;
  std::set<std::string> owners;
  for (size_t index = 0; index < config.fleets.size(); ++index) {
    const FleetConfig& fleet = config.fleets[index];
    if (!names.insert(fleet.name).second)
      reader.fail(fmt::format("/fleets/{}/name", index), fmt::format("fleets[{}].name", index),
                  fmt::format("\"{}\" names another fleet already: names must be unique", fleet.name));
    if (!owners.insert(fleet.owner).second)
      reader.fail(fmt::format("/fleets/{}", index), fmt::format("fleets[{}].owner", index),
                  fmt::format("\"{}\" is another fleet's owner already: fleets are kept apart by their owners", fleet.owner));
  }
  return config;
}

} // namespace meridian
