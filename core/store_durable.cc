// StoreImpl's side of durability (docs/durability.md): the journal record of
// a user, the checkpoint image, and the restore of one.

#include <algorithm>
#include <cstdint>
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
  std::string buffer;
  std::string event;
  constexpr size_t kFlushBytes = size_t{1} << 20;
  auto flush_if_full = [&] {
    if (buffer.size() >= kFlushBytes) {
      sink(buffer);
      buffer.clear();
    }
  };
  const size_t bound = JournalRecordBound();
  auto service = [&](const ServiceState* svc) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    event.clear();
    durable::AppendU64(&event, svc->position);
    durable::AppendU64(&event, svc->next_user_position);
    durable::AppendU64(&event, svc->next_role_position);
    (void)EncodeChangeEvent(ServiceChange(ChangeEvent::Op::kCreate, *svc, svc == default_service_),
                            &event);
    durable::AppendFrame(&buffer, durable::RecordType::kService, event);
    for (const auto& entry : svc->roles) {
      event.clear();
      durable::AppendU64(&event, entry.second->position);
      (void)EncodeChangeEvent(RoleChange(ChangeEvent::Op::kCreate, *entry.second), &event);
      durable::AppendFrame(&buffer, durable::RecordType::kRole, event);
    }
    flush_if_full();
    for (const auto& entry : svc->by_order) {
      const UserRecord& record = *entry.second;
      // The frame is written in place: header, position, then the event.
      const size_t start = buffer.size();
      buffer.resize(start + bound);
      char* frame = &buffer[start];
      char* payload = frame + durable::kFrameHeaderSize;
      durable::PutU64(payload, record.position());
      char* end = EncodeUser(ChangeEvent::Op::kCreate, 0, record, payload + 8);
      const uint32_t length = static_cast<uint32_t>(end - payload);
      durable::SealFrame(frame, durable::RecordType::kUser, length);
      buffer.resize(start + durable::kFrameHeaderSize + length);
      flush_if_full();
    }
  };
  for (const auto& entry : services_by_position_) service(entry.second);
  if (!buffer.empty()) sink(buffer);
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

absl::Status StoreImpl::RestoreUser(const UserEventImage& image, uint64_t position) {
  if (image.op != ChangeEvent::Op::kCreate) {
    return InvalidParameterError("a user record that is not a user create");
  }
  if (!IsValidText(image.identity) || !IsValidText(image.attributes) ||
      (image.friendly_name.has_value() && !IsValidText(*image.friendly_name))) {
    return NotValidText("User");
  }
  if (image.identity.empty()) return MakeError(ErrorCode::kIdentityNotProvided);
  absl::ReaderMutexLock lock(&mu_);
  ServiceState* svc = FindService(image.service_sid);
  if (svc == nullptr) return InvalidParameterError("a user of a service that is not restored");
  absl::MutexLock service_lock(&svc->mu);
  if (position < svc->next_user_position || position >= durable::kMaxPosition) {
    return InvalidParameterError("user positions out of order");
  }
  RoleRecord* role = FindRole(svc, image.role_sid);
  if (role == nullptr || role->type != RoleType::kDeployment) {
    return InvalidParameterError("a user whose role is not a deployment role of its service");
  }
  if (FindByIdentity(svc->sid, image.identity) != nullptr) {
    return MakeError(ErrorCode::kUserAlreadyExists);
  }
  svc->next_user_position = position;  // LinkUser takes it
  const UserRecord::Text text{image.identity, image.friendly_name, image.attributes};
  UserRecord* record =
      InsertUser(svc, image.sid, role, text, image.date_created, image.date_updated);
  if (record == nullptr) return MakeError(ErrorCode::kUserAlreadyExists);  // the SID is taken
  ShardLocks shard_locks(&ShardFor(record->sid()), &IdentityShardFor(*record));
  record->set_is_online(image.is_online);
  record->set_is_notifiable(image.is_notifiable);
  record->set_joined_channels_count(image.joined_channels_count);
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
