#include "kube/http_status.h"

namespace kb::kube {
namespace {

using nlohmann::json;

const char* HttpReasonPhrase(int code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Request Entity Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

StatusCode CodeForHttp(int http_code, const std::string& reason, const std::string& cause) {
  if (http_code >= 200 && http_code < 300) return StatusCode::kOk;
  switch (http_code) {
    case 400:
    case 422:
      return StatusCode::kInvalidArgument;
    case 401:
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return reason == "AlreadyExists" ? StatusCode::kAlreadyExists : StatusCode::kAborted;
    case 410:
      return StatusCode::kFailedPrecondition;
    case 429:
      return cause == "DisruptionBudget" ? StatusCode::kUnavailable
                                         : StatusCode::kResourceExhausted;
    default:
      break;
  }
  if (http_code >= 500) return StatusCode::kUnavailable;
  if (http_code == 413) return StatusCode::kResourceExhausted;
  if (http_code >= 400) return StatusCode::kInvalidArgument;
  return StatusCode::kInternal;  // 1xx / 3xx: we never follow redirects
}

}  // namespace

std::string Printable(std::string_view body, size_t limit) {
  std::string out;
  for (char c : body.substr(0, limit)) {
    unsigned char u = static_cast<unsigned char>(c);
    out.push_back(u == '\n' || u == '\r' || u == '\t' ? ' ' : (u < 0x20 ? '?' : c));
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (body.size() > limit) out += "...";
  return out;
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '_' || u == '.' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

Status StatusFromKubeStatus(int http_code, const json& status, std::string_view context) {
  std::string message, reason, cause;
  int code = http_code;
  if (status.is_object()) {
    auto str = [&](const char* key) -> std::string {
      auto it = status.find(key);
      return it != status.end() && it->is_string() ? it->get<std::string>() : "";
    };
    message = str("message");
    reason = str("reason");
    auto c = status.find("code");
    if (c != status.end() && c->is_number_integer()) code = c->get<int>();
    auto details = status.find("details");
    if (details != status.end() && details->is_object()) {
      auto causes = details->find("causes");
      if (causes != details->end() && causes->is_array() && !causes->empty() &&
          (*causes)[0].is_object()) {
        auto r = (*causes)[0].find("reason");
        if (r != (*causes)[0].end() && r->is_string()) cause = r->get<std::string>();
      }
    }
  }
  StatusCode sc = CodeForHttp(code, reason, cause);
  if (sc == StatusCode::kOk) return Status::Ok();
  std::string msg(context);
  msg += ": ";
  if (!message.empty()) {
    msg += message;
  } else {
    msg += "HTTP " + std::to_string(code);
    if (!reason.empty()) msg += " " + reason;
  }
  return Status(sc, std::move(msg)).WithHttp(code, std::move(reason), std::move(cause));
}

Status StatusFromHttp(int http_code, std::string_view body, std::string_view context) {
  if (http_code >= 200 && http_code < 300) return Status::Ok();
  json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && (parsed.contains("message") || parsed.contains("reason"))) {
    // The HTTP status line wins over a body's `code` (they agree on a real server).
    parsed["code"] = http_code;
    return StatusFromKubeStatus(http_code, parsed, context);
  }
  std::string msg(context);
  msg += ": HTTP " + std::to_string(http_code);
  const char* phrase = HttpReasonPhrase(http_code);
  if (*phrase) msg += std::string(" ") + phrase;
  std::string text = Printable(body, 256);
  if (!text.empty()) msg += ": " + text;
  return Status(CodeForHttp(http_code, "", ""), std::move(msg)).WithHttp(http_code);
}

}  // namespace kb::kube
