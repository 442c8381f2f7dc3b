// -----------------------------------------------------------------------------
// File: userstore/testing/recorders.h
// -----------------------------------------------------------------------------
//
// Asserting on what happened, not only on what a call returned:
//
//  * `ChangeRecorder` subscribes to a store's change feed and keeps every
//    `ChangeEvent` in order; `UserCreated(m)`, `UserUpdated(m)`,
//    `UserDeleted(m)`, `ServiceCreated(m)`, ... match one event.
//  * `HookRecorder` registers a hook of each type (onUserAdded, onUserUpdate,
//    onUserUpdated) and keeps every `UserEvent` in order; it can also veto
//    updates. `HookFired(type, m)` matches one event.
//
// Example:
//   ChangeRecorder feed(&store());
//   HookRecorder hooks(&store());
//   auto alice = MakeUser(svc, "alice", {.webhooks_enabled = true});
//   ASSERT_THAT(store().DeleteUser(svc.sid, "alice"), IsOk());
//   EXPECT_THAT(feed.events(), ElementsAre(UserCreated(HasIdentity("alice")),
//                                          UserDeleted(HasIdentity("alice"))));
//   EXPECT_THAT(hooks.events(), ElementsAre(HookFired(HookType::kOnUserAdded,
//                                                     HasIdentity("alice"))));
//
// When to look. The store delivers feed events and runs hooks on the threads
// that make the calls, before those calls return (events.h), so once every
// call of a test has returned, the recorders hold everything: no waiting.
//
// Thread safety: a recorder may be read from any thread while the store
// delivers to it from others. The recorder must outlive its registration:
// destroy it (it unsubscribes) before the store, which declaration order in a
// test gives naturally.

#ifndef USERSTORE_TESTING_RECORDERS_H_
#define USERSTORE_TESTING_RECORDERS_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"

#include "userstore/events.h"
#include "userstore/testing/printers.h"
#include "userstore/user_store.h"

namespace userstore {
namespace testing {

// userstore::testing::ChangeRecorder
//
// Records the change feed of one store from its construction on (earlier
// changes, such as the store's own default service, are not replayed).
// Not copyable or movable (the store holds a callback into it).
class ChangeRecorder {
 public:
  // Subscribes to `store`, which is not owned and must outlive the recorder.
  explicit ChangeRecorder(UserStore* store);
  // Unsubscribes.
  ~ChangeRecorder();
  ChangeRecorder(const ChangeRecorder&) = delete;
  ChangeRecorder& operator=(const ChangeRecorder&) = delete;

  // ChangeRecorder::events()
  //
  // A copy of every event received since construction or the last Clear(), in
  // delivery order (which is sequence order). O(events).
  std::vector<ChangeEvent> events() const;

  // ChangeRecorder::user_events()
  //
  // The same, keeping only user events (creates, updates, deletes of users).
  std::vector<ChangeEvent> user_events() const;

  // ChangeRecorder::size()
  size_t size() const;

  // ChangeRecorder::Clear()
  //
  // Forgets what was recorded; recording goes on.
  void Clear();

 private:
  UserStore* const store_;
  uint64_t subscription_ = 0;
  mutable absl::Mutex mu_;
  std::vector<ChangeEvent> events_ ABSL_GUARDED_BY(mu_);
};

// userstore::testing::HookRecorder
//
// Registers one hook of each `HookType` on a store and records, in order,
// every `UserEvent` they receive. Hooks fire only for calls made with
// webhooks enabled (`webhooks_enabled = true`, or the REST header
// `X-Twilio-Webhook-Enabled: true`). Not copyable or movable.
class HookRecorder {
 public:
  // Registers on `store`, which is not owned and must outlive the recorder.
  explicit HookRecorder(UserStore* store);
  // Removes the hooks.
  ~HookRecorder();
  HookRecorder(const HookRecorder&) = delete;
  HookRecorder& operator=(const HookRecorder&) = delete;

  // HookRecorder::events()
  //
  // A copy of every event received since construction or the last Clear(), in
  // the order the hooks ran. A vetoed update is recorded too (its
  // `onUserUpdate`, with the proposed user). O(events).
  std::vector<UserEvent> events() const;

  // HookRecorder::fired()
  //
  // The `event_type` of each recorded event, in order: {"onUserAdded",
  // "onUserUpdate", "onUserUpdated", ...}.
  std::vector<std::string> fired() const;

  // HookRecorder::VetoUpdates()
  //
  // From now on the `onUserUpdate` hook returns `veto`: a non-OK status
  // vetoes every update made with webhooks (the caller gets 403/50056);
  // `absl::OkStatus()` lets them through again (the default).
  void VetoUpdates(absl::Status veto);

  // HookRecorder::Clear()
  //
  // Forgets what was recorded; recording goes on.
  void Clear();

 private:
  absl::Status Record(const UserEvent& event, bool may_veto);

  UserStore* const store_;
  std::vector<uint64_t> hook_ids_;
  mutable absl::Mutex mu_;
  std::vector<UserEvent> events_ ABSL_GUARDED_BY(mu_);
  absl::Status veto_ ABSL_GUARDED_BY(mu_);
};

namespace internal {

// "a user create", "a service delete", ...
std::string DescribeChange(ChangeEvent::Entity entity, ChangeEvent::Op op);

// The user, service or role an event carries, as its own matchers see it.
template <typename T>
const std::optional<T>& PayloadOf(const ChangeEvent& event);
template <>
inline const std::optional<User>& PayloadOf<User>(const ChangeEvent& event) {
  return event.user;
}
template <>
inline const std::optional<Service>& PayloadOf<Service>(const ChangeEvent& event) {
  return event.service;
}
template <>
inline const std::optional<Role>& PayloadOf<Role>(const ChangeEvent& event) {
  return event.role;
}

template <typename T>
class ChangeMatcherImpl : public ::testing::MatcherInterface<const ChangeEvent&> {
 public:
  ChangeMatcherImpl(ChangeEvent::Entity entity, ChangeEvent::Op op,
                    ::testing::Matcher<const T&> inner)
      : entity_(entity), op_(op), inner_(std::move(inner)) {}

  void DescribeTo(std::ostream* os) const override {
    *os << "is " << DescribeChange(entity_, op_) << " of one that ";
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not " << DescribeChange(entity_, op_) << " of one that ";
    inner_.DescribeTo(os);
  }
  bool MatchAndExplain(const ChangeEvent& event,
                       ::testing::MatchResultListener* listener) const override {
    if (event.entity != entity_ || event.op != op_) {
      *listener << "which is " << DescribeChange(event.entity, event.op) << " (sequence "
                << event.sequence << ")";
      return false;
    }
    const std::optional<T>& payload = PayloadOf<T>(event);
    if (!payload.has_value()) {
      *listener << "which carries no " << DescribeChange(entity_, op_) << " payload";
      return false;
    }
    ::testing::StringMatchResultListener inner_listener;
    const bool matches = inner_.MatchAndExplain(*payload, &inner_listener);
    *listener << "which is " << DescribeChange(event.entity, event.op) << " (sequence "
              << event.sequence << ")";
    if (!inner_listener.str().empty()) *listener << " " << inner_listener.str();
    return matches;
  }

 private:
  ChangeEvent::Entity entity_;
  ChangeEvent::Op op_;
  ::testing::Matcher<const T&> inner_;
};

template <typename T, typename M>
::testing::Matcher<const ChangeEvent&> MakeChangeMatcher(ChangeEvent::Entity entity,
                                                         ChangeEvent::Op op, M&& m) {
  return ::testing::Matcher<const ChangeEvent&>(new ChangeMatcherImpl<T>(
      entity, op, ::testing::SafeMatcherCast<const T&>(std::forward<M>(m))));
}

class HookFiredMatcherImpl : public ::testing::MatcherInterface<const UserEvent&> {
 public:
  HookFiredMatcherImpl(HookType type, ::testing::Matcher<const UserEvent&> inner)
      : type_(type), inner_(std::move(inner)) {}

  void DescribeTo(std::ostream* os) const override {
    *os << "is an " << HookTypeName(type_) << " event that ";
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not an " << HookTypeName(type_) << " event that ";
    inner_.DescribeTo(os);
  }
  bool MatchAndExplain(const UserEvent& event,
                       ::testing::MatchResultListener* listener) const override {
    *listener << "which is an " << event.event_type << " event";
    if (event.event_type != HookTypeName(type_)) return false;
    ::testing::StringMatchResultListener inner_listener;
    const bool matches = inner_.MatchAndExplain(event, &inner_listener);
    if (!inner_listener.str().empty()) *listener << " " << inner_listener.str();
    return matches;
  }

 private:
  HookType type_;
  ::testing::Matcher<const UserEvent&> inner_;
};

}  // namespace internal

// userstore::testing::UserCreated() / UserUpdated() / UserDeleted()
//
// Match a `ChangeEvent` that is that operation on a user whose image (after a
// create or an update, before a delete) matches `m` (a matcher of `User`,
// such as HasIdentity(); default: anything).
//
// Example:
//   EXPECT_THAT(feed.user_events(), ElementsAre(UserCreated(HasIdentity("alice")),
//                                               UserUpdated(HasFriendlyName("Al"))));
template <typename M>
::testing::Matcher<const ChangeEvent&> UserCreated(M&& m) {
  return internal::MakeChangeMatcher<User>(ChangeEvent::Entity::kUser, ChangeEvent::Op::kCreate,
                                           std::forward<M>(m));
}
inline ::testing::Matcher<const ChangeEvent&> UserCreated() { return UserCreated(::testing::_); }
template <typename M>
::testing::Matcher<const ChangeEvent&> UserUpdated(M&& m) {
  return internal::MakeChangeMatcher<User>(ChangeEvent::Entity::kUser, ChangeEvent::Op::kUpdate,
                                           std::forward<M>(m));
}
inline ::testing::Matcher<const ChangeEvent&> UserUpdated() { return UserUpdated(::testing::_); }
template <typename M>
::testing::Matcher<const ChangeEvent&> UserDeleted(M&& m) {
  return internal::MakeChangeMatcher<User>(ChangeEvent::Entity::kUser, ChangeEvent::Op::kDelete,
                                           std::forward<M>(m));
}
inline ::testing::Matcher<const ChangeEvent&> UserDeleted() { return UserDeleted(::testing::_); }

// userstore::testing::ServiceCreated() / ServiceUpdated() / ServiceDeleted()
//
// The same for services; `m` matches a `Service` (for instance
// `Field(&Service::friendly_name, "game")`).
template <typename M>
::testing::Matcher<const ChangeEvent&> ServiceCreated(M&& m) {
  return internal::MakeChangeMatcher<Service>(ChangeEvent::Entity::kService,
                                              ChangeEvent::Op::kCreate, std::forward<M>(m));
}
inline ::testing::Matcher<const ChangeEvent&> ServiceCreated() {
  return ServiceCreated(::testing::_);
}
template <typename M>
::testing::Matcher<const ChangeEvent&> ServiceUpdated(M&& m) {
  return internal::MakeChangeMatcher<Service>(ChangeEvent::Entity::kService,
                                              ChangeEvent::Op::kUpdate, std::forward<M>(m));
}
inline ::testing::Matcher<const ChangeEvent&> ServiceUpdated() {
  return ServiceUpdated(::testing::_);
}
template <typename M>
::testing::Matcher<const ChangeEvent&> ServiceDeleted(M&& m) {
  return internal::MakeChangeMatcher<Service>(ChangeEvent::Entity::kService,
                                              ChangeEvent::Op::kDelete, std::forward<M>(m));
}
inline ::testing::Matcher<const ChangeEvent&> ServiceDeleted() {
  return ServiceDeleted(::testing::_);
}

// userstore::testing::RoleCreated() / RoleDeleted()
//
// The same for roles; `m` matches a `Role`.
template <typename M>
::testing::Matcher<const ChangeEvent&> RoleCreated(M&& m) {
  return internal::MakeChangeMatcher<Role>(ChangeEvent::Entity::kRole, ChangeEvent::Op::kCreate,
                                           std::forward<M>(m));
}
inline ::testing::Matcher<const ChangeEvent&> RoleCreated() { return RoleCreated(::testing::_); }
template <typename M>
::testing::Matcher<const ChangeEvent&> RoleDeleted(M&& m) {
  return internal::MakeChangeMatcher<Role>(ChangeEvent::Entity::kRole, ChangeEvent::Op::kDelete,
                                           std::forward<M>(m));
}
inline ::testing::Matcher<const ChangeEvent&> RoleDeleted() { return RoleDeleted(::testing::_); }

// userstore::testing::HookFired()
//
// Matches a `UserEvent` of hook `type` whose fields match `m` (a matcher of
// `UserEvent`; the user matchers of user_matchers.h work on it).
//
// Example:
//   EXPECT_THAT(hooks.events(), ElementsAre(HookFired(HookType::kOnUserAdded,
//                                                     HasIdentity("alice"))));
template <typename M>
::testing::Matcher<const UserEvent&> HookFired(HookType type, M&& m) {
  return ::testing::Matcher<const UserEvent&>(new internal::HookFiredMatcherImpl(
      type, ::testing::SafeMatcherCast<const UserEvent&>(std::forward<M>(m))));
}
inline ::testing::Matcher<const UserEvent&> HookFired(HookType type) {
  return HookFired(type, ::testing::_);
}

}  // namespace testing
}  // namespace userstore

#endif  // USERSTORE_TESTING_RECORDERS_H_
