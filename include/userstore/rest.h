// -----------------------------------------------------------------------------
// File: userstore/rest.h
// -----------------------------------------------------------------------------
//
// `Dispatcher` serves Twilio's REST API for Users (and the Services and Roles
// paths they need) over a `UserStore`, in process, with no socket: an
// `HttpRequest` goes in, an `HttpResponse` with Twilio's JSON comes out
// (SEMANTICS 3-6). It parses, calls the store, and renders; every rule lives
// in the store.
//
// Surfaces (SEMANTICS 4):
//   Chat v2         /v2/Services/{IS}/Users[/{Sid}]   hosts chat.twilio.com,
//                                                    ip-messaging.twilio.com
//   Chat v1         /v1/Services/{IS}/Users[/{Sid}]   same hosts, or no host
//   Conversations   /v1/Users[/{Sid}]                 conversations.twilio.com
//                   /v1/Services/{IS}/Users[/{Sid}]   (also with no host for
//                                                    /v1/Users)
// plus /v{1,2}/Services[/{IS}] and /v{1,2}/Services/{IS}/Roles[/{RL}].
// `{Sid}` is a user SID or a percent-encoded identity. URLs in responses use
// the host the request named (so the ip-messaging alias is echoed), else the
// surface's canonical host.
//
// Failure injection (fault_injection.h): a dispatcher given a `FaultInjector`
// consults it before serving each request, so that a test can make requests
// answer 429 under a rate limit, 503, or any Twilio error, or lose the answer
// of a write that happened. Without one (the default) it costs one null check
// a request.
//
// Thread safety: `Handle` is const and may be called from many threads at
// once (the store and the injector do the locking). `set_fault_injector` is
// not: call it before the dispatcher serves requests.

#ifndef USERSTORE_REST_H_
#define USERSTORE_REST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

#include "userstore/user_store.h"

namespace userstore {

class FaultInjector;  // fault_injection.h

// userstore::HttpRequest
struct HttpRequest {
  // "GET", "POST", "DELETE" (case-sensitive, as HTTP). Others: 405/20004.
  std::string method;
  // Absolute ("https://chat.twilio.com/v2/...") or path-only ("/v2/..."), with
  // an optional query string.
  std::string url;
  // Header names are matched case-insensitively. Only
  // `X-Twilio-Webhook-Enabled` is read ("true"/"false"; else 400/20001).
  std::vector<std::pair<std::string, std::string>> headers;
  // The `application/x-www-form-urlencoded` body of a POST.
  std::string body;
};

// userstore::HttpResponse
struct HttpResponse {
  int status = 200;
  // The JSON body; empty for 204.
  std::string body;
  // Response headers, in order. Empty for every answer of the store; an
  // injected 429 carries `Retry-After` (whole seconds) here.
  std::vector<std::pair<std::string, std::string>> headers;
};

// userstore::Dispatcher
class Dispatcher {
 public:
  // `store` is not owned and must outlive the dispatcher.
  explicit Dispatcher(UserStore* store);

  // The same, consulting `injector` before serving each request (see
  // fault_injection.h); nullptr means none. The dispatcher shares ownership
  // of the injector.
  Dispatcher(UserStore* store, std::shared_ptr<FaultInjector> injector);

  // Dispatcher::set_fault_injector()
  //
  // Replaces the injector (nullptr: none). Not thread-safe: call it before
  // `Handle` is called, or while no call of `Handle` runs. O(1).
  void set_fault_injector(std::shared_ptr<FaultInjector> injector);

  // Dispatcher::fault_injector()
  //
  // The injector, or nullptr.
  const std::shared_ptr<FaultInjector>& fault_injector() const { return injector_; }

  // Dispatcher::Handle()
  //
  // Serves one request. Never fails: errors are Twilio error bodies
  // `{"code", "message", "more_info", "status"}` with the HTTP status of the
  // code. 404/20404 for a path that does not exist, 405/20004 for a method a
  // path does not serve. With a fault injector, the answer may instead be
  // the injector's (fault_injection.h). Cost: the store call plus O(size of
  // the request and response), plus the injector's when there is one.
  HttpResponse Handle(const HttpRequest& request) const;

 private:
  HttpResponse Serve(const HttpRequest& request) const;

  UserStore* store_;
  std::shared_ptr<FaultInjector> injector_;
};

// userstore::FormEncode()
//
// Encodes pairs as `application/x-www-form-urlencoded` (space as `+`), in the
// order given; repeated keys stay repeated. The inverse of what `Handle`
// parses; used by `userstore replay` and tests.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& pairs);

// userstore::PercentEncodePathSegment()
//
// Encodes an identity for use as a path segment (RFC 3986 unreserved
// characters are kept).
std::string PercentEncodePathSegment(absl::string_view segment);

}  // namespace userstore

#endif  // USERSTORE_REST_H_
