// The one table of userstore's error codes, and the functions that read it.
//
// Every `ErrorCode` enumerator except `kOk` has exactly one row. Two checks
// keep the table honest at compile time: `static_assert`s that the codes are
// strictly ascending (so unique), and the exhaustive `switch` in
// `LookupError()`, which `-Wswitch` flags when an enumerator has no case, and
// whose cases each `static_assert` that their row exists.
//
// Canonical codes follow google/rpc/code.proto where Twilio's HTTP status
// allows it. Where Twilio's HTTP status and code.proto disagree, the canonical
// code describes the condition and the table's `http_status` (what REST
// clients see) is Twilio's: 20004 is kUnimplemented (405, not 501), 20409 is
// kFailedPrecondition (409, not 400) and 50208 is kResourceExhausted (403, not
// 429). Twilio's 400-class "not found" codes (50100) stay kInvalidArgument so
// that a status that lost its payload still falls back to a 400.

#include "userstore/status.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace userstore {
namespace internal {

// `extern` because the header declares it so: a namespace-scope constexpr
// variable would otherwise have internal linkage.
extern constexpr ErrorInfo kErrorTable[] = {
    {ErrorCode::kInvalidParameter, 400, absl::StatusCode::kInvalidArgument, "InvalidParameter",
     "Invalid parameter"},
    {ErrorCode::kMethodNotAllowed, 405, absl::StatusCode::kUnimplemented, "MethodNotAllowed",
     "Method not allowed"},
    {ErrorCode::kForbidden, 403, absl::StatusCode::kPermissionDenied, "Forbidden", "Forbidden"},
    {ErrorCode::kNotFound, 404, absl::StatusCode::kNotFound, "NotFound",
     "The requested resource %s was not found"},
    {ErrorCode::kRoleInUse, 409, absl::StatusCode::kFailedPrecondition, "RoleInUse",
     "Role is in use"},
    {ErrorCode::kTooManyRequests, 429, absl::StatusCode::kResourceExhausted, "TooManyRequests",
     "Too Many Requests"},
    {ErrorCode::kInternal, 500, absl::StatusCode::kInternal, "Internal", "Internal error"},
    {ErrorCode::kServiceUnavailable, 503, absl::StatusCode::kUnavailable, "ServiceUnavailable",
     "Service Unavailable"},
    {ErrorCode::kFriendlyNameTooLong, 400, absl::StatusCode::kInvalidArgument,
     "FriendlyNameTooLong", "Friendly name too long"},
    {ErrorCode::kWebhookRejected, 403, absl::StatusCode::kPermissionDenied, "WebhookRejected",
     "Webhook disabled processing of command"},
    {ErrorCode::kActionsPerSecondLimitExceeded, 429, absl::StatusCode::kResourceExhausted,
     "ActionsPerSecondLimitExceeded", "Actions per second limit exceeded"},
    {ErrorCode::kRoleNotFound, 400, absl::StatusCode::kInvalidArgument, "RoleNotFound",
     "Role not found"},
    {ErrorCode::kInvalidRoleType, 400, absl::StatusCode::kInvalidArgument, "InvalidRoleType",
     "Invalid role type"},
    {ErrorCode::kUserAlreadyExists, 409, absl::StatusCode::kAlreadyExists, "UserAlreadyExists",
     "User already exists"},
    {ErrorCode::kIdentityNotProvided, 400, absl::StatusCode::kInvalidArgument,
     "IdentityNotProvided", "Identity not provided"},
    {ErrorCode::kIdentityMatchesSidPattern, 400, absl::StatusCode::kInvalidArgument,
     "IdentityMatchesSidPattern", "Identity should not match user SID pattern"},
    {ErrorCode::kIdentityTooLong, 400, absl::StatusCode::kInvalidArgument, "IdentityTooLong",
     "Identity too long"},
    {ErrorCode::kUserChannelLimitExceeded, 403, absl::StatusCode::kResourceExhausted,
     "UserChannelLimitExceeded", "User channel limit exceeded"},
    {ErrorCode::kAttributesTooLong, 400, absl::StatusCode::kInvalidArgument, "AttributesTooLong",
     "Attributes too long"},
    {ErrorCode::kAttributesNotValidJson, 400, absl::StatusCode::kInvalidArgument,
     "AttributesNotValidJson", "Attributes not valid JSON"},
};

extern constexpr int kErrorTableSize = sizeof(kErrorTable) / sizeof(kErrorTable[0]);

}  // namespace internal

namespace {

using internal::kErrorTable;
using internal::kErrorTableSize;

constexpr absl::string_view kErrorCodeTypeUrl = "userstore/error_code";

constexpr bool TableIsStrictlyAscending() {
  for (int i = 1; i < kErrorTableSize; ++i) {
    if (static_cast<int>(kErrorTable[i - 1].code) >= static_cast<int>(kErrorTable[i].code)) {
      return false;
    }
  }
  return true;
}
static_assert(TableIsStrictlyAscending(), "kErrorTable must be strictly ascending by code");

constexpr int RowIndexOf(ErrorCode code) {
  for (int i = 0; i < kErrorTableSize; ++i) {
    if (kErrorTable[i].code == code) return i;
  }
  return -1;
}

// The row of `kCode`, found at compile time: a missing row fails the build.
template <ErrorCode kCode>
const ErrorInfo* Row() {
  constexpr int kIndex = RowIndexOf(kCode);
  static_assert(kIndex >= 0, "an ErrorCode enumerator has no row in kErrorTable");
  return &kErrorTable[kIndex];
}

// The template with its `%s` (and the space before it) taken out, so the 404
// row reads "The requested resource was not found" when no path is known.
std::string DefaultMessage(const ErrorInfo& row) {
  absl::string_view text = row.message_template;
  const size_t hole = text.find("%s");
  if (hole == absl::string_view::npos) return std::string(text);
  size_t cut_begin = hole;
  if (cut_begin > 0 && text[cut_begin - 1] == ' ') --cut_begin;
  return absl::StrCat(text.substr(0, cut_begin), text.substr(hole + 2));
}

// The fallback of `ErrorCodeOf()` for statuses that carry no (usable) payload,
// such as those made by absl or by code outside userstore.
ErrorCode FallbackCode(absl::StatusCode canonical) {
  switch (canonical) {
    case absl::StatusCode::kNotFound:
      return ErrorCode::kNotFound;
    case absl::StatusCode::kInvalidArgument:
      return ErrorCode::kInvalidParameter;
    default:
      return ErrorCode::kInternal;
  }
}

}  // namespace

const ErrorInfo* LookupError(ErrorCode code) {
  // No `default:` label, so that -Wswitch names any enumerator left out here.
  switch (code) {
    case ErrorCode::kOk:
      return nullptr;
    case ErrorCode::kInvalidParameter:
      return Row<ErrorCode::kInvalidParameter>();
    case ErrorCode::kForbidden:
      return Row<ErrorCode::kForbidden>();
    case ErrorCode::kNotFound:
      return Row<ErrorCode::kNotFound>();
    case ErrorCode::kMethodNotAllowed:
      return Row<ErrorCode::kMethodNotAllowed>();
    case ErrorCode::kRoleInUse:
      return Row<ErrorCode::kRoleInUse>();
    case ErrorCode::kInternal:
      return Row<ErrorCode::kInternal>();
    case ErrorCode::kFriendlyNameTooLong:
      return Row<ErrorCode::kFriendlyNameTooLong>();
    case ErrorCode::kWebhookRejected:
      return Row<ErrorCode::kWebhookRejected>();
    case ErrorCode::kRoleNotFound:
      return Row<ErrorCode::kRoleNotFound>();
    case ErrorCode::kInvalidRoleType:
      return Row<ErrorCode::kInvalidRoleType>();
    case ErrorCode::kUserAlreadyExists:
      return Row<ErrorCode::kUserAlreadyExists>();
    case ErrorCode::kIdentityNotProvided:
      return Row<ErrorCode::kIdentityNotProvided>();
    case ErrorCode::kIdentityMatchesSidPattern:
      return Row<ErrorCode::kIdentityMatchesSidPattern>();
    case ErrorCode::kIdentityTooLong:
      return Row<ErrorCode::kIdentityTooLong>();
    case ErrorCode::kUserChannelLimitExceeded:
      return Row<ErrorCode::kUserChannelLimitExceeded>();
    case ErrorCode::kAttributesTooLong:
      return Row<ErrorCode::kAttributesTooLong>();
    case ErrorCode::kAttributesNotValidJson:
      return Row<ErrorCode::kAttributesNotValidJson>();
    case ErrorCode::kActionsPerSecondLimitExceeded:
      return Row<ErrorCode::kActionsPerSecondLimitExceeded>();
    case ErrorCode::kServiceUnavailable:
      return Row<ErrorCode::kServiceUnavailable>();
    case ErrorCode::kTooManyRequests:
      return Row<ErrorCode::kTooManyRequests>();
  }
  // A number cast into `ErrorCode` that names no enumerator.
  return nullptr;
}

absl::Status MakeError(ErrorCode code, absl::string_view message) {
  const ErrorInfo* row = LookupError(code);
  // `kOk` or an unknown number is a caller bug; an error constructor must
  // still return an error, so it becomes 500/20500 rather than an OK status.
  if (row == nullptr) row = Row<ErrorCode::kInternal>();
  absl::Status status(row->canonical, message.empty() ? DefaultMessage(*row) : message);
  status.SetPayload(kErrorCodeTypeUrl, absl::Cord(absl::StrCat(static_cast<int>(row->code))));
  return status;
}

absl::Status NotFoundError(absl::string_view path) {
  if (path.empty()) return MakeError(ErrorCode::kNotFound);
  return MakeError(ErrorCode::kNotFound,
                   absl::StrCat("The requested resource ", path, " was not found"));
}

absl::Status InvalidParameterError(absl::string_view message) {
  return MakeError(ErrorCode::kInvalidParameter, message);
}

ErrorCode ErrorCodeOf(const absl::Status& status) {
  if (status.ok()) return ErrorCode::kOk;
  const absl::optional<absl::Cord> payload = status.GetPayload(kErrorCodeTypeUrl);
  if (payload.has_value()) {
    // The payload is a short decimal; anything else (a foreign or damaged
    // payload) is ignored rather than trusted.
    int number = 0;
    if (payload->size() <= 16 && absl::SimpleAtoi(std::string(*payload), &number)) {
      const ErrorCode code = static_cast<ErrorCode>(number);
      if (LookupError(code) != nullptr) return code;
    }
  }
  return FallbackCode(status.code());
}

int HttpStatusOf(const absl::Status& status) {
  if (status.ok()) return 200;
  // Never null: ErrorCodeOf() returns a code with a row for any non-OK status.
  const ErrorInfo* row = LookupError(ErrorCodeOf(status));
  return row != nullptr ? row->http_status : 500;
}

std::string MoreInfoUrl(ErrorCode code) {
  return absl::StrCat("https://www.twilio.com/docs/errors/", static_cast<int>(code));
}

}  // namespace userstore
