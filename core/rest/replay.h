// The `userstore replay` protocol (SEMANTICS 8): one JSON request per line in,
// one JSON response per line out.

#ifndef USERSTORE_CORE_REST_REPLAY_H_
#define USERSTORE_CORE_REST_REPLAY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "userstore/rest.h"

namespace userstore {
namespace internal {

// Parses one line {"method", "url", "headers"?, "form"?} into a request. `form`
// may be an object of strings or arrays of strings (encoded with FormEncode)
// or a string that is already form-encoded. Anything else (not JSON, not an
// object, a missing/non-string method or url, a header value that is not a
// string, ...): 400/20001 with a message saying what is wrong. Iterative JSON
// parsing: no input can exhaust the stack.
absl::StatusOr<HttpRequest> ParseReplayLine(absl::string_view line);

// {"status": S, "body": <the body JSON, or null when empty>} on one line,
// without a trailing newline. REQUIRES: response.body is empty or valid JSON.
std::string RenderReplayLine(const HttpResponse& response);

// Handles one input line end to end: parse, dispatch, render. A line that does
// not parse gets {"status": 400, "body": {"code": 20001, ...}}.
std::string ReplayOneLine(const Dispatcher& dispatcher, absl::string_view line);

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_REST_REPLAY_H_
