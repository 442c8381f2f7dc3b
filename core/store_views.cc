// StoreImpl: what callers see of the store's records. A record becomes a
// UserView (filled on the caller's stack), a User copy, a hook's UserEvent
// or a feed ChangeEvent here, and services and roles their resources; the
// presence rule of a fetch (core/store_impl.h, PresenceView) is applied in
// FillView only.

#include <string>

#include "userstore/events.h"
#include "userstore/resources.h"

#include "core/sid.h"
#include "core/store_impl.h"
#include "core/store_rules.h"

namespace userstore {
namespace internal {

void StoreImpl::FillView(const UserRecord& record, PresenceView presence, char* sid_buf,
                         UserView* view) const {
  const RoleRecord* role = record.role();
  view->sid = WriteSid(kUserPrefix, record.sid(), sid_buf);
  view->account_sid = account_sid_;
  view->service_sid = role->service->sid_text;
  view->role_sid = role->sid_text;
  view->identity = record.identity();
  view->attributes = record.attributes();
  view->friendly_name = record.friendly_name();
  const bool show_presence = presence == PresenceView::kStored ||
                             (presence == PresenceView::kFetch &&
                              role->service->reachability_enabled.load(std::memory_order_acquire));
  view->is_online = show_presence ? record.is_online() : std::nullopt;
  view->is_notifiable = show_presence ? record.is_notifiable() : std::nullopt;
  view->joined_channels_count = record.joined_channels_count();
  view->date_created = FromSeconds(record.date_created());
  view->date_updated = FromSeconds(record.date_updated());
}

void StoreImpl::CallWithView(const UserRecord& record, PresenceView presence,
                             absl::FunctionRef<void(const UserView&)> fn) const {
  char sid[kSidTextSize];
  UserView view;
  FillView(record, presence, sid, &view);
  fn(view);
}

User StoreImpl::ToUser(const UserRecord& record, PresenceView view) const {
  char sid[kSidTextSize];
  UserView v;
  FillView(record, view, sid, &v);
  return v.ToUser();
}

Service StoreImpl::ToService(const ServiceState& svc) const {
  Service out;
  out.sid = svc.sid_text;
  out.account_sid = account_sid_;
  out.friendly_name = svc.friendly_name;
  out.default_service_role_sid = FormatSid(kRolePrefix, svc.default_service_role);
  out.default_channel_role_sid = FormatSid(kRolePrefix, svc.default_channel_role);
  out.default_channel_creator_role_sid = FormatSid(kRolePrefix, svc.default_channel_creator_role);
  out.reachability_enabled = svc.reachability_enabled.load(std::memory_order_acquire);
  out.date_created = FromSeconds(svc.date_created);
  out.date_updated = FromSeconds(svc.date_updated);
  return out;
}

Role StoreImpl::ToRole(const RoleRecord& role) const {
  Role out;
  out.sid = role.sid_text;
  out.account_sid = account_sid_;
  out.service_sid = role.service->sid_text;
  out.friendly_name = role.friendly_name;
  out.type = role.type;
  out.permissions = role.permissions;
  out.date_created = FromSeconds(role.date_created);
  out.date_updated = FromSeconds(role.date_updated);
  return out;
}

UserEvent StoreImpl::ToUserEvent(HookType type, const User& user) const {
  UserEvent event;
  event.event_type = HookTypeName(type);
  event.account_sid = user.account_sid;
  event.service_sid = user.service_sid;
  event.user_sid = user.sid;
  event.identity = user.identity;
  event.friendly_name = user.friendly_name;
  event.attributes = user.attributes;
  event.role_sid = user.role_sid;
  event.date_created = user.date_created;
  event.date_updated = user.date_updated;
  event.is_online = user.is_online;
  event.is_notifiable = user.is_notifiable;
  return event;
}

ChangeEvent StoreImpl::UserChange(ChangeEvent::Op op, const UserRecord& record) const {
  return UserChange(op, ToUser(record, PresenceView::kStored));
}

ChangeEvent StoreImpl::UserChange(ChangeEvent::Op op, User user) {
  ChangeEvent event;
  event.entity = ChangeEvent::Entity::kUser;
  event.op = op;
  event.user = std::move(user);
  return event;
}

ChangeEvent StoreImpl::ServiceChange(ChangeEvent::Op op, const ServiceState& svc,
                                     bool is_default) const {
  ChangeEvent event;
  event.entity = ChangeEvent::Entity::kService;
  event.op = op;
  event.service = ToService(svc);
  event.default_conversation_service = is_default;
  return event;
}

ChangeEvent StoreImpl::RoleChange(ChangeEvent::Op op, const RoleRecord& role) const {
  ChangeEvent event;
  event.entity = ChangeEvent::Entity::kRole;
  event.op = op;
  event.role = ToRole(role);
  return event;
}

void StoreImpl::RunPostHook(HookType type, const std::optional<UserEvent>& event) {
  if (!event.has_value() || !bus_.HasHooks(type)) return;
  // Post-event hooks cannot fail the call; the bus reports their errors.
  (void)bus_.RunHooks(type, *event);
}

}  // namespace internal
}  // namespace userstore
