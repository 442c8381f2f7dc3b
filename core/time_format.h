// Dates as Twilio writes them: ISO 8601, UTC, whole seconds, "2016-03-24T21:05:19Z".

#ifndef USERSTORE_CORE_TIME_FORMAT_H_
#define USERSTORE_CORE_TIME_FORMAT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace userstore {
namespace internal {

// "YYYY-MM-DDTHH:MM:SSZ" of `t` truncated to whole seconds.
std::string FormatIsoTime(absl::Time t);
// The inverse; nullopt for anything else.
std::optional<absl::Time> ParseIsoTime(absl::string_view text);

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_TIME_FORMAT_H_
