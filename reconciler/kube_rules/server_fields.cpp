#include "kube_rules/server_fields.h"

#include <algorithm>

namespace meridian::rules {
namespace {

constexpr std::string_view kFields[] = {"/status",
                                        "/metadata/uid",
                                        "/metadata/resourceVersion",
                                        "/metadata/creationTimestamp",
                                        "/metadata/managedFields",
                                        "/metadata/generation",
                                        "/metadata/selfLink",
                                        "/metadata/deletionTimestamp"};

} // namespace

std::span<const std::string_view> server_owned_fields() { return kFields; }

bool is_server_owned(std::string_view pointer) {
  return std::any_of(std::begin(kFields), std::end(kFields), [&](std::string_view field) {
    return pointer.starts_with(field) && (pointer.size() == field.size() || pointer[field.size()] == '/');
  });
}

void remove_server_owned(Json& object) {
  if (!object.IsObject())
    return;
  constexpr std::string_view kMetadata = "/metadata/";
  for (const std::string_view field : kFields) {
    Json* parent = &object;
    std::string_view key = field.substr(1);
    if (field.starts_with(kMetadata)) {
      const auto metadata = object.FindMember("metadata");
      if (metadata == object.MemberEnd() || !metadata->value.IsObject())
        continue;
      parent = &metadata->value;
      key = field.substr(kMetadata.size());
    }
    parent->RemoveMember(Json(rapidjson::StringRef(key.data(), key.size())));
  }
}

} // namespace meridian::rules
