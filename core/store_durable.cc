// StoreImpl's side of durability (docs/durability.md): the journal record of
// a user, the checkpoint image, and the restore of one.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

#include "userstore/event_codec.h"
#include "userstore/status.h"

#include "core/durable/event_encoding.h"
#include "core/durable/format.h"
#include "core/store_impl.h"
#include "core/store_rules.h"
#include "core/text.h"

namespace userstore {
namespace internal {

static_assert(durable::kMaxSequence < EventBus::kMaxSequence,
              "the file format's sequence limit is the change feed's");

size_t StoreImpl::JournalRecordBound() const {
  // Texts count code points; a code point is at most four bytes. The fixed
  // part (SIDs, dates, flags, varints) is well under 512 bytes.
  const size_t fixed = 512;
  const size_t user = fixed + 4 * options_.max_identity_length +
                      4 * options_.max_friendly_name_length + options_.max_attributes_bytes;
  const size_t role = fixed + 4 * options_.max_service_name_length +
                      options_.max_role_permissions * (4 * options_.max_permission_length + 10);
  const size_t service = fixed + 4 * options_.max_service_name_length;
  return durable::kFrameHeaderSize + 8 + std::max(user, std::max(role, service));
}

char* StoreImpl::EncodeUser(ChangeEvent::Op op, uint64_t sequence, const UserRecord& record,
                            char* out) const {
  char sid[kSidTextSize];
  UserView view;
  FillView(record, PresenceView::kStored, sid, &view);
  return EncodeUserEvent(op, sequence, view, out);
}

void StoreImpl::Frozen(durable::StoreIdentity* identity, absl::FunctionRef<void()> fn) {
  absl::MutexLock lock(&mu_);
  {
    absl::MutexLock ids_lock(&ids_mu_);
    identity->account_sid = account_sid_;
    sid_generator_.GetState(identity->generator_state);
    identity->next_sid_hi = next_sid_hi_.load(std::memory_order_relaxed);
    identity->next_sid_lo = next_sid_lo_.load(std::memory_order_relaxed);
    identity->draws = sid_draws_.load(std::memory_order_relaxed);
  }
  identity->token_secret = token_secret_;
  identity->next_service_position = next_service_position_;
  // Every mutation numbers its event while holding mu_ (at least shared).
  identity->sequence = bus_.last_sequence();
  fn();
}

void StoreImpl::WriteCheckpointRecords(absl::FunctionRef<void(absl::string_view)> sink) const {
  // Frames go into `buffer`'s first `used` bytes; its size is room only, so
  // that a user's frame, written in place into up to JournalRecordBound()
  // bytes, costs no zeroing of that room (a resize per record cleared some
  // 20 KB per user).
  std::string buffer;
  size_t used = 0;
  std::string head;
  constexpr size_t kFlushBytes = size_t{1} << 20;
  const size_t bound = JournalRecordBound();
  auto room = [&](size_t n) {
    if (buffer.size() < used + n) buffer.resize(std::max(used + n, 2 * buffer.size()));
  };
  auto flush_if_full = [&] {
    if (used >= kFlushBytes) {
      sink(absl::string_view(buffer.data(), used));
      used = 0;
    }
  };
  auto service = [&](const ServiceState* svc) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    head.clear();
    AppendServiceHead(*svc, &head);
    room(head.size());
    std::memcpy(&buffer[used], head.data(), head.size());
    used += head.size();
    flush_if_full();
    for (const auto& entry : svc->by_order) {
      room(bound);
      used += EncodeUserFrame(*entry.second, &buffer[used]);
      flush_if_full();
    }
  };
  for (const auto& entry : services_by_position_) service(entry.second);
  if (used > 0) sink(absl::string_view(buffer.data(), used));
}

absl::Status StoreImpl::RestoreService(const ChangeEvent& event, uint64_t position) {
  if (event.entity != ChangeEvent::Entity::kService || event.op != ChangeEvent::Op::kCreate ||
      !event.service.has_value()) {
    return InvalidParameterError("a service record that is not a service create");
  }
  {
    absl::MutexLock lock(&mu_);
    if (position < next_service_position_ || position >= durable::kMaxPosition) {
      return InvalidParameterError("service positions out of order");
    }
    next_service_position_ = position;
  }
  return ApplyService(event);
}

absl::Status StoreImpl::FinishServiceRestore(absl::string_view service_sid,
                                             uint64_t next_user_position,
                                             uint64_t next_role_position) {
  absl::ReaderMutexLock lock(&mu_);
  USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
  absl::MutexLock service_lock(&svc->mu);
  if (next_user_position < svc->next_user_position ||
      next_role_position < svc->next_role_position || next_user_position > durable::kMaxPosition ||
      next_role_position > durable::kMaxPosition) {
    return InvalidParameterError("a service's next positions are below its records'");
  }
  svc->next_user_position = next_user_position;
  svc->next_role_position = next_role_position;
  return absl::OkStatus();
}

absl::Status StoreImpl::RestoreRole(const ChangeEvent& event, uint64_t position) {
  if (event.entity != ChangeEvent::Entity::kRole || event.op != ChangeEvent::Op::kCreate ||
      !event.role.has_value()) {
    return InvalidParameterError("a role record that is not a role create");
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(event.role->service_sid));
    absl::MutexLock service_lock(&svc->mu);
    // A position near 2^64 would wrap the next one to 0 (InsertRole takes
    // position + 1), and a later record could then repeat a position; files
    // hold positions below durable::kMaxPosition.
    if (position < svc->next_role_position || position >= durable::kMaxPosition) {
      return InvalidParameterError("role positions out of order");
    }
    svc->next_role_position = position;  // InsertRole takes it
  }
  return ApplyRole(event);
}

absl::Status StoreImpl::RestoreUser(const ChangeEvent& event, uint64_t position) {
  if (event.entity != ChangeEvent::Entity::kUser || event.op != ChangeEvent::Op::kCreate ||
      !event.user.has_value()) {
    return InvalidParameterError("a user record that is not a user create");
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(event.user->service_sid));
    absl::MutexLock service_lock(&svc->mu);
    // A position near 2^64 would wrap the next one to 0 (LinkUser takes
    // position + 1), and a later record could then repeat a position: two
    // users in one slot of the order index. Files hold positions below
    // durable::kMaxPosition.
    if (position < svc->next_user_position || position >= durable::kMaxPosition) {
      return InvalidParameterError("user positions out of order");
    }
    svc->next_user_position = position;  // LinkUser takes it
  }
  return ApplyUser(event);
}

absl::Status StoreImpl::RestoreUsers(absl::Span<const RestoredUser> users, size_t* restored) {
  *restored = 0;
  // How many records ahead the slots are prefetched: enough misses in flight
  // to cover one's latency, few enough that the lines stay in L1 until used.
  constexpr size_t kAhead = 8;
  absl::ReaderMutexLock lock(&mu_);
  auto prefetch = [&](const UserEventImage& u) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    ShardFor(u.sid).Prefetch(u.sid);
    const HashedIdentityKey key(IdentityKey{u.service_sid, u.identity});
    ShardFor(key).Prefetch(key);
  };
  // RestoreUser's checks before the service's lookup.
  auto check = [](const UserEventImage& u) -> absl::Status {
    if (u.op != ChangeEvent::Op::kCreate) {
      return InvalidParameterError("a user record that is not a user create");
    }
    USERSTORE_RETURN_IF_ERROR(CheckUserTexts(u));
    if (u.identity.empty()) return MakeError(ErrorCode::kIdentityNotProvided);
    return absl::OkStatus();
  };
  for (size_t i = 0; i < users.size() && i < kAhead; ++i) prefetch(users[i].image);
  size_t k = 0;
  while (k < users.size()) {
    USERSTORE_RETURN_IF_ERROR(check(users[k].image));
    ServiceState* svc = FindService(users[k].image.service_sid);
    if (svc == nullptr) return InvalidParameterError("a user of a service that is not restored");
    absl::MutexLock service_lock(&svc->mu);
    for (;;) {
      if (k + kAhead < users.size()) prefetch(users[k + kAhead].image);
      const UserEventImage& u = users[k].image;
      const uint64_t position = users[k].position;
      if (position < svc->next_user_position || position >= durable::kMaxPosition) {
        return InvalidParameterError("user positions out of order");
      }
      RoleRecord* role = FindRole(svc, u.role_sid);
      if (role == nullptr || role->type != RoleType::kDeployment) {
        return InvalidParameterError("a user whose role is not a deployment role of its service");
      }
      SidShard& shard = ShardFor(u.sid);
      const HashedIdentityKey key(IdentityKey{svc->sid, u.identity});
      SidShard& identity_shard = ShardFor(key);
      {
        ShardLocks shard_locks(&shard, &identity_shard);
        if (identity_shard.Find(key) != nullptr) return MakeError(ErrorCode::kUserAlreadyExists);
        if (shard.Find(u.sid) != nullptr) {
          return MakeError(ErrorCode::kUserAlreadyExists);  // the SID is taken
        }
        svc->next_user_position = position;  // LinkUser takes it
        (void)LinkImageLocked(svc, &shard, &identity_shard, key, role, u);
      }
      ++k;
      ++*restored;
      if (k == users.size() || users[k].image.service_sid != svc->sid) break;
      USERSTORE_RETURN_IF_ERROR(check(users[k].image));
    }
  }
  return absl::OkStatus();
}

void StoreImpl::ReserveUsers(uint64_t users) {
  const size_t per_shard = static_cast<size_t>(users / (shard_mask_ + 1) + users / 64 + 16);
  for (size_t k = 0; k <= shard_mask_; ++k) {
    absl::MutexLock lock(&shards_[k].mu);
    shards_[k].table.reserve(per_shard);
    shards_[k].ids.reserve(per_shard);
  }
}

void StoreImpl::RestoreIdentity(const durable::StoreIdentity& identity) {
  absl::MutexLock lock(&mu_);
  {
    absl::MutexLock ids_lock(&ids_mu_);
    sid_generator_.SetState(identity.generator_state);
    next_sid_hi_.store(identity.next_sid_hi, std::memory_order_relaxed);
    next_sid_lo_.store(identity.next_sid_lo, std::memory_order_relaxed);
    sid_draws_.store(identity.draws, std::memory_order_relaxed);
  }
  token_secret_ = identity.token_secret;
  if (identity.next_service_position > next_service_position_) {
    next_service_position_ = identity.next_service_position;
  }
  bus_.ResetSequence(identity.sequence);
}

void StoreImpl::AdvanceDrawsTo(uint64_t draws) {
  absl::MutexLock lock(&ids_mu_);
  while (sid_draws_.load(std::memory_order_relaxed) < draws) (void)AdvanceSidLocked();
}

}  // namespace internal
}  // namespace userstore
