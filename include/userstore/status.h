// -----------------------------------------------------------------------------
// File: userstore/status.h
// -----------------------------------------------------------------------------
//
// userstore reports every failure as an `absl::Status` that carries one of
// Twilio's numeric error codes (`ErrorCode`), the HTTP status Twilio answers
// with, and Twilio's message text. There is exactly one table of codes (in
// core/status.cc); the C++ API, the REST dispatcher and the docs all read it.
// No exception ever crosses the userstore API.
//
// Thread safety: every function here is pure and may be called from any thread.

#ifndef USERSTORE_STATUS_H_
#define USERSTORE_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace userstore {

// userstore::ErrorCode
//
// Twilio's error numbers, as documented at https://www.twilio.com/docs/errors.
// The numeric values are Twilio's and are never renumbered. `kOk` (0) is what
// `ErrorCodeOf()` returns for an OK status.
enum class ErrorCode : int {
  kOk = 0,
  // 400: a parameter is missing, malformed or out of range (the generic code).
  kInvalidParameter = 20001,
  // 403: this store takes no writes: it follows a changelog (a follower), or
  // it led one and was fenced by a newer leader (docs/scaling.md).
  kForbidden = 20403,
  // 404: the addressed resource (service, user, role, path) does not exist.
  kNotFound = 20404,
  // 405: the path exists but does not serve this HTTP method.
  kMethodNotAllowed = 20004,
  // 409: a role that is still assigned (or is a service default) was deleted.
  kRoleInUse = 20409,
  // 429: too many requests (a rate limit of the REST layer's failure
  // injection, docs/rest.md "Failure injection").
  kTooManyRequests = 20429,
  // 500: an internal failure (for example a hook that threw). Never expected.
  kInternal = 20500,
  // 503: the service cannot take the request now: a durable store's journal
  // could not be written, or a sync of it failed (docs/durability.md); or an
  // injected outage.
  kServiceUnavailable = 20503,
  // 400: FriendlyName longer than `StoreOptions::max_friendly_name_length`.
  kFriendlyNameTooLong = 50003,
  // 403: an `onUserUpdate` hook vetoed the update.
  kWebhookRejected = 50056,
  // 429: Chat's own rate limit, "Actions per second limit exceeded".
  kActionsPerSecondLimitExceeded = 50063,
  // 400: RoleSid is well-formed but names no role of the service.
  kRoleNotFound = 50100,
  // 400: RoleSid names a channel role where a deployment role is needed.
  kInvalidRoleType = 50105,
  // 409: a user with that identity already exists in the service.
  kUserAlreadyExists = 50201,
  // 400: Identity is present but empty.
  kIdentityNotProvided = 50204,
  // 400: Identity matches the user SID pattern `^US[0-9a-fA-F]{32}$`.
  kIdentityMatchesSidPattern = 50206,
  // 400: Identity longer than `StoreOptions::max_identity_length`.
  kIdentityTooLong = 50207,
  // 403: joining one more channel would pass `StoreOptions::max_user_channels`.
  kUserChannelLimitExceeded = 50208,
  // 400: Attributes larger than `max_attributes_bytes` or deeper than
  // `max_attributes_depth`.
  kAttributesTooLong = 50303,
  // 400: Attributes is not valid JSON (RFC 8259) or not valid UTF-8.
  kAttributesNotValidJson = 50304,
};

// userstore::ErrorInfo
//
// One row of the error table.
struct ErrorInfo {
  ErrorCode code;
  // The HTTP status Twilio answers with (400, 403, 404, ...).
  int http_status;
  // The absl canonical code carried by statuses of this row.
  absl::StatusCode canonical;
  // Short stable name, e.g. "UserAlreadyExists".
  const char* name;
  // Twilio's default message. May hold one `%s` (the 404 row holds the path).
  const char* message_template;
};

// userstore::LookupError()
//
// Returns the table row for `code`, or nullptr for `kOk` or an unknown number.
// O(1).
const ErrorInfo* LookupError(ErrorCode code);

// userstore::AllErrors()
//
// Calls `fn` once for every row of the table, in ascending code order. Used by
// the docs generator and the table test. O(rows).
template <typename Fn>
void ForEachError(Fn fn);

// userstore::MakeError()
//
// Builds the status for `code`. When `message` is empty the row's template is
// used (with `%s` removed); otherwise `message` is the whole message text.
// The numeric code travels as the payload `userstore/error_code`, so it
// survives copies and `absl::Status` comparisons.
//
// Example:
//   return MakeError(ErrorCode::kUserAlreadyExists);   // 409, "User already exists"
absl::Status MakeError(ErrorCode code, absl::string_view message = {});

// userstore::NotFoundError()
//
// The 404/20404 status with Twilio's message
// "The requested resource {path} was not found".
absl::Status NotFoundError(absl::string_view path);

// userstore::InvalidParameterError()
//
// The 400/20001 status with the given message.
absl::Status InvalidParameterError(absl::string_view message);

// userstore::ErrorCodeOf()
//
// The Twilio code carried by `status`: `kOk` for OK; the payload when there is
// one; otherwise a fallback by canonical code (kNotFound -> 20404,
// kInvalidArgument -> 20001, anything else -> 20500).
ErrorCode ErrorCodeOf(const absl::Status& status);

// userstore::HttpStatusOf()
//
// The HTTP status to answer `status` with: 200 for OK, else the table's value
// for `ErrorCodeOf(status)`.
int HttpStatusOf(const absl::Status& status);

// userstore::MoreInfoUrl()
//
// "https://www.twilio.com/docs/errors/{code}".
std::string MoreInfoUrl(ErrorCode code);

// --- implementation details below ---------------------------------------------

namespace internal {
// The table, in ascending code order, and its length.
extern const ErrorInfo kErrorTable[];
extern const int kErrorTableSize;
}  // namespace internal

template <typename Fn>
void ForEachError(Fn fn) {
  for (int i = 0; i < internal::kErrorTableSize; ++i) fn(internal::kErrorTable[i]);
}

}  // namespace userstore

#endif  // USERSTORE_STATUS_H_
