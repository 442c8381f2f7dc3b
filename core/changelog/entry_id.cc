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

bool ChangelogLog::ParseEntryId(absl::string_view id, uint64_t* last_sequence, uint64_t* epoch) {
  const size_t dash = id.find('-');
  if (dash == absl::string_view::npos || dash == 0 || dash + 1 == id.size()) return false;
  const absl::string_view seq = id.substr(0, dash);
  const absl::string_view ep = id.substr(dash + 1);
  for (absl::string_view part : {seq, ep}) {
    for (char c : part) {
      if (c < '0' || c > '9') return false;
    }
  }
  return absl::SimpleAtoi(seq, last_sequence) && absl::SimpleAtoi(ep, epoch);
}

}  // namespace userstore
