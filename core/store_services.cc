#include <algorithm>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

#include "userstore/status.h"

#include "core/store_impl.h"
#include "core/store_rules.h"
#include "core/text.h"

namespace userstore {
namespace internal {

namespace {

struct DefaultRoleSpec {
  const char* name;
  RoleType type;
  std::vector<std::string> permissions;
};

// The four roles every service is made with (Twilio's defaults).
const std::vector<DefaultRoleSpec>& DefaultRoles() {
  static const auto* roles = new std::vector<DefaultRoleSpec>{
      {"service admin",
       RoleType::kDeployment,
       {"createChannel", "joinChannel", "destroyChannel", "inviteMember", "removeMember",
        "editChannelName", "editChannelAttributes", "addMember", "editAnyMessage",
        "editAnyMessageAttributes", "deleteAnyMessage", "editAnyUserInfo"}},
      {"service user", RoleType::kDeployment, {"createChannel", "joinChannel", "editOwnUserInfo"}},
      {"channel admin",
       RoleType::kChannel,
       {"sendMessage", "sendMediaMessage", "leaveChannel", "editOwnMessage",
        "editOwnMessageAttributes", "deleteOwnMessage", "editAnyMessage",
        "editAnyMessageAttributes", "deleteAnyMessage", "inviteMember", "removeMember",
        "editChannelName", "editChannelAttributes", "destroyChannel", "addMember"}},
      {"channel user",
       RoleType::kChannel,
       {"sendMessage", "sendMediaMessage", "leaveChannel", "editOwnMessage",
        "editOwnMessageAttributes", "deleteOwnMessage", "inviteMember"}},
  };
  return *roles;
}

}  // namespace

// --- services ---------------------------------------------------------------------------

void StoreImpl::SetDefaultService(ServiceState* svc) {
  default_service_ = svc;
  default_sid_texts_.push_back(std::make_unique<std::string>(svc->sid_text));
  default_sid_text_.store(default_sid_texts_.back().get(), std::memory_order_release);
}

RoleRecord* StoreImpl::InsertRole(ServiceState* svc, const Sid128& sid,
                                  absl::string_view friendly_name, RoleType type,
                                  std::vector<std::string> permissions, int64_t created,
                                  int64_t updated) {
  auto role = std::make_unique<RoleRecord>();
  role->sid = sid;
  role->sid_text = FormatSid(kRolePrefix, sid);
  role->service = svc;
  role->position = svc->next_role_position++;
  role->friendly_name = std::string(friendly_name);
  role->type = type;
  role->permissions = std::move(permissions);
  role->date_created = created;
  role->date_updated = updated;
  RoleRecord* raw = role.get();
  svc->roles_by_sid.emplace(sid, raw);
  svc->roles.emplace(raw->position, std::move(role));
  return raw;
}

ServiceState* StoreImpl::CreateServiceLocked(absl::string_view friendly_name, bool is_default) {
  // A durable store's journal takes the five records (the service and its
  // roles) before anything changes: they are published after.
  EventBus::JournalReservation reservation =
      bus_.ReserveJournal(1 + static_cast<int>(DefaultRoles().size()));
  const int64_t now = NowSeconds();
  Sid128 sid;
  do {
    sid = NextSid();
  } while (services_.contains(sid));
  auto owned = std::make_unique<ServiceState>(sid, next_service_position_++);
  ServiceState* svc = owned.get();
  services_.emplace(sid, std::move(owned));
  services_by_position_.emplace(svc->position, svc);
  if (is_default) SetDefaultService(svc);

  absl::MutexLock service_lock(&svc->mu);
  svc->friendly_name = std::string(friendly_name);
  svc->date_created = now;
  svc->date_updated = now;
  std::vector<RoleRecord*> roles;
  for (const DefaultRoleSpec& spec : DefaultRoles()) {
    roles.push_back(
        InsertRole(svc, NewRoleSid(), spec.name, spec.type, spec.permissions, now, now));
  }
  svc->default_service_role = roles[1]->sid;          // service user
  svc->default_channel_role = roles[3]->sid;          // channel user
  svc->default_channel_creator_role = roles[2]->sid;  // channel admin
  // The lambdas run synchronously inside Publish, while svc->mu is held.
  bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return ServiceChange(ChangeEvent::Op::kCreate, *svc, is_default);
  });
  for (RoleRecord* role : roles) {
    bus_.Publish([&]() { return RoleChange(ChangeEvent::Op::kCreate, *role); });
  }
  return svc;
}

void StoreImpl::DestroyServiceLocked(ServiceState* svc) {
  {
    absl::MutexLock service_lock(&svc->mu);
    // The event first: building it is all that may run out of memory here
    // (the erasures below only free), so a delete that does changes nothing.
    const bool is_default = svc == default_service_;
    bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return ServiceChange(ChangeEvent::Op::kDelete, *svc, is_default);
    });
    // The linearization point of the delete: from here on the fast path of
    // GetUser treats every user of the service as gone.
    svc->deleted.store(true, std::memory_order_release);
    while (!svc->by_order.empty()) EraseUser(svc, svc->by_order.begin()->second);
    // A concurrent checkpoint has every user it had not written saved now;
    // it writes the rest of this service from its own state.
    if (svc->checkpoint != nullptr) {
      svc->checkpoint->svc = nullptr;
      svc->checkpoint = nullptr;
    }
    {
      absl::MutexLock ids_lock(&ids_mu_);
      for (const auto& entry : svc->roles) role_sids_.erase(entry.second->sid);
    }
    svc->roles_by_sid.clear();
    svc->roles.clear();
  }
  services_by_position_.erase(svc->position);
  services_.erase(svc->sid);  // destroys svc
}

absl::StatusOr<Service> StoreImpl::CreateService(const CreateServiceRequest& request) {
  if (!request.friendly_name.has_value()) {
    return InvalidParameterError("Missing required parameter FriendlyName in the post body");
  }
  USERSTORE_RETURN_IF_ERROR(
      ValidateFriendlyName(*request.friendly_name, options_.max_service_name_length));
  Service out;
  {
    absl::MutexLock lock(&mu_);
    ServiceState* svc = CreateServiceLocked(*request.friendly_name, /*is_default=*/false);
    absl::ReaderMutexLock service_lock(&svc->mu);
    out = ToService(*svc);
  }
  bus_.Deliver();
  return out;
}

absl::StatusOr<Service> StoreImpl::GetService(absl::string_view service_sid) const {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  absl::ReaderMutexLock lock(&mu_);
  USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
  absl::ReaderMutexLock service_lock(&svc->mu);
  return ToService(*svc);
}

absl::StatusOr<Service> StoreImpl::UpdateService(absl::string_view service_sid,
                                                 const UpdateServiceRequest& request) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  absl::Status valid = absl::OkStatus();
  if (request.friendly_name.has_value()) {
    valid = ValidateFriendlyName(*request.friendly_name, options_.max_service_name_length);
  }
  RoleRef role_ref;
  if (valid.ok()) {
    valid = ParseRoleParam(request.default_service_role_sid, "DefaultServiceRoleSid", &role_ref);
  }
  Service out;
  bool changed = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    USERSTORE_RETURN_IF_ERROR(valid);
    const bool is_default = svc == default_service_;
    absl::MutexLock service_lock(&svc->mu);
    Sid128 default_role = svc->default_service_role;
    if (role_ref.supplied) {
      USERSTORE_ASSIGN_OR_RETURN(RoleRecord * role, ResolveUserRole(svc, role_ref));
      default_role = role->sid;
    }
    const bool name_changes =
        request.friendly_name.has_value() && *request.friendly_name != svc->friendly_name;
    const bool reach_changes =
        request.reachability_enabled.has_value() &&
        *request.reachability_enabled != svc->reachability_enabled.load(std::memory_order_relaxed);
    const bool role_changes = default_role != svc->default_service_role;
    changed = name_changes || reach_changes || role_changes;
    if (changed) {
      EventBus::JournalReservation reservation = bus_.ReserveJournal(1);
      if (name_changes) svc->friendly_name = *request.friendly_name;
      if (reach_changes) {
        svc->reachability_enabled.store(*request.reachability_enabled, std::memory_order_release);
      }
      svc->default_service_role = default_role;
      svc->date_updated = NowSeconds();
      bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return ServiceChange(ChangeEvent::Op::kUpdate, *svc, is_default);
      });
    }
    out = ToService(*svc);
  }
  if (changed) bus_.Deliver();
  return out;
}

absl::Status StoreImpl::DeleteService(absl::string_view service_sid) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  {
    absl::MutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    if (svc == default_service_) {
      return InvalidParameterError("The default conversation service cannot be deleted");
    }
    DestroyServiceLocked(svc);
  }
  bus_.Deliver();
  return absl::OkStatus();
}

absl::StatusOr<ServicePage> StoreImpl::ListServices(const ListRequest& request) const {
  USERSTORE_ASSIGN_OR_RETURN(std::optional<PageTokenData> token,
                             CheckToken(request, Collection::kServices, Sid128{}));
  ServicePage page;
  page.page_size = std::min(request.page_size, MaxPageSize(request.surface));
  absl::ReaderMutexLock lock(&mu_);
  auto bounds = Paginate(services_by_position_, token, page.page_size,
                         [](const auto& entry) { return entry.first; });
  for (auto it = bounds.begin; it != bounds.end; ++it) {
    const ServiceState* svc = it->second;
    absl::ReaderMutexLock service_lock(&svc->mu);
    page.items.push_back(ToService(*svc));
  }
  PageTokens(bounds, Collection::kServices, request.surface, Sid128{}, &page.next_page_token,
             &page.previous_page_token);
  return page;
}

// --- roles -------------------------------------------------------------------------------

absl::StatusOr<Role> StoreImpl::CreateRole(absl::string_view service_sid,
                                           const CreateRoleRequest& request) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  RoleType type = RoleType::kDeployment;
  auto validate = [&]() -> absl::Status {
    if (!request.friendly_name.has_value()) {
      return InvalidParameterError("Missing required parameter FriendlyName in the post body");
    }
    if (!request.type.has_value()) {
      return InvalidParameterError("Missing required parameter Type in the post body");
    }
    if (request.permissions.empty()) {
      return InvalidParameterError("Missing required parameter Permission in the post body");
    }
    USERSTORE_RETURN_IF_ERROR(
        ValidateFriendlyName(*request.friendly_name, options_.max_service_name_length));
    if (*request.type == "deployment") {
      type = RoleType::kDeployment;
    } else if (*request.type == "channel") {
      type = RoleType::kChannel;
    } else {
      if (!IsValidText(*request.type)) return NotValidText("Type");
      return InvalidParameterError(absl::StrCat("Invalid Type: ", *request.type));
    }
    if (request.permissions.size() > options_.max_role_permissions) {
      return InvalidParameterError("Too many Permission values");
    }
    for (const std::string& permission : request.permissions) {
      if (!IsValidText(permission)) return NotValidText("Permission");
      if (permission.empty() || CodePointCount(permission) > options_.max_permission_length) {
        return InvalidParameterError(absl::StrCat("Invalid Permission: ", permission));
      }
    }
    return absl::OkStatus();
  };
  const absl::Status valid = validate();
  Role out;
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    USERSTORE_RETURN_IF_ERROR(valid);
    absl::MutexLock service_lock(&svc->mu);
    EventBus::JournalReservation reservation = bus_.ReserveJournal(1);
    const int64_t now = NowSeconds();
    RoleRecord* role =
        InsertRole(svc, NewRoleSid(), *request.friendly_name, type, request.permissions, now, now);
    bus_.Publish([&]() { return RoleChange(ChangeEvent::Op::kCreate, *role); });
    out = ToRole(*role);
  }
  bus_.Deliver();
  return out;
}

absl::StatusOr<Role> StoreImpl::GetRole(absl::string_view service_sid,
                                        absl::string_view role_sid) const {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, role_sid, "RoleSid"));
  absl::ReaderMutexLock lock(&mu_);
  USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
  std::optional<Sid128> sid = ParseSid(kRolePrefix, role_sid);
  absl::ReaderMutexLock service_lock(&svc->mu);
  const RoleRecord* role = sid.has_value() ? FindRole(svc, *sid) : nullptr;
  if (role == nullptr) return RoleNotFoundPath(service_sid, role_sid);
  return ToRole(*role);
}

absl::Status StoreImpl::DeleteRoleLocked(ServiceState* svc, RoleRecord* role) {
  if (role->user_count > 0 || role->sid == svc->default_service_role ||
      role->sid == svc->default_channel_role || role->sid == svc->default_channel_creator_role) {
    return MakeError(ErrorCode::kRoleInUse);
  }
  bus_.Publish([&]() { return RoleChange(ChangeEvent::Op::kDelete, *role); });
  {
    absl::MutexLock ids_lock(&ids_mu_);
    role_sids_.erase(role->sid);
  }
  svc->roles_by_sid.erase(role->sid);
  svc->roles.erase(role->position);  // destroys role
  return absl::OkStatus();
}

absl::Status StoreImpl::DeleteRole(absl::string_view service_sid, absl::string_view role_sid) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, role_sid, "RoleSid"));
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    std::optional<Sid128> sid = ParseSid(kRolePrefix, role_sid);
    absl::MutexLock service_lock(&svc->mu);
    RoleRecord* role = sid.has_value() ? FindRole(svc, *sid) : nullptr;
    if (role == nullptr) return RoleNotFoundPath(service_sid, role_sid);
    USERSTORE_RETURN_IF_ERROR(DeleteRoleLocked(svc, role));
  }
  bus_.Deliver();
  return absl::OkStatus();
}

absl::StatusOr<RolePage> StoreImpl::ListRoles(absl::string_view service_sid,
                                              const ListRequest& request) const {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  absl::ReaderMutexLock lock(&mu_);
  USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
  USERSTORE_ASSIGN_OR_RETURN(std::optional<PageTokenData> token,
                             CheckToken(request, Collection::kRoles, svc->sid));
  RolePage page;
  page.page_size = std::min(request.page_size, MaxPageSize(request.surface));
  absl::ReaderMutexLock service_lock(&svc->mu);
  auto bounds =
      Paginate(svc->roles, token, page.page_size, [](const auto& entry) { return entry.first; });
  for (auto it = bounds.begin; it != bounds.end; ++it) page.items.push_back(ToRole(*it->second));
  PageTokens(bounds, Collection::kRoles, request.surface, svc->sid, &page.next_page_token,
             &page.previous_page_token);
  return page;
}

}  // namespace internal
}  // namespace userstore
