#include "sim/api_routes.h"

#include <cstring>

namespace kb::sim {
namespace {

using json = nlohmann::json;

// ---- continue tokens: base64url(JSON {"v","rv","start"}) without padding, like kube's -------

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlEncode(const std::string& in) {
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(kB64[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(kB64[((val << 8) >> (bits + 8)) & 0x3F]);
  return out;
}

// Accepts the URL-safe and the standard alphabet, with or without padding.
std::optional<std::string> Base64Decode(const std::string& in) {
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    int v;
    if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else {
      const char* p = c == '\0' ? nullptr : std::strchr(kB64, c);
      if (!p) return std::nullopt;
      v = static_cast<int>(p - kB64);
    }
    val = (val << 6) + v;
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

// ---- routing ----------------------------------------------------------------------------------

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

std::string EncodeContinue(const ContinueToken& t) {
  return Base64UrlEncode(json{{"v", "meta.k8s.io/v1"}, {"rv", t.rv}, {"start", t.start}}.dump());
}

std::optional<ContinueToken> DecodeContinue(const std::string& s) {
  auto raw = Base64Decode(s);
  if (!raw) return std::nullopt;
  json j = json::parse(*raw, nullptr, false);
  if (!j.is_object() || j.value("v", "") != "meta.k8s.io/v1" || !j.contains("rv") ||
      !j["rv"].is_number_unsigned() || !j.contains("start") || !j["start"].is_string()) {
    return std::nullopt;
  }
  return ContinueToken{j["rv"].get<uint64_t>(), j["start"].get<std::string>()};
}

std::optional<uint64_t> ParseRv(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::stoull(s);
}

std::optional<int64_t> ParseIntParam(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  return std::stoll(s);
}

std::optional<Route> ParseRoute(const std::string& path) {
  auto seg = SplitPath(path);
  std::string group, version;
  size_t i;
  if (seg.size() >= 2 && seg[0] == "api") {
    version = seg[1];
    i = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    group = seg[1];
    version = seg[2];
    i = 3;
  } else {
    return std::nullopt;
  }
  Route r;
  bool ns_path = false;
  if (i + 1 < seg.size() && seg[i] == "namespaces") {
    r.ns = seg[i + 1];
    ns_path = true;
    i += 2;
  }
  if (i >= seg.size() || seg.size() - i > 3) return std::nullopt;
  if (ns_path && group.empty() && version == "v1" && seg[i] == "bindings" && seg.size() - i == 1) {
    r.res = FindResource("pods");
    r.legacy_bindings = true;
    return r;
  }
  r.res = FindResource(seg[i]);
  if (!r.res || r.res->group != group || r.res->version != version) return std::nullopt;
  if (ns_path != r.res->namespaced && (ns_path || seg.size() - i > 1)) return std::nullopt;
  if (seg.size() - i >= 2) r.name = seg[i + 1];
  if (seg.size() - i == 3) {
    r.sub = seg[i + 2];
    bool ok = r.sub == "status" ||
              (r.res->resource == "pods" && (r.sub == "binding" || r.sub == "eviction"));
    if (!ok) return std::nullopt;
  }
  return r;
}

std::string VerbOf(const std::string& method, const Route& r, bool watch) {
  if (r.legacy_bindings) return method == "POST" ? "create" : "";
  if (method == "GET") {
    if (r.name.empty()) return watch ? "watch" : "list";
    if (r.sub.empty() || r.sub == "status") return "get";
    return "";
  }
  if (method == "POST") {
    if (r.name.empty() && (!r.res->namespaced || !r.ns.empty())) return "create";
    if (r.sub == "binding" || r.sub == "eviction") return "create";
    return "";
  }
  if (r.name.empty()) return "";
  if (method == "PUT" && (r.sub.empty() || r.sub == "status")) return "update";
  if (method == "PATCH" && (r.sub.empty() || r.sub == "status")) return "patch";
  if (method == "DELETE" && r.sub.empty()) return "delete";
  return "";
}

bool IsTrue(const std::string& v) { return v == "1" || v == "true" || v == "True"; }

std::string CountedResource(const Route& r) {
  if (r.legacy_bindings) return "pods/binding";
  return r.sub.empty() ? r.res->resource : r.res->resource + "/" + r.sub;
}

}  // namespace kb::sim
