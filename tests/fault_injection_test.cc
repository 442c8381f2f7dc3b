// Failure injection in the REST layer (userstore/fault_injection.h): each
// trigger, path and method patterns, rate limits refilled by a ManualClock and
// their Retry-After values, 50063, the lost acknowledgement, determinism under
// a seed, the record, validation, thread safety, and a dispatcher without an
// injector answering exactly as before.

#include "userstore/fault_injection.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/rest_testing.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/options.h"
#include "userstore/rest.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using userstore::Dispatcher;
using userstore::ErrorCode;
using userstore::FaultInjector;
using userstore::FaultRule;
using userstore::HttpRequest;
using userstore::HttpResponse;
using userstore::InjectedAnswer;
using userstore::RateLimit;
using userstore_test::FixtureTime;
using userstore_test::IsError;
using userstore_test::Reply;

Reply ToReply(const HttpResponse& response) {
  Reply reply;
  reply.status = response.status;
  reply.body = response.body;
  if (!response.body.empty()) reply.json->Parse(response.body.c_str(), response.body.size());
  if (reply.json->HasParseError()) reply.json->SetNull();
  return reply;
}

// A store on a ManualClock, an injector on the same clock, and a dispatcher
// consulting it.
class FaultInjectionTest : public ::testing::Test {
 protected:
  FaultInjectionTest()
      : clock_(std::make_shared<userstore::ManualClock>(FixtureTime())),
        store_(Options(clock_)),
        injector_(std::make_shared<FaultInjector>(clock_)),
        rest_(&store_, injector_) {}

  static userstore::StoreOptions Options(std::shared_ptr<userstore::Clock> clock) {
    userstore::StoreOptions options;
    options.seed = 11;
    options.clock = std::move(clock);
    return options;
  }

  HttpResponse Send(const std::string& method, const std::string& url,
                    const std::string& body = "") {
    HttpRequest request;
    request.method = method;
    request.url = url;
    request.body = body;
    return rest_.Handle(request);
  }
  HttpResponse CreateUser(const std::string& identity, const std::string& url = "/v1/Users") {
    return Send("POST", url, userstore::FormEncode({{"Identity", identity}}));
  }

  // How many users the default conversation service holds (straight from
  // the store, not through the injector).
  int64_t UserCount() {
    userstore::ListRequest list;
    list.surface = userstore::Surface::kConversations;
    int64_t n = 0;
    for (;;) {
      auto page = store_.ListUsers(store_.default_conversation_service_sid(), list);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) return -1;
      n += static_cast<int64_t>(page->items.size());
      if (page->next_page_token.empty()) return n;
      list.page_token = page->next_page_token;
    }
  }

  int64_t AddLimit(double rps, int64_t burst, const std::string& method = "",
                   const std::string& path = "*", ErrorCode code = ErrorCode::kTooManyRequests) {
    RateLimit limit;
    limit.requests_per_second = rps;
    limit.burst = burst;
    limit.method = method;
    limit.path = path;
    limit.code = code;
    absl::StatusOr<int64_t> id = injector_->AddRateLimit(limit);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : 0;
  }

  int64_t AddFault(const FaultRule& rule) {
    absl::StatusOr<int64_t> id = injector_->AddFault(rule);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : 0;
  }

  std::shared_ptr<userstore::ManualClock> clock_;
  userstore::UserStore store_;
  std::shared_ptr<FaultInjector> injector_;
  Dispatcher rest_;
};

std::string RetryAfter(const HttpResponse& response) {
  for (const auto& h : response.headers) {
    if (h.first == "Retry-After") return h.second;
  }
  return "";
}

// --- rate limits ---------------------------------------------------------------------

TEST_F(FaultInjectionTest, RateLimitAllowsTheBurstThenAnswers429WithRetryAfter) {
  const int64_t id = AddLimit(1, 2, "POST", "/v1/Users*");
  EXPECT_EQ(CreateUser("a").status, 201);
  EXPECT_EQ(CreateUser("b").status, 201);
  const HttpResponse refused = CreateUser("c");
  EXPECT_TRUE(IsError(ToReply(refused), 429, 20429, "Too Many Requests"));
  EXPECT_THAT(refused.headers, ElementsAre(Pair("Retry-After", "1")));
  EXPECT_EQ(UserCount(), 2) << "a refused request changes nothing";

  const std::vector<InjectedAnswer> record = injector_->Injected();
  ASSERT_EQ(record.size(), 1u);
  EXPECT_EQ(record[0].rule_id, id);
  EXPECT_EQ(record[0].method, "POST");
  EXPECT_EQ(record[0].url, "/v1/Users");
  EXPECT_EQ(record[0].status, 429);
  EXPECT_EQ(record[0].code, ErrorCode::kTooManyRequests);
  EXPECT_EQ(record[0].retry_after, "1");
  EXPECT_FALSE(record[0].applied);
  EXPECT_EQ(record[0].served_status, 0);
  EXPECT_EQ(record[0].time, FixtureTime());
}

TEST_F(FaultInjectionTest, RateLimitRefillsWithTheManualClock) {
  AddLimit(2, 1);  // a token every half second, one at most
  EXPECT_EQ(CreateUser("a").status, 201);
  EXPECT_EQ(CreateUser("b").status, 429);
  clock_->Advance(absl::Milliseconds(250));
  EXPECT_EQ(CreateUser("b").status, 429) << "half a token is not a token";
  clock_->Advance(absl::Milliseconds(250));
  EXPECT_EQ(CreateUser("b").status, 201);
  EXPECT_EQ(CreateUser("c").status, 429);
  // A long pause fills the bucket only up to its burst.
  clock_->Advance(absl::Hours(1));
  EXPECT_EQ(CreateUser("c").status, 201);
  EXPECT_EQ(CreateUser("d").status, 429);
  EXPECT_EQ(UserCount(), 3);
}

TEST_F(FaultInjectionTest, RetryAfterIsTheWholeSecondsUntilATokenAtLeastOne) {
  AddLimit(0.25, 1);  // a token every four seconds
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200);
  EXPECT_EQ(RetryAfter(Send("GET", "/v1/Users")), "4");
  clock_->Advance(absl::Milliseconds(1500));
  EXPECT_EQ(RetryAfter(Send("GET", "/v1/Users")), "3") << "2.5 s rounds up";
  clock_->Advance(absl::Milliseconds(2400));
  EXPECT_EQ(RetryAfter(Send("GET", "/v1/Users")), "1") << "0.1 s rounds up to 1";
  clock_->Advance(absl::Milliseconds(100));
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200);

  injector_->Clear();
  AddLimit(1000, 1);  // a token every millisecond: still at least 1
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200);
  EXPECT_EQ(RetryAfter(Send("GET", "/v1/Users")), "1");
}

TEST_F(FaultInjectionTest, RetryAfterCanBeTurnedOff) {
  RateLimit limit;
  limit.retry_after = false;
  ASSERT_TRUE(injector_->AddRateLimit(limit).ok());
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200);
  const HttpResponse refused = Send("GET", "/v1/Users");
  EXPECT_EQ(refused.status, 429);
  EXPECT_TRUE(refused.headers.empty());
  EXPECT_EQ(injector_->Injected().at(0).retry_after, "");
}

TEST_F(FaultInjectionTest, RateLimitCanAnswer50063) {
  AddLimit(1, 1, "", "*", ErrorCode::kActionsPerSecondLimitExceeded);
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200);
  const HttpResponse refused = Send("GET", "/v1/Users");
  EXPECT_TRUE(IsError(ToReply(refused), 429, 50063, "Actions per second limit exceeded"));
  EXPECT_EQ(RetryAfter(refused), "1");
}

TEST_F(FaultInjectionTest, RateLimitAppliesOnlyToItsMethodAndPath) {
  AddLimit(1, 1, "POST", "/v1/Users*");
  EXPECT_EQ(CreateUser("a").status, 201);
  EXPECT_EQ(CreateUser("b").status, 429);
  // Other methods and paths take no token and are never refused.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Send("GET", "/v1/Users/a").status, 200);
    EXPECT_EQ(Send("POST", "https://chat.twilio.com/v2/Services",
                   userstore::FormEncode({{"FriendlyName", "s"}}))
                  .status,
              201);
  }
  // The host and the query are not part of the matched path.
  EXPECT_EQ(Send("POST", "https://conversations.twilio.com/v1/Users?x=1",
                 userstore::FormEncode({{"Identity", "c"}}))
                .status,
            429);
}

TEST_F(FaultInjectionTest, LayeredLimitsRefuseAtTheFirstEmptyBucket) {
  const int64_t wide = AddLimit(1, 3);                 // everything: 3 at once
  const int64_t narrow = AddLimit(1, 1, "POST", "*");  // POSTs: 1 at once
  EXPECT_EQ(CreateUser("a").status, 201);              // wide 2 left, narrow 0
  EXPECT_EQ(CreateUser("b").status, 429);              // refused by narrow; wide 1 left
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200);     // wide 0 left
  const HttpResponse r = Send("GET", "/v1/Users");     // refused by wide
  EXPECT_EQ(r.status, 429);
  const std::vector<InjectedAnswer> record = injector_->Injected();
  ASSERT_EQ(record.size(), 2u);
  EXPECT_EQ(record[0].rule_id, narrow);
  EXPECT_EQ(record[1].rule_id, wide);
}

TEST_F(FaultInjectionTest, ClockSetBackwardsDoesNotAddTokens) {
  AddLimit(1, 1);
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200);
  clock_->Set(FixtureTime() - absl::Hours(1));
  EXPECT_EQ(Send("GET", "/v1/Users").status, 429);
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200);
}

// --- faults ----------------------------------------------------------------------------

TEST_F(FaultInjectionTest, NextNMatchingRequestsFailThenTheRuleIsSpent) {
  FaultRule rule = FaultRule::Next(2, ErrorCode::kServiceUnavailable);
  rule.method = "GET";
  rule.path = "*/Users/*";
  AddFault(rule);
  ASSERT_EQ(CreateUser("a").status, 201) << "a POST does not match";
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200) << "the list path does not match";
  const HttpResponse first = Send("GET", "/v1/Users/a");
  EXPECT_TRUE(IsError(ToReply(first), 503, 20503, "Service Unavailable"));
  EXPECT_TRUE(first.headers.empty());
  EXPECT_EQ(Send("GET", "/v1/Users/a").status, 503);
  EXPECT_EQ(Send("GET", "/v1/Users/a").status, 200);
  EXPECT_EQ(Send("GET", "/v1/Users/a").status, 200);
  EXPECT_EQ(injector_->Injected().size(), 2u);
}

TEST_F(FaultInjectionTest, EveryKthMatchingRequestFails) {
  AddFault(FaultRule::Every(3, ErrorCode::kInternal));
  std::vector<int> statuses;
  for (int i = 0; i < 9; ++i) statuses.push_back(Send("GET", "/v1/Users").status);
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 500, 200, 200, 500, 200, 200, 500}));
}

TEST_F(FaultInjectionTest, ProbabilityIsDeterministicUnderASeed) {
  auto run = [this](uint64_t seed) {
    injector_->Clear();
    AddFault(FaultRule::WithProbability(0.5, seed, ErrorCode::kServiceUnavailable));
    std::string pattern;
    for (int i = 0; i < 64; ++i)
      pattern.push_back(Send("GET", "/v1/Users").status == 503 ? 'x' : '.');
    return pattern;
  };
  const std::string a = run(1234);
  EXPECT_EQ(run(1234), a);
  EXPECT_NE(run(4321), a);
  // About half fail: far from none and from all (64 fair draws give fewer
  // than 10 or more than 54 hits with probability below 1e-8; the seed fixes
  // the draws anyway, so this cannot flake).
  const auto hits = std::count(a.begin(), a.end(), 'x');
  EXPECT_GT(hits, 10);
  EXPECT_LT(hits, 54);

  injector_->Clear();
  AddFault(FaultRule::WithProbability(0, 1, ErrorCode::kServiceUnavailable));
  AddFault(FaultRule::WithProbability(1, 1, ErrorCode::kInternal));
  for (int i = 0; i < 16; ++i) EXPECT_EQ(Send("GET", "/v1/Users").status, 500);
}

TEST_F(FaultInjectionTest, AnyRowOfTheTableAndAnOverriddenStatusAndMessage) {
  FaultRule rule = FaultRule::Next(1, ErrorCode::kRoleInUse);
  AddFault(rule);
  EXPECT_TRUE(IsError(ToReply(Send("GET", "/v1/Users")), 409, 20409, "Role is in use"));

  rule = FaultRule::Next(1, ErrorCode::kInternal);
  rule.http_status = 502;
  rule.message = "Bad Gateway";
  rule.retry_after_seconds = 7;
  AddFault(rule);
  const HttpResponse r = Send("GET", "/v1/Users");
  EXPECT_TRUE(IsError(ToReply(r), 502, 20500, "Bad Gateway"));
  EXPECT_EQ(RetryAfter(r), "7");
}

TEST_F(FaultInjectionTest, ApplyThenFailMakesTheWriteAndTheRetryMeets50201) {
  FaultRule rule = FaultRule::Next(1, ErrorCode::kServiceUnavailable);
  rule.method = "POST";
  rule.apply_then_fail = true;
  const int64_t id = AddFault(rule);
  EXPECT_EQ(CreateUser("alice").status, 503) << "the answer was lost";
  EXPECT_EQ(UserCount(), 1) << "but the write happened";
  EXPECT_EQ(Send("GET", "/v1/Users/alice").status, 200);
  const HttpResponse retry = CreateUser("alice");
  EXPECT_TRUE(IsError(ToReply(retry), 409, 50201, "User already exists"));

  const std::vector<InjectedAnswer> record = injector_->Injected();
  ASSERT_EQ(record.size(), 1u);
  EXPECT_EQ(record[0].rule_id, id);
  EXPECT_TRUE(record[0].applied);
  EXPECT_EQ(record[0].served_status, 201);
  EXPECT_EQ(record[0].status, 503);
}

TEST_F(FaultInjectionTest, ApplyThenFailRecordsWhatTheServedRequestGot) {
  ASSERT_EQ(CreateUser("bob").status, 201);
  FaultRule rule = FaultRule::Next(1, ErrorCode::kServiceUnavailable);
  rule.apply_then_fail = true;
  AddFault(rule);
  EXPECT_EQ(CreateUser("bob").status, 503);
  EXPECT_EQ(injector_->Injected().at(0).served_status, 409);
}

TEST_F(FaultInjectionTest, FirstFiringFaultAnswersAndLaterOnesDoNotCount) {
  AddFault(FaultRule::Every(2, ErrorCode::kServiceUnavailable));  // 2nd, 4th, ...
  const int64_t later = AddFault(FaultRule::Every(2, ErrorCode::kInternal));
  // Request 1: rule 1 counts 1 (no), rule 2 counts 1 (no) -> 200.
  // Request 2: rule 1 fires -> 503; rule 2 does not see it.
  // Request 3: rule 1 counts 3, rule 2 counts 2 -> 500.
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) statuses.push_back(Send("GET", "/v1/Users").status);
  EXPECT_EQ(statuses, (std::vector<int>{200, 503, 500, 503}));
  EXPECT_EQ(injector_->Injected().at(1).rule_id, later);
}

TEST_F(FaultInjectionTest, RateLimitedRequestsDoNotReachFaults) {
  AddLimit(1, 1);
  AddFault(FaultRule::Next(1, ErrorCode::kServiceUnavailable));
  EXPECT_EQ(Send("GET", "/v1/Users").status, 503);  // token taken, then the fault
  EXPECT_EQ(Send("GET", "/v1/Users").status, 429);  // refused before the (spent) fault
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200);
}

// --- management ------------------------------------------------------------------------

TEST_F(FaultInjectionTest, RemoveClearAndClearRecord) {
  const int64_t a = AddFault(FaultRule::Every(1, ErrorCode::kServiceUnavailable));
  const int64_t b = AddLimit(1, 1);
  EXPECT_GT(b, a);
  EXPECT_EQ(Send("GET", "/v1/Users").status, 503);
  EXPECT_TRUE(injector_->Remove(a));
  EXPECT_FALSE(injector_->Remove(a));
  EXPECT_FALSE(injector_->Remove(12345));
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200) << "the limit had its token left";
  EXPECT_EQ(Send("GET", "/v1/Users").status, 429);
  injector_->Clear();
  EXPECT_EQ(Send("GET", "/v1/Users").status, 200);
  EXPECT_EQ(injector_->Injected().size(), 2u) << "Clear keeps the record";
  injector_->ClearRecord();
  EXPECT_TRUE(injector_->Injected().empty());
  EXPECT_GT(AddLimit(1, 1), b) << "ids are not reused";
}

TEST_F(FaultInjectionTest, InvalidRulesAreRefusedWith20001AndAddNothing) {
  auto limit_error = [this](const RateLimit& limit) {
    absl::StatusOr<int64_t> id = injector_->AddRateLimit(limit);
    return id.ok() ? ErrorCode::kOk : userstore::ErrorCodeOf(id.status());
  };
  RateLimit limit;
  limit.requests_per_second = 0;
  EXPECT_EQ(limit_error(limit), ErrorCode::kInvalidParameter);
  limit.requests_per_second = std::numeric_limits<double>::infinity();
  EXPECT_EQ(limit_error(limit), ErrorCode::kInvalidParameter);
  limit.requests_per_second = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(limit_error(limit), ErrorCode::kInvalidParameter);
  limit = RateLimit();
  limit.burst = 0;
  EXPECT_EQ(limit_error(limit), ErrorCode::kInvalidParameter);
  limit = RateLimit();
  limit.code = ErrorCode::kServiceUnavailable;
  EXPECT_EQ(limit_error(limit), ErrorCode::kInvalidParameter);
  limit = RateLimit();
  limit.path = "v1/Users";
  EXPECT_EQ(limit_error(limit), ErrorCode::kInvalidParameter);
  limit.path = "";
  EXPECT_EQ(limit_error(limit), ErrorCode::kInvalidParameter);

  auto fault_error = [this](const FaultRule& rule) {
    absl::StatusOr<int64_t> id = injector_->AddFault(rule);
    return id.ok() ? ErrorCode::kOk : userstore::ErrorCodeOf(id.status());
  };
  EXPECT_EQ(fault_error(FaultRule::Next(0, ErrorCode::kInternal)), ErrorCode::kInvalidParameter);
  EXPECT_EQ(fault_error(FaultRule::Every(0, ErrorCode::kInternal)), ErrorCode::kInvalidParameter);
  EXPECT_EQ(fault_error(FaultRule::WithProbability(1.5, 0, ErrorCode::kInternal)),
            ErrorCode::kInvalidParameter);
  EXPECT_EQ(fault_error(FaultRule::WithProbability(-0.1, 0, ErrorCode::kInternal)),
            ErrorCode::kInvalidParameter);
  EXPECT_EQ(fault_error(FaultRule::WithProbability(std::numeric_limits<double>::quiet_NaN(), 0,
                                                   ErrorCode::kInternal)),
            ErrorCode::kInvalidParameter);
  EXPECT_EQ(fault_error(FaultRule::Next(1, ErrorCode::kOk)), ErrorCode::kInvalidParameter);
  EXPECT_EQ(fault_error(FaultRule::Next(1, static_cast<ErrorCode>(12345))),
            ErrorCode::kInvalidParameter);
  FaultRule rule = FaultRule::Next(1, ErrorCode::kInternal);
  rule.http_status = 200;
  EXPECT_EQ(fault_error(rule), ErrorCode::kInvalidParameter);
  rule.http_status = 600;
  EXPECT_EQ(fault_error(rule), ErrorCode::kInvalidParameter);
  rule = FaultRule::Next(1, ErrorCode::kInternal);
  rule.retry_after_seconds = -1;
  EXPECT_EQ(fault_error(rule), ErrorCode::kInvalidParameter);
  rule = FaultRule::Next(1, ErrorCode::kInternal);
  rule.path = "Users";
  EXPECT_EQ(fault_error(rule), ErrorCode::kInvalidParameter);

  for (int i = 0; i < 4; ++i) EXPECT_EQ(Send("GET", "/v1/Users").status, 200);
  EXPECT_TRUE(injector_->Injected().empty());
}

TEST_F(FaultInjectionTest, PathGlobs) {
  struct Case {
    const char* pattern;
    const char* url;
    bool match;
  };
  const Case cases[] = {
      {"*", "/v1/Users", true},
      {"/v1/Users", "/v1/Users", true},
      {"/v1/Users", "/v1/Users/a", false},
      {"/v1/Users*", "/v1/Users/a", true},
      {"/v1/Users*", "https://conversations.twilio.com/v1/Users?PageSize=5", true},
      {"*/Users/*", "/v1/Users/alice", true},
      {"*/Users/*", "/v1/Users", false},
      {"*/Users/*", "https://chat.twilio.com/v2/Services/IS1/Users/US1", true},
      {"/v2/Services/*/Users", "/v2/Services/IS1/Users", true},
      {"/v2/Services/*/Users", "/v2/Services/IS1/Roles", false},
      {"*a*b*c", "/xaxbxbxc", true},
      {"*a*b*c", "/xaxbxbxcd", false},
      {"/v1/Users/ana%20mar*", "/v1/Users/ana%20mar%C3%ADa", true},
  };
  for (const Case& c : cases) {
    injector_->Clear();
    FaultRule rule = FaultRule::Every(1, ErrorCode::kServiceUnavailable);
    rule.path = c.pattern;
    AddFault(rule);
    EXPECT_EQ(Send("GET", c.url).status == 503, c.match) << c.pattern << " vs " << c.url;
  }
}

// --- off by default ----------------------------------------------------------------------

TEST(FaultInjectionOffTest, DispatcherWithoutOrWithAnEmptyInjectorAnswersTheSame) {
  auto run = [](bool with_injector) {
    userstore::StoreOptions options;
    options.seed = 5;
    options.clock = std::make_shared<userstore::ManualClock>(FixtureTime());
    userstore::UserStore store(options);
    Dispatcher rest(&store);
    EXPECT_EQ(rest.fault_injector(), nullptr);
    auto injector = std::make_shared<FaultInjector>(options.clock);
    if (with_injector) {
      // Rules added and removed again leave the injector empty.
      EXPECT_TRUE(injector->AddFault(FaultRule::Every(1, ErrorCode::kInternal)).ok());
      injector->Clear();
      rest.set_fault_injector(injector);
    }
    std::vector<std::string> out;
    auto send = [&](const std::string& method, const std::string& url, const std::string& body) {
      HttpResponse r = rest.Handle({method, url, {}, body});
      EXPECT_TRUE(r.headers.empty());
      out.push_back(std::to_string(r.status) + " " + r.body);
    };
    send("POST", "/v1/Users", "Identity=a");
    send("POST", "/v1/Users", "Identity=a");
    send("GET", "/v1/Users/a", "");
    send("GET", "/v1/Users?PageSize=x", "");
    send("DELETE", "/v1/Users/a", "");
    send("PUT", "/v1/Users", "");
    EXPECT_TRUE(injector->Injected().empty());
    return out;
  };
  EXPECT_EQ(run(false), run(true));
}

// --- threads -------------------------------------------------------------------------------

// Several threads hammer one dispatcher and one injector while another thread
// adds and removes rules. Nothing here depends on the scheduler: the checks
// are counts that hold for every interleaving.
TEST_F(FaultInjectionTest, ManyThreadsShareOneInjectorSafely) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  // Time stands still: the bucket holds 50 tokens and never refills, so
  // exactly 50 of the matching GETs pass it, whatever the interleaving.
  AddLimit(1, 50, "GET", "/v1/Users");
  // Every 7th create is answered 503 after it happened.
  FaultRule lost = FaultRule::Every(7, ErrorCode::kServiceUnavailable);
  lost.method = "POST";
  lost.apply_then_fail = true;
  AddFault(lost);

  std::atomic<int> created{0}, lost_acks{0}, listed{0}, limited{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (i % 2 == 0) {
          const HttpResponse r = CreateUser("u" + std::to_string(t) + "_" + std::to_string(i));
          (r.status == 201 ? created : r.status == 503 ? lost_acks : other)++;
        } else {
          const int s = Send("GET", "/v1/Users").status;
          (s == 200 ? listed : s == 429 ? limited : other)++;
        }
      }
    });
  }
  // Rules come and go meanwhile (on paths the counted requests never match).
  std::thread churn([&] {
    for (int i = 0; i < 200; ++i) {
      FaultRule rule = FaultRule::Every(1, ErrorCode::kInternal);
      rule.path = "/v9/*";
      absl::StatusOr<int64_t> id = injector_->AddFault(rule);
      if (id.ok()) injector_->Remove(*id);
      injector_->Injected();
    }
  });
  for (std::thread& th : threads) th.join();
  churn.join();

  constexpr int kPosts = kThreads * kPerThread / 2;
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(created.load() + lost_acks.load(), kPosts);
  EXPECT_EQ(lost_acks.load(), kPosts / 7);
  EXPECT_EQ(UserCount(), kPosts) << "every create happened, acknowledged or not";
  EXPECT_EQ(listed.load(), 50);
  EXPECT_EQ(limited.load(), kPosts - 50);
  const std::vector<InjectedAnswer> record = injector_->Injected();
  EXPECT_EQ(record.size(), static_cast<size_t>(lost_acks.load() + limited.load()));
  int applied = 0;
  for (const InjectedAnswer& a : record) applied += a.applied ? 1 : 0;
  EXPECT_EQ(applied, lost_acks.load());
}

}  // namespace
