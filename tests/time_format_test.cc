#include "core/time_format.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace userstore {
namespace internal {
namespace {

absl::Time Civil(int64_t y, int m, int d, int hh, int mm, int ss) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), absl::UTCTimeZone());
}

// The slow, obviously right formatting, for comparison.
std::string Reference(absl::Time t) {
  return absl::FormatTime("%E4Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

TEST(TimeFormatTest, FormatsTwilioDates) {
  EXPECT_EQ(FormatIsoTime(Civil(2016, 3, 24, 21, 5, 19)), "2016-03-24T21:05:19Z");
  EXPECT_EQ(FormatIsoTime(absl::UnixEpoch()), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatIsoTime(absl::FromUnixSeconds(1458854719)), "2016-03-24T21:25:19Z");
  EXPECT_EQ(FormatIsoTime(Civil(2000, 2, 29, 23, 59, 59)), "2000-02-29T23:59:59Z");
  EXPECT_EQ(FormatIsoTime(Civil(2100, 3, 1, 0, 0, 0)), "2100-03-01T00:00:00Z");
  EXPECT_EQ(FormatIsoTime(Civil(2026, 1, 1, 0, 0, 0)), "2026-01-01T00:00:00Z");
  EXPECT_EQ(FormatIsoTime(Civil(1969, 12, 31, 23, 59, 59)), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatIsoTime(Civil(1, 1, 1, 0, 0, 0)), "0001-01-01T00:00:00Z");
}

TEST(TimeFormatTest, TruncatesSubSeconds) {
  const absl::Time t = Civil(2016, 3, 24, 21, 5, 19);
  EXPECT_EQ(FormatIsoTime(t + absl::Milliseconds(999)), "2016-03-24T21:05:19Z");
  EXPECT_EQ(FormatIsoTime(t + absl::Nanoseconds(1)), "2016-03-24T21:05:19Z");
  EXPECT_EQ(FormatIsoTime(t - absl::Nanoseconds(1)), "2016-03-24T21:05:18Z");
  // Before 1970 truncation still goes toward the earlier second.
  EXPECT_EQ(FormatIsoTime(absl::FromUnixMillis(-1)), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatIsoTime(absl::FromUnixMillis(-1000)), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatIsoTime(absl::FromUnixMillis(-1001)), "1969-12-31T23:59:58Z");
}

TEST(TimeFormatTest, ClampsToFourDigitYears) {
  EXPECT_EQ(FormatIsoTime(absl::InfinitePast()), "0000-01-01T00:00:00Z");
  EXPECT_EQ(FormatIsoTime(absl::InfiniteFuture()), "9999-12-31T23:59:59Z");
  EXPECT_EQ(FormatIsoTime(Civil(-1, 12, 31, 23, 59, 59)), "0000-01-01T00:00:00Z");
  EXPECT_EQ(FormatIsoTime(Civil(10000, 1, 1, 0, 0, 0)), "9999-12-31T23:59:59Z");
  EXPECT_EQ(FormatIsoTime(Civil(0, 1, 1, 0, 0, 0)), "0000-01-01T00:00:00Z");
  EXPECT_EQ(FormatIsoTime(Civil(9999, 12, 31, 23, 59, 59)), "9999-12-31T23:59:59Z");
}

TEST(TimeFormatTest, AgreesWithAbslOverTheWholeRange) {
  std::mt19937_64 rng(20160324);
  const int64_t lo = absl::ToUnixSeconds(Civil(0, 1, 1, 0, 0, 0));
  const int64_t hi = absl::ToUnixSeconds(Civil(9999, 12, 31, 23, 59, 59));
  std::uniform_int_distribution<int64_t> seconds(lo, hi);
  std::uniform_int_distribution<int64_t> nanos(0, 999999999);
  for (int i = 0; i < 200000; ++i) {
    const absl::Time t = absl::FromUnixSeconds(seconds(rng)) + absl::Nanoseconds(nanos(rng));
    ASSERT_EQ(FormatIsoTime(t), Reference(t)) << absl::ToUnixSeconds(t);
  }
}

TEST(TimeFormatTest, AgreesWithAbslAroundDayAndYearBoundaries) {
  for (int64_t year :
       {0, 1, 4, 99, 100, 399, 400, 1600, 1900, 1969, 1970, 1999, 2000, 2024, 2100, 9999}) {
    for (int month : {1, 2, 3, 12}) {
      const absl::Time start = Civil(year, month, 1, 0, 0, 0);
      for (int64_t delta : {-86401, -86400, -3601, -1, 0, 1, 59, 3600, 86399, 86400, 2419200}) {
        const absl::Time t = start + absl::Seconds(delta);
        const std::string expected = Reference(t);
        if (expected.size() != 20 || expected[0] == '-') continue;  // outside 0000..9999
        EXPECT_EQ(FormatIsoTime(t), expected);
      }
    }
  }
}

TEST(TimeFormatTest, ParseInvertsFormat) {
  const std::optional<absl::Time> parsed = ParseIsoTime("2016-03-24T21:05:19Z");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, Civil(2016, 3, 24, 21, 5, 19));

  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> seconds(-62167219200, 253402300799);
  for (int i = 0; i < 100000; ++i) {
    const absl::Time t = absl::FromUnixSeconds(seconds(rng));
    const std::string text = FormatIsoTime(t);
    const std::optional<absl::Time> back = ParseIsoTime(text);
    ASSERT_TRUE(back.has_value()) << text;
    ASSERT_EQ(*back, t) << text;
  }
}

TEST(TimeFormatTest, ParsesCalendarEdges) {
  EXPECT_EQ(ParseIsoTime("2016-02-29T00:00:00Z"),
            std::optional<absl::Time>(Civil(2016, 2, 29, 0, 0, 0)));
  EXPECT_EQ(ParseIsoTime("2000-02-29T00:00:00Z"),
            std::optional<absl::Time>(Civil(2000, 2, 29, 0, 0, 0)));
  EXPECT_EQ(ParseIsoTime("0000-01-01T00:00:00Z"),
            std::optional<absl::Time>(Civil(0, 1, 1, 0, 0, 0)));
  EXPECT_EQ(ParseIsoTime("9999-12-31T23:59:59Z"),
            std::optional<absl::Time>(Civil(9999, 12, 31, 23, 59, 59)));
  EXPECT_EQ(ParseIsoTime("1969-12-31T23:59:59Z"),
            std::optional<absl::Time>(absl::FromUnixSeconds(-1)));
}

TEST(TimeFormatTest, RejectsEverythingElse) {
  const char* const kBad[] = {
      "",
      "2016-03-24",
      "2016-03-24T21:05:19",     // no Z
      "2016-03-24T21:05:19z",    // lower-case z
      "2016-03-24t21:05:19Z",    // lower-case t
      "2016-03-24 21:05:19Z",    // space
      "2016-03-24T21:05:19.5Z",  // fraction
      "2016-03-24T21:05:19+00:00",
      "2016-03-24T21:05:19ZZ",
      " 2016-03-24T21:05:19Z",
      "2016-3-24T21:05:19Z",
      "2016/03/24T21:05:19Z",
      "2016-03-24T21-05-19Z",
      "2016-00-24T21:05:19Z",  // month 0
      "2016-13-24T21:05:19Z",  // month 13
      "2016-03-00T21:05:19Z",  // day 0
      "2016-03-32T21:05:19Z",
      "2016-04-31T21:05:19Z",  // April has 30 days
      "2015-02-29T21:05:19Z",  // not a leap year
      "1900-02-29T21:05:19Z",  // not a leap year (century)
      "2016-03-24T24:00:00Z",  // hour 24
      "2016-03-24T21:60:19Z",
      "2016-03-24T21:05:60Z",  // no leap seconds
      "2016-03-24T21:05:1xZ",
      "+016-03-24T21:05:19Z",
      "-016-03-24T21:05:19Z",
      "2016-03-24T21:05:-1Z",
      "２016-03-24T21:05:19Z",
  };
  for (const char* text : kBad) {
    EXPECT_EQ(ParseIsoTime(text), std::nullopt) << text;
  }
  const char with_nul[] = "2016-03-24T21:05:1\0Z";
  EXPECT_EQ(ParseIsoTime(absl::string_view(with_nul, sizeof(with_nul) - 1)), std::nullopt);
}

}  // namespace
}  // namespace internal
}  // namespace userstore
