#include "core/store_impl.h"

#include <algorithm>
#include <iterator>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"

#include "userstore/status.h"

#include "core/attributes.h"
#include "core/text.h"

namespace userstore {
namespace internal {

// Private error plumbing (absl 20220623 has no status_macros.h).
#define USERSTORE_INTERNAL_CONCAT_(a, b) a##b
#define USERSTORE_INTERNAL_CONCAT(a, b) USERSTORE_INTERNAL_CONCAT_(a, b)
#define USERSTORE_RETURN_IF_ERROR(expr)      \
  do {                                       \
    absl::Status _us_status = (expr);        \
    if (!_us_status.ok()) return _us_status; \
  } while (0)
#define USERSTORE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                     \
  if (!tmp.ok()) return tmp.status();                     \
  lhs = std::move(*tmp)
#define USERSTORE_ASSIGN_OR_RETURN(lhs, rexpr) \
  USERSTORE_ASSIGN_OR_RETURN_IMPL_(USERSTORE_INTERNAL_CONCAT(_us_statusor_, __LINE__), lhs, rexpr)

namespace {

constexpr absl::string_view kUserPrefix = "US";
constexpr absl::string_view kServicePrefix = "IS";
constexpr absl::string_view kRolePrefix = "RL";
constexpr absl::string_view kAccountPrefix = "AC";
constexpr absl::string_view kDefaultServiceName = "Default Conversations Service";
constexpr absl::string_view kEmptyAttributes = "{}";

uint64_t Mix64(uint64_t x) {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

int64_t ToSeconds(absl::Time t) { return absl::ToUnixSeconds(t); }
absl::Time FromSeconds(int64_t s) { return absl::FromUnixSeconds(s); }

absl::Status NotValidText(absl::string_view what) {
  return InvalidParameterError(absl::StrCat("Invalid ", what, ": not valid UTF-8 text"));
}

absl::Status ServiceNotFound(absl::string_view service_sid) {
  return NotFoundError(absl::StrCat("/Services/", service_sid));
}
absl::Status UserNotFound(absl::string_view service_sid, absl::string_view user) {
  return NotFoundError(absl::StrCat("/Services/", service_sid, "/Users/", user));
}
absl::Status RoleNotFoundPath(absl::string_view service_sid, absl::string_view role_sid) {
  return NotFoundError(absl::StrCat("/Services/", service_sid, "/Roles/", role_sid));
}

absl::Status CheckPathText(absl::string_view service_sid) {
  if (!IsValidText(service_sid)) return NotValidText("ServiceSid");
  return absl::OkStatus();
}
absl::Status CheckPathText(absl::string_view service_sid, absl::string_view second,
                           absl::string_view second_name) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  if (!IsValidText(second)) return NotValidText(second_name);
  return absl::OkStatus();
}

absl::Status ParseRoleParam(const std::optional<std::string>& text, absl::string_view name,
                            RoleRef* out) {
  if (!text.has_value()) return absl::OkStatus();
  if (!IsValidText(*text)) return NotValidText(name);
  if (!IsSidShaped(kRolePrefix, *text)) {
    return InvalidParameterError(absl::StrCat("Invalid ", name, ": ", *text));
  }
  out->supplied = true;
  out->sid = ParseSid(kRolePrefix, *text);
  return absl::OkStatus();
}

absl::Status ValidateIdentity(const std::optional<std::string>& identity,
                              const StoreOptions& options) {
  if (!identity.has_value()) {
    return InvalidParameterError("Missing required parameter Identity in the post body");
  }
  if (!IsValidText(*identity)) return NotValidText("Identity");
  if (identity->empty()) return MakeError(ErrorCode::kIdentityNotProvided);
  if (CodePointCount(*identity) > options.max_identity_length) {
    return MakeError(ErrorCode::kIdentityTooLong);
  }
  if (IsSidShaped(kUserPrefix, *identity)) {
    return MakeError(ErrorCode::kIdentityMatchesSidPattern);
  }
  return absl::OkStatus();
}

absl::Status ValidateFriendlyName(absl::string_view text, size_t max_length) {
  if (!IsValidText(text)) return NotValidText("FriendlyName");
  if (CodePointCount(text) > max_length) return MakeError(ErrorCode::kFriendlyNameTooLong);
  return absl::OkStatus();
}

absl::Status ValidateAttributesParam(absl::string_view text, const StoreOptions& options) {
  return ValidateAttributes(text, options.max_attributes_bytes, options.max_attributes_depth);
}

// Pages over a container ordered by a uint64 position (a std::map or the
// OrderIndex btree_map, keyed by position; `key` reads an element's position).
template <typename Iterator>
struct Bounds {
  Iterator begin;
  Iterator end;
  bool has_next = false;
  bool has_prev = false;
  uint64_t next_anchor = 0;  // forward token: the last item of the page
  uint64_t prev_anchor = 0;  // backward token: the first item of the page
};

template <typename Container, typename KeyFn>
auto Paginate(const Container& c, const std::optional<PageTokenData>& token, int64_t page_size,
              KeyFn key) -> Bounds<typename Container::const_iterator> {
  using It = typename Container::const_iterator;
  Bounds<It> out;
  It b;
  It e;
  if (!token.has_value() || token->forward) {
    b = token.has_value() ? c.upper_bound(token->anchor) : c.begin();
    e = b;
    for (int64_t i = 0; i < page_size && e != c.end(); ++i) ++e;
  } else {
    e = c.lower_bound(token->anchor);
    b = e;
    for (int64_t i = 0; i < page_size && b != c.begin(); ++i) --b;
  }
  out.begin = b;
  out.end = e;
  out.has_next = e != c.end();
  out.has_prev = token.has_value() && b != c.begin();
  if (b != e) {
    out.prev_anchor = key(*b);
    out.next_anchor = key(*std::prev(e));
  } else if (token.has_value()) {
    // An empty page still has a place: just after the anchor (forward) or
    // just before it (backward).
    const uint64_t a = token->anchor;
    out.next_anchor = token->forward ? a : (a > 0 ? a - 1 : 0);
    out.prev_anchor = token->forward ? a + 1 : a;
  }
  return out;
}

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

const std::string& EmptyString() {
  static const auto* empty = new std::string();
  return *empty;
}

}  // namespace

// A validated create request (views into the request).
struct StoreImpl::UserFields {
  absl::string_view identity;
  std::optional<absl::string_view> friendly_name;
  absl::string_view attributes = kEmptyAttributes;
  RoleRef role;
};

// A validated update request (views into the request).
struct StoreImpl::UserPatch {
  std::optional<absl::string_view> friendly_name;
  std::optional<absl::string_view> attributes;
  RoleRef role;
};

namespace {

absl::Status ValidateCreate(const CreateUserRequest& request, const StoreOptions& options,
                            absl::string_view* identity, std::optional<absl::string_view>* fn,
                            absl::string_view* attributes, RoleRef* role) {
  USERSTORE_RETURN_IF_ERROR(ValidateIdentity(request.identity, options));
  *identity = *request.identity;
  if (request.friendly_name.has_value()) {
    USERSTORE_RETURN_IF_ERROR(
        ValidateFriendlyName(*request.friendly_name, options.max_friendly_name_length));
    *fn = *request.friendly_name;
  }
  if (request.attributes.has_value()) {
    USERSTORE_RETURN_IF_ERROR(ValidateAttributesParam(*request.attributes, options));
    *attributes = *request.attributes;
  }
  return ParseRoleParam(request.role_sid, "RoleSid", role);
}

}  // namespace

// --- ServiceState ------------------------------------------------------------------

ServiceState::ServiceState(Sid128 sid_value, uint64_t position_value)
    : sid(sid_value), sid_text(FormatSid(kServicePrefix, sid_value)), position(position_value) {}

IdentityKey IdentityKeyOf(const UserRecord* record) {
  return IdentityKey{record->role()->service->sid, record->identity()};
}

// --- construction ------------------------------------------------------------------

StoreImpl::StoreImpl(const StoreOptions& options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : SystemClock()),
      sid_generator_(options.seed),
      bus_(options.on_hook_error) {
  size_t shards = 1;
  const int wanted = std::clamp(options.sid_shards, 1, 1024);
  while (shards < static_cast<size_t>(wanted)) shards <<= 1;
  shard_mask_ = shards - 1;
  shards_ = std::make_unique<SidShard[]>(shards);

  if (!options.account_sid.empty() && IsSidShaped(kAccountPrefix, options.account_sid) &&
      IsValidText(options.account_sid)) {
    account_sid_ = options.account_sid;
  } else {
    if (!options.account_sid.empty()) {
      init_status_ = InvalidParameterError("Invalid AccountSid: a generated one is used instead");
    }
    account_sid_ = FormatSid(kAccountPrefix, NextSid());
  }

  // The page-token secret: a pure function of the seed and the account when
  // seeded (replay must print the same tokens), else random per store.
  uint64_t secret;
  if (options.seed.has_value()) {
    secret = Mix64(*options.seed ^ 0x70616765746f6b65ULL);
  } else {
    std::random_device rd;
    secret = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ Mix64(reinterpret_cast<uintptr_t>(this));
  }
  for (char c : account_sid_) secret = Mix64(secret ^ static_cast<unsigned char>(c));
  token_secret_ = secret;

  if (options.create_default_service) {
    absl::MutexLock lock(&mu_);
    CreateServiceLocked(kDefaultServiceName, /*is_default=*/true);
  }
}

StoreImpl::~StoreImpl() {
  absl::MutexLock lock(&mu_);
  // Destroy the records while their services (whose arenas hold their
  // memory) are still alive; the deleter takes no lock, and no other thread
  // may use a store being destroyed. (The order indexes only point at the
  // records and go with their services.)
  for (size_t i = 0; i <= shard_mask_; ++i) {
    absl::MutexLock shard_lock(&shards_[i].mu);
    shards_[i].ids.clear();
    shards_[i].table.clear();
  }
  services_.clear();
  services_by_position_.clear();
}

const std::string& StoreImpl::default_conversation_service_sid() const {
  const std::string* text = default_sid_text_.load(std::memory_order_acquire);
  return text != nullptr ? *text : EmptyString();
}

void UserRecordDeleter::operator()(UserRecord* record) const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // The caller holds the service's lock exclusively (EraseUser, the store's
  // destructor, an insert that failed), which guards its arena.
  RecordArena& arena = record->role()->service->records;
  const size_t bytes = record->block_bytes();
  record->~UserRecord();
  arena.Free(record, bytes);
}

// --- helpers -------------------------------------------------------------------------

int64_t StoreImpl::NowSeconds() const { return ToSeconds(clock_->Now()); }

Sid128 StoreImpl::NextSid() {
  absl::MutexLock lock(&ids_mu_);
  return sid_generator_.Next();
}

Sid128 StoreImpl::NewRoleSid() {
  absl::MutexLock lock(&ids_mu_);
  for (;;) {
    Sid128 sid = sid_generator_.Next();
    if (role_sids_.insert(sid).second) return sid;
  }
}

ServiceState* StoreImpl::FindService(absl::string_view service_sid) const {
  std::optional<Sid128> sid = ParseSid(kServicePrefix, service_sid);
  if (!sid.has_value()) return nullptr;
  auto it = services_.find(*sid);
  return it == services_.end() ? nullptr : it->second.get();
}

absl::StatusOr<ServiceState*> StoreImpl::LookupService(absl::string_view service_sid) const {
  ServiceState* svc = FindService(service_sid);
  if (svc == nullptr) return ServiceNotFound(service_sid);
  return svc;
}

UserRecord* StoreImpl::FindUser(const ServiceState* svc, absl::string_view user) const {
  if (IsSidShaped(kUserPrefix, user)) {
    std::optional<Sid128> sid = ParseSid(kUserPrefix, user);
    if (!sid.has_value()) return nullptr;
    SidShard& shard = ShardFor(*sid);
    absl::ReaderMutexLock lock(&shard.mu);
    UserRecord* record = shard.Find(*sid);
    return record != nullptr && record->role()->service == svc ? record : nullptr;
  }
  return FindByIdentity(svc->sid, user);
}

UserRecord* StoreImpl::FindByIdentity(const Sid128& service, absl::string_view identity) const {
  const IdentityKey key{service, identity};
  SidShard& shard = ShardFor(key);
  absl::ReaderMutexLock lock(&shard.mu);
  return shard.Find(key);
}

SidShard& StoreImpl::IdentityShardFor(const UserRecord& record) const {
  return ShardFor(IdentityKeyOf(&record));
}

RoleRecord* StoreImpl::FindRole(const ServiceState* svc, const Sid128& sid) const {
  auto it = svc->roles_by_sid.find(sid);
  return it == svc->roles_by_sid.end() ? nullptr : it->second;
}

absl::StatusOr<RoleRecord*> StoreImpl::ResolveUserRole(const ServiceState* svc,
                                                       const RoleRef& ref) const {
  RoleRecord* role = nullptr;
  if (!ref.supplied) {
    role = FindRole(svc, svc->default_service_role);
  } else if (ref.sid.has_value()) {
    role = FindRole(svc, *ref.sid);
  }
  if (role == nullptr) return MakeError(ErrorCode::kRoleNotFound);
  if (role->type != RoleType::kDeployment) return MakeError(ErrorCode::kInvalidRoleType);
  return role;
}

UserRecord* StoreImpl::InsertUser(ServiceState* svc, const std::optional<Sid128>& sid,
                                  RoleRecord* role, const UserRecord::Text& text,
                                  int64_t date_created, int64_t date_updated) {
  const uint64_t position = svc->next_user_position;
  for (;;) {
    const Sid128 candidate = sid.has_value() ? *sid : NextSid();
    SidShard& shard = ShardFor(candidate);
    SidShard& identity_shard = ShardFor(IdentityKey{svc->sid, text.identity});
    ShardLocks locks(&shard, &identity_shard);
    if (shard.table.contains(candidate)) {
      if (sid.has_value()) return nullptr;
      continue;  // regenerate on collision
    }
    UserRecordPtr owned =
        UserRecord::New(&svc->records, candidate, position, role, text, date_created, date_updated);
    UserRecord* record = owned.get();
    shard.table.insert(std::move(owned));
    identity_shard.ids.insert(record);
    // Positions only grow, so the new record always goes last (the hint makes
    // that O(1) amortized).
    svc->by_order.emplace_hint(svc->by_order.end(), position, record);
    ++role->user_count;
    svc->next_user_position = position + 1;
    return record;
  }
}

void StoreImpl::EraseUser(ServiceState* svc, UserRecord* record) {
  // The order index is guarded by the service lock, which is held
  // exclusively; the shard locks guard the tables and the record's lifetime.
  --record->role()->user_count;
  const Sid128 sid = record->sid();
  SidShard& shard = ShardFor(sid);
  SidShard& identity_shard = IdentityShardFor(*record);
  ShardLocks locks(&shard, &identity_shard);
  // At 10^6 users the identity slot and the order index's leaf are both cache
  // misses: start the first before walking down to the second.
  identity_shard.ids.prefetch(record);
  svc->by_order.erase(record->position());
  identity_shard.ids.erase(record);
  auto it = shard.table.find(sid);
  shard.table.erase(it);  // destroys the record
}

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
  ChangeEvent event;
  event.entity = ChangeEvent::Entity::kUser;
  event.op = op;
  event.user = ToUser(record, PresenceView::kStored);
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

void StoreImpl::RunPostHook(HookType type, bool enabled, const User& stored) {
  if (!enabled || !bus_.HasHooks(type)) return;
  // Post-event hooks cannot fail the call; the bus reports their errors.
  (void)bus_.RunHooks(type, ToUserEvent(type, stored));
}

// --- users -----------------------------------------------------------------------------

absl::StatusOr<User> StoreImpl::CreateLocked(ServiceState* svc, const UserFields& fields) {
  USERSTORE_ASSIGN_OR_RETURN(RoleRecord * role, ResolveUserRole(svc, fields.role));
  if (FindByIdentity(svc->sid, fields.identity) != nullptr) {
    return MakeError(ErrorCode::kUserAlreadyExists);
  }
  const int64_t now = NowSeconds();
  UserRecord::Text text{fields.identity, fields.friendly_name, fields.attributes};
  UserRecord* record = InsertUser(svc, std::nullopt, role, text, now, now);
  // Runs synchronously inside Publish, while this thread holds svc->mu.
  bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return UserChange(ChangeEvent::Op::kCreate, *record);
  });
  return ToUser(*record, PresenceView::kStored);
}

absl::StatusOr<User> StoreImpl::CreateUser(absl::string_view service_sid,
                                           const CreateUserRequest& request) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  UserFields fields;
  const absl::Status valid = ValidateCreate(
      request, options_, &fields.identity, &fields.friendly_name, &fields.attributes, &fields.role);
  User created;
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    USERSTORE_RETURN_IF_ERROR(valid);
    absl::MutexLock service_lock(&svc->mu);
    USERSTORE_ASSIGN_OR_RETURN(created, CreateLocked(svc, fields));
  }
  bus_.Deliver();
  RunPostHook(HookType::kOnUserAdded, request.webhooks_enabled, created);
  // A new user has no presence yet, so the stored and fetched views agree.
  return created;
}

template <typename Fn>
absl::Status StoreImpl::FindForRead(absl::string_view service_sid, absl::string_view user,
                                    Fn&& fn) const {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, user, "Sid"));
  // Fast path by SID: one SID-shard reader lock.
  if (IsSidShaped(kUserPrefix, user)) {
    std::optional<Sid128> user_sid = ParseSid(kUserPrefix, user);
    std::optional<Sid128> svc_sid = ParseSid(kServicePrefix, service_sid);
    if (user_sid.has_value() && svc_sid.has_value()) {
      SidShard& shard = ShardFor(*user_sid);
      absl::ReaderMutexLock lock(&shard.mu);
      if (const UserRecord* record = shard.Find(*user_sid)) {
        const ServiceState* svc = record->role()->service;
        if (svc->sid == *svc_sid && !svc->deleted.load(std::memory_order_acquire)) {
          fn(*record);
          return absl::OkStatus();
        }
      }
    }
  } else if (std::optional<Sid128> svc_sid = ParseSid(kServicePrefix, service_sid)) {
    // Fast path by identity: one identity-shard reader lock. The key holds
    // the service, so a hit is a user of the requested service.
    const IdentityKey key{*svc_sid, user};
    SidShard& shard = ShardFor(key);
    absl::ReaderMutexLock lock(&shard.mu);
    if (const UserRecord* record = shard.Find(key)) {
      if (!record->role()->service->deleted.load(std::memory_order_acquire)) {
        fn(*record);
        return absl::OkStatus();
      }
    }
  }
  // Slow path: identity, or anything the fast path could not settle (it also
  // builds the right 404).
  absl::ReaderMutexLock lock(&mu_);
  USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
  absl::ReaderMutexLock service_lock(&svc->mu);
  const UserRecord* record = FindUser(svc, user);
  if (record == nullptr) return UserNotFound(service_sid, user);
  fn(*record);
  return absl::OkStatus();
}

absl::StatusOr<User> StoreImpl::GetUser(absl::string_view service_sid,
                                        absl::string_view user) const {
  User out;
  USERSTORE_RETURN_IF_ERROR(FindForRead(
      service_sid, user, [&](const UserRecord& r) { out = ToUser(r, PresenceView::kFetch); }));
  return out;
}

absl::Status StoreImpl::ReadUser(absl::string_view service_sid, absl::string_view user,
                                 absl::FunctionRef<void(const UserView&)> reader) const {
  return FindForRead(service_sid, user,
                     [&](const UserRecord& r) { CallWithView(r, PresenceView::kFetch, reader); });
}

absl::StatusOr<User> StoreImpl::UpdateUser(absl::string_view service_sid, absl::string_view user,
                                           const UpdateUserRequest& request) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, user, "Sid"));
  UserPatch patch;
  absl::Status valid = absl::OkStatus();
  if (request.identity.has_value()) {
    valid = InvalidParameterError("Identity cannot be updated");
  }
  if (valid.ok() && request.friendly_name.has_value()) {
    valid = ValidateFriendlyName(*request.friendly_name, options_.max_friendly_name_length);
    if (valid.ok()) patch.friendly_name = *request.friendly_name;
  }
  if (valid.ok() && request.attributes.has_value()) {
    valid = ValidateAttributesParam(*request.attributes, options_);
    if (valid.ok()) patch.attributes = *request.attributes;
  }
  if (valid.ok()) valid = ParseRoleParam(request.role_sid, "RoleSid", &patch.role);

  // What the patch does to `record` given the resolved role.
  struct Effect {
    bool text = false;
    bool role = false;
  };
  auto effect_of = [&patch](const UserRecord& record, const RoleRecord* role) {
    Effect e;
    if (patch.friendly_name.has_value()) {
      std::optional<absl::string_view> current = record.friendly_name();
      e.text |= !current.has_value() || *current != *patch.friendly_name;
    }
    if (patch.attributes.has_value()) e.text |= record.attributes() != *patch.attributes;
    e.role = role != record.role();
    return e;
  };

  const bool hooks = request.webhooks_enabled;
  if (hooks && bus_.HasHooks(HookType::kOnUserUpdate)) {
    // Pre-event: validate and build the proposed user from a copy, then run
    // the hooks with no lock held.
    User proposed;
    {
      absl::ReaderMutexLock lock(&mu_);
      USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
      absl::ReaderMutexLock service_lock(&svc->mu);
      const UserRecord* record = FindUser(svc, user);
      if (record == nullptr) return UserNotFound(service_sid, user);
      USERSTORE_RETURN_IF_ERROR(valid);
      RoleRecord* role = record->role();
      if (patch.role.supplied) {
        USERSTORE_ASSIGN_OR_RETURN(role, ResolveUserRole(svc, patch.role));
      }
      const Effect e = effect_of(*record, role);
      proposed = ToUser(*record, PresenceView::kStored);
      if (patch.friendly_name.has_value())
        proposed.friendly_name = std::string(*patch.friendly_name);
      if (patch.attributes.has_value()) proposed.attributes = std::string(*patch.attributes);
      proposed.role_sid = role->sid_text;
      if (e.text || e.role) proposed.date_updated = FromSeconds(NowSeconds());
    }
    USERSTORE_RETURN_IF_ERROR(
        bus_.RunHooks(HookType::kOnUserUpdate, ToUserEvent(HookType::kOnUserUpdate, proposed)));
  }

  User stored;
  User shown;
  bool changed = false;
  const bool post_hooks = hooks && bus_.HasHooks(HookType::kOnUserUpdated);
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    absl::MutexLock service_lock(&svc->mu);
    UserRecord* record = FindUser(svc, user);
    if (record == nullptr) return UserNotFound(service_sid, user);
    USERSTORE_RETURN_IF_ERROR(valid);
    RoleRecord* role = record->role();
    if (patch.role.supplied) {
      USERSTORE_ASSIGN_OR_RETURN(role, ResolveUserRole(svc, patch.role));
    }
    const Effect e = effect_of(*record, role);
    changed = e.text || e.role;
    if (changed) {
      const int64_t now = NowSeconds();
      ShardLocks shard_locks(&ShardFor(record->sid()), &IdentityShardFor(*record));
      if (e.text) {
        const std::optional<absl::string_view> fn =
            patch.friendly_name.has_value() ? patch.friendly_name : record->friendly_name();
        const absl::string_view attributes =
            patch.attributes.has_value() ? *patch.attributes : record->attributes();
        record->SetText(fn, attributes);
      }
      if (e.role) {
        --record->role()->user_count;
        ++role->user_count;
        record->set_role(role);
      }
      record->set_date_updated(now);
      bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return UserChange(ChangeEvent::Op::kUpdate, *record);
      });
    }
    // The stored image is only for the post-event hooks; when they will not
    // run, one copy (as fetch shows it) is all the call makes.
    if (post_hooks) stored = ToUser(*record, PresenceView::kStored);
    shown = ToUser(*record, PresenceView::kFetch);
  }
  if (changed) bus_.Deliver();
  if (post_hooks) RunPostHook(HookType::kOnUserUpdated, hooks, stored);
  return shown;
}

absl::Status StoreImpl::DeleteUser(absl::string_view service_sid, absl::string_view user) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, user, "Sid"));
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    absl::MutexLock service_lock(&svc->mu);
    UserRecord* record = FindUser(svc, user);
    if (record == nullptr) return UserNotFound(service_sid, user);
    bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return UserChange(ChangeEvent::Op::kDelete, *record);
    });
    EraseUser(svc, record);
  }
  bus_.Deliver();
  return absl::OkStatus();
}

absl::StatusOr<GetOrCreateResult> StoreImpl::GetOrCreateUser(absl::string_view service_sid,
                                                             const CreateUserRequest& request) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  const absl::Status identity_status = ValidateIdentity(request.identity, options_);
  // Common case first: the user exists; readers share every lock.
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    USERSTORE_RETURN_IF_ERROR(identity_status);
    absl::ReaderMutexLock service_lock(&svc->mu);
    if (const UserRecord* found = FindByIdentity(svc->sid, *request.identity)) {
      return GetOrCreateResult{ToUser(*found, PresenceView::kFetch), false};
    }
  }
  UserFields fields;
  const absl::Status valid = ValidateCreate(
      request, options_, &fields.identity, &fields.friendly_name, &fields.attributes, &fields.role);
  User created;
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    absl::MutexLock service_lock(&svc->mu);
    // Someone may have created it since the shared look.
    if (const UserRecord* found = FindByIdentity(svc->sid, fields.identity)) {
      return GetOrCreateResult{ToUser(*found, PresenceView::kFetch), false};
    }
    USERSTORE_RETURN_IF_ERROR(valid);
    USERSTORE_ASSIGN_OR_RETURN(created, CreateLocked(svc, fields));
  }
  bus_.Deliver();
  RunPostHook(HookType::kOnUserAdded, request.webhooks_enabled, created);
  return GetOrCreateResult{std::move(created), true};
}

absl::StatusOr<std::optional<PageTokenData>> StoreImpl::CheckToken(const ListRequest& request,
                                                                   Collection collection,
                                                                   const Sid128& scope) const {
  if (request.page_size < 1) return InvalidParameterError("Invalid PageSize");
  if (request.page_token.empty()) return std::optional<PageTokenData>();
  if (!IsValidText(request.page_token)) return InvalidParameterError("Invalid PageToken");
  USERSTORE_ASSIGN_OR_RETURN(PageTokenData data,
                             DecodePageToken(request.page_token, token_secret_));
  if (data.collection != collection || data.surface != request.surface || data.scope != scope) {
    return InvalidParameterError("Invalid PageToken");
  }
  return std::optional<PageTokenData>(data);
}

std::string StoreImpl::Token(bool forward, Collection collection, Surface surface,
                             const Sid128& scope, uint64_t anchor) const {
  PageTokenData data;
  data.forward = forward;
  data.collection = collection;
  data.surface = surface;
  data.scope = scope;
  data.anchor = anchor;
  return EncodePageToken(data, token_secret_);
}

template <typename Fn>
absl::StatusOr<PageInfo> StoreImpl::WalkUsers(absl::string_view service_sid,
                                              const ListRequest& request, Fn&& fn) const {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  absl::ReaderMutexLock lock(&mu_);
  USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
  USERSTORE_ASSIGN_OR_RETURN(std::optional<PageTokenData> token,
                             CheckToken(request, Collection::kUsers, svc->sid));
  PageInfo info;
  info.page_size = std::min(request.page_size, MaxPageSize(request.surface));
  absl::ReaderMutexLock service_lock(&svc->mu);
  auto bounds =
      Paginate(svc->by_order, token, info.page_size, [](const auto& entry) { return entry.first; });
  // The record pointers sit in the index's leaves, so the walk can start the
  // cache misses of the next users while `fn` works on this one (at 10^6
  // users, churned: 4x the users per second of a walk without it).
  constexpr int kPrefetchAhead = 8;
  auto ahead = bounds.begin;
  for (int i = 0; i < kPrefetchAhead && ahead != bounds.end; ++i, ++ahead) {
    PrefetchRecord(ahead->second);
  }
  for (auto it = bounds.begin; it != bounds.end; ++it) {
    if (ahead != bounds.end) {
      PrefetchRecord(ahead->second);
      ++ahead;
    }
    fn(*it->second);
    ++info.item_count;
  }
  if (bounds.has_next) {
    info.next_page_token =
        Token(true, Collection::kUsers, request.surface, svc->sid, bounds.next_anchor);
  }
  if (bounds.has_prev) {
    info.previous_page_token =
        Token(false, Collection::kUsers, request.surface, svc->sid, bounds.prev_anchor);
  }
  return info;
}

absl::StatusOr<UserPage> StoreImpl::ListUsers(absl::string_view service_sid,
                                              const ListRequest& request) const {
  UserPage page;
  USERSTORE_ASSIGN_OR_RETURN(
      PageInfo info, WalkUsers(service_sid, request, [&](const UserRecord& r) {
        if (page.items.empty()) {
          page.items.reserve(static_cast<size_t>(
              std::min<int64_t>(request.page_size, MaxPageSize(request.surface))));
        }
        page.items.push_back(ToUser(r, PresenceView::kNone));
      }));
  page.page_size = info.page_size;
  page.next_page_token = std::move(info.next_page_token);
  page.previous_page_token = std::move(info.previous_page_token);
  return page;
}

absl::StatusOr<PageInfo> StoreImpl::VisitUsers(
    absl::string_view service_sid, const ListRequest& request,
    absl::FunctionRef<void(const UserView&)> visitor) const {
  return WalkUsers(service_sid, request,
                   [&](const UserRecord& r) { CallWithView(r, PresenceView::kNone, visitor); });
}

absl::StatusOr<int64_t> StoreImpl::CountUsers(absl::string_view service_sid) const {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  absl::ReaderMutexLock lock(&mu_);
  USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
  absl::ReaderMutexLock service_lock(&svc->mu);
  return static_cast<int64_t>(svc->by_order.size());
}

absl::StatusOr<User> StoreImpl::SetPresence(absl::string_view service_sid, absl::string_view user,
                                            const PresenceUpdate& update) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, user, "Sid"));
  User stored;
  User shown;
  bool changed = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    absl::MutexLock service_lock(&svc->mu);
    UserRecord* record = FindUser(svc, user);
    if (record == nullptr) return UserNotFound(service_sid, user);
    changed = (update.is_online.has_value() && record->is_online() != update.is_online) ||
              (update.is_notifiable.has_value() && record->is_notifiable() != update.is_notifiable);
    if (changed) {
      const int64_t now = NowSeconds();
      ShardLocks shard_locks(&ShardFor(record->sid()), &IdentityShardFor(*record));
      if (update.is_online.has_value()) record->set_is_online(update.is_online);
      if (update.is_notifiable.has_value()) record->set_is_notifiable(update.is_notifiable);
      record->set_date_updated(now);
      bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return UserChange(ChangeEvent::Op::kUpdate, *record);
      });
    }
    stored = ToUser(*record, PresenceView::kStored);
    shown = ToUser(*record, PresenceView::kFetch);
  }
  if (changed) bus_.Deliver();
  RunPostHook(HookType::kOnUserUpdated, update.webhooks_enabled, stored);
  return shown;
}

absl::StatusOr<User> StoreImpl::ChangeChannels(absl::string_view service_sid,
                                               absl::string_view user, int delta) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, user, "Sid"));
  User shown;
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    absl::MutexLock service_lock(&svc->mu);
    UserRecord* record = FindUser(svc, user);
    if (record == nullptr) return UserNotFound(service_sid, user);
    const int64_t next = static_cast<int64_t>(record->joined_channels_count()) + delta;
    if (delta > 0 && next > options_.max_user_channels) {
      return MakeError(ErrorCode::kUserChannelLimitExceeded);
    }
    if (next < 0) return InvalidParameterError("The user has joined no channel");
    const int64_t now = NowSeconds();
    ShardLocks shard_locks(&ShardFor(record->sid()), &IdentityShardFor(*record));
    record->set_joined_channels_count(static_cast<int>(next));
    record->set_date_updated(now);
    bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return UserChange(ChangeEvent::Op::kUpdate, *record);
    });
    shown = ToUser(*record, PresenceView::kFetch);
  }
  bus_.Deliver();
  return shown;
}

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
    // The linearization point of the delete: from here on the fast path of
    // GetUser treats every user of the service as gone.
    svc->deleted.store(true, std::memory_order_release);
    const bool is_default = svc == default_service_;
    bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return ServiceChange(ChangeEvent::Op::kDelete, *svc, is_default);
    });
    while (!svc->by_order.empty()) EraseUser(svc, svc->by_order.begin()->second);
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
  if (bounds.has_next) {
    page.next_page_token =
        Token(true, Collection::kServices, request.surface, Sid128{}, bounds.next_anchor);
  }
  if (bounds.has_prev) {
    page.previous_page_token =
        Token(false, Collection::kServices, request.surface, Sid128{}, bounds.prev_anchor);
  }
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
  if (bounds.has_next) {
    page.next_page_token =
        Token(true, Collection::kRoles, request.surface, svc->sid, bounds.next_anchor);
  }
  if (bounds.has_prev) {
    page.previous_page_token =
        Token(false, Collection::kRoles, request.surface, svc->sid, bounds.prev_anchor);
  }
  return page;
}

// --- snapshot, apply, invariants ------------------------------------------------------

// Reads every service's guarded state while holding mu_ exclusively, which
// the analysis cannot relate to the service locks: every mutation holds mu_
// at least shared, so no mutation is in flight and no service lock is held
// by anyone else (see LOCKING in store_impl.h).
UserStore::SnapshotData StoreImpl::SnapshotLocked() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  UserStore::SnapshotData data;
  // Every mutation publishes while holding mu_, so nothing can be published
  // while we hold it exclusively.
  data.sequence = bus_.last_sequence();
  auto add_service = [&](const ServiceState* svc) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    data.events.push_back(ServiceChange(ChangeEvent::Op::kCreate, *svc, svc == default_service_));
    for (const auto& entry : svc->roles) {
      data.events.push_back(RoleChange(ChangeEvent::Op::kCreate, *entry.second));
    }
    for (const auto& entry : svc->by_order) {
      data.events.push_back(UserChange(ChangeEvent::Op::kCreate, *entry.second));
    }
  };
  if (default_service_ != nullptr) add_service(default_service_);
  for (const auto& entry : services_by_position_) {
    if (entry.second != default_service_) add_service(entry.second);
  }
  for (ChangeEvent& event : data.events) event.sequence = 0;
  return data;
}

UserStore::SnapshotData StoreImpl::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return SnapshotLocked();
}

UserStore::Subscription StoreImpl::SubscribeWithSnapshot(ChangeListener listener) {
  UserStore::Subscription sub;
  absl::MutexLock lock(&mu_);
  sub.snapshot = SnapshotLocked();
  // Still frozen: the subscriber starts exactly after snapshot.sequence.
  sub.id = bus_.Subscribe(std::move(listener));
  return sub;
}

absl::Status StoreImpl::Apply(const ChangeEvent& event) {
  absl::Status status;
  switch (event.entity) {
    case ChangeEvent::Entity::kService:
      if (!event.service.has_value()) return InvalidParameterError("Event without a service");
      status = ApplyService(event);
      break;
    case ChangeEvent::Entity::kRole:
      if (!event.role.has_value()) return InvalidParameterError("Event without a role");
      status = ApplyRole(event);
      break;
    case ChangeEvent::Entity::kUser:
      if (!event.user.has_value()) return InvalidParameterError("Event without a user");
      status = ApplyUser(event);
      break;
    default:
      return InvalidParameterError("Unknown event entity");
  }
  if (status.ok()) bus_.Deliver();
  return status;
}

absl::Status StoreImpl::ApplyService(const ChangeEvent& event) {
  const Service& s = *event.service;
  if (!IsValidText(s.sid) || !IsValidText(s.friendly_name)) return NotValidText("Service");
  std::optional<Sid128> sid = ParseSid(kServicePrefix, s.sid);
  if (!sid.has_value()) return InvalidParameterError(absl::StrCat("Invalid ServiceSid: ", s.sid));
  // Unparseable default role SIDs become the zero SID (names no role).
  auto role_sid = [](const std::string& text) {
    return ParseSid(kRolePrefix, text).value_or(Sid128{});
  };
  absl::MutexLock lock(&mu_);
  auto it = services_.find(*sid);
  ServiceState* svc = nullptr;
  switch (event.op) {
    case ChangeEvent::Op::kCreate: {
      if (it != services_.end()) return InvalidParameterError("Service already exists");
      auto owned = std::make_unique<ServiceState>(*sid, next_service_position_++);
      svc = owned.get();
      services_.emplace(*sid, std::move(owned));
      services_by_position_.emplace(svc->position, svc);
      if (event.default_conversation_service) SetDefaultService(svc);
      break;
    }
    case ChangeEvent::Op::kUpdate:
      if (it == services_.end()) return ServiceNotFound(s.sid);
      svc = it->second.get();
      break;
    case ChangeEvent::Op::kDelete:
      if (it == services_.end()) return ServiceNotFound(s.sid);
      if (it->second.get() == default_service_) {
        return InvalidParameterError("The default conversation service cannot be deleted");
      }
      DestroyServiceLocked(it->second.get());
      return absl::OkStatus();
    default:
      return InvalidParameterError("Unknown event operation");
  }
  // A create or an update: the event carries the whole service.
  absl::MutexLock service_lock(&svc->mu);
  if (event.op == ChangeEvent::Op::kCreate) svc->date_created = ToSeconds(s.date_created);
  svc->friendly_name = s.friendly_name;
  svc->default_service_role = role_sid(s.default_service_role_sid);
  svc->default_channel_role = role_sid(s.default_channel_role_sid);
  svc->default_channel_creator_role = role_sid(s.default_channel_creator_role_sid);
  svc->reachability_enabled.store(s.reachability_enabled, std::memory_order_release);
  svc->date_updated = ToSeconds(s.date_updated);
  const bool is_default = svc == default_service_;
  bus_.Publish(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return ServiceChange(event.op, *svc, is_default); });
  return absl::OkStatus();
}

absl::Status StoreImpl::ApplyRole(const ChangeEvent& event) {
  const Role& r = *event.role;
  if (!IsValidText(r.service_sid) || !IsValidText(r.sid) || !IsValidText(r.friendly_name)) {
    return NotValidText("Role");
  }
  for (const std::string& p : r.permissions) {
    if (!IsValidText(p)) return NotValidText("Permission");
  }
  std::optional<Sid128> sid = ParseSid(kRolePrefix, r.sid);
  if (!sid.has_value()) return InvalidParameterError(absl::StrCat("Invalid RoleSid: ", r.sid));
  absl::ReaderMutexLock lock(&mu_);
  USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(r.service_sid));
  absl::MutexLock service_lock(&svc->mu);
  RoleRecord* role = FindRole(svc, *sid);
  switch (event.op) {
    case ChangeEvent::Op::kCreate: {
      {
        absl::MutexLock ids_lock(&ids_mu_);
        if (!role_sids_.insert(*sid).second) return InvalidParameterError("Role already exists");
      }
      RoleRecord* created = InsertRole(svc, *sid, r.friendly_name, r.type, r.permissions,
                                       ToSeconds(r.date_created), ToSeconds(r.date_updated));
      bus_.Publish([&]() { return RoleChange(ChangeEvent::Op::kCreate, *created); });
      return absl::OkStatus();
    }
    case ChangeEvent::Op::kUpdate: {
      if (role == nullptr) return RoleNotFoundPath(r.service_sid, r.sid);
      // A role's type decides whether users may hold it; it never changes.
      if (role->type != r.type) return InvalidParameterError("A role's type cannot change");
      role->friendly_name = r.friendly_name;
      role->permissions = r.permissions;
      role->date_updated = ToSeconds(r.date_updated);
      bus_.Publish([&]() { return RoleChange(ChangeEvent::Op::kUpdate, *role); });
      return absl::OkStatus();
    }
    case ChangeEvent::Op::kDelete:
      if (role == nullptr) return RoleNotFoundPath(r.service_sid, r.sid);
      return DeleteRoleLocked(svc, role);
  }
  return InvalidParameterError("Unknown event operation");
}

absl::Status StoreImpl::ApplyUser(const ChangeEvent& event) {
  const User& u = *event.user;
  if (!IsValidText(u.service_sid) || !IsValidText(u.sid) || !IsValidText(u.role_sid) ||
      !IsValidText(u.identity) || !IsValidText(u.attributes) ||
      (u.friendly_name.has_value() && !IsValidText(*u.friendly_name))) {
    return NotValidText("User");
  }
  std::optional<Sid128> sid = ParseSid(kUserPrefix, u.sid);
  if (!sid.has_value()) return InvalidParameterError(absl::StrCat("Invalid Sid: ", u.sid));
  if (u.joined_channels_count < 0) return InvalidParameterError("Invalid joined_channels_count");
  absl::ReaderMutexLock lock(&mu_);
  USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(u.service_sid));
  absl::MutexLock service_lock(&svc->mu);
  UserRecord* record = FindUser(svc, u.sid);
  if (event.op == ChangeEvent::Op::kDelete) {
    if (record == nullptr) return UserNotFound(u.service_sid, u.sid);
    bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return UserChange(ChangeEvent::Op::kDelete, *record);
    });
    EraseUser(svc, record);
    return absl::OkStatus();
  }
  std::optional<Sid128> role_sid = ParseSid(kRolePrefix, u.role_sid);
  RoleRecord* role = role_sid.has_value() ? FindRole(svc, *role_sid) : nullptr;
  if (role == nullptr) return RoleNotFoundPath(u.service_sid, u.role_sid);
  std::optional<absl::string_view> fn;
  if (u.friendly_name.has_value()) fn = *u.friendly_name;

  if (event.op == ChangeEvent::Op::kCreate) {
    if (record != nullptr || FindByIdentity(svc->sid, u.identity) != nullptr) {
      return MakeError(ErrorCode::kUserAlreadyExists);
    }
    if (u.identity.empty()) return MakeError(ErrorCode::kIdentityNotProvided);
    UserRecord::Text text{u.identity, fn, u.attributes};
    record =
        InsertUser(svc, *sid, role, text, ToSeconds(u.date_created), ToSeconds(u.date_updated));
    if (record == nullptr) return MakeError(ErrorCode::kUserAlreadyExists);  // SID elsewhere
    ShardLocks shard_locks(&ShardFor(record->sid()), &IdentityShardFor(*record));
    record->set_is_online(u.is_online);
    record->set_is_notifiable(u.is_notifiable);
    record->set_joined_channels_count(u.joined_channels_count);
    bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return UserChange(ChangeEvent::Op::kCreate, *record);
    });
    return absl::OkStatus();
  }
  if (event.op != ChangeEvent::Op::kUpdate) return InvalidParameterError("Unknown event operation");
  if (record == nullptr) return UserNotFound(u.service_sid, u.sid);
  if (record->identity() != u.identity) {
    return InvalidParameterError("Identity cannot be updated");
  }
  ShardLocks shard_locks(&ShardFor(record->sid()), &IdentityShardFor(*record));
  record->SetText(fn, u.attributes);
  if (role != record->role()) {
    --record->role()->user_count;
    ++role->user_count;
    record->set_role(role);
  }
  record->set_is_online(u.is_online);
  record->set_is_notifiable(u.is_notifiable);
  record->set_joined_channels_count(u.joined_channels_count);
  record->set_date_updated(ToSeconds(u.date_updated));
  bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return UserChange(ChangeEvent::Op::kUpdate, *record);
  });
  return absl::OkStatus();
}

// Holds mu_ exclusively, which freezes every service and shard (see
// SnapshotLocked), so it reads guarded state the analysis cannot prove.
absl::Status StoreImpl::CheckInvariants() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  absl::MutexLock lock(&mu_);
  auto fail = [](absl::string_view what) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("invariant violated: ", what));
  };
  absl::Status status = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS -> absl::Status {
    if (services_.size() != services_by_position_.size()) return fail("services index sizes");
    if (default_service_ != nullptr &&
        FindService(default_service_->sid_text) != default_service_) {
      return fail("default service not in the services map");
    }
    size_t total_users = 0;
    size_t total_roles = 0;
    uint64_t last_service_position = 0;
    for (const auto& [position, svc] : services_by_position_) {
      if (position != svc->position || position <= last_service_position ||
          position >= next_service_position_) {
        return fail("service positions");
      }
      last_service_position = position;
      auto found = services_.find(svc->sid);
      if (found == services_.end() || found->second.get() != svc) {
        return fail("service order index and map disagree");
      }
      if (svc->deleted.load()) return fail("live service marked deleted");
      // Roles.
      if (svc->roles.size() != svc->roles_by_sid.size()) return fail("role index sizes");
      absl::flat_hash_map<const RoleRecord*, int64_t> counts;
      for (const auto& [role_position, role] : svc->roles) {
        if (role->position != role_position || role_position >= svc->next_role_position) {
          return fail("role positions");
        }
        if (role->service != svc) return fail("role owner");
        if (FindRole(svc, role->sid) != role.get()) return fail("role sid index");
        counts[role.get()] = 0;
      }
      total_roles += svc->roles.size();
      for (const Sid128& d : {svc->default_service_role, svc->default_channel_role,
                              svc->default_channel_creator_role}) {
        const RoleRecord* role = FindRole(svc, d);
        if (role != nullptr && d == svc->default_service_role &&
            role->type != RoleType::kDeployment) {
          return fail("default service role is not a deployment role");
        }
      }
      // Users.
      uint64_t last = 0;
      for (const auto& [position, r] : svc->by_order) {
        const UserRecord& record = *r;
        if (record.position() != position) return fail("order index key is not the position");
        if (record.position() <= last || record.position() >= svc->next_user_position) {
          return fail("user positions");
        }
        last = record.position();
        if (IdentityShardFor(record).Find(IdentityKeyOf(&record)) != &record) {
          return fail("identity index misses a user");
        }
        if (record.identity().empty() || !IsValidText(record.identity())) {
          return fail("identity text");
        }
        if (ShardFor(record.sid()).Find(record.sid()) != &record) {
          return fail("SID table misses a user");
        }
        const RoleRecord* role = record.role();
        if (role == nullptr || role->service != svc || FindRole(svc, role->sid) != role) {
          return fail("user role not of its service");
        }
        ++counts[role];
        if (record.joined_channels_count() < 0) return fail("negative channel count");
      }
      for (const auto& [role, count] : counts) {
        if (role->user_count != count) return fail("role user count");
      }
      total_users += svc->by_order.size();
    }
    size_t table_users = 0;
    size_t identity_users = 0;
    for (size_t i = 0; i <= shard_mask_; ++i) {
      for (const UserRecordPtr& record : shards_[i].table) {
        if (ShardOf(record->sid(), shard_mask_) != i) return fail("record in the wrong shard");
        const ServiceState* svc = record->role()->service;
        if (FindService(svc->sid_text) != svc) return fail("record of a dead service");
      }
      table_users += shards_[i].table.size();
      for (const UserRecord* record : shards_[i].ids) {
        if (&IdentityShardFor(*record) != &shards_[i]) return fail("identity in the wrong shard");
      }
      identity_users += shards_[i].ids.size();
    }
    if (table_users != total_users) return fail("SID table and service indexes disagree");
    if (identity_users != total_users) return fail("identity tables and service indexes disagree");
    absl::MutexLock ids_lock(&ids_mu_);
    if (role_sids_.size() != total_roles) return fail("role SID registry");
    return absl::OkStatus();
  }();
  return status;
}

}  // namespace internal
}  // namespace userstore
