// RFC 3339 timestamps as Kubernetes writes them (declared in model.h).
#include <charconv>
#include <cstdio>
#include <type_traits>

#include "core/model.h"

namespace kb {
namespace {

static_assert(std::is_same_v<WallTime::duration, std::chrono::nanoseconds>,
              "the saturation below assumes a nanosecond system_clock");

// GCC/Clang extension; __extension__ keeps -Wpedantic quiet.
__extension__ typedef __int128 Int128;

// Civil time without timegm/locale: Howard Hinnant's days_from_civil / civil_from_days.

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Floor division for a positive divisor, without negating `a` (INT64_MIN has no negation).
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b < 0 ? 1 : 0); }

std::string FormatTime(WallTime t, bool micro) {
  const int64_t ns = t.time_since_epoch().count();
  const int64_t secs = FloorDiv(ns, 1000000000);
  const int64_t sub_ns = ns % 1000000000 + (ns % 1000000000 < 0 ? 1000000000 : 0);
  const int64_t days = FloorDiv(secs, 86400);
  const int64_t sod = secs - days * 86400;
  int64_t y;
  unsigned mo, d;
  CivilFromDays(days, &y, &mo, &d);
  char buf[64];
  if (micro) {
    std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                  static_cast<long long>(y), mo, d, static_cast<int>(sod / 3600),
                  static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60),
                  static_cast<long long>(sub_ns / 1000));
  } else {
    std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(y),
                  mo, d, static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
                  static_cast<int>(sod % 60));
  }
  return buf;
}

}  // namespace

StatusOr<WallTime> ParseRfc3339(const std::string& s) {
  auto bad = [&s](const char* why) {
    return Status::InvalidArgument("invalid RFC 3339 time \"" + s + "\": " + why);
  };
  size_t i = 0;
  auto digits = [&](int n, int64_t* out) {
    if (i + n > s.size()) return false;
    int64_t v = 0;
    for (int k = 0; k < n; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    i += n;
    *out = v;
    return true;
  };
  auto expect = [&](char a, char b) {
    if (i < s.size() && (s[i] == a || s[i] == b)) {
      ++i;
      return true;
    }
    return false;
  };
  int64_t year, month, day, hour, minute, second;
  if (!digits(4, &year) || !expect('-', '-') || !digits(2, &month) || !expect('-', '-') ||
      !digits(2, &day) || !expect('T', 't') || !digits(2, &hour) || !expect(':', ':') ||
      !digits(2, &minute) || !expect(':', ':') || !digits(2, &second)) {
    return bad("expected YYYY-MM-DDTHH:MM:SS");
  }
  if (month < 1 || month > 12) return bad("month out of range");
  if (day < 1 || day > DaysInMonth(year, static_cast<unsigned>(month))) {
    return bad("day out of range");
  }
  if (hour > 23) return bad("hour out of range");
  if (minute > 59) return bad("minute out of range");
  if (second > 59) return bad("second out of range");
  int64_t nanos = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      // Digits beyond nanoseconds are truncated, as Go does.
      if (n < 9) {
        nanos = nanos * 10 + (s[i] - '0');
        ++n;
      }
      ++i;
    }
    if (n == 0) return bad("empty fraction");
    for (; n < 9; ++n) nanos *= 10;
  }
  int64_t offset_seconds = 0;
  if (expect('Z', 'z')) {
    // UTC
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const bool neg = s[i] == '-';
    ++i;
    int64_t oh, om;
    if (!digits(2, &oh) || !expect(':', ':') || !digits(2, &om)) return bad("bad offset");
    if (oh > 23 || om > 59) return bad("offset out of range");
    offset_seconds = (oh * 3600 + om * 60) * (neg ? -1 : 1);
  } else {
    return bad("missing zone (Z or +hh:mm)");
  }
  if (i != s.size()) return bad("trailing characters");
  // Years 0000-9999 with any offset stay within about +-3.2e11 seconds: exact in int64. In
  // nanoseconds they are not (int64 nanoseconds span 1677-09-21 to 2262-04-11), so the sum is
  // done in 128 bits and saturated to WallTime's range: Go's zero time "0001-01-01T00:00:00Z"
  // becomes WallTime::min(), "9999-12-31T23:59:59Z" WallTime::max().
  const int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  const Int128 total = static_cast<Int128>(secs) * 1000000000 + nanos;
  constexpr int64_t kMin = WallTime::duration::min().count();
  constexpr int64_t kMax = WallTime::duration::max().count();
  if (total < kMin) return WallTime::min();
  if (total > kMax) return WallTime::max();
  return WallTime(WallTime::duration(static_cast<int64_t>(total)));
}

std::string FormatRfc3339(WallTime t) { return FormatTime(t, /*micro=*/false); }

std::string FormatRfc3339Micro(WallTime t) { return FormatTime(t, /*micro=*/true); }

}  // namespace kb
