// ChangelogLog's entry IDs (changelog.h): "<last_sequence>-<epoch>".

#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

#include "userstore/changelog.h"

namespace userstore {

std::string ChangelogLog::EntryId(uint64_t last_sequence, uint64_t epoch) {
  return absl::StrCat(last_sequence, "-", epoch);
}

namespace {

// A decimal number of at most 20 digits, at most 2^64-1, no sign, no
// leading zero but for 0 itself.
bool ParseDecimal(absl::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(text, value);
}

}  // namespace

bool ChangelogLog::ParseEntryId(absl::string_view id, uint64_t* last_sequence, uint64_t* epoch) {
  const size_t dash = id.find('-');
  if (dash == absl::string_view::npos) return false;
  return ParseDecimal(id.substr(0, dash), last_sequence) &&
         ParseDecimal(id.substr(dash + 1), epoch);
}

}  // namespace userstore
