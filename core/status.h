// Status and StatusOr<T>: the error values every module returns. Exceptions never cross a module
// boundary; a failing call returns a non-OK Status carrying a code chosen by absl's rules and a
// human-readable message. Statuses that came from an HTTP peer (the API server, Prometheus) also
// carry the HTTP code, the Kubernetes `Status.reason` and the first `details.causes[].reason`.
// Value types: safe to copy between threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kb {

enum class StatusCode {
  kOk = 0,
  kCancelled,
  kInvalidArgument,     // the input is wrong; retrying the same input fails again
  kDeadlineExceeded,    // timed out; may be retried
  kNotFound,            // the object does not exist (HTTP 404)
  kAlreadyExists,       // create of an existing object (HTTP 409 AlreadyExists)
  kPermissionDenied,    // HTTP 401/403
  kResourceExhausted,   // throttled (HTTP 429 without a disruption-budget cause), body too large
  kFailedPrecondition,  // the system must change first (e.g. HTTP 410 Expired: relist)
  kAborted,             // optimistic-concurrency conflict (HTTP 409 Conflict): re-read and retry
  kOutOfRange,
  kUnimplemented,
  kInternal,
  kUnavailable,  // transient: transport error, 5xx, or an eviction refused by a PDB (HTTP 429)
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status DeadlineExceeded(std::string m) {
    return {StatusCode::kDeadlineExceeded, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
  static Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status Unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // HTTP detail, set only for statuses mapped from an HTTP response (0 / empty otherwise).
  int http_code() const { return http_code_; }
  // Kubernetes Status.reason, e.g. "Conflict", "Expired", "TooManyRequests".
  const std::string& reason() const { return reason_; }
  // First Kubernetes Status.details.causes[].reason, e.g. "DisruptionBudget".
  const std::string& cause() const { return cause_; }
  Status& WithHttp(int http_code, std::string reason = "", std::string cause = "") & {
    http_code_ = http_code;
    reason_ = std::move(reason);
    cause_ = std::move(cause);
    return *this;
  }
  Status&& WithHttp(int http_code, std::string reason = "", std::string cause = "") && {
    return std::move(WithHttp(http_code, std::move(reason), std::move(cause)));
  }

  // Returns a copy whose message is "<prefix>: <message>"; codes and HTTP detail are kept.
  Status Annotate(std::string_view prefix) const {
    Status s = *this;
    if (!ok()) s.message_ = std::string(prefix) + ": " + message_;
    return s;
  }

  // "OK" or "<CODE_NAME>: <message>".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  int http_code_ = 0;
  std::string reason_;
  std::string cause_;
};

// Holds either a T or a non-OK Status. Access the value only after checking ok().
template <class T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : status_(status) {  // NOLINT: implicit by design
    assert(!status_.ok() && "StatusOr built from an OK Status");
    if (status_.ok()) status_ = Status::Internal("StatusOr built from an OK Status");
  }
  StatusOr(Status&& status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "StatusOr built from an OK Status");
    if (status_.ok()) status_ = Status::Internal("StatusOr built from an OK Status");
  }
  StatusOr(const T& value) : value_(value) {}        // NOLINT
  StatusOr(T&& value) : value_(std::move(value)) {}  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T& value() & {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace kb

#define KB_STATUS_CONCAT_INNER_(a, b) a##b
#define KB_STATUS_CONCAT_(a, b) KB_STATUS_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define KB_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::kb::Status kb_status_ = (expr);        \
    if (!kb_status_.ok()) return kb_status_; \
  } while (0)

// `lhs` = value of the StatusOr `rexpr`, or returns its Status from the enclosing function.
#define KB_ASSIGN_OR_RETURN(lhs, rexpr) \
  KB_ASSIGN_OR_RETURN_IMPL_(KB_STATUS_CONCAT_(kb_statusor_, __LINE__), lhs, rexpr)
#define KB_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                              \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
