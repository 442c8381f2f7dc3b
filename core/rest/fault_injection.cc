// FaultInjector (userstore/fault_injection.h).
//
// Invariants, under `mu_`:
//   - `rules_` is in ascending id order (ids only grow; removal keeps the
//     order), and `rule_count_` equals `rules_.size()` whenever `mu_` is free.
//   - A rate limit's `tokens` is in [0, burst] and is the bucket's content at
//     time `last`; it is brought up to date (refilled) only when a matching
//     request reaches it, so an idle limit costs nothing.
//   - A fault's `matched` counts the matching requests that reached it (those
//     a rate limit or an earlier fault answered never do), and `fired` the
//     answers it gave.
//
// `serve` runs without `mu_`: it calls the store, which may run hooks that
// call back into the injector (or take long); the decision is made before,
// and an apply_then_fail answer is recorded after, each under the lock.

#include "userstore/fault_injection.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

#include "userstore/options.h"
#include "userstore/rest.h"
#include "userstore/status.h"

#include "core/rest/http_parse.h"
#include "core/rest/render.h"

namespace userstore {
namespace {

// `*` matches any run of characters; everything else matches itself. The
// classic two-pointer match with backtracking to the last star: O(pattern x
// text) at worst, linear for the patterns tests write.
bool GlobMatch(absl::string_view pattern, absl::string_view text) {
  size_t p = 0, t = 0;
  size_t star = absl::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// The path rules match: without scheme, host and query, still encoded. A URL
// the dispatcher cannot parse is matched as given, minus any query.
std::string RequestPath(absl::string_view url) {
  absl::StatusOr<internal::ParsedUrl> parsed = internal::ParseUrl(url);
  if (parsed.ok()) return std::move(parsed->path);
  return std::string(url.substr(0, url.find('?')));
}

absl::Status CheckPattern(absl::string_view path) {
  if (path.empty() || (path.front() != '/' && path.front() != '*')) {
    return InvalidParameterError(
        absl::StrCat("Invalid path pattern '", path, "': must start with '/' or '*'"));
  }
  return absl::OkStatus();
}

// SplitMix64: a tiny generator whose sequence is fixed by its seed on every
// platform (std:: distributions are not).
uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// A uniform double in [0, 1) from the top 53 bits.
double UnitDouble(uint64_t* state) {
  return static_cast<double>(SplitMix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace

FaultRule FaultRule::Next(int64_t times, ErrorCode code) {
  FaultRule rule;
  rule.trigger = Trigger::kNext;
  rule.times = times;
  rule.code = code;
  return rule;
}

FaultRule FaultRule::Every(int64_t every, ErrorCode code) {
  FaultRule rule;
  rule.trigger = Trigger::kEvery;
  rule.every = every;
  rule.code = code;
  return rule;
}

FaultRule FaultRule::WithProbability(double probability, uint64_t seed, ErrorCode code) {
  FaultRule rule;
  rule.trigger = Trigger::kProbability;
  rule.probability = probability;
  rule.seed = seed;
  rule.code = code;
  return rule;
}

struct FaultInjector::Rule {
  int64_t id = 0;
  bool is_limit = false;
  RateLimit limit;  // is_limit
  FaultRule fault;  // !is_limit
  // Rate limit state.
  double tokens = 0;
  absl::Time last;
  // Fault state.
  int64_t matched = 0;
  int64_t fired = 0;
  uint64_t rng = 0;

  const std::string& method() const { return is_limit ? limit.method : fault.method; }
  const std::string& path() const { return is_limit ? limit.path : fault.path; }
};

// What Decide() concluded. When `fire` is set, `response` is the injected
// answer and `answer` its record (not yet recorded when `apply`).
struct FaultInjector::Decision {
  bool fire = false;
  bool apply = false;
  HttpResponse response;
  InjectedAnswer answer;
};

FaultInjector::FaultInjector(std::shared_ptr<Clock> clock)
    : clock_(clock != nullptr ? std::move(clock) : SystemClock()) {}

FaultInjector::~FaultInjector() = default;

absl::StatusOr<int64_t> FaultInjector::AddRateLimit(const RateLimit& limit) {
  if (!std::isfinite(limit.requests_per_second) || limit.requests_per_second <= 0) {
    return InvalidParameterError("Invalid rate limit: requests_per_second must be finite and > 0");
  }
  if (limit.burst < 1) return InvalidParameterError("Invalid rate limit: burst must be >= 1");
  if (limit.code != ErrorCode::kTooManyRequests &&
      limit.code != ErrorCode::kActionsPerSecondLimitExceeded) {
    return InvalidParameterError("Invalid rate limit: code must be 20429 or 50063");
  }
  absl::Status s = CheckPattern(limit.path);
  if (!s.ok()) return s;
  auto rule = std::make_unique<Rule>();
  rule->is_limit = true;
  rule->limit = limit;
  rule->tokens = static_cast<double>(limit.burst);
  rule->last = clock_->Now();
  absl::MutexLock lock(&mu_);
  rule->id = next_id_++;
  const int64_t id = rule->id;
  rules_.push_back(std::move(rule));
  rule_count_.store(static_cast<int64_t>(rules_.size()), std::memory_order_release);
  return id;
}

absl::StatusOr<int64_t> FaultInjector::AddFault(const FaultRule& fault) {
  if (fault.code == ErrorCode::kOk || LookupError(fault.code) == nullptr) {
    return InvalidParameterError(absl::StrCat("Invalid fault: code ", static_cast<int>(fault.code),
                                              " is not in the error table"));
  }
  if (fault.http_status != 0 && (fault.http_status < 400 || fault.http_status > 599)) {
    return InvalidParameterError("Invalid fault: status must be 0 or in 400..599");
  }
  if (fault.retry_after_seconds < 0) {
    return InvalidParameterError("Invalid fault: retry_after_seconds must be >= 0");
  }
  switch (fault.trigger) {
    case FaultRule::Trigger::kNext:
      if (fault.times < 1) return InvalidParameterError("Invalid fault: times must be >= 1");
      break;
    case FaultRule::Trigger::kEvery:
      if (fault.every < 1) return InvalidParameterError("Invalid fault: every must be >= 1");
      break;
    case FaultRule::Trigger::kProbability:
      if (!(fault.probability >= 0 && fault.probability <= 1)) {  // NaN fails both
        return InvalidParameterError("Invalid fault: probability must be in [0, 1]");
      }
      break;
    default:
      return InvalidParameterError("Invalid fault: unknown trigger");
  }
  absl::Status s = CheckPattern(fault.path);
  if (!s.ok()) return s;
  auto rule = std::make_unique<Rule>();
  rule->fault = fault;
  rule->rng = fault.seed;
  absl::MutexLock lock(&mu_);
  rule->id = next_id_++;
  const int64_t id = rule->id;
  rules_.push_back(std::move(rule));
  rule_count_.store(static_cast<int64_t>(rules_.size()), std::memory_order_release);
  return id;
}

bool FaultInjector::Remove(int64_t id) {
  absl::MutexLock lock(&mu_);
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if ((*it)->id != id) continue;
    rules_.erase(it);
    rule_count_.store(static_cast<int64_t>(rules_.size()), std::memory_order_release);
    return true;
  }
  return false;
}

void FaultInjector::Clear() {
  absl::MutexLock lock(&mu_);
  rules_.clear();
  rule_count_.store(0, std::memory_order_release);
}

std::vector<InjectedAnswer> FaultInjector::Injected() const {
  absl::MutexLock lock(&mu_);
  return record_;
}

void FaultInjector::ClearRecord() {
  absl::MutexLock lock(&mu_);
  record_.clear();
}

FaultInjector::Decision FaultInjector::Decide(const HttpRequest& request) {
  const std::string path = RequestPath(request.url);
  Decision d;
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  Rule* fired = nullptr;
  int64_t retry_after = 0;
  for (const std::unique_ptr<Rule>& rule : rules_) {
    if (!rule->method().empty() && rule->method() != request.method) continue;
    if (!GlobMatch(rule->path(), path)) continue;
    if (rule->is_limit) {
      const RateLimit& limit = rule->limit;
      if (now > rule->last) {
        const double refill = absl::ToDoubleSeconds(now - rule->last) * limit.requests_per_second;
        rule->tokens = std::min(static_cast<double>(limit.burst), rule->tokens + refill);
      }
      // A clock set backwards restarts the refill from the new time.
      rule->last = now;
      if (rule->tokens >= 1) {
        rule->tokens -= 1;
        continue;
      }
      if (limit.retry_after) {
        const double seconds = std::ceil((1 - rule->tokens) / limit.requests_per_second);
        retry_after = seconds < 1      ? 1
                      : seconds > 1e15 ? int64_t{1000000000000000}
                                       : static_cast<int64_t>(seconds);
      }
      fired = rule.get();
      break;
    }
    FaultRule& fault = rule->fault;
    const int64_t n = ++rule->matched;
    bool fire = false;
    switch (fault.trigger) {
      case FaultRule::Trigger::kNext:
        fire = rule->fired < fault.times;
        break;
      case FaultRule::Trigger::kEvery:
        fire = n % fault.every == 0;
        break;
      case FaultRule::Trigger::kProbability:
        fire = UnitDouble(&rule->rng) < fault.probability;
        break;
    }
    if (!fire) continue;
    retry_after = fault.retry_after_seconds;
    fired = rule.get();
    break;
  }
  if (fired == nullptr) return d;
  ++fired->fired;

  ErrorCode code;
  int http;
  absl::Status status;
  if (fired->is_limit) {
    code = fired->limit.code;
    status = MakeError(code);
    http = HttpStatusOf(status);
  } else {
    code = fired->fault.code;
    status = MakeError(code, fired->fault.message);
    http = fired->fault.http_status != 0 ? fired->fault.http_status : HttpStatusOf(status);
  }
  d.fire = true;
  d.apply = !fired->is_limit && fired->fault.apply_then_fail;
  d.response.status = http;
  d.response.body = internal::RenderError(status, http);
  InjectedAnswer& a = d.answer;
  a.rule_id = fired->id;
  a.method = request.method;
  a.url = request.url;
  a.status = http;
  a.code = code;
  a.time = now;
  if (retry_after > 0) {
    a.retry_after = absl::StrCat(retry_after);
    d.response.headers.emplace_back("Retry-After", a.retry_after);
  }
  if (!d.apply) record_.push_back(a);
  return d;
}

HttpResponse FaultInjector::Serve(const HttpRequest& request,
                                  absl::FunctionRef<HttpResponse(const HttpRequest&)> serve) {
  if (rule_count_.load(std::memory_order_acquire) == 0) return serve(request);
  Decision d = Decide(request);
  if (!d.fire) return serve(request);
  if (!d.apply) return std::move(d.response);
  const HttpResponse served = serve(request);
  d.answer.applied = true;
  d.answer.served_status = served.status;
  {
    absl::MutexLock lock(&mu_);
    record_.push_back(std::move(d.answer));
  }
  return std::move(d.response);
}

}  // namespace userstore
