// The `userstore replay` protocol (SEMANTICS 8, docs/replay.md): one JSON
// request or control line per line in, one JSON response per line out.

#ifndef USERSTORE_CORE_REST_REPLAY_H_
#define USERSTORE_CORE_REST_REPLAY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "userstore/fault_injection.h"
#include "userstore/options.h"
#include "userstore/rest.h"
#include "userstore/user_store.h"

namespace userstore {
namespace internal {

// A member of a control line: its JSON type and value.
struct ControlValue {
  // kInt: an integer in int64's range; kUint: a larger one (in `u`).
  enum class Type { kNull, kBool, kInt, kUint, kDouble, kString, kContainer };
  Type type = Type::kNull;
  bool b = false;
  int64_t i = 0;          // kInt
  uint64_t u = 0;         // kUint (and kInt >= 0)
  double d = 0;           // every number
  std::string s;          // kString
  bool too_long = false;  // kString longer than 4096 bytes (`s` is then empty)
};

// A control line: {"control": NAME, ...} (docs/replay.md). `members` holds
// the members of the control vocabulary that the line has, first occurrence
// only; `method` is the line's "method" member, if any.
struct ControlLine {
  std::string name;
  std::optional<std::string> method;
  std::vector<std::pair<std::string, ControlValue>> members;

  // The member called `key`, or nullptr.
  const ControlValue* Find(absl::string_view key) const;
};

// One parsed input line: a request or a control line.
struct ReplayInput {
  bool is_control = false;
  HttpRequest request;  // when !is_control
  ControlLine control;  // when is_control
};

// Parses one line: a request {"method", "url", "headers"?, "form"?} or a
// control line, recognised by its "control" member (which must be a string;
// a control line has no "url"). `form` may be an object of strings or arrays
// of strings (encoded with FormEncode) or a string that is already
// form-encoded. Anything else (not JSON, not an object, a missing/non-string
// method or url, a header value that is not a string, ...): 400/20001 with a
// message saying what is wrong. Iterative JSON parsing: no input can exhaust
// the stack.
absl::StatusOr<ReplayInput> ParseReplayInput(absl::string_view line);

// The request of a request line; a control line is a 400/20001 here (only a
// `ReplaySession` runs them).
absl::StatusOr<HttpRequest> ParseReplayLine(absl::string_view line);

// {"status": S, "headers": {...}, "body": <the body JSON, or null when
// empty>} on one line, without a trailing newline; "headers" only when the
// response has any (a repeated header name keeps its first value).
// REQUIRES: response.body is empty or valid JSON.
std::string RenderReplayLine(const HttpResponse& response);

// Handles one request line end to end: parse, dispatch, render. A line that
// does not parse gets {"status": 400, "body": {"code": 20001, ...}}, and so
// does a control line (see ReplaySession).
std::string ReplayOneLine(const Dispatcher& dispatcher, absl::string_view line);

// ReplaySession
//
// What `userstore replay` runs: a dispatcher over `store` with a
// `FaultInjector`, and the control lines that drive the injector and the
// clock (docs/replay.md). `clock` is the store's ManualClock (from --now), or
// nullptr when the store runs on the system clock (then "clock" control lines
// answer 400/20001). The injector runs on `clock`, else on the system clock.
//
// Thread safety: one session serves one line at a time.
class ReplaySession {
 public:
  // `store` is not owned and must outlive the session.
  ReplaySession(UserStore* store, std::shared_ptr<ManualClock> clock);

  // The answer line (no trailing newline) to one non-blank input line.
  std::string HandleLine(absl::string_view line);

  const Dispatcher& dispatcher() const { return dispatcher_; }
  FaultInjector& injector() { return *injector_; }

 private:
  absl::StatusOr<std::string> RunControl(const ControlLine& control);
  absl::StatusOr<std::string> Clock(const ControlLine& control);
  absl::StatusOr<std::string> AddRateLimit(const ControlLine& control);
  absl::StatusOr<std::string> AddFault(const ControlLine& control);
  std::string Injected(bool clear);

  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<FaultInjector> injector_;
  Dispatcher dispatcher_;
};

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_REST_REPLAY_H_
