#include "core/quantity.h"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace kb {
namespace {

// GCC/Clang extension; __extension__ keeps -Wpedantic quiet.
__extension__ typedef __int128 Int128;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// Exponents beyond this only saturate or round up to the smallest unit; clamping keeps all
// exponent arithmetic far away from int overflow.
constexpr int64_t kMaxExponent = 100000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Status Invalid(std::string_view s, std::string_view why) {
  std::string msg = "invalid quantity \"";
  msg.append(s);
  msg += "\": ";
  msg.append(why);
  return Status::InvalidArgument(std::move(msg));
}

struct SuffixInfo {
  int exp10 = 0;
  int exp2 = 0;
};

// The suffix table of apimachinery's quantitySuffixer plus the e/E exponent form.
bool InterpretSuffix(std::string_view suf, SuffixInfo* out, bool* exponent_overflow) {
  *exponent_overflow = false;
  struct Entry {
    std::string_view name;
    int exp10;
    int exp2;
  };
  static constexpr Entry kTable[] = {
      {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
      {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
      {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
  };
  for (const Entry& e : kTable) {
    if (e.name == suf) {
      out->exp10 = e.exp10;
      out->exp2 = e.exp2;
      return true;
    }
  }
  if (suf.size() < 2 || (suf[0] != 'e' && suf[0] != 'E')) return false;
  // strconv.ParseInt(suffix[1:], 10, 64): optional sign then at least one digit.
  size_t i = 1;
  bool neg = false;
  if (suf[i] == '+' || suf[i] == '-') {
    neg = suf[i] == '-';
    ++i;
  }
  if (i >= suf.size()) return false;
  int64_t v = 0;
  for (; i < suf.size(); ++i) {
    if (!IsDigit(suf[i])) return false;
    if (v > (kInt64Max - 9) / 10) {
      *exponent_overflow = true;  // ParseInt would fail with ErrRange
      return false;
    }
    v = v * 10 + (suf[i] - '0');
  }
  // apimachinery stores the exponent as an int32 scale and rejects anything past +/-MaxInt32.
  if (v > std::numeric_limits<int32_t>::max()) {
    *exponent_overflow = true;
    return false;
  }
  if (v > kMaxExponent) v = kMaxExponent;
  out->exp10 = static_cast<int>(neg ? -v : v);
  out->exp2 = 0;
  return true;
}

// Number of decimal digits that fit comfortably in Int128 arithmetic below.
constexpr int kMaxExactDigits = 20;  // 10^20 < 2^67; times 2^60 stays < 2^127

Int128 Pow10i(int n) {
  Int128 r = 1;
  for (int i = 0; i < n; ++i) r *= 10;
  return r;
}

int64_t Saturate(Int128 v) { return v > kInt64Max ? kInt64Max : static_cast<int64_t>(v); }

// ceil(digits * 2^exp2 * 10^k) for the non-negative integer `digits` (no leading zeros,
// "0" for zero), saturating at kInt64Max.
int64_t CeilMagnitude(const std::string& digits, int exp2, int64_t k) {
  if (digits == "0") return 0;
  const int64_t n = static_cast<int64_t>(digits.size());
  if (k >= 0) {
    if (n + k > kMaxExactDigits) return kInt64Max;  // >= 10^20 > int64 max
    Int128 v = 0;
    for (char c : digits) v = v * 10 + (c - '0');
    v *= Pow10i(static_cast<int>(k));
    v <<= exp2;
    return Saturate(v);
  }
  // digits = Q * 10^m + R with R < 10^m: value = Q*2^e + R*2^e/10^m.
  const int64_t m = -k;
  const int64_t q_len = n > m ? n - m : 0;
  if (q_len > kMaxExactDigits) return kInt64Max;
  Int128 q = 0;
  for (int64_t i = 0; i < q_len; ++i) q = q * 10 + (digits[i] - '0');
  q <<= exp2;
  // The fraction R / 10^m as decimal digits after the point (leading zeros implied).
  std::string_view r_digits(digits.data() + q_len, digits.size() - q_len);
  bool frac_nonzero = r_digits.find_first_not_of('0') != std::string_view::npos;
  if (!frac_nonzero) return Saturate(q);
  if (exp2 == 0) return Saturate(q + 1);
  // Multiply the fraction by 2^exp2 exactly: the fraction digits, right-aligned to m places,
  // are doubled exp2 times; carries out of the top become the integer part.
  std::string frac(static_cast<size_t>(m - static_cast<int64_t>(r_digits.size())), '0');
  frac.append(r_digits);
  // Leading zeros beyond 20 positions can never carry into the integer part within 60
  // doublings (2^60 < 10^19), but the exact loop below is still bounded by input size.
  Int128 carry_int = 0;
  for (int step = 0; step < exp2; ++step) {
    int carry = 0;
    for (size_t i = frac.size(); i-- > 0;) {
      int d = (frac[i] - '0') * 2 + carry;
      frac[i] = static_cast<char>('0' + d % 10);
      carry = d / 10;
    }
    carry_int = carry_int * 2 + carry;
  }
  bool rest_nonzero = frac.find_first_not_of('0') != std::string::npos;
  return Saturate(q + carry_int + (rest_nonzero ? 1 : 0));
}

}  // namespace

StatusOr<Quantity> ParseQuantity(std::string_view s) {
  // Mirrors apimachinery's parseQuantityString, except that a number without any digit
  // ("", "Mi", ".", "-") is rejected (Kubernetes silently reads some of those as zero).
  if (s.empty()) return Invalid(s, "empty string");
  size_t pos = 0;
  const size_t end = s.size();
  bool negative = false;
  if (s[pos] == '+' || s[pos] == '-') {
    negative = s[pos] == '-';
    ++pos;
  }
  const size_t int_start = pos;
  while (pos < end && IsDigit(s[pos])) ++pos;
  std::string_view int_part = s.substr(int_start, pos - int_start);
  std::string_view frac_part;
  if (pos < end && s[pos] == '.') {
    ++pos;
    const size_t frac_start = pos;
    while (pos < end && IsDigit(s[pos])) ++pos;
    frac_part = s.substr(frac_start, pos - frac_start);
  }
  if (int_part.empty() && frac_part.empty()) return Invalid(s, "expected a number");

  // Suffix: letters from "eEinumkKMGTP", an optional sign, then digits, then the end.
  const size_t suffix_start = pos;
  while (pos < end && std::string_view("eEinumkKMGTP").find(s[pos]) != std::string_view::npos) {
    ++pos;
  }
  if (pos < end && (s[pos] == '+' || s[pos] == '-')) ++pos;
  while (pos < end && IsDigit(s[pos])) ++pos;
  if (pos != end) {
    return Invalid(s, "unexpected character '" + std::string(1, s[pos]) + "'");
  }
  std::string_view suffix = s.substr(suffix_start);
  SuffixInfo info;
  bool exponent_overflow = false;
  if (!InterpretSuffix(suffix, &info, &exponent_overflow)) {
    if (exponent_overflow) return Invalid(s, "exponent out of range");
    return Invalid(s, "unknown suffix \"" + std::string(suffix) + "\"");
  }

  Quantity q;
  q.negative = negative;
  std::string digits;
  digits.reserve(int_part.size() + frac_part.size());
  digits.append(int_part);
  digits.append(frac_part);
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) {
    q.negative = false;
    q.mantissa_digits = "0";
    return q;
  }
  digits.erase(0, first);
  // Trailing zeros move into the exponent so the mantissa stays short.
  size_t last = digits.find_last_not_of('0');
  int64_t trailing = static_cast<int64_t>(digits.size() - 1 - last);
  digits.resize(last + 1);
  int64_t exp10 =
      static_cast<int64_t>(info.exp10) + trailing - static_cast<int64_t>(frac_part.size());
  if (exp10 > kMaxExponent) exp10 = kMaxExponent;
  if (exp10 < -kMaxExponent - static_cast<int64_t>(digits.size())) {
    exp10 = -kMaxExponent - static_cast<int64_t>(digits.size());
  }
  q.mantissa_digits = std::move(digits);
  q.exp10 = static_cast<int>(exp10);
  q.exp2 = info.exp2;
  return q;
}

int64_t Quantity::ScaledValue(int scale) const {
  if (mantissa_digits.empty() || mantissa_digits == "0") return 0;
  // Kubernetes first rounds the magnitude up to nano units and caps it at int64 max; for scales
  // at or above nano, rounding straight to the target scale gives the same result.
  int64_t magnitude;
  if (scale < -9) {
    int64_t nanos = CeilMagnitude(mantissa_digits, exp2, static_cast<int64_t>(exp10) + 9);
    magnitude = nanos;
    for (int i = scale; i < -9 && magnitude != kInt64Max; ++i) {
      magnitude = magnitude > kInt64Max / 10 ? kInt64Max : magnitude * 10;
    }
  } else {
    magnitude = CeilMagnitude(mantissa_digits, exp2, static_cast<int64_t>(exp10) - scale);
    if (scale > 0) {
      // Cap as ceil(min(value, int64 max) / 10^scale).
      Int128 p = Pow10i(scale > 19 ? 19 : scale);
      Int128 cap = scale > 19 ? 1 : (static_cast<Int128>(kInt64Max) + p - 1) / p;
      if (magnitude > cap) magnitude = static_cast<int64_t>(cap);
    }
  }
  // Rounding is on the magnitude (away from zero), as apimachinery's int64Amount does.
  return negative ? -magnitude : magnitude;
}

double Quantity::ToDouble() const {
  std::string text = mantissa_digits.empty() ? "0" : mantissa_digits;
  text += "e" + std::to_string(exp10);
  double v = std::strtod(text.c_str(), nullptr);
  v = std::ldexp(v, exp2);
  return negative ? -v : v;
}

StatusOr<int64_t> ParseCpuMillis(std::string_view s) {
  KB_ASSIGN_OR_RETURN(Quantity q, ParseQuantity(s));
  return q.MilliValue();
}

StatusOr<int64_t> ParseBytes(std::string_view s) {
  KB_ASSIGN_OR_RETURN(Quantity q, ParseQuantity(s));
  return q.Value();
}

std::string FormatCpuMillis(int64_t millis) {
  if (millis % 1000 == 0) return std::to_string(millis / 1000);
  return std::to_string(millis) + "m";
}

std::string FormatBytes(int64_t bytes) {
  if (bytes == 0) return "0";
  static constexpr const char* kSuffixes[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
  for (int i = 0; i < 6; ++i) {
    int shift = 60 - 10 * i;
    int64_t unit = int64_t{1} << shift;
    if (bytes % unit == 0) return std::to_string(bytes / unit) + kSuffixes[i];
  }
  return std::to_string(bytes);
}

}  // namespace kb
