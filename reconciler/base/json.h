// The engine's one document model: RapidJSON values, plus the few helpers every stage needs.
//
// Manifests, live objects, plans and history records are all RapidJSON values. Member order is the
// order of the source; anything printed for people or compared byte for byte goes through
// `write_canonical`, which sorts object keys.
#pragma once

#include <rapidjson/document.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace meridian {

//! RapidJSON's pool allocator with 2 KiB chunks instead of its 64 KiB default. Every manifest,
//! live object and simulated pod is a document of its own, most of them one or two KiB: with the
//! default each held a 64 KiB chunk, and a fleet of 10,000 objects took gigabytes.
class JsonAllocator : public rapidjson::MemoryPoolAllocator<> {
public:
  static constexpr size_t kChunkBytes = 2048;
  explicit JsonAllocator(size_t chunk_bytes = kChunkBytes) : rapidjson::MemoryPoolAllocator<>(chunk_bytes) {}
};

using Json = rapidjson::GenericValue<rapidjson::UTF8<>, JsonAllocator>;
using JsonDocument = rapidjson::GenericDocument<rapidjson::UTF8<>, JsonAllocator>;

//! Many documents in one pool: a fleet's desired objects, or the live objects of one list. With a
//! pool per document every object wasted half a chunk on average (two to four KiB on a 1 KiB
//! manifest); here the waste is one partly used chunk in all. Every document stays alive as long as
//! any of them does. Like RapidJSON's own pools: one thread at a time, and memory freed inside a
//! document (a replaced value) is only reclaimed with the whole arena.
class JsonArena {
public:
  explicit JsonArena(size_t chunk_bytes = 64 * 1024);
  //! A new null document allocating from this arena.
  std::shared_ptr<JsonDocument> make_document();
  //! A copy of `value` in a new document of this arena.
  std::shared_ptr<JsonDocument> copy(const Json& value);

private:
  struct Pool {
    explicit Pool(size_t chunk_bytes) : allocator(chunk_bytes) {}
    JsonAllocator allocator;
    std::deque<JsonDocument> documents; // a deque never moves what it holds
  };
  std::shared_ptr<Pool> pool_;
};

//! The member `key` of an object, or nullptr when `value` is not an object or has no such member.
const Json* find_member(const Json& value, std::string_view key);

//! The string member `key`, or `fallback` when it is missing or not a string.
std::string_view string_member(const Json& value, std::string_view key, std::string_view fallback = {});

//! Follows a dotted path of object keys ("metadata.annotations"); nullptr when any step is missing.
const Json* find_path(const Json& value, std::string_view dotted_path);

//! Follows an RFC 6901 JSON pointer ("/spec/template/0"); nullptr when it does not resolve.
const Json* find_pointer(const Json& value, std::string_view pointer);

//! JSON text with object keys sorted at every level: the same value always gives the same bytes.
std::string write_canonical(const Json& value, bool pretty = false);

//! Compact JSON text in member order.
std::string write_compact(const Json& value);

//! One-line rendering of a scalar for messages and diffs: strings quoted, containers abbreviated.
std::string describe_value(const Json& value);

//! Name of a value's JSON type as schemas spell it: object, array, string, integer, number, boolean, null.
std::string_view json_type_name(const Json& value);

//! Escapes one RFC 6901 pointer token (`~` → `~0`, `/` → `~1`).
std::string escape_pointer_token(std::string_view token);

//! Turns a JSON pointer into the dotted field path people read: /spec/units/0/max → spec.units[0].max.
std::string pointer_to_field(std::string_view pointer);

//! Parses JSON text into `document`; returns an error message or nullopt.
std::optional<std::string> parse_json(std::string_view text, JsonDocument& document);

//! Deep equality (numbers compare by value, so 1 == 1.0 as Kubernetes compares quantities of JSON).
bool json_equal(const Json& a, const Json& b);

//! Sameness as written: members in the same order, numbers of the same type and value (1 and 1.0
//! differ). Two identical documents render, diff and apply byte for byte alike.
bool json_identical(const Json& a, const Json& b);

} // namespace meridian
