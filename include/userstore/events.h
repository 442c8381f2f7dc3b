// -----------------------------------------------------------------------------
// File: userstore/events.h
// -----------------------------------------------------------------------------
//
// The two ways to react to what the store does (SEMANTICS 7):
//
//  * Hooks, the in-process form of Twilio's user webhooks. `onUserAdded`
//    (after a create), `onUserUpdate` (before an update; may veto it) and
//    `onUserUpdated` (after an update). They fire only for calls that enable
//    webhooks (`webhooks_enabled` on the request, or the REST header
//    `X-Twilio-Webhook-Enabled: true`). Twilio has no user-deleted webhook, and
//    neither do we.
//
//  * The change feed: every committed mutation of a service, role or user
//    (create, update, delete), numbered 1, 2, 3, ... without gaps, delivered in
//    commit order to every subscriber, whether webhooks are on or not. Applying
//    the feed to an empty store (`UserStore::Apply`) rebuilds the same state.
//
// Both run after the store has released its locks, so a handler may call the
// store (re-entrancy is safe). Hooks run on the thread that made the call.
// Feed events are delivered by a calling thread too: the one that committed
// the event, or, when another thread is already delivering, that thread (it
// drains the queue before it returns). So once every mutating call has
// returned, every event has been delivered. The queue has no bound: while
// other threads commit faster than the listeners consume, the delivering
// thread's call does not return and the queue grows; keep listeners cheap.
// A handler that throws is contained: the exception is reported to
// `StoreOptions::on_hook_error` and never leaves a half-applied change.
//
// Thread safety: hooks may run concurrently on several threads. Feed events
// are delivered one at a time, in sequence order: a subscriber never sees
// event n+1 before its call for event n has returned.

#ifndef USERSTORE_EVENTS_H_
#define USERSTORE_EVENTS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

#include "userstore/resources.h"

namespace userstore {

// userstore::HookType
enum class HookType : uint8_t {
  kOnUserAdded = 0,    // post-event, after a create
  kOnUserUpdate = 1,   // pre-event, before an update; may veto
  kOnUserUpdated = 2,  // post-event, after an update
};

// userstore::HookTypeName()
//
// Twilio's `EventType` value: "onUserAdded", "onUserUpdate", "onUserUpdated".
const char* HookTypeName(HookType type);

// userstore::UserEvent
//
// The fields of Twilio's user webhook. For `onUserUpdate` the values are the
// ones the update would produce (the proposed user); for the post-events, the
// committed user. Presence fields are the stored values.
struct UserEvent {
  std::string event_type;  // HookTypeName(...)
  std::string account_sid;
  std::string service_sid;  // ChatServiceSid / InstanceSid
  std::string user_sid;
  std::string identity;
  std::optional<std::string> friendly_name;
  std::string attributes;
  std::string role_sid;
  absl::Time date_created;
  absl::Time date_updated;
  std::optional<bool> is_online;
  std::optional<bool> is_notifiable;
  std::string source = "API";
};

// userstore::UserHook
//
// A hook handler. For `kOnUserUpdate`, a non-OK return vetoes the update: the
// caller gets 403/50056 and nothing changes. For post-events the return value
// is only reported to `StoreOptions::on_hook_error` when non-OK.
using UserHook = std::function<absl::Status(const UserEvent&)>;

// userstore::ChangeEvent
//
// One committed mutation. Exactly one of `service`, `role`, `user` is set,
// matching `entity`. For creates and updates it is the state after the
// change; for deletes, the state just before. User images carry the stored
// presence (not the reachability-filtered view), so that `Apply` is exact.
// A service delete also deletes its roles and users; the feed reports only the
// service delete (its users and roles go with it on `Apply` too).
struct ChangeEvent {
  enum class Entity : uint8_t { kService, kRole, kUser };
  enum class Op : uint8_t { kCreate, kUpdate, kDelete };

  uint64_t sequence = 0;  // 1, 2, 3, ... in commit order, no gaps; 0 in snapshots
  Entity entity = Entity::kUser;
  Op op = Op::kCreate;
  std::optional<Service> service;
  std::optional<Role> role;
  std::optional<User> user;
  // Set on the events of the store's default conversation service.
  bool default_conversation_service = false;
};

// userstore::ChangeListener
using ChangeListener = std::function<void(const ChangeEvent&)>;

}  // namespace userstore

#endif  // USERSTORE_EVENTS_H_
