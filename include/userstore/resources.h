// -----------------------------------------------------------------------------
// File: userstore/resources.h
// -----------------------------------------------------------------------------
//
// The value types the store hands out and takes in: `User`, `Service`, `Role`,
// their create/update requests, pages, and the `Surface` a call is made for.
// All are plain copyable values; nothing here points into the store, except
// `UserView`, which a read callback gets and which lives only as long as the
// callback.
//
// Thread safety: plain values; the usual rules for std types apply.

#ifndef USERSTORE_RESOURCES_H_
#define USERSTORE_RESOURCES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace userstore {

// userstore::Surface
//
// The API a list call is made for. It fixes the PageSize maximum (SEMANTICS
// 4) and is sealed into page tokens, so that a token from one surface is
// refused (400/20001) on another.
enum class Surface : uint8_t {
  kCpp = 0,            // the C++ API; PageSize max 1000
  kChatV2 = 1,         // /v2/Services/{IS}/Users; PageSize max 100
  kChatV1 = 2,         // /v1/Services/{IS}/Users on the chat hosts; max 1000
  kConversations = 3,  // /v1/Users and /v1/Services/{IS}/Users; max 50
};

// userstore::MaxPageSize()
//
// The largest PageSize of `surface`; larger requests are clamped to it.
int64_t MaxPageSize(Surface surface);

// userstore::User
//
// One user, as the store shows it to the caller.
struct User {
  std::string sid;          // "US" + 32 lower-case hex digits
  std::string account_sid;  // "AC..."
  std::string service_sid;  // "IS..."
  std::string role_sid;     // "RL...", a deployment role of the service
  std::string identity;     // unique in the service, case-sensitive, immutable
  // Verbatim JSON text as it was given; "{}" when never set.
  std::string attributes;
  // nullopt until set (rendered `null`).
  std::optional<std::string> friendly_name;
  // Presence. nullopt (rendered `null`) when the service has reachability off,
  // until first set, and in every list result (SEMANTICS 2). Change-feed
  // events carry the stored values instead (see events.h).
  std::optional<bool> is_online;
  std::optional<bool> is_notifiable;
  // Channels joined; 0..StoreOptions::max_user_channels.
  int joined_channels_count = 0;
  absl::Time date_created;  // whole seconds
  absl::Time date_updated;  // whole seconds
};

// userstore::UserView
//
// A user as the store holds it, without a copy: what `UserStore::ReadUser()`
// and `UserStore::VisitUsers()` hand to their callback. The fields mean what
// the fields of `User` mean and show exactly what `GetUser()` / `ListUsers()`
// would return (presence included). Every `string_view` points into the store
// or into the caller's stack frame, and is valid only until the callback
// returns: copy what you keep (`ToUser()` copies all of it).
//
// Thread safety: plain value; valid on the thread the callback runs on.
struct UserView {
  absl::string_view sid;
  absl::string_view account_sid;
  absl::string_view service_sid;
  absl::string_view role_sid;
  absl::string_view identity;
  absl::string_view attributes;
  std::optional<absl::string_view> friendly_name;
  std::optional<bool> is_online;
  std::optional<bool> is_notifiable;
  int joined_channels_count = 0;
  absl::Time date_created;
  absl::Time date_updated;

  // A `User` holding copies of every field. O(size of the text fields).
  User ToUser() const;
  // A view of `user` (valid while `user` is alive and unchanged).
  static UserView Of(const User& user);
};

// userstore::RoleType
enum class RoleType : uint8_t {
  kDeployment = 0,  // service scope: may be a user's role
  kChannel = 1,     // channel scope: may not be a user's role (50105)
};

// userstore::Role
struct Role {
  std::string sid;          // "RL..."
  std::string account_sid;  // "AC..."
  std::string service_sid;  // "IS..."
  std::string friendly_name;
  RoleType type = RoleType::kDeployment;
  std::vector<std::string> permissions;  // in the order given
  absl::Time date_created;
  absl::Time date_updated;
};

// userstore::Service
//
// A Chat / Conversations service. Made with four roles: "service admin" and
// "service user" (deployment), "channel admin" and "channel user" (channel).
struct Service {
  std::string sid;          // "IS..."
  std::string account_sid;  // "AC..."
  std::string friendly_name;
  std::string default_service_role_sid;          // "service user" at first
  std::string default_channel_role_sid;          // "channel user"
  std::string default_channel_creator_role_sid;  // "channel admin"
  bool reachability_enabled = false;
  absl::Time date_created;
  absl::Time date_updated;
};

// --- Requests ---------------------------------------------------------------
//
// A field left as nullopt was not supplied. The store applies every rule of
// SEMANTICS 2 to what was supplied (see user_store.h for the error codes).

// userstore::CreateUserRequestView / UpdateUserRequestView
//
// The user requests below with views in place of strings, for the zero-copy
// CreateUser() and UpdateUser() (user_store.h): a caller whose texts are
// already in memory (a message it parsed, a buffer it reuses) passes them
// without building a string for each. The store reads the texts during the
// call only and copies what it keeps, so they must stay valid until the call
// returns and may change after. Each field means what the owning request's
// field of the same name means.
//
// A CreateUserRequest (UpdateUserRequest) converts to its view implicitly,
// as std::string does to absl::string_view, so those calls take the owning
// requests too. Like a string_view of a temporary string, a view of a
// temporary request is valid only until the end of the full expression.
//
// Example:
//   userstore::CreateUserRequestView req;
//   req.identity = identity;      // absl::string_view into the caller's buffer
//   req.attributes = attributes;
//   absl::Status s = store.CreateUser(service_sid, req, [](const userstore::UserView&) {});
struct CreateUserRequestView {
  std::optional<absl::string_view> identity;
  std::optional<absl::string_view> friendly_name;
  std::optional<absl::string_view> attributes;
  std::optional<absl::string_view> role_sid;
  bool webhooks_enabled = false;
};
struct UpdateUserRequestView {
  std::optional<absl::string_view> identity;
  std::optional<absl::string_view> friendly_name;
  std::optional<absl::string_view> attributes;
  std::optional<absl::string_view> role_sid;
  bool webhooks_enabled = false;
};

// userstore::CreateUserRequest
struct CreateUserRequest {
  // Required. nullopt: 400/20001; empty: 400/50204.
  std::optional<std::string> identity;
  std::optional<std::string> friendly_name;
  std::optional<std::string> attributes;  // JSON text, stored verbatim
  std::optional<std::string> role_sid;    // default: the service's default role
  // Fire `onUserAdded` hooks (X-Twilio-Webhook-Enabled: true).
  bool webhooks_enabled = false;

  // Views of this request's fields, valid while it lives and is not changed.
  operator CreateUserRequestView() const {  // NOLINT(google-explicit-constructor)
    return {identity, friendly_name, attributes, role_sid, webhooks_enabled};
  }
};

// userstore::UpdateUserRequest
//
// Partial update: only supplied fields change. An update that supplies no
// field (or only values equal to the stored ones) returns the user unchanged,
// `date_updated` included.
struct UpdateUserRequest {
  // Identity is immutable: supplying it is 400/20001. Present so that the rule
  // lives in the store, not in each front end.
  std::optional<std::string> identity;
  std::optional<std::string> friendly_name;
  std::optional<std::string> attributes;
  std::optional<std::string> role_sid;
  // Fire `onUserUpdate` (may veto) and `onUserUpdated` hooks.
  bool webhooks_enabled = false;

  // Views of this request's fields, valid while it lives and is not changed.
  operator UpdateUserRequestView() const {  // NOLINT(google-explicit-constructor)
    return {identity, friendly_name, attributes, role_sid, webhooks_enabled};
  }
};

// userstore::PresenceUpdate
//
// Sets the stored presence of a user (what an SDK connection would report).
// Unsupplied fields keep their value. Once set, a field is never null again
// (except as the reachability and list rules show it).
struct PresenceUpdate {
  std::optional<bool> is_online;
  std::optional<bool> is_notifiable;
  bool webhooks_enabled = false;
};

// userstore::CreateServiceRequest / UpdateServiceRequest
struct CreateServiceRequest {
  std::optional<std::string> friendly_name;  // required: nullopt is 400/20001
};
struct UpdateServiceRequest {
  std::optional<std::string> friendly_name;
  std::optional<bool> reachability_enabled;
  // A deployment role of this service (50100 unknown, 50105 channel role,
  // 20001 malformed).
  std::optional<std::string> default_service_role_sid;
};

// userstore::CreateRoleRequest
struct CreateRoleRequest {
  std::optional<std::string> friendly_name;  // required
  // Required: "deployment" or "channel"; anything else 400/20001.
  std::optional<std::string> type;
  // Required, at least one; each 1..max_permission_length code points.
  std::vector<std::string> permissions;
};

// --- Pages ------------------------------------------------------------------

// userstore::ListRequest
//
// One page of a list. The position comes from `page_token` alone: empty means
// the first page. Page tokens are opaque: `PA...` continues forward, `PB...`
// goes back; they stay valid when the user they point at is deleted, and are
// refused (400/20001) when malformed, forged, or issued for another service,
// surface or collection.
struct ListRequest {
  // 1..MaxPageSize(surface); below 1: 400/20001; above: clamped. Default 50.
  int64_t page_size = 50;
  std::string page_token;
  Surface surface = Surface::kCpp;
};

// userstore::Page<T>
template <typename T>
struct Page {
  std::vector<T> items;   // in creation order, oldest first
  int64_t page_size = 0;  // the effective (clamped) page size
  // Token of the next page (`PA...`), empty when no item follows this page.
  std::string next_page_token;
  // Token of the previous page (`PB...`), empty when the request had no token
  // or when no item precedes this page.
  std::string previous_page_token;
};

using UserPage = Page<User>;

// userstore::PageInfo
//
// A page without its items: what `UserStore::VisitUsers()` returns after it
// has handed each item to its visitor. Fields as in `Page<T>`.
struct PageInfo {
  int64_t item_count = 0;  // items handed to the visitor
  int64_t page_size = 0;
  std::string next_page_token;
  std::string previous_page_token;
};
using ServicePage = Page<Service>;
using RolePage = Page<Role>;

// userstore::GetOrCreateResult
struct GetOrCreateResult {
  User user;
  bool created = false;  // true when this call made the user
};

}  // namespace userstore

#endif  // USERSTORE_RESOURCES_H_
