// -----------------------------------------------------------------------------
// File: userstore/testing/user_matchers.h
// -----------------------------------------------------------------------------
//
// gMock matchers for one field of a user. Each works on a `User` (what the
// copying calls return), a `UserView` (what the zero-copy calls hand to their
// callback) and a `UserEvent` (what a hook receives; its `user_sid` is the
// user's SID), so one expectation reads the same whichever form a test has:
//
//   EXPECT_THAT(store.GetUser(svc.sid, "alice"),
//               IsOkAndHolds(AllOf(HasIdentity("alice"), HasFriendlyName("Alice"),
//                                  HasAttributes(R"({"level": 3})"))));
//   EXPECT_THAT(page->items, ElementsAre(HasIdentity("alice"), HasIdentity("bob")));
//
// The text matchers take a string or any matcher of `std::string`
// (`HasIdentity(StartsWith("player-"))`). A mismatch names the field and its
// value: "whose identity is "bob"".
//
// Thread safety: matchers are immutable values. Cost: O(size of the field);
// HasAttributes() parses both JSON texts.

#ifndef USERSTORE_TESTING_USER_MATCHERS_H_
#define USERSTORE_TESTING_USER_MATCHERS_H_

#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "gmock/gmock.h"

#include "userstore/events.h"
#include "userstore/resources.h"
#include "userstore/testing/printers.h"

namespace userstore {
namespace testing {
namespace internal {

// The text fields the matchers read.
enum class UserField { kSid, kIdentity, kFriendlyName, kAttributes, kRoleSid, kServiceSid };

// The field's name as the struct spells it ("identity", "friendly_name", ...).
const char* UserFieldName(UserField field);

// The field of a user, a view or a hook event; nullopt when it is unset (only
// friendly_name can be).
std::optional<std::string> FieldOf(const User& user, UserField field);
std::optional<std::string> FieldOf(const UserView& user, UserField field);
std::optional<std::string> FieldOf(const UserEvent& event, UserField field);

// Whether `actual` and `expected` are JSON texts of equal values (objects
// compared without regard to member order, numbers by value). Explains a
// mismatch, or that a text does not parse.
bool MatchJson(absl::string_view actual, absl::string_view expected,
               ::testing::MatchResultListener* listener);

class UserFieldMatcher {
 public:
  UserFieldMatcher(UserField field, ::testing::Matcher<const std::string&> inner)
      : field_(field), inner_(std::move(inner)) {}

  template <typename UserLike>
  bool MatchAndExplain(const UserLike& user, ::testing::MatchResultListener* listener) const {
    const std::optional<std::string> value = FieldOf(user, field_);
    if (!value.has_value()) {
      *listener << "whose " << UserFieldName(field_) << " is null";
      return false;
    }
    ::testing::StringMatchResultListener inner_listener;
    const bool matches = inner_.MatchAndExplain(*value, &inner_listener);
    *listener << "whose " << UserFieldName(field_) << " is " << ::testing::PrintToString(*value);
    if (!inner_listener.str().empty()) *listener << ", " << inner_listener.str();
    return matches;
  }
  void DescribeTo(std::ostream* os) const {
    *os << "has " << UserFieldName(field_) << " that ";
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "has no " << UserFieldName(field_) << " that ";
    inner_.DescribeTo(os);
  }

 private:
  UserField field_;
  ::testing::Matcher<const std::string&> inner_;
};

class NoFriendlyNameMatcher {
 public:
  template <typename UserLike>
  bool MatchAndExplain(const UserLike& user, ::testing::MatchResultListener* listener) const {
    const std::optional<std::string> value = FieldOf(user, UserField::kFriendlyName);
    if (value.has_value())
      *listener << "whose friendly_name is " << ::testing::PrintToString(*value);
    return !value.has_value();
  }
  void DescribeTo(std::ostream* os) const { *os << "has a null friendly_name"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "has a friendly_name"; }
};

class AttributesMatcher {
 public:
  explicit AttributesMatcher(std::string json) : json_(std::move(json)) {}

  template <typename UserLike>
  bool MatchAndExplain(const UserLike& user, ::testing::MatchResultListener* listener) const {
    const std::optional<std::string> value = FieldOf(user, UserField::kAttributes);
    return MatchJson(value.value_or(""), json_, listener);
  }
  void DescribeTo(std::ostream* os) const { *os << "has attributes equal as JSON to " << json_; }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "has attributes not equal as JSON to " << json_;
  }

 private:
  std::string json_;
};

using FieldMatcher = ::testing::PolymorphicMatcher<UserFieldMatcher>;

}  // namespace internal

// userstore::testing::HasSid()
//
// Matches a user whose SID (`sid`; `user_sid` of a `UserEvent`) matches `m`.
template <typename M>
internal::FieldMatcher HasSid(M&& m) {
  return ::testing::MakePolymorphicMatcher(internal::UserFieldMatcher(
      internal::UserField::kSid,
      ::testing::SafeMatcherCast<const std::string&>(std::forward<M>(m))));
}

// userstore::testing::HasIdentity()
//
// Matches a user whose identity matches `m` (a string: equal, case-sensitive).
template <typename M>
internal::FieldMatcher HasIdentity(M&& m) {
  return ::testing::MakePolymorphicMatcher(internal::UserFieldMatcher(
      internal::UserField::kIdentity,
      ::testing::SafeMatcherCast<const std::string&>(std::forward<M>(m))));
}

// userstore::testing::HasFriendlyName() / HasNoFriendlyName()
//
// HasFriendlyName(m) matches a user whose friendly name is set and matches
// `m`; a null friendly name never matches. HasNoFriendlyName() matches a user
// whose friendly name is null (never set).
template <typename M>
internal::FieldMatcher HasFriendlyName(M&& m) {
  return ::testing::MakePolymorphicMatcher(internal::UserFieldMatcher(
      internal::UserField::kFriendlyName,
      ::testing::SafeMatcherCast<const std::string&>(std::forward<M>(m))));
}
inline ::testing::PolymorphicMatcher<internal::NoFriendlyNameMatcher> HasNoFriendlyName() {
  return ::testing::MakePolymorphicMatcher(internal::NoFriendlyNameMatcher());
}

// userstore::testing::HasAttributes()
//
// Matches a user whose attributes are a JSON text equal, as a JSON value, to
// `json`: member order and white space do not matter, numbers compare by
// value (`{"a": 1, "b": [true]}` matches `{"b":[true],"a":1.0}`). A `json`
// that is not valid JSON matches nothing, and the explanation says so. To
// compare the stored text byte for byte (the store keeps it verbatim), use
// HasAttributesText().
inline ::testing::PolymorphicMatcher<internal::AttributesMatcher> HasAttributes(
    absl::string_view json) {
  return ::testing::MakePolymorphicMatcher(internal::AttributesMatcher(std::string(json)));
}

// userstore::testing::HasAttributesText()
//
// Matches a user whose attributes text, as stored, matches `m`.
template <typename M>
internal::FieldMatcher HasAttributesText(M&& m) {
  return ::testing::MakePolymorphicMatcher(internal::UserFieldMatcher(
      internal::UserField::kAttributes,
      ::testing::SafeMatcherCast<const std::string&>(std::forward<M>(m))));
}

// userstore::testing::HasRole()
//
// Matches a user whose role SID (`role_sid`) matches `m`.
template <typename M>
internal::FieldMatcher HasRole(M&& m) {
  return ::testing::MakePolymorphicMatcher(internal::UserFieldMatcher(
      internal::UserField::kRoleSid,
      ::testing::SafeMatcherCast<const std::string&>(std::forward<M>(m))));
}

// userstore::testing::HasServiceSid()
//
// Matches a user whose service SID matches `m`.
template <typename M>
internal::FieldMatcher HasServiceSid(M&& m) {
  return ::testing::MakePolymorphicMatcher(internal::UserFieldMatcher(
      internal::UserField::kServiceSid,
      ::testing::SafeMatcherCast<const std::string&>(std::forward<M>(m))));
}

}  // namespace testing
}  // namespace userstore

#endif  // USERSTORE_TESTING_USER_MATCHERS_H_
