#include "core/status.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>

namespace kb {
namespace {

TEST_CASE("default Status is OK", "[core][status]") {
  Status s;
  CHECK(s.ok());
  CHECK(s.code() == StatusCode::kOk);
  CHECK(s.ToString() == "OK");
  CHECK(Status::Ok() == s);
}

TEST_CASE("named constructors carry code and message", "[core][status]") {
  struct Case {
    Status status;
    StatusCode code;
    const char* name;
  };
  const Case cases[] = {
      {Status::Cancelled("m"), StatusCode::kCancelled, "CANCELLED"},
      {Status::InvalidArgument("m"), StatusCode::kInvalidArgument, "INVALID_ARGUMENT"},
      {Status::DeadlineExceeded("m"), StatusCode::kDeadlineExceeded, "DEADLINE_EXCEEDED"},
      {Status::NotFound("m"), StatusCode::kNotFound, "NOT_FOUND"},
      {Status::AlreadyExists("m"), StatusCode::kAlreadyExists, "ALREADY_EXISTS"},
      {Status::PermissionDenied("m"), StatusCode::kPermissionDenied, "PERMISSION_DENIED"},
      {Status::ResourceExhausted("m"), StatusCode::kResourceExhausted, "RESOURCE_EXHAUSTED"},
      {Status::FailedPrecondition("m"), StatusCode::kFailedPrecondition, "FAILED_PRECONDITION"},
      {Status::Aborted("m"), StatusCode::kAborted, "ABORTED"},
      {Status::OutOfRange("m"), StatusCode::kOutOfRange, "OUT_OF_RANGE"},
      {Status::Unimplemented("m"), StatusCode::kUnimplemented, "UNIMPLEMENTED"},
      {Status::Internal("m"), StatusCode::kInternal, "INTERNAL"},
      {Status::Unavailable("m"), StatusCode::kUnavailable, "UNAVAILABLE"},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.name) {
      CHECK_FALSE(tc.status.ok());
      CHECK(tc.status.code() == tc.code);
      CHECK(tc.status.message() == "m");
      CHECK(StatusCodeName(tc.code) == tc.name);
      CHECK(tc.status.ToString() == std::string(tc.name) + ": m");
    }
  }
}

TEST_CASE("HTTP detail and Annotate", "[core][status]") {
  Status s =
      Status::Unavailable("Cannot evict pod").WithHttp(429, "TooManyRequests", "DisruptionBudget");
  CHECK(s.http_code() == 429);
  CHECK(s.reason() == "TooManyRequests");
  CHECK(s.cause() == "DisruptionBudget");
  Status a = s.Annotate("evict default/web-1");
  CHECK(a.message() == "evict default/web-1: Cannot evict pod");
  CHECK(a.code() == StatusCode::kUnavailable);
  CHECK(a.http_code() == 429);
  CHECK(a.cause() == "DisruptionBudget");
  CHECK(Status::Ok().Annotate("x").ok());
  CHECK(Status::Ok().Annotate("x").message().empty());
  // Equality compares code and message only.
  CHECK(Status::NotFound("a") == Status::NotFound("a").WithHttp(404));
  CHECK_FALSE(Status::NotFound("a") == Status::NotFound("b"));
  CHECK_FALSE(Status::NotFound("a") == Status::Internal("a"));
}

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  KB_ASSIGN_OR_RETURN(int h, Half(x));
  KB_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  KB_RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST_CASE("StatusOr holds a value or an error and macros propagate", "[core][status]") {
  StatusOr<int> v = Half(8);
  REQUIRE(v.ok());
  CHECK(*v == 4);
  CHECK(v.value() == 4);
  CHECK(v.value_or(-1) == 4);
  StatusOr<int> e = Half(3);
  CHECK_FALSE(e.ok());
  CHECK(e.status().code() == StatusCode::kInvalidArgument);
  CHECK(e.value_or(-1) == -1);

  CHECK(*Quarter(8) == 2);
  CHECK(Quarter(6).status().message() == "odd");  // second step fails
  CHECK(Quarter(5).status().message() == "odd");  // first step fails
  CHECK(CheckEven(4).ok());
  CHECK(CheckEven(5).code() == StatusCode::kInvalidArgument);

  StatusOr<std::unique_ptr<int>> moved = std::make_unique<int>(7);
  REQUIRE(moved.ok());
  std::unique_ptr<int> p = std::move(moved).value();
  CHECK(*p == 7);

  StatusOr<std::string> s = std::string("abc");
  CHECK(s->size() == 3);
}

}  // namespace
}  // namespace kb
