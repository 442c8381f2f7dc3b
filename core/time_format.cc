#include "core/time_format.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace userstore {
namespace internal {
namespace {

// The calendar arithmetic is Howard Hinnant's days_from_civil /
// civil_from_days (proleptic Gregorian, exact for every int64 day count we
// pass). It replaces absl::FormatTime / absl::ToCivilSecond because the REST
// layer formats two dates per rendered user and the time zone machinery is
// several times slower than this handful of integer operations.

constexpr int64_t kSecondsPerDay = 86400;

// Days since 1970-01-01 of y-m-d.
constexpr int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                    // [0, 399]
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + doe - 719468;
}

struct CivilDate {
  int64_t year;
  int month;
  int day;
};

constexpr CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);             // [1, 31]
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);              // [1, 12]
  return CivilDate{yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

// The span a four-digit year can show. Times outside it are clamped, so the
// output always has the documented shape and parses back.
constexpr int64_t kMinSeconds = DaysFromCivil(0, 1, 1) * kSecondsPerDay;
constexpr int64_t kMaxSeconds = DaysFromCivil(9999, 12, 31) * kSecondsPerDay + kSecondsPerDay - 1;
static_assert(kMinSeconds == -62167219200, "0000-01-01T00:00:00Z");
static_assert(kMaxSeconds == 253402300799, "9999-12-31T23:59:59Z");

inline void Write2(int v, char* out) {
  out[0] = static_cast<char>('0' + v / 10);
  out[1] = static_cast<char>('0' + v % 10);
}

// Reads `count` ASCII digits at `p`; -1 when one is not a digit.
inline int ReadDigits(const char* p, int count) {
  int v = 0;
  for (int i = 0; i < count; ++i) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

constexpr bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

}  // namespace

std::string FormatIsoTime(absl::Time t) {
  // ToUnixSeconds rounds toward negative infinity, which is the truncation a
  // calendar needs (also before 1970), and maps the infinite times to the
  // int64 extremes, which the clamp then handles.
  int64_t seconds = absl::ToUnixSeconds(t);
  if (seconds < kMinSeconds) seconds = kMinSeconds;
  if (seconds > kMaxSeconds) seconds = kMaxSeconds;

  // Floor division: `seconds` may be negative.
  int64_t days = seconds / kSecondsPerDay;
  int64_t second_of_day = seconds % kSecondsPerDay;
  if (second_of_day < 0) {
    second_of_day += kSecondsPerDay;
    --days;
  }
  const CivilDate date = CivilFromDays(days);
  const int year = static_cast<int>(date.year);  // [0, 9999] after the clamp
  const int sod = static_cast<int>(second_of_day);

  char buf[20];
  Write2(year / 100, buf);
  Write2(year % 100, buf + 2);
  buf[4] = '-';
  Write2(date.month, buf + 5);
  buf[7] = '-';
  Write2(date.day, buf + 8);
  buf[10] = 'T';
  Write2(sod / 3600, buf + 11);
  buf[13] = ':';
  Write2(sod / 60 % 60, buf + 14);
  buf[16] = ':';
  Write2(sod % 60, buf + 17);
  buf[19] = 'Z';
  return std::string(buf, sizeof(buf));
}

std::optional<absl::Time> ParseIsoTime(absl::string_view text) {
  // Exactly "YYYY-MM-DDTHH:MM:SSZ": no fractions, offsets, lower-case
  // separators or leap seconds, so every accepted text is what
  // FormatIsoTime() would write for the result.
  if (text.size() != 20) return std::nullopt;
  const char* p = text.data();
  if (p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':' || p[19] != 'Z') {
    return std::nullopt;
  }
  const int year = ReadDigits(p, 4);
  const int month = ReadDigits(p + 5, 2);
  const int day = ReadDigits(p + 8, 2);
  const int hour = ReadDigits(p + 11, 2);
  const int minute = ReadDigits(p + 14, 2);
  const int second = ReadDigits(p + 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 59) {
    return std::nullopt;
  }
  if (day > DaysInMonth(year, month)) return std::nullopt;
  const int64_t seconds = DaysFromCivil(year, month, day) * kSecondsPerDay + int64_t{hour} * 3600 +
                          int64_t{minute} * 60 + second;
  return absl::FromUnixSeconds(seconds);
}

}  // namespace internal
}  // namespace userstore
