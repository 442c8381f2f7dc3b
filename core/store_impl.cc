#include "core/store_impl.h"

#include <algorithm>
#include <exception>
#include <iterator>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

#include "userstore/status.h"

#include "core/attributes.h"
#include "core/store_rules.h"
#include "core/text.h"

namespace userstore {
namespace internal {

namespace {

constexpr absl::string_view kDefaultServiceName = "Default Conversations Service";
constexpr absl::string_view kEmptyAttributes = "{}";

uint64_t Mix64(uint64_t x) {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A std::string that is always empty, to return by reference.
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
  // (service, identity) hashed, when the caller has it already (for the
  // service the create goes to); CreateLocked hashes it otherwise.
  std::optional<HashedIdentityKey> key;
};

// A validated update request (views into the request).
struct StoreImpl::UserPatch {
  std::optional<absl::string_view> friendly_name;
  std::optional<absl::string_view> attributes;
  RoleRef role;
};

namespace {

absl::Status ValidateCreate(const CreateUserRequestView& request, const StoreOptions& options,
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
  {
    absl::MutexLock lock(&ids_mu_);
    (void)AdvanceSidLocked();  // primes the value NextSid() returns first
  }
  size_t shards = 1;
  const int wanted = std::clamp(options.sid_shards, 1, 1024);
  while (shards < static_cast<size_t>(wanted)) shards <<= 1;
  shard_mask_ = shards - 1;
  shards_ = std::make_unique<SidShard[]>(shards);
  early_prefetch_.store(options.early_prefetch_users == 0, std::memory_order_relaxed);

  if (!options.account_sid.empty() && IsSidShaped(kAccountPrefix, options.account_sid) &&
      IsValidText(options.account_sid)) {
    account_sid_ = options.account_sid;
  } else {
    if (!options.account_sid.empty()) {
      init_status_ = InvalidParameterError("Invalid AccountSid: a generated one is used instead");
    }
    account_sid_ = FormatSid(kAccountPrefix, NextSid());
  }
  account_value_ = ParseSid(kAccountPrefix, account_sid_);

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

Sid128 StoreImpl::AdvanceSidLocked() {
  const Sid128 current = PeekSid();  // exact under ids_mu_, which every write holds
  const Sid128 next = sid_generator_.Next();
  sid_draws_.store(sid_draws_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  next_sid_hi_.store(next.hi, std::memory_order_relaxed);
  next_sid_lo_.store(next.lo, std::memory_order_relaxed);
  return current;
}

Sid128 StoreImpl::NextSid() {
  absl::MutexLock lock(&ids_mu_);
  return AdvanceSidLocked();
}

Sid128 StoreImpl::PeekSid() const {
  return Sid128{next_sid_hi_.load(std::memory_order_relaxed),
                next_sid_lo_.load(std::memory_order_relaxed)};
}

bool StoreImpl::TakeSid(const Sid128& expected) {
  absl::MutexLock lock(&ids_mu_);
  if (PeekSid() != expected) return false;
  (void)AdvanceSidLocked();
  return true;
}

Sid128 StoreImpl::NewRoleSid() {
  absl::MutexLock lock(&ids_mu_);
  for (;;) {
    Sid128 sid = AdvanceSidLocked();
    if (role_sids_.insert(sid).second) return sid;
  }
}

ServiceState* StoreImpl::FindService(absl::string_view service_sid) const {
  std::optional<Sid128> sid = ParseSid(kServicePrefix, service_sid);
  if (!sid.has_value()) return nullptr;
  return FindService(*sid);
}

ServiceState* StoreImpl::FindService(const Sid128& service_sid) const {
  auto it = services_.find(service_sid);
  return it == services_.end() ? nullptr : it->second.get();
}

absl::StatusOr<ServiceState*> StoreImpl::LookupService(absl::string_view service_sid) const {
  ServiceState* svc = FindService(service_sid);
  if (svc == nullptr) return ServiceNotFound(service_sid);
  return svc;
}

UserRecord* StoreImpl::FindUser(const ServiceState* svc, absl::string_view user) const {
  return FindUser(svc, UserTarget(svc->sid, user));
}

StoreImpl::UserTarget::UserTarget(absl::string_view service_sid, absl::string_view user)
    : UserTarget(ParseSid(kServicePrefix, service_sid), user) {}

StoreImpl::UserTarget::UserTarget(const std::optional<Sid128>& service_sid, absl::string_view user)
    : service(service_sid), by_sid(IsSidShaped(kUserPrefix, user)) {
  if (by_sid) {
    user_sid = ParseSid(kUserPrefix, user);
  } else if (service.has_value()) {
    identity.emplace(IdentityKey{*service, user});
  }
}

UserRecord* StoreImpl::FindUser(const ServiceState* svc, const UserTarget& target) const {
  const SidShard* shard = ShardFor(target);
  if (shard == nullptr) return nullptr;
  absl::ReaderMutexLock lock(&shard->mu);
  return FindInShard(*shard, target, svc);
}

absl::StatusOr<ServiceState*> StoreImpl::LookupTarget(absl::string_view service_sid,
                                                      absl::string_view user,
                                                      const UserTarget& target) const {
  ServiceState* svc = target.service.has_value() ? FindService(*target.service) : nullptr;
  if (svc != nullptr) return svc;
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, user, "Sid"));
  return ServiceNotFound(service_sid);
}

absl::Status StoreImpl::UserMissError(absl::string_view service_sid, absl::string_view user) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, user, "Sid"));
  return UserNotFound(service_sid, user);
}

void StoreImpl::PrefetchUserSlotNow(const UserTarget& target) const {
  if (target.user_sid.has_value()) {
    ShardFor(*target.user_sid).Prefetch(*target.user_sid);
  } else if (target.identity.has_value()) {
    ShardFor(*target.identity).Prefetch(*target.identity);
  }
}

void StoreImpl::PrefetchCreateSlotsNow(const HashedIdentityKey& key) const {
  ShardFor(key).Prefetch(key);
  const Sid128 sid = PeekSid();
  ShardFor(sid).Prefetch(sid);
}

UserRecord* StoreImpl::FindByIdentity(const Sid128& service, absl::string_view identity) const {
  return FindByIdentity(HashedIdentityKey(IdentityKey{service, identity}));
}

UserRecord* StoreImpl::FindByIdentity(const HashedIdentityKey& key) const {
  SidShard& shard = ShardFor(key);
  absl::ReaderMutexLock lock(&shard.mu);
  return shard.Find(key);
}

SidShard& StoreImpl::IdentityShardFor(const UserRecord& record) const {
  return shards_[record.identity_shard()];
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

UserRecord* StoreImpl::InsertUser(ServiceState* svc, const Sid128& sid, RoleRecord* role,
                                  const UserRecord::Text& text, int64_t date_created,
                                  int64_t date_updated) {
  SidShard& shard = ShardFor(sid);
  const HashedIdentityKey key(IdentityKey{svc->sid, text.identity});
  SidShard& identity_shard = ShardFor(key);
  ShardLocks locks(&shard, &identity_shard);
  if (shard.table.contains(sid)) return nullptr;
  return LinkUser(svc, &shard, &identity_shard, key, sid, role, text, date_created, date_updated,
                  [](const UserRecord&) {});
}

UserRecord* StoreImpl::InsertNewUser(ServiceState* svc, const HashedIdentityKey& key,
                                     RoleRecord* role, const UserRecord::Text& text, int64_t now,
                                     absl::FunctionRef<void(const UserRecord&)> prepare) {
  SidShard& identity_shard = ShardFor(key);
  for (;;) {
    // The SID is taken only once the identity is known to be free, so that a
    // refused create leaves a seeded store's SID sequence as it was. Its
    // shard is chosen from a peek before that, so that both shards are locked
    // at once and, at 10^6 users, the identity's slot and the SID's slot (two
    // cache misses) are fetched together.
    const Sid128 sid = PeekSid();
    SidShard& shard = ShardFor(sid);
    ShardLocks locks(&shard, &identity_shard);
    shard.table.prefetch(sid);  // Find prefetches the identity's slot too, then waits
    if (identity_shard.Find(key) != nullptr) return nullptr;
    if (!TakeSid(sid)) continue;              // another thread took it (or a torn peek)
    if (shard.table.contains(sid)) continue;  // regenerate on collision
    return LinkUser(svc, &shard, &identity_shard, key, sid, role, text, now, now, prepare);
  }
}

UserRecord* StoreImpl::LinkUser(ServiceState* svc, SidShard* shard, SidShard* identity_shard,
                                const HashedIdentityKey& identity_key, const Sid128& sid,
                                RoleRecord* role, const UserRecord::Text& text,
                                int64_t date_created, int64_t date_updated,
                                absl::FunctionRef<void(const UserRecord&)> prepare) {
  const uint64_t position = svc->next_user_position;
  UserRecordPtr owned =
      UserRecord::New(&svc->records, sid, position, role, text, date_created, date_updated);
  UserRecord* record = owned.get();
  // Everything that may throw std::bad_alloc (the record above, what
  // `prepare` builds from it, a new block of the order index) comes before
  // the first table insert, so a create that runs out of memory changes
  // nothing (the tables' own growth ends the process instead:
  // core/table_allocator.h). Positions only grow, so the new record always
  // goes last.
  prepare(*record);
  svc->by_order.Append(position, record);
  record->set_identity_shard(static_cast<size_t>(identity_shard - shards_.get()));
  shard->table.insert(std::move(owned));
  identity_shard->ids.lazy_emplace(identity_key,
                                   [record](const auto& construct) { construct(record); });
  if (!early_prefetch_.load(std::memory_order_relaxed) &&
      shard->table.size() * (shard_mask_ + 1) >= options_.early_prefetch_users) {
    early_prefetch_.store(true, std::memory_order_relaxed);
  }
  ++role->user_count;
  svc->next_user_position = position + 1;
  return record;
}

void StoreImpl::EraseUser(ServiceState* svc, UserRecord* record) {
  // The order index is guarded by the service lock, which is held
  // exclusively; the shard locks guard the tables and the record's lifetime.
  SaveForCheckpoint(svc, *record);
  --record->role()->user_count;
  const Sid128 sid = record->sid();
  SidShard& shard = ShardFor(sid);
  const HashedIdentityKey key(IdentityKeyOf(record));
  SidShard& identity_shard = ShardFor(key);
  ShardLocks locks(&shard, &identity_shard);
  // At 10^6 users the identity slot and the order index's block are both
  // cache misses: start the first before looking up the second.
  identity_shard.ids.prefetch(key);
  svc->by_order.Erase(record->position());
  identity_shard.ids.erase(identity_shard.ids.find(key));
  auto it = shard.table.find(sid);
  shard.table.erase(it);  // destroys the record
}

// --- users -----------------------------------------------------------------------------

absl::StatusOr<UserRecord*> StoreImpl::CreateLocked(ServiceState* svc, const UserFields& fields,
                                                    std::optional<UserEvent>* added_event) {
  USERSTORE_ASSIGN_OR_RETURN(RoleRecord * role, ResolveUserRole(svc, fields.role));
  const UserRecord::Text text{fields.identity, fields.friendly_name, fields.attributes};
  const HashedIdentityKey key = fields.key.has_value()
                                    ? *fields.key
                                    : HashedIdentityKey(IdentityKey{svc->sid, text.identity});
  // A durable store's journal takes the record's room before the SID is
  // drawn, so that a create refused for want of room draws no SID (recovery
  // bounds the draws between two records: durable_store.cc).
  EventBus::JournalReservation reservation = bus_.ReserveJournal(1);
  // The feed's event and the post-event hooks' copy are built from the new
  // record before it is linked (InsertNewUser's `prepare`): out of memory
  // there, the create changes nothing.
  EventBus::PreparedEvent prepared;
  UserRecord* record = InsertNewUser(
      svc, key, role, text, NowSeconds(), [&](const UserRecord& r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        prepared = bus_.PrepareEncodable([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return UserChange(ChangeEvent::Op::kCreate, r);
        });
        if (added_event != nullptr) {
          *added_event = ToUserEvent(HookType::kOnUserAdded, ToUser(r, PresenceView::kStored));
        }
      });
  if (record == nullptr) return MakeError(ErrorCode::kUserAlreadyExists);
  // Commit's `make` runs synchronously, while this thread holds svc->mu.
  CommitUser(std::move(prepared), ChangeEvent::Op::kCreate, *record);
  return record;
}

absl::Status StoreImpl::CreateReporting(absl::string_view service_sid,
                                        const CreateUserRequestView& request,
                                        absl::FunctionRef<void(const UserRecord&)> report) {
  // The service SID is parsed, and (service, identity) hashed, once for the
  // whole call. A SID that parses is valid text; anything else is checked
  // as text (400) before it is looked up (404), as every call does.
  const std::optional<Sid128> service = ParseSid(kServicePrefix, service_sid);
  if (!service.has_value()) USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  UserFields fields;
  if (service.has_value() && request.identity.has_value()) {
    fields.key.emplace(IdentityKey{*service, *request.identity});
    PrefetchCreateSlots(*fields.key);
  }
  const absl::Status valid = ValidateCreate(
      request, options_, &fields.identity, &fields.friendly_name, &fields.attributes, &fields.role);
  const bool post_hooks = request.webhooks_enabled && bus_.HasHooks(HookType::kOnUserAdded);
  std::optional<UserEvent> added;  // for the post-event hooks only
  std::exception_ptr thrown;
  {
    absl::ReaderMutexLock lock(&mu_);
    ServiceState* svc = service.has_value() ? FindService(*service) : nullptr;
    if (svc == nullptr) return ServiceNotFound(service_sid);
    USERSTORE_RETURN_IF_ERROR(valid);
    absl::MutexLock service_lock(&svc->mu);
    USERSTORE_ASSIGN_OR_RETURN(UserRecord * record,
                               CreateLocked(svc, fields, post_hooks ? &added : nullptr));
    thrown = CallCapturing([&] { report(*record); });
  }
  bus_.Deliver();
  RunPostHook(HookType::kOnUserAdded, added);
  RethrowIfAny(thrown);
  return absl::OkStatus();
}

absl::StatusOr<User> StoreImpl::CreateUser(absl::string_view service_sid,
                                           const CreateUserRequest& request) {
  // A new user has no presence yet, so the stored and fetched views agree.
  User created;
  USERSTORE_RETURN_IF_ERROR(CreateReporting(service_sid, request, [&](const UserRecord& r) {
    created = ToUser(r, PresenceView::kStored);
  }));
  return created;
}

absl::Status StoreImpl::CreateUser(absl::string_view service_sid,
                                   const CreateUserRequestView& request,
                                   absl::FunctionRef<void(const UserView&)> created) {
  return CreateReporting(service_sid, request, [&](const UserRecord& r) {
    CallWithView(r, PresenceView::kStored, created);
  });
}

template <typename Fn>
absl::Status StoreImpl::FindForRead(absl::string_view service_sid, absl::string_view user,
                                    Fn&& fn) const {
  // The texts' checks (CheckPathText) wait for the slow path: a fast-path
  // hit proves them (both SIDs parsed as lower-case hex, or the identity
  // equals a stored one, and every stored identity is valid text), so only
  // a miss can be a 400, and a miss goes through the slow path.
  //
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
    const HashedIdentityKey key(IdentityKey{*svc_sid, user});
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
  // builds the right 400 or 404).
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, user, "Sid"));
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
  User shown;
  USERSTORE_RETURN_IF_ERROR(UpdateReporting(service_sid, user, request, [&](const UserRecord& r) {
    shown = ToUser(r, PresenceView::kFetch);
  }));
  return shown;
}

absl::Status StoreImpl::UpdateUser(absl::string_view service_sid, absl::string_view user,
                                   const UpdateUserRequestView& request,
                                   absl::FunctionRef<void(const UserView&)> updated) {
  return UpdateReporting(service_sid, user, request, [&](const UserRecord& r) {
    CallWithView(r, PresenceView::kFetch, updated);
  });
}

absl::Status StoreImpl::UpdateReporting(absl::string_view service_sid, absl::string_view user,
                                        const UpdateUserRequestView& request,
                                        absl::FunctionRef<void(const UserRecord&)> report) {
  // The path is parsed once; its texts are checked only when a lookup
  // misses (LookupTarget, UserMissError): a hit proves them valid.
  const UserTarget target(service_sid, user);
  PrefetchUserSlot(target);
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

  // The user as the patch leaves it, dated `now` when it changes anything.
  auto patched = [&](const UserRecord& record, const RoleRecord& role, const Effect& e,
                     int64_t now) {
    User user = ToUser(record, PresenceView::kStored);
    if (patch.friendly_name.has_value()) user.friendly_name = std::string(*patch.friendly_name);
    if (patch.attributes.has_value()) user.attributes = std::string(*patch.attributes);
    user.role_sid = role.sid_text;
    if (e.text || e.role) user.date_updated = FromSeconds(now);
    return user;
  };

  const bool hooks = request.webhooks_enabled;
  if (hooks && bus_.HasHooks(HookType::kOnUserUpdate)) {
    // Pre-event: validate and build the proposed user from a copy, then run
    // the hooks with no lock held.
    User proposed;
    {
      absl::ReaderMutexLock lock(&mu_);
      USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupTarget(service_sid, user, target));
      absl::ReaderMutexLock service_lock(&svc->mu);
      const UserRecord* record = FindUser(svc, target);
      if (record == nullptr) return UserMissError(service_sid, user);
      USERSTORE_RETURN_IF_ERROR(valid);
      RoleRecord* role = record->role();
      if (patch.role.supplied) {
        USERSTORE_ASSIGN_OR_RETURN(role, ResolveUserRole(svc, patch.role));
      }
      const Effect e = effect_of(*record, role);
      proposed = patched(*record, *role, e, NowSeconds());
    }
    USERSTORE_RETURN_IF_ERROR(
        bus_.RunHooks(HookType::kOnUserUpdate, ToUserEvent(HookType::kOnUserUpdate, proposed)));
  }

  std::optional<UserEvent> updated;  // for the post-event hooks only
  std::exception_ptr thrown;
  bool changed = false;
  const bool post_hooks = hooks && bus_.HasHooks(HookType::kOnUserUpdated);
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupTarget(service_sid, user, target));
    absl::MutexLock service_lock(&svc->mu);
    UserRecord* record = FindUser(svc, target);
    if (record == nullptr) return UserMissError(service_sid, user);
    USERSTORE_RETURN_IF_ERROR(valid);
    RoleRecord* role = record->role();
    if (patch.role.supplied) {
      USERSTORE_ASSIGN_OR_RETURN(role, ResolveUserRole(svc, patch.role));
    }
    const Effect e = effect_of(*record, role);
    changed = e.text || e.role;
    // What allocates comes first: the feed's event and the post-event hooks'
    // copy, built from the record and the patch, then the new text (SetText
    // changes nothing when it runs out of memory); what follows only stores.
    const int64_t now = changed ? NowSeconds() : 0;
    EventBus::PreparedEvent prepared;
    if (changed) {
      prepared = bus_.PrepareEncodable(
          [&]() { return UserChange(ChangeEvent::Op::kUpdate, patched(*record, *role, e, now)); });
    }
    if (post_hooks) {
      updated = ToUserEvent(HookType::kOnUserUpdated, patched(*record, *role, e, now));
    }
    if (changed) {
      SaveForCheckpoint(svc, *record);
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
      CommitUser(std::move(prepared), ChangeEvent::Op::kUpdate, *record);
    }
    thrown = CallCapturing([&] { report(*record); });
  }
  if (changed) bus_.Deliver();
  RunPostHook(HookType::kOnUserUpdated, updated);
  RethrowIfAny(thrown);
  return absl::OkStatus();
}

absl::Status StoreImpl::DeleteUser(absl::string_view service_sid, absl::string_view user) {
  // Parsed once; texts checked only on a miss (see UpdateReporting).
  const UserTarget target(service_sid, user);
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupTarget(service_sid, user, target));
    absl::MutexLock service_lock(&svc->mu);
    UserRecord* record = FindUser(svc, target);
    if (record == nullptr) return UserMissError(service_sid, user);
    // Published before the erase, while the record exists: building the
    // event is all that may run out of memory (EraseUser frees only).
    bus_.Publish(
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return UserChange(ChangeEvent::Op::kDelete, *record);
        },
        [&](uint64_t sequence, char* out) {
          return EncodeUser(ChangeEvent::Op::kDelete, sequence, *record, out);
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
  const bool post_hooks = request.webhooks_enabled && bus_.HasHooks(HookType::kOnUserAdded);
  std::optional<UserEvent> added;  // for the post-event hooks only
  User created;
  std::exception_ptr thrown;
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    absl::MutexLock service_lock(&svc->mu);
    // Someone may have created it since the shared look.
    if (const UserRecord* found = FindByIdentity(svc->sid, fields.identity)) {
      return GetOrCreateResult{ToUser(*found, PresenceView::kFetch), false};
    }
    USERSTORE_RETURN_IF_ERROR(valid);
    USERSTORE_ASSIGN_OR_RETURN(UserRecord * record,
                               CreateLocked(svc, fields, post_hooks ? &added : nullptr));
    thrown = CallCapturing([&] { created = ToUser(*record, PresenceView::kStored); });
  }
  bus_.Deliver();
  RunPostHook(HookType::kOnUserAdded, added);
  RethrowIfAny(thrown);
  return GetOrCreateResult{std::move(created), true};
}

}  // namespace internal
}  // namespace userstore
