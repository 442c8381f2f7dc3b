// -----------------------------------------------------------------------------
// File: userstore/testing/store_test.h
// -----------------------------------------------------------------------------
//
// A fresh, deterministic Twilio for each test: `TestStore` owns a `UserStore`
// with a fixed seed (so SIDs are the same on every run) on a `ManualClock`
// (so dates move only when the test says), the `Dispatcher` over it with a
// `FaultInjector` on the same clock (rate limits and scripted faults,
// fault_injection.h; it holds no rule until the test adds one), and one-line
// ways to make services and users and to send REST requests. `StoreTest` is
// the same as a GoogleTest fixture.
//
// Example:
//   class ScoreboardTest : public userstore::testing::StoreTest {};
//
//   TEST_F(ScoreboardTest, KeepsTheLevelInAttributes) {
//     auto svc = MakeService("game");
//     auto alice = MakeUser(svc, "alice", {.attributes = R"({"level": 3})"});
//     clock().Advance(absl::Minutes(5));
//     EXPECT_THAT(Post(UserUrl(svc, "alice"), {{"FriendlyName", "Al"}}),
//                 IsHttpStatus(200));
//     EXPECT_THAT(store().GetUser(svc.sid, alice.sid),
//                 IsOkAndHolds(AllOf(HasFriendlyName("Al"), HasAttributes(R"({"level":3})"))));
//   }
//
// Failures. MakeService() and MakeUser() report a failed call as a GoogleTest
// failure (ADD_FAILURE, naming the call and the Twilio error) and return a
// value with an empty `sid`; the test goes on. To assert on an error, call
// the store directly: `EXPECT_THAT(store().CreateUser(...), IsTwilioError(...))`.
//
// Thread safety: a TestStore's accessors and helpers may be used from many
// threads at once, as the store and dispatcher may; Reset() may not run
// concurrently with anything else.
//
// Cost: building a TestStore builds one UserStore (its default conversation
// service and four roles) and allocates a few objects; each helper costs the
// store or dispatcher call it makes.

#ifndef USERSTORE_TESTING_STORE_TEST_H_
#define USERSTORE_TESTING_STORE_TEST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "userstore/fault_injection.h"
#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/rest.h"
#include "userstore/testing/printers.h"
#include "userstore/user_store.h"

namespace userstore {
namespace testing {

// userstore::testing::FormPairs
//
// Form fields or headers of a request, in order: {{"Identity", "alice"}}.
using FormPairs = std::vector<std::pair<std::string, std::string>>;

// userstore::testing::UserFields
//
// The optional fields of a user MakeUser() creates; each unset field is not
// supplied (Twilio's defaults apply). Designed for designated initializers:
// `MakeUser(svc, "alice", {.friendly_name = "Alice", .attributes = "{}"})`
// (fields in this order).
struct UserFields {
  // (The explicit initializers keep -Wmissing-field-initializers quiet about
  // the fields a designated initializer leaves out.)
  std::optional<std::string> friendly_name = std::nullopt;
  std::optional<std::string> attributes = std::nullopt;  // JSON text
  std::optional<std::string> role_sid = std::nullopt;
  bool webhooks_enabled = false;  // fire onUserAdded hooks
};

// userstore::testing::kTestSeed, TestStartTime()
//
// The defaults of a TestStore: seed 42, clock at 2016-03-24T21:05:19Z (the
// date of Twilio's documented examples).
inline constexpr uint64_t kTestSeed = 42;
inline absl::Time TestStartTime() { return absl::FromUnixSeconds(1458853519); }

// userstore::testing::TestStore
//
// Owns a store, its ManualClock, a FaultInjector on that clock and a
// Dispatcher over the store that consults the injector. Not copyable or
// movable (the dispatcher points at the store).
class TestStore {
 public:
  // Builds the store from `options`, filling in what a test needs when
  // unset: `seed` = kTestSeed, and `clock` = a new ManualClock at
  // TestStartTime(). A clock that is set must be a `ManualClock` (a test's
  // clock must be one it can move); any other is reported as a test failure
  // and replaced.
  explicit TestStore(StoreOptions options = StoreOptions());
  ~TestStore();
  TestStore(const TestStore&) = delete;
  TestStore& operator=(const TestStore&) = delete;

  // TestStore::Reset()
  //
  // Drops the store and everything in it and builds a new one from
  // `options`, as the constructor does (a new clock and a new injector too,
  // unless `options` has a clock). References from store(), dispatcher(),
  // clock() and injector() taken before are invalid after.
  void Reset(StoreOptions options = StoreOptions());

  // TestStore::store(), dispatcher(), clock(), shared_clock()
  UserStore& store() { return *store_; }
  const Dispatcher& dispatcher() const { return *dispatcher_; }
  ManualClock& clock() { return *clock_; }
  const std::shared_ptr<ManualClock>& shared_clock() const { return clock_; }

  // TestStore::injector()
  //
  // The FaultInjector the dispatcher consults, timed by clock(): rules added
  // here shape what Get() / Post() / Delete() / Handle() answer; calls made
  // on store() directly never meet them. A rate limit refills as the test
  // advances clock(). Example:
  //   RateLimit limit;
  //   limit.burst = 1;
  //   ASSERT_THAT(injector().AddRateLimit(limit), IsOk());
  //   Post(url, form);  // 201
  //   Post(url, form);  // 429, Retry-After: 1, code 20429
  FaultInjector& injector() { return *injector_; }
  const std::shared_ptr<FaultInjector>& shared_injector() const { return injector_; }

  // TestStore::MakeService()
  //
  // Creates a service named `friendly_name`. On an error: a test failure and
  // a Service with an empty sid.
  Service MakeService(absl::string_view friendly_name = "test service");

  // TestStore::MakeUser()
  //
  // Creates the user `identity` in `service` (a Service, or a service SID)
  // with `fields`. On an error: a test failure naming the identity and the
  // Twilio error, and a User with an empty sid.
  User MakeUser(const Service& service, absl::string_view identity, UserFields fields = {});
  User MakeUser(absl::string_view service_sid, absl::string_view identity, UserFields fields = {});

  // TestStore::Handle(), Get(), Post(), Delete()
  //
  // Send one request through the dispatcher. `url` is absolute
  // ("https://chat.twilio.com/v2/...") or a path ("/v2/..."); `form` is
  // form-encoded as the body; `headers` such as
  // {{"X-Twilio-Webhook-Enabled", "true"}}. Never fail: the response is
  // Twilio's, to match with IsHttpStatus() / IsTwilioError().
  HttpResponse Handle(const HttpRequest& request) const { return dispatcher_->Handle(request); }
  HttpResponse Get(absl::string_view url, const FormPairs& headers = {}) const;
  HttpResponse Post(absl::string_view url, const FormPairs& form = {},
                    const FormPairs& headers = {}) const;
  HttpResponse Delete(absl::string_view url, const FormPairs& headers = {}) const;

 private:
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<FaultInjector> injector_;
  std::unique_ptr<UserStore> store_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

// userstore::testing::UsersUrl(), UserUrl()
//
// Chat v2 URLs: "https://chat.twilio.com/v2/Services/{IS}/Users" and
// ".../Users/{user}" (the identity percent-encoded). For other surfaces,
// write the URL (rest.h lists them).
std::string UsersUrl(const Service& service);
std::string UserUrl(const Service& service, absl::string_view user);

// userstore::testing::StoreTest
//
// A fixture holding a TestStore, with its members forwarded so that a test
// body reads `MakeService("game")`, `store()`, `clock().Advance(...)`.
// Derive from it; call ResetStore() in the derived constructor or in a test
// for other options.
class StoreTest : public ::testing::Test {
 protected:
  StoreTest() = default;

  // StoreTest::ResetStore()
  //
  // TestStore::Reset(): a new store (and clock) built from `options`.
  void ResetStore(StoreOptions options = StoreOptions()) { test_store_.Reset(std::move(options)); }

  TestStore& test_store() { return test_store_; }
  UserStore& store() { return test_store_.store(); }
  const Dispatcher& dispatcher() const { return test_store_.dispatcher(); }
  ManualClock& clock() { return test_store_.clock(); }
  FaultInjector& injector() { return test_store_.injector(); }

  Service MakeService(absl::string_view friendly_name = "test service") {
    return test_store_.MakeService(friendly_name);
  }
  User MakeUser(const Service& service, absl::string_view identity, UserFields fields = {}) {
    return test_store_.MakeUser(service, identity, std::move(fields));
  }
  User MakeUser(absl::string_view service_sid, absl::string_view identity, UserFields fields = {}) {
    return test_store_.MakeUser(service_sid, identity, std::move(fields));
  }

  HttpResponse Get(absl::string_view url, const FormPairs& headers = {}) const {
    return test_store_.Get(url, headers);
  }
  HttpResponse Post(absl::string_view url, const FormPairs& form = {},
                    const FormPairs& headers = {}) const {
    return test_store_.Post(url, form, headers);
  }
  HttpResponse Delete(absl::string_view url, const FormPairs& headers = {}) const {
    return test_store_.Delete(url, headers);
  }

 private:
  TestStore test_store_;
};

namespace internal {

class HttpStatusMatcher {
 public:
  explicit HttpStatusMatcher(int status) : status_(status) {}
  bool MatchAndExplain(const HttpResponse& response,
                       ::testing::MatchResultListener* listener) const {
    if (response.status != status_) {
      *listener << "which has HTTP status " << response.status << " and body " << response.body;
    }
    return response.status == status_;
  }
  void DescribeTo(std::ostream* os) const { *os << "has HTTP status " << status_; }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "does not have HTTP status " << status_;
  }

 private:
  int status_;
};

class HeaderMatcher {
 public:
  HeaderMatcher(std::string name, ::testing::Matcher<const std::string&> inner)
      : name_(std::move(name)), inner_(std::move(inner)) {}
  bool MatchAndExplain(const HttpResponse& response,
                       ::testing::MatchResultListener* listener) const;
  void DescribeTo(std::ostream* os) const {
    *os << "has a " << name_ << " header that ";
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "has no " << name_ << " header that ";
    inner_.DescribeTo(os);
  }

 private:
  std::string name_;
  ::testing::Matcher<const std::string&> inner_;
};

}  // namespace internal

// userstore::testing::HasHeader()
//
// Matches an `HttpResponse` whose first header named `name` (compared
// case-insensitively) has a value matching `m`; a response without it never
// matches. Example: `EXPECT_THAT(Post(url, form), HasHeader("Retry-After", "1"))`.
template <typename M>
::testing::PolymorphicMatcher<internal::HeaderMatcher> HasHeader(absl::string_view name, M&& m) {
  return ::testing::MakePolymorphicMatcher(internal::HeaderMatcher(
      std::string(name), ::testing::SafeMatcherCast<const std::string&>(std::forward<M>(m))));
}

// userstore::testing::IsHttpStatus()
//
// Matches an `HttpResponse` with this HTTP status; a mismatch shows the
// response's status and body. For error answers prefer IsTwilioError(),
// which also checks the body's code.
inline ::testing::PolymorphicMatcher<internal::HttpStatusMatcher> IsHttpStatus(int status) {
  return ::testing::MakePolymorphicMatcher(internal::HttpStatusMatcher(status));
}

}  // namespace testing
}  // namespace userstore

#endif  // USERSTORE_TESTING_STORE_TEST_H_
