// Process-wide logging: one spdlog logger per module, all sharing one sink set (stderr by
// default), in either human-readable text or one JSON object per line.
// Logger() and ConfigureLogging() are thread-safe; loggers themselves are spdlog "_mt" loggers.
#pragma once

#include <spdlog/spdlog.h>

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "core/status.h"

namespace kb {

// The logger named `module` (e.g. "extender", "rescheduler", "kube"), created on first use with
// the current format and level and registered with spdlog (so spdlog::get(module) finds it too).
std::shared_ptr<spdlog::logger> Logger(const std::string& module);

// Sets the output format for every logger, existing and future:
//   "text": 2026-01-01T12:00:00.123456Z info [extender] bound pod pod=default/web-1 node=n1
//   "json": {"ts":"2026-01-01T12:00:00.123456Z","level":"info","logger":"extender","msg":"..."}
// JSON lines are always valid JSON: quotes, newlines and invalid UTF-8 in messages are escaped
// or replaced. Text lines are always one line: control characters in a message are escaped as
// LogValue() does (without the truncation; call sites truncate untrusted values with LogValue).
// Verbosity: 0 (or less) info, 1..3 debug, >= 4 trace.
// Also makes Logger("kube-balancer") spdlog's default logger, so spdlog::info(...) follows suit.
// InvalidArgument for an unknown format (nothing changes then).
Status ConfigureLogging(const std::string& format, int verbosity);

// Longest piece of an untrusted value a log line carries (bytes of the original value).
inline constexpr size_t kMaxLogValueBytes = 256;

// A request-derived (untrusted) value made safe for one log field, in both formats: backslash
// becomes \\, CR / LF / tab become \r \n \t, every other control byte (0x00-0x1f, 0x7f) becomes
// \xNN, and a value longer than kMaxLogValueBytes is cut there (at a UTF-8 character boundary)
// with "...(N bytes)" appended. A forged log line or a megabyte log line is impossible.
std::string LogValue(std::string_view untrusted);

// Sends all log output to `out` instead of stderr (nullptr restores stderr). For tests; `out`
// must outlive its use and is written under spdlog's sink mutex.
void SetLogOutputForTest(std::ostream* out);

}  // namespace kb
