#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

#include "userstore/event_codec.h"
#include "userstore/status.h"

#include "core/status_macros.h"
#include "core/store_impl.h"
#include "core/store_rules.h"
#include "core/text.h"

namespace userstore {
namespace internal {

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
  // A journal record holds at most JournalRecordBound() bytes, which this
  // store's limits bound; an event whose texts are longer than they allow
  // (from a store with larger limits) would be written past its record's
  // room. Refused before anything changes, as ApplyEncoded refuses it. (An
  // event that does not encode is left to the checks below.)
  if (bus_.journal() != nullptr) {
    std::string encoded;
    if (EncodeChangeEvent(event, &encoded).ok() &&
        encoded.size() > JournalRecordBound() - durable::kFrameHeaderSize - 8) {
      return InvalidParameterError(
          absl::StrCat("an event of ", encoded.size(),
                       " bytes does not fit this store's journal records (its texts are longer "
                       "than this store's limits allow)"));
    }
  }
  // A durable store's journal takes the event's record before anything
  // changes (the Apply paths publish after their change).
  EventBus::JournalReservation reservation = bus_.ReserveJournal(1);
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
    bus_.Publish(
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return UserChange(ChangeEvent::Op::kDelete, *record);
        },
        [&](uint64_t sequence, char* out) {
          return EncodeUser(ChangeEvent::Op::kDelete, sequence, *record, out);
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
  ReplaceUserStateLocked(svc, record, role, fn, u.attributes, u.is_online, u.is_notifiable,
                         u.joined_channels_count, ToSeconds(u.date_updated));
  bus_.Publish([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return UserChange(ChangeEvent::Op::kUpdate, *record);
  });
  return absl::OkStatus();
}

// --- ApplyEncoded ---------------------------------------------------------------------
//
// The events a replica takes as bytes (a changelog follower's batches):
// every event is decoded before any is applied, user events in the form the
// store writes as views of the bytes (DecodeUserEventImage: no allocation),
// anything else as a ChangeEvent for Apply. Runs of user events are applied
// under one acquisition of mu_ (shared) and of each service's lock, with
// ApplyUser's checks in ApplyUser's order, and journaled as the bytes they
// came in (each is what the stored record encodes to, but for its sequence,
// which the journal's numbering patches: the codec reads only the
// canonical form, so decoding and encoding again gives the same bytes).

namespace {

// The most events one run applies under one acquisition of the locks:
// readers of a service's lists wait for the run (about 0.5 us an event).
constexpr size_t kMaxRunEvents = 64;

}  // namespace

absl::Status StoreImpl::ApplyEncoded(absl::Span<const absl::string_view> events, size_t* applied) {
  *applied = 0;
  std::vector<EncodedEvent> decoded(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EncodedEvent& e = decoded[i];
    e.bytes = events[i];
    if (DecodeUserEventImage(e.bytes, &e.image)) {
      e.is_image = true;
      continue;
    }
    absl::StatusOr<ChangeEvent> event = DecodeChangeEvent(e.bytes);
    if (!event.ok()) {
      return InvalidParameterError(absl::StrCat("event ", i, ": ", event.status().message()));
    }
    e.event = std::make_unique<ChangeEvent>(*std::move(event));
  }
  size_t next = 0;
  while (next < decoded.size()) {
    if (!decoded[next].is_image) {
      USERSTORE_RETURN_IF_ERROR(Apply(*decoded[next].event));
      ++next;
      ++*applied;
      continue;
    }
    size_t end = next + 1;
    while (end < decoded.size() && decoded[end].is_image && end - next < kMaxRunEvents) ++end;
    // (Counts into *applied as it goes: the journal's JournalUnavailable
    // may end the run with an exception.)
    USERSTORE_RETURN_IF_ERROR(
        ApplyUserImages(absl::MakeConstSpan(&decoded[next], end - next), applied));
    next = end;
  }
  return absl::OkStatus();
}

absl::Status StoreImpl::CheckUserTexts(const UserEventImage& image) {
  if (!IsValidText(image.identity) || !IsValidText(image.attributes) ||
      (image.friendly_name.has_value() && !IsValidText(*image.friendly_name))) {
    return NotValidText("User");
  }
  return absl::OkStatus();
}

absl::Status StoreImpl::ApplyUserImages(absl::Span<const EncodedEvent> run, size_t* applied) {
  // Declared before the locks, so it delivers after they are released,
  // however the run ends (an error, or the journal's JournalUnavailable).
  struct DeliverAtExit {
    EventBus* bus;
    ~DeliverAtExit() { bus->Deliver(); }
  } deliver{&bus_};
  absl::ReaderMutexLock lock(&mu_);
  // The slots an event will look up are prefetched this many events ahead,
  // as RestoreUsers does for a checkpoint's users: a replayed journal and a
  // follower's stream are mostly creates of users no cache line holds yet.
  constexpr size_t kAhead = 8;
  auto prefetch = [&](const UserEventImage& u) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    ShardFor(u.sid).Prefetch(u.sid);
    if (u.op == ChangeEvent::Op::kCreate) {
      const HashedIdentityKey key(IdentityKey{u.service_sid, u.identity});
      ShardFor(key).Prefetch(key);
    }
  };
  for (size_t i = 0; i < run.size() && i < kAhead; ++i) prefetch(run[i].image);
  size_t k = 0;
  while (k < run.size()) {
    // ApplyUser checks the texts before it looks the service up.
    USERSTORE_RETURN_IF_ERROR(CheckUserTexts(run[k].image));
    ServiceState* svc = FindService(run[k].image.service_sid);
    if (svc == nullptr) {
      return ServiceNotFound(FormatSid(kServicePrefix, run[k].image.service_sid));
    }
    absl::MutexLock service_lock(&svc->mu);
    for (;;) {
      if (k + kAhead < run.size()) prefetch(run[k + kAhead].image);
      USERSTORE_RETURN_IF_ERROR(ApplyUserImageLocked(svc, run[k]));
      ++k;
      ++*applied;
      if (k == run.size() || run[k].image.service_sid != svc->sid) break;
      USERSTORE_RETURN_IF_ERROR(CheckUserTexts(run[k].image));
    }
  }
  return absl::OkStatus();
}

absl::Status StoreImpl::ApplyUserImageLocked(ServiceState* svc, const EncodedEvent& event) {
  const UserEventImage& u = event.image;
  // A journal record holds at most JournalRecordBound() bytes, which this
  // store's limits bound; an event whose texts are longer than they allow
  // (a leader with larger limits) would not fit.
  if (bus_.journal() != nullptr &&
      event.bytes.size() > JournalRecordBound() - durable::kFrameHeaderSize - 8) {
    return InvalidParameterError(
        absl::StrCat("an event of ", event.bytes.size(),
                     " bytes does not fit this store's journal records (its texts are longer "
                     "than this store's limits allow)"));
  }
  // Apply's order of checks and errors (ApplyUser), with the SIDs' values.
  EventBus::JournalReservation reservation = bus_.ReserveJournal(1);
  const ChangeEvent::Op op = u.op;
  // The event's bytes are the record's encoding when the record holds what
  // they say: a create's; an update's but for date_created, which an update
  // keeps; never a delete's (its record is the store's, not the event's).
  bool verbatim = account_value_.has_value() && *account_value_ == u.account_sid;
  UserRecord* record = nullptr;
  auto encode = [&](uint64_t sequence, char* out) ABSL_NO_THREAD_SAFETY_ANALYSIS -> char* {
    if (!verbatim) return EncodeUser(op, sequence, *record, out);
    std::memcpy(out, event.bytes.data(), event.bytes.size());
    PatchEventSequence(out, sequence);
    return out + event.bytes.size();
  };
  auto make = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return UserChange(op, *record); };
  SidShard& shard = ShardFor(u.sid);
  if (op != ChangeEvent::Op::kCreate) {
    {
      absl::ReaderMutexLock shard_lock(&shard.mu);
      record = shard.Find(u.sid);
    }
    if (record != nullptr && record->role()->service != svc) record = nullptr;  // another's
  }
  if (op == ChangeEvent::Op::kDelete) {
    if (record == nullptr) {
      return UserNotFound(svc->sid_text, FormatSid(kUserPrefix, u.sid));
    }
    verbatim = false;
    bus_.Publish(make, encode);
    EraseUser(svc, record);
    return absl::OkStatus();
  }
  RoleRecord* role = FindRole(svc, u.role_sid);
  if (role == nullptr) {
    return RoleNotFoundPath(svc->sid_text, FormatSid(kRolePrefix, u.role_sid));
  }
  if (op == ChangeEvent::Op::kCreate) {
    const HashedIdentityKey key(IdentityKey{svc->sid, u.identity});
    SidShard& identity_shard = ShardFor(key);
    {
      ShardLocks shard_locks(&shard, &identity_shard);
      // ApplyUser's three lookups under one acquisition of the two shards:
      // the SID in this service or the identity taken, 409; no identity,
      // 400; the SID another service's, 409.
      const UserRecord* holder = shard.Find(u.sid);
      if ((holder != nullptr && holder->role()->service == svc) ||
          identity_shard.Find(key) != nullptr) {
        return MakeError(ErrorCode::kUserAlreadyExists);
      }
      if (u.identity.empty()) return MakeError(ErrorCode::kIdentityNotProvided);
      if (holder != nullptr) return MakeError(ErrorCode::kUserAlreadyExists);
      record = LinkImageLocked(svc, &shard, &identity_shard, key, role, u);
    }
    bus_.Publish(make, encode);
    return absl::OkStatus();
  }
  // An update (the decoder reads no other op).
  if (record == nullptr) return UserNotFound(svc->sid_text, FormatSid(kUserPrefix, u.sid));
  if (record->identity() != u.identity) {
    return InvalidParameterError("Identity cannot be updated");
  }
  verbatim = verbatim && record->date_created() == u.date_created;
  {
    ShardLocks shard_locks(&ShardFor(record->sid()), &IdentityShardFor(*record));
    ReplaceUserStateLocked(svc, record, role, u.friendly_name, u.attributes, u.is_online,
                           u.is_notifiable, u.joined_channels_count, u.date_updated);
  }
  bus_.Publish(make, encode);
  return absl::OkStatus();
}

UserRecord* StoreImpl::LinkImageLocked(ServiceState* svc, SidShard* shard, SidShard* identity_shard,
                                       const HashedIdentityKey& identity_key, RoleRecord* role,
                                       const UserEventImage& u) {
  const UserRecord::Text text{u.identity, u.friendly_name, u.attributes};
  UserRecord* record = LinkUser(svc, shard, identity_shard, identity_key, u.sid, role, text,
                                u.date_created, u.date_updated, [](const UserRecord&) {});
  record->set_is_online(u.is_online);
  record->set_is_notifiable(u.is_notifiable);
  record->set_joined_channels_count(u.joined_channels_count);
  return record;
}

void StoreImpl::ReplaceUserStateLocked(ServiceState* svc, UserRecord* record, RoleRecord* role,
                                       std::optional<absl::string_view> friendly_name,
                                       absl::string_view attributes, std::optional<bool> is_online,
                                       std::optional<bool> is_notifiable, int joined_channels_count,
                                       int64_t date_updated) {
  SaveForCheckpoint(svc, *record);
  record->SetText(friendly_name, attributes);
  if (role != record->role()) {
    --record->role()->user_count;
    ++role->user_count;
    record->set_role(role);
  }
  record->set_is_online(is_online);
  record->set_is_notifiable(is_notifiable);
  record->set_joined_channels_count(joined_channels_count);
  record->set_date_updated(date_updated);
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
      if (!svc->by_order.Consistent()) return fail("order index blocks");
      uint64_t last = 0;
      for (const auto& [position, r] : svc->by_order) {
        const UserRecord& record = *r;
        if (record.position() != position) return fail("order index key is not the position");
        if (record.position() <= last || record.position() >= svc->next_user_position) {
          return fail("user positions");
        }
        last = record.position();
        if (IdentityShardFor(record).Find(HashedIdentityKey(IdentityKeyOf(&record))) != &record) {
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
