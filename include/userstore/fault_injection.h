// -----------------------------------------------------------------------------
// File: userstore/fault_injection.h
// -----------------------------------------------------------------------------
//
// `FaultInjector`: scripted failures in front of a `Dispatcher` (rest.h), for
// testing a client's retry and error paths against a hermetic, stateful
// Twilio Users service. A dispatcher given an injector consults it before
// serving each request; the injector then either lets the request through,
// answers it itself with a Twilio error (the store is not called), or lets it
// through and replaces its answer afterwards (a lost acknowledgement).
//
// Two kinds of rule, each with an id (1, 2, 3, ... in the order added, shared
// by both kinds):
//
//   - Rate limits (`AddRateLimit`): a token bucket per rule. A matching
//     request takes a token; with none left it is answered 429 with code
//     20429 ("Too Many Requests") or 50063 ("Actions per second limit
//     exceeded") and, by default, a `Retry-After` header.
//   - Faults (`AddFault`): "the next N matching requests", "every k-th
//     matching request" or "each matching request with probability p under a
//     seed" are answered with any row of the error table (status.h).
//     `apply_then_fail` serves the request first (the write happens) and then
//     replaces its answer: a client that retries a create meets 409/50201.
//
// Order of evaluation for one request: rate limits in id order (a request
// refused by one does not reach the later ones, and tokens that earlier
// limits handed it stay spent, as with layered limiters); then faults in id
// order, the first that fires answering (faults after it do not see the
// request, so their counters do not move). A request that no rule fires on is
// served as if there were no injector.
//
// Matching. `method` is compared exactly ("POST"); empty matches every
// method. `path` is a glob where `*` matches any run of characters (`/`
// included) and every other character matches itself; it is matched against
// the request path as sent (still percent-encoded), without scheme, host and
// query: "https://chat.twilio.com/v2/Services/IS1/Users?PageSize=5" is matched
// as "/v2/Services/IS1/Users". "*" (the default) matches every path;
// "/v1/Users*" matches "/v1/Users" and everything under it; "*/Users/*"
// matches any single-user path.
//
// Time. Rate limits refill from the `Clock` given at construction: a test
// passes the `ManualClock` it gave the store and advances it instead of
// sleeping. Each injected answer is recorded with that clock's time.
//
// What Twilio does (docs/rest.md, "Failure injection"): Twilio answers 429
// with 20429 when an account exceeds its REST concurrency, says such
// requests were not processed and are safe to retry, and recommends
// exponential backoff; Chat's own limit answers 50063. Twilio's error pages do
// not document a `Retry-After` header; userstore sends one on rate-limit
// answers by default (the bucket knows when the next token comes) so that
// both kinds of client can be tested, and `RateLimit::retry_after = false`
// turns it off.
//
// Thread safety: every method may be called from any thread at once, also
// while dispatchers consult the injector. One injector may serve several
// dispatchers (they then share its buckets and counters). Under concurrent
// requests, which request gets the last token or is the k-th is decided by
// the order they reach the injector; with one thread it is deterministic.
//
// Cost: a dispatcher without an injector does one null-pointer check per
// request. With an injector that holds no rule, one atomic load. With rules,
// one mutex acquisition and O(rules x path length) matching per request.
//
// Example (a client that must back off on 429):
//   auto clock = std::make_shared<ManualClock>(absl::FromUnixSeconds(1767225600));
//   StoreOptions options;
//   options.clock = clock;
//   UserStore store(options);
//   auto injector = std::make_shared<FaultInjector>(clock);
//   Dispatcher rest(&store, injector);
//   RateLimit limit;
//   limit.requests_per_second = 1;
//   limit.burst = 2;
//   limit.method = "POST";
//   limit.path = "/v1/Users*";
//   injector->AddRateLimit(limit);
//   // The third POST within a second answers 429, Retry-After: 1, code 20429;
//   // clock->Advance(absl::Seconds(1)) gives one token back.

#ifndef USERSTORE_FAULT_INJECTION_H_
#define USERSTORE_FAULT_INJECTION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "userstore/options.h"
#include "userstore/rest.h"
#include "userstore/status.h"

namespace userstore {

// userstore::RateLimit
//
// A token bucket: it starts full with `burst` tokens and gains
// `requests_per_second` tokens a second (fractions accumulate), never holding
// more than `burst`. Each matching request takes one token; a request that
// finds less than one token is refused (and takes none).
struct RateLimit {
  // Tokens added per second. Must be finite and > 0. Default: 1.
  double requests_per_second = 1.0;
  // The bucket's capacity: how many requests may come at once. Must be >= 1.
  // Default: 1.
  int64_t burst = 1;
  // The method the limit applies to ("GET", "POST", "DELETE"); empty: all.
  // Default: empty.
  std::string method;
  // The path glob the limit applies to (file comment). Must start with '/'
  // or '*'. Default: "*".
  std::string path = "*";
  // The answer's code: `kTooManyRequests` (20429) or
  // `kActionsPerSecondLimitExceeded` (50063); both answer HTTP 429.
  // Default: 20429.
  ErrorCode code = ErrorCode::kTooManyRequests;
  // Whether refusals carry `Retry-After`: the whole seconds until the bucket
  // holds a token again, rounded up, at least 1. Default: true.
  bool retry_after = true;
};

// userstore::FaultRule
//
// Which requests a fault hits and what they are answered. The answer is
// Twilio's error body `{"code", "message", "more_info", "status"}` for
// `code`, with `http_status` as both the HTTP status and the body's "status".
struct FaultRule {
  enum class Trigger {
    // The next `times` matching requests, then never again (the rule stays,
    // spent, until removed).
    kNext,
    // The `every`-th matching request, and every `every`-th after it
    // (every = 3: the 3rd, 6th, 9th, ...).
    kEvery,
    // Each matching request with probability `probability`, drawn from a
    // generator seeded with `seed` (SplitMix64; one draw per matching request
    // that reaches the rule): the same seed and the same sequence of requests
    // give the same hits on every platform.
    kProbability,
  };

  // The method the fault applies to; empty: all. Default: empty.
  std::string method;
  // The path glob (file comment). Must start with '/' or '*'. Default: "*".
  std::string path = "*";

  // Any row of the error table (status.h). Default: 20503.
  ErrorCode code = ErrorCode::kServiceUnavailable;
  // The HTTP status; 0 means the row's (503 for 20503, 429 for 20429, ...).
  // Otherwise 400..599, for an answer Twilio gives with another status than
  // the table's. Default: 0.
  int http_status = 0;
  // The body's message; empty means the row's message. Default: empty.
  std::string message;
  // When > 0, the answer carries `Retry-After: <retry_after_seconds>`.
  // Default: 0 (no header).
  int64_t retry_after_seconds = 0;

  Trigger trigger = Trigger::kNext;
  // kNext: how many requests. Must be >= 1. Default: 1.
  int64_t times = 1;
  // kEvery: the period. Must be >= 1 (1: every request). Default: 1.
  int64_t every = 1;
  // kProbability: in [0, 1]. Default: 0.
  double probability = 0.0;
  // kProbability: the generator's seed. Default: 0.
  uint64_t seed = 0;

  // The lost acknowledgement: the request is served (a write happens, an
  // error the store gives is given) and then its answer is replaced by the
  // fault's. Twilio says a 429 was never processed: combine this with 5xx
  // codes to model Twilio, or with 429 to test a client's idempotency
  // anyway. Default: false.
  bool apply_then_fail = false;

  // FaultRule::Next(), FaultRule::Every(), FaultRule::WithProbability()
  //
  // Shorthands for the three triggers, answering `code` with the row's HTTP
  // status, on every method and path (set `method` and `path` after).
  static FaultRule Next(int64_t times, ErrorCode code);
  static FaultRule Every(int64_t every, ErrorCode code);
  static FaultRule WithProbability(double probability, uint64_t seed, ErrorCode code);
};

// userstore::InjectedAnswer
//
// One answer the injector gave (or substituted), as `FaultInjector::Injected`
// reports it.
struct InjectedAnswer {
  // The id of the rule that fired.
  int64_t rule_id = 0;
  // The request's method and URL, as sent.
  std::string method;
  std::string url;
  // The injected HTTP status and Twilio code.
  int status = 0;
  ErrorCode code = ErrorCode::kOk;
  // The `Retry-After` value sent; empty when none.
  std::string retry_after;
  // True when the request was served before its answer was replaced
  // (`apply_then_fail`): whatever it changed is changed. `served_status` is
  // then the status it was served with (201 for a create that happened, 409
  // for one that met 50201, ...), and 0 when `applied` is false.
  bool applied = false;
  int served_status = 0;
  // The injector's clock when the answer was given.
  absl::Time time;
};

// userstore::FaultInjector
//
// See the file comment. Not copyable or movable; share it through a
// `std::shared_ptr`.
class FaultInjector {
 public:
  // `clock` times the rate limits and the record; nullptr means
  // `SystemClock()`.
  explicit FaultInjector(std::shared_ptr<Clock> clock = nullptr);
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;
  ~FaultInjector();

  // FaultInjector::AddRateLimit()
  //
  // Adds a limit; returns its id (> 0). Its bucket starts full now.
  // Errors: 400/20001 for a rate that is not finite and > 0, a burst < 1, a
  // code other than 20429 and 50063, or a path that starts with neither '/'
  // nor '*'; nothing is added then. O(1).
  absl::StatusOr<int64_t> AddRateLimit(const RateLimit& limit);

  // FaultInjector::AddFault()
  //
  // Adds a fault; returns its id (> 0). Errors: 400/20001 for a code that is
  // not a row of the error table (or is kOk), an http_status that is neither
  // 0 nor in 400..599, times < 1, every < 1, a probability outside [0, 1]
  // (or NaN), a negative retry_after_seconds, or a bad path; nothing is added
  // then. O(1).
  absl::StatusOr<int64_t> AddFault(const FaultRule& fault);

  // FaultInjector::Remove()
  //
  // Removes the rule with this id (rate limit or fault). Returns false when
  // there is none. O(rules).
  bool Remove(int64_t id);

  // FaultInjector::Clear()
  //
  // Removes every rule (the record stays). Ids are not reused. O(rules).
  void Clear();

  // FaultInjector::Injected()
  //
  // A copy of every answer injected since construction or the last
  // `ClearRecord()`, in the order they were given. The record grows with
  // every injected answer. O(record).
  std::vector<InjectedAnswer> Injected() const;

  // FaultInjector::ClearRecord()
  //
  // Empties the record. O(record).
  void ClearRecord();

  // FaultInjector::Serve()
  //
  // Serves `request` under the rules: returns an injected answer without
  // calling `serve`, or returns `serve(request)`, or (apply_then_fail) calls
  // `serve(request)` and returns the fault's answer in place of its result.
  // `Dispatcher::Handle` calls this; a test transport of one's own (an HTTP
  // server, say) may call it too. `serve` is called at most once, without
  // the injector's lock held (it may call the injector). Cost: the file
  // comment's, plus `serve`.
  HttpResponse Serve(const HttpRequest& request,
                     absl::FunctionRef<HttpResponse(const HttpRequest&)> serve);

 private:
  struct Rule;
  struct Decision;

  Decision Decide(const HttpRequest& request);

  const std::shared_ptr<Clock> clock_;
  // The number of rules: Serve skips the lock when it is 0.
  std::atomic<int64_t> rule_count_{0};
  mutable absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<std::unique_ptr<Rule>> rules_ ABSL_GUARDED_BY(mu_);  // ascending id
  std::vector<InjectedAnswer> record_ ABSL_GUARDED_BY(mu_);
};

}  // namespace userstore

#endif  // USERSTORE_FAULT_INJECTION_H_
