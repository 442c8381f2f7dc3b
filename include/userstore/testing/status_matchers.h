// -----------------------------------------------------------------------------
// File: userstore/testing/status_matchers.h
// -----------------------------------------------------------------------------
//
// gMock matchers for results: `absl::Status`, `absl::StatusOr<T>` and the
// dispatcher's `HttpResponse` (the Abseil shipped by Debian 12 has no status
// matchers; these are written to read like the ones later Abseils have).
//
//   EXPECT_THAT(store.DeleteUser(svc.sid, "alice"), IsOk());
//   EXPECT_THAT(store.GetUser(svc.sid, "alice"), IsOkAndHolds(HasIdentity("alice")));
//   EXPECT_THAT(store.CreateUser(svc.sid, dup), IsTwilioError(409, 50201));
//   EXPECT_THAT(rest.Handle(request), IsTwilioError(409, 50201));   // status and body
//
// A mismatch explains itself with Twilio's terms: "which is the Twilio error
// 404/20404 NotFound: The requested resource /Services/IS.../Users/bob was not
// found", or for a response "which has HTTP status 201 and body {...}".
//
// Thread safety: matchers are immutable values; they may be used from any
// thread. Cost: O(size of the status message or the response body).

#ifndef USERSTORE_TESTING_STATUS_MATCHERS_H_
#define USERSTORE_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

#include "userstore/rest.h"
#include "userstore/status.h"
#include "userstore/testing/printers.h"

namespace userstore {
namespace testing {
namespace internal {

// The status of a result.
inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// "OK", or "the Twilio error 409/50201 UserAlreadyExists: User already exists".
std::string DescribeStatus(const absl::Status& status);

// "the Twilio error 409/50201 (UserAlreadyExists)": the expectation's words.
std::string DescribeTwilioError(int http_status, int code);

// Whether `status` is the error (`http_status`, `code`); explains a mismatch.
bool MatchTwilioError(const absl::Status& status, int http_status, int code,
                      ::testing::MatchResultListener* listener);

// Whether `response` answers `http_status` with Twilio's error body for
// `code` (its "code" and "status" members); explains a mismatch.
bool MatchTwilioError(const HttpResponse& response, int http_status, int code,
                      ::testing::MatchResultListener* listener);

class IsOkMatcher {
 public:
  template <typename Result>
  bool MatchAndExplain(const Result& result, ::testing::MatchResultListener* listener) const {
    const absl::Status& status = GetStatus(result);
    if (!status.ok()) *listener << "which is " << DescribeStatus(status);
    return status.ok();
  }
  void DescribeTo(std::ostream* os) const { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "is not OK"; }
};

template <typename StatusOrType>
class IsOkAndHoldsMatcherImpl : public ::testing::MatcherInterface<StatusOrType> {
 public:
  using Value = typename std::remove_cv_t<std::remove_reference_t<StatusOrType>>::value_type;

  template <typename InnerMatcher>
  explicit IsOkAndHoldsMatcherImpl(InnerMatcher&& inner)
      : inner_(::testing::SafeMatcherCast<const Value&>(std::forward<InnerMatcher>(inner))) {}

  void DescribeTo(std::ostream* os) const override {
    *os << "is OK and has a value that ";
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not OK, or has a value that ";
    inner_.DescribeNegationTo(os);
  }
  bool MatchAndExplain(StatusOrType result,
                       ::testing::MatchResultListener* listener) const override {
    if (!result.ok()) {
      *listener << "which is " << DescribeStatus(result.status());
      return false;
    }
    ::testing::StringMatchResultListener inner_listener;
    const bool matches = inner_.MatchAndExplain(*result, &inner_listener);
    *listener << "which is OK and holds " << ::testing::PrintToString(*result);
    if (!inner_listener.str().empty()) *listener << ", " << inner_listener.str();
    return matches;
  }

 private:
  const ::testing::Matcher<const Value&> inner_;
};

template <typename InnerMatcher>
class IsOkAndHoldsMatcher {
 public:
  explicit IsOkAndHoldsMatcher(InnerMatcher inner) : inner_(std::move(inner)) {}

  template <typename StatusOrType>
  operator ::testing::Matcher<StatusOrType>() const {  // NOLINT(google-explicit-constructor)
    return ::testing::Matcher<StatusOrType>(
        new IsOkAndHoldsMatcherImpl<const StatusOrType&>(inner_));
  }

 private:
  InnerMatcher inner_;
};

class IsTwilioErrorMatcher {
 public:
  IsTwilioErrorMatcher(int http_status, int code) : http_status_(http_status), code_(code) {}

  bool MatchAndExplain(const absl::Status& status, ::testing::MatchResultListener* listener) const {
    return MatchTwilioError(status, http_status_, code_, listener);
  }
  template <typename T>
  bool MatchAndExplain(const absl::StatusOr<T>& result,
                       ::testing::MatchResultListener* listener) const {
    return MatchTwilioError(result.status(), http_status_, code_, listener);
  }
  bool MatchAndExplain(const HttpResponse& response,
                       ::testing::MatchResultListener* listener) const {
    return MatchTwilioError(response, http_status_, code_, listener);
  }
  void DescribeTo(std::ostream* os) const {
    *os << "is " << DescribeTwilioError(http_status_, code_);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "is not " << DescribeTwilioError(http_status_, code_);
  }

 private:
  int http_status_;
  int code_;
};

}  // namespace internal

// userstore::testing::IsOk()
//
// Matches an OK `absl::Status` or `absl::StatusOr<T>`. A mismatch shows the
// Twilio error the result carries.
//
// Example:
//   EXPECT_THAT(store.DeleteUser(service_sid, "alice"), IsOk());
inline ::testing::PolymorphicMatcher<internal::IsOkMatcher> IsOk() {
  return ::testing::MakePolymorphicMatcher(internal::IsOkMatcher());
}

// userstore::testing::IsOkAndHolds()
//
// Matches an OK `absl::StatusOr<T>` whose value matches `inner` (a matcher of
// `T`, or a value of `T` to compare with ==). A mismatch shows the error, or
// the value and what `inner` said of it.
//
// Example:
//   EXPECT_THAT(store.GetUser(service_sid, "alice"),
//               IsOkAndHolds(AllOf(HasIdentity("alice"), HasFriendlyName("Alice"))));
template <typename InnerMatcher>
internal::IsOkAndHoldsMatcher<typename std::decay<InnerMatcher>::type> IsOkAndHolds(
    InnerMatcher&& inner) {
  return internal::IsOkAndHoldsMatcher<typename std::decay<InnerMatcher>::type>(
      std::forward<InnerMatcher>(inner));
}

// userstore::testing::IsTwilioError()
//
// Matches a failure with Twilio's HTTP status `http_status` and error code
// `code`:
//   - an `absl::Status` or `absl::StatusOr<T>` that is not OK, with
//     `HttpStatusOf(status) == http_status` and `ErrorCodeOf(status) == code`;
//   - an `HttpResponse` with `status == http_status` whose body is a JSON
//     object with `"code": code` and `"status": http_status` (Twilio's error
//     body).
// The one-argument form takes the HTTP status from the error table
// (status.h): `IsTwilioError(ErrorCode::kUserAlreadyExists)` is
// `IsTwilioError(409, 50201)`.
//
// Example:
//   EXPECT_THAT(store.CreateUser(service_sid, same_identity), IsTwilioError(409, 50201));
//   EXPECT_THAT(test_store.Get(url), IsTwilioError(404, 20404));
inline ::testing::PolymorphicMatcher<internal::IsTwilioErrorMatcher> IsTwilioError(int http_status,
                                                                                   int code) {
  return ::testing::MakePolymorphicMatcher(internal::IsTwilioErrorMatcher(http_status, code));
}
inline ::testing::PolymorphicMatcher<internal::IsTwilioErrorMatcher> IsTwilioError(int http_status,
                                                                                   ErrorCode code) {
  return IsTwilioError(http_status, static_cast<int>(code));
}
// REQUIRES: `code` is a row of the error table (otherwise the expected HTTP
// status is 0, which nothing matches).
inline ::testing::PolymorphicMatcher<internal::IsTwilioErrorMatcher> IsTwilioError(ErrorCode code) {
  const ErrorInfo* info = LookupError(code);
  return IsTwilioError(info == nullptr ? 0 : info->http_status, static_cast<int>(code));
}

}  // namespace testing
}  // namespace userstore

#endif  // USERSTORE_TESTING_STATUS_MATCHERS_H_
