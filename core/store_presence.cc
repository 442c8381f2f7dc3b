// StoreImpl: the user state a client connection drives rather than the REST
// resource: presence (is_online, is_notifiable) and the joined-channels
// count. Each is a write of one record under its service's lock and both
// shard locks, as an update is (core/store_impl.cc), and is published as an
// update.

#include "userstore/status.h"

#include "core/store_impl.h"
#include "core/store_rules.h"
#include "core/text.h"

namespace userstore {
namespace internal {

absl::StatusOr<User> StoreImpl::SetPresence(absl::string_view service_sid, absl::string_view user,
                                            const PresenceUpdate& update) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, user, "Sid"));
  std::optional<UserEvent> updated;  // for the post-event hooks only
  User shown;
  std::exception_ptr thrown;
  bool changed = false;
  {
    absl::ReaderMutexLock lock(&mu_);
    USERSTORE_ASSIGN_OR_RETURN(ServiceState * svc, LookupService(service_sid));
    absl::MutexLock service_lock(&svc->mu);
    UserRecord* record = FindUser(svc, user);
    if (record == nullptr) return UserNotFound(service_sid, user);
    changed = (update.is_online.has_value() && record->is_online() != update.is_online) ||
              (update.is_notifiable.has_value() && record->is_notifiable() != update.is_notifiable);
    // The user as the update leaves it: the feed's event and the post-event
    // hooks' copy are built before anything changes (out of memory, nothing
    // does), then the stores, which cannot fail.
    const int64_t now = changed ? NowSeconds() : 0;
    auto presented = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      User user = ToUser(*record, PresenceView::kStored);
      if (!changed) return user;
      if (update.is_online.has_value()) user.is_online = update.is_online;
      if (update.is_notifiable.has_value()) user.is_notifiable = update.is_notifiable;
      user.date_updated = FromSeconds(now);
      return user;
    };
    EventBus::PreparedEvent prepared;
    if (changed) {
      prepared = bus_.PrepareEncodable(
          [&]() { return UserChange(ChangeEvent::Op::kUpdate, presented()); });
    }
    if (update.webhooks_enabled && bus_.HasHooks(HookType::kOnUserUpdated)) {
      updated = ToUserEvent(HookType::kOnUserUpdated, presented());
    }
    if (changed) {
      SaveForCheckpoint(svc, *record);
      ShardLocks shard_locks(&ShardFor(record->sid()), &IdentityShardFor(*record));
      if (update.is_online.has_value()) record->set_is_online(update.is_online);
      if (update.is_notifiable.has_value()) record->set_is_notifiable(update.is_notifiable);
      record->set_date_updated(now);
      CommitUser(std::move(prepared), ChangeEvent::Op::kUpdate, *record);
    }
    // The caller's copy comes after the commit: out of memory there, the
    // update is made, delivered and reported to its hooks before the
    // exception goes on.
    thrown = CallCapturing([&] { shown = ToUser(*record, PresenceView::kFetch); });
  }
  if (changed) bus_.Deliver();
  RunPostHook(HookType::kOnUserUpdated, updated);
  RethrowIfAny(thrown);
  return shown;
}

absl::StatusOr<User> StoreImpl::ChangeChannels(absl::string_view service_sid,
                                               absl::string_view user, int delta) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid, user, "Sid"));
  User shown;
  std::exception_ptr thrown;
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
    // The event first (out of memory, nothing changes), then the stores.
    EventBus::PreparedEvent prepared = bus_.PrepareEncodable([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      User joined = ToUser(*record, PresenceView::kStored);
      joined.joined_channels_count = static_cast<int>(next);
      joined.date_updated = FromSeconds(now);
      return UserChange(ChangeEvent::Op::kUpdate, std::move(joined));
    });
    SaveForCheckpoint(svc, *record);
    ShardLocks shard_locks(&ShardFor(record->sid()), &IdentityShardFor(*record));
    record->set_joined_channels_count(static_cast<int>(next));
    record->set_date_updated(now);
    CommitUser(std::move(prepared), ChangeEvent::Op::kUpdate, *record);
    thrown = CallCapturing([&] { shown = ToUser(*record, PresenceView::kFetch); });
  }
  bus_.Deliver();
  RethrowIfAny(thrown);
  return shown;
}

}  // namespace internal
}  // namespace userstore
