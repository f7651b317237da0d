#include "core/quantity.h"

#include <catch2/catch.hpp>
#include <limits>
#include <string>

namespace kb {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

struct ValueCase {
  const char* input;
  int64_t milli;  // MilliValue()
  int64_t value;  // Value()
};

// Expected values follow apimachinery's Quantity (ParseQuantity + MilliValue/Value), including
// its tables in quantity_test.go; rounding is up (magnitude), saturating at int64.
const ValueCase kValueCases[] = {
    {"0", 0, 0},
    {"0.0", 0, 0},
    {"-0", 0, 0},
    {"+0", 0, 0},
    {"00", 0, 0},
    {"0Mi", 0, 0},
    {"0e5", 0, 0},
    {"0.000n", 0, 0},
    {"1", 1000, 1},
    {"+1", 1000, 1},
    {"-1", -1000, -1},
    {"100m", 100, 1},
    {"250m", 250, 1},
    {"1500m", 1500, 2},
    {"-1500m", -1500, -2},  // away from zero, as int64Amount rounds
    {"0.5", 500, 1},
    {".5", 500, 1},
    {"5.", 5000, 5},
    {"1.", 1000, 1},
    {"2.5", 2500, 3},
    {"1n", 1, 1},
    {"1u", 1, 1},
    {"999999n", 1, 1},
    {"1000000n", 1, 1},
    {"1000001n", 2, 1},
    {"0.1m", 1, 1},
    {"-0.1m", -1, -1},
    {"1k", 1000000, 1000},
    {"8k", 8000000, 8000},
    {"1M", 1000000000, 1000000},
    {"1G", 1000000000000, 1000000000},
    {"1.G", 1000000000000, 1000000000},
    {"1T", 1000000000000000, 1000000000000},
    {"1P", 1000000000000000000, 1000000000000000},
    {"1E", kMax, 1000000000000000000},
    {"12E", kMax, kMax},  // 1.2e19 > int64 max: capped
    {"1e3", 1000000, 1000},
    {"1E3", 1000000, 1000},
    {"1e+3", 1000000, 1000},
    {"1e-3", 1, 1},
    {"1E-3", 1, 1},
    {"1.2e3", 1200000, 1200},
    {"1.3E+6", 1300000000, 1300000},
    {"0.5e-1", 50, 1},
    {"100.035k", 100035000, 100035},
    {"0.0005k", 500, 1},
    {"1Ki", 1024000, 1024},
    {"1Mi", 1048576000, 1048576},
    {"128Mi", 134217728000, 134217728},
    {"1Gi", 1073741824000, 1073741824},
    {"1.5Gi", 1610612736000, 1610612736},
    {"0.5Mi", 524288000, 524288},
    {"0.3Ki", 307200, 308},            // 307.2 bytes -> 308
    {"100.035Ki", 102435840, 102436},  // 102435.84
    {"1Ti", 1099511627776000, 1099511627776},
    {"4Pi", 4503599627370496000, 4503599627370496},
    {"1Ei", kMax, 1152921504606846976},
    {"7Ei", kMax, 8070450532247928832},
    {"8Ei", kMax, kMax},  // 2^63 overflows: capped
    {"9Ei", kMax, kMax},
    {"9223372036854775807", kMax, kMax},
    {"9223372036854775808", kMax, kMax},
    {"9223372036854775807Ki", kMax, kMax},
    {"-9Ei", -kMax, -kMax},
    {"123456789012345678901234567890", kMax, kMax},
    {"0.000000000000000000000000001", 1, 1},
    {"1.000000000000000000000000001", 1001, 2},
    {"1e-100", 1, 1},
    {"1e100", kMax, kMax},
    {"1e2147483647", kMax, kMax},
    {"1e-2147483647", 1, 1},
    {"0.000000000001Ki", 1, 1},
};

TEST_CASE("quantity parses the full grammar and rounds up like Kubernetes", "[core][quantity]") {
  for (const ValueCase& tc : kValueCases) {
    DYNAMIC_SECTION("\"" << tc.input << "\"") {
      StatusOr<Quantity> q = ParseQuantity(tc.input);
      REQUIRE(q.ok());
      CHECK(q->MilliValue() == tc.milli);
      CHECK(q->Value() == tc.value);
    }
  }
}

TEST_CASE("quantity nano values match apimachinery's rounding table", "[core][quantity]") {
  struct Case {
    const char* input;
    int64_t nanos;
  };
  const Case cases[] = {
      {"3.001n", 4},          {"1.1E-9", 2},          {"0.0000000001", 1},
      {"0.0000000005", 1},    {"0.5e-9", 1},          {"0.9n", 1},
      {"0.00000012345", 124}, {"0.00000012354", 124}, {".000000000001Ki", 2},
      {".000000001Ki", 1024}, {"1", 1000000000},
  };
  for (const Case& tc : cases) {
    DYNAMIC_SECTION(tc.input) {
      StatusOr<Quantity> q = ParseQuantity(tc.input);
      REQUIRE(q.ok());
      CHECK(q->ScaledValue(-9) == tc.nanos);
    }
  }
}

TEST_CASE("quantity scales coarser than one and finer than nano", "[core][quantity]") {
  StatusOr<Quantity> q = ParseQuantity("1500");
  REQUIRE(q.ok());
  CHECK(q->ScaledValue(3) == 2);  // 1.5k -> 2k
  CHECK(q->ScaledValue(-12) == 1500000000000000);
  StatusOr<Quantity> tiny = ParseQuantity("1e-12");
  REQUIRE(tiny.ok());
  // Parsing rounds to nano first, so 1e-12 is 1n = 1000 pico.
  CHECK(tiny->ScaledValue(-12) == 1000);
  StatusOr<Quantity> huge = ParseQuantity("9Ei");
  REQUIRE(huge.ok());
  // The cap applies to the value: ceil((2^63-1) / 1000).
  CHECK(huge->ScaledValue(3) == 9223372036854776);
  CHECK(huge->ScaledValue(30) == 1);
}

TEST_CASE("malformed quantities are rejected with the input in the message", "[core][quantity]") {
  const char* const kInvalid[] = {
      "",
      " 1",
      "1 ",
      " ",
      "1.2.3",
      "5Mi3",
      "Mi",
      "1Mi3",
      "1ki",
      "ki",
      "Ki",
      "m",
      "1e",
      "1e-",
      "1E+",
      "abc",
      "1.1.M",
      "1+1.0M",
      "0.1mi",
      "0.1am",
      ".5i",
      "1i",
      "-3.01i",
      "-3.01e-",
      "1e4294967297",
      "1e2147483648",
      "--1",
      "+-1",
      ".",
      "-",
      "+",
      "1KiB",
      "0x10",
      "1,5",
      "1e3.5",
      "1e3k",
      "1Ki ",
      "\t1",
      "1\n",
      "1.5.",
      "e3",
      "1mm",
  };
  for (const char* input : kInvalid) {
    DYNAMIC_SECTION("\"" << input << "\"") {
      StatusOr<Quantity> q = ParseQuantity(input);
      REQUIRE_FALSE(q.ok());
      CHECK(q.status().code() == StatusCode::kInvalidArgument);
      CHECK_THAT(q.status().message(),
                 Catch::StartsWith("invalid quantity \"" + std::string(input) + "\": "));
    }
  }
}

TEST_CASE("ParseCpuMillis and ParseBytes convert and propagate errors", "[core][quantity]") {
  CHECK(*ParseCpuMillis("100m") == 100);
  CHECK(*ParseCpuMillis("2") == 2000);
  CHECK(*ParseCpuMillis("1n") == 1);
  CHECK(*ParseBytes("1.5Gi") == 1610612736);
  CHECK(*ParseBytes("1k") == 1000);
  CHECK(*ParseBytes("1") == 1);
  StatusOr<int64_t> bad = ParseBytes("5Mi3");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("invalid quantity \"5Mi3\""));
  CHECK_FALSE(ParseCpuMillis("x").ok());
}

TEST_CASE("quantity formatting is compact and round-trips", "[core][quantity]") {
  CHECK(FormatCpuMillis(250) == "250m");
  CHECK(FormatCpuMillis(2000) == "2");
  CHECK(FormatCpuMillis(0) == "0");
  CHECK(FormatCpuMillis(1500) == "1500m");
  CHECK(FormatCpuMillis(-250) == "-250m");
  CHECK(FormatBytes(134217728) == "128Mi");
  CHECK(FormatBytes(1073741824) == "1Gi");
  CHECK(FormatBytes(1000) == "1000");
  CHECK(FormatBytes(1536) == "1536");
  CHECK(FormatBytes(0) == "0");
  CHECK(FormatBytes(int64_t{3} << 60) == "3Ei");
  for (int64_t m : {int64_t{1}, int64_t{999}, int64_t{1000}, int64_t{123456}}) {
    CHECK(*ParseCpuMillis(FormatCpuMillis(m)) == m);
  }
  for (int64_t b : {int64_t{1}, int64_t{1024}, int64_t{1536}, int64_t{5} << 30}) {
    CHECK(*ParseBytes(FormatBytes(b)) == b);
  }
}

TEST_CASE("quantity ToDouble is approximately the value", "[core][quantity]") {
  CHECK(ParseQuantity("1.5Gi")->ToDouble() == Approx(1610612736.0));
  CHECK(ParseQuantity("100m")->ToDouble() == Approx(0.1));
  CHECK(ParseQuantity("-2k")->ToDouble() == Approx(-2000.0));
  CHECK(ParseQuantity("0")->ToDouble() == 0.0);
}

}  // namespace
}  // namespace kb

namespace kb {
namespace {

__extension__ typedef __int128 Int128;

Int128 Pow10(int n) {
  Int128 r = 1;
  while (n-- > 0) r *= 10;
  return r;
}

TEST_CASE("quantity rounding agrees with exact rational arithmetic on random inputs",
          "[core][quantity]") {
  struct Suffix {
    const char* text;
    int exp10;
    int exp2;
  };
  const Suffix kSuffixes[] = {{"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},   {"m", -3, 0},
                              {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},    {"Ki", 0, 10},
                              {"Mi", 0, 20}, {"Gi", 0, 30}, {"e-7", -7, 0}, {"E5", 5, 0}};
  uint64_t state = 0x9E3779B97F4A7C15ULL;  // fixed seed: deterministic
  auto next = [&state]() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int iter = 0; iter < 20000; ++iter) {
    const int int_digits = static_cast<int>(next() % 7);
    const int frac_digits = static_cast<int>(next() % 7);
    if (int_digits == 0 && frac_digits == 0) continue;
    std::string text;
    Int128 n = 0;
    for (int i = 0; i < int_digits + frac_digits; ++i) {
      int d = static_cast<int>(next() % 10);
      if (i == int_digits) text += '.';  // ".123" when int_digits == 0
      text += static_cast<char>('0' + d);
      n = n * 10 + d;
    }
    const Suffix& suf = kSuffixes[next() % std::size(kSuffixes)];
    text += suf.text;
    const bool negative = next() % 4 == 0;
    if (negative) text.insert(0, "-");

    for (int scale : {-9, -3, 0}) {
      // |value| * 10^-scale = n * 2^exp2 * 10^(exp10 - frac - scale)
      const int e = suf.exp10 - frac_digits - scale;
      Int128 num = (n << suf.exp2) * (e > 0 ? Pow10(e) : 1);
      Int128 den = e < 0 ? Pow10(-e) : 1;
      Int128 want = (num + den - 1) / den;  // ceil of the magnitude
      if (want > std::numeric_limits<int64_t>::max()) want = std::numeric_limits<int64_t>::max();
      int64_t want64 = static_cast<int64_t>(want);
      if (negative) want64 = -want64;
      StatusOr<Quantity> q = ParseQuantity(text);
      INFO(text << " scale " << scale);
      REQUIRE(q.ok());
      REQUIRE(q->ScaledValue(scale) == want64);
    }
  }
}

TEST_CASE("quantity parser survives arbitrary bytes", "[core][quantity]") {
  const std::string alphabet = "0123456789.+-eEinumkKMGTPi \t\x01\xff";
  uint64_t state = 12345;
  for (int iter = 0; iter < 20000; ++iter) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t len = (state >> 33) % 12;
    std::string s;
    for (size_t i = 0; i < len; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      s += alphabet[(state >> 33) % alphabet.size()];
    }
    StatusOr<Quantity> q = ParseQuantity(s);
    if (q.ok()) {
      // Whatever parsed must give consistent, non-crashing conversions.
      (void)q->MilliValue();
      (void)q->Value();
      (void)q->ToDouble();
    } else {
      REQUIRE(q.status().code() == StatusCode::kInvalidArgument);
    }
  }
  // Long inputs stay bounded in time and correct.
  CHECK(ParseQuantity(std::string(5000, '9'))->Value() == std::numeric_limits<int64_t>::max());
  CHECK(ParseQuantity("0." + std::string(5000, '0') + "1Ei")->Value() == 1);
  CHECK(ParseQuantity("0." + std::string(5000, '0') + "1Ei")->ScaledValue(-9) == 1);
}

}  // namespace
}  // namespace kb
