// Quantities against the cases of k8s.io/apimachinery/pkg/api/resource (quantity_test.go:
// TestQuantityParse's table, its negative and explicit-plus variants and invalid list,
// TestParseQuantityString's odd inputs, TestQuantityCmp) and MilliValue's rounding.
#include "kube_rules/quantity.h"

#include <catch2/catch.hpp>

#include <climits>
#include <string>

using namespace meridian;
using rules::parse_quantity;
using rules::Quantity;
using Format = Quantity::Format;

namespace {

// upstream's decQuantity(i, exponent): i * 10^exponent, here in nano-units.
__int128 dec(long long i, int exponent) {
  __int128 value = i;
  for (int e = exponent + 9; e > 0; --e)
    value *= 10;
  for (int e = exponent + 9; e < 0; ++e)
    value /= 10;
  return value;
}

struct Case {
  std::string input;
  __int128 nano;
  Format format;
};

std::string text(__int128 value) {
  if (value == 0)
    return "0";
  const bool negative = value < 0;
  std::string out;
  for (__int128 v = negative ? -value : value; v != 0; v /= 10)
    out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
  return negative ? "-" + out : out;
}

} // namespace

TEST_CASE("quantities parse as resource.ParseQuantity's table") {
  const __int128 max_allowed = dec(LLONG_MAX, 0);
  const Case table[] = {
      {"0", 0, Format::DecimalSI}, {"0n", 0, Format::DecimalSI}, {"0u", 0, Format::DecimalSI},
      {"0m", 0, Format::DecimalSI}, {"0Ki", 0, Format::BinarySI}, {"0k", 0, Format::DecimalSI},
      {"0Mi", 0, Format::BinarySI}, {"0M", 0, Format::DecimalSI}, {"0Gi", 0, Format::BinarySI},
      {"0G", 0, Format::DecimalSI}, {"0Ti", 0, Format::BinarySI}, {"0T", 0, Format::DecimalSI},
      {"1", dec(1, 0), Format::DecimalSI},
      {"1Ki", dec(1024, 0), Format::BinarySI}, {"8Ki", dec(8 * 1024, 0), Format::BinarySI},
      {"7Mi", dec(7LL << 20, 0), Format::BinarySI}, {"6Gi", dec(6LL << 30, 0), Format::BinarySI},
      {"5Ti", dec(5LL << 40, 0), Format::BinarySI}, {"4Pi", dec(4LL << 50, 0), Format::BinarySI},
      {"3Ei", dec(3LL << 60, 0), Format::BinarySI}, {"10Ti", dec(10LL << 40, 0), Format::BinarySI},
      {"100Ti", dec(100LL << 40, 0), Format::BinarySI},
      {"5n", dec(5, -9), Format::DecimalSI}, {"4u", dec(4, -6), Format::DecimalSI}, {"3m", dec(3, -3), Format::DecimalSI},
      {"9", dec(9, 0), Format::DecimalSI}, {"8k", dec(8, 3), Format::DecimalSI}, {"50k", dec(5, 4), Format::DecimalSI},
      {"7M", dec(7, 6), Format::DecimalSI}, {"6G", dec(6, 9), Format::DecimalSI}, {"5T", dec(5, 12), Format::DecimalSI},
      {"40T", dec(4, 13), Format::DecimalSI}, {"300T", dec(3, 14), Format::DecimalSI},
      {"2P", dec(2, 15), Format::DecimalSI}, {"1E", dec(1, 18), Format::DecimalSI},
      {"1E-3", dec(1, -3), Format::DecimalExponent}, {"1e3", dec(1, 3), Format::DecimalExponent},
      {"1E6", dec(1, 6), Format::DecimalExponent}, {"1e9", dec(1, 9), Format::DecimalExponent},
      {"1E12", dec(1, 12), Format::DecimalExponent}, {"1e15", dec(1, 15), Format::DecimalExponent},
      {"1E18", dec(1, 18), Format::DecimalExponent}, {"1e14", dec(1, 14), Format::DecimalExponent},
      {"1e13", dec(1, 13), Format::DecimalExponent}, {"100.035k", dec(100035, 0), Format::DecimalSI},
      {"0.001", dec(1, -3), Format::DecimalSI}, {"0.0005k", dec(5, -1), Format::DecimalSI},
      {"0.005", dec(5, -3), Format::DecimalSI}, {"0.05", dec(5, -2), Format::DecimalSI},
      {"0.5", dec(5, -1), Format::DecimalSI}, {"0.00050k", dec(5, -1), Format::DecimalSI},
      {"0.00500", dec(5, -3), Format::DecimalSI}, {"0.05000", dec(5, -2), Format::DecimalSI},
      {"0.50000", dec(5, -1), Format::DecimalSI}, {"0.5e0", dec(5, -1), Format::DecimalExponent},
      {"0.5e-1", dec(5, -2), Format::DecimalExponent}, {"0.5e-2", dec(5, -3), Format::DecimalExponent},
      {"10.035M", dec(10035, 3), Format::DecimalSI},
      {"1.2e3", dec(12, 2), Format::DecimalExponent}, {"1.3E+6", dec(13, 5), Format::DecimalExponent},
      {"1.40e9", dec(14, 8), Format::DecimalExponent}, {"1.53E12", dec(153, 10), Format::DecimalExponent},
      {"1.6e15", dec(16, 14), Format::DecimalExponent}, {"1.7E18", dec(17, 17), Format::DecimalExponent},
      {"9.01", dec(901, -2), Format::DecimalSI}, {"8.1k", dec(81, 2), Format::DecimalSI},
      {"7.123456M", dec(7123456, 0), Format::DecimalSI}, {"6.987654321G", dec(6987654321, 0), Format::DecimalSI},
      {"5.444T", dec(5444, 9), Format::DecimalSI}, {"40.1T", dec(401, 11), Format::DecimalSI},
      {"300.2T", dec(3002, 11), Format::DecimalSI}, {"2.5P", dec(25, 14), Format::DecimalSI},
      {"1.01E", dec(101, 16), Format::DecimalSI},
      // Things that saturate/round
      {"3.001n", dec(4, -9), Format::DecimalSI}, {"1.1E-9", dec(2, -9), Format::DecimalExponent},
      {"0.0000000001", dec(1, -9), Format::DecimalSI}, {"0.0000000005", dec(1, -9), Format::DecimalSI},
      {"0.00000000050", dec(1, -9), Format::DecimalSI}, {"0.5e-9", dec(1, -9), Format::DecimalExponent},
      {"0.9n", dec(1, -9), Format::DecimalSI}, {"0.00000012345", dec(124, -9), Format::DecimalSI},
      {"0.00000012354", dec(124, -9), Format::DecimalSI}, {"9Ei", max_allowed, Format::BinarySI},
      {"9223372036854775807Ki", max_allowed, Format::BinarySI}, {"12E", dec(12, 18), Format::DecimalSI},
      // Fractional binary
      {"100.035Ki", dec(10243584, -2), Format::BinarySI}, {"0.5Mi", dec(512 * 1024, 0), Format::BinarySI},
      {"0.05Gi", dec(536870912, -1), Format::BinarySI}, {"0.025Ti", dec(274877906944, -1), Format::BinarySI},
      // Things written by trolls (upstream's format changes to DecimalSI for the first; only the value is compared)
      {"0.000000000001Ki", dec(2, -9), Format::BinarySI}, {".001", dec(1, -3), Format::DecimalSI},
      {".0001k", dec(100, -3), Format::DecimalSI}, {"1.", dec(1, 0), Format::DecimalSI},
      {"1.G", dec(1, 9), Format::DecimalSI},
  };
  for (const auto& item : table)
    for (const std::string sign : {"", "-", "+"}) {
      const auto got = parse_quantity(sign + item.input);
      INFO(sign + item.input);
      REQUIRE(got);
      CHECK(text(got->nano) == text(sign == "-" ? -item.nano : item.nano));
      CHECK(got->format == item.format);
    }
}

// Checked against kubectl v1.26 (`kubectl create quota --hard=cpu=X --dry-run=client`): each is 0.
TEST_CASE("a lone point, sign or suffix is zero, as parseQuantityString reads it") {
  for (const char* odd : {".", "-.", "+.", "-", "+", "Gi", "m", "k"}) {
    INFO(odd);
    REQUIRE(parse_quantity(odd));
    CHECK(parse_quantity(odd)->nano == 0);
  }
}

TEST_CASE("quantities upstream refuses") {
  for (const char* bad : {"", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", " 1", "1 ",
                          "1e", "1e+", "5Gb", "1.2.3", "Non-Numeric", "1m3", "1Ki2", "1 Gi", "1ee3", "1e3e", "1iM", "Ki.5", "1GB", "abc"}) {
    INFO(bad);
    CHECK_FALSE(parse_quantity(bad));
  }
}

TEST_CASE("quantities compare by value") {
  CHECK(*parse_quantity("100m") > *parse_quantity("50m"));
  CHECK(*parse_quantity("10000T") > *parse_quantity("100Gi"));
  CHECK(*parse_quantity("1Ki") == *parse_quantity("1024"));
  CHECK(*parse_quantity("1e3") == *parse_quantity("1k"));
  CHECK(*parse_quantity("0.5") == *parse_quantity("500m"));
  CHECK(*parse_quantity("1Gi") == *parse_quantity("1024Mi"));
}

TEST_CASE("MilliValue and Value round away from zero") {
  CHECK(parse_quantity("500m")->milli() == 500);
  CHECK(parse_quantity("2Gi")->milli() == 2LL * 1024 * 1024 * 1024 * 1000);
  CHECK(parse_quantity("1e3")->milli() == 1000 * 1000);
  CHECK(parse_quantity("1P")->milli() == 1000000000000000000LL);
  CHECK_FALSE(parse_quantity("1E")->milli()); // 10^21 milli-units: past int64
  CHECK(parse_quantity("1E")->value() == 1000000000000000000LL);
  CHECK(parse_quantity("0.1m")->milli() == 1);
  CHECK(parse_quantity("1001u")->milli() == 2);
  CHECK(parse_quantity("-1001u")->milli() == -2);
  CHECK(parse_quantity("1.5")->value() == 2);
  CHECK(parse_quantity("-1")->milli() == -1000);
  CHECK(parse_quantity("1e-100")->milli() == 1);
  CHECK(parse_quantity("20Ei")->value() == LLONG_MAX); // BinarySI is capped at maxAllowed
  CHECK(parse_quantity("1e19")->nano == dec(1, 19)); // an exponent is not (kubectl prints 10e18)
  CHECK_FALSE(parse_quantity("1e19")->value());
  CHECK_FALSE(parse_quantity("1e100")); // past this model's 128-bit range (upstream accepts it)
}

TEST_CASE("quantities from JSON numbers and strings") {
  JsonDocument doc;
  const auto of = [&](const char* json) {
    doc.Parse(json);
    return rules::quantity_of(doc);
  };
  CHECK(of("4")->milli() == 4000);
  CHECK(of("1.5")->milli() == 1500);
  CHECK(of("0.1")->milli() == 100);
  CHECK(of("-2")->milli() == -2000);
  CHECK(of(R"("30Gi")")->milli() == 30LL * 1024 * 1024 * 1024 * 1000);
  CHECK(of("1e3")->milli() == 1000000);
  CHECK_FALSE(of("true"));
  CHECK_FALSE(of("null"));
}
