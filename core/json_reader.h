// JsonReader: typed, path-aware access to a parsed nlohmann::json document, so decoders report
// errors like "spec.containers[0].resources.requests.cpu: expected string, got number" without
// building path strings on the happy path. JSON null and missing keys both read as "absent".
// A reader points into the document and into its parent reader: a child must not outlive the
// parent reader or the document. Read-only; safe to use from several threads on one document.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/quantity.h"
#include "core/status.h"

namespace kb {

class JsonReader {
 public:
  // A reader over the root of `root` (path "").
  explicit JsonReader(const nlohmann::json& root) : value_(&root) {}

  // The value, or nullptr when absent (missing key or JSON null).
  const nlohmann::json* value() const { return value_; }
  bool absent() const { return value_ == nullptr; }
  // Dotted path from the root: "spec.containers[0].name", "metadata.labels[app]"; "" for the root.
  std::string Path() const;
  // InvalidArgument "<path>: <message>" (just "<message>" at the root).
  Status Error(std::string_view message) const;
  // InvalidArgument "<path>: expected <expected>, got <actual type>".
  Status TypeError(std::string_view expected) const;

  // OK if absent or an object; else a type error. Call before reading fields of a node.
  Status ExpectObject() const;
  // The member `key` of this object; absent if this is absent, not an object, or lacks `key`.
  // `key` must outlive the returned reader (string literals do).
  JsonReader Field(std::string_view key) const;

  // Each scalar reader leaves *out untouched when absent and fails on a wrong type.
  Status ReadString(std::string* out) const;
  Status ReadBool(bool* out) const;
  // Integers: JSON integers only (1.0 and 1.5 are rejected, as Go's decoder does); range-checked.
  Status ReadInt64(int64_t* out) const;
  Status ReadInt32(int32_t* out) const;
  Status ReadOptionalInt32(std::optional<int32_t>* out) const;
  // RFC 3339 timestamp string.
  Status ReadTime(std::optional<WallTime>* out) const;
  // A map of strings (labels, annotations, nodeSelector); a null value reads as "".
  Status ReadStringMap(std::map<std::string, std::string>* out) const;
  // An array of strings; a null element reads as "".
  Status ReadStringList(std::vector<std::string>* out) const;
  // A resource.Quantity: a string (trimmed like Quantity.UnmarshalJSON) or a JSON number. A
  // malformed quantity fails with "<path>: invalid quantity ...".
  Status ReadQuantity(std::optional<Quantity>* out) const;

  // Calls fn(element_reader, index) -> Status for each element of an array, stopping at the
  // first error; absent is an empty array.
  template <class Fn>
  Status ForEach(Fn&& fn) const {
    if (absent()) return Status::Ok();
    if (!value_->is_array()) return TypeError("array");
    size_t i = 0;
    for (const nlohmann::json& elem : *value_) {
      JsonReader child(elem.is_null() ? nullptr : &elem, this, Step::kIndex, {}, i);
      KB_RETURN_IF_ERROR(fn(static_cast<const JsonReader&>(child), i));
      ++i;
    }
    return Status::Ok();
  }
  // Calls fn(key, member_reader) -> Status for each member of an object; absent is empty.
  template <class Fn>
  Status ForEachMember(Fn&& fn) const {
    if (absent()) return Status::Ok();
    if (!value_->is_object()) return TypeError("object");
    for (auto it = value_->begin(); it != value_->end(); ++it) {
      const std::string& key = it.key();
      const nlohmann::json& member = it.value();
      JsonReader child(member.is_null() ? nullptr : &member, this, Step::kKey, key, 0);
      KB_RETURN_IF_ERROR(fn(key, static_cast<const JsonReader&>(child)));
    }
    return Status::Ok();
  }

  // Name of the JSON type for messages: "string", "number", "object", "array", "boolean", "null".
  static std::string_view TypeName(const nlohmann::json& j);

 private:
  enum class Step { kRoot, kField, kKey, kIndex };
  JsonReader(const nlohmann::json* value, const JsonReader* parent, Step step, std::string_view key,
             size_t index)
      : value_(value), parent_(parent), step_(step), key_(key), index_(index) {}
  void AppendPath(std::string* out) const;

  const nlohmann::json* value_ = nullptr;
  const JsonReader* parent_ = nullptr;
  Step step_ = Step::kRoot;
  std::string_view key_;
  size_t index_ = 0;
};

}  // namespace kb
