#include "core/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/model.h"

namespace kb {
namespace {

constexpr char kDefaultLoggerName[] = "kube-balancer";
constexpr char kTextPattern[] = "%Y-%m-%dT%H:%M:%S.%fZ %l [%n] %v";

// Formats each record as one JSON object. nlohmann's dump does the escaping a pattern cannot,
// and error_handler_t::replace turns invalid UTF-8 into U+FFFD instead of throwing.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::ordered_json j;
    j["ts"] = FormatRfc3339Micro(std::chrono::time_point_cast<WallTime::duration>(msg.time));
    auto level = spdlog::level::to_string_view(msg.level);
    j["level"] = std::string(level.data(), level.size());
    j["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    j["msg"] = std::string(msg.payload.data(), msg.payload.size());
    std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Appends `in` to `out` with control characters and (when `backslash`) backslashes escaped.
void AppendEscaped(std::string_view in, bool backslash, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\' && backslash) {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (IsControl(c)) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
}

// The text format: the message's control characters are escaped so one record is one line,
// whatever a caller forgot to pass through LogValue().
class TextFormatter final : public spdlog::formatter {
 public:
  TextFormatter()
      : pattern_(std::make_unique<spdlog::pattern_formatter>(kTextPattern,
                                                             spdlog::pattern_time_type::utc)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (std::none_of(payload.begin(), payload.end(),
                     [](char c) { return IsControl(static_cast<unsigned char>(c)); })) {
      pattern_->format(msg, dest);
      return;
    }
    std::string escaped;
    AppendEscaped(payload, /*backslash=*/false, escaped);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(escaped.data(), escaped.size());
    pattern_->format(copy, dest);
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>();
  }

 private:
  std::unique_ptr<spdlog::pattern_formatter> pattern_;
};

std::unique_ptr<spdlog::formatter> MakeFormatter(bool json) {
  if (json) return std::make_unique<JsonFormatter>();
  return std::make_unique<TextFormatter>();
}

struct LogState {
  std::mutex mu;
  // The one sink every logger writes to; its child is stderr or a test stream.
  std::shared_ptr<spdlog::sinks::dist_sink_mt> sink;
  bool json = false;                                      // Guarded by mu.
  spdlog::level::level_enum level = spdlog::level::info;  // Guarded by mu.
  std::vector<std::shared_ptr<spdlog::logger>> loggers;   // Guarded by mu.

  LogState() : sink(std::make_shared<spdlog::sinks::dist_sink_mt>()) {
    sink->add_sink(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    sink->set_formatter(MakeFormatter(false));
  }
};

LogState& State() {
  static LogState* state = new LogState();  // never destroyed: loggers may log during exit
  return *state;
}

}  // namespace

std::string LogValue(std::string_view untrusted) {
  std::string_view kept = untrusted;
  if (kept.size() > kMaxLogValueBytes) {
    size_t cut = kMaxLogValueBytes;
    // Back up over UTF-8 continuation bytes so no character is split.
    while (cut > 0 && (static_cast<unsigned char>(untrusted[cut]) & 0xc0) == 0x80) --cut;
    kept = untrusted.substr(0, cut);
  }
  std::string out;
  out.reserve(kept.size() + 16);
  AppendEscaped(kept, /*backslash=*/true, out);
  if (kept.size() < untrusted.size()) {
    out += "...(" + std::to_string(untrusted.size()) + " bytes)";
  }
  return out;
}

std::shared_ptr<spdlog::logger> Logger(const std::string& module) {
  LogState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  for (const auto& l : st.loggers) {
    if (l->name() == module) return l;
  }
  auto logger = std::make_shared<spdlog::logger>(module, st.sink);
  logger->set_level(st.level);
  logger->flush_on(spdlog::level::warn);
  st.loggers.push_back(logger);
  // Another component may already have registered this name with spdlog; ours wins.
  spdlog::drop(module);
  spdlog::register_logger(logger);
  return logger;
}

Status ConfigureLogging(const std::string& format, int verbosity) {
  bool json;
  if (format == "text") {
    json = false;
  } else if (format == "json") {
    json = true;
  } else {
    return Status::InvalidArgument("unknown log format \"" + format + "\" (want text or json)");
  }
  spdlog::level::level_enum level = verbosity >= 4   ? spdlog::level::trace
                                    : verbosity >= 1 ? spdlog::level::debug
                                                     : spdlog::level::info;
  LogState& st = State();
  {
    std::lock_guard<std::mutex> lock(st.mu);
    st.json = json;
    st.level = level;
    st.sink->set_formatter(MakeFormatter(json));
    for (const auto& l : st.loggers) l->set_level(level);
  }
  // Stray spdlog::info(...) calls get the same sink and format.
  spdlog::set_default_logger(Logger(kDefaultLoggerName));
  return Status::Ok();
}

void SetLogOutputForTest(std::ostream* out) {
  LogState& st = State();
  std::lock_guard<std::mutex> lock(st.mu);
  std::shared_ptr<spdlog::sinks::sink> child;
  if (out != nullptr) {
    child = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out, /*force_flush=*/true);
  } else {
    child = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  st.sink->set_sinks({child});
  st.sink->set_formatter(MakeFormatter(st.json));
}

}  // namespace kb
