#include "core/json_reader.h"

#include <charconv>
#include <limits>

#include "core/model.h"

namespace kb {

std::string_view JsonReader::TypeName(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "object";
    case nlohmann::json::value_t::array:
      return "array";
    case nlohmann::json::value_t::string:
      return "string";
    case nlohmann::json::value_t::boolean:
      return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return "number";
    case nlohmann::json::value_t::binary:
      return "binary";
    case nlohmann::json::value_t::discarded:
      return "discarded";
  }
  return "unknown";
}

void JsonReader::AppendPath(std::string* out) const {
  if (parent_ != nullptr) parent_->AppendPath(out);
  switch (step_) {
    case Step::kRoot:
      break;
    case Step::kField:
      if (!out->empty()) out->push_back('.');
      out->append(key_);
      break;
    case Step::kKey:
      out->push_back('[');
      out->append(key_);
      out->push_back(']');
      break;
    case Step::kIndex:
      out->push_back('[');
      out->append(std::to_string(index_));
      out->push_back(']');
      break;
  }
}

std::string JsonReader::Path() const {
  std::string out;
  AppendPath(&out);
  return out;
}

Status JsonReader::Error(std::string_view message) const {
  std::string path = Path();
  if (path.empty()) return Status::InvalidArgument(std::string(message));
  path += ": ";
  path.append(message);
  return Status::InvalidArgument(std::move(path));
}

Status JsonReader::TypeError(std::string_view expected) const {
  std::string msg = "expected ";
  msg.append(expected);
  msg += ", got ";
  msg.append(value_ == nullptr ? "null" : TypeName(*value_));
  return Error(msg);
}

Status JsonReader::ExpectObject() const {
  if (absent() || value_->is_object()) return Status::Ok();
  return TypeError("object");
}

JsonReader JsonReader::Field(std::string_view key) const {
  if (absent() || !value_->is_object()) {
    return JsonReader(nullptr, this, Step::kField, key, 0);
  }
  auto it = value_->find(key);
  if (it == value_->end() || it->is_null()) return JsonReader(nullptr, this, Step::kField, key, 0);
  // Point the path at the document's own key so callers' temporaries may die.
  return JsonReader(&*it, this, Step::kField, it.key(), 0);
}

Status JsonReader::ReadString(std::string* out) const {
  if (absent()) return Status::Ok();
  if (!value_->is_string()) return TypeError("string");
  *out = value_->get_ref<const std::string&>();
  return Status::Ok();
}

Status JsonReader::ReadBool(bool* out) const {
  if (absent()) return Status::Ok();
  if (!value_->is_boolean()) return TypeError("boolean");
  *out = value_->get<bool>();
  return Status::Ok();
}

Status JsonReader::ReadInt64(int64_t* out) const {
  if (absent()) return Status::Ok();
  if (value_->is_number_integer() && !value_->is_number_unsigned()) {
    *out = value_->get<int64_t>();
    return Status::Ok();
  }
  if (value_->is_number_unsigned()) {
    uint64_t v = value_->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Error("integer " + std::to_string(v) + " out of int64 range");
    }
    *out = static_cast<int64_t>(v);
    return Status::Ok();
  }
  if (value_->is_number_float()) return TypeError("integer");
  return TypeError("integer");
}

Status JsonReader::ReadInt32(int32_t* out) const {
  if (absent()) return Status::Ok();
  int64_t v = 0;
  KB_RETURN_IF_ERROR(ReadInt64(&v));
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return Error("integer " + std::to_string(v) + " out of int32 range");
  }
  *out = static_cast<int32_t>(v);
  return Status::Ok();
}

Status JsonReader::ReadOptionalInt32(std::optional<int32_t>* out) const {
  if (absent()) return Status::Ok();
  int32_t v = 0;
  KB_RETURN_IF_ERROR(ReadInt32(&v));
  *out = v;
  return Status::Ok();
}

Status JsonReader::ReadTime(std::optional<WallTime>* out) const {
  if (absent()) return Status::Ok();
  if (!value_->is_string()) return TypeError("string");
  const std::string& text = value_->get_ref<const std::string&>();
  // metav1.Time unmarshals "" as the zero (unset) time.
  if (text.empty()) return Status::Ok();
  StatusOr<WallTime> t = ParseRfc3339(text);
  if (!t.ok()) return Error(t.status().message());
  *out = *t;
  return Status::Ok();
}

Status JsonReader::ReadStringMap(std::map<std::string, std::string>* out) const {
  return ForEachMember([out](const std::string& key, const JsonReader& member) -> Status {
    std::string value;
    KB_RETURN_IF_ERROR(member.ReadString(&value));
    (*out)[key] = std::move(value);
    return Status::Ok();
  });
}

Status JsonReader::ReadStringList(std::vector<std::string>* out) const {
  return ForEach([out](const JsonReader& elem, size_t) -> Status {
    std::string value;
    KB_RETURN_IF_ERROR(elem.ReadString(&value));
    out->push_back(std::move(value));
    return Status::Ok();
  });
}

Status JsonReader::ReadQuantity(std::optional<Quantity>* out) const {
  if (absent()) return Status::Ok();
  std::string text;
  if (value_->is_string()) {
    const std::string& s = value_->get_ref<const std::string&>();
    // Quantity.UnmarshalJSON trims surrounding whitespace before parsing.
    size_t b = s.find_first_not_of(" \t\n\r\v\f");
    size_t e = s.find_last_not_of(" \t\n\r\v\f");
    if (b != std::string::npos) text = s.substr(b, e - b + 1);
  } else if (value_->is_number_integer()) {
    text = value_->dump();
  } else if (value_->is_number_float()) {
    // Shortest round-trip text ("0.1", not "0.10000000000000001"), like the JSON source.
    double d = value_->get<double>();
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof(buf), d);
    if (res.ec != std::errc()) return Error("unrepresentable number");
    text.assign(buf, res.ptr);
  } else {
    return TypeError("string");
  }
  StatusOr<Quantity> q = ParseQuantity(text);
  if (!q.ok()) return Error(q.status().message());
  *out = std::move(q).value();
  return Status::Ok();
}

}  // namespace kb
