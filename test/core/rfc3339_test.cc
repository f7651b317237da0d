// ParseRfc3339 / FormatRfc3339 over the whole RFC 3339 domain (years 0000-9999).
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "core/model.h"

namespace kb {
namespace {

TEST_CASE("ParseRfc3339 saturates instants WallTime cannot hold", "[rfc3339]") {
  // Go's zero time (what a Go client writes for an unset metav1.Time) and the last RFC 3339
  // second: int64 nanoseconds cannot hold either, so they saturate instead of overflowing.
  auto zero = ParseRfc3339("0001-01-01T00:00:00Z");
  REQUIRE(zero.ok());
  CHECK(*zero == WallTime::min());
  auto last = ParseRfc3339("9999-12-31T23:59:59.999999999Z");
  REQUIRE(last.ok());
  CHECK(*last == WallTime::max());
  CHECK(*ParseRfc3339("9999-12-31T23:59:59Z") == WallTime::max());
  CHECK(*ParseRfc3339("0000-01-01T00:00:00+23:59") == WallTime::min());
  CHECK(*ParseRfc3339("1677-09-21T00:12:43Z") == WallTime::min());
  CHECK(*ParseRfc3339("2262-04-11T23:47:17Z") == WallTime::max());
}

TEST_CASE("ParseRfc3339 is exact at the edges of WallTime's range", "[rfc3339]") {
  auto lo = ParseRfc3339("1677-09-21T00:12:43.145224192Z");
  REQUIRE(lo.ok());
  CHECK(*lo == WallTime::min());
  auto lo1 = ParseRfc3339("1677-09-21T00:12:43.145224193Z");
  REQUIRE(lo1.ok());
  CHECK(lo1->time_since_epoch().count() == WallTime::min().time_since_epoch().count() + 1);
  auto hi = ParseRfc3339("2262-04-11T23:47:16.854775807Z");
  REQUIRE(hi.ok());
  CHECK(*hi == WallTime::max());
  auto hi1 = ParseRfc3339("2262-04-11T23:47:16.854775806Z");
  REQUIRE(hi1.ok());
  CHECK(hi1->time_since_epoch().count() == WallTime::max().time_since_epoch().count() - 1);
}

TEST_CASE("ParseRfc3339 accepts every year 0000-9999", "[rfc3339]") {
  for (int y = 0; y <= 9999; y += 7) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%04d-02-28T12:34:56.5-07:30", y);
    auto t = ParseRfc3339(buf);
    REQUIRE(t.ok());
    if (y > 1677 && y < 2262) {
      // Round trip through the formatter (UTC, seconds precision).
      auto again = ParseRfc3339(FormatRfc3339(*t));
      REQUIRE(again.ok());
      CHECK(std::chrono::duration_cast<std::chrono::seconds>(*t - *again).count() == 0);
    } else {
      CHECK((*t == WallTime::min() || *t == WallTime::max()));
    }
  }
}

TEST_CASE("FormatRfc3339 is total over WallTime", "[rfc3339]") {
  CHECK(FormatRfc3339(WallTime::min()) == "1677-09-21T00:12:43Z");
  CHECK(FormatRfc3339(WallTime::max()) == "2262-04-11T23:47:16Z");
  CHECK(FormatRfc3339Micro(WallTime::min()) == "1677-09-21T00:12:43.145224Z");
  CHECK(FormatRfc3339Micro(WallTime::max()) == "2262-04-11T23:47:16.854775Z");
  CHECK(FormatRfc3339(WallTime{}) == "1970-01-01T00:00:00Z");
  CHECK(FormatRfc3339Micro(WallTime{} - std::chrono::nanoseconds(1)) ==
        "1969-12-31T23:59:59.999999Z");
}

TEST_CASE("ParseRfc3339 still rejects malformed input", "[rfc3339]") {
  CHECK_FALSE(ParseRfc3339("0001-02-29T00:00:00Z").ok());
  CHECK_FALSE(ParseRfc3339("10000-01-01T00:00:00Z").ok());
  CHECK_FALSE(ParseRfc3339("-001-01-01T00:00:00Z").ok());
  CHECK_FALSE(ParseRfc3339("2026-01-01T00:00:00").ok());
  CHECK_FALSE(ParseRfc3339("2026-01-01T00:00:00+24:00").ok());
}

}  // namespace
}  // namespace kb
