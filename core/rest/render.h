// JSON rendering of the REST responses: users, services, roles, their pages,
// and Twilio error bodies. Everything is written with one
// `rapidjson::Writer` straight into the returned `std::string` (no DOM, no
// intermediate buffer), with the key order of the recorded fixtures
// (SEMANTICS 4):
//
//   Chat (v1, v2), single object:
//     sid, account_sid, service_sid, role_sid, identity, attributes,
//     is_online, is_notifiable, friendly_name, joined_channels_count,
//     date_created, date_updated, links, url
//   Chat, inside a list (the fixtures put the dates first there):
//     ..., friendly_name, date_created, date_updated, joined_channels_count,
//     links, url
//   Conversations (both path forms, single object and list):
//     sid, account_sid, chat_service_sid, role_sid, identity, friendly_name,
//     attributes, is_online, is_notifiable, date_created, date_updated, url,
//     links
//
// Every field is always written; a value the resource does not have is `null`.
// The renderer only formats: what a field holds (e.g. `null` presence in
// lists) is decided by the store.

#ifndef USERSTORE_CORE_REST_RENDER_H_
#define USERSTORE_CORE_REST_RENDER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

#include "userstore/resources.h"

namespace userstore {
namespace internal {

// Where and how a resource is shown.
struct RenderContext {
  // kChatV2, kChatV1 or kConversations: the field names, links and the
  // version prefix of URLs ("/v2" for kChatV2, "/v1" otherwise).
  Surface surface = Surface::kChatV2;
  // The host written into every URL: the one the request named, else the
  // surface's canonical host. Not owned; must outlive the call.
  absl::string_view host;
  // Users addressed through `/v1/Users` (Conversations default service):
  // URLs are `/v1/Users/{sid}` instead of `/v1/Services/{IS}/Users/{sid}`.
  bool default_service_path = false;
};

// The list query as the client sent it, echoed into `meta`.
struct PageQuery {
  // `Page`, echoed in `meta.page` and the URLs. >= 0.
  int64_t page = 0;
  // `PageToken` as given (decoded); empty when none. Appended to `meta.url`.
  absl::string_view page_token;
};

// The canonical host of a surface: "chat.twilio.com" or
// "conversations.twilio.com".
absl::string_view CanonicalHost(Surface surface);

// Appends "YYYY-MM-DDTHH:MM:SSZ" (`t` truncated to whole seconds) to `out`.
// Same text as FormatIsoTime(), without a temporary string.
void AppendIsoTime(absl::Time t, std::string* out);

// Single resources. The view form renders a user straight from the store
// (inside a UserStore::ReadUser callback) without copying it first.
std::string RenderUser(const RenderContext& ctx, const User& user);
std::string RenderUser(const RenderContext& ctx, const UserView& user);
std::string RenderService(const RenderContext& ctx, const Service& service);
std::string RenderRole(const RenderContext& ctx, const Role& role);

// Page envelopes {"meta": {...}, "<key>": [...]}. `service_sid` is the
// service the list belongs to (unused for services and for the default
// service path).
std::string RenderUserPage(const RenderContext& ctx, absl::string_view service_sid,
                           const UserPage& page, const PageQuery& query);

// UserPageRenderer
//
// A page of users rendered while the store walks it, with no copy of the
// users: call Add() for each user from inside a UserStore::VisitUsers
// callback, then Finish() with the PageInfo the walk returned. The body is
// byte for byte what RenderUserPage writes for the same page (which is built
// on this class). `meta` comes first in the body but needs the walk's tokens,
// so the users are rendered into their own buffer and copied in by Finish().
//
// Thread safety: one object renders one page on one thread.
// Complexity: O(bytes rendered); Add() allocates only to grow its buffer.
class UserPageRenderer {
 public:
  // `ctx` must outlive the renderer.
  UserPageRenderer(const RenderContext& ctx, absl::string_view service_sid);
  ~UserPageRenderer();
  UserPageRenderer(const UserPageRenderer&) = delete;
  UserPageRenderer& operator=(const UserPageRenderer&) = delete;

  // Renders one user of the list (Chat list key order; presence as given).
  void Add(const UserView& user);
  // The whole body. REQUIRES: called once, after the last Add().
  std::string Finish(const PageInfo& page, const PageQuery& query);

 private:
  struct Items;
  const RenderContext& ctx_;
  std::unique_ptr<Items> items_;
};
std::string RenderServicePage(const RenderContext& ctx, const ServicePage& page,
                              const PageQuery& query);
std::string RenderRolePage(const RenderContext& ctx, absl::string_view service_sid,
                           const RolePage& page, const PageQuery& query);

// {"code": C, "message": M, "more_info": "https://www.twilio.com/docs/errors/C",
// "status": S} for a non-OK `status`; C = ErrorCodeOf(status), S =
// HttpStatusOf(status). Bytes of the message that are not valid UTF-8 are
// percent-encoded, so the body is always valid JSON text.
std::string RenderError(const absl::Status& status);
// The same with `http` as the body's "status" (an injected fault may answer
// a code with another HTTP status than its row's).
std::string RenderError(const absl::Status& status, int http);

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_REST_RENDER_H_
